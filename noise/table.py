"""What a noise model sees and what it answers: the label table, the Edit, and the two samplers.

A model reads the corpus's current positive triples as parallel arrays (one row per label, in
document and label order) and returns an Edit naming rows to remove, rows to give another relation,
and new triples to add. It never touches documents: apply.py turns the Edit into manifest rows and
applies them, so a generated output and a replayed manifest go through the same code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from docrobust.base import DocrobustError
from docrobust.corpus import Doc

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass
class Edit:
    remove: np.ndarray = field(default_factory=lambda: _EMPTY)  # (k,) table rows to remove
    flip: np.ndarray = field(default_factory=lambda: _EMPTY)    # (m,) table rows that get another relation
    flip_to: list[str] = field(default_factory=list)            # (m,) ... their new relation ids
    add: list[tuple[int, int, int, str, list[int]]] = field(default_factory=list)  # (doc, h, t, r, evidence)
    achieved: float | None = None  # rate achieved in the model's own unit, when it is not changed triples / base
    info: dict[str, Any] = field(default_factory=dict)  # extra facts for the manifest


class LabelTable:
    """The current labels of a corpus as rows (doc, h, t, r), plus lazily computed per-entity facts.

    `base` is the number of positive triples of the original input: every step turns its rate into a
    count of round(rate * base) triples, so the rates of a multi-step spec add up.
    """

    def __init__(self, docs: list[Doc], labels: list[list[dict]], base: int, relations: list[str] | None = None,
                 taken: list[set[tuple[int, int, str]]] | None = None):
        self.docs = docs          # the input documents, read only
        self.labels = labels      # current label list of each document
        self.base = base
        self.taken = taken        # per document, the (h, t, r) no new triple may be (None: the rows)
        self.titles = [d["title"] for d in docs]
        rows = [(i, lab["h"], lab["t"], lab["r"]) for i, labs in enumerate(labels) for lab in labs]
        self.relations = sorted(set(relations or ()) | {r for *_, r in rows})
        code = {r: k for k, r in enumerate(self.relations)}
        self.doc = np.array([row[0] for row in rows], dtype=np.int64)  # (n,)
        self.h = np.array([row[1] for row in rows], dtype=np.int64)    # (n,)
        self.t = np.array([row[2] for row in rows], dtype=np.int64)    # (n,)
        self.r = np.array([code[row[3]] for row in rows], dtype=np.int64)  # (n,) index into self.relations
        self.row_start = np.concatenate([[0], np.cumsum([len(labs) for labs in labels])]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.doc)

    def taken_triples(self, d: int) -> set[tuple[int, int, str]]:
        """The triples of document d that no model may add or flip to. In a chained spec: every label the document
        holds now or held in the input, so that a false positive is false with respect to the clean labels."""
        return self.taken[d] if self.taken is not None else {(lab["h"], lab["t"], lab["r"]) for lab in self.labels[d]}

    @cached_property
    def taken_keys(self) -> np.ndarray:
        """(m,) sorted pair * R + r of the taken triples whose relation is in self.relations."""
        n_rel, code = len(self.relations), {r: k for k, r in enumerate(self.relations)}
        keys = [(self.pair_start[d] + h * self.n_entities[d] + t) * n_rel + code[r]
                for d in range(len(self.docs)) for h, t, r in self.taken_triples(d) if r in code]
        return np.unique(np.array(keys, dtype=np.int64))

    def count(self, rate: float) -> int:
        """How many triples a rate means: round(rate * base)."""
        return round(rate * self.base)

    # ------------------------------------------------------------ entities and pairs

    @cached_property
    def n_entities(self) -> np.ndarray:  # (D,)
        return np.array([len(d["vertexSet"]) for d in self.docs], dtype=np.int64)

    @cached_property
    def type_names(self) -> list[str]:
        return sorted({entity[0]["type"] for d in self.docs for entity in d["vertexSet"]})

    @cached_property
    def entity_types(self) -> list[np.ndarray]:
        """Type code of each entity of each document; an entity's type is that of its first mention."""
        code = {name: k for k, name in enumerate(self.type_names)}
        return [np.array([code[e[0]["type"]] for e in d["vertexSet"]], dtype=np.int64) for d in self.docs]

    @cached_property
    def row_types(self) -> tuple[np.ndarray, np.ndarray]:
        """(type of h, type of t) of every row."""
        th = np.array([self.entity_types[d][h] for d, h in zip(self.doc.tolist(), self.h.tolist())], dtype=np.int64)
        tt = np.array([self.entity_types[d][t] for d, t in zip(self.doc.tolist(), self.t.tolist())], dtype=np.int64)
        return th, tt

    @cached_property
    def pair_start(self) -> np.ndarray:  # (D + 1,) first global pair id of each document
        return np.concatenate([[0], np.cumsum(self.n_entities ** 2)]).astype(np.int64)

    @cached_property
    def pair(self) -> np.ndarray:
        """Global id of each row's ordered entity pair: pair_start[doc] + h * n_entities[doc] + t."""
        return self.pair_start[self.doc] + self.h * self.n_entities[self.doc] + self.t

    @cached_property
    def pair_type(self) -> np.ndarray:
        """(P,) type-pair code type(h) * T + type(t) of every ordered pair of every document, -1 where h == t."""
        n_types = len(self.type_names)
        parts = []
        for types in self.entity_types:
            codes = types[:, None] * n_types + types[None, :]  # (n, n)
            np.fill_diagonal(codes, -1)
            parts.append(codes.ravel())
        return np.concatenate(parts) if parts else _EMPTY

    def decode_pairs(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc, h, t) of global pair ids."""
        doc = np.searchsorted(self.pair_start, pairs, side="right") - 1
        local = pairs - self.pair_start[doc]
        return doc, local // self.n_entities[doc], local % self.n_entities[doc]

    @cached_property
    def sentence_distance(self) -> np.ndarray:
        """(n,) minimal |sent_id(m_h) - sent_id(m_t)| over the mentions of each row's head and tail."""
        sents = [[sorted({m["sent_id"] for m in e}) for e in d["vertexSet"]] for d in self.docs]
        return np.array([min(abs(a - b) for a in sents[d][h] for b in sents[d][t])
                         for d, h, t in zip(self.doc.tolist(), self.h.tolist(), self.t.tolist())], dtype=np.int64)


# ---------------------------------------------------------------- samplers

def weighted_sample(weights: np.ndarray, k: int, rng: np.random.Generator, what: str) -> np.ndarray:
    """k distinct indices, drawn one after another with P(i) ∝ w_i among those not yet drawn; sorted.

    Efraimidis–Spirakis: keep the k smallest keys E_i / w_i with E_i ~ Exp(1) (zero weight: never).
    """
    available = int(np.count_nonzero(weights > 0))
    if k > available:
        raise DocrobustError(f"{what}: cannot change {k} triples, only {available} are eligible; lower the rate")
    with np.errstate(divide="ignore"):
        keys = rng.standard_exponential(len(weights)) / weights
    return np.sort(np.argsort(keys, kind="stable")[:k])


def sample_new_triples(table: LabelTable, k: int, rng: np.random.Generator, allowed: np.ndarray,
                       what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """k distinct unlabeled triples (doc, h, t, r), h != t, uniform over those with allowed[type(h), type(t), r].

    `allowed` is a (T, T, R) boolean array over table.type_names and table.relations. A candidate is
    drawn by picking a pair with probability ∝ its number of allowed relations, then one of those
    relations; labeled or repeated draws are rejected, which leaves a uniform draw without replacement.
    Returned in document, head, tail, relation order.
    """
    n_types, n_rel = len(table.type_names), len(table.relations)
    allowed = allowed.reshape(n_types * n_types, n_rel)
    per_type_pair = allowed.sum(axis=1)                                   # (T*T,)
    choices = np.argsort(~allowed, axis=1, kind="stable")                 # (T*T, R) allowed relations first
    weight = np.where(table.pair_type >= 0, per_type_pair[table.pair_type], 0)  # (P,)
    end = np.cumsum(weight)                                               # (P,)
    total = int(end[-1]) if len(end) else 0
    labeled = table.taken_keys                                            # labels now, and the input's
    available = total - int(allowed[table.pair_type[labeled // n_rel], labeled % n_rel].sum())
    if k > available:
        raise DocrobustError(f"{what}: cannot add {k} triples, only {available} unlabeled candidates exist; lower the rate")
    chosen = _EMPTY
    while len(chosen) < k:
        need = k - len(chosen)
        draws = min(1 << 22, max(64, 2 * need * total // max(available - len(chosen), 1)))
        x = rng.integers(0, total, size=draws)
        pair = np.searchsorted(end, x, side="right")
        r = choices[table.pair_type[pair], x - (end[pair] - weight[pair])]
        keys = pair * n_rel + r
        keys = keys[np.sort(np.unique(keys, return_index=True)[1])]      # first occurrence of each, in draw order
        keys = keys[~np.isin(keys, labeled) & ~np.isin(keys, chosen)]
        chosen = np.concatenate([chosen, keys[:need]])
    chosen = np.sort(chosen)
    doc, h, t = table.decode_pairs(chosen // n_rel)
    return doc, h, t, chosen % n_rel
