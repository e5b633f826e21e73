"""The finished cells of a results folder as DataFrames, the ground every other table of the report stands on.

load_results -> the plan's finished cells (records through docrobust.reports.results); cell_scores -> one
row per finished cell; summarize -> mean ± std over seeds per model × loss × noise cell, in report order.
Scores are fractions in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from docrobust.base import DocrobustError
from docrobust.corpus.score import BUCKETS, prf

from .records import CellRecord, Scores
from .results import ResultsStore
from .stats import METRICS, rank_bins, t_halfwidth

CELL = ["model", "loss", "noise_family", "rate", "noise"]  # one noise cell of one system; seeds vary
META = ["cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status", "error",
        "config_hash", "train_seconds"]
BUCKET_METRICS = tuple(f"f1_{bucket}" for bucket in BUCKETS)
CALIBRATED = ("f1_calibrated", "calibration_offset")
TRAINING = ("best_epoch", "epochs_run", "epoch_budget")
CLEAN = "clean"
# The scores whose robustness the report compares: F1 as trained, F1 with a threshold offset chosen on dev, and the
# threshold-free average precision of the test ranking. The first moves with the threshold; the other two do not.
SCORE_KINDS = {"f1": "F1 as trained", "f1_calibrated": "dev-calibrated F1", "ap": "threshold-free AP"}
BANDED = ("f1", "ign_f1", "f1_calibrated", "ap")  # scores drawn with document-resampling bands


@dataclass
class Results:
    """A results folder as the report sees it: the plan's cells with a current record, and the others."""

    path: Path
    config: dict
    records: dict[str, CellRecord]  # done and failed cells of the plan, current config
    pending: pd.DataFrame           # cell_id, model, loss, noise, seed, state ("pending" | "stale"), problem
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rows = [{k: getattr(r, k) for k in META} for r in self.records.values()]
        self.cells = pd.DataFrame(rows, columns=META)
        self.cells["achieved_rate"] = pd.to_numeric(self.cells["achieved_rate"]).astype(float)
        self.cells["train_seconds"] = pd.to_numeric(self.cells["train_seconds"]).astype(float)
        self.cells["error"] = self.cells["error"].fillna("")

    @property
    def done(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "done"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] != "done"]

    def test(self, cell_id: str) -> Scores:
        """The test counts of a done cell."""
        return self.records[cell_id].test

    @property
    def n_docs(self) -> int:
        return next((r.test.docs.shape[0] for r in self.records.values() if r.test is not None), 0)

    @property
    def calibrated(self) -> bool:
        return any(r.calibrated is not None for r in self.records.values())

    @cached_property
    def rankings(self) -> dict[str, np.ndarray]:
        """cell_id -> (D, B, 2) rank bins (stats.rank_bins) of each done cell with a threshold-free score and a
        readable ranking.npz; a cell whose ranking cannot be read has no AP, with a warning."""
        store, out = ResultsStore(self.path), {}
        for cell_id in self.done["cell_id"]:
            record = self.records[cell_id]
            if record.ap is None:
                continue
            try:
                ranked = store.read_ranking(cell_id, record.test.docs.shape[0])
            except DocrobustError as e:
                self.warnings.append(f"cell {cell_id} has no threshold-free score: {e}")
                continue
            out[cell_id] = rank_bins(ranked["doc"], ranked["relevant"], record.test.docs.shape[0])
        return out


def load_results(results_dir: str | Path) -> Results:
    """The plan's cells of a results folder: records of the current config, the rest listed as pending."""
    root = Path(results_dir)
    if not root.is_dir():
        raise DocrobustError(f"{root}: not a results folder (no such directory)")
    store = ResultsStore(root)
    plan = store.read_plan()
    states = store.states(plan)
    records = {c.cell_id: states[c.cell_id].record for c in plan if states[c.cell_id].status in ("done", "failed")}
    pending = pd.DataFrame([{"cell_id": c.cell_id, "model": c.model, "loss": c.loss, "noise": c.noise, "seed": c.seed,
                             "state": states[c.cell_id].status, "problem": states[c.cell_id].problem or ""}
                            for c in plan if states[c.cell_id].status in ("pending", "stale")],
                           columns=["cell_id", "model", "loss", "noise", "seed", "state", "problem"])
    warnings = [f"cell {row.cell_id} is not a result and counts as pending: {row.problem}"
                for row in pending.itertuples() if row.problem]
    results = Results(root, store.read_bench_json() or {}, records, pending, warnings)
    _check_titles(results)
    return results


def _check_titles(results: Results) -> None:
    """Every finished cell must be scored on the same test documents in the same order."""
    reference = None
    for cell_id, record in results.records.items():
        if record.test is None:
            continue
        if reference is None:
            reference = (cell_id, record.test.titles)
        elif record.test.titles != reference[1]:
            raise DocrobustError(
                f"{results.path / 'cells' / cell_id / 'metrics.json'}: test.per_doc titles differ from cell "
                f"{reference[0]}'s; paired statistics need one test set per results folder")


def cell_scores(results: Results) -> pd.DataFrame:
    """One row per finished cell: metadata, METRICS, the F1 of each breakdown bucket and, where the cell has
    one, the dev-calibrated test F1 and its threshold offset."""
    done = results.done
    rows = []
    for cell_id in done["cell_id"]:
        record = results.records[cell_id]
        row = record.test.micro()
        for bucket in BUCKETS:
            row[f"f1_{bucket}"] = float(prf(record.test.buckets[bucket])["f1"])
        cal = record.calibrated
        row["f1_calibrated"], row["calibration_offset"] = (cal.test.micro()["f1"], cal.offset) if cal else (np.nan, np.nan)
        row["ap"] = record.ap if record.ap is not None and cell_id in results.rankings else np.nan
        row.update(zip(TRAINING, record.training_epochs() or (np.nan,) * 3))
        rows.append(row)
    scores = pd.DataFrame(rows, index=done.index, columns=[*METRICS, *BUCKET_METRICS, *CALIBRATED, "ap", *TRAINING])
    return pd.concat([done[["cell_id", *CELL, "achieved_rate", "seed"]], scores], axis=1).reset_index(drop=True)


def report_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable report order: models and losses as first seen, clean first, then families as seen, rate up."""
    keys = {}
    for column in ("model", "loss", "noise_family"):
        seen = list(dict.fromkeys(frame[column]))
        if column == "noise_family" and CLEAN in seen:
            seen.remove(CLEAN)
            seen.insert(0, CLEAN)
        keys[column] = frame[column].map({name: i for i, name in enumerate(seen)})
    ordered = frame.assign(**{f"_{k}": v for k, v in keys.items()})
    ordered = ordered.sort_values(["_noise_family", "rate", "noise", "_model", "_loss"], kind="stable")
    return ordered.drop(columns=[f"_{k}" for k in keys]).reset_index(drop=True)


def summarize(scores: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per model × loss × noise cell over seeds: n_seeds, and <metric>_{mean, std, ci} for each metric.

    std is the sample standard deviation (ddof = 1, NaN with one seed); ci is the half-width
    of the Student-t confidence interval of the mean.
    """
    metrics = [*METRICS, *BUCKET_METRICS, "f1_calibrated", "ap"]
    grouped = scores.groupby(CELL, sort=False, dropna=False)
    summary = grouped.agg(n_seeds=("seed", "size"), achieved_rate=("achieved_rate", "mean"))
    means, stds = grouped[metrics].mean(), grouped[metrics].std(ddof=1)
    for metric in metrics:
        summary[f"{metric}_mean"] = means[metric]
        summary[f"{metric}_std"] = stds[metric]
        summary[f"{metric}_ci"] = t_halfwidth(stds[metric].to_numpy(), summary["n_seeds"].to_numpy(), confidence)
    return report_order(summary.reset_index())
