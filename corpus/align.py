"""Align two label versions of the same documents (e.g. DocRED's original labels and Re-DocRED's).

Documents are matched by title. A matched pair is kept only when the entity lists agree, mention by
mention on (name, sent_id, pos, type), ignoring extra mention fields such as Re-DocRED's `global_pos`
and `index`; documents whose entities differ are reported, never mixed, because a label (h, t, r)
means nothing across two different entity numberings.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .io import Doc, triples

MENTION_KEYS = ("name", "sent_id", "pos", "type")


def entity_signature(doc: Doc) -> tuple:
    return tuple(tuple(tuple(_freeze(m.get(k)) for k in MENTION_KEYS) for m in entity) for entity in doc["vertexSet"])


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass
class Alignment:
    pairs: list[tuple[Doc, Doc]] = field(default_factory=list)  # (low, high), same title and entities
    entity_mismatch: list[str] = field(default_factory=list)
    only_low: list[str] = field(default_factory=list)
    only_high: list[str] = field(default_factory=list)

    def diff(self) -> dict[str, Any]:
        """Triples only in the high-quality version (added) and only in the low one (removed), per relation."""
        added, removed, kept = Counter(), Counter(), Counter()
        for low, high in self.pairs:
            lo, hi = triples(low), triples(high)
            added.update(r for _, _, r in hi - lo)
            removed.update(r for _, _, r in lo - hi)
            kept.update(r for _, _, r in lo & hi)
        relations = sorted(set(added) | set(removed) | set(kept))
        return {
            "aligned": len(self.pairs), "entity_mismatch": len(self.entity_mismatch),
            "only_low": len(self.only_low), "only_high": len(self.only_high),
            "low_labels": sum(len(triples(lo)) for lo, _ in self.pairs),
            "high_labels": sum(len(triples(hi)) for _, hi in self.pairs),
            "added": sum(added.values()), "removed": sum(removed.values()), "kept": sum(kept.values()),
            "per_relation": {r: {"added": added[r], "removed": removed[r], "kept": kept[r]} for r in relations},
        }


def align(low_docs: list[Doc], high_docs: list[Doc]) -> Alignment:
    """Pair documents of two label versions by title, in the order of `low_docs`."""
    high_by_title = {d["title"]: d for d in high_docs}
    low_titles = {d["title"] for d in low_docs}
    result = Alignment(only_high=[d["title"] for d in high_docs if d["title"] not in low_titles])
    for low in low_docs:
        high = high_by_title.get(low["title"])
        if high is None:
            result.only_low.append(low["title"])
        elif entity_signature(low) != entity_signature(high):
            result.entity_mismatch.append(low["title"])
        else:
            result.pairs.append((low, high))
    return result
