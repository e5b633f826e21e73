"""The hostile user's kit (benchmarks/hostile_user.py): documents and bad files to feed the commands, the tally
of broken promises, one try through the real `docrobust` command, and the folders, disks and bench.toml the
tries share."""
from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DOCROBUST = [str(Path(sys.executable).with_name("docrobust"))]   # the installed command, beside this python


# ---------------------------------------------------------------- documents and files to break things with

def make_doc(title: str, n_ent: int, labels, n_sents: int) -> dict:
    """A valid DocRED document: entity i is mentioned once, in sentence i % n_sents, as token i."""
    sents = [[f"w{s}_{k}" for k in range(max(n_ent, 3))] for s in range(n_sents)]
    vertex = [[{"name": f"E{i}", "sent_id": i % n_sents, "pos": [i, i + 1], "type": "PER" if i % 2 else "LOC"}]
              for i in range(n_ent)]
    return {"title": title, "sents": sents, "vertexSet": vertex,
            "labels": [{"h": h, "t": t, "r": r, "evidence": [0]} for h, t, r in labels]}


def make_corpus(n_docs: int, seed: int, prefix: str = "D") -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        n_ent, n_sents = rng.randint(4, 9), rng.randint(3, 5)
        pairs = [(h, t) for h in range(n_ent) for t in range(n_ent) if h != t]
        labels = sorted({(h, t, rng.choice(("P1", "P2", "P3"))) for h, t in rng.sample(pairs, rng.randint(1, 6))})
        docs.append(make_doc(f"{prefix}{i}", n_ent, labels, n_sents))
    return docs


def deep(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


def bad_files(folder: Path, good: list[dict]) -> dict[str, Path]:
    """Files a hostile user feeds to every command that reads documents."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = good[0]
    contents: dict[str, bytes] = {
        "empty": b"", "not-json": b"{not json", "not-utf8": b'["\xc3\x28"]', "a-dict": b'{"title": "x"}',
        "a-number": b"3", "null": b"null", "list-of-ints": b"[1, 2, 3]", "nan": b"[NaN]",
        "deep-100000": b"[" * 100_000 + b"]" * 100_000,
        "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "deep-evidence": json.dumps([{**doc, "labels": [{**doc["labels"][0], "evidence": deep(900)}]}]).encode(),
        "deep-title": json.dumps([{**doc, "title": deep(900)}]).encode(),
        "huge-index": json.dumps([{**doc, "labels": [{**doc["labels"][0], "h": 10 ** 30}]}]).encode(),
        "float-index": json.dumps([{**doc, "labels": [{**doc["labels"][0], "h": 0.5}]}]).encode(),
        "bool-index": json.dumps([{**doc, "labels": [{**doc["labels"][0], "t": True}]}]).encode(),
        "no-vertexset": json.dumps([{k: v for k, v in doc.items() if k != "vertexSet"}]).encode(),
        "mention-not-dict": json.dumps([{**doc, "vertexSet": [["x"]] + doc["vertexSet"][1:]}]).encode(),
        "pos-reversed": json.dumps([{**doc, "vertexSet": [[{**doc["vertexSet"][0][0], "pos": [2, 1]}]]
                                     + doc["vertexSet"][1:]}]).encode(),
        "labels-dict": json.dumps([{**doc, "labels": {"h": 0}}]).encode(),
        "long-string": json.dumps([{**doc, "title": 5, "sents": "x" * 1_000_000}]).encode(),
    }
    paths = {name: folder / f"{name}.json" for name in contents}
    for name, data in contents.items():
        paths[name].write_bytes(data)
    paths["missing"] = folder / "missing.json"
    paths["a-folder"] = folder / "a-folder.json"
    paths["a-folder"].mkdir(exist_ok=True)
    return paths


# ---------------------------------------------------------------- the tally

@dataclass
class Tally:
    tries: int = 0
    tracebacks: list[str] = field(default_factory=list)
    data_lost: list[str] = field(default_factory=list)
    configs_accepted: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    processes_left: list[str] = field(default_factory=list)

    def kinds(self) -> tuple[tuple[str, list[str]], ...]:
        return (("traceback", self.tracebacks), ("data lost", self.data_lost),
                ("bad config accepted", self.configs_accepted), ("stale result", self.stale),
                ("process left", self.processes_left))

    def line(self) -> str:
        return (f"tries {self.tries}, tracebacks {len(self.tracebacks)}, data lost {len(self.data_lost)}, "
                f"bad configs accepted {len(self.configs_accepted)}, stale results {len(self.stale)}, "
                f"processes left {len(self.processes_left)}")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Hostile:
    def __init__(self, root: Path, seed: int):
        self.root, self.rng, self.tally = root, random.Random(seed), Tally()
        self.env = {k: v for k, v in os.environ.items() if k not in ("DOCROBUST_DATA", "DOCROBUST_MIRROR")}
        self.env["DOCROBUST_DATA"] = str(root / "data-folder")   # an empty data folder: nothing found by accident

    def run(self, what: str, argv: list[str], *, status: int | tuple = 2, expect: str | None = None,
            lines: int | None = 1, prefix: list[str] | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        """One try: a command that must exit with `status`, print no traceback, and (status 2) say what is wrong
        in `lines` lines on stderr, containing `expect`. `prefix` replaces the `docrobust` command."""
        self.tally.tries += 1
        done = subprocess.run((prefix or DOCROBUST) + argv, capture_output=True, text=True, env=env or self.env,
                              timeout=600, cwd=self.root)
        ok_status = done.returncode in (status if isinstance(status, tuple) else (status,))
        err_lines = [line for line in done.stderr.splitlines() if line.strip()]
        if "Traceback" in done.stderr or not ok_status:
            self.tally.tracebacks.append(f"{what}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
        elif done.returncode == 2 and lines is not None and len(err_lines) > lines:
            self.tally.tracebacks.append(f"{what}: {len(err_lines)} lines for one problem: {err_lines[:3]}")
        elif expect is not None and expect not in done.stderr + done.stdout:
            self.tally.tracebacks.append(f"{what}: says {done.stderr.strip()[:200]!r}, not {expect!r}")
        return done

    def lost(self, what: str, ok: bool) -> None:
        if not ok:
            self.tally.data_lost.append(what)

    def config(self, what: str, command: str, toml: Path, *extra: str) -> None:
        """A bench.toml with a mistake: `bench <command>` must refuse it (exit 2), one line per problem."""
        self.tally.tries += 1
        done = subprocess.run(DOCROBUST + ["bench", command, str(toml), *extra], capture_output=True, text=True,
                              env=self.env, cwd=self.root)
        if done.returncode == 0:
            self.tally.configs_accepted.append(f"{what} ({command})")
        elif done.returncode != 2 or "Traceback" in done.stderr:
            self.tally.tracebacks.append(f"{what} ({command}): exit {done.returncode}: {done.stderr.strip()[-300:]}")


@contextmanager
def _tmpfs(path: Path, options: str):
    """A tmpfs mounted at `path` with `options` while the block runs: True when mounted (root), else False."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextmanager
def read_only_folder(path: Path):
    with _tmpfs(path, "ro,size=64k") as mounted:
        if mounted:
            yield path
            return
    path.chmod(0o555)   # root without mount rights ignores this, and the tries then fail: say so
    try:
        yield path
    finally:
        path.chmod(0o755)


@contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` at `path` (root), else None: the caller injects ENOSPC instead."""
    with _tmpfs(path, f"size={size}") as mounted:
        yield path if mounted else None


BENCH_TOML = """
name = "hostile"
encoder = "minilm"
[data]
train = "{folder}/train.json"
dev = "{folder}/dev.json"
test = "{folder}/test.json"
[matrix]
models = ["atlop"]
losses = {losses}
noise = {noise}
seeds = [0]
[training]
epochs = 1
"""

RUN_WITH = """
import os, sys, time
from pathlib import Path
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.corpus import score

def sleepy(config, train_docs, dev_docs, test_docs, *, out_dir, **kwargs):
    Path(os.environ["MARKERS"], str(os.getpid())).write_text(str(out_dir))
    time.sleep(600)

def instant(config, train_docs, dev_docs, test_docs, *, train_facts, out_dir, **kwargs):
    import json
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    metrics = {"best_epoch": 1, "epochs": [], "dev": score(dev_docs, [], train_facts), "test": score(test_docs, [], train_facts)}
    for name, value in (("result.json", []), ("metrics.json", metrics), ("config.json", config.to_dict())):
        (Path(out_dir) / name).write_text(json.dumps(value))
    return metrics

if os.environ.get("FULL_DISK_AT"):   # no tmpfs: the disk fills after this many fsyncs
    left = [int(os.environ["FULL_DISK_AT"])]
    real_fsync = os.fsync
    def fsync(fd):
        left[0] -= 1
        if left[0] < 0:
            raise OSError(28, "No space left on device")
        real_fsync(fd)
    os.fsync = fsync

def failing(config, train_docs, dev_docs, test_docs, *, out_dir, **kwargs):
    (Path(out_dir) / "config.json").write_text("{}")   # half a run, then the disk fills
    raise OSError(28, "No space left on device", str(Path(out_dir) / "metrics.json"))

mode, train = sys.argv[1:3]
fn = {"sleepy": sleepy, "instant": instant, "failing": failing}[train]
if mode == "cli":   # the real command with the trainer replaced (its cells run in this process)
    import docrobust.models.train as trainer
    from docrobust.bench.cli import main
    trainer.train = fn
    main(sys.argv[3:])
else:               # the API, so that loky workers get the function too
    config, out, n_jobs = sys.argv[3:]
    summary = run_bench(load_config(config), out, quiet=True, report=False, n_jobs=int(n_jobs), train_fn=fn)
    sys.exit(0 if summary.ok else 1)
"""


def write_bench(folder: Path, losses=("atl", "cmm"), noise=("clean", "fn-uniform:0.5")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 12, 1), ("dev", 4, 2), ("test", 4, 3)):
        (folder / f"{split}.json").write_text(json.dumps(make_corpus(n, seed, split)))
    toml = folder / "bench.toml"
    toml.write_text(BENCH_TOML.format(folder=folder, losses=json.dumps(list(losses)), noise=json.dumps(list(noise))))
    return toml


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
