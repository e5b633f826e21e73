"""The dask backend on a loopback LocalCluster: cells queue on the GPU resource, and a failing cell is recorded
while the others finish."""
from __future__ import annotations

import pytest
from test_bench_run import bench_toml, read_rows, write_toml
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.base import DocrobustError, read_json

pytestmark = pytest.mark.slow   # a Dask LocalCluster trains cells
distributed = pytest.importorskip("distributed", reason="the dask backend is an optional extra: pip install 'docrobust[dask]'")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two worker processes with two threads each but one fake GPU each: without resources, cells would overlap."""
    import dask

    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=2, resources={"GPU": 1}, host="127.0.0.1",
            dashboard_address="127.0.0.1:0", local_directory=str(tmp_path_factory.mktemp("dask")),
            silence_logs=40) as cluster:
        yield cluster


def dask_toml(encoder, scheduler: str, gpus_per_run: int) -> str:
    extra = (f'[execution]\nbackend = "dask"\nscheduler = "{scheduler}"\ngpus_per_run = {gpus_per_run}\n'
             "[loss_options.cmm]\nm = 0.7\n")  # m must be < 0.5: every cmm cell fails inside the trainer
    return bench_toml(encoder, models=("atlop",), extra=extra)


def test_cells_queue_on_the_gpu_resource_and_failures_are_isolated(cluster, tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    toml = write_toml(tmp_path, dask_toml(tiny_encoder_dir, cluster.scheduler_address, 1))
    cfg = load_config(toml, None, data_dir)
    summary = run_bench(cfg, tmp_path / "results", quiet=True, report=False)
    rows = {r["cell_id"]: r for r in read_rows(summary.results_dir)}
    assert {c: r["status"] for c, r in rows.items()} == {c.cell_id: "failed" if c.loss == "cmm" else "done"
                                                         for c in cfg.cells()}
    assert all("m must satisfy 0 <= m < 0.5" in r["error"] for r in rows.values() if r["status"] == "failed")
    cells = [read_json(summary.results_dir / "cells" / c / "cell.json") for c in rows]
    workers = {c["worker"] for c in cells}
    assert workers <= set(cluster.scheduler_info["workers"])  # ran on the cluster, not in the driver
    for worker in workers:  # one GPU per worker: its cells never overlap, although it has two threads
        spans = sorted((c["started"], c["finished"]) for c in cells if c["worker"] == worker)
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans


def test_more_gpus_than_any_worker_has_is_an_error_not_a_hang(cluster, tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    cfg = load_config(write_toml(tmp_path, dask_toml(tiny_encoder_dir, cluster.scheduler_address, 2)), None, data_dir)
    with pytest.raises(DocrobustError, match="no Dask worker declares that many GPU resources"):
        run_bench(cfg, tmp_path / "results", quiet=True, report=False)
