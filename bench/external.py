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

This module reads and checks the [models.NAME] tables and decides a cell's config; a worker runs the cell with
bench/external_run.py.
"""
from __future__ import annotations

import hashlib
import shlex
import string
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from docrobust.base import DocrobustError, Range, sha256_file, table_problems

from .tasks import Task

PLACEHOLDERS = ("train", "dev", "test", "out", "seed", "relations", "loss")
REQUIRED_PLACEHOLDERS = ("test", "out")
OWN_LOSS = "own"               # the loss of an external model whose command does not take {loss}
DEFAULT_TIMEOUT = 24 * 3600.0
MAX_UNTRACKED_FILES = 5000     # a workdir outside git is hashed file by file, up to this many


@dataclass
class ExternalModel:
    """A [models.NAME] table, checked with the schema (base/schema.py); the command's placeholders, the GPUs'
    upper bound (execution.gpus_per_run) and the workdir's existence are checked beside it (check_models)."""
    command: Annotated[str, "The command line that trains and predicts, with placeholders ({test}, {out}, ...)."]
    workdir: Annotated[str, "Where the command runs, relative to the bench.toml's folder."] = "."
    env: Annotated[dict[str, str], "Added to the command's environment."] = field(default_factory=dict)
    gpus: Annotated[int | None, Range(0), "GPUs the command sees (default and at most: execution.gpus_per_run)."] = None
    timeout: Annotated[float, Range(0, low_open=True, says="> 0 seconds"), "Seconds before it is killed."] = \
        DEFAULT_TIMEOUT


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
            problems += [f"{where('models', name, *(key.split('.', 1) if key else []))}: {reason}"
                         for key, reason in bad]
            continue
        try:
            tree = tree_hash(workdir)
        except DocrobustError as e:
            problems.append(f"{where('models', name, 'workdir')}: {e.problems[0]}")
            continue
        model = ExternalModel(**table)
        specs[name] = {"command": model.command, "workdir": str(workdir), "env": dict(model.env),
                       "gpus": execution["gpus_per_run"] if model.gpus is None else model.gpus,
                       "timeout": float(model.timeout), "tree_hash": tree}
    return specs


def _table_problems(name: str, table: dict, builtin: Any, execution: dict) -> list[tuple[str | None, str]]:
    """(key path or None, what is wrong) for every problem of one [models.NAME] table."""
    if name in builtin:
        return [(None, f"{name!r} is one of docrobust's models; give your model another name")]
    bad: list[tuple[str | None, str]] = list(table_problems(ExternalModel, table))
    if isinstance(table.get("command"), str):
        bad += [("command", p) for p in placeholder_problems(table["command"])]
    gpus, most = table.get("gpus"), execution["gpus_per_run"]
    if type(gpus) is int and gpus > most:
        bad.append(("gpus", f"must be between 0 and execution.gpus_per_run ({most}), got {gpus}"))
    return bad


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


def external_task(task: Task, spec: dict, cell: Any) -> Task:
    """The runner's task for a cell of an external model: the same inputs, the model's spec and its GPUs."""
    if task.error is not None:
        return task
    return replace(task, external=spec, seed=cell.seed, loss=cell.loss, gpus=spec["gpus"])


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
        content = sha256_file(path) if path.is_file() else "absent"
        digest.update(f"{f}\0{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
