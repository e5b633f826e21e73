"""Label quality and the ranked lists.

Each entity pair is one example of a multi-label problem whose classes are the relations: the labels form a
[pairs, R] 0/1 matrix, and p[h, t, r] = sigmoid(margin) is the out-of-sample probability that r holds,
one-vs-threshold, as ATL's pairwise softmax over {r, TH} defines it. That is exactly the input of cleanlab's
multi-label label-quality scores (`get_label_quality_scores_per_class`, self-confidence: p for a labeled cell,
1 - p for an unlabeled one; low = likely wrong), which needs only out-of-sample per-class probabilities, no
independence between examples.

    missing-label candidates   unlabeled cells, lowest quality (most confident model) first
    suspicious labels          labeled cells, lowest quality (most strongly rejected label) first
"""
from __future__ import annotations

import numpy as np

from docrobust.corpus import Doc, RelationInventory, triples

__all__ = ["all_pairs", "doc_labels", "label_quality", "ranked_cells"]


def label_quality(margins: np.ndarray, labels: np.ndarray, *, adjust: bool = False) -> np.ndarray:
    """cleanlab's per-class label quality [pairs, R] of the 0/1 labels [pairs, R] given p = sigmoid(margins)
    (self-confidence: p where labeled, 1 - p where not; in [0, 1], low = likely a label error). `adjust`
    subtracts cleanlab's per-class confident thresholds first (its correction for class imbalance)."""
    # cleanlab imports scikit-learn's and its own modules (seconds): only ranking needs it, not `audit apply`
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    probs = 1.0 / (1.0 + np.exp(-margins.astype(np.float64)))   # float64: 1 - p keeps its order far above 0
    rows = [np.flatnonzero(row).tolist() for row in labels]
    return get_label_quality_scores_per_class(rows, probs, method="self_confidence", adjust_pred_probs=adjust)


def ranked_cells(margins: np.ndarray, labels: np.ndarray, quality: np.ndarray, labeled: bool,
                 pairs: np.ndarray | None = None) -> np.ndarray:
    """Flat indices into [pairs, R] of the labeled (suspicious) or unlabeled (candidate) cells, of the pairs
    where `pairs` (bool [pairs]) is set or of all, most likely errors first: quality ascending, ties broken by the
    margin (high first for candidates, low for labels)."""
    wanted = labels == labeled
    if pairs is not None:
        wanted &= pairs[:, None]
    cells = np.flatnonzero(wanted.ravel())
    sign = 1.0 if labeled else -1.0
    return cells[np.lexsort((sign * margins.ravel()[cells], quality.ravel()[cells]))]


def all_pairs(n_entities: int) -> np.ndarray:
    """[n(n-1), 2] every ordered pair of distinct entities, h-major: the features' `hts` order."""
    h, t = np.divmod(np.arange(n_entities * n_entities), n_entities)
    keep = h != t
    return np.stack([h[keep], t[keep]], axis=1)


def doc_labels(doc: Doc, relations: RelationInventory, n_pairs: int) -> np.ndarray:
    """bool [pairs, R] of a document's labels, pairs in all_pairs order (a relation outside the inventory is
    refused)."""
    n = len(doc["vertexSet"])
    out = np.zeros((n_pairs, len(relations)), dtype=bool)
    for h, t, r in triples(doc):
        out[h * (n - 1) + t - (t > h), relations.column(r) - 1] = True
    return out
