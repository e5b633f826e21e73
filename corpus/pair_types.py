"""Entity-type pair filters: which ordered entity pairs a benchmark considers, as the field evaluates CDR and GDA.

ATLOP, SSR-PU and every CDR paper consider only (Chemical, Disease) pairs: other pairs are neither trained
on nor predicted nor scored. With

    pair_types = [["Chemical", "Disease"]]      # bench.toml [data]; `docrobust train --pair-types Chemical,Disease`

featurization builds only those pairs (so training and prediction see no others), the scorer counts only
their gold labels and predictions (its counts and Ign F1 follow), and the fp-* noise models add labels only
to them. Pairs are ordered: the head's type first. An entity's type is its first mention's (as DocRED's
and the noise models' LabelTable take it). None means every pair, the default everywhere.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from docrobust.base import DocrobustError
from .io import Doc

PairTypes = frozenset[tuple[str, str]]

__all__ = ["PairTypes", "allowed_pairs", "entity_type", "is_allowed", "pair_types_of", "restrict_labels"]


def pair_types_of(value: Any, where: str = "pair_types") -> PairTypes | None:
    """The filter of a config value ([[head type, tail type], ...]); None for None; DocrobustError (naming `where`)
    for anything but a non-empty list of pairs of non-empty strings."""
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) and x for x in p) for p in value)):
        raise DocrobustError(f"{where}: expected a non-empty list of [head type, tail type] pairs, "
                          f"e.g. [[\"Chemical\", \"Disease\"]], got {value!r}")
    return frozenset((h, t) for h, t in value)


def entity_type(entity: list[dict]) -> str:
    """An entity's type: that of its first mention."""
    return entity[0]["type"]


def is_allowed(doc: Doc, h: int, t: int, pair_types: PairTypes | None) -> bool:
    """Whether the ordered pair (h, t) of `doc` is one the filter (a set of tuples) keeps; always without one."""
    if pair_types is None:
        return True
    entities = doc["vertexSet"]
    return (entity_type(entities[h]), entity_type(entities[t])) in pair_types


def allowed_pairs(doc: Doc, pair_types: Iterable[tuple[str, str]] | None) -> list[list[int]]:
    """[h, t] of every ordered pair of distinct entities that the filter keeps, h-major (every pair without one)."""
    n = len(doc["vertexSet"])
    if pair_types is None:
        return [[h, t] for h in range(n) for t in range(n) if h != t]
    pair_types = {tuple(p) for p in pair_types}
    types = [entity_type(e) for e in doc["vertexSet"]]
    return [[h, t] for h in range(n) for t in range(n) if h != t and (types[h], types[t]) in pair_types]


def restrict_labels(docs: list[Doc], pair_types: Iterable[tuple[str, str]] | None) -> list[Doc]:
    """Shallow copies of `docs` holding only the labels of kept pairs; a document that loses none is shared."""
    if pair_types is None:
        return docs
    pair_types = frozenset(tuple(p) for p in pair_types)
    out = []
    for doc in docs:
        labels = doc.get("labels", [])
        kept = [lab for lab in labels if is_allowed(doc, lab["h"], lab["t"], pair_types)]
        out.append(doc if len(kept) == len(labels) else {**doc, "labels": kept})
    return out
