"""External models in the matrix: a foreign script (tests/external_model/most_frequent.py) gets the cell's exact
inputs, its predictions are scored by our scorer and reported next to ATLOP; failures are failed cells with the
log's tail; resume, config hashes (command line, workdir's tracked files), config errors, Dask, and a killed
runner taking its command with it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bench_run import bench_toml, must_not_train, read_rows, write_toml
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.bench.config import load_config
from docrobust.bench.runner import cell_statuses, run_bench
from docrobust.base import DocrobustError, read_json
from docrobust.corpus import facts_from_docs, load_docs, score
from docrobust.reports import write_report
from docrobust.reports.results import ResultsStore

SCRIPT = Path(__file__).parent / "external_model" / "most_frequent.py"
TRAIN, DEV, TEST = (0, 4), (4, 6), (0, 2)   # the slices of test_bench_run's bench_toml
PY = sys.executable


def model_repo(folder: Path) -> Path:
    """The external model as its author would have it: a git repository holding the script."""
    folder.mkdir(parents=True)
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", SCRIPT.name], ["commit", "-q", "-m", "model"]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    (folder / ".gitignore").write_text("checkpoints/\n")
    return folder


def external(name: str, repo: Path, flags: str = "", **keys) -> str:
    command = (f"{PY} most_frequent.py --train {{train}} --dev {{dev}} --test {{test}} --out {{out}} --seed {{seed}} "
               f"{flags}").strip()
    lines = [f"[models.{name}]", f"command = {json.dumps(command)}", f"workdir = {json.dumps(str(repo))}"]
    for key, value in keys.items():
        if isinstance(value, dict):   # an inline TOML table
            value = "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
        else:
            value = json.dumps(value)
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def matrix_toml(encoder, models: list[str], tables: str, noise=("clean", "fn-uniform:0.5"), atlop=True) -> str:
    text = bench_toml(encoder, models=("atlop",), losses=("atl",), noise=noise, extra="[execution]\ngpus_per_run = 0\n"
                      + tables)
    return text.replace('models = ["atlop"]', f"models = {json.dumps((['atlop'] if atlop else []) + models)}")


@pytest.fixture(scope="module")
def external_run(tiny_encoder_dir, data_dir, tmp_path_factory):  # noqa: F811
    """atlop (tiny) and five external models x {clean, FN 0.5}: one that works, four that fail differently."""
    folder = tmp_path_factory.mktemp("external")
    repo = model_repo(folder / "model")
    kept = folder / "inputs"
    tables = (external("mine", repo, f"--copy-inputs {kept}", env={"MOST_FREQUENT_TAG": "tagged"})
              + external("crashes", repo, "--fail") + external("silent", repo, "--no-output")
              + external("garbled", repo, "--bad-output") + external("slow", repo, "--sleep 30", timeout=1))
    toml = write_toml(folder, matrix_toml(tiny_encoder_dir, ["mine", "crashes", "silent", "garbled", "slow"], tables))
    cfg = load_config(toml, None, data_dir)
    summary = run_bench(cfg, folder / "results", quiet=True, report=False)
    return cfg, summary, repo, kept, toml


@pytest.mark.slow
def test_external_cells_get_the_exact_inputs_and_are_scored_by_our_scorer(external_run, data_dir):
    cfg, summary, _, kept, _ = external_run
    store = ResultsStore(summary.results_dir)
    rows = {r["cell_id"]: r for r in read_rows(store.root)}
    mine = [c for c in cfg.cells() if c.model == "mine"]
    assert [c.cell_id for c in mine] == ["mine__own__clean__s0", "mine__own__fn-uniform-0.5__s0"]
    train = load_docs(data_dir / "redocred/dev_revised.json")[slice(*TRAIN)]
    dev = load_docs(data_dir / "redocred/dev_revised.json")[slice(*DEV)]
    test = load_docs(data_dir / "redocred/test_revised.json")[slice(*TEST)]
    noisy = {json.dumps(d, sort_keys=True) for p in store.noisy_dir.glob("*.manifest.json")
             for d in [read_json(p.with_name(p.name.replace(".manifest", "")))]}
    copies = sorted(kept.iterdir())
    assert len(copies) == 2   # one run per cell
    for copy in copies:
        assert json.dumps(read_json(copy / "train.json"), sort_keys=True) in noisy   # the noisy set of its cell
        assert read_json(copy / "dev.json") == dev
        assert read_json(copy / "test.json") == [{k: v for k, v in d.items() if k != "labels"} for d in test]
    assert read_json(copies[0] / "train.json") == train   # clean cells come first
    for cell in mine:
        folder = store.cells_dir / cell.cell_id
        assert rows[cell.cell_id]["status"] == "done"
        metrics = read_json(folder / "metrics.json")
        # Ign F1 leaves out the clean training set's facts, as for our models (no data.train_facts here)
        recomputed = score(test, read_json(folder / "result.json"), facts_from_docs(train))
        for key in ("precision", "recall", "f1", "ign_f1"):
            assert metrics["test"][key] == pytest.approx(recomputed[key], abs=1e-12)
            assert float(rows[cell.cell_id][key]) == pytest.approx(recomputed[key], abs=1e-12)
        assert metrics["test"]["tp"] > 0 and metrics["dev"]["n_gold"] == sum(len(d["labels"]) for d in dev)
        log = (folder / "command.log").read_text()
        assert "MOST_FREQUENT_TAG=tagged" in log and "4 training documents, 2 test documents" in log
        ran = read_json(folder / "config.json")
        assert ran["exit_status"] == 0 and ran["command"][:2] == [PY, "most_frequent.py"]
        assert sorted(p.name for p in folder.iterdir()) == ["cell.json", "command.log", "config.json", "manifest.json",
                                                            "metrics.json", "result.json"]


@pytest.mark.slow
def test_failing_commands_are_failed_cells_with_the_logs_tail(external_run):
    _, summary, _, _, _ = external_run
    store = ResultsStore(summary.results_dir)
    expected = {"crashes": "the command exited with status 3",
                "silent": "the command exited 0 but wrote no {out}/result.json (files there: none)",
                "garbled": "{out}/result.json: expected a JSON list of predictions, got dict",
                "slow": "the command timed out after 1 s (models.<name>.timeout) and was killed"}
    for model, error in expected.items():
        for noise in ("clean", "fn-uniform-0.5"):
            record = store.read_cell(f"{model}__own__{noise}__s0")
            assert record.status == "failed" and record.error == error, (model, record.error)
            assert record.traceback.startswith("command.log, last lines:\nmost_frequent: 4 training documents")
    assert "RuntimeError: most_frequent was asked to fail" in store.read_cell("crashes__own__clean__s0").traceback
    assert store.read_cell("slow__own__clean__s0").train_seconds < 10
    assert {store.read_cell(c).status for c in ("atlop__atl__clean__s0", "atlop__atl__fn-uniform-0.5__s0")} == {"done"}
    assert sorted(summary.failed) == sorted(f"{m}__own__{n}__s0" for m in expected for n in ("clean", "fn-uniform-0.5"))


@pytest.mark.slow
def test_an_external_model_is_reported_next_to_atlop(external_run, tmp_path):
    from test_reports import check_printed_numbers, html_tables, recompute

    _, summary, _, _, _ = external_run
    written = write_report(summary.results_dir, tmp_path / "report.html", resamples=200)
    assert written["n_cells"] == 12 and written["n_failed"] == 8
    tables = html_tables(tmp_path / "report.html")
    for family in ("clean", "fn-uniform"):
        rows = tables[f"Results: {family}"].to_dict("records")
        assert sorted((r["model"], r["loss"]) for r in rows) == [("atlop", "atl"), ("mine", "own")]
    # every score printed for both systems is the one recomputed from the cells' per-document counts
    assert check_printed_numbers(tables, recompute(summary.results_dir), ["fn-uniform"]) >= 2 * 2 * 4
    assert "mine · own" in (tmp_path / "report.html").read_text()


@pytest.mark.slow
def test_resume_skips_done_cells_and_code_or_command_changes_rerun_only_their_model(external_run, data_dir):
    cfg, summary, repo, kept, toml = external_run
    again = run_bench(load_config(toml, None, data_dir), summary.results_dir, quiet=True, report=False,
                      train_fn=must_not_train)
    assert again.ran == [] and len(list(kept.iterdir())) == 2   # the command did not run again
    store = ResultsStore(summary.results_dir)

    def stale() -> set[str]:
        return {c for c, s in cell_statuses(store, load_config(toml, None, data_dir).cells()).items() if s == "stale"}

    mine = {"mine__own__clean__s0", "mine__own__fn-uniform-0.5__s0"}
    in_that_workdir = {c.replace("mine", m) for m in ("mine", "crashes", "silent", "garbled", "slow") for c in mine}
    original = (repo / SCRIPT.name).read_text()
    (repo / "checkpoints").mkdir()
    (repo / "checkpoints" / "last.pt").write_text("ignored by git: not the model's code")
    assert stale() == set()
    (repo / SCRIPT.name).write_text(original + "\n# a change to the model's code\n")   # a tracked file, uncommitted
    assert stale() == in_that_workdir   # every external model that runs from that workdir; not atlop
    (repo / SCRIPT.name).write_text(original)
    assert stale() == set()
    (repo / "helper.py").write_text("x = 1\n")   # a new file git would track
    assert stale() == in_that_workdir
    (repo / "helper.py").unlink()
    text = toml.read_text()
    toml.write_text(text.replace("--copy-inputs", "--min-share 0.1 --copy-inputs"))
    try:
        assert stale() == mine
    finally:
        toml.write_text(text)


def test_external_model_config_errors_are_one_line_each_with_their_key_path(tiny_encoder_dir, data_dir,  # noqa: F811
                                                                           tmp_path):
    tables = ('[models.a]\ncommand = "python x.py --out {out} --test {test} --epochs {epochs}"\n'
              '[models.b]\ncommand = "python x.py {train}"\nworkers = 2\n'
              f'[models.c]\ncommand = "python x.py {{test}} {{out}}"\nworkdir = "{tmp_path / "nowhere"}"\ngpus = 1\n'
              '[models.atlop]\ncommand = "python x.py {test} {out}"\n'
              f'[models.d]\ncommand = "python \'x.py {{test}} {{out}}"\nenv = {{ A = 1 }}\ntimeout = 0\n')
    toml = write_toml(tmp_path, matrix_toml(tiny_encoder_dir, ["a", "e"], tables, atlop=False))
    with pytest.raises(DocrobustError) as e:
        load_config(toml, None, data_dir)
    assert e.value.problems == [
        "bench.toml: models.a.command: unknown placeholder {epochs}; known: {train}, {dev}, {test}, {out}, {seed}, "
        "{relations}, {loss}",
        "bench.toml: models.b.workers: unknown key (did you mean 'workdir'?); allowed: command, workdir, env, gpus, "
        "timeout",
        "bench.toml: models.b.command: needs {test}",
        "bench.toml: models.b.command: needs {out}",
        "bench.toml: models.c.gpus: must be between 0 and execution.gpus_per_run (0), got 1",
        f"bench.toml: models.c.workdir: no such folder {str(tmp_path / 'nowhere')!r}",
        "bench.toml: models.atlop: 'atlop' is one of docrobust's models; give your model another name",
        "bench.toml: models.d.env.A: expected str, got 1",
        "bench.toml: models.d.timeout: must be > 0 seconds, got 0",
        "bench.toml: models.d.command: cannot be read (No closing quotation); quote like a shell and write a literal "
        "brace as {{ or }}",
        "bench.toml: matrix.models[1]: unknown model 'e'; known: atlop, docunet, kd-docre"]


@pytest.mark.slow
def test_a_command_taking_loss_crosses_the_losses_and_runs_on_dask(tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    distributed = pytest.importorskip("distributed", reason="the dask backend is an optional extra")
    import dask

    repo = model_repo(tmp_path / "model")
    tables = external("mine", repo, "--min-share {loss}")
    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
            n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
            local_directory=str(tmp_path / "dask"), silence_logs=40) as cluster:
        text = matrix_toml(tiny_encoder_dir, ["mine"], tables, noise=("clean",), atlop=False).replace(
            'losses = ["atl"]', 'losses = ["0.05", "0.5"]').replace(
            "[execution]\n", f'[execution]\nbackend = "dask"\nscheduler = "{cluster.scheduler_address}"\n')
        cfg = load_config(write_toml(tmp_path, text), None, data_dir, check_names=False)
        summary = run_bench(cfg, tmp_path / "results", quiet=True, report=False)
        workers = set(cluster.scheduler_info["workers"])
    store = ResultsStore(summary.results_dir)
    assert summary.ok and sorted(summary.ran) == ["mine__0.05__clean__s0", "mine__0.5__clean__s0"]
    records = [store.read_cell(c) for c in summary.ran]
    assert {r.worker for r in records} <= workers
    n_pred = {r.loss: r.test.total()[1] for r in records}
    assert n_pred["0.05"] > n_pred["0.5"]   # the loss reached the command: a higher share keeps fewer rules


KILL_SCRIPT = """
import sys
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
config, data_dir, out = sys.argv[1:]
run_bench(load_config(config, None, data_dir, check_names=False), out, quiet=True, report=False)
"""


@pytest.mark.slow
def test_a_killed_runner_takes_its_command_with_it(tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    repo = model_repo(tmp_path / "model")
    pid_file = tmp_path / "command.pid"
    tables = external("mine", repo, f"--sleep 120 --pid-file {pid_file}")
    toml = write_toml(tmp_path, matrix_toml(tiny_encoder_dir, ["mine"], tables, noise=("clean",), atlop=False))
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    runner = subprocess.Popen([PY, str(script), str(toml), str(data_dir), str(tmp_path / "results")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not pid_file.is_file() or not pid_file.read_text():
        assert runner.poll() is None, runner.stderr.read().decode()
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.05)
    command = int(pid_file.read_text())
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 10
    while _alive(command):
        assert time.monotonic() < deadline, "the command outlived its runner"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:   # a zombie waiting for its parent's reaper is gone too
        return f.read().split(")")[-1].split()[0] != "Z"
