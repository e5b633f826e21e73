"""External models: any program in the benchmark matrix, trained and predicting on the cell's exact inputs.

    [models.mine]
    command = "python my_train.py --train {train} --dev {dev} --test {test} --out {out} --seed {seed}"
    workdir = "../my-model"           # where the command runs (default: the bench.toml's folder)
    env = { HF_HOME = "/data/hf" }    # added to the environment
    gpus = 1                          # GPUs the command sees (default and at most: execution.gpus_per_run)
    timeout = 86400                   # seconds (default 24 h)

The contract, per cell: the runner writes the noisy training set ({train}), the clean dev set ({dev}) and
the test set without its labels ({test}) as DocRED JSON, sliced as bench.toml slices them, and the relation
inventory ({relations}: a rel_info.json, relation id -> name); {out} is an empty folder and {seed} the cell's
seed ({loss}, when the command names it, crosses the model with the matrix's losses; without it the model
has one loss, `own`). The command runs without a shell (write `bash -c '...'` for pipes), its output and
errors streamed to `command.log` in the cell's working folder (on Dask, on the worker, whose workdir path
must hold the same code). It succeeds when it exits 0 having written
{out}/result.json: predictions in the official format ([{"title", "h_idx", "t_idx", "r"}], as ATLOP writes
them), and, optionally, {out}/dev_result.json for the dev set. Those are scored with docrobust's official
scorer against the gold labels, so the cell's metrics.json is the same as our models'. Anything else (a
non-zero exit, a timeout, a missing or malformed result.json) is a failed cell, with the log's tail.

What a cell computes, and so its config hash, is the command line as written, `env`, and the hash of the
workdir's tracked files (the content of every file git tracks or would track under it, .gitignore'd ones left
out; of every file when it is not in a git repository), besides the data and the matrix coordinates: editing
the model's code reruns its cells.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docrobust.base import DocrobustError, atomic_write_json, dumps_json, read_json
from docrobust.corpus import score
from docrobust.corpus.score import check_preds

PLACEHOLDERS = ("train", "dev", "test", "out", "seed", "relations", "loss")
REQUIRED_PLACEHOLDERS = ("test", "out")
KEYS = {"command": str, "workdir": str, "env": dict, "gpus": int, "timeout": (int, float)}
OWN_LOSS = "own"               # the loss of an external model whose command does not take {loss}
DEFAULT_TIMEOUT = 24 * 3600.0
LOG_TAIL_LINES = 40            # lines of the log that a failed cell's record keeps
LOG_KEPT_BYTES = 1 << 20       # the end of command.log kept in the cell folder
MAX_UNTRACKED_FILES = 5000     # a workdir outside git is hashed file by file, up to this many


# ---------------------------------------------------------------- configuration

def check_models(tables: dict[str, Any], builtin: Any, execution: dict, base: Path, where, problems: list[str]) -> dict:
    """Resolve and check every [models.NAME] table; return NAME -> spec (command, workdir, env, gpus, timeout,
    tree_hash). `builtin`: our model names, which an external model may not take; `base`: the bench.toml's folder."""
    specs = {}
    for name, table in tables.items():
        bad = _table_problems(name, table, builtin, execution)
        workdir = (base / table.get("workdir", ".")).resolve() if isinstance(table.get("workdir", "."), str) else None
        if workdir is not None and not workdir.is_dir():
            bad.append(("workdir", f"no such folder {str(workdir)!r}"))
        if bad:
            problems += [f"{where('models', name, *([key] if key else []))}: {reason}" for key, reason in bad]
            continue
        try:
            tree = tree_hash(workdir)
        except DocrobustError as e:
            problems.append(f"{where('models', name, 'workdir')}: {e.problems[0]}")
            continue
        specs[name] = {"command": table["command"], "workdir": str(workdir), "env": dict(table.get("env", {})),
                       "gpus": table.get("gpus", execution["gpus_per_run"]),
                       "timeout": float(table.get("timeout", DEFAULT_TIMEOUT)), "tree_hash": tree}
    return specs


def _table_problems(name: str, table: dict, builtin: Any, execution: dict) -> list[tuple[str | None, str]]:
    """(key or None, what is wrong) for every problem of one [models.NAME] table."""
    if name in builtin:
        return [(None, f"{name!r} is one of docrobust's models; give your model another name")]
    bad: list[tuple[str | None, str]] = [(k, f"unknown key; allowed: {', '.join(KEYS)}")
                                         for k in table if k not in KEYS]
    typed = {k: v for k, v in table.items() if k in KEYS and isinstance(v, KEYS[k]) and not isinstance(v, bool)}
    bad += [(k, f"expected {_kind(KEYS[k])}, got {v!r}") for k, v in table.items() if k in KEYS and k not in typed]
    if "command" not in table:
        bad.append(("command", "missing (the command line that trains and predicts; README: Benchmark your own model)"))
    if "command" in typed:
        bad += [("command", p) for p in placeholder_problems(typed["command"])]
    bad += [("env", f"{k}: expected a string value, got {v!r}") for k, v in typed.get("env", {}).items()
            if not isinstance(v, str)]
    gpus = typed.get("gpus", execution["gpus_per_run"])
    if not 0 <= gpus <= execution["gpus_per_run"]:
        bad.append(("gpus", f"must be between 0 and execution.gpus_per_run ({execution['gpus_per_run']}), got {gpus}"))
    if typed.get("timeout", 1) <= 0:
        bad.append(("timeout", f"must be > 0 seconds, got {typed['timeout']}"))
    return bad


def _kind(kind: Any) -> str:
    return {str: "a string", dict: "a table", int: "an integer"}.get(kind, "a number")


def placeholder_problems(command: str) -> list[str]:
    """What is wrong with a command template: bad quoting or braces, unknown placeholders, missing required ones."""
    try:
        tokens = shlex.split(command)
        fields = {f for token in tokens for _, f, _, _ in string.Formatter().parse(token) if f is not None}
    except ValueError as e:
        return [f"cannot be read ({e}); quote like a shell and write a literal brace as {{{{ or }}}}"]
    if not tokens:
        return ["empty"]
    unknown = sorted(fields - set(PLACEHOLDERS))
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    problems = [f"unknown placeholder {{{f}}}; known: {known}" for f in unknown]
    problems += [f"needs {{{p}}}" for p in REQUIRED_PLACEHOLDERS if p not in fields]
    return problems


def losses_for(spec: dict | None, losses: list[str]) -> list[str]:
    """The losses a model crosses: the matrix's for our models and for commands that take {loss}, else `own`."""
    return losses if spec is None or "{loss}" in spec["command"] else [OWN_LOSS]


def external_task(task: dict, spec: dict, cell: Any) -> dict:
    """The runner's task for a cell of an external model: the same inputs, and the model's spec."""
    if "failed" in task:
        return task
    return {**task, "external": spec, "seed": cell.seed, "loss": cell.loss}


def cell_config(spec: dict, model: str, loss: str, noise: str, seed: int, data: dict, relations: str) -> dict:
    """What an external cell computes: its coordinates, the data by content, the command as written, env and the
    workdir's tracked-files hash. The empty trainer tables keep the runner's task builder uniform."""
    return {"model": model, "loss": loss, "noise": noise, "seed": seed, "data": data, "relations": relations,
            "external": {k: spec[k] for k in ("command", "env", "tree_hash")},
            "training": {}, "loss_options": {}, "model_options": {}}


def tree_hash(workdir: Path) -> str:
    """sha256 over (path, content sha256) of the files git tracks under `workdir`, as they are on disk now, and of
    those it would track (new files that .gitignore does not exclude); of every file under it when it is not in a
    git work tree (hidden folders and __pycache__ left out). Checkpoints and data a .gitignore excludes do not count."""
    try:
        listed = subprocess.run(["git", "-C", str(workdir), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard", "--", "."],
                                capture_output=True, timeout=60)
        tracked = listed.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        tracked = False
    if tracked:
        files = sorted({f for f in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if f})
    else:
        files = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")
                       if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                                  for part in p.relative_to(workdir).parts))
        if len(files) > MAX_UNTRACKED_FILES:
            raise DocrobustError(f"{workdir} is not in a git repository and holds {len(files):,} files; put the model's "
                              f"code under git (its tracked files are hashed) or point workdir at the code alone")
    digest = hashlib.sha256()
    for f in files:
        path = workdir / f
        content = _file_sha256(path) if path.is_file() else "absent"
        digest.update(f"{f}\0{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- the worker

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


def run_external(task: dict) -> dict:
    """Run one external cell (the runner's task, with "external": the model's spec) and return its outcome, as
    runner.run_cell does for our models: {"cell_id", "status", "files", "timing", "versions", "worker",
    "started", "finished", "error", "traceback"}. Never raises."""
    from .runner import _error_of, _worker_name

    t0, started = time.perf_counter(), time.time()
    out: dict[str, Any] = {"cell_id": task["cell_id"], "status": "failed", "files": {}, "error": None,
                           "traceback": None, "worker": _worker_name(), "started": started,
                           "versions": {"docrobust": _version(), "python": sys.version.split()[0]}}
    spec = task["external"]
    seconds = 0.0
    tmp = None
    try:
        if task.get("tmp_dir"):
            os.makedirs(task["tmp_dir"], exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{task['cell_id']}-", dir=task.get("tmp_dir")))
        fields = _write_inputs(task, tmp)
        argv = [token.format(**fields) for token in shlex.split(spec["command"])]
        log_path = tmp / "command.log"
        t1 = time.perf_counter()
        status = _run(argv, spec, task, log_path)
        seconds = time.perf_counter() - t1
        out["files"]["config.json"] = dumps_json({"command": argv, "workdir": spec["workdir"], "env": spec["env"],
                                                  "exit_status": status, "seconds": seconds,
                                                  "tree_hash": spec["tree_hash"]}, indent=1) + "\n"
        out["files"]["command.log"] = _tail_bytes(log_path, LOG_KEPT_BYTES)
        problem = _status_problem(status, spec["timeout"]) or _score(task, Path(fields["out"]), out["files"])
        if problem:
            out.update(error=problem, traceback=_tail_lines(log_path, LOG_TAIL_LINES))
        else:
            out["status"] = "done"
    except Exception as e:  # writing the inputs, starting the program: still an outcome
        out.update(_error_of(e))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    out["finished"] = time.time()
    out["timing"] = {"train_seconds": seconds, "total_seconds": time.perf_counter() - t0}
    return out


def _write_inputs(task: dict, folder: Path) -> dict[str, str]:
    """The cell's inputs as files, and the placeholder values: train (noisy), dev, test (labels withheld)."""
    inputs = folder / "inputs"
    inputs.mkdir()
    test = [{k: v for k, v in d.items() if k != "labels"} for d in task["test_docs"]]
    relations = task["relations"]
    files = {"train": task["train_docs"], "dev": task["dev_docs"], "test": test,
             "relations": {r: relations.name(r) for r in relations.ids}}
    paths = {}
    for key, value in files.items():
        path = inputs / ("rel_info.json" if key == "relations" else f"{key}.json")
        atomic_write_json(path, value, indent=None)
        paths[key] = str(path)
    (folder / "out").mkdir()
    return {**paths, "out": str(folder / "out"), "seed": str(task["seed"]), "loss": task["loss"]}


def _run(argv: list[str], spec: dict, task: dict, log_path: Path) -> int | None:
    """Run the command with its output streamed to `log_path`; its exit status, or None when it timed out.

    It runs in a session of its own, so that a timeout ends everything it started, and dies with the runner."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec["env"]}
    queue = task.get("gpus")   # the local backend's GPU ids; None on Dask, whose workers set CUDA_VISIBLE_DEVICES
    held = [queue.get() for _ in range(spec["gpus"])] if queue is not None else []
    if spec["gpus"] == 0 or held:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, held))
    if sys.platform.startswith("linux"):
        argv = [sys.executable, "-c", _EXEC, str(os.getpid()), *argv]
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, cwd=spec["workdir"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                return proc.wait(timeout=spec["timeout"])
            except subprocess.TimeoutExpired:
                return None
            finally:
                _kill_group(proc)
    finally:
        for gpu in held:
            queue.put(gpu)


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


def _score(task: dict, out: Path, files: dict[str, str]) -> str | None:
    """Score {out}/result.json (and dev_result.json when written) with the official scorer into files; or why not."""
    result = out / "result.json"
    if not result.is_file():
        return f"the command exited 0 but wrote no {{out}}/result.json (files there: {_listing(out)})"
    try:
        preds = check_preds(read_json(result), "{out}/result.json")
        pair_types = task["training"].get("pair_types")   # bench.toml's data.pair_types: only those pairs count
        metrics: dict[str, Any] = {"test": score(task["test_docs"], preds, task["train_facts"],
                                                 frequent=task["frequent"], pair_types=pair_types)}
        if (out / "dev_result.json").is_file():
            dev = check_preds(read_json(out / "dev_result.json"), "{out}/dev_result.json")
            metrics["dev"] = score(task["dev_docs"], dev, task["train_facts"], frequent=task["frequent"],
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


def _version() -> str:
    from importlib.metadata import version
    return version("docrobust")
