"""An external model's cell, on the worker: its inputs written as files, its command run in a session of its own
that ends with the runner, its result.json scored with the official scorer (the contract: bench/external.py)."""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from importlib.metadata import version
from pathlib import Path
from typing import Any

from docrobust.base import DocrobustError, atomic_write_json, dumps_json, read_json
from docrobust.corpus import score
from docrobust.corpus.score import check_preds

from .tasks import Outcome, Task, gpu_lease, outcome_of

LOG_TAIL_LINES = 40            # lines of the log that a failed cell's record keeps
LOG_KEPT_BYTES = 1 << 20       # the end of command.log kept in the cell folder


# The command's first process, the leader of its own session: it starts the command as its child, and when the
# runner dies (PR_SET_PDEATHSIG sends SIGHUP, even after kill -9 or a SIGTERM) it kills the whole session, the
# command's grandchildren included; otherwise it exits as the command did. The runner kills the session itself on
# a timeout, an exit and an interrupt (_run).
_EXEC = """\
import ctypes, os, signal, sys
signal.signal(signal.SIGHUP, lambda *_: os.killpg(0, signal.SIGKILL))
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGHUP)
if os.getppid() != int(sys.argv[1]):
    os.killpg(0, signal.SIGKILL)  # the runner died before prctl
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as e:
        sys.stderr.write(f"cannot start {sys.argv[2]!r}: {e.strerror}\\n")
        os._exit(1)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
if code < 0:  # killed by a signal: end the same way, so that the runner reports it
    if -code != signal.SIGKILL:
        signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def run_external(task: Task) -> Outcome:
    """Run one external cell (a task with `external`: the model's spec) and return its outcome, as worker.run_cell
    does for our models: the cell folder's files (config.json, command.log, result.json, metrics.json). Never raises."""
    with outcome_of(task) as out:
        out.versions = {"docrobust": version("docrobust"), "python": sys.version.split()[0]}
        if task.tmp_dir:
            os.makedirs(task.tmp_dir, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{task.cell_id}-", dir=task.tmp_dir))
        try:
            _run_in(tmp, task, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _run_in(tmp: Path, task: Task, out: Outcome) -> None:
    """Write the inputs into `tmp`, run the command holding the cell's GPUs, and score what it wrote into `out`."""
    spec = task.external
    fields = _write_inputs(task, tmp)
    argv = [token.format(**fields) for token in shlex.split(spec["command"])]
    log_path = tmp / "command.log"
    t1 = time.perf_counter()
    with gpu_lease(task) as gpus:
        status = _run(argv, spec, gpus, log_path)
    out.train_seconds = time.perf_counter() - t1
    out.files["config.json"] = dumps_json({"command": argv, "workdir": spec["workdir"], "env": spec["env"],
                                           "exit_status": status, "seconds": out.train_seconds,
                                           "tree_hash": spec["tree_hash"]}, indent=1) + "\n"
    out.files["command.log"] = _tail_bytes(log_path, LOG_KEPT_BYTES)
    problem = _status_problem(status, spec["timeout"]) or _score(task, Path(fields["out"]), out.files)
    if problem:
        out.error, out.traceback = problem, _tail_lines(log_path, LOG_TAIL_LINES)
    else:
        out.status = "done"


def _write_inputs(task: Task, folder: Path) -> dict[str, str]:
    """The cell's inputs as files, and the placeholder values: train (noisy), dev, test (labels withheld)."""
    inputs = folder / "inputs"
    inputs.mkdir()
    test = [{k: v for k, v in d.items() if k != "labels"} for d in task.test_docs]
    relations = task.relations
    files = {"train": task.train_docs, "dev": task.dev_docs, "test": test,
             "relations": {r: relations.name(r) for r in relations.ids}}
    paths = {}
    for key, value in files.items():
        path = inputs / ("rel_info.json" if key == "relations" else f"{key}.json")
        atomic_write_json(path, value, indent=None)
        paths[key] = str(path)
    (folder / "out").mkdir()
    return {**paths, "out": str(folder / "out"), "seed": str(task.seed), "loss": task.loss}


def _run(argv: list[str], spec: dict, gpus: Collection[int], log_path: Path) -> int | None:
    """Run the command with its output streamed to `log_path`; its exit status, or None when it timed out.

    It sees the GPU ids `gpus` held for it from the local backend's queue; with none held, the worker's own
    (on Dask, its CUDA_VISIBLE_DEVICES), or none at all when its spec asks for no GPU. It runs in a session of
    its own, so that a timeout ends everything it started, and dies with the runner."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec["env"]}
    if spec["gpus"] == 0 or gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    if sys.platform.startswith("linux"):
        argv = [sys.executable, "-c", _EXEC, str(os.getpid()), *argv]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=spec["workdir"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=spec["timeout"])
        except subprocess.TimeoutExpired:
            return None
        finally:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """End the command's session: what is left of it after it exited, or all of it on a timeout."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _status_problem(status: int | None, timeout: float) -> str | None:
    if status is None:
        return f"the command timed out after {timeout:g} s (models.<name>.timeout) and was killed"
    if status < 0:
        return f"the command was killed by signal {-status} ({signal.Signals(-status).name})"
    if status:
        return f"the command exited with status {status}"
    return None


def _score(task: Task, out: Path, files: dict[str, str | bytes]) -> str | None:
    """Score {out}/result.json (and dev_result.json when written) with the official scorer into files; or why not."""
    result = out / "result.json"
    if not result.is_file():
        return f"the command exited 0 but wrote no {{out}}/result.json (files there: {_listing(out)})"
    try:
        preds = check_preds(read_json(result), "{out}/result.json")
        pair_types = task.training.get("pair_types")   # bench.toml's data.pair_types: only those pairs count
        metrics: dict[str, Any] = {"test": score(task.test_docs, preds, task.train_facts,
                                                 frequent=task.frequent, pair_types=pair_types)}
        if (out / "dev_result.json").is_file():
            dev = check_preds(read_json(out / "dev_result.json"), "{out}/dev_result.json")
            metrics["dev"] = score(task.dev_docs, dev, task.train_facts, frequent=task.frequent,
                                   pair_types=pair_types)
    except DocrobustError as e:
        return "; ".join(e.problems[:3]).replace(str(out), "{out}")
    files["result.json"] = dumps_json(preds) + "\n"
    files["metrics.json"] = dumps_json(metrics, indent=1) + "\n"
    return None


def _listing(folder: Path) -> str:
    names = sorted(p.name for p in folder.iterdir())
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "") if names else "none"


def _tail_bytes(path: Path, n: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - n))
        return f.read().decode("utf-8", "replace")


def _tail_lines(path: Path, n: int) -> str:
    lines = _tail_bytes(path, 64 * 1024).splitlines()[-n:]
    return "command.log, last lines:\n" + "\n".join(lines) if lines else "command.log is empty"

