"""`docrobust audit score`: how well the two lists find known errors.

The truth is a noise manifest (removed triples are missing labels, added ones wrong, a changed one both) or a
better-labeled version of the same documents; each list is scored as a ranking: precision and recall at 100, 1,000
and the number of true errors, and average precision, beside the base rate (a random ranking's precision).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from docrobust.corpus import Doc, triples
from docrobust.corpus.align import align
from docrobust.corpus.score import average_precision

from .folder import Audit, Key
from .quality import ranked_cells

__all__ = ["KS", "list_metrics", "score_audit", "truth_from_docs", "truth_from_manifest"]


def truth_from_manifest(manifest: dict) -> tuple[set[Key], set[Key]]:
    """(true missing, true wrong) labels of a noisy file from its manifest: removed triples are missing, added ones
    wrong; a changed (h, t, r -> r') is both r missing and r' wrong."""
    missing: set[Key] = set()
    wrong: set[Key] = set()
    for step in manifest.get("steps", []):
        missing.update((ti, h, t, r) for ti, h, t, r in step["removed"])
        wrong.update((ti, h, t, r) for ti, h, t, r, _ in step["added"])
        for ti, h, t, r, r_new in step["changed"]:
            missing.add((ti, h, t, r))
            wrong.add((ti, h, t, r_new))
    return missing, wrong


def truth_from_docs(audited: list[Doc], truth: list[Doc]) -> tuple[set[Key], set[Key], set[str]]:
    """(true missing, true wrong, titles scored) against a better-labeled version of the same documents: only
    documents that align (same title, same entities) count; a label the truth has and the audited file lacks is
    missing, one the audited file has and the truth lacks is wrong."""
    missing: set[Key] = set()
    wrong: set[Key] = set()
    alignment = align(audited, truth)
    for low, high in alignment.pairs:
        lo, hi = triples(low), triples(high)
        missing.update((low["title"], *k) for k in hi - lo)
        wrong.update((low["title"], *k) for k in lo - hi)
    return missing, wrong, {low["title"] for low, _ in alignment.pairs}


KS = (100, 1000)   # the depths precision and recall are read at, beside the number of true errors


def list_metrics(ranked: np.ndarray, true_cells: np.ndarray, n_true: int) -> dict[str, Any]:
    """Precision and recall at 100, 1,000 and the number of true errors, average precision and the base rate (a
    random ranking's precision) of one ranked list of cells, against `true_cells` among n_true true errors (those
    the list cannot hold, e.g. of a relation outside the inventory, count as never found)."""
    hits = np.isin(ranked, true_cells)
    cum = np.cumsum(hits)
    out: dict[str, Any] = {"ranked": len(hits), "true": n_true, "found": int(cum[-1]) if len(cum) else 0,
                           "base_rate": n_true / len(hits) if len(hits) else 0.0}
    for name, k in [*((f"{k:,}", k) for k in KS), ("n_true", n_true)]:
        k = min(k, len(hits))
        out[f"precision@{name}"] = float(cum[k - 1] / k) if k else 0.0
        out[f"recall@{name}"] = float(cum[k - 1] / n_true) if k and n_true else 0.0
    out["average_precision"] = average_precision(-np.arange(len(hits)), hits, n_true)  # the list's order, no ties
    return out


def score_audit(audit: Audit, missing: set[Key], wrong: set[Key], titles: set[str] | None = None) -> dict[str, Any]:
    """Both lists, over every cell of the audited documents (or of those titled `titles`), against the true
    missing and wrong labels."""
    quality = audit.quality()
    pairs = None
    if titles is not None:
        pairs = np.repeat(np.isin(audit.titles, sorted(titles)), audit.pairs)
        missing = {k for k in missing if k[0] in titles}
        wrong = {k for k in wrong if k[0] in titles}
    result: dict[str, Any] = {"documents": len(audit.titles) if titles is None else len(set(audit.titles) & titles)}
    for name, labeled, truth in (("candidates", False, missing), ("suspicious", True, wrong)):
        ranked = ranked_cells(audit.margins, audit.labels, quality, labeled, pairs)
        result[name] = list_metrics(ranked, audit.cells(truth), len(truth))
    return result
