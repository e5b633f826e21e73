"""Printing the report's numbers: percentages, p-values, differences in points, lists in a sentence, and the
significance marks with their legend."""
from __future__ import annotations

import math
import re

from .content import Report

MARKS = {"p_bootstrap_holm": "†", "p_permutation_holm": "‡"}
TEST_NAMES = {"p_bootstrap_holm": "paired bootstrap over documents",
              "p_permutation_holm": "approximate randomization over documents"}
LISTED = 4           # at most this many items of a list in one sentence or box line
NUMBER = re.compile(r"^[−+-]?[\d.,<]+( ± [\d.]+)?( [†‡]+)?( \(\d+%\))?$|^–$")  # a printed number: right-aligned
SCORE_NAMES = {"f1": "F1", "f1_calibrated": "dev-calibrated F1", "ap": "threshold-free AP"}  # in the box


def pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a percentage with `digits` decimals; '–' for a missing value."""
    return "–" if x is None or math.isnan(x) else f"{round(100 * x, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00"


def pct_std(mean: float, std: float) -> str:
    """'mean ± std' in percent; the mean alone when std is undefined (one seed)."""
    return pct(mean) if math.isnan(std) else f"{pct(mean)} ± {pct(std)}"


def kept(f1: float, f1_clean: float) -> str:
    """The share of the clean F1 a noisy cell keeps, '71%'; '–' without a clean F1 above 0."""
    return "–" if not f1_clean > 0 or math.isnan(f1) else f"{f1 / f1_clean:.0%}"


def pval(p: float) -> str:
    return "–" if math.isnan(p) else ("<0.0001" if p < 1e-4 else f"{p:.4f}")


def p_phrase(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def points(delta: float) -> str:
    """A difference of fractions in F1 points with its sign, '+6.1'."""
    return f"{100 * delta:+.1f}"


def system(model: str, loss: str) -> str:
    return f"{model} · {loss}"


def listing(items: list[str]) -> str:
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


def mark_legend(report: Report) -> str:
    if not report.valid:
        return "Significance marks are withheld: the validity check in the summary failed."
    tests = "; ".join(f"{mark} {TEST_NAMES[column]} p<{report.alpha:g} after Holm" for column, mark in MARKS.items())
    return f"Significance against baseline loss '{report.baseline}' (same model, noise cell and seeds): {tests}."
