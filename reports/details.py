"""The report's details after the summary: per-family results, robustness AUC, retention, paired comparisons and
breakdowns, as sections of printed tables and figures."""
from __future__ import annotations

import pandas as pd

from docrobust.base import loaded_plugins

from .content import Report, Section, Table
from .plots import FIGURES
from .printing import SCORE_NAMES, mark_legend, marks, pct, pct_std, points, pval


def main_table(report: Report, family: str) -> pd.DataFrame:
    """Printed mean ± std (over seeds) of P, R, F1 and Ign F1 in % for one noise family, and the F1 drop from clean."""
    rows = report.summary[report.summary["noise_family"] == family]
    drops = rows[["model", "loss", "noise"]].merge(report.drops, how="left", on=["model", "loss", "noise"])
    mark = marks(report)
    table = pd.DataFrame({
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
    if report.results.calibrated:
        table.insert(table.columns.get_loc("Ign F1 (%)"), "F1 calibrated (%)",
                     [pct_std(m, s) for m, s in zip(rows["f1_calibrated_mean"], rows["f1_calibrated_std"])])
    if not report.has_clean:
        table = table.drop(columns=["F1 drop (pts)", "relative drop (%)"])
    return table


def comparison_table(report: Report, family: str) -> pd.DataFrame:
    rows = report.comparisons[report.comparisons["noise_family"] == family]
    return pd.DataFrame({
        "model": rows["model"], "loss": rows["loss"], "vs": rows["baseline"], "noise": rows["noise"],
        "seeds": rows["n_seeds"], "docs": rows["n_docs"], "ΔF1 (%)": rows["delta_f1"].map(pct),
        f"{report.confidence:.0%} CI (%)": [f"[{pct(lo)}, {pct(hi)}]" for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        "p boot": rows["p_bootstrap"].map(pval), "p boot Holm": rows["p_bootstrap_holm"].map(pval),
        "p perm": rows["p_permutation"].map(pval), "p perm Holm": rows["p_permutation_holm"].map(pval),
    }).reset_index(drop=True)


def retention_table(report: Report) -> pd.DataFrame:
    t = report.retention
    return pd.DataFrame({
        "score": t["metric"].map(SCORE_NAMES), "model": t["model"], "loss": t["loss"], "vs": t["baseline"],
        "noise": t["noise"], "seeds": t["n_seeds"],
        "kept (%)": [pct(k, 1) if c == "noise" else points(k) for k, c in zip(t["kept"], t["comparison"])],
        "kept vs (%)": [pct(k, 1) if c == "noise" else points(k) for k, c in zip(t["kept_baseline"], t["comparison"])],
        "Δ (pts)": t["delta"].map(points),
        f"{report.confidence:.0%} CI": [f"[{points(lo)}, {points(hi)}]" for lo, hi in zip(t["ci_low"], t["ci_high"])],
        "p": t["p"].map(pval), "p Holm": t["p_holm"].map(pval),
        "valid": ["yes" if report.valid_metric(m) else "no" for m in t["metric"]],
    }).reset_index(drop=True)


def bucket_table(report: Report) -> pd.DataFrame:
    s = report.summary
    return pd.DataFrame({"model": s["model"], "loss": s["loss"], "noise": s["noise"],
                         **{f"F1 {name} (%)": s[f"f1_{bucket}_mean"].map(pct) for bucket, name in
                            (("frequent", "frequent"), ("long_tail", "long-tail"), ("intra", "intra"),
                             ("inter", "inter"))}}).reset_index(drop=True)


def family_tables(report: Report) -> list[Table]:
    """The results table (main_table) of each noise family, clean first: what the report and the paper tables show."""
    return [Table(f"Results: {family}", "", main_table(report, family))
            for family in dict.fromkeys(report.summary["noise_family"])]


def family_note(report: Report) -> str:
    """What the family tables' numbers are, and what their significance marks mean."""
    drop_note = ("F1 drop = F1_clean − F1 in points (means over seeds), relative drop = drop / F1_clean. "
                 if report.has_clean else "")
    return ("Test scores in %, mean ± sample std over seeds; Ign F1 as DocRED's official evaluation.py computes it. "
            + drop_note + mark_legend(report))


def sections(report: Report) -> list[Section]:
    """The details after the summary, in reading order; figures by name (those not drawn are left out)."""
    has = lambda name: name in report.figures  # noqa: E731
    out = [Section("Results by noise family", family_note(report),
                   family_tables(report) + [name for name in ("relative_drop", "ign_f1_vs_rate") if has(name)])]
    if report.has_clean and not report.auc.empty:
        out.append(Section(
            "Robustness: normalized area under the F1–rate curve",
            "AUC = (1 / r_max) ∫₀^r_max F1(r) dr by the trapezoid rule over the family's rates and the clean point r = 0 "
            "(mean F1 over seeds at each rate): the curve's average F1, in %; a flat curve at f gives f.",
            [Table("Robustness AUC", "", report.auc.drop(columns="has_clean").assign(auc=report.auc["auc"].map(pct))
                   .rename(columns={"noise_family": "noise family", "auc": "AUC (%)"}))]))
    if not report.retention.empty:
        out.append(Section(
            "Share of the clean score kept",
            "kept = mean over seeds of a score on the noisy cell / on the clean cell; Δ = kept(loss) − kept(baseline) in "
            "points; fp vs fn: Δ under a false-positive cell minus Δ under the false-negative cell nearest in rate. "
            f"Percentile CI and p from a paired bootstrap over test documents ({report.n_resamples:,} resamples, seeds "
            "held; the threshold-free AP resampled through log-spaced rank bins, shifted by their error on the observed "
            "documents); Holm over this table. Comparisons of a score kind that failed the validity check are "
            "printed for completeness and support no claim.",
            [Table("Share of the clean score kept", "", retention_table(report))]))
    if not report.comparisons.empty:
        intro = (f"ΔF1 = mean over seeds of F1(loss) − F1({report.baseline}) on the same test documents; percentile CI "
                 f"and p from a paired bootstrap over documents ({report.n_resamples:,} resamples); p perm from "
                 "approximate randomization (documents' counts swapped between systems); Holm over all comparisons "
                 "of this report. Wilcoxon: signed-rank test over the (noise cell, seed) pairs of a family, clean "
                 "cells included, Holm over its table.")
        if not report.valid:
            intro += " These statistics are printed for completeness; the validity check failed, so they support no claim."
        blocks: list = [Table(f"Paired comparisons: {family}", "", comparison_table(report, family))
                        for family in dict.fromkeys(report.comparisons["noise_family"])]
        if not report.wilcoxon.empty:
            w = report.wilcoxon
            blocks.append(Table("Wilcoxon signed-rank tests across seeds and noise rates", "", pd.DataFrame({
                "model": w["model"], "loss": w["loss"], "vs": w["baseline"], "noise family": w["noise_family"],
                "pairs": w["n_pairs"], "mean ΔF1 (%)": w["mean_delta_f1"].map(pct), "better": w["n_better"],
                "worse": w["n_worse"], "p": w["p_wilcoxon"].map(pval), "p Holm": w["p_wilcoxon_holm"].map(pval)})))
        out.append(Section("Paired comparisons", intro, blocks))
    if not report.summary.empty:
        out.append(Section(
            "Breakdowns: frequent / long-tail relations, intra / inter-sentence pairs",
            "F1 in % (mean over seeds) of each bucket's counts: frequent = the ten most common relations of the clean "
            "training labels, long-tail = the others; intra = head and tail share a sentence, inter = they do not.",
            [name for name in ("buckets",) if has(name)] + [Table("F1 by bucket", "", bucket_table(report))]))
    if has("precision_recall"):
        out.append(Section("Precision and recall", "Where each system's errors go as noise grows.", ["precision_recall"]))
    plugins = loaded_plugins()
    extra = [name for name in report.figures if FIGURES.source(name) in plugins]
    if extra:
        out.append(Section("Figures from plugins", "Drawn by the plugins loaded for this report (README: Plugins).",
                           extra))
    return out
