"""Statistics of the report: micro scores from counts, paired tests, Holm, robustness AUC.

Everything starts from count arrays whose last axis is COUNT_FIELDS =
[tp, n_pred, n_gold, tp_in_train]; the scorer's own `prf` (docrobust.corpus.score) turns any
(..., 4) array of summed counts into scores, so a bootstrap is "resample documents, sum their
counts, call prf", with the very arithmetic that scored each cell.

Why not scipy.stats.bootstrap / permutation_test: both resample one-dimensional samples
and call a statistic on the resampled values; micro-F1 is a ratio of sums of four counts
per document, not a function of one value per document, so they would need an index
trick that materialises (batch, D, 4) gathers per comparison. Here one (R, D) matrix of
multinomial weights (bootstrap) or swap indicators (permutation) is drawn per report and
each comparison is a single (R, D) @ (D, S*4) product. The tests check both against scipy
with that index trick.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from docrobust.corpus.score import prf

METRICS = ("precision", "recall", "f1", "ign_precision", "ign_f1")


def t_halfwidth(std: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Half-width of the Student-t interval mean ± t_{(1+c)/2, n-1} · std / sqrt(n); NaN for n < 2."""
    n = np.asarray(n, dtype=float)
    dof = np.where(n > 1, n - 1, np.nan)
    return stats.t.ppf((1 + confidence) / 2, dof) * np.asarray(std) / np.sqrt(n)


@dataclass(frozen=True)
class Resamples:
    """One report's resampling plan over D test documents, shared by all its comparisons.

    weights: (R, D) multinomial(D, 1/D) draws, how often each document is in a bootstrap sample.
    swaps:   (R, D) Bernoulli(1/2) indicators, which documents swap systems in a permutation.
    """

    weights: np.ndarray
    swaps: np.ndarray
    max_weight: float  # bounds every resampled sum (see _weighted_sums)

    @classmethod
    def draw(cls, n_docs: int, n_resamples: int = 10_000, seed: int = 0) -> "Resamples":
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=n_resamples)
        swaps = rng.integers(0, 2, size=(n_resamples, n_docs))
        return cls(weights.astype(np.float32), swaps.astype(np.float32), float(weights.max(initial=1)))


def _weighted_sums(weights: np.ndarray, docs: np.ndarray, max_weight: float) -> np.ndarray:
    """(R, D) weights @ (S, D, 4) per-document counts -> (R, S, 4) resampled sums (exact integers).

    float32 halves the matmul time and is exact while every sum stays below 2^24; a sum is
    at most max_weight * sum(|counts|), and larger inputs fall back to float64.
    """
    n_seeds, n_docs, n_counts = docs.shape
    flat = docs.transpose(1, 0, 2).reshape(n_docs, n_seeds * n_counts)
    exact32 = max_weight * np.abs(flat).sum(axis=0).max(initial=0) < 2**24
    dtype = np.float32 if exact32 else np.float64
    return (weights.astype(dtype, copy=False) @ flat.astype(dtype)).astype(np.float64).reshape(-1, n_seeds, n_counts)


RANK_BINS = 32  # log-spaced rank bins of a cell's ranking in the resampled threshold-free score


def rank_bins(doc: np.ndarray, relevant: np.ndarray, n_docs: int, n_bins: int = RANK_BINS) -> np.ndarray:
    """(D, B, 2) counts [relevant, ranked] of a ranking's items (given in rank order) per document and rank bin.

    Bin b holds ranks k with floor(B log k / log(K + 1)) = b for a ranking of depth K: log-spaced, so that each bin
    spans the same ratio of ranks, over which precision changes little.
    """
    depth = len(doc)
    rank = np.arange(1, depth + 1)
    bins = np.minimum((n_bins * np.log(rank) / np.log(depth + 1)).astype(np.int64), n_bins - 1)
    flat = np.asarray(doc, dtype=np.int64) * n_bins + bins
    ranked = np.bincount(flat, minlength=n_docs * n_bins)
    hits = np.bincount(flat, weights=np.asarray(relevant, dtype=float), minlength=n_docs * n_bins)
    return np.stack([hits, ranked], axis=-1).reshape(n_docs, n_bins, 2)


def binned_ap(sums: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    """Average precision of a ranking summarized by rank bins: (..., B, 2) [relevant, ranked] -> (...).

    AP ~ sum_b rel_b P_b / n_gold with P_b the precision halfway through bin b,
    (relevant before b + rel_b / 2) / (ranked before b + ranked_b / 2): the exact AP up to the variation of
    precision inside a bin. It serves resampling, where only its variation is used (see resampled_ap).
    """
    hits, ranked = sums[..., 0], sums[..., 1]
    precision = np.divide(np.cumsum(hits, axis=-1) - hits / 2, np.cumsum(ranked, axis=-1) - ranked / 2,
                          out=np.zeros(hits.shape), where=ranked > 0)
    total = (hits * precision).sum(axis=-1)
    return np.divide(total, n_gold, out=np.zeros(np.shape(total)), where=np.asarray(n_gold) > 0)


def resampled_scores(weights: np.ndarray, docs: np.ndarray, outside: np.ndarray, max_weight: float,
                     chunk: int = 256) -> dict[str, np.ndarray]:
    """Micro scores of C cells under each resample of the documents: docs (C, D, 4) per-document counts, outside
    (C, 4) counts outside any document -> {metric: (R, C)} for METRICS (float32), the same draws for every cell."""
    out = {m: np.empty((weights.shape[0], docs.shape[0]), dtype=np.float32) for m in METRICS}
    for start in range(0, docs.shape[0], chunk):
        part = slice(start, start + chunk)
        scores = prf(_weighted_sums(weights, docs[part], max_weight) + outside[part])
        for m in METRICS:
            out[m][:, part] = scores[m]
    return out


def resampled_ap(weights: np.ndarray, bins: np.ndarray, n_gold: np.ndarray, exact: np.ndarray,
                 chunk: int = 32) -> np.ndarray:
    """The threshold-free score of C cells under each resample of the documents -> (R, C) (float32).

    bins (C, D, B, 2) from rank_bins, n_gold (C, D) gold triples per document, exact (C,) each cell's exact AP.
    A resample's AP is the binned AP of its weighted counts, shifted by the cell's binning error on the observed
    documents (exact - binned), so that resamples vary as the binned AP does around the exact value.
    """
    n_cells, n_docs, n_bins, _ = bins.shape
    out = np.empty((weights.shape[0], n_cells), dtype=np.float32)
    w = weights.astype(np.float32, copy=False)
    for start in range(0, n_cells, chunk):
        part = slice(start, start + chunk)
        c = bins[part].shape[0]
        flat = bins[part].transpose(1, 0, 2, 3).reshape(n_docs, c * n_bins * 2).astype(np.float32)
        sums = (w @ flat).reshape(-1, c, n_bins, 2)                     # (R, c, B, 2)
        gold = w @ n_gold[part].T.astype(np.float32)                    # (R, c)
        observed = binned_ap(bins[part].sum(axis=1), n_gold[part].sum(axis=1))
        out[:, part] = binned_ap(sums, gold) + (exact[part] - observed)
    return out


def percentile_test(boot: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(low, high, p) of a statistic's bootstrap draws (R, ...) along axis 0: the percentile interval and the
    two-sided p-value that inverts it, p = 2 min(P*(x* <= 0), P*(x* >= 0)) with add-one smoothing (as paired_test)."""
    n = boot.shape[0]
    low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    tail = np.minimum(np.sum(boot <= 0, axis=0), np.sum(boot >= 0, axis=0))
    return low, high, np.minimum(1.0, 2 * (1 + tail) / (n + 1))


def f1_difference(sums_a: np.ndarray, sums_b: np.ndarray) -> np.ndarray:
    """Mean over seeds of micro-F1(a) - micro-F1(b): (..., S, 4) summed counts -> (...)."""
    return (prf(sums_a)["f1"] - prf(sums_b)["f1"]).mean(axis=-1)


@dataclass(frozen=True)
class PairedTest:
    """Observed F1 difference a - b, its bootstrap percentile interval and two-sided p-values."""

    delta: float
    ci_low: float
    ci_high: float
    p_bootstrap: float
    p_permutation: float


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    resamples: Resamples,
    offset_a: np.ndarray | None = None,
    offset_b: np.ndarray | None = None,
    confidence: float = 0.95,
) -> PairedTest:
    """Compare systems a and b on the same documents: a, b are (S, D, 4) counts for S seeds.

    Statistic: delta = mean over seeds of micro-F1(a_s) - micro-F1(b_s). offsets (S, 4) are
    counts outside any document (predictions with unknown titles), added to every sum.

    Paired bootstrap: documents are drawn with replacement (the same draw for a, b and all
    seeds); the CI is the percentile interval of the resampled deltas and the p-value
    inverts it, p = 2 min(P*(delta* <= 0), P*(delta* >= 0)) with add-one smoothing, so
    p < 1 - confidence exactly when the interval excludes 0.

    Approximate randomization: under H0 the two systems are exchangeable per document,
    so each document's counts are swapped between a and b with probability 1/2;
    p = (1 + #{|delta*| >= |delta|}) / (R + 1).
    """
    zero = np.zeros((a.shape[0], a.shape[2]))
    offset_a = zero if offset_a is None else offset_a
    offset_b = zero if offset_b is None else offset_b
    total_a, total_b = a.sum(axis=1) + offset_a, b.sum(axis=1) + offset_b  # (S, 4)
    delta = float(f1_difference(total_a, total_b))
    n = resamples.weights.shape[0]

    both = _weighted_sums(resamples.weights, np.concatenate([a, b]), resamples.max_weight)  # (R, 2S, 4)
    boot = f1_difference(both[:, : a.shape[0]] + offset_a, both[:, a.shape[0] :] + offset_b)  # (R,)
    low, high, p_boot = percentile_test(boot, confidence)

    shift = _weighted_sums(resamples.swaps, b - a, 1.0)  # (R, S, 4): what swapped documents move from b to a
    perm = f1_difference(total_a + shift, total_b - shift)
    p_perm = (1 + np.sum(np.abs(perm) >= abs(delta) - 1e-12)) / (n + 1)
    return PairedTest(delta, float(low), float(high), float(p_boot), float(p_perm))


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired scores a, b (e.g. F1 over seeds × rates).

    Zero differences are dropped (Wilcox); with no non-zero difference there is no evidence, p = 1.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, zero_method="wilcox").pvalue)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control); NaNs are left out and kept.

    With m p-values sorted ascending, p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    Written out because scipy.stats.false_discovery_control implements Benjamini-Hochberg
    (false discovery rate), a weaker guarantee than the family-wise one a table of
    "significant" marks implies.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


def normalized_auc(rates: np.ndarray, f1: np.ndarray) -> float:
    """Area under the F1-versus-noise-rate curve divided by the rate span.

    AUC = (1 / (r_max - r_min)) ∫ F1(r) dr with the trapezoid rule over the sorted points
    (the caller includes the clean point r = 0). It is the curve's average F1 over the
    span: a model whose F1 stays at f has AUC f, and AUC lies in [0, 1] because F1 does.
    NaN when the span is 0 (a single rate).
    """
    rates, f1 = np.asarray(rates, dtype=float), np.asarray(f1, dtype=float)
    order = np.argsort(rates, kind="stable")
    span = rates.max() - rates.min() if rates.size else 0.0
    if span <= 0:
        return float("nan")
    return float(np.trapezoid(f1[order], rates[order]) / span)
