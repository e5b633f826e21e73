"""The report's summary: the validity box, the notices about the folder, and the compact table of F1 by noise rate."""
from __future__ import annotations

import pandas as pd

from .cells import CLEAN
from .content import Report, Table
from .printing import SCORE_NAMES, kept, listing, pct, system


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
                         f"{listing(items)}.")
        rise = rows[rows["kind"] == "rise"]
        if not rise.empty:
            items = [f"{system(r.model, r.loss)} at {r.noise} ({pct(r.f1_clean)}% clean → {pct(r.f1)}%"
                     + (f", seed spread {pct(r.spread)} points)" if r.spread > 0 else ", one seed)")
                     for r in rise.itertuples()]
            lines.append(f"{name[0].upper()}{name[1:]} rises with label noise beyond the seed spread: {listing(items)}.")
            over = rise[rise["precision_clean"] < rise["recall_clean"]].drop_duplicates(["model", "loss"])
            if metric == "f1" and not over.empty:
                items = [f"{system(r.model, r.loss)} (precision {pct(r.precision_clean)}%, recall {pct(r.recall_clean)}%)"
                         for r in over.itertuples()]
                one = len(over) == 1
                lines.append(f"On clean labels, {listing(items)} over-predict{'s' if one else ''}: removing positives "
                             f"makes {'it' if one else 'them'} predict less, which raises F1. Compare the "
                             "dev-calibrated scores, or the threshold-free ranking score.")
    for r in report.convergence.itertuples():
        lines.append(f"Under-trained: dev F1 still rising at the last epoch in {r.n_cells if r.n_rising == r.n_cells else r.n_rising} "
                     f"of {r.n_cells} cells of {system(r.model, r.loss)} (best epochs "
                     f"{listing([str(e) for e in r.best_epochs])} of {r.budget}): comparing it measures its training "
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
    names = lambda ms: listing([SCORE_NAMES[m] for m in ms])  # noqa: E731
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


def summary_table(report: Report) -> Table:
    """Per system and noise family: clean F1, F1 at each rate (share of clean kept), robustness AUC; with a
    dev-calibrated score in the cells, a second row per system with the calibrated F1."""
    summary, families = report.summary, report.families
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
