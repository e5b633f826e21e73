"""From a results folder to the report's content: numbers, the validity check, sentences, printed tables.

build_report computes everything once. The document then reads in the order a reader wants it: the summary
(validity box, headline figure, compact table, findings in words), the details by noise family, paired
comparisons, breakdowns, precision-recall, and provenance last. `summary_table`, `findings`, `sections`
and `provenance` lay the numbers out as printed tables (strings, percentages) and sentences; the HTML
template shows them, and the PDF is that HTML printed. Each part lives in its own module (content, printing,
summary, findings, details, provenance); every name stays importable from here.
"""
from __future__ import annotations

import math

from .cells import Results, cell_scores, summarize
from .content import Report, Section, Table
from .details import bucket_table, comparison_table, main_table, retention_table, sections
from .findings import findings
from .plots import draw_figures
from .printing import MARKS, SCORE_NAMES, TEST_NAMES, kept, marks, p_phrase, pct, pct_std, points, pval, system
from .provenance import overview, provenance
from .retention import Resampled, bands, resample_cells, retention
from .stats import Resamples
from .summary import notices, summary_table, validity_lines, validity_title
from .tables import auc_table, comparisons, resolve_baseline, robustness, wilcoxon_table
from .validity import convergence, validity

MIN_CLEAN_F1 = 0.10  # trained DocRE models sit far above this (ATLOP-BERT-base ~ 60% on DocRED, ~ 74% on Re-DocRED)


def build_report(
    results: Results,
    baseline: str | None = None,
    resamples: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    confidence: float = 0.95,
    figures: bool = True,
    min_clean_f1: float = MIN_CLEAN_F1,
) -> Report:
    """Compute every table (and, unless figures=False, every figure) of the report.

    One draw of `resamples` resamples of the test documents serves every statistic: the figures' bands, the paired
    comparisons and the retention comparisons.
    """
    scores = cell_scores(results)
    baseline = resolve_baseline(list(dict.fromkeys(results.done["loss"])), baseline)
    draw = Resamples.draw(results.n_docs, resamples, seed) if results.n_docs else None
    resampled = resample_cells(results, draw) if draw else Resampled([], {})
    summary = bands(summarize(scores, confidence), scores, resampled, confidence)
    compared = comparisons(results, baseline, resamples, seed, confidence, resamples=draw)
    kept = retention(scores, resampled, baseline, results.n_docs, confidence)
    return Report(
        results, baseline, alpha, confidence, resamples, min_clean_f1, scores, summary, robustness(summary),
        auc_table(summary), compared, wilcoxon_table(scores, baseline), validity(summary, min_clean_f1), kept,
        convergence(scores), draw_figures(summary) if figures and not summary.empty else {},
        [*results.warnings, *_resolution_warning(max(len(compared), len(kept)), resamples, alpha)],
    )


def _resolution_warning(m: int, resamples: int, alpha: float) -> list[str]:
    """Resampling p-values are at least 2 / (R + 1) (bootstrap); Holm's smallest threshold is alpha / m."""
    if m == 0 or 2 / (resamples + 1) < alpha / m:
        return []
    needed = math.ceil(2 * m / alpha)
    return [f"{m} comparisons with {resamples:,} resamples: the smallest bootstrap p-value, 2/(R+1) = {2 / (resamples + 1):.2g}, "
            f"cannot pass Holm's first threshold alpha/m = {alpha / m:.2g}, so no † mark is possible; "
            f"use --resamples {needed} or more"]


__all__ = ["MARKS", "MIN_CLEAN_F1", "SCORE_NAMES", "TEST_NAMES", "Report", "Section", "Table", "bucket_table",
           "build_report", "comparison_table", "findings", "kept", "main_table", "marks", "notices", "overview",
           "p_phrase", "pct", "pct_std", "points", "provenance", "pval", "retention_table", "sections", "summary_table",
           "system", "validity_lines", "validity_title"]
