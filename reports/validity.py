"""Whether the numbers can carry a comparison at all: clean scores above a floor, scores that do not rise with
label noise, and training that had levelled off when its budget ended.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .cells import CLEAN, SCORE_KINDS, TRAINING

def validity(summary: pd.DataFrame, min_clean_f1: float, metrics: tuple[str, ...] = tuple(SCORE_KINDS)) -> pd.DataFrame:
    """validity_of each score kind in `metrics` that the summary holds, in one table with a "metric" column."""
    present = [m for m in metrics if f"{m}_mean" in summary and summary[f"{m}_mean"].notna().any()]
    parts = [validity_of(summary, min_clean_f1, m).assign(metric=m) for m in present]
    return pd.concat(parts, ignore_index=True) if parts else validity_of(summary, min_clean_f1).assign(metric="f1")


def validity_of(summary: pd.DataFrame, min_clean_f1: float, metric: str = "f1") -> pd.DataFrame:
    """Signs that a score cannot carry a comparison, so that no comparison of it can mean anything; one row each.

    kind "floor": a system's clean score (mean over seeds; F1 unless `metric` names another) is below
    `min_clean_f1`, a level no trained DocRE model sits below. kind "rise": a system's score at some noise rate
    exceeds its clean score by more than the seed spread (columns f1_clean and f1 hold the metric's values), sqrt(std_clean² + std_noisy²) of F1 over seeds (0 with one seed): label noise does not help a
    trained model, so the ordering by noise rate is an artefact of training that has not converged, or of a
    threshold that over-predicts on clean labels (fewer positives then raise precision more than they cost
    recall); precision_clean and recall_clean tell the two apart.
    """
    columns = ["kind", "model", "loss", "noise_family", "rate", "noise", "f1_clean", "f1", "spread", "precision_clean",
               "recall_clean"]
    mean, std = f"{metric}_mean", f"{metric}_std"
    clean = summary[summary["noise_family"] == CLEAN]
    low = clean[clean[mean] < min_clean_f1]
    floor = low.assign(kind="floor", f1_clean=low[mean], f1=low[mean], spread=np.nan,
                       precision_clean=low["precision_mean"], recall_clean=low["recall_mean"])
    noisy = summary[summary["noise_family"] != CLEAN].merge(
        clean[["model", "loss", *dict.fromkeys([mean, std, "precision_mean", "recall_mean"])]], on=["model", "loss"],
        suffixes=("", "_clean")).rename(columns={"precision_mean_clean": "precision_clean",
                                                 "recall_mean_clean": "recall_clean"})
    spread = np.sqrt(noisy[std].fillna(0) ** 2 + noisy[f"{std}_clean"].fillna(0) ** 2)
    risen = noisy.assign(kind="rise", f1_clean=noisy[f"{mean}_clean"], f1=noisy[mean], spread=spread)
    risen = risen[risen["f1"] - risen["f1_clean"] > risen["spread"] + 1e-12]
    return pd.concat([floor[columns], risen[columns]], ignore_index=True)


def convergence(scores: pd.DataFrame) -> pd.DataFrame:
    """Systems whose dev F1 was still rising when their epoch budget ended, from the cells' own training logs.

    A cell is still rising when it ran its whole budget (no early stop) and its best dev epoch is one of the last two;
    a system is listed when at least half of its cells are: one row per system with n_rising, n_cells and the best
    epochs seen. Comparing it with a system that levelled off measures the training budget as much as the loss.
    """
    columns = ["model", "loss", "n_rising", "n_cells", "best_epochs", "budget"]
    trained = scores.dropna(subset=list(TRAINING))
    rising = (trained["epochs_run"] >= trained["epoch_budget"]) & (trained["best_epoch"] >= trained["epochs_run"] - 1)
    rows = []
    for (model, loss), cells in trained.assign(rising=rising).groupby(["model", "loss"], sort=False):
        if cells["rising"].sum() * 2 >= len(cells) and cells["rising"].any():
            rows.append({"model": model, "loss": loss, "n_rising": int(cells["rising"].sum()), "n_cells": len(cells),
                         "best_epochs": sorted({int(e) for e in cells["best_epoch"]}),
                         "budget": int(cells["epoch_budget"].max())})
    return pd.DataFrame(rows, columns=columns)
