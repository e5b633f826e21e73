"""The results folder: the one contract between the runner, which writes it, and the reporter, which reads it.

    RESULTS/
      bench.json                the resolved benchmark config, as the runner resolved it
      plan.json                 the matrix: one {cell_id, config_hash, model, loss, noise, seed} per cell, in run order
      results.csv (+ .parquet)  one row per finished cell of the plan (COLUMNS), written from records in memory
      cells/<cell_id>/          cell.json (a CellRecord's metadata), metrics.json (done cells: the trainer's scores
                                with per-document counts), result.json, train_log.jsonl, config.json, manifest.json,
                                ranking.npz (the test triples the model scored best: its threshold-free score),
                                checkpoint.pt (with save_checkpoint: the best state, models/checkpoint.py)
      noisy/<key>.json          cached noisy training sets (+ <key>.manifest.json)
      .cache/                   input-file hashes (FileHashCache), tokenized features

Both sides go through this module only: the runner builds a CellRecord (defined in records.py, re-exported
here) and calls `ResultsStore.write_cell`, the reporter calls `ResultsStore.states` and reads CellRecords, and
test fixtures (tests/synthetic.py) are written by the same `write_cell`. A record is parsed by one function
(`CellRecord.__post_init__`), whether it was just built or read back, so what is written is what can be read.

A cell is done only when cell.json says so and both cell.json and metrics.json parse into a CellRecord;
a folder whose files are missing, corrupt or of another format is no result: its cell is pending and runs
again. A cell folder appears in one rename (built beside it as `cells/.<cell_id>.<pid>.<random>.tmp`), so a reader sees
a complete cell or none; names starting with '.' are never read as results, and `clean()` removes what a
killed run left behind.

Only numpy is imported (no pandas, no plotting): the runner imports this module on every command.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, atomic_write_text, dumps_json,
                            folder_built_beside, read_json, sha256_file)

from .records import COLUMNS, FORMAT, SCORES, Calibrated, CellRecord, CellState, PlannedCell, Scores

CELL_FILES = ("metrics.json", "result.json", "train_log.jsonl", "config.json", "manifest.json", "ranking.npz",
              "checkpoint.pt")  # the last only with save_checkpoint
PLAN_FIELDS = ("cell_id", "config_hash", "model", "loss", "noise", "seed")


def safe_name(text: str) -> str:
    """`text` as a readable, file-name safe name (letters, digits, '.', '_', '-'): `fn-uniform:0.4` -> `fn-uniform-0.4`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def cell_id_for(model: str, loss: str, noise: str, seed: int) -> str:
    """The folder name of a cell, `atlop__cmm__fn-uniform-0.4__s0` (safe_name of each coordinate). The runner makes
    two coordinates that sanitize alike unique with a hash suffix."""
    return "__".join(safe_name(p) for p in (model, loss, noise)) + f"__s{seed}"


# ---------------------------------------------------------------- the folder

class ResultsStore:
    """Reads and writes one results folder; every write is atomic."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.noisy_dir = self.root / "noisy"

    # ------------------------------------------------------------ cells

    def cell_ids(self) -> list[str]:
        """Cell folders (temporary ones excluded), sorted."""
        if not self.cells_dir.is_dir():
            return []
        return sorted(p.name for p in self.cells_dir.iterdir() if not p.name.startswith(".") and p.is_dir())

    def read_cell(self, cell_id: str) -> CellRecord | None:
        """The cell's record; None when it has no cell.json; DocrobustError naming the file when it does not parse."""
        folder = self.cells_dir / cell_id
        if not (folder / "cell.json").is_file():
            return None
        meta = self._read(folder / "cell.json")
        metrics_path = folder / "metrics.json"
        metrics = self._read(metrics_path) if isinstance(meta, dict) and meta.get("status") == "done" else None
        try:
            return CellRecord.from_json(meta, metrics)
        except DocrobustError as e:
            raise DocrobustError(f"{folder}: {e}") from None

    @staticmethod
    def _read(path: Path) -> Any:
        """read_json, with an unreadable file (permissions, I/O) also a one-line DocrobustError naming it."""
        try:
            return read_json(path)
        except OSError as e:
            raise DocrobustError(f"{path}: {e.strerror or e}") from None

    def write_cell(self, record: CellRecord, files: Mapping[str, str | bytes] = {}) -> None:
        """Persist one cell: cell.json, metrics.json (done cells) and `files` (name -> text or bytes) built beside
        `cells/<cell_id>`, flushed, then renamed into place (docrobust.base.folder_built_beside: replacing an older
        one takes two renames, and a kill between them leaves the cell pending, never half-written)."""
        contents = {**files, "cell.json": dumps_json(record.to_json(), indent=1) + "\n"}
        if record.metrics is not None:
            contents["metrics.json"] = dumps_json(record.metrics, indent=1) + "\n"
        with folder_built_beside(self.cells_dir / record.cell_id) as work:
            for name, data in contents.items():
                (work / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
            _fsync_dir_files(work)

    def read_ranking(self, cell_id: str, n_docs: int) -> dict[str, np.ndarray]:
        """A done cell's ranking.npz (models/train.py `ranking`): score, doc and relevant arrays of one length, in
        rank order, doc indices into the cell's n_docs test documents; DocrobustError naming the file otherwise."""
        path = self.cells_dir / cell_id / "ranking.npz"
        try:
            with np.load(path) as npz:
                arrays = {k: npz[k] for k in ("score", "doc", "relevant")}
        except (OSError, KeyError, ValueError, EOFError) as e:
            raise DocrobustError(f"{path}: not a readable ranking ({e})") from None
        n = len(arrays["score"])
        if any(a.ndim != 1 or len(a) != n for a in arrays.values()) or arrays["doc"].dtype.kind not in "iu" \
                or (n and not 0 <= arrays["doc"].min() <= arrays["doc"].max() < n_docs) \
                or np.any(np.diff(arrays["score"]) > 0):
            raise DocrobustError(f"{path}: score, doc and relevant must be arrays of one length, in rank order, "
                              f"with doc indices below {n_docs}")
        return arrays

    def states(self, plan: Iterable[PlannedCell]) -> dict[str, CellState]:
        """cell_id -> CellState for every planned cell, each folder read once."""
        out = {}
        for cell in plan:
            try:
                record = self.read_cell(cell.cell_id)
            except DocrobustError as e:
                out[cell.cell_id] = CellState("pending", problem=str(e))
                continue
            if record is None:
                out[cell.cell_id] = CellState("pending")
            elif record.config_hash != cell.config_hash:
                out[cell.cell_id] = CellState("stale", record)
            else:
                out[cell.cell_id] = CellState(record.status, record)
        return out

    def clean(self) -> int:
        """Remove temporary folders and files a killed run left behind; return how many."""
        removed = 0
        for folder in (self.cells_dir, self.noisy_dir, self.root):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):  # folder_built_beside's, atomic writes'

                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                    removed += 1
        return removed

    # ------------------------------------------------------------ the plan and the results table

    def write_plan(self, cells: Iterable[Any]) -> None:
        """plan.json from the matrix's cells (any objects with the PLAN_FIELDS attributes), in run order."""
        atomic_write_json(self.root / "plan.json",
                          {"format": FORMAT, "cells": [{k: getattr(c, k) for k in PLAN_FIELDS} for c in cells]})

    def read_plan(self) -> list[PlannedCell]:
        path = self.root / "plan.json"
        if not path.is_file():
            raise DocrobustError(f"{self.root}: no plan.json; point at a results folder written by `docrobust bench run`")
        plan = self._read(path)
        try:
            return [PlannedCell(**{k: c[k] for k in PLAN_FIELDS}) for c in plan["cells"]]
        except (TypeError, KeyError) as e:
            raise DocrobustError(f"{path}: every cell needs {', '.join(PLAN_FIELDS)} ({e})") from None

    def write_table(self, records: Iterable[CellRecord], parquet: bool = False) -> None:
        """results.csv (and results.parquet when asked and pyarrow is installed), atomically, sorted by cell_id."""
        rows = [r.row() for r in sorted(records, key=lambda r: r.cell_id)]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in COLUMNS} for r in rows)
        atomic_write_text(self.root / "results.csv", buf.getvalue())
        if parquet:
            self._write_parquet(rows)

    def _write_parquet(self, rows: list[dict]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:  # optional extra: csv alone is the contract
            return
        floats = ("rate", "achieved_rate", "train_seconds", "calibrated_f1", *SCORES)
        types = {k: pa.float64() for k in floats} | {"seed": pa.int64()}
        table = pa.Table.from_pylist([{k: r.get(k) for k in COLUMNS} for r in rows],
                                     schema=pa.schema([(k, types.get(k, pa.string())) for k in COLUMNS]))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(self.root / "results.parquet", sink.getvalue().to_pybytes())

    # ------------------------------------------------------------ config and caches

    def write_bench_json(self, config: dict) -> None:
        atomic_write_json(self.root / "bench.json", config)

    def read_bench_json(self) -> dict | None:
        path = self.root / "bench.json"
        return self._read(path) if path.is_file() else None

    def records(self) -> list[Path]:
        """The folder's records, which `docrobust report` reads and no other output may replace (report.html and
        report.pdf beside them are outputs, rewritten by each run)."""
        return [self.root / name for name in ("bench.json", "plan.json", "results.csv", "results.parquet", ".cache")
                ] + [self.cells_dir, self.noisy_dir]

    def noisy_paths(self, key: str) -> tuple[Path, Path]:
        """Where the noisy training set with cache key `key` and its manifest live."""
        return self.noisy_dir / f"{key}.json", self.noisy_dir / f"{key}.manifest.json"


def _fsync_dir_files(folder: Path) -> None:
    """Flush a freshly written folder's files before the rename publishes them (a crash must not publish zeros)."""
    for p in folder.iterdir():
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FileHashCache:
    """sha256 of files, remembered by (resolved path, size, mtime_ns) in a JSON file: each file is hashed once."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.entries: dict[str, list] = read_json(self.path) if self.path.is_file() else {}
        except Exception:  # a damaged cache is only a cache
            self.entries = {}
        self.dirty = False

    def __call__(self, file: str | os.PathLike) -> str:
        file = Path(file).resolve()
        st = file.stat()
        key, stamp = str(file), [st.st_size, st.st_mtime_ns]
        entry = self.entries.get(key)
        if entry and entry[:2] == stamp:
            return entry[2]
        digest = sha256_file(file)
        self.entries[key] = stamp + [digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            atomic_write_json(self.path, self.entries, indent=None)
            self.dirty = False


__all__ = ["CELL_FILES", "COLUMNS", "FORMAT", "Calibrated", "CellRecord", "CellState", "FileHashCache", "PlannedCell",
           "ResultsStore", "Scores", "cell_id_for"]
