"""The findings in words: sentences, each with its numbers, that state only what the statistics support."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .cells import CLEAN
from .content import Report
from .printing import SCORE_NAMES, kept, listing, p_phrase, pct, points, system


def findings(report: Report) -> list[str]:
    """A few sentences, each with its numbers, stating only what the statistics support: the clean scores; per noise
    family and valid score kind, which loss keeps more of its clean score (tables.retention, with its test); whether
    a loss loses more under wrong labels than under missing ones; the as-trained F1 differences when F1 is valid."""
    summary, out = report.summary, []
    if summary.empty:
        return out
    clean = summary[summary["noise_family"] == CLEAN].sort_values("f1_mean", ascending=False)
    if len(clean) == 1:
        row = clean.iloc[0]
        out.append(f"Without noise, {system(row['model'], row['loss'])} reaches F1 {pct(row['f1_mean'])}%.")
    elif len(clean) > 1:
        best, worst = clean.iloc[0], clean.iloc[-1]
        out.append(f"Without noise, F1 ranges from {pct(worst['f1_mean'])}% ({system(worst['model'], worst['loss'])}) "
                   f"to {pct(best['f1_mean'])}% ({system(best['model'], best['loss'])}).")
    if report.results.calibrated and len(clean):
        gain = clean["f1_calibrated_mean"] - clean["f1_mean"]
        out.append(f"A threshold calibrated on dev changes clean F1 by {points(gain.min())} to {points(gain.max())} points.")
    for family in report.families:
        rows = summary[summary["noise_family"] == family]
        rate = float(rows["rate"].max())
        stated = [m for m in report.metrics if report.valid_metric(m)]
        if report.valid or not stated:
            out.append(_kept_sentence(report, family, rate))
        if report.valid:
            out.extend(_comparison_sentence(report, family, rate))
        out.extend(_retention_sentences(report, stated, family, rate))
    out.extend(_fp_vs_fn_sentences(report))
    if not any(report.valid_metric(m) for m in report.metrics) and not report.comparisons.empty:
        out.append("No comparison is stated: the validity check above failed.")
    elif not report.valid and len(report.metrics) > 1:
        out.append("F1 as trained is not compared: see the box above.")
    return out


def _kept_sentence(report: Report, family: str, rate: float) -> str:
    """The share of clean F1 (as trained) each system keeps at a family's rate, most kept first (no test)."""
    summary = report.summary
    top = summary[(summary["noise_family"] == family) & (summary["rate"] == rate)]
    if not report.has_clean:
        items = [f"{system(r.model, r.loss)} {pct(r.f1_mean)}%" for r in top.sort_values("f1_mean", ascending=False).itertuples()]
        return f"At {family} {rate:g}, F1 is {listing(items)}."
    f1_clean = summary[summary["noise_family"] == CLEAN].set_index(["model", "loss"])["f1_mean"]
    base = {(r.model, r.loss): f1_clean.get((r.model, r.loss), math.nan) for r in top.itertuples()}
    ranked = sorted(top.itertuples(), key=lambda r: -r.f1_mean / base[r.model, r.loss]
                    if base[r.model, r.loss] > 0 else math.inf)  # most kept first; no clean F1 last
    items = [f"{system(r.model, r.loss)} {kept(r.f1_mean, base[r.model, r.loss])} "
             f"({pct(base[r.model, r.loss])} → {pct(r.f1_mean)})" for r in ranked]
    return f"At {family} {rate:g}, the share of clean F1 kept is {listing(items)}."


def _retention_rows(report: Report, metrics: list[str], comparison: str, **where) -> pd.DataFrame:
    """retention rows of one comparison kind for these score kinds, matching `where` (column -> value)."""
    table = report.retention
    if table.empty:
        return table
    keep = (table["comparison"] == comparison) & table["metric"].isin(metrics)
    for column, value in where.items():
        keep &= table[column] == value
    return table[keep]


def _test_phrase(report: Report, r) -> str:
    """'Δ +22.0 points, 95% CI [+15.0, +29.0], p < 0.001' of a retention row (p after Holm)."""
    return (f"Δ {points(r.delta)} points, {report.confidence:.0%} CI [{points(r.ci_low)}, {points(r.ci_high)}], "
            f"{p_phrase(r.p_holm)}" + ("" if r.p_holm < report.alpha else ", not significant"))


def _tested_on(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    return (f"paired bootstrap over {first['n_docs']} test documents, {first['n_seeds']} seed(s), "
            "Holm over the report's comparisons")


def _direction(report: Report, rows: pd.DataFrame) -> str | None:
    """'more' / 'less' when every significant delta among `rows` is positive / negative, 'mixed' when they
    disagree, None when none is significant."""
    signs = set(np.sign(rows.loc[rows["p_holm"] < report.alpha, "delta"]))
    return None if not signs else "mixed" if len(signs) > 1 else ("more" if signs == {1.0} else "less")


def _retention_sentences(report: Report, metrics: list[str], family: str, rate: float) -> list[str]:
    """At a family's rate, per loss: the share of its clean score it keeps against the baseline's, in each score kind."""
    rows = _retention_rows(report, metrics, "noise", noise_family=family, rate=rate)
    out = []
    for (model, loss), group in rows.groupby(["model", "loss"], sort=False):
        direction = _direction(report, group)
        verdict = (f"neither {loss} nor {group['baseline'].iloc[0]} keeps significantly more" if direction is None else
                   f"the score kinds disagree on {loss} and {group['baseline'].iloc[0]}" if direction == "mixed" else
                   f"{system(model, loss)} keeps {direction} of its clean score than {model} · "
                   f"{group['baseline'].iloc[0]}")
        items = [f"{SCORE_NAMES[r.metric]} {r.kept:.0%} vs {r.kept_baseline:.0%} ({_test_phrase(report, r)})"
                 for r in group.itertuples()]
        out.append(f"At {family} {rate:g}, {verdict} — share of the clean score kept, {system(model, loss)} vs "
                   f"{group['baseline'].iloc[0]}: {listing(items)}; {_tested_on(group)}.")
    return out


def _fp_vs_fn_sentences(report: Report) -> list[str]:
    """Open question 2: does a loss lose more, relative to the baseline, under wrong labels than under missing ones?
    (retention's "fp vs fn" rows: the difference of the two retention differences)."""
    rows = _retention_rows(report, [m for m in report.metrics if report.valid_metric(m)], "fp vs fn")
    out = []
    for (model, loss, noise), group in rows.groupby(["model", "loss", "noise"], sort=False):
        fp, fn = noise.split(" vs ")
        baseline = group["baseline"].iloc[0]
        direction = _direction(report, group)
        verdict = (f"{system(model, loss)} does not lose significantly more or less than {baseline} under wrong labels "
                   "than under missing ones" if direction is None else
                   "the score kinds disagree on whether wrong or missing labels cost more" if direction == "mixed" else
                   f"{system(model, loss)} loses {'less' if direction == 'more' else 'more'} than {baseline} under "
                   "wrong labels than under missing ones")
        items = [f"{SCORE_NAMES[r.metric]} {points(r.kept)} under {fp} vs {points(r.kept_baseline)} under {fn} "
                 f"({_test_phrase(report, r)})" for r in group.itertuples()]
        out.append(f"Wrong vs missing labels: {verdict} — the share of the clean score kept, {loss} minus {baseline}, "
                   f"in points: {listing(items)}; {_tested_on(group)}.")
    return out


def _comparison_sentence(report: Report, family: str, rate: float) -> list[str]:
    """What the paired tests say at a family's largest rate: the significant differences, or that there are none."""
    rows = report.comparisons[(report.comparisons["noise_family"] == family) & (report.comparisons["rate"] == rate)]
    if rows.empty:
        return []

    def stats(r) -> str:
        return (f"ΔF1 {points(r.delta_f1)} points, {report.confidence:.0%} CI [{pct(r.ci_low, 1)}, {pct(r.ci_high, 1)}], "
                f"paired bootstrap over {r.n_docs} documents, {p_phrase(r.p_bootstrap_holm)} after Holm")

    significant = rows[rows["p_bootstrap_holm"] < report.alpha]
    if significant.empty:
        largest = rows.loc[rows["delta_f1"].abs().idxmax()]
        return [f"There, no loss differs significantly from {report.baseline} (largest difference: "
                f"{system(largest['model'], largest['loss'])}, {stats(largest)})."]
    items = [f"{system(r.model, r.loss)} {'above' if r.delta_f1 > 0 else 'below'} {report.baseline} ({stats(r)})"
             for r in significant.itertuples()]
    others = len(rows) - len(significant)
    return [f"There, {listing(items)}" + (f"; {others} other comparison(s) show no significant difference." if others
                                            else ".")]
