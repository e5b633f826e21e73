"""The matrix runner end to end on the tiny encoder: results agree with the scorer, reruns skip, failures are
isolated, and a run killed with SIGKILL resumes without losing or repeating finished cells."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tiny_encoder import tiny_encoder_dir  # noqa: F401

import docrobust.models.train as trainer
from docrobust.bench.cli import main
from docrobust.bench.config import load_config
from docrobust.bench.runner import cell_statuses, run_bench
from docrobust.reports.results import COLUMNS, ResultsStore
from docrobust.base import read_json
from docrobust.corpus import facts_from_docs, load_docs, score
from docrobust.corpus.score import average_precision
from docrobust.reports import write_report

TRAIN, DEV, TEST = (0, 4), (4, 6), (0, 2)
pytestmark = pytest.mark.slow   # every test here runs a matrix: trains the tiny encoder, kills runs

TINY_MODELS = {"atlop": "emb_size = 64\nblock_size = 16",
               "docunet": "emb_size = 64\nblock_size = 16\nunet_out_dim = 16\ndown_dim = 16"}


def bench_toml(encoder: Path, models=("atlop", "docunet"), losses=("atl", "cmm"), noise=("clean", "fn-uniform:0.5"),
               extra: str = "") -> str:
    options = "\n".join(f"[model_options.{m}]\n{TINY_MODELS[m]}" for m in models)
    return textwrap.dedent(f"""
        name = "tiny"
        encoder = "{encoder}"
        [data]
        train = "redocred/dev_revised.json"
        train_range = {list(TRAIN)}
        dev = "redocred/dev_revised.json"
        dev_range = {list(DEV)}
        test = "redocred/test_revised.json"
        test_range = {list(TEST)}
        relations = "meta/rel2id.json"
        [matrix]
        models = {json.dumps(list(models))}
        losses = {json.dumps(list(losses))}
        noise = {json.dumps(list(noise))}
        seeds = [0]
        [training]
        epochs = 1
        max_len = 128
        lr_encoder = 1e-3
        lr_head = 1e-3
        """) + options + "\n" + extra


def write_toml(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_run(tiny_encoder_dir, data_dir, tmp_path_factory):  # noqa: F811
    """2 models x 2 losses x {clean, FN 0.5} x 1 seed through the Python API."""
    folder = tmp_path_factory.mktemp("bench")
    cfg = load_config(write_toml(folder, bench_toml(tiny_encoder_dir)), None, data_dir)
    summary = run_bench(cfg, folder / "results", quiet=True, report=False)
    return cfg, summary


def read_rows(results: Path) -> list[dict]:
    with open(results / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_matrix_results_agree_with_the_scorer(tiny_run, data_dir):
    cfg, summary = tiny_run
    store = ResultsStore(summary.results_dir)
    assert summary.ok and len(summary.ran) == 8
    rows = {r["cell_id"]: r for r in read_rows(store.root)}
    assert set(rows) == {c.cell_id for c in cfg.cells()} and list(next(iter(rows.values()))) == list(COLUMNS)
    train = load_docs(data_dir / "redocred/dev_revised.json")[slice(*TRAIN)]
    test = load_docs(data_dir / "redocred/test_revised.json")[slice(*TEST)]
    for cell in cfg.cells():
        folder = store.cells_dir / cell.cell_id
        record = read_json(folder / "cell.json")
        assert record["status"] == "done" and record["config_hash"] == cell.config_hash and record["error"] is None
        assert sorted(p.name for p in folder.iterdir()) == ["cell.json", "config.json", "manifest.json",
                                                             "metrics.json", "ranking.npz", "result.json",
                                                             "train_log.jsonl"]
        ranked = store.read_ranking(cell.cell_id, len(test))   # the threshold-free score as the report reads it
        assert average_precision(ranked["score"], ranked["relevant"], read_json(folder / "metrics.json")["test"]
                                 ["n_gold"]) == pytest.approx(read_json(folder / "metrics.json")["ranking"]["ap"])
        recomputed = score(test, read_json(folder / "result.json"), facts_from_docs(train))
        stored = read_json(folder / "metrics.json")["test"]
        for key in ("precision", "recall", "f1", "ign_f1"):
            assert recomputed[key] == pytest.approx(stored[key], abs=1e-12)
            assert float(rows[cell.cell_id][key]) == pytest.approx(stored[key], abs=1e-12)
        row = rows[cell.cell_id]
        assert (row["noise_family"], float(row["rate"])) == (("clean", 0.0) if cell.noise == "clean" else ("fn-uniform", 0.5))
        manifest = read_json(folder / "manifest.json")
        assert float(row["achieved_rate"]) == manifest["achieved_rate"]
        assert manifest["achieved_rate"] == (0.0 if cell.noise == "clean" else pytest.approx(0.5, abs=0.05))
    assert len(list(store.noisy_dir.glob("*.manifest.json"))) == 2  # one noisy set per (spec, seed), shared by 4 cells
    assert (store.root / "results.parquet").is_file() and (store.root / "bench.json").is_file()


def must_not_train(*args, **kwargs):
    raise AssertionError("a cell with a current result was trained again")


def test_rerun_skips_done_cells_and_a_config_change_marks_only_its_cells(tiny_run, data_dir, tiny_encoder_dir, tmp_path):  # noqa: F811
    cfg, summary = tiny_run
    again = run_bench(cfg, summary.results_dir, quiet=True, report=False, train_fn=must_not_train)
    assert again.ran == [] and again.ok
    changed = load_config(write_toml(tmp_path, bench_toml(tiny_encoder_dir, extra="[loss_options.cmm]\nm = 0.3\n")),
                          None, data_dir)
    statuses = cell_statuses(ResultsStore(summary.results_dir), changed.cells())
    assert {c: s for c, s in statuses.items() if s != "done"} == {c.cell_id: "stale" for c in changed.cells()
                                                                   if c.loss == "cmm"}


def test_plan_and_status_commands(tiny_run, data_dir, capsys):
    cfg, summary = tiny_run
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(data_dir), "bench", "plan", cfg.source, "--out", str(summary.results_dir)])
    assert e.value.code == 0
    out = capsys.readouterr().out
    listed = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    assert listed == {c.cell_id: "done" for c in cfg.cells()} and out.splitlines()[-1].startswith("8 cells: 8 done")
    with pytest.raises(SystemExit) as e:
        main(["bench", "status", str(summary.results_dir)])
    assert e.value.code == 0 and capsys.readouterr().out.count("done ") == 8


def test_report_tables_of_a_real_run_equal_the_recomputation(tiny_run, tmp_path):
    """The real store -> report path: every score the report prints for the trained tiny matrix equals the one
    recomputed in plain Python from the cells' per-document counts."""
    from test_reports import check_printed_numbers, html_tables, recompute

    _, summary = tiny_run
    written = write_report(summary.results_dir, tmp_path / "report.html", resamples=200)
    assert written["n_cells"] == 8 and written["n_failed"] == written["n_pending"] == 0
    assert check_printed_numbers(html_tables(tmp_path / "report.html"), recompute(summary.results_dir),
                                 ["fn-uniform"]) == 8 * 4 + 8 * 4 + 4 * 2 * 2   # F1 and AP rows of the summary


def counting(calls: list):
    def train(config, train_docs, dev_docs, test_docs, **kwargs):
        calls.append(config.loss)
        return instant_train(config, train_docs, dev_docs, test_docs, **kwargs)
    return train


def test_a_done_cell_with_missing_or_corrupt_metrics_is_pending_and_reruns(tiny_encoder_dir, data_dir, tmp_path,  # noqa: F811
                                                                         monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(trainer, "train", counting(calls))
    toml = write_toml(tmp_path, bench_toml(tiny_encoder_dir, models=("atlop",), losses=("atl", "cmm", "afl"),
                                           noise=("clean",)))
    out = tmp_path / "results"
    run = ["--data-dir", str(data_dir), "bench", "run", str(toml), "--out", str(out), "--quiet", "--no-report"]
    with pytest.raises(SystemExit) as e:
        main(run)
    assert e.value.code == 0 and calls == ["atl", "cmm", "afl"]
    (out / "cells/atlop__atl__clean__s0/metrics.json").write_text('{"test": {"per_doc": {"title": [')  # cut short
    (out / "cells/atlop__cmm__clean__s0/metrics.json").unlink()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["bench", "status", str(out)])
    status = capsys.readouterr().out.splitlines()
    assert status[0].startswith("pending  atlop__atl__clean__s0") and "not valid JSON" in status[0]
    assert status[1].startswith("pending  atlop__cmm__clean__s0") and "metrics.json: no such file" in status[1]
    assert status[2] == "done     atlop__afl__clean__s0" and status[-1] == "3 cells: 1 done, 2 pending"
    with pytest.raises(SystemExit) as e:  # bench run agrees: it reruns exactly those two
        main(run)
    assert e.value.code == 0 and calls == ["atl", "cmm", "afl", "atl", "cmm"]
    assert {r["cell_id"]: r["status"] for r in read_rows(out)} == {f"atlop__{loss}__clean__s0": "done"
                                                                   for loss in ("atl", "cmm", "afl")}
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["bench", "status", str(out)])
    assert capsys.readouterr().out.splitlines()[-1] == "3 cells: 3 done"


def test_a_matrix_without_clean_reports_and_a_failed_report_fails_the_run(tiny_encoder_dir, data_dir, tmp_path,  # noqa: F811
                                                                          monkeypatch, capsys):
    monkeypatch.setattr(trainer, "train", counting([]))
    toml = write_toml(tmp_path, bench_toml(tiny_encoder_dir, models=("atlop",), noise=("fn-uniform:0.5",)))
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(data_dir), "bench", "run", str(toml), "--out", str(out), "--quiet"])
    assert e.value.code == 0
    assert "No clean cell: F1 drops" in (out / "report.html").read_text()
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")

    (out / "report.html").unlink()
    (out / "report.pdf").unlink()
    (out / "report.pdf").mkdir()  # the report cannot be written where it goes
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["--data-dir", str(data_dir), "bench", "run", str(toml), "--out", str(out), "--quiet"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "report failed:" in err and "report.pdf" in err and "Traceback" not in err
    assert read_json(out / "cells/atlop__atl__fn-uniform-0.5__s0/cell.json")["status"] == "done"  # results kept


def test_failed_cell_is_isolated_and_retried_through_the_cli(tiny_encoder_dir, data_dir, tmp_path, monkeypatch, capsys):  # noqa: F811
    """A CLI run whose cmm cell raises: recorded with its traceback, the atl cell finishes, exit 1; --retry-failed."""
    real_train, calls = trainer.train, []

    def flaky(config, *args, **kwargs):
        calls.append(config.loss)
        if config.loss == "cmm" and (tmp_path / "break").exists():
            raise RuntimeError("boom: forced failure")
        return real_train(config, *args, **kwargs)

    monkeypatch.setattr(trainer, "train", flaky)
    (tmp_path / "break").touch()
    toml = write_toml(tmp_path, bench_toml(tiny_encoder_dir, models=("atlop",), noise=("clean",)))
    out = tmp_path / "results"
    args = ["--data-dir", str(data_dir), "bench", "run", str(toml), "--out", str(out), "--quiet"]

    def run(*extra: str) -> int:
        with pytest.raises(SystemExit) as e:
            main(args + list(extra))
        return e.value.code

    assert run("--no-report") == 1
    failed = read_json(out / "cells/atlop__cmm__clean__s0/cell.json")
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: boom: forced failure"
    assert "Traceback" in failed["traceback"] and "boom" in failed["traceback"]
    assert not (out / "cells/atlop__cmm__clean__s0/metrics.json").exists()
    assert read_json(out / "cells/atlop__atl__clean__s0/cell.json")["status"] == "done"
    assert {r["cell_id"]: r["status"] for r in read_rows(out)} == {"atlop__atl__clean__s0": "done",
                                                                    "atlop__cmm__clean__s0": "failed"}
    assert "failed: atlop__cmm__clean__s0: RuntimeError: boom" in capsys.readouterr().err
    assert run("--no-report") == 1 and calls == ["atl", "cmm"]   # without --retry-failed nothing runs again
    (tmp_path / "break").unlink()
    assert run("--retry-failed") == 0 and calls == ["atl", "cmm", "cmm"]
    assert (out / "report.html").stat().st_size > 0 and (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert {r["status"] for r in read_rows(out)} == {"done"} and not list((out / "cells").glob(".*"))


RUNNER_SCRIPT = """
import os, sys
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.base import sha256_json
import docrobust.models.train as trainer

real_train = trainer.train

def counting_train(config, train_docs, *args, **kwargs):
    metrics = real_train(config, train_docs, *args, **kwargs)
    with open(os.environ["MARKER"], "a") as f:   # one line per finished training: (model, loss, training set)
        f.write(f"{config.model} {config.loss} {sha256_json(train_docs)[:12]}\\n")
    return metrics

config, data_dir, out = sys.argv[1:]
summary = run_bench(load_config(config, None, data_dir), out, quiet=True, report=False, train_fn=counting_train)
sys.exit(0 if summary.ok else 1)
"""


def test_sigkill_mid_matrix_then_resume(tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    toml = write_toml(tmp_path, bench_toml(tiny_encoder_dir, models=("atlop",), losses=("atl", "cmm", "afl"),
                                           noise=("clean",)))
    script = tmp_path / "run_matrix.py"
    script.write_text(RUNNER_SCRIPT, encoding="utf-8")
    out, cells = tmp_path / "results", tmp_path / "results" / "cells"
    command = [sys.executable, str(script), str(toml), str(data_dir), str(out)]

    env = {**os.environ, "MARKER": str(tmp_path / "first.txt")}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (cells.is_dir() and any(not p.name.startswith(".") for p in cells.iterdir())):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no cell finished in 240 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {p.name for p in cells.iterdir() if not p.name.startswith(".")}
    assert 1 <= len(finished_before) < 3, "the kill must land mid-matrix"
    # a cell being written when the runner died: complete-looking, but under its temporary name
    planted = cells / ".atlop__atl__clean__s0.999999999.dead.tmp"
    planted.mkdir()
    (planted / "cell.json").write_text(json.dumps({"cell_id": "ghost", "status": "done"}), encoding="utf-8")

    env["MARKER"] = str(tmp_path / "second.txt")
    assert subprocess.run(command, env=env, capture_output=True, timeout=300).returncode == 0
    first = (tmp_path / "first.txt").read_text().split("\n")[:-1] if (tmp_path / "first.txt").exists() else []
    second = (tmp_path / "second.txt").read_text().split("\n")[:-1]
    assert len(second) == len(set(second)) == 3 - len(finished_before)  # finished cells were not trained again
    assert len(set(first) | set(second)) == 3
    assert sorted(p.name for p in cells.iterdir()) == sorted(c["cell_id"] for c in read_rows(out))
    assert len(read_rows(out)) == 3 and {r["status"] for r in read_rows(out)} == {"done"}


def instant_train(config, train_docs, dev_docs, test_docs, *, relations, train_facts, out_dir, **_):
    """Predicts nothing, at once; writes the trainer's files, config.json included (to see the threads it got)."""
    metrics = {"best_epoch": 1, "dev": score(dev_docs, []), "test": score(test_docs, [], train_facts), "epochs": []}
    for name, value in (("result.json", []), ("metrics.json", metrics), ("config.json", config.to_dict())):
        (Path(out_dir) / name).write_text(json.dumps(value), encoding="utf-8")
    return metrics


def test_parallel_cpu_jobs_split_the_cores(tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    cfg = load_config(write_toml(tmp_path, bench_toml(tiny_encoder_dir)), None, data_dir)
    summary = run_bench(cfg, tmp_path / "results", quiet=True, report=False, n_jobs=2, train_fn=instant_train)
    assert summary.ok and len(summary.ran) == 8
    store = ResultsStore(summary.results_dir)
    workers = {store.read_cell(c).worker for c in summary.ran}
    assert len(workers) <= 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)  # loky processes
    threads = {read_json(store.cells_dir / c / "config.json")["num_threads"] for c in summary.ran}
    assert threads == {max(1, len(os.sched_getaffinity(0)) // 2)}


def test_a_frozen_encoder_matrix_encodes_each_document_once_and_buckets_follow_the_clean_labels(
        tiny_encoder_dir, data_dir, tmp_path, monkeypatch):  # noqa: F811
    import docrobust.models.registry as registry
    from docrobust.bench.runner import documents_to_encode
    from docrobust.corpus.score import frequent_relations

    monkeypatch.setenv("DOCROBUST_CACHE", str(tmp_path / "cache"))
    encoded = []
    real = registry.encode
    monkeypatch.setattr(registry, "encode", lambda model, ids, *a: encoded.extend(ids.shape[:1]) or real(model, ids, *a))
    text = bench_toml(tiny_encoder_dir, models=("atlop",), extra="").replace(
        "[training]\n", "[training]\nfreeze_encoder = true\ncalibrate_threshold = true\n")
    cfg = load_config(write_toml(tmp_path, text), None, data_dir)
    n_docs = (TRAIN[1] - TRAIN[0]) + (DEV[1] - DEV[0]) + (TEST[1] - TEST[0])
    assert documents_to_encode(cfg) == (n_docs, n_docs)
    summary = run_bench(cfg, tmp_path / "results", quiet=True, report=False)
    assert summary.ok and len(summary.ran) == 4
    assert sum(encoded) == n_docs and summary.encoded_docs == n_docs   # 4 cells, one encoder pass per document
    assert documents_to_encode(cfg) == (0, n_docs)

    store = ResultsStore(summary.results_dir)
    train = load_docs(data_dir / "redocred/dev_revised.json")[slice(*TRAIN)]
    test = load_docs(data_dir / "redocred/test_revised.json")[slice(*TEST)]
    for cell in cfg.cells():
        folder = store.cells_dir / cell.cell_id
        assert read_json(folder / "config.json")["runtime"]["encoded_docs"] == 0   # cells only read the store
        metrics = read_json(folder / "metrics.json")
        clean = score(test, read_json(folder / "result.json"), facts_from_docs(train), frequent=frequent_relations(train))
        assert all(metrics["test"]["breakdown"][b] == clean["breakdown"][b] for b in ("frequent", "long_tail"))
        assert set(metrics["calibrated"]) == {"offset", "dev", "test"}

    more = text.replace('noise = ["clean", "fn-uniform:0.5"]', 'noise = ["clean", "fn-uniform:0.5", "fn-uniform:0.2"]')
    again = run_bench(load_config(write_toml(tmp_path, more), None, data_dir), tmp_path / "results", quiet=True,
                      report=False)
    assert len(again.ran) == 2 and again.encoded_docs == 0 and sum(encoded) == n_docs   # new noise: no encoder pass
