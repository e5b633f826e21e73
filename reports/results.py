"""The results folder: the one contract between the runner, which writes it, and the reporter, which reads it.

    RESULTS/
      bench.json                the resolved benchmark config, as the runner resolved it
      plan.json                 the matrix: one {cell_id, config_hash, model, loss, noise, seed} per cell, in run order
      results.csv (+ .parquet)  one row per finished cell of the plan (COLUMNS), written from records in memory
      cells/<cell_id>/          cell.json (a CellRecord's metadata), metrics.json (done cells: the trainer's scores
                                with per-document counts), result.json, train_log.jsonl, config.json, manifest.json,
                                ranking.npz (the test triples the model scored best: its threshold-free score)
      noisy/<key>.json          cached noisy training sets (+ <key>.manifest.json)
      .cache/                   input-file hashes (FileHashCache), tokenized features

Both sides go through this module only: the runner builds a CellRecord and calls `ResultsStore.write_cell`,
the reporter calls `ResultsStore.states` and reads CellRecords, and test fixtures (reports/synthetic.py) are
written by the same `write_cell`. A record is parsed by one function (`CellRecord.__post_init__`), whether
it was just built or read back, so what is written is what can be read.

A cell is done only when cell.json says so and both cell.json and metrics.json parse into a CellRecord;
a folder whose files are missing, corrupt or of another format is no result: its cell is pending and runs
again. A cell folder appears in one rename (built under `cells/.tmp-<cell_id>-<random>`), so a reader sees
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
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, atomic_write_text, dumps_json,
                            read_json, sha256_file)
from docrobust.corpus.score import BUCKETS, COUNT_FIELDS, prf

FORMAT = 1  # cell.json "format"; a cell of another format is read as no result (pending)
STATUSES = ("done", "failed")  # what a finished cell can be; "pending" and "stale" are states of the plan
SCORES = ("precision", "recall", "f1", "ign_f1")
COLUMNS = ("cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status",
           *SCORES, "calibrated_f1", "train_seconds", "config_hash", "error")
CELL_FILES = ("metrics.json", "result.json", "train_log.jsonl", "config.json", "manifest.json", "ranking.npz")
PLAN_FIELDS = ("cell_id", "config_hash", "model", "loss", "noise", "seed")
TEMP_PREFIXES = (".tmp-", ".old-")


def cell_id_for(model: str, loss: str, noise: str, seed: int) -> str:
    """The folder name of a cell, `atlop__cmm__fn-uniform-0.4__s0`: readable, file-name safe (letters, digits,
    '.', '_', '-'). The runner makes two coordinates that sanitize alike unique with a hash suffix."""
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", p).strip("-") or "x" for p in (model, loss, noise)) + f"__s{seed}"


# ---------------------------------------------------------------- the typed record

@dataclass(frozen=True, eq=False)
class Scores:
    """One split of one cell, as the counts every reported number is computed from.

    docs: (D, 4) per-document COUNT_FIELDS = [tp, n_pred, n_gold, tp_in_train], rows in `titles` order.
    unknown: predictions whose title is not a gold document; they count in n_pred only (official scorer).
    buckets: BUCKETS name -> (4,) summed [tp, n_pred, n_gold, 0] of the scorer's breakdown.
    """

    titles: tuple[str, ...]
    docs: np.ndarray
    unknown: int
    buckets: dict[str, np.ndarray]

    def outside(self) -> np.ndarray:
        """(4,) counts outside any document: the unknown-title predictions, in n_pred."""
        return np.array([0.0, self.unknown, 0.0, 0.0])

    def total(self) -> np.ndarray:
        """(4,) micro counts over the whole split."""
        return self.docs.sum(axis=0) + self.outside()

    def micro(self) -> dict[str, float]:
        """precision, recall, f1, ign_precision, ign_f1 of the split (docrobust.corpus.score.prf)."""
        return {k: float(v) for k, v in prf(self.total()).items()}

    @classmethod
    def parse(cls, score: Any, where: str) -> "Scores":
        """From a score dict as docrobust.corpus.score.score writes it; `where` names it in errors."""
        per_doc = _get(score, "per_doc", where)
        titles = _get(per_doc, "title", f"{where}.per_doc")
        if not isinstance(titles, list) or not set(map(type, titles)) <= {str}:
            raise DocrobustError(f"field '{where}.per_doc.title' must be a list of document titles")
        columns = [_counts(_get(per_doc, name, f"{where}.per_doc"), len(titles), f"{where}.per_doc.{name}")
                   for name in COUNT_FIELDS]
        docs = np.stack(columns, axis=1) if titles else np.zeros((0, 4))
        tp, n_pred, n_gold, in_train = docs.T
        if np.any(tp > np.minimum(n_pred, n_gold)) or np.any(in_train > tp):
            raise DocrobustError(f"field '{where}.per_doc': some document has tp > n_pred, tp > n_gold or "
                              f"tp_in_train > tp")
        unknown = _counts([_get(score, "n_pred_unknown_title", where)], 1, f"{where}.n_pred_unknown_title")[0]
        breakdown = _get(score, "breakdown", where)
        buckets = {name: np.array([*(_counts([_get(_get(breakdown, name, f"{where}.breakdown"), k,
                                                     f"{where}.breakdown.{name}")], 1,
                                             f"{where}.breakdown.{name}.{k}")[0] for k in ("tp", "n_pred", "n_gold")),
                                   0.0]) for name in BUCKETS}
        return cls(tuple(titles), docs, int(unknown), buckets)

    def to_json(self) -> dict:
        """The score dict layout of docrobust.corpus.score.score (per-relation breakdown left empty)."""
        total = self.total()
        return {**self.micro(), **{k: int(v) for k, v in zip(COUNT_FIELDS, total)},
                "n_pred_unknown_title": self.unknown,
                "per_doc": {"title": list(self.titles), **{k: self.docs[:, i].astype(int).tolist()
                                                           for i, k in enumerate(COUNT_FIELDS)}},
                "breakdown": {**{name: {k: int(v) for k, v in zip(("tp", "n_pred", "n_gold"), counts)}
                                 for name, counts in self.buckets.items()}, "per_relation": {}}}


@dataclass(frozen=True, eq=False)
class Calibrated:
    """Scores after a decision-threshold offset chosen on the dev split (metrics.json "calibrated")."""

    offset: float
    dev: Scores
    test: Scores


@dataclass(frozen=True, eq=False)
class CellRecord:
    """One finished cell of a matrix: what it is, how it ran, and (done cells) its scores.

    cell.json holds the metadata fields; metrics.json holds `metrics`, the trainer's dict, of which the record
    reads "test" and "dev" (score dicts with per-document counts) and the optional "calibrated"
    ({"offset": float, "dev": score dict, "test": score dict}). Every record is checked on construction: a
    done cell must carry a test score, a failed one an error.
    """

    cell_id: str
    model: str
    loss: str
    noise: str                          # the normalized noise spec, "clean" for none
    noise_family: str                   # the spec's model name(s), "clean" for none
    rate: float                         # nominal total noise rate of the spec
    seed: int
    status: str                         # "done" | "failed"
    config_hash: str                    # hash of the cell's resolved config: a different one makes it stale
    achieved_rate: float | None = None  # the noise manifest's achieved rate
    config: dict = field(default_factory=dict)
    train_seconds: float | None = None
    total_seconds: float | None = None
    versions: dict = field(default_factory=dict)     # package -> version
    data_hashes: dict = field(default_factory=dict)  # "train" | "dev" | "test" | "noisy_train" -> sha256
    error: str | None = None
    traceback: str | None = None
    worker: str | None = None
    started: float | None = None
    finished: float | None = None
    metrics: dict | None = field(default=None, repr=False)
    test: Scores | None = field(init=False, repr=False)
    dev: Scores | None = field(init=False, repr=False)
    calibrated: Calibrated | None = field(init=False, repr=False)
    ap: float | None = field(init=False, repr=False)  # threshold-free test score (metrics.json "ranking.ap")

    def __post_init__(self) -> None:
        for name in ("cell_id", "model", "loss", "noise", "noise_family", "config_hash"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise DocrobustError(f"field '{name}' must be a non-empty string")
        if self.status not in STATUSES:
            raise DocrobustError(f"field 'status' must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not _is_number(self.rate) or not (self.achieved_rate is None or _is_number(self.achieved_rate)):
            raise DocrobustError("fields 'rate' and 'achieved_rate' must be numbers")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise DocrobustError(f"field 'seed' must be an integer, got {self.seed!r}")
        test = dev = calibrated = ap = None
        if self.status == "done":
            if not isinstance(self.metrics, dict):
                raise DocrobustError("a done cell needs its metrics.json")
            test = Scores.parse(_get(self.metrics, "test", "metrics.json"), "test")
            dev = Scores.parse(self.metrics["dev"], "dev") if self.metrics.get("dev") else None
            if self.metrics.get("calibrated") is not None:
                cal = self.metrics["calibrated"]
                offset = _get(cal, "offset", "calibrated")
                if not _is_number(offset):
                    raise DocrobustError("field 'calibrated.offset' must be a number")
                calibrated = Calibrated(float(offset), Scores.parse(_get(cal, "dev", "calibrated"), "calibrated.dev"),
                                        Scores.parse(_get(cal, "test", "calibrated"), "calibrated.test"))
            if self.metrics.get("ranking") is not None:
                ap = _get(self.metrics["ranking"], "ap", "ranking")
                if not _is_number(ap) or not 0 <= ap <= 1:
                    raise DocrobustError("field 'ranking.ap' must be a number in [0, 1]")
        elif not self.error:
            raise DocrobustError("a failed cell needs its error")
        object.__setattr__(self, "ap", None if ap is None else float(ap))
        object.__setattr__(self, "test", test)
        object.__setattr__(self, "dev", dev)
        object.__setattr__(self, "calibrated", calibrated)

    def training_epochs(self) -> tuple[int, int, int] | None:
        """(best epoch, epochs run, epoch budget) of a done cell trained by epochs, else None: what tells a run whose
        dev F1 was still rising when its budget ended (best epoch among the last ones, no early stop)."""
        budget = (self.config.get("training") or {}).get("epochs") if isinstance(self.config, dict) else None
        epochs, best = (self.metrics or {}).get("epochs"), (self.metrics or {}).get("best_epoch")
        if not (isinstance(epochs, list) and epochs and all(isinstance(v, int) for v in (best, budget))):
            return None
        return best, len(epochs), budget

    def to_json(self) -> dict:
        """cell.json: the metadata (metrics.json is written beside it)."""
        meta = {f.name: getattr(self, f.name) for f in fields(self)
                if f.init and f.name not in ("metrics", "train_seconds", "total_seconds")}
        return {"format": FORMAT, **meta, "timing": {"train_seconds": self.train_seconds,
                                                     "total_seconds": self.total_seconds}}

    @classmethod
    def from_json(cls, meta: Any, metrics: Any) -> "CellRecord":
        """The record of a cell.json object and its metrics.json object (None for a failed cell)."""
        if not isinstance(meta, dict):
            raise DocrobustError("cell.json: expected a JSON object")
        if meta.get("format", FORMAT) != FORMAT:
            raise DocrobustError(f"cell.json: format {meta.get('format')!r}, this docrobust reads format {FORMAT}")
        timing = meta.get("timing") or {}
        known = {f.name for f in fields(cls) if f.init and f.name not in ("metrics", "train_seconds", "total_seconds")}
        given = {k: v for k, v in meta.items() if k in known}
        try:
            return cls(**given, train_seconds=timing.get("train_seconds"), total_seconds=timing.get("total_seconds"),
                       metrics=metrics)
        except TypeError as e:  # a required field missing
            raise DocrobustError(f"cell.json: {e}".replace("__init__() ", "")) from None

    def row(self) -> dict[str, Any]:
        """The results.csv row: metadata and test scores recomputed from the counts."""
        scores = self.test.micro() if self.test is not None else {}
        return {"cell_id": self.cell_id, "model": self.model, "loss": self.loss, "noise": self.noise,
                "noise_family": self.noise_family, "rate": self.rate, "achieved_rate": self.achieved_rate,
                "seed": self.seed, "status": self.status, **{k: scores.get(k) for k in SCORES},
                "calibrated_f1": self.calibrated.test.micro()["f1"] if self.calibrated else None,
                "train_seconds": self.train_seconds, "config_hash": self.config_hash, "error": self.error or ""}


@dataclass(frozen=True)
class PlannedCell:
    """One cell of plan.json: its coordinates and the config hash a current result must carry."""

    cell_id: str
    config_hash: str
    model: str
    loss: str
    noise: str
    seed: int


@dataclass(frozen=True)
class CellState:
    """A planned cell's state: done | failed (record current), stale (record of another config), pending.

    problem: why a folder that exists is not a result (missing or corrupt files), else None.
    """

    status: str
    record: CellRecord | None = None
    problem: str | None = None


def _get(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise DocrobustError(f"field '{where}' must be a JSON object")
    if key not in obj:
        raise DocrobustError(f"field '{where}.{key}' is missing")
    return obj[key]


def _counts(values: Any, n: int, where: str) -> np.ndarray:
    """A list of n non-negative integer counts as floats, or a DocrobustError naming the field.

    Checked by numpy (a list of JSON integers becomes an integer array; a float, string or null does not):
    `bench plan` checks every cell of a matrix this way.
    """
    array = np.asarray(values) if isinstance(values, list) else np.zeros(0, dtype=object)
    if array.shape != (n,) or (n and (array.dtype.kind not in "iu" or array.min() < 0)):
        raise DocrobustError(f"field '{where}' must be {n} non-negative integer counts")
    return array.astype(float)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
        """Persist one cell: cell.json, metrics.json (done cells) and `files` (name -> text or bytes) built in
        `cells/.tmp-*`, then renamed to `cells/<cell_id>` (replacing an older one).

        Replacing takes two renames (old away, new in); a kill between them leaves the cell pending, never
        half-written.
        """
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        cell_id = record.cell_id
        contents = {**files, "cell.json": dumps_json(record.to_json(), indent=1) + "\n"}
        if record.metrics is not None:
            contents["metrics.json"] = dumps_json(record.metrics, indent=1) + "\n"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{cell_id}-", dir=self.cells_dir))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; results are for sharing
            for name, text in contents.items():
                if isinstance(text, bytes):
                    (tmp / name).write_bytes(text)
                else:
                    (tmp / name).write_text(text, encoding="utf-8")
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
                stale = p.name.startswith(TEMP_PREFIXES) or (p.name.startswith(".") and p.name.endswith(".tmp"))
                if stale:
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


__all__ = ["CELL_FILES", "COLUMNS", "Calibrated", "CellRecord", "CellState", "FileHashCache", "PlannedCell",
           "ResultsStore", "Scores", "cell_id_for"]
