"""Read a benchmark results folder into per-document count matrices.

The folder (written by `docrobust bench run`) holds `results.csv`, `bench.json` and
`cells/<cell_id>/{cell.json, metrics.json}`. `results.csv` is only an index and a
cache: every score in a report is recomputed from the per-document counts in
`metrics.json`, and cached scores that disagree are reported as warnings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from docrobust.corpus import CorpusError, read_json
from docrobust.reports.stats import COUNT_FIELDS, prf

BUCKETS = ("intra", "inter", "frequent", "long_tail")
META_FIELDS = ("cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status")
CSV_SCORES = ("precision", "recall", "f1", "ign_f1")


@dataclass
class CellCounts:
    """Test-set counts of one finished cell.

    docs: (D, 4) per-document [tp, n_pred, n_gold, tp_in_train], rows in `titles` order.
    unknown: (4,) predictions whose title is not a test document; they only add to n_pred
        (the official scorer counts them in the precision denominator).
    buckets: bucket name -> (4,) summed counts from the score breakdown (tp_in_train = 0).
    """

    titles: tuple[str, ...]
    docs: np.ndarray
    unknown: np.ndarray
    buckets: dict[str, np.ndarray]

    def total(self) -> np.ndarray:
        """(4,) micro counts over the whole test set."""
        return self.docs.sum(axis=0) + self.unknown


@dataclass
class Results:
    """A loaded results folder: one metadata row per cell plus counts for the finished ones."""

    path: Path
    config: dict
    cells: pd.DataFrame  # one row per cell; META_FIELDS + error, config_hash, train_seconds
    counts: dict[str, CellCounts]
    versions: dict[str, dict]  # cell_id -> versions
    data_hashes: dict[str, dict]  # cell_id -> data hashes
    warnings: list[str] = field(default_factory=list)

    @property
    def done(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "done"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] != "done"]


def _field(obj: dict, dotted: str, path: Path) -> object:
    """obj['a']['b'] for dotted='a.b', or a CorpusError naming the file and the field."""
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            raise CorpusError(f"{path}: field '{dotted}' is missing")
        obj = obj[key]
    return obj


def _counts(metrics: dict, split: str, path: Path) -> CellCounts:
    """CellCounts of metrics[split], a SCORE dict (docrobust.corpus.score.score output)."""
    score = _field(metrics, split, path)
    titles = tuple(_field(metrics, f"{split}.per_doc.title", path))
    columns = []
    for name in COUNT_FIELDS:
        column = np.asarray(_field(metrics, f"{split}.per_doc.{name}", path), dtype=float)
        if column.shape != (len(titles),) or not np.all(column >= 0):
            raise CorpusError(f"{path}: field '{split}.per_doc.{name}' must be {len(titles)} non-negative counts")
        columns.append(column)
    docs = np.stack(columns, axis=1)  # (D, 4)
    unknown = np.array([0.0, float(score.get("n_pred_unknown_title", 0)), 0.0, 0.0])
    buckets = {}
    for name in BUCKETS:  # optional: figures skip buckets no cell reports
        if name in score.get("breakdown", {}):
            where = f"{split}.breakdown.{name}"
            buckets[name] = np.array([*(float(_field(metrics, f"{where}.{k}", path)) for k in ("tp", "n_pred", "n_gold")), 0.0])
    return CellCounts(titles, docs, unknown, buckets)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype={"cell_id": str, "error": str}, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise CorpusError(f"{path}: no results.csv; point `docrobust report` at a folder written by `docrobust bench run`") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CorpusError(f"{path}: unreadable CSV ({err})") from None
    missing = [c for c in ("cell_id", "status") if c not in table.columns]
    if missing:
        raise CorpusError(f"{path}: column '{missing[0]}' is missing")
    return table


def load_results(results_dir: str | Path, split: str = "test") -> Results:
    """Load a results folder; `split` picks the SCORE in metrics.json ("test" or "dev")."""
    root = Path(results_dir)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a results folder (no such directory)")
    table = _read_csv(root / "results.csv")
    config_path = root / "bench.json"
    config = read_json(config_path) if config_path.exists() else {}

    rows, counts, versions, hashes, warnings = [], {}, {}, {}, []
    for csv_row in table.to_dict("records"):
        cell_id = str(csv_row["cell_id"])
        cell_path = root / "cells" / cell_id / "cell.json"
        cell = read_json(cell_path)
        if not isinstance(cell, dict):
            raise CorpusError(f"{cell_path}: expected a JSON object")
        row = {name: _field(cell, name, cell_path) for name in META_FIELDS}
        row["rate"], row["achieved_rate"] = float(row["rate"]), float(row["achieved_rate"] or 0.0)
        row["error"] = cell.get("error") or ""
        row["config_hash"] = cell.get("config_hash", "")
        row["train_seconds"] = float((cell.get("timing") or {}).get("train_seconds") or np.nan)
        versions[cell_id] = cell.get("versions") or {}
        hashes[cell_id] = cell.get("data_hashes") or {}
        if row["status"] == "done":
            metrics_path = root / "cells" / cell_id / "metrics.json"
            metrics = read_json(metrics_path)
            counts[cell_id] = _counts(metrics, split, metrics_path)
        rows.append(row)
        if row["status"] != csv_row["status"]:
            warnings.append(f"results.csv says cell {cell_id} is {csv_row['status']!r}, cell.json says {row['status']!r}")
    cells = pd.DataFrame(rows, columns=[*META_FIELDS, "error", "config_hash", "train_seconds"])
    results = Results(root, config, cells, counts, versions, hashes, warnings)
    _check_titles(results)
    if split == "test":  # the CSV caches test scores only
        warnings.extend(_stale_cache(results, table))
    return results


def _check_titles(results: Results) -> None:
    """Every finished cell must be scored on the same test documents in the same order."""
    reference = None
    for cell_id, cell in results.counts.items():
        if reference is None:
            reference = (cell_id, cell.titles)
        elif cell.titles != reference[1]:
            raise CorpusError(
                f"{results.path / 'cells' / cell_id / 'metrics.json'}: per_doc titles differ from cell "
                f"{reference[0]}'s; paired statistics need one test set per results folder"
            )


def _stale_cache(results: Results, table: pd.DataFrame) -> list[str]:
    """Warnings for results.csv scores that differ from the recomputation by more than 1e-6."""
    cached = table.set_index(table["cell_id"].astype(str))
    warnings = []
    for cell_id, cell in results.counts.items():
        scores = prf(cell.total())
        for name in CSV_SCORES:
            if name in cached.columns:
                value = pd.to_numeric(cached.at[cell_id, name], errors="coerce")
                if not np.isclose(value, scores[name], rtol=0, atol=1e-6):
                    warnings.append(
                        f"results.csv {name} of cell {cell_id} is {value:.6g}, metrics.json counts give {scores[name]:.6g}"
                    )
    return warnings
