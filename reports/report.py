"""From a results folder to the report's content: numeric tables, printed tables, figures.

build_report computes everything once; `sections` and `provenance` lay it out as printed
tables (strings, percentages) that both the HTML and the PDF renderer show.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from docrobust.reports.plots import draw_figures
from docrobust.reports.results import Results
from docrobust.reports.tables import (auc_table, cell_scores, comparisons, resolve_baseline, robustness,
                                      summarize, wilcoxon_table)

MARKS = {"p_bootstrap_holm": "†", "p_permutation_holm": "‡"}
TEST_NAMES = {"p_bootstrap_holm": "paired bootstrap over documents",
              "p_permutation_holm": "approximate randomization over documents"}


@dataclass
class Report:
    """Everything a report shows; numbers are fractions, as computed."""

    results: Results
    baseline: str
    alpha: float
    confidence: float
    n_resamples: int
    scores: pd.DataFrame  # per finished cell
    summary: pd.DataFrame  # per model × loss × noise cell, over seeds
    drops: pd.DataFrame
    auc: pd.DataFrame
    comparisons: pd.DataFrame
    wilcoxon: pd.DataFrame
    figures: list = field(default_factory=list)  # (FigureSpec, Figure)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Table:
    """A printed table: a title, an explanatory note, and string cells."""

    title: str
    note: str
    frame: pd.DataFrame


def build_report(
    results: Results,
    baseline: str | None = None,
    resamples: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    confidence: float = 0.95,
    figures: bool = True,
) -> Report:
    """Compute every table (and, unless figures=False, every figure) of the report."""
    scores = cell_scores(results)
    summary = summarize(scores, confidence)
    baseline = resolve_baseline(list(dict.fromkeys(results.done["loss"])), baseline)
    compared = comparisons(results, baseline, resamples, seed, confidence)
    return Report(
        results, baseline, alpha, confidence, resamples, scores, summary, robustness(summary), auc_table(summary),
        compared, wilcoxon_table(scores, baseline), draw_figures(summary) if figures and not summary.empty else [],
        [*results.warnings, *_resolution_warning(len(compared), resamples, alpha)],
    )


def _resolution_warning(m: int, resamples: int, alpha: float) -> list[str]:
    """Resampling p-values are at least 2 / (R + 1) (bootstrap); Holm's smallest threshold is alpha / m."""
    if m == 0 or 2 / (resamples + 1) < alpha / m:
        return []
    needed = math.ceil(2 * m / alpha)
    return [f"{m} comparisons with {resamples:,} resamples: the smallest bootstrap p-value, 2/(R+1) = {2 / (resamples + 1):.2g}, "
            f"cannot pass Holm's first threshold alpha/m = {alpha / m:.2g}, so no † mark is possible; "
            f"use --resamples {needed} or more"]


# ---------------------------------------------------------------- printing numbers

def pct(x: float, digits: int = 2) -> str:
    """A fraction as a percentage with `digits` decimals; '–' for a missing value."""
    return "–" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}"


def pct_std(mean: float, std: float) -> str:
    """'mean ± std' in percent; the mean alone when std is undefined (one seed)."""
    return pct(mean) if math.isnan(std) else f"{pct(mean)} ± {pct(std)}"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def pval(p: float) -> str:
    return "–" if math.isnan(p) else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def marks(report: Report) -> dict[tuple, str]:
    """Significance marks per (model, loss, noise): a symbol for each test whose Holm p < alpha."""
    out = {}
    for row in report.comparisons.to_dict("records"):
        out[row["model"], row["loss"], row["noise"]] = "".join(
            mark for column, mark in MARKS.items() if row[column] < report.alpha)
    return out


def _mark_legend(report: Report) -> str:
    tests = "; ".join(f"{mark} {TEST_NAMES[column]} p<{report.alpha:g} after Holm" for column, mark in MARKS.items())
    return f"Significance against baseline loss '{report.baseline}' (same model, noise cell and seeds): {tests}."


def main_table(report: Report, family: str) -> pd.DataFrame:
    """Printed mean ± std (over seeds) of P, R, F1 and Ign F1 in % for one noise family, and the F1 drop from clean."""
    rows = report.summary[report.summary["noise_family"] == family]
    drops = rows[["model", "loss", "noise"]].merge(report.drops, how="left", on=["model", "loss", "noise"])
    mark = marks(report)
    return pd.DataFrame({
        "model": rows["model"], "loss": rows["loss"], "noise": rows["noise"],
        "rate": rows["rate"].map("{:g}".format), "achieved": rows["achieved_rate"].map("{:.3f}".format),
        "seeds": rows["n_seeds"],
        "P (%)": [pct_std(m, s) for m, s in zip(rows["precision_mean"], rows["precision_std"])],
        "R (%)": [pct_std(m, s) for m, s in zip(rows["recall_mean"], rows["recall_std"])],
        "F1 (%)": [f"{pct_std(m, s)} {mark.get((a, b, c), '')}".rstrip() for m, s, a, b, c in
                   zip(rows["f1_mean"], rows["f1_std"], rows["model"], rows["loss"], rows["noise"])],
        "Ign F1 (%)": [pct_std(m, s) for m, s in zip(rows["ign_f1_mean"], rows["ign_f1_std"])],
        "F1 drop (pts)": drops["drop"].map(pct).to_numpy(),
        "relative drop (%)": drops["rel_drop"].map(lambda x: pct(x, 1)).to_numpy(),
    }).reset_index(drop=True)


def comparison_table(report: Report, family: str) -> pd.DataFrame:
    rows = report.comparisons[report.comparisons["noise_family"] == family]
    return pd.DataFrame({
        "model": rows["model"], "loss": rows["loss"], "vs": rows["baseline"], "noise": rows["noise"],
        "seeds": rows["n_seeds"], "docs": rows["n_docs"], "ΔF1 (%)": rows["delta_f1"].map(pct),
        f"{report.confidence:.0%} CI (%)": [f"[{pct(lo)}, {pct(hi)}]" for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        "p boot": rows["p_bootstrap"].map(pval), "p boot Holm": rows["p_bootstrap_holm"].map(pval),
        "p perm": rows["p_permutation"].map(pval), "p perm Holm": rows["p_permutation_holm"].map(pval),
    }).reset_index(drop=True)


def sections(report: Report) -> list[Table]:
    """The printed tables in report order (configuration and provenance are rendered separately)."""
    families = list(dict.fromkeys(report.summary["noise_family"]))
    tables = [Table(f"Results: {family}",
                    "Test scores in %, mean ± sample std over seeds; F1 drop = F1_clean − F1 in points (means over seeds), "
                    f"relative drop = drop / F1_clean. {_mark_legend(report)}",
                    main_table(report, family)) for family in families]
    if not report.auc.empty:
        tables.append(Table(
            "Robustness: normalized area under the F1–rate curve",
            "AUC = (1 / r_max) ∫₀^r_max F1(r) dr by the trapezoid rule over the family's rates and the clean point r = 0 "
            "(mean F1 over seeds at each rate): the curve's average F1, in %; a flat curve at f gives f.",
            report.auc.assign(auc=report.auc["auc"].map(pct))
                      .rename(columns={"noise_family": "noise family", "auc": "AUC (%)", "has_clean": "clean point"})))
    for family in dict.fromkeys(report.comparisons["noise_family"]):
        tables.append(Table(
            f"Paired comparisons: {family}",
            f"ΔF1 = mean over seeds of F1(loss) − F1({report.baseline}) on the same test documents; percentile CI and p "
            f"from a paired bootstrap over documents ({report.n_resamples:,} resamples); p perm from approximate "
            "randomization (documents' counts swapped between systems); Holm over all comparisons of this report.",
            comparison_table(report, family)))
    if not report.wilcoxon.empty:
        w = report.wilcoxon
        tables.append(Table(
            "Wilcoxon signed-rank tests across seeds and noise rates",
            f"Pairs: F1(loss) and F1({report.baseline}) on each (noise cell, seed) of the family, clean cells included; "
            "two-sided; Holm over the table.",
            pd.DataFrame({"model": w["model"], "loss": w["loss"], "vs": w["baseline"], "noise family": w["noise_family"],
                          "pairs": w["n_pairs"], "mean ΔF1 (%)": w["mean_delta_f1"].map(pct), "better": w["n_better"],
                          "worse": w["n_worse"], "p": w["p_wilcoxon"].map(pval), "p Holm": w["p_wilcoxon_holm"].map(pval)})))
    failed = report.results.failed
    if not failed.empty:
        tables.append(Table("Failed cells", "Cells that did not finish; tracebacks are in cells/<cell_id>/cell.json.",
                            failed[["cell_id", "model", "loss", "noise", "seed", "error"]].reset_index(drop=True)))
    return tables


def provenance(report: Report) -> list[Table]:
    """Versions and data hashes the results came from, grouped so each distinct value shows once."""
    results = report.results
    versions = pd.DataFrame([{"cell_id": c, **v} for c, v in results.versions.items()])
    hashes = pd.DataFrame([{"cell_id": c, **h} for c, h in results.data_hashes.items()])
    tables = []
    if len(versions.columns) > 1:
        keys = [c for c in versions.columns if c != "cell_id"]
        tables.append(Table("Software versions", "Distinct version sets and how many cells ran under each.",
                            versions.fillna("–").groupby(keys, sort=False).size().rename("cells").reset_index()))
    shared = [c for c in ("train", "dev", "test") if c in hashes.columns]
    if shared:
        tables.append(Table("Data hashes (SHA-256)", "Distinct input files and how many cells used each.",
                            hashes[shared].fillna("–").groupby(shared, sort=False).size().rename("cells").reset_index()))
    if "noisy_train" in hashes.columns:
        per_cell = hashes[["cell_id", "noisy_train"]].merge(results.cells[["cell_id", "config_hash"]], on="cell_id")
        tables.append(Table("Noisy training sets (SHA-256)", "One per cell, with the hash of the cell's configuration.",
                            per_cell.fillna("–")))
    return tables


def overview(report: Report) -> Table:
    """What the results folder holds and how the report was computed."""
    cells, done = report.results.cells, report.results.done
    n_docs = next(iter(report.results.counts.values())).docs.shape[0] if report.results.counts else 0
    facts = {
        "results folder": str(report.results.path),
        "cells": f"{len(cells)} ({len(done)} done, {len(cells) - len(done)} failed)",
        "models": ", ".join(dict.fromkeys(cells["model"])),
        "losses": ", ".join(dict.fromkeys(cells["loss"])),
        "noise cells": str(cells["noise"].nunique()),
        "noise families": ", ".join(dict.fromkeys(cells["noise_family"])),
        "seeds": ", ".join(map(str, sorted(cells["seed"].unique()))),
        "test documents": str(n_docs),
        "training time": f"{_duration(cells['train_seconds'].sum())} over all cells",
        "baseline loss": report.baseline or "–",
        "resamples": f"{report.n_resamples:,} (paired bootstrap and approximate randomization)",
        "significance level": f"{report.alpha:g} after Holm; confidence {report.confidence:.0%}",
    }
    return Table("Overview", "", pd.DataFrame({"": list(facts), "value": list(facts.values())}))
