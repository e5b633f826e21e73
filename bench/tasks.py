"""What the driver sends a worker for one cell (Task) and what comes back (Outcome), for both kinds of cell: our
models' training (bench/worker.py) and an external model's command (bench/external_run.py).

Tasks travel to loky processes and Dask workers by pickle, with their documents (no shared file system is
needed); outcomes come back with the cell folder's files as contents. A worker never raises: whatever goes wrong
in a cell is its outcome's `error` and `traceback`.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from docrobust.corpus import RelationInventory


@dataclass
class Task:
    """One cell's inputs. A cell whose inputs the driver could not build carries only its error (Task.failed),
    which the worker records as the cell's failure."""
    cell_id: str
    training: dict[str, Any] = field(default_factory=dict)   # TrainConfig values (an external cell reads pair_types)
    train_docs: list[dict] = field(default_factory=list)     # the noisy training set
    dev_docs: list[dict] = field(default_factory=list)
    test_docs: list[dict] = field(default_factory=list)
    relations: RelationInventory | None = None
    train_facts: frozenset = frozenset()                     # Ign F1's training facts
    frequent: list[str] = field(default_factory=list)        # the frequent relations, from the clean training labels
    train_fn: Callable | None = None                         # replaces docrobust.models.train.train
    cache_dir: str | None = None          # tokenized features on the driver's disk (local backend only)
    tmp_dir: str | None = None            # where the cell's working folder goes (RESULTS/.tmp, local backend only)
    feature_store: str | None = None      # the frozen-encoder feature store the driver filled (local backend only)
    gpus: int = 0                         # GPU ids the cell holds from gpu_queue while it runs
    gpu_queue: Any = None                 # the local backend's shared queue of free GPU ids; None elsewhere
    external: dict | None = None          # an external model's spec (bench/external.py): its command runs instead
    seed: int = 0                         # an external cell's {seed} and {loss}
    loss: str = ""
    plugins: list[str] = field(default_factory=list)  # plugin files / modules the cell's names come from
    error: str | None = None              # why the driver could not build the inputs
    traceback: str | None = None

    @classmethod
    def failed(cls, cell_id: str, e: BaseException) -> Task:
        """A task that only carries why its inputs could not be built (call it where `e` is being handled)."""
        return cls(cell_id, error=error_text(e), traceback=traceback.format_exc())


@dataclass
class Outcome:
    """One cell as its worker returns it: the files of its folder (text, bytes for .npz) and how it went."""
    cell_id: str
    status: str = "failed"                # "done" | "failed"
    files: dict[str, str | bytes] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    versions: dict[str, str] | None = None
    worker: str | None = None             # host:pid, or the Dask worker's address
    started: float | None = None          # epoch seconds
    finished: float | None = None
    train_seconds: float = 0.0            # the training (or command) alone
    total_seconds: float = 0.0            # the whole cell in the worker

    def fail(self, e: BaseException) -> None:
        """Record `e`, being handled, as the cell's failure."""
        self.status, self.error, self.traceback = "failed", error_text(e), traceback.format_exc()


@contextlib.contextmanager
def outcome_of(task: Task) -> Iterator[Outcome]:
    """The outcome skeleton both workers fill: failed until the body says done, with this worker's name and the
    start and end times. An exception of the body is recorded as the cell's failure, never raised, and a task
    that carries an error is failed before the body starts."""
    t0 = time.perf_counter()
    out = Outcome(task.cell_id, worker=worker_name(), started=time.time(), error=task.error, traceback=task.traceback)
    try:
        yield out
    except Exception as e:  # setup failed (imports, temporary folder, GPU queue, inputs): still an outcome
        out.fail(e)
    finally:
        out.finished = time.time()
        out.total_seconds = time.perf_counter() - t0


def error_text(e: BaseException) -> str:
    """An exception as one line for a cell's record: its type and the first line of its message, cut at 500."""
    return f"{type(e).__name__}: {e}".splitlines()[0][:500]


def worker_name() -> str:
    """Where a cell ran: the Dask worker's address inside one, else host:pid."""
    if "distributed" in sys.modules:
        from distributed import get_worker  # dask is optional and imported only by its backend: already loaded here

        try:
            return get_worker().address
        except ValueError:  # not inside a dask worker
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def gpu_lease(task: Task) -> Iterator[list[int]]:
    """Hold `task.gpus` ids from the local backend's queue of free GPUs while the cell runs, and give them back
    however it ends; none without a queue (one job, CPU, or Dask, whose workers set CUDA_VISIBLE_DEVICES)."""
    held: list[int] = []
    try:
        if task.gpu_queue is not None:
            for _ in range(task.gpus):
                held.append(task.gpu_queue.get())
        yield held
    finally:
        for gpu in held:
            task.gpu_queue.put(gpu)
