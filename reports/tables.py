"""The report's numbers as DataFrames, all recomputed from per-document counts.

cells.py: load_results -> the plan's finished cells; cell_scores -> one row per finished cell; summarize -> mean ±
std over seeds per model × loss × noise cell. Here: robustness / auc_table -> degradation relative to clean;
comparisons / wilcoxon_table -> significance of each loss against the baseline loss. retention.py: the one
resampling of the test documents, its bands and the retention comparisons; validity.py -> whether the numbers can
carry a comparison at all. Every name stays importable from this module.
Scores are fractions in [0, 1]; docrobust.reports.report prints them as percentages.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from docrobust.base import DocrobustError

from .cells import (BANDED, BUCKET_METRICS, CALIBRATED, CELL, CLEAN, META, SCORE_KINDS, TRAINING, Results, cell_scores,
                    load_results, report_order, summarize)
from .retention import Resampled, bands, resample_cells, retention
from .stats import Resamples, holm, normalized_auc, paired_test, wilcoxon_p
from .validity import convergence, validity, validity_of


def robustness(summary: pd.DataFrame) -> pd.DataFrame:
    """F1 drop of every noisy cell relative to the same system's clean cell (mean over seeds).

    drop = F1_clean - F1_noisy (absolute, in F1 units); rel_drop = drop / F1_clean.
    """
    clean = summary[summary["noise_family"] == CLEAN].set_index(["model", "loss"])["f1_mean"]
    noisy = summary[summary["noise_family"] != CLEAN][["model", "loss", "noise_family", "rate", "noise", "f1_mean"]]
    f1_clean = pd.Series(list(zip(noisy["model"], noisy["loss"])), index=noisy.index).map(clean)
    drops = noisy.assign(f1_clean=f1_clean.astype(float))
    drops["drop"] = drops["f1_clean"] - drops["f1_mean"]
    drops["rel_drop"] = drops["drop"] / drops["f1_clean"].where(drops["f1_clean"] > 0)
    return drops.reset_index(drop=True)


def auc_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Normalized area under mean F1 versus rate, per model × loss × noise family (clean point included)."""
    clean = summary[summary["noise_family"] == CLEAN]
    rows = []
    for (model, loss, family), curve in summary[summary["noise_family"] != CLEAN].groupby(
        ["model", "loss", "noise_family"], sort=False
    ):
        base = clean[(clean["model"] == model) & (clean["loss"] == loss)]
        points = pd.concat([base, curve])
        rates = points["rate"].to_numpy()
        rows.append({
            "model": model, "loss": loss, "noise_family": family, "rates": len(np.unique(rates)),
            "has_clean": len(base) > 0, "auc": normalized_auc(rates, points["f1_mean"].to_numpy()),
        })
    return pd.DataFrame(rows, columns=["model", "loss", "noise_family", "rates", "has_clean", "auc"])


def resolve_baseline(losses: list[str], baseline: str | None) -> str:
    """The baseline loss: the requested one, else `atl` when present, else the first loss seen."""
    if not losses:  # nothing finished: nothing to compare
        return baseline or ""
    if baseline is None:
        return "atl" if "atl" in losses else losses[0]
    if baseline not in losses:
        raise DocrobustError(f"baseline loss {baseline!r} is not in the results (losses: {', '.join(losses)}); pass --baseline")
    return baseline


def comparisons(
    results: Results,
    baseline: str,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    resamples: Resamples | None = None,
) -> pd.DataFrame:
    """Each loss against `baseline` for the same model and noise cell, on the seeds both finished.

    Paired bootstrap CI and p-value and approximate-randomization p-value over test
    documents (see stats.paired_test), all from one draw of `n_resamples` resamples (or the report's `resamples`);
    Holm-adjusted over all comparisons of the report (separately per test).
    """
    done = results.done
    n_docs = results.n_docs
    if resamples is None:
        resamples = Resamples.draw(n_docs, n_resamples, seed) if n_docs else None
    rows = []
    for (model, family, rate, noise), cell in done.groupby(["model", "noise_family", "rate", "noise"], sort=False):
        base = cell[cell["loss"] == baseline].drop_duplicates("seed").set_index("seed")["cell_id"]
        for loss, other in cell[cell["loss"] != baseline].groupby("loss", sort=False):
            other = other.drop_duplicates("seed").set_index("seed")["cell_id"]
            seeds = [seed for seed in other.index if seed in base.index]
            if not seeds:
                continue
            a = [results.test(other[s]) for s in seeds]
            b = [results.test(base[s]) for s in seeds]
            test = paired_test(
                np.stack([c.docs for c in a]), np.stack([c.docs for c in b]), resamples,
                np.stack([c.outside() for c in a]), np.stack([c.outside() for c in b]), confidence,
            )
            rows.append({
                "model": model, "loss": loss, "baseline": baseline, "noise_family": family, "rate": rate,
                "noise": noise, "n_seeds": len(seeds), "n_docs": a[0].docs.shape[0],
                "delta_f1": test.delta, "ci_low": test.ci_low, "ci_high": test.ci_high,
                "p_bootstrap": test.p_bootstrap, "p_permutation": test.p_permutation,
            })
    columns = ["model", "loss", "baseline", *CELL[2:], "n_seeds", "n_docs", "delta_f1", "ci_low", "ci_high",
               "p_bootstrap", "p_permutation"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_bootstrap_holm"] = holm(table["p_bootstrap"].to_numpy())
    table["p_permutation_holm"] = holm(table["p_permutation"].to_numpy())
    return report_order(table)


def wilcoxon_table(scores: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Wilcoxon signed-rank test of F1(loss) - F1(baseline) per model × loss × noise family.

    The pairs are the (noise cell, seed) units both systems finished, over the family's
    rates including the clean point r = 0; Holm-adjusted over the table.
    """
    key = ["model", "noise_family", "rate", "noise", "seed"]
    base = scores[scores["loss"] == baseline].drop_duplicates(key)
    clean = scores[scores["noise_family"] == CLEAN]
    rows = []
    for family in [f for f in dict.fromkeys(scores["noise_family"]) if f != CLEAN]:
        in_family = pd.concat([clean, scores[scores["noise_family"] == family]])
        others = in_family[in_family["loss"] != baseline].drop_duplicates(["loss", *key])
        paired = others.merge(base[key + ["f1"]], on=key, suffixes=("", "_baseline"))
        for (model, loss), pairs in paired.groupby(["model", "loss"], sort=False):
            diff = pairs["f1"] - pairs["f1_baseline"]
            rows.append({
                "model": model, "loss": loss, "baseline": baseline, "noise_family": family, "n_pairs": len(pairs),
                "mean_delta_f1": diff.mean(), "n_better": int((diff > 0).sum()), "n_worse": int((diff < 0).sum()),
                "p_wilcoxon": wilcoxon_p(pairs["f1"], pairs["f1_baseline"]),
            })
    columns = ["model", "loss", "baseline", "noise_family", "n_pairs", "mean_delta_f1", "n_better", "n_worse", "p_wilcoxon"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_wilcoxon_holm"] = holm(table["p_wilcoxon"].to_numpy())
    return table


__all__ = ["BANDED", "BUCKET_METRICS", "CALIBRATED", "CELL", "CLEAN", "META", "SCORE_KINDS", "TRAINING",
           "Resampled", "Results", "auc_table", "bands", "cell_scores", "comparisons", "convergence", "load_results",
           "resample_cells", "resolve_baseline", "retention", "robustness", "summarize", "validity", "validity_of",
           "wilcoxon_table"]
