"""Corpus statistics: sizes, labels per relation, and the intra/inter-sentence share of labels."""
from __future__ import annotations

from collections import Counter
from typing import Any

from .io import Doc, is_intra, sentence_sets


def corpus_stats(docs: list[Doc]) -> dict[str, Any]:
    """Documents, sentences, tokens, entities, mentions, labels, labels per relation, intra/inter share.

    A label is intra-sentence when some mention of its head and some mention of its tail share a sentence.
    """
    per_relation: Counter = Counter()
    intra = 0
    for doc in docs:
        sents_of = sentence_sets(doc)
        for lab in doc.get("labels", []):
            per_relation[lab["r"]] += 1
            intra += is_intra(sents_of, lab["h"], lab["t"])
    n_labels = sum(per_relation.values())
    n_entities = sum(len(d["vertexSet"]) for d in docs)
    return {
        "documents": len(docs),
        "sentences": sum(len(d["sents"]) for d in docs),
        "tokens": sum(len(s) for d in docs for s in d["sents"]),
        "entities": n_entities,
        "mentions": sum(len(e) for d in docs for e in d["vertexSet"]),
        "entity_pairs": sum(len(d["vertexSet"]) * (len(d["vertexSet"]) - 1) for d in docs),
        "labels": n_labels,
        "labeled_documents": sum(1 for d in docs if d.get("labels")),
        "intra_share": intra / n_labels if n_labels else 0.0,
        "inter_share": (n_labels - intra) / n_labels if n_labels else 0.0,
        "labels_per_relation": dict(sorted(per_relation.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
