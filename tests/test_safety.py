"""Nothing lost, nothing crashes: a run lock, workers that die with their runner, outputs that are never an
input, one line (exit 2) for bad input and refused writes, and configs checked before anything runs.

Everything here runs on hand-built documents and an instant training function, so none of it needs the
real data; the kill and lock cases use a real SIGKILL on a real process.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import make_corpus

import docrobust.models.train as trainer
from docrobust.bench.cli import main
from docrobust.bench.config import load_config
from docrobust.bench.runner import TEMP_AREA, cell_statuses, run_bench
from docrobust.base import DocrobustError
from docrobust.corpus import save_docs, score
from docrobust.reports.results import ResultsStore


def bench_toml(folder: Path, *, losses=("atl", "cmm"), noise=("clean", "fn-uniform:0.5"), models=("atlop",),
               data: dict | None = None) -> Path:
    """A small matrix over hand-built train/dev/test files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 12), ("dev", 4), ("test", 4)):
        save_docs(make_corpus(n, seed=len(split), prefix=split), folder / f"{split}.json")
    files = {split: str(folder / f"{split}.json") for split in ("train", "dev", "test")} | (data or {})
    text = textwrap.dedent(f"""
        name = "tiny"
        encoder = "minilm"
        [data]
        {chr(10).join(f'{k} = {json.dumps(v)}' for k, v in files.items())}
        [matrix]
        models = {json.dumps(list(models))}
        losses = {json.dumps(list(losses))}
        noise = {json.dumps(list(noise))}
        seeds = [0]
        [training]
        epochs = 1
        """)
    (folder / "bench.toml").write_text(text, encoding="utf-8")
    return folder / "bench.toml"


def instant_train(config, train_docs, dev_docs, test_docs, *, relations, train_facts, out_dir, **kwargs):
    """Predicts nothing, at once, and writes what the trainer writes."""
    metrics = {"best_epoch": 1, "epochs": [{"epoch": 1}], "dev": score(dev_docs, [], train_facts)}
    if test_docs is not None:
        metrics["test"] = score(test_docs, [], train_facts)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for name, value in (("result.json", []), ("metrics.json", metrics), ("config.json", config.to_dict())):
        (Path(out_dir) / name).write_text(json.dumps(value), encoding="utf-8")
    return metrics


def must_not_train(*args, **kwargs):
    raise AssertionError("a second run trained while the first held the results folder")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out, err = capsys.readouterr()
    return e.value.code, out, err


# ---------------------------------------------------------------- one run per results folder; kill -9

SLEEPY_RUN = """
import os, sys, time
from pathlib import Path
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench

def sleepy_train(config, train_docs, dev_docs, test_docs, *, out_dir, **kwargs):
    Path(os.environ["MARKERS"], str(os.getpid())).write_text(str(out_dir))   # this worker trains in out_dir
    time.sleep(600)

config, out, n_jobs = sys.argv[1:]
run_bench(load_config(config), out, quiet=True, report=False, n_jobs=int(n_jobs), train_fn=sleepy_train)
"""


def start_sleepy_run(tmp_path: Path, toml: Path, out: Path, n_jobs: int, n_training: int) -> tuple[subprocess.Popen, dict]:
    """A runner whose cells train forever; returns once `n_training` cells are training: {worker pid: its folder}."""
    markers = tmp_path / "markers"
    markers.mkdir()
    script = tmp_path / "sleepy_run.py"
    script.write_text(SLEEPY_RUN, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(toml), str(out), str(n_jobs)],
                            env={**os.environ, "MARKERS": str(markers)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(list(markers.iterdir())) < n_training:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the cells did not start training in 240 s"
        time.sleep(0.1)
    time.sleep(0.2)  # let the marker texts land
    return proc, {int(p.name): Path(p.read_text()) for p in markers.iterdir()}


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_a_second_run_into_the_same_results_folder_is_refused_until_the_first_dies(tmp_path, capsys):
    toml = bench_toml(tmp_path / "bench")
    out = tmp_path / "results"
    first, _ = start_sleepy_run(tmp_path, toml, out, n_jobs=1, n_training=1)
    try:
        cfg = load_config(toml)
        with pytest.raises(DocrobustError, match=rf"another `docrobust bench run` \(pid {first.pid}\) is running into"):
            run_bench(cfg, out, quiet=True, report=False, train_fn=must_not_train)
        code, _, err = run_cli(capsys, "bench", "run", str(toml), "--out", str(out), "--quiet", "--no-report")
        assert code == 2 and len(err.splitlines()) == 1 and f"(pid {first.pid})" in err, err
        assert not ResultsStore(out).cell_ids()
    finally:
        os.kill(first.pid, signal.SIGKILL)   # the kernel releases the lock with the process
        first.wait()
    summary = run_bench(cfg, out, quiet=True, report=False, train_fn=instant_train)
    assert summary.ok and len(summary.ran) == 4


@pytest.mark.slow
def test_kill_9_of_a_parallel_run_ends_its_workers_and_the_next_run_removes_their_folders(tmp_path):
    toml = bench_toml(tmp_path / "bench")
    out = tmp_path / "results"
    runner, training = start_sleepy_run(tmp_path, toml, out, n_jobs=2, n_training=2)
    assert runner.pid not in training   # the cells train in loky worker processes
    try:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in training) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in training), "the loky workers outlived their runner"
    finally:
        for pid in training:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    # what the killed cells left is in the results folder's temporary area, and the next run removes it
    assert all(folder.parent == out / TEMP_AREA and folder.is_dir() for folder in training.values())
    summary = run_bench(load_config(toml), out, quiet=True, report=False, train_fn=instant_train)
    assert summary.ok and len(summary.ran) == 4
    assert not any(folder.exists() for folder in training.values())   # ... the next run removed
    assert not list((out / TEMP_AREA).iterdir())


# ---------------------------------------------------------------- a full disk, a read-only folder

def fail_writes_of(name: str, error: int, monkeypatch) -> None:
    """From now on, fsync of a file whose name contains `name` fails with `error` (as a full disk does)."""
    real_fsync = os.fsync

    def fsync(fd):
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(error, os.strerror(error))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_stops_bench_run_with_one_line_and_keeps_what_is_done(tmp_path, monkeypatch, capsys):
    toml = bench_toml(tmp_path / "bench")
    out = tmp_path / "results"
    monkeypatch.setattr(trainer, "train", instant_train)
    fail_writes_of("results.csv", errno.ENOSPC, monkeypatch)   # the table written after the first cell
    code, _, err = run_cli(capsys, "bench", "run", str(toml), "--out", str(out), "--quiet", "--no-report")
    assert code == 2 and err.splitlines() == [f"error: {out / 'results.csv'}: No space left on device"], err
    store = ResultsStore(out)
    assert len(store.cell_ids()) == 1 and store.read_cell(store.cell_ids()[0]).status == "done"
    monkeypatch.undo()   # space again: the run resumes where it stopped
    monkeypatch.setattr(trainer, "train", instant_train)
    code, out_text, _ = run_cli(capsys, "bench", "run", str(toml), "--out", str(out), "--quiet", "--no-report")
    assert code == 0 and "ran 3" in out_text


def test_a_full_disk_or_a_folder_as_output_stops_report_with_one_line(tmp_path, monkeypatch, capsys):
    from synthetic import write_synthetic_results

    results = write_synthetic_results(tmp_path / "results", models=("m",), losses=("atl",),
                                      noise={"fn-uniform": (0.2,)}, seeds=(0,), n_docs=5)
    (tmp_path / "folder.html").mkdir()
    code, _, err = run_cli(capsys, "report", str(results), "--out", str(tmp_path / "folder.html"))
    assert code == 2 and f"{tmp_path / 'folder.html'}' is a directory" in err and "Traceback" not in err, err
    fail_writes_of("report.html", errno.ENOSPC, monkeypatch)
    code, _, err = run_cli(capsys, "report", str(results), "--out", str(tmp_path / "report.html"))
    assert code == 2 and err.splitlines()[-1] == f"error: {tmp_path / 'report.html'}: No space left on device", err
    assert "Traceback" not in err and not (tmp_path / "report.html").exists()


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write in: chmod for a normal user; a read-only tmpfs for root, who ignores modes."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root without a way to make a read-only folder here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_output_folder_is_one_line(read_only_folder, tmp_path, capsys):
    save_docs(make_corpus(3), tmp_path / "in.json")
    for argv in (["noise", "generate", str(tmp_path / "in.json"), "--spec", "clean", "--out", str(read_only_folder / "x.json")],
                 ["noise", "profile", str(tmp_path / "in.json"), str(tmp_path / "in.json"), "--out",
                  str(read_only_folder / "p.json")]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.splitlines()) == 1 and str(read_only_folder) in err, err
        assert "read-only or permission denied" in err


# ---------------------------------------------------------------- bad input: one line, exit 2, whatever the command

def test_json_nested_too_deeply_is_one_line_in_every_command(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    good = tmp_path / "good.json"
    save_docs(make_corpus(3), good)
    for argv in (["data", "validate", str(deep)],
                 ["noise", "generate", str(deep), "--spec", "clean", "--out", str(tmp_path / "o.json")],
                 ["score", "--gold", str(good), "--pred", str(deep)],
                 ["score", "--gold", str(deep), "--pred", str(good)],
                 ["train", "--train", str(deep), "--dev", str(good), "--encoder", "minilm", "--relations", "infer",
                  "--out", str(tmp_path / "run")]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.splitlines() == [f"error: {deep}: JSON nested too deeply to read (Python's parser "
                                                  f"stops near {sys.getrecursionlimit()} levels); DocRED files nest 5 levels"]


def test_train_refuses_an_earlier_run_without_force(tmp_path, monkeypatch, capsys):
    save_docs(make_corpus(4), tmp_path / "docs.json")
    monkeypatch.setattr(trainer, "train", instant_train)
    argv = ["train", "--train", str(tmp_path / "docs.json"), "--dev", str(tmp_path / "docs.json"), "--encoder", "minilm",
            "--relations", "infer", "--out", str(tmp_path / "run"), "--quiet"]
    assert run_cli(capsys, *argv)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err == f"error: {tmp_path / 'run'} exists; pass --force to overwrite it\n"
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    assert run_cli(capsys, *argv, "--force")[0] == 0
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, *argv[:-3], "--out", str(tmp_path / "file"), "--force")
    assert code == 2 and "is a file" in err and "Traceback" not in err   # click refuses it


# ---------------------------------------------------------------- configs: checked in full, planned before downloads

def test_train_refuses_a_max_len_past_what_the_encoder_reads_before_reading_anything(tmp_path, monkeypatch, capsys):
    """`train --max-len 100000` tried to allocate ~160 GB; now one line naming the setting, exit 2, nothing written."""
    save_docs(make_corpus(4), tmp_path / "docs.json")
    monkeypatch.setattr(trainer, "train", must_not_train)
    code, _, err = run_cli(capsys, "train", "--train", str(tmp_path / "docs.json"), "--dev", str(tmp_path / "docs.json"),
                           "--encoder", "minilm", "--relations", "infer", "--out", str(tmp_path / "run"),
                           "--max-len", "100000")
    assert code == 2 and err.startswith("error: training option max_len: must be between 16 and 1024 ")
    assert err.endswith("got 100000\n") and err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_bench_check_reports_every_bad_setting_and_option_with_its_key_path(tmp_path, capsys):
    """Issue 10, item 12: these passed `bench check` and then failed every cell at run time."""
    toml = bench_toml(tmp_path)
    text = toml.read_text().replace("epochs = 1", 'epochs = "1"\ndevice = "tpu"\nlr_head = "fast"\nmax_len = 0')
    toml.write_text(text.replace("seeds = [0]", "seeds = [-1, 100000000000000000]") + textwrap.dedent("""
        [model_options.atlop]
        emb_sise = 64
        [model_options.docunet]
        emb_size = "big"
        [loss_options.cmm]
        gamma_typo = 2
        """))
    code, out, err = run_cli(capsys, "bench", "check", str(toml))
    assert code == 2 and out == "" and "Traceback" not in err
    assert sorted(err.splitlines()) == sorted(f"error: bench.toml: {line}" for line in [
        "model_options.atlop.emb_sise: no such option (did you mean 'emb_size'?); model 'atlop' takes emb_size, "
        "block_size, entity_pooling",
        "model_options.docunet.emb_size: expected int, got 'big'",
        "loss_options.cmm.gamma_typo: no such option (did you mean 'gamma'?); loss 'cmm' takes m, gamma, class_counts, "
        "margin, concentrate, weight, detach_weight, reduction, atl_weight",
        "training.epochs: expected int, got '1'",
        "training.device: must be auto, cpu, cuda, cuda:N or mps, got 'tpu'",
        "training.lr_head: expected float, got 'fast'",
        "training.max_len: must be between 16 and 1024 (the encoder reads a document as at most two windows of 512 "
        "positions), got 0",
        "matrix.seeds[0]: must be in [0, 2**32), got -1",
        "matrix.seeds[1]: must be in [0, 2**32), got 100000000000000000"])



def test_one_spec_written_two_ways_is_one_spec(tmp_path):
    with pytest.raises(DocrobustError) as e:
        load_config(bench_toml(tmp_path, noise=("clean", "fn-uniform:0.5", "fn-uniform:0.50")))
    assert e.value.problems == ["bench.toml: matrix.noise: duplicates fn-uniform:0.5"]
    cfg = load_config(bench_toml(tmp_path, noise=("fn-uniform:.50", "fn-frequency:0.4,exponent=1.0")))
    assert cfg.matrix["noise"] == ["fn-uniform:0.5", "fn-frequency:0.4"]
    assert [c.cell_id for c in cfg.cells()][:2] == ["atlop__atl__fn-uniform-0.5__s0", "atlop__cmm__fn-uniform-0.5__s0"]


def test_plan_checks_names_and_lists_missing_data_instead_of_refusing(tmp_path, capsys):
    toml = bench_toml(tmp_path, models=("atlopp",), losses=("cmm",))
    code, _, err = run_cli(capsys, "bench", "plan", str(toml), "--out", str(tmp_path / "results"))
    assert code == 2 and "matrix.models[0]: unknown model 'atlopp' (did you mean 'atlop'?)" in err
    toml = bench_toml(tmp_path / "b", data={"train": "redocred/train_revised.json", "relations": "meta/rel2id.json"})
    code, out, err = run_cli(capsys, "--data-dir", str(tmp_path / "empty"), "bench", "plan", str(toml),
                             "--out", str(tmp_path / "results"))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[-3] == f"4 cells: 4 pending -> {tmp_path / 'results'}"
    assert lines[-2:] == [f"missing data: train = 'redocred/train_revised.json' is not in {tmp_path / 'empty'} yet "
                          "(docrobust data download redocred-train)",
                          f"missing data: relations = 'meta/rel2id.json' is not in {tmp_path / 'empty'} yet "
                          "(docrobust data download rel2id)"]
    code, _, err = run_cli(capsys, "--data-dir", str(tmp_path / "empty"), "bench", "check", str(toml))
    assert code == 2 and "data.train: no such file 'redocred/train_revised.json'" in err   # check and run still refuse


def failing_train(config, *args, **kwargs):
    if config.loss == "cmm":
        raise RuntimeError("boom")
    return instant_train(config, *args, **kwargs)


def test_status_exits_1_unless_every_cell_is_done(tmp_path, capsys):
    toml = bench_toml(tmp_path)
    out = tmp_path / "results"
    summary = run_bench(load_config(toml), out, quiet=True, report=False, train_fn=failing_train)
    assert sorted(summary.statuses.values()) == ["done", "done", "failed", "failed"]
    code, text, _ = run_cli(capsys, "bench", "status", str(out))
    assert code == 1 and text.splitlines()[-1] == "4 cells: 2 done, 2 failed"
    run_bench(load_config(toml), out, quiet=True, report=False, retry_failed=True, train_fn=instant_train)
    code, text, _ = run_cli(capsys, "bench", "status", str(out))
    assert code == 0 and text.splitlines()[-1] == "4 cells: 4 done"
    assert set(cell_statuses(ResultsStore(out), load_config(toml).cells()).values()) == {"done"}
