"""Report figures, drawn from the seed summary (tables.summarize) and registered by name.

A figure is a function summary -> matplotlib Figure | None (None: nothing to draw, e.g.
no noisy cells); `@figure(name, caption)` adds it to FIGURES; the report places each by
name and prints its caption as HTML text beside it. Figures are built on
matplotlib.figure.Figure directly (no pyplot state, Agg rendering on save). Encoding,
readable in print and in grayscale: colour and marker by loss (seaborn "colorblind", a
colour-blind-safe palette), line style by model, so one model × loss keeps its look in
every figure; legends sit below the axes, outside the data; axes say their units.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from docrobust.base import Registry
from docrobust.corpus.score import BUCKETS

from .cells import CLEAN
from .tables import robustness

RATE_LABEL = "noise rate (fraction)"  # of the training labels; the captions say which
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")
RC = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8.5,
      "xtick.labelsize": 8, "ytick.labelsize": 8, "savefig.dpi": 150}
WIDTH = 7.5  # inches: a printed page's text width


@dataclass(frozen=True)
class FigureSpec:
    name: str
    caption: str
    draw: Callable[[pd.DataFrame], Figure | None]


FIGURES: Registry[FigureSpec] = Registry("figure")


def figure(name: str, caption: str, **options) -> Callable:
    """Register `draw(summary, **options)` under `name`; stack the decorator for variants."""

    def register(draw: Callable) -> Callable:
        FIGURES.add(name, FigureSpec(name, caption, partial(draw, **options)))
        return draw

    return register


def draw_figures(summary: pd.DataFrame) -> dict[str, tuple[FigureSpec, Figure]]:
    """name -> (spec, figure) for every registered figure that has something to show, in registration order."""
    drawn = {}
    with sns.axes_style("whitegrid"), sns.plotting_context(rc=RC):
        for spec in FIGURES.values():
            fig = spec.draw(summary)
            if fig is not None:
                drawn[spec.name] = (spec, fig)
    return drawn


def _styles(summary: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """Line style of each (model, loss) present: colour + marker by loss, dash pattern by model."""
    palette = sns.color_palette("colorblind")
    losses, models = list(dict.fromkeys(summary["loss"])), list(dict.fromkeys(summary["model"]))
    styles = {}
    for model, loss in dict.fromkeys(zip(summary["model"], summary["loss"])):
        i, j = models.index(model), losses.index(loss)
        styles[model, loss] = {
            "color": palette[j % len(palette)], "marker": MARKERS[j % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)], "label": f"{model} · {loss}",
        }
    return styles


def _families(summary: pd.DataFrame) -> list[str]:
    families = [f for f in dict.fromkeys(summary["noise_family"]) if f != CLEAN]
    return families or [CLEAN]


def _curve(summary: pd.DataFrame, model: str, loss: str, family: str) -> pd.DataFrame:
    """One system's points along a noise family, the clean cell first at rate 0."""
    rows = summary[(summary["model"] == model) & (summary["loss"] == loss)]
    rows = rows[rows["noise_family"].isin({CLEAN, family})]
    return rows.sort_values("rate", kind="stable")


def _grid(n_panels: int, height: float, xlabel: str, max_cols: int = 4) -> tuple[Figure, np.ndarray]:
    """Panels in as few rows of at most `max_cols` as possible, filled evenly (5 panels: 3 + 2, so that a short,
    wide figure keeps its text legible); `xlabel` on each panel with no panel below it."""
    nrows = -(-n_panels // max_cols)
    ncols = -(-n_panels // nrows)
    fig = Figure(figsize=(WIDTH, height * nrows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for i, ax in enumerate(axes):
        ax.set_visible(i < n_panels)
        ax.set_xlabel(xlabel if i + ncols >= n_panels else "")
    return fig, axes[:n_panels]


def _legend(fig: Figure, styles: dict) -> None:
    """Legend below the axes, one row per model and one column per loss (legends fill column by column)."""
    losses = list(dict.fromkeys(loss for _, loss in styles))
    order = sorted(styles, key=lambda key: losses.index(key[1]))
    handles = [Line2D([], [], **{k: v for k, v in styles[key].items() if k != "label"}, label=styles[key]["label"])
               for key in order]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(losses), 5), frameon=False)


BAND_NOTE = ("lines are means over seeds, dots the seeds, bands 95% intervals of the mean from resampling the test "
             "documents (seeds held)")
HEADLINE = {"f1": "F1 as trained (%)", "f1_calibrated": "dev-calibrated F1 (%)", "ap": "threshold-free AP (%)"}


@figure("ign_f1_vs_rate", f"Test Ign F1 (correct facts seen in training left out) versus noise rate; {BAND_NOTE}.",
        metrics={"ign_f1": "Ign F1 (%)"})
@figure("f1_vs_rate", "Test scores versus the rate of training-label noise (fraction of the training triples or, for "
        "mixed, documents affected), one column per noise family, the clean cell at rate 0; rows: F1 as trained, "
        "F1 with a threshold offset chosen on dev, and the threshold-free average precision of the test ranking "
        f"(those the cells carry); {BAND_NOTE}.", metrics=HEADLINE)  # the decorator nearest the function registers first
def metric_vs_rate(summary: pd.DataFrame, metrics: dict[str, str]) -> Figure:
    """A row per score in `metrics` (those present), a column per noise family: each system's mean against the
    nominal rate, its seeds as dots and its document-resampling band."""
    metrics = {m: label for m, label in metrics.items() if summary[f"{m}_mean"].notna().any()} or {"f1": "F1 (%)"}
    styles, families = _styles(summary), _families(summary)
    fig = Figure(figsize=(WIDTH, 1.9 * len(metrics) + 0.9), layout="constrained")
    axes = fig.subplots(len(metrics), len(families), squeeze=False)
    for row, (metric, label) in enumerate(metrics.items()):
        for col, family in enumerate(families):
            ax = axes[row, col]
            for (model, loss), style in styles.items():
                curve = _curve(summary, model, loss, family)
                ax.plot(curve["rate"], 100 * curve[f"{metric}_mean"], markersize=4, **style)
                seeds = [(rate, 100 * v) for rate, values in zip(curve["rate"], curve[f"{metric}_seeds"]) for v in values]
                if seeds:
                    ax.scatter(*zip(*seeds), s=7, color=style["color"], alpha=0.55, linewidths=0, zorder=3)
                ax.fill_between(curve["rate"], (100 * curve[f"{metric}_lo"]).clip(lower=0),  # scores lie in 0-100
                                (100 * curve[f"{metric}_hi"]).clip(upper=100), color=style["color"], alpha=0.15,
                                linewidth=0)
            ax.set_title(family if row == 0 else "")
            ax.set_ylabel(label if col == 0 else "")
            ax.set_xlabel(RATE_LABEL if row == len(metrics) - 1 else "")
    _legend(fig, styles)
    return fig


@figure("relative_drop", "Relative F1 drop from the clean cell, (F1_clean − F1_noisy) / F1_clean in %; negative = better than clean.")
def relative_drop_heatmap(summary: pd.DataFrame) -> Figure | None:
    """Heatmaps of rel_drop, a panel per noise family: systems (model · loss) against rates."""
    drops = robustness(summary)
    if drops.empty or drops["rel_drop"].isna().all():  # no clean cell (or clean F1 0): no drop to show
        return None
    drops["system"] = drops["model"] + " · " + drops["loss"]
    families = list(dict.fromkeys(drops["noise_family"]))
    grids = [drops[drops["noise_family"] == family].pivot_table(index="system", columns="rate", values="rel_drop", sort=False) * 100
             for family in families]
    systems = list(dict.fromkeys(drops["system"]))
    values = np.concatenate([grid.to_numpy().ravel() for grid in grids])
    limit = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    fig = Figure(figsize=(WIDTH, 1.4 + 0.3 * len(systems)), layout="constrained")
    axes = fig.subplots(1, len(families) + 1, width_ratios=[g.shape[1] for g in grids] + [0.3], squeeze=False)[0]
    for i, (ax, family, grid) in enumerate(zip(axes, families, grids)):
        grid = grid.reindex(systems)
        with warnings.catch_warnings():  # seaborn 0.13 calls Colormap.set_bad, pending deprecation in matplotlib
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(grid, ax=ax, cmap="vlag", center=0, vmin=-limit, vmax=limit, annot=values.size <= 300,
                        fmt=".1f" if values.size <= 60 else ".0f", annot_kws={"fontsize": 6.5}, linewidths=0.5, cbar=i == len(families) - 1, cbar_ax=axes[-1],
                        cbar_kws={"label": "relative F1 drop (%)"}, yticklabels=i == 0)
        ax.set(title=family, xlabel=RATE_LABEL, ylabel="model · loss" if i == 0 else "")
        ax.set_xticklabels([f"{float(t.get_text()):g}" for t in ax.get_xticklabels()], rotation=0)
    return fig


@figure("buckets", "F1 by relation-frequency bucket (frequent / long-tail) and by intra- / inter-sentence pairs versus noise rate (mean over seeds).")
def bucket_degradation(summary: pd.DataFrame) -> Figure | None:
    """Rows: noise families; columns: breakdown buckets; mean bucket F1 against rate."""
    buckets = [b for b in BUCKETS if summary[f"f1_{b}_mean"].notna().any()]
    if not buckets:
        return None
    styles, families = _styles(summary), _families(summary)
    fig = Figure(figsize=(WIDTH, 1.6 * len(families) + 0.9), layout="constrained")
    axes = fig.subplots(len(families), len(buckets), squeeze=False, sharey=True)
    for row, family in enumerate(families):
        for col, bucket in enumerate(buckets):
            ax = axes[row, col]
            for (model, loss), style in styles.items():
                curve = _curve(summary, model, loss, family)
                ax.plot(curve["rate"], 100 * curve[f"f1_{bucket}_mean"], markersize=3.5, **style)
            ax.set_title(bucket.replace("_", "-") if row == 0 else "")
            ax.set_ylabel(f"{family}\nF1 (%)" if col == 0 else "")
            ax.set_xlabel(RATE_LABEL if row == len(families) - 1 else "")
    _legend(fig, styles)
    return fig


@figure("precision_recall", "Precision against recall as the noise rate grows (hollow marker: clean; coloured label: "
        "largest rate); grey curves are iso-F1 lines.")
def precision_recall(summary: pd.DataFrame) -> Figure:
    """A panel per noise family: each system's (recall, precision) trajectory over increasing rate."""
    styles, families = _styles(summary), _families(summary)
    fig, axes = _grid(len(families), 2.6, "recall (%)")
    for ax, family in zip(axes, families):
        for (model, loss), style in styles.items():
            curve = _curve(summary, model, loss, family)
            recall, precision = 100 * curve["recall_mean"], 100 * curve["precision_mean"]
            ax.plot(recall, precision, markersize=3.5, **style)
            ax.plot(recall.iloc[:1], precision.iloc[:1], marker=style["marker"], markersize=8,
                    markerfacecolor="none", markeredgecolor=style["color"], linestyle="none")
            ax.annotate(f"{curve['rate'].iloc[-1]:g}", (recall.iloc[-1], precision.iloc[-1]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points", color=style["color"])
        xlim, ylim = ax.get_xlim(), ax.get_ylim()  # the data's; iso-F1 lines must not widen them
        recall = np.linspace(0.5, 100, 400)
        for f1 in range(10, 100, 10):  # iso-F1: P = F1 R / (2R - F1) for R > F1 / 2
            r = recall[2 * recall > f1]
            p = f1 * r / (2 * r - f1)
            ax.plot(r, p, color="0.8", linewidth=0.6, zorder=0)
            inside = np.flatnonzero((r >= xlim[0]) & (r <= xlim[1]) & (p >= ylim[0]) & (p <= ylim[1]))
            if inside.size:  # label where the line leaves the panel
                ax.annotate(f"F1={f1}", (r[inside[-1]], p[inside[-1]]), fontsize=6.5, color="0.55",
                            ha="right", va="bottom", zorder=0)
        ax.set(title=family, ylabel="precision (%)", xlim=xlim, ylim=ylim)
    _legend(fig, styles)
    return fig
