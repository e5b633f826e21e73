"""Where cells run (execution.backend): each backend takes the driver's tasks and yields their outcomes as they
finish, whichever order that is.

    "local": in-process for one job, else joblib loky processes on this machine (one per GPU set when it has GPUs)
    "dask":  an existing Dask cluster, each cell asking for `gpus_per_run` units of the GPU resource

Dask workers must be started non-daemonic, because PyTorch data loading forks worker processes, and with one
GPU each, declared as a resource so that cells queue for free GPUs:

    export DASK_DISTRIBUTED__WORKER__DAEMON=False
    dask scheduler --port 8786 &
    CUDA_VISIBLE_DEVICES=0 dask worker tcp://HOST:8786 --nthreads 1 --resources GPU=1 &
    CUDA_VISIBLE_DEVICES=1 dask worker tcp://HOST:8786 --nthreads 1 --resources GPU=1 &

(with dask-jobqueue: `SLURMCluster(..., worker_extra_args=["--resources", "GPU=1"], job_script_prologue=
["export DASK_DISTRIBUTED__WORKER__DAEMON=False"])`). `gpus_per_run = 0` runs on CPU-only workers without
resources. Workers need docrobust installed; no shared file system is needed, since documents travel with the
task and results come back to the driver.
"""
from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from joblib import Parallel, delayed

from docrobust.base import DocrobustError, Registry

from .tasks import Outcome, Task
from .worker import run_cell

BACKENDS: Registry[Callable[[Iterable[Task], dict], Iterator[Outcome]]] = Registry("backend")


@BACKENDS.register("local")
def local_backend(tasks: Iterable[Task], execution: dict) -> Iterator[Outcome]:
    """In-process for one job; else loky processes: one per `gpus_per_run` GPUs when there are GPUs (and
    gpus_per_run > 0), else n_jobs on CPU with the cores divided among them."""
    n_gpus = _local_gpu_count() if execution["gpus_per_run"] else 0
    n_jobs = max(1, n_gpus // execution["gpus_per_run"]) if n_gpus else execution["n_jobs"]
    if n_jobs == 1 and not n_gpus:
        yield from map(run_cell, tasks)
        return
    manager = queue = None
    if n_gpus:  # the free GPU ids, shared by the workers (bench/tasks.py: gpu_lease)
        manager = multiprocessing.Manager()
        queue = manager.Queue()
        for gpu in range(n_gpus):
            queue.put(gpu)
    try:
        yield from Parallel(n_jobs=n_jobs, backend="loky", batch_size=1, pre_dispatch="n_jobs",
                            return_as="generator_unordered", initializer=_die_with_driver,
                            initargs=(os.getpid(),))(delayed(run_cell)(dataclasses.replace(t, gpu_queue=queue))
                                                     for t in tasks)
    finally:
        if manager is not None:
            manager.shutdown()


def _die_with_driver(driver_pid: int) -> None:
    """loky worker initializer: end this worker as soon as the driver is gone (even by kill -9), instead of
    training on for minutes. The worker is the driver's child; once it has another parent, it exits."""
    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="docrobust-driver-watch", daemon=True).start()


def _local_gpu_count() -> int:
    import torch  # only when cells ask for GPUs: `bench check` and CPU runs never load it here

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@BACKENDS.register("dask")
def dask_backend(tasks: Iterable[Task], execution: dict) -> Iterator[Outcome]:
    """The same cells on an existing Dask cluster; each asks for `gpus_per_run` units of the GPU resource.

    Cells are submitted to the client directly, a window of twice the cluster's threads at a time (each task
    carries its documents), not through joblib, whose Dask backend runs everything in the driver when the
    cluster has a single thread (one GPU worker started with --nthreads 1)."""
    try:
        from dask.distributed import Client, as_completed  # an optional extra: only for this backend
    except ImportError:
        raise DocrobustError("execution.backend = \"dask\" needs dask[distributed]: pip install 'docrobust[dask]'") from None

    try:
        client = Client(execution["scheduler"], timeout=30, set_as_default=False)
    except OSError as e:
        raise DocrobustError(f"execution.scheduler: cannot reach the Dask scheduler at {execution['scheduler']!r} "
                          f"({e}); start it with `dask scheduler`") from None
    try:
        need = execution["gpus_per_run"]
        resources = {"GPU": need} if need else {}
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        if need and not any(w.get("resources", {}).get("GPU", 0) >= need for w in workers):
            raise DocrobustError(f"execution.gpus_per_run = {need}: no Dask worker declares that many GPU resources; "
                              f"start workers with `--resources GPU=1` or set gpus_per_run = 0 for CPU workers")
        tasks = iter(tasks)

        def submit(n: int) -> list:
            return [client.submit(run_cell, task, resources=resources or None, pure=False)
                    for task in itertools.islice(tasks, n)]

        running = as_completed(submit(max(2, 2 * sum(client.ncores().values()))), loop=client.loop)
        for future in running:
            yield future.result()
            for more in submit(1):
                running.add(more)
    finally:
        client.close()
