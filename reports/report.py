"""From a results folder to the report's content: numbers, the validity check, sentences, printed tables.

build_report computes everything once. The document then reads in the order a reader wants it: the summary
(validity box, headline figure, compact table, findings in words), the details by noise family, paired
comparisons, breakdowns, precision-recall, and provenance last. `summary_table`, `findings`, `sections`
and `provenance` lay the numbers out as printed tables (strings, percentages) and sentences; the HTML
template shows them, and the PDF is that HTML printed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

import numpy as np

from docrobust.reports.plots import draw_figures
from docrobust.reports.stats import Resamples
from docrobust.reports.tables import (CLEAN, SCORE_KINDS, Resampled, Results, auc_table, bands, cell_scores,
                                      comparisons, convergence, resample_cells, resolve_baseline, retention, robustness,
                                      summarize, validity, wilcoxon_table)

MARKS = {"p_bootstrap_holm": "†", "p_permutation_holm": "‡"}
TEST_NAMES = {"p_bootstrap_holm": "paired bootstrap over documents",
              "p_permutation_holm": "approximate randomization over documents"}
MIN_CLEAN_F1 = 0.10  # trained DocRE models sit far above this (ATLOP-BERT-base ~ 60% on DocRED, ~ 74% on Re-DocRED)
LISTED = 4           # at most this many items of a list in one sentence or box line


@dataclass
class Report:
    """Everything a report shows; numbers are fractions, as computed."""

    results: Results
    baseline: str
    alpha: float
    confidence: float
    n_resamples: int
    min_clean_f1: float
    scores: pd.DataFrame  # per finished cell
    summary: pd.DataFrame  # per model × loss × noise cell, over seeds
    drops: pd.DataFrame
    auc: pd.DataFrame
    comparisons: pd.DataFrame
    wilcoxon: pd.DataFrame
    invalid: pd.DataFrame  # tables.validity per score kind: a row withholds the comparisons of its metric
    retention: pd.DataFrame  # tables.retention: which loss keeps more of its clean score, per score kind
    convergence: pd.DataFrame  # tables.convergence: systems whose dev F1 still rose at their last epoch
    figures: dict = field(default_factory=dict)  # name -> (FigureSpec, Figure)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether F1 as trained can carry a comparison (its significance marks and statements)."""
        return self.valid_metric("f1")

    def valid_metric(self, metric: str) -> bool:
        """Whether `metric` (a SCORE_KINDS key) is in the results and passed its validity check."""
        return metric in self.metrics and (self.invalid.empty or not (self.invalid["metric"] == metric).any())

    @property
    def metrics(self) -> list[str]:
        """The score kinds (SCORE_KINDS) that the finished cells carry."""
        return [m for m in SCORE_KINDS if f"{m}_mean" in self.summary and self.summary[f"{m}_mean"].notna().any()]

    @property
    def has_clean(self) -> bool:
        return bool((self.summary["noise_family"] == CLEAN).any())


@dataclass
class Table:
    """A printed table: a title, an explanatory note, and string cells."""

    title: str
    note: str
    frame: pd.DataFrame


@dataclass
class Section:
    """A part of the details: an introduction, then tables and figures (by name) in order."""

    title: str
    intro: str
    blocks: list  # Table | str (a figure name)


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


# ---------------------------------------------------------------- printing numbers

def pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a percentage with `digits` decimals; '–' for a missing value."""
    return "–" if x is None or math.isnan(x) else f"{round(100 * x, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00"


def pct_std(mean: float, std: float) -> str:
    """'mean ± std' in percent; the mean alone when std is undefined (one seed)."""
    return pct(mean) if math.isnan(std) else f"{pct(mean)} ± {pct(std)}"


def kept(f1: float, f1_clean: float) -> str:
    """The share of the clean F1 a noisy cell keeps, '71%'; '–' without a clean F1 above 0."""
    return "–" if not f1_clean > 0 or math.isnan(f1) else f"{f1 / f1_clean:.0%}"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def pval(p: float) -> str:
    return "–" if math.isnan(p) else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def p_phrase(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def points(delta: float) -> str:
    """A difference of fractions in F1 points with its sign, '+6.1'."""
    return f"{100 * delta:+.1f}"


def system(model: str, loss: str) -> str:
    return f"{model} · {loss}"


def _listing(items: list[str]) -> str:
    """'a, b and c', at most LISTED items, then 'and N more'."""
    if len(items) > LISTED:
        items = items[:LISTED] + [f"{len(items) - LISTED} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def marks(report: Report) -> dict[tuple, str]:
    """Significance marks per (model, loss, noise): a symbol for each test whose Holm p < alpha; none at all
    when the validity check failed."""
    if not report.valid:
        return {}
    out = {}
    for row in report.comparisons.to_dict("records"):
        out[row["model"], row["loss"], row["noise"]] = "".join(
            mark for column, mark in MARKS.items() if row[column] < report.alpha)
    return out


def _mark_legend(report: Report) -> str:
    if not report.valid:
        return "Significance marks are withheld: the validity check in the summary failed."
    tests = "; ".join(f"{mark} {TEST_NAMES[column]} p<{report.alpha:g} after Holm" for column, mark in MARKS.items())
    return f"Significance against baseline loss '{report.baseline}' (same model, noise cell and seeds): {tests}."


# ---------------------------------------------------------------- the summary

SCORE_NAMES = {"f1": "F1", "f1_calibrated": "dev-calibrated F1", "ap": "threshold-free AP"}  # in the box


def validity_lines(report: Report) -> list[str]:
    """The validity box's reasons, one line each with its numbers (empty when every check passes): per score kind,
    a clean score below the floor or a score that rises with noise; then systems still improving at their last epoch."""
    lines = []
    for metric in report.metrics:
        rows = report.invalid[report.invalid["metric"] == metric] if not report.invalid.empty else report.invalid
        name = SCORE_NAMES[metric]
        floor = rows[rows["kind"] == "floor"]
        if not floor.empty:
            items = [f"{system(r.model, r.loss)} {pct(r.f1)}%" for r in floor.itertuples()]
            lines.append(f"Clean {name} below the {report.min_clean_f1:.0%} floor that trained DocRE models exceed: "
                         f"{_listing(items)}.")
        rise = rows[rows["kind"] == "rise"]
        if not rise.empty:
            items = [f"{system(r.model, r.loss)} at {r.noise} ({pct(r.f1_clean)}% clean → {pct(r.f1)}%"
                     + (f", seed spread {pct(r.spread)} points)" if r.spread > 0 else ", one seed)")
                     for r in rise.itertuples()]
            lines.append(f"{name[0].upper()}{name[1:]} rises with label noise beyond the seed spread: {_listing(items)}.")
            over = rise[rise["precision_clean"] < rise["recall_clean"]].drop_duplicates(["model", "loss"])
            if metric == "f1" and not over.empty:
                items = [f"{system(r.model, r.loss)} (precision {pct(r.precision_clean)}%, recall {pct(r.recall_clean)}%)"
                         for r in over.itertuples()]
                one = len(over) == 1
                lines.append(f"On clean labels, {_listing(items)} over-predict{'s' if one else ''}: removing positives "
                             f"makes {'it' if one else 'them'} predict less, which raises F1. Compare the "
                             "dev-calibrated scores, or the threshold-free ranking score.")
    for r in report.convergence.itertuples():
        lines.append(f"Under-trained: dev F1 still rising at the last epoch in {r.n_cells if r.n_rising == r.n_cells else r.n_rising} "
                     f"of {r.n_cells} cells of {system(r.model, r.loss)} (best epochs "
                     f"{_listing([str(e) for e in r.best_epochs])} of {r.budget}): comparing it measures its training "
                     "budget as much as its loss.")
    return lines


def validity_title(report: Report) -> tuple[str, str]:
    """The validity box's heading and what it withholds: every comparison when no score kind passes (models that
    are under-trained, or whose scores rise with noise), else only those of the score kinds that failed."""
    failed = [m for m in report.metrics if not report.valid_metric(m)]
    passed = [m for m in report.metrics if report.valid_metric(m)]
    if not failed:
        return ("Some systems had not converged when training ended.",
                "Their comparisons below are stated; read them with that in mind.")
    if not passed and (report.invalid["kind"] == "floor").any():
        return ("These models are under-trained: the comparisons below are not interpretable.",
                "Significance marks (†‡) and statements are withheld. Train longer (more steps or documents; "
                "<code>--profile paper</code> on GPUs), or lower the floor with <code>--min-clean-f1</code> if your "
                "task's models sit lower.")
    if not passed:
        return ("F1 rises with label noise: the comparisons below are not interpretable.",
                "Significance marks (†‡) and statements are withheld. Label noise does not help a model that is trained "
                "and thresholded well: check the precision and recall named above, or train longer.")
    names = lambda ms: _listing([SCORE_NAMES[m] for m in ms])  # noqa: E731
    return (f"{names(failed)[0].upper()}{names(failed)[1:]} cannot carry a comparison here; {names(passed)} can.",
            f"Significance marks (†‡) and statements about {names(failed)} are withheld; the findings below compare "
            f"{names(passed)}, which the reasons above do not concern.")


def notices(report: Report) -> list[str]:
    """What the reader must know about the folder before reading the numbers."""
    results, out = report.results, []
    if not report.has_clean and not report.summary.empty:
        out.append("No clean cell: F1 drops, shares of clean F1 kept and robustness AUC need the `clean` noise cell "
                   "(add \"clean\" to matrix.noise and rerun); the tables show absolute scores.")
    if len(results.pending):
        out.append(f"{len(results.pending)} of {len(results.pending) + len(results.cells)} cells have no current result "
                   "(pending, stale or unreadable; listed under Provenance): the numbers cover the finished cells only.")
    if len(results.failed):
        out.append(f"{len(results.failed)} cell(s) failed; their errors are listed under Provenance.")
    if results.done.empty:
        out.append("No cell finished: there is nothing to report yet.")
    return out


def _families(report: Report) -> list[str]:
    return [f for f in dict.fromkeys(report.summary["noise_family"]) if f != CLEAN]


def summary_table(report: Report) -> Table:
    """Per system and noise family: clean F1, F1 at each rate (share of clean kept), robustness AUC; with a
    dev-calibrated score in the cells, a second row per system with the calibrated F1."""
    summary, families = report.summary, _families(report)
    rates = sorted({r for r in summary.loc[summary["noise_family"] != CLEAN, "rate"]})
    clean = summary[summary["noise_family"] == CLEAN].set_index(["model", "loss"])
    auc = report.auc.set_index(["model", "loss", "noise_family"])["auc"] if not report.auc.empty else pd.Series(dtype=float)
    calibrated, ranked = report.results.calibrated, "ap" in report.metrics
    variants = ([("f1", "as trained")] + [("f1_calibrated", "dev-calibrated")] * calibrated
                + [("ap", "threshold-free AP")] * ranked) if calibrated or ranked else [("f1", "")]
    rows = []
    for family in families or [None]:
        for model, loss in dict.fromkeys(zip(summary["model"], summary["loss"])):
            mine = summary[(summary["model"] == model) & (summary["loss"] == loss)]
            for metric, label in variants:
                if metric != "f1" and mine[f"{metric}_mean"].isna().all():   # e.g. an external model: no ranking
                    continue
                row = {"model · loss": system(model, loss), "noise": family or "–"}
                if len(variants) > 1:
                    row["threshold"] = label
                f1_clean = clean[f"{metric}_mean"].get((model, loss), float("nan"))
                if report.has_clean:
                    row["clean F1"] = pct(f1_clean)
                for rate in rates:
                    hit = summary[(summary["model"] == model) & (summary["loss"] == loss)
                                  & (summary["noise_family"] == family) & (summary["rate"] == rate)]
                    f1 = float(hit[f"{metric}_mean"].iloc[0]) if len(hit) else None
                    text = "" if f1 is None else pct(f1) + (f" ({kept(f1, f1_clean)})" if report.has_clean else "")
                    row[f"F1 @ {rate:g}"] = text
                if report.has_clean and family is not None:
                    row["AUC"] = pct(auc.get((model, loss, family), float("nan"))) if metric == "f1" else ""
                rows.append(row)
    note = ("Test F1 in %, mean over seeds; in parentheses the share of the same system's clean F1 that it keeps; "
            "AUC: normalized area under F1 versus rate, clean point included (the curve's average F1)."
            if report.has_clean else "Test F1 in %, mean over seeds (no clean cell: absolute scores).")
    if calibrated:
        note += " Dev-calibrated: the decision threshold shifted by an offset chosen on the dev split."
    if ranked:
        note += (" Threshold-free AP: average precision of the test triples ranked by their score above the model's "
                 "threshold, recall counted against every gold triple (no threshold is involved).")
    return Table("F1 by noise rate", note, pd.DataFrame(rows))


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
    for family in _families(report):
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
        return f"At {family} {rate:g}, F1 is {_listing(items)}."
    f1_clean = summary[summary["noise_family"] == CLEAN].set_index(["model", "loss"])["f1_mean"]
    base = {(r.model, r.loss): f1_clean.get((r.model, r.loss), math.nan) for r in top.itertuples()}
    ranked = sorted(top.itertuples(), key=lambda r: -r.f1_mean / base[r.model, r.loss]
                    if base[r.model, r.loss] > 0 else math.inf)  # most kept first; no clean F1 last
    items = [f"{system(r.model, r.loss)} {kept(r.f1_mean, base[r.model, r.loss])} "
             f"({pct(base[r.model, r.loss])} → {pct(r.f1_mean)})" for r in ranked]
    return f"At {family} {rate:g}, the share of clean F1 kept is {_listing(items)}."


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
                   f"{group['baseline'].iloc[0]}: {_listing(items)}; {_tested_on(group)}.")
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
                   f"in points: {_listing(items)}; {_tested_on(group)}.")
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
    return [f"There, {_listing(items)}" + (f"; {others} other comparison(s) show no significant difference." if others
                                            else ".")]


# ---------------------------------------------------------------- the details

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


def sections(report: Report) -> list[Section]:
    """The details after the summary, in reading order; figures by name (those not drawn are left out)."""
    has = lambda name: name in report.figures  # noqa: E731
    families = list(dict.fromkeys(report.summary["noise_family"]))
    drop_note = ("F1 drop = F1_clean − F1 in points (means over seeds), relative drop = drop / F1_clean. "
                 if report.has_clean else "")
    out = [Section(
        "Results by noise family",
        "Test scores in %, mean ± sample std over seeds; Ign F1 as DocRED's official evaluation.py computes it. "
        + drop_note + _mark_legend(report),
        [Table(f"Results: {family}", "", main_table(report, family)) for family in families]
        + [name for name in ("relative_drop", "ign_f1_vs_rate") if has(name)])]
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
    return out


# ---------------------------------------------------------------- provenance

def overview(report: Report) -> Table:
    """What the results folder holds and how the report was computed."""
    results, cells, done = report.results, report.results.cells, report.results.done
    facts = {
        "results folder": str(results.path),
        "cells": f"{len(cells) + len(results.pending)} planned: {len(done)} done, {len(cells) - len(done)} failed, "
                 f"{len(results.pending)} without a current result",
        "models": ", ".join(dict.fromkeys(cells["model"])),
        "losses": ", ".join(dict.fromkeys(cells["loss"])),
        "noise cells": ", ".join(dict.fromkeys(cells["noise"])),
        "seeds": ", ".join(map(str, sorted(cells["seed"].unique()))),
        "test documents": str(results.n_docs),
        "encoder": str(results.config.get("encoder") or "–"),
        "training time": f"{_duration(cells['train_seconds'].sum())} over all cells",
        "baseline loss": report.baseline or "–",
        "resamples": f"{report.n_resamples:,} (paired bootstrap and approximate randomization)",
        "significance level": f"{report.alpha:g} after Holm; confidence {report.confidence:.0%}",
        "validity floor": f"clean F1 ≥ {report.min_clean_f1:.0%}",
    }
    return Table("Overview", "", pd.DataFrame({"": list(facts), "value": list(facts.values())}))


def provenance(report: Report) -> list[Table]:
    """The folder, failed and pending cells, versions and data hashes, grouped so each distinct value shows once."""
    results = report.results
    tables = [overview(report)]
    if not results.failed.empty:
        tables.append(Table("Failed cells", "Cells that did not finish; tracebacks are in cells/<cell_id>/cell.json.",
                            results.failed[["cell_id", "model", "loss", "noise", "seed", "error"]].reset_index(drop=True)))
    if len(results.pending):
        tables.append(Table("Cells without a current result",
                            "pending: not run yet, or its files are missing or unreadable (the next run redoes it); "
                            "stale: a result of another configuration.", results.pending.reset_index(drop=True)))
    versions = pd.DataFrame([{"cell_id": c, **r.versions} for c, r in results.records.items()])
    hashes = pd.DataFrame([{"cell_id": c, **r.data_hashes} for c, r in results.records.items()])
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
