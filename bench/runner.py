"""Run a benchmark matrix: build each noisy training set once, train and score every cell, persist as they finish.

    load_config ─> BenchConfig.cells() ─> statuses from RESULTS/cells ─> cells to run
    driver: inputs loaded once; per cell a Task (training config, noisy train docs, dev, test, ...)
    backend (registry): "local" (in-process for n_jobs = 1, else joblib loky processes) or "dask"
    worker: run_cell(task) trains in its own temporary folder; its Outcome holds the files' contents; never raises
    driver: each outcome written as one cell folder (atomic rename), results.csv rebuilt, progress updated

A run is resumable: cells whose cell.json exists with the current config hash are skipped (failed ones
too, unless retry_failed). Killing the driver at any moment loses at most the cells in flight: their loky
workers exit with it, and the next run removes their folders from RESULTS/.tmp. One run at a time writes
into a results folder (RESULTS/.lock).

Where cells run is bench/backends.py (loky processes, a Dask cluster); what a worker runs, bench/worker.py.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from docrobust import noise
from docrobust.base import DocrobustError, dumps_json, read_json, sha256_json
from docrobust.corpus import RelationInventory, facts_from_docs, load_docs, load_train_facts, validate_docs
from docrobust.corpus.pair_types import restrict_labels
from docrobust.corpus.score import frequent_relations
from docrobust.reports.results import CellRecord, FileHashCache, ResultsStore

from .backends import BACKENDS
from .config import BenchConfig, Cell
from .external import external_task
from .tasks import Outcome, Task, error_text

LOCK_FILE = ".lock"   # RESULTS/.lock: held by the run writing into the folder
TEMP_AREA = ".tmp"    # RESULTS/.tmp/: the folders of cells in flight, removed by the next run
ACHIEVED_RATE_KEY = "achieved_rate"  # the noise manifest's achieved total rate


# ---------------------------------------------------------------- planning

def default_results_dir(name: str, profile: str | None) -> Path:
    """results/<name>[-<profile>] under the current folder."""
    return Path("results") / (name + (f"-{profile}" if profile else ""))


def cell_statuses(store: ResultsStore, cells: list[Cell]) -> dict[str, str]:
    """cell_id -> "done" | "failed" | "pending" | "stale" (a result of another config: it will be rerun).

    A cell is done or failed only when its folder parses into a record of the results contract; a folder with
    missing or corrupt files is pending (see docrobust.reports.results), for `bench status`, `plan` and `run` alike.
    """
    return {cell_id: state.status for cell_id, state in store.states(cells).items()}


def hash_cache(store: ResultsStore) -> FileHashCache:
    return FileHashCache(store.root / ".cache" / "file_hashes.json")



# ---------------------------------------------------------------- the driver

@dataclass
class RunSummary:
    results_dir: Path
    statuses: dict[str, str]                 # every cell of the matrix after the run
    ran: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    overhead_seconds: float = 0.0            # driver time outside training: preparing tasks, persisting, tables
    report: Path | None = None               # report.html, once written
    report_error: str | None = None          # why the report could not be written
    encoded_docs: int = 0                    # documents this run passed through a frozen encoder (feature store)
    encoding_seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [c for c, s in self.statuses.items() if s == "failed"]

    @property
    def done(self) -> list[str]:
        return [c for c, s in self.statuses.items() if s == "done"]

    @property
    def ok(self) -> bool:
        return not self.failed and len(self.done) == len(self.statuses) and self.report_error is None


def run_bench(cfg: BenchConfig, results_dir: str | os.PathLike | None = None, *, retry_failed: bool = False,
              quiet: bool = False, n_jobs: int | None = None, report: bool = True,
              train_fn: Callable | None = None, log: Callable[[str], None] | None = None) -> RunSummary:
    """Run every cell of `cfg` that has no current result in `results_dir`; return the summary.

    `train_fn` replaces docrobust.models.train.train (same signature; must be importable by workers).
    `n_jobs` overrides execution.n_jobs. Failed cells are recorded, never raised. One run at a time holds
    the results folder (a second raises DocrobustError naming the first's pid).
    """
    root = Path(results_dir or default_results_dir(cfg.name, cfg.profile))
    root.mkdir(parents=True, exist_ok=True)
    with results_lock(root):
        shutil.rmtree(root / TEMP_AREA, ignore_errors=True)  # cells in flight when an earlier run was killed
        return _run_locked(cfg, root, retry_failed=retry_failed, quiet=quiet, n_jobs=n_jobs, report=report,
                           train_fn=train_fn, log=log)


@contextlib.contextmanager
def results_lock(root: Path) -> Iterator[None]:
    """Hold RESULTS/.lock exclusively (an fcntl lock, which the kernel releases when the process ends, even by
    kill -9), with the holder's pid written in it; refuse with DocrobustError while another process holds it."""
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DocrobustError(f"{root}: another `docrobust bench run` (pid {holder}) is running into this results "
                              "folder; wait for it to finish or give another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _run_locked(cfg: BenchConfig, root: Path, *, retry_failed: bool, quiet: bool, n_jobs: int | None, report: bool,
                train_fn: Callable | None, log: Callable[[str], None] | None) -> RunSummary:
    started = time.perf_counter()
    store = ResultsStore(root)
    store.clean()
    store.write_bench_json(cfg.to_json())
    cells = cfg.cells()
    store.write_plan(cells)
    states = store.states(cells)  # every cell folder read once; later results.csv tables come from memory
    statuses = {cell_id: state.status for cell_id, state in states.items()}
    todo = [c for c in cells if statuses[c.cell_id] in ("pending", "stale")
            or (retry_failed and statuses[c.cell_id] == "failed")]
    records = {c: s.record for c, s in states.items() if s.status in ("done", "failed")}
    summary = RunSummary(store.root, statuses)
    execution = {**cfg.execution, **({"n_jobs": n_jobs} if n_jobs else {})}
    backend = BACKENDS[execution["backend"]]
    say = log or (lambda line: tqdm.write(line, file=sys.stderr))
    if not quiet:
        say(f"{len(cells)} cells: {len(cells) - len(todo)} with results, {len(todo)} to run -> {store.root}")

    overhead = [time.perf_counter() - started]
    if todo:
        prep = _Preparer(cfg, store, execution, quiet=quiet, train_fn=train_fn)
        t0 = time.perf_counter()
        ours = [c for c in todo if c.model not in cfg.models]   # external models (cfg.models) have no features
        for cell in ours:  # frozen-encoder features, once for the whole matrix, before any cell starts
            try:
                prep.store_features(prep.training(cell))
            except Exception as e:  # each cell meets the error again and records it as its failure
                say(f"feature store: cannot encode ({error_text(e)})")
                break
        summary.encoded_docs, summary.encoding_seconds = prep.encoded_docs, time.perf_counter() - t0
        if summary.encoded_docs and not quiet:
            say(f"feature store: encoded {summary.encoded_docs} documents in {summary.encoding_seconds:.0f} s")
        bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=quiet, position=0, file=sys.stderr)

        def timed_tasks() -> Iterator[Task]:
            for cell in todo:
                t0 = time.perf_counter()
                task = prep.task(cell)
                if cell.model in cfg.models:
                    task = external_task(task, cfg.models[cell.model], cell)
                overhead.append(time.perf_counter() - t0)
                yield task

        for outcome in backend(timed_tasks(), execution):
            t0 = time.perf_counter()
            record = prep.persist(outcome)
            records[record.cell_id] = record
            store.write_table(records.values())
            statuses[record.cell_id] = record.status
            summary.ran.append(record.cell_id)
            overhead.append(time.perf_counter() - t0)
            bar.update(1)
            if not quiet:
                say(_cell_line(record, len(summary.ran), len(todo)))
        bar.close()
        prep.hashes.save()
    t0 = time.perf_counter()
    store.write_table(records.values(), parquet=True)
    overhead.append(time.perf_counter() - t0)
    summary.overhead_seconds = sum(overhead)
    if report:
        summary.report, summary.report_error = _write_report(store, say)
    summary.wall_seconds = time.perf_counter() - started
    return summary


def _cell_line(record: CellRecord, k: int, n: int) -> str:
    seconds = record.total_seconds or 0.0
    if record.status == "done":
        scores = record.test.micro()
        return f"[{k}/{n}] done   {record.cell_id}  f1={scores['f1']:.4f} ign_f1={scores['ign_f1']:.4f}  ({seconds:.1f} s)"
    return f"[{k}/{n}] FAILED {record.cell_id}: {record.error}"


def _write_report(store: ResultsStore, say: Callable[[str], None]) -> tuple[Path | None, str | None]:
    """report.html and report.pdf beside the results: (the HTML, None), or (None, why not). A failing reporter
    costs the report, not the results; the run then exits non-zero."""
    from docrobust.reports import write_report  # pandas and matplotlib (about 1 s): not at CLI start

    html, pdf = store.root / "report.html", store.root / "report.pdf"
    try:
        write_report(store.root, html, pdf)
    except Exception as e:  # the results are already safe on disk; say why
        error = str(e) if isinstance(e, DocrobustError) else f"{type(e).__name__}: {e}"
        say(f"report failed: {error}; rerun `docrobust report {store.root} --out {html} --pdf {pdf}` after fixing it")
        return None, error
    say(f"report: {html} and {pdf}")
    return html, None


class _Preparer:
    """Driver side: inputs loaded once, noisy training sets cached by content, outcomes persisted."""

    def __init__(self, cfg: BenchConfig, store: ResultsStore, execution: dict, *, quiet: bool,
                 train_fn: Callable | None):
        from docrobust.models.store import feature_store_root  # torch: the cells of a run load it anyway

        self.cfg, self.store, self.execution, self.train_fn = cfg, store, execution, train_fn
        self.hashes = hash_cache(store)
        self.in_flight: dict[str, dict] = {}
        self.runtime = _runtime_settings(cfg, execution, quiet)
        # tokenized features are cached on this machine's disk; dask workers may not share it
        self.cache_dir = str(store.root / ".cache" / "features") if execution["backend"] == "local" else None
        self.tmp_dir = str(store.root / TEMP_AREA) if execution["backend"] == "local" else None
        # frozen-encoder features: encoded here once for the whole matrix (local); dask workers fill their own store
        self.feature_store = str(feature_store_root()) if execution["backend"] == "local" else None
        self.encoded_docs = 0
        self._stored: set[str] = set()
        self._inputs: dict | None = None
        self._side: dict[str, Any] = {}
        self._noisy: dict[str, tuple[list[dict], dict, str]] = {}

    def inputs(self) -> dict:
        """Clean splits (sliced, each file read once), relations and Ign-F1 facts, loaded on first use."""
        if self._inputs is None:
            data, raw = self.cfg.data, {}
            for key in ("train", "dev", "test"):
                path = data[key]["path"]
                raw.setdefault(path, read_json(path))
            docs = {k: _split(raw[data[k]["path"]], data[k]["path"], data[k].get("range")) for k in ("train", "dev", "test")}
            # under a pair-type filter the noise sees only the training labels of the pairs it keeps
            docs["train"] = restrict_labels(docs["train"], data.get("pair_types", {}).get("pairs"))
            rel = data["relations"]
            relations = (RelationInventory.load(rel["path"]) if "path" in rel
                         else RelationInventory.from_docs(docs["train"] + docs["dev"] + docs["test"]))
            facts = (load_train_facts(data["train_facts"]["path"]) if "train_facts" in data
                     else facts_from_docs(docs["train"]))
            # the frequent/long-tail buckets come from the clean training labels, so they do not move with the noise
            self._inputs = {**docs, "relations": relations, "train_facts": facts,
                            "frequent": sorted(frequent_relations(docs["train"]))}
        return self._inputs

    def side_input(self, key: str) -> Any:
        """The low-quality labels (`low`, validated) or the noise profile, read once, only for specs that need them."""
        if key not in self._side:
            path = self.cfg.data[key]["path"]
            self._side[key] = load_docs(path) if key == "low" else read_json(path)
        return self._side[key]

    def noisy_train(self, spec: str, seed: int) -> tuple[list[dict], dict, str]:
        """(noisy docs, manifest, sha256 of the cached file) for (train content, spec, seed), built once."""
        data = self.cfg.data
        files = self.cfg.noise_files.get(spec)
        key = sha256_json({"train": data["train"]["sha256"], "range": data["train"].get("range"), "spec": spec,
                           "seed": seed, "low": data.get("low", {}).get("sha256"),
                           "profile": data.get("profile", {}).get("sha256"), **({"files": files} if files else {}),
                           **({"pair_types": data["pair_types"]} if "pair_types" in data else {})})[:24]
        if key in self._noisy:
            return self._noisy[key]
        docs_path, _ = self.store.noisy_paths(key)
        cached = noise.read_noisy(docs_path)  # None when absent, or when a kill left new docs beside an old manifest
        if cached is not None and files and cached[1].get("spec_files") != files:
            cached = None  # built from other contents of the files the spec names (changed since check): rebuild
        if cached is None:
            docs, manifest = noise.apply_noise(
                self.inputs()["train"], spec, seed, low_docs=self.side_input("low") if noise.needs_low_docs(spec) else None,
                profile=self.side_input("profile") if noise.needs_profile(spec) else None,
                source_sha256=None if "range" in data["train"] or "pair_types" in data else data["train"]["sha256"],
                pair_types=data.get("pair_types", {}).get("pairs"))
            manifest = noise.write_noisy(docs, manifest, docs_path)
        else:
            docs, manifest = cached
        self._noisy = {key: (docs, manifest, manifest["output_sha256"])}  # keep one set: cells come grouped by it
        return self._noisy[key]

    def task(self, cell: Cell) -> Task:
        """The worker's input for one cell; a cell whose inputs cannot be built becomes a failed task."""
        meta = {"cell": cell, "noise_manifest": None, "noisy_sha256": None}
        self.in_flight[cell.cell_id] = meta
        try:
            inputs = self.inputs()
            docs, manifest, noisy_sha = self.noisy_train(cell.noise, cell.seed)
            meta.update(noise_manifest=manifest, noisy_sha256=noisy_sha)
            training = self.training(cell)
            return Task(cell.cell_id, training, docs, inputs["dev"], inputs["test"], inputs["relations"],
                        inputs["train_facts"], inputs["frequent"], train_fn=self.train_fn, cache_dir=self.cache_dir,
                        tmp_dir=self.tmp_dir, feature_store=self.feature_store,
                        gpus=self.execution["gpus_per_run"], plugins=list(cell.config.get("plugins", {})))
        except Exception as e:
            return Task.failed(cell.cell_id, e)

    def training(self, cell: Cell) -> dict:
        """The cell's TrainConfig values: its matrix coordinates over [training], with this machine's runtime settings."""
        training = {**cell.config["training"], **self.runtime, "model": cell.model, "loss": cell.loss,
                    "seed": cell.seed, "loss_options": cell.config["loss_options"],
                    "model_options": cell.config["model_options"]}
        if self.cfg.encoder is not None:
            training["encoder"] = self.cfg.encoder
        return training

    def store_features(self, training: dict) -> None:
        """Encode the clean splits into the feature store before the first frozen-encoder cell of each model
        set-up, so that cells (and noisy training sets, which share the clean documents' text) only read it."""
        if not training.get("freeze_encoder") or self.feature_store is None or self.train_fn is not None:
            return
        from docrobust.models.store import FeatureStore, feature_spec  # torch: only when a run encodes
        from docrobust.models.train import TrainConfig, store_features

        spec = feature_spec(training)
        if spec not in self._stored:
            inputs = self.inputs()
            splits = [inputs["train"], inputs["dev"], inputs["test"]]
            self.encoded_docs += store_features(TrainConfig.from_dict({**training, "progress": False}), splits,
                                                inputs["relations"], cache_dir=self.cache_dir,
                                                feature_store=self.feature_store)
            FeatureStore(self.feature_store).add_to_index(spec, [d for docs in splits for d in docs])
            self._stored.add(spec)

    def persist(self, outcome: Outcome) -> CellRecord:
        """Write one outcome as cells/<cell_id> through the results contract and return its record.

        A done outcome whose metrics.json does not parse into the contract's record is recorded as failed,
        naming the field, rather than published as a result nobody can read.
        """
        meta = self.in_flight.pop(outcome.cell_id)
        cell: Cell = meta["cell"]
        manifest = meta["noise_manifest"]
        family, rate = noise.describe_spec(cell.noise)
        data = self.cfg.data
        files = dict(outcome.files)
        metrics_text = files.pop("metrics.json", None)
        if manifest is not None:
            files["manifest.json"] = dumps_json(manifest, indent=1) + "\n"

        def record(status: str, metrics: Any, error: str | None, trace: str | None) -> CellRecord:
            return CellRecord(
                cell.cell_id, cell.model, cell.loss, cell.noise, family, float(rate), cell.seed, status,
                cell.config_hash, achieved_rate=(manifest or {}).get(ACHIEVED_RATE_KEY), config=cell.config,
                train_seconds=outcome.train_seconds, total_seconds=outcome.total_seconds,
                versions=outcome.versions or {},
                data_hashes={"train": data["train"]["sha256"], "dev": data["dev"]["sha256"],
                             "test": data["test"]["sha256"], "noisy_train": meta["noisy_sha256"]},
                error=error, traceback=trace, worker=outcome.worker, started=outcome.started,
                finished=outcome.finished, metrics=metrics)

        if outcome.status == "done":
            try:
                result = record("done", json.loads(metrics_text or "null"), None, None)
            except (DocrobustError, ValueError) as e:
                result = record("failed", None, f"the trainer's metrics.json breaks the results contract: {e}", None)
        else:
            result = record("failed", None, outcome.error or "failed without an error message", outcome.traceback)
        self.store.write_cell(result, files)
        return result


def documents_to_encode(cfg: BenchConfig) -> tuple[int, int] | None:
    """(documents still to encode, documents) for a frozen-encoder benchmark, summed over its models; None when the
    encoder is fine-tuned or a data file is missing. Read from the feature store's index, without a model."""
    if not cfg.training.get("freeze_encoder"):
        return None
    from docrobust.models.store import FeatureStore, feature_spec, text_key  # torch: plan's name checks load it anyway

    try:
        docs = [d for key in SPLITS_ENCODED for d in _split(read_json(cfg.data[key]["path"]), cfg.data[key]["path"],
                                                             cfg.data[key].get("range"))]
    except (OSError, DocrobustError, KeyError):
        return None
    texts = {text_key(d) for d in docs}
    store, pending = FeatureStore(), 0
    models = [m for m in cfg.matrix["models"] if m not in cfg.models]   # external models encode nothing here
    for model in models:
        training = {**cfg.training, "encoder": cfg.encoder or cfg.training.get("encoder"), "model": model,
                    "model_options": cfg.model_options.get(model, {}),
                    "pair_types": cfg.data.get("pair_types", {}).get("pairs")}
        pending += len(texts - store.indexed(feature_spec(training)))
    return pending, len(texts) * len(models)


SPLITS_ENCODED = ("train", "dev", "test")


def _split(raw: Any, path: str, rng: list[int] | None) -> list[dict]:
    """Documents [start, stop) of a file's JSON value, validated (only the slice that is used)."""
    docs = raw[rng[0]:rng[1]] if rng is not None and isinstance(raw, list) else raw
    source = path if rng is None else f"{path}[{rng[0]}:{rng[1]}]"
    problems = validate_docs(docs, source=source)
    if problems:
        raise DocrobustError(problems)
    if rng is not None and len(docs) < rng[1] - rng[0]:
        raise DocrobustError(f"{path}: range {rng} asks for documents past the file's {len(raw)}")
    return docs


def _runtime_settings(cfg: BenchConfig, execution: dict, quiet: bool) -> dict:
    """How cells run here: torch threads split over parallel CPU jobs; trainer bars only in-process."""
    n_jobs = execution["n_jobs"]
    runtime: dict[str, Any] = {"progress": not quiet and n_jobs == 1 and execution["backend"] == "local"}
    if "num_threads" in cfg.training:
        runtime["num_threads"] = cfg.training["num_threads"]
    elif execution["backend"] == "local" and n_jobs > 1:
        runtime["num_threads"] = max(1, _cpu_count() // n_jobs)
    for key in ("device", "save_checkpoint"):  # as bench.toml sets them (save_checkpoint: cells keep checkpoint.pt)
        if key in cfg.training:
            runtime[key] = cfg.training[key]
    return runtime


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
