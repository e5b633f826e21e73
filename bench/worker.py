"""What a worker runs for one cell: our model trained and scored in a temporary folder, or an external model's
command (bench/external_run.py). Called in the driver (one job), in loky processes or on Dask workers."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from docrobust.base import load_entry_points, load_plugins
from docrobust.reports.results import CELL_FILES

from .external_run import run_external
from .tasks import Outcome, Task, gpu_lease, outcome_of


def run_cell(task: Task) -> Outcome:
    """Train and score one cell in a temporary folder; return the files' contents and how it went. Never raises.

    A cell of an external model runs its command instead (bench/external_run.py). Only the failed cell's log and
    config come back when training fails.
    """
    if task.external is not None and task.error is None:
        return run_external(task)
    with outcome_of(task) as out:
        if task.error is None:   # else the driver could not build its inputs
            load_entry_points()  # a worker process starts bare: the plugins the cell's names come from first
            load_plugins(task.plugins)
            _train(task, out)
    return out


def _train(task: Task, out: Outcome) -> None:
    """Train in a temporary folder, holding the cell's GPUs; fill `out` with the folder's files and timing."""
    from docrobust.models.train import TrainConfig, train, versions  # torch: in the worker, not at CLI start

    out.versions = versions()
    if task.tmp_dir:
        os.makedirs(task.tmp_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{task.cell_id}-", dir=task.tmp_dir) as tmp, gpu_lease(task) as gpus:
        training = {**task.training, **({"device": _use_gpu(gpus[0])} if gpus else {})}
        t1 = time.perf_counter()
        try:
            (task.train_fn or train)(
                TrainConfig.from_dict(training), task.train_docs, task.dev_docs, task.test_docs,
                relations=task.relations, train_facts=task.train_facts, out_dir=tmp, cache_dir=task.cache_dir,
                feature_store=task.feature_store, frequent=task.frequent)
            out.status = "done"
        except Exception as e:
            out.fail(e)
        out.train_seconds = time.perf_counter() - t1
        keep = CELL_FILES if out.status == "done" else ("train_log.jsonl", "config.json")
        out.files = {n: _read_output(Path(tmp) / n) for n in keep if (Path(tmp) / n).is_file()}


def _use_gpu(gpu: int) -> str:
    """The cell's device for a GPU held from the local backend's queue, made current: loky reuses worker
    processes, and CUDA_VISIBLE_DEVICES cannot change once CUDA is initialised, so the cell names its device."""
    import torch  # only on a machine with GPUs, in the worker

    torch.cuda.set_device(gpu)
    return f"cuda:{gpu}"


def _read_output(path: Path) -> str | bytes:
    """A cell file's contents: bytes for the binary ones (.npz, .pt), text for the rest."""
    return path.read_bytes() if path.suffix in (".npz", ".pt") else path.read_text(encoding="utf-8")
