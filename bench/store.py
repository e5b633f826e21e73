"""The results folder: the contract between the runner and the reporter.

    RESULTS/
      bench.json                  the resolved benchmark config
      results.csv (+ .parquet)    one row per finished cell, rebuilt from the cell folders, written atomically
      cells/<cell_id>/            cell.json, metrics.json (done cells), result.json, train_log.jsonl,
                                  config.json, manifest.json
      noisy/<key>.json            cached noisy training sets (+ <key>.manifest.json)
      .cache/file_hashes.json     sha256 of input files keyed by (path, size, mtime)

A cell folder appears in one rename: it is built under `cells/.tmp-<cell_id>-<random>` and renamed into
place, so a reader (a later run, the report) sees a complete cell or none. Names starting with '.' are
never read as results; `clean()` removes what a killed run left behind.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

from docrobust.corpus import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json, sha256_file

COLUMNS = ("cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status",
           "precision", "recall", "f1", "ign_f1", "train_seconds", "config_hash", "error")
SCORES = ("precision", "recall", "f1", "ign_f1")
CELL_FILES = ("metrics.json", "result.json", "train_log.jsonl", "config.json", "manifest.json")
TEMP_PREFIXES = (".tmp-", ".old-")


class ResultsStore:
    """Reads and writes one results folder; every write is atomic."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.noisy_dir = self.root / "noisy"

    # ------------------------------------------------------------ cells

    def cell_ids(self) -> list[str]:
        """Finished cell folders (temporary ones excluded), sorted."""
        if not self.cells_dir.is_dir():
            return []
        return sorted(p.name for p in self.cells_dir.iterdir() if not p.name.startswith(".") and p.is_dir())

    def read_cell(self, cell_id: str) -> dict | None:
        """cell.json of a finished cell, or None when there is none (a folder without it is not a result)."""
        try:
            with open(self.cells_dir / cell_id / "cell.json", "rb") as f:
                return json.loads(f.read())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None

    def read_metrics(self, cell_id: str) -> dict | None:
        path = self.cells_dir / cell_id / "metrics.json"
        return read_json(path) if path.is_file() else None

    def write_cell(self, record: dict, files: dict[str, str]) -> None:
        """Persist one cell: build `cells/.tmp-*`, then rename it to `cells/<cell_id>` (replacing an older one).

        Replacing takes two renames (old away, new in); a kill between them leaves the cell pending, never
        half-written.
        """
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        cell_id = record["cell_id"]
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{cell_id}-", dir=self.cells_dir))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; results are for sharing
            for name, text in files.items():
                (tmp / name).write_text(text, encoding="utf-8")
            (tmp / "cell.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            _fsync_dir_files(tmp)
            target = self.cells_dir / cell_id
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".old-{cell_id}-", dir=self.cells_dir))
                os.replace(target, old / cell_id)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def clean(self) -> int:
        """Remove temporary folders and files a killed run left behind; return how many."""
        removed = 0
        for folder in (self.cells_dir, self.noisy_dir, self.root):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                stale = p.name.startswith(TEMP_PREFIXES) or (p.name.startswith(".") and p.name.endswith(".tmp"))
                if stale:
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                    removed += 1
        return removed

    # ------------------------------------------------------------ the results table

    def row(self, cell: dict) -> dict[str, Any]:
        """One results.csv row from a cell.json (scores from its metrics.json's test split)."""
        row = {k: cell.get(k) for k in COLUMNS if k not in SCORES}
        row["train_seconds"] = (cell.get("timing") or {}).get("train_seconds")
        row["error"] = cell.get("error") or ""
        test = ((self.read_metrics(cell["cell_id"]) or {}).get("test") or {}) if cell.get("status") == "done" else {}
        row.update({k: test.get(k) for k in SCORES})
        return row

    def rows(self) -> dict[str, dict]:
        """Every finished cell's row, rebuilt from the cell folders."""
        rows = {}
        for cell_id in self.cell_ids():
            cell = self.read_cell(cell_id)
            if cell is not None:
                rows[cell_id] = self.row(cell)
        return rows

    def write_table(self, rows: Iterable[dict], parquet: bool = False) -> None:
        """results.csv (and results.parquet when asked and pyarrow is installed), atomically, sorted by cell_id."""
        rows = sorted(rows, key=lambda r: r["cell_id"])
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
        types = {k: pa.float64() for k in ("rate", "achieved_rate", "train_seconds") + SCORES} | {"seed": pa.int64()}
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
        return read_json(path) if path.is_file() else None

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
