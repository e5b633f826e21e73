"""A results folder as one pandas DataFrame, for notebooks: `docrobust.load_results(folder)`.

The rows are the report's own numbers (cells.load_results and cell_scores, from the per-document counts in each
cell's metrics.json), so a table made from this frame agrees with `docrobust report`.
"""
from __future__ import annotations

import os

import pandas as pd

from .cells import CELL, META, cell_scores, load_results

__all__ = ["results_table"]


def results_table(results_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per finished cell of a results folder (`bench run --out`), in plan order: what the cell is (cell_id,
    model, loss, noise spec, noise_family, nominal and achieved rate, seed), how it ended (status, error, config_hash,
    train_seconds) and, for done cells, its test scores as fractions: precision, recall, f1, ign_precision, ign_f1,
    f1 of each bucket (f1_intra, f1_inter, f1_frequent, f1_long_tail), f1_calibrated and calibration_offset (cells
    trained with calibrate_threshold), ap (the threshold-free average precision) and best_epoch, epochs_run,
    epoch_budget. A failed cell's scores are NaN; pending cells have no row (`docrobust bench status` lists them).
    """
    results = load_results(results_dir)
    scores = cell_scores(results).drop(columns=[*CELL, "achieved_rate", "seed"])
    return results.cells[META].merge(scores, on="cell_id", how="left")
