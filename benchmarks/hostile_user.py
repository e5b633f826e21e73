"""Replay the hostile-user passes (issues 10 and 19): bad files, bad configs, kills at random moments, a full disk,
read-only folders and two runs at once; outputs over inputs named anywhere, files changed under a finished run,
chained noise specs, external commands with grandchildren, failed runs and their reruns, and configs that pass
`bench check` but would fail every cell; each through the real `docrobust` command in its own process.

    python benchmarks/hostile_user.py [--seed 0] [--keep DIR]

Every try is one command (or one kill) with what we promise for it; the script counts
  tracebacks             a Python traceback on stderr, or an exit status other than the promised one;
  data lost              an input whose bytes changed, a special file replaced, a noisy file whose manifest
                         does not replay to it, a finished cell lost or unreadable, a worker outliving its runner;
  bad configs accepted   a bench.toml with a mistake that `bench check` or `bench plan` lets through;
  stale results          a cell or noisy set not rebuilt after a file it depends on changed, or a result that is
                         not what it says (a chained spec's false positive that is a clean label);
  processes left         a process of an external command (its grandchildren included) outliving its runner;
prints each try that broke a promise, and ends with
    tries N, tracebacks 0, data lost 0, bad configs accepted 0, stale results 0, processes left 0
Needs no data (it builds its documents) and no network; the full-disk and read-only cases use small tmpfs
mounts when run as root, else an injected OSError and a chmod-ed folder. Takes a few minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
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


# ---------------------------------------------------------------- the cases

def bad_input(h: Hostile, good: Path, bad: dict[str, Path]) -> None:
    """Bad files into every command that reads documents, predictions or training facts: one line-set, exit 2."""
    out = h.root / "outputs"
    for name, path in bad.items():
        p = str(path)
        h.run(f"data validate {name}", ["data", "validate", p, "--relations", "infer"], lines=None)
        h.run(f"data stats {name}", ["data", "stats", p], lines=None)
        h.run(f"noise generate {name}", ["noise", "generate", p, "--spec", "fn-uniform:0.3", "--out",
                                          str(out / f"{name}.json")], lines=None)
        h.run(f"noise profile {name}", ["noise", "profile", p, str(good)], lines=None)
        h.run(f"score --gold {name}", ["score", "--gold", p, "--pred", str(good)], lines=None)
        h.run(f"score --pred {name}", ["score", "--gold", str(good), "--pred", p], lines=None)
    for name in ("deep-100000", "deep-object", "not-json", "missing"):   # train stops before any training
        h.run(f"train --train {name}", ["train", "--train", str(bad[name]), "--dev", str(good), "--encoder", "minilm",
                                        "--relations", "infer", "--out", str(out / f"run-{name}")], lines=None)
    train = ["train", "--train", str(good), "--dev", str(good), "--encoder", "minilm", "--relations", "infer", "--quiet"]
    for name, args, says in (("max_len 100000", ["--max-len", "100000"], "max_len: must be between 16 and 1024"),
                             ("a misspelled model option", ["--model-option", "emb_sise=64"], "did you mean 'emb_size'"),
                             ("a model option of the wrong type", ["--model-option", "emb_size=big"], "expected int"),
                             ("a misspelled loss option", ["--loss", "cmm", "--loss-option", "gamma_typo=2"],
                              "did you mean 'gamma'"),
                             ("device tpu", ["--device", "tpu"], "device: must be auto, cpu"),
                             ("a marker the tokenizer splits", ["--marker", "<m>"], "no single token for the mention "
                                                                                    "marker '<m>'")):
        h.run(f"train with {name}", train + args + ["--out", str(out / f"run-{name.replace(' ', '-')}")], expect=says)
    h.run("noise generate: bad spec", ["noise", "generate", str(good), "--spec", "fn-uniform:abc", "--out",
                                        str(out / "x.json")])
    h.run("noise generate: unknown model", ["noise", "generate", str(good), "--spec", "fn-unifrom:0.3", "--out",
                                             str(out / "x.json")])
    dup = bad["a-dict"].parent / "duplicate-titles.json"
    dup.write_text(json.dumps([json.loads(good.read_text())[0]] * 2))
    h.run("noise generate: duplicate titles", ["noise", "generate", str(dup), "--spec", "fn-uniform:0.3", "--out",
                                                str(out / "dup.json")], expect="share the title")
    h.run("noise generate: rate past what exists", ["noise", "generate", str(good), "--spec", "fn-uniform:1.5", "--out",
                                                     str(out / "x.json")])


def outputs(h: Hostile, good: Path) -> None:
    """Outputs that are inputs, special files, folders, earlier results or unwritable: refused, nothing lost."""
    before = sha(good)
    folder = good.parent
    (folder / "sub").mkdir(exist_ok=True)
    link = folder / "link.json"
    if not link.exists():
        link.symlink_to(good)
    hard = folder / "hard.json"
    if not hard.exists():
        os.link(good, hard)
    for spelling in (good, folder / "sub" / ".." / good.name, link, hard, Path(os.path.relpath(good, h.root))):
        for force in ([], ["--force"]):
            h.run(f"noise generate --out {spelling} {force}", ["noise", "generate", str(good), "--spec", "fn-uniform:0.3",
                                                               "--out", str(spelling), *force], expect="is the input")
    h.run("noise profile --out its input", ["noise", "profile", str(good), str(hard), "--out", str(link)],
          expect="is the input")
    for special in ("/dev/full", "/dev/null", str(folder / "sub")):
        h.run(f"noise generate --out {special} --force", ["noise", "generate", str(good), "--spec", "clean", "--out",
                                                         special, "--force"], expect="not a regular file")
    h.lost("an input was overwritten", sha(good) == before)
    h.lost("/dev/full was replaced", stat.S_ISCHR(os.stat("/dev/full").st_mode))
    h.lost("/dev/null was replaced", stat.S_ISCHR(os.stat("/dev/null").st_mode))

    out = h.root / "outputs" / "kept.json"
    h.run("noise generate", ["noise", "generate", str(good), "--spec", "fn-uniform:0.3", "--out", str(out)], status=0)
    kept = sha(out)
    h.run("noise generate onto an earlier output", ["noise", "generate", str(good), "--spec", "fn-uniform:0.5", "--out",
                                                    str(out)], expect="exists; pass --force")
    h.lost("an earlier output was replaced without --force", sha(out) == kept)

    run = h.root / "outputs" / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.json").write_text('{"earlier": "run"}')
    h.run("train --out an earlier run", ["train", "--train", str(good), "--dev", str(good), "--encoder", "minilm",
                                         "--relations", "infer", "--out", str(run)], expect="exists; pass --force")
    h.lost("train replaced an earlier run", (run / "metrics.json").read_text() == '{"earlier": "run"}')

    with read_only_folder(h.root / "read-only") as ro:
        h.run("noise generate into a read-only folder", ["noise", "generate", str(good), "--spec", "clean", "--out",
                                                          str(ro / "x.json")], expect=str(ro))
        h.run("noise profile into a read-only folder", ["noise", "profile", str(good), str(good), "--out",
                                                         str(ro / "p.json")], expect=str(ro))
        h.run("train into a read-only folder", ["train", "--train", str(good), "--dev", str(good), "--encoder", "minilm",
                                                "--relations", "infer", "--out", str(ro / "run")], expect=str(ro))
        h.run("data download into a read-only folder", ["--data-dir", str(ro), "data", "download", "rel2id", "--mirror",
                                                        "http://127.0.0.1:9"], expect=str(ro))


@contextmanager
def read_only_folder(path: Path):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                                            capture_output=True).returncode == 0:
        try:
            yield path
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    path.chmod(0o555)   # root without mount rights ignores this, and the tries then fail: say so
    try:
        yield path
    finally:
        path.chmod(0o755)


@contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` at `path` (root), else None: the caller injects ENOSPC instead."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                            capture_output=True).returncode == 0:
        try:
            yield path
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    yield None


GENERATE_THEN_SIGNAL = """
import sys
from docrobust.bench.cli import main
print("ready", flush=True)
main(sys.argv[1:])
"""


def kills_during_generate(h: Hostile, big: Path, n: int) -> None:
    """kill -9 of `noise generate --force` at random moments: the pair on disk is consistent or absent."""
    from docrobust.corpus import load_docs
    from docrobust.noise import read_noisy, replay

    inputs, before = load_docs(big), sha(big)
    out = h.root / "kills" / "noisy.json"
    script = h.root / "generate.py"
    script.write_text(GENERATE_THEN_SIGNAL, encoding="utf-8")
    spec = "fn-uniform:0.3+fp-type:0.1"

    def generate(seed: int) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(script), "noise", "generate", str(big), "--spec", spec, "--seed",
                                 str(seed), "--out", str(out), "--force"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=h.env)
        proc.stdout.readline()
        return proc

    t0 = time.monotonic()
    first = generate(0)
    first.wait()
    seconds = time.monotonic() - t0
    for seed in range(1, n + 1):
        h.tally.tries += 1
        proc = generate(seed)
        time.sleep(h.rng.uniform(0, seconds))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pair = read_noisy(out)
        h.lost(f"kill -9 of generate --force (seed {seed}) left a manifest that does not replay to its file",
               pair is None or replay(inputs, pair[1]) == pair[0])
    h.run("generate after the kills", ["noise", "generate", str(big), "--spec", spec, "--seed", "99", "--out", str(out),
                                      "--force"], status=0)
    h.lost("temporary files left after the next generate",
           sorted(p.name for p in out.parent.iterdir()) == ["noisy.json", "noisy.manifest.json"])
    h.lost("generate modified its input", sha(big) == before)


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


def two_runs_and_kills(h: Hostile) -> None:
    """Two `bench run` into one folder; kill -9 of `bench run -j 2`: workers end, the next run cleans up."""
    toml = write_bench(h.root / "bench")
    results = h.root / "bench" / "results"
    script = h.root / "run_with.py"
    script.write_text(RUN_WITH, encoding="utf-8")
    markers = h.root / "markers"
    markers.mkdir()
    first = subprocess.Popen([sys.executable, str(script), "api", "sleepy", str(toml), str(results), "2"],
                             env={**h.env, "MARKERS": str(markers)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(list(markers.iterdir())) < 2 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    time.sleep(0.3)
    workers = {int(p.name): Path(p.read_text()) for p in markers.iterdir()}
    h.run("a second bench run into the same folder", ["bench", "run", str(toml), "--out", str(results), "--quiet",
                                                       "--no-report"], expect=f"(pid {first.pid})")
    h.tally.tries += 1
    first.send_signal(signal.SIGKILL)
    first.wait()
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    h.lost("loky workers outlived their killed runner", workers and not any(alive(pid) for pid in workers))
    for pid in workers:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    h.run("bench run after the kill", ["bench", "run", str(toml), "--out", str(results), "--quiet", "--no-report"],
          prefix=[sys.executable, str(script), "cli", "instant"], status=0)
    h.lost("the killed cells' folders were not removed by the next run",
           not any(folder.exists() for folder in workers.values()))
    status = h.run("bench status of a complete run", ["bench", "status", str(results)], status=0)
    h.lost("a finished cell was lost", status.stdout.strip().endswith("4 cells: 4 done"))


def full_disk(h: Hostile) -> None:
    """ENOSPC in the middle of `bench run` and of `report`: one line, exit 2; the finished cells are kept and
    the run resumes from them. A small tmpfs as root, else an OSError injected at fsync."""
    toml = write_bench(h.root / "disk-bench", losses=("atl", "cmm", "afl"),
                       noise=("clean", "fn-uniform:0.2", "fn-uniform:0.4", "fn-uniform:0.6"))
    wrapper = [sys.executable, str(h.root / "run_with.py"), "cli", "instant"]
    with small_disk(h.root / "disk", "160k") as disk:
        results = (disk or h.root / "disk") / "results"
        h.run("bench run onto a full disk", ["bench", "run", str(toml), "--out", str(results), "--quiet", "--no-report"],
              prefix=wrapper, env=h.env if disk else {**h.env, "FULL_DISK_AT": "12"}, expect="No space left on device")
        kept = {}
        for cell in sorted((results / "cells").iterdir()) if (results / "cells").is_dir() else []:
            if not cell.name.startswith("."):
                try:
                    kept[cell.name] = json.loads((cell / "cell.json").read_text())["status"]
                except (OSError, ValueError, KeyError):
                    h.lost(f"{cell.name}: a finished cell is unreadable after the disk filled", False)
        shutil.copytree(results, h.root / "resumed")
    resumed = h.root / "resumed"
    h.run("bench run resumed with space", ["bench", "run", str(toml), "--out", str(resumed), "--quiet", "--no-report"],
          prefix=wrapper, status=0)
    status = h.run("bench status after the resume", ["bench", "status", str(resumed)], status=0)
    h.lost("bench run lost cells when the disk filled", bool(kept) and status.stdout.strip().endswith("12 cells: 12 done")
           and all((resumed / "cells" / c / "cell.json").is_file() for c in kept))

    from docrobust.reports.synthetic import write_synthetic_results
    synthetic = write_synthetic_results(h.root / "synthetic-results", models=("m",), losses=("atl", "cmm"),
                                        noise={"fn-uniform": (0.2, 0.4)}, seeds=(0,), n_docs=20)
    with small_disk(h.root / "report-disk", "16k") as disk:
        out = (disk or h.root / "report-disk") / "report.html"
        h.run("report onto a full disk", ["report", str(synthetic), "--out", str(out)], prefix=wrapper,
              env=h.env if disk else {**h.env, "FULL_DISK_AT": "0"}, expect="No space left on device")
        h.lost("a half-written report was left", not out.exists())


def bad_configs(h: Hostile) -> None:
    """Mistakes in bench.toml that `bench check` and `bench plan` must refuse before anything runs."""
    folder = h.root / "configs"
    good = write_bench(folder)
    base = good.read_text()
    cases = {
        "one spec written two ways": base.replace('"fn-uniform:0.5"]', '"fn-uniform:0.5", "fn-uniform:0.50"]'),
        "unknown model": base.replace('models = ["atlop"]', 'models = ["atlopp"]'),
        "unknown loss": base.replace('losses = ["atl", "cmm"]', 'losses = ["atl", "cmmm"]'),
        "misspelled table": base.replace("[training]", "[trainig]"),
        "misspelled training key": base.replace("epochs = 1", "epoch = 1"),
        "unknown noise model": base.replace('"fn-uniform:0.5"', '"fn-unifrom:0.5"'),
        "rate above 1": base.replace('"fn-uniform:0.5"', '"fn-uniform:1.5"'),
        "bad rate": base.replace('"fn-uniform:0.5"', '"fn-uniform:half"'),
        "mixed without low": base.replace('"fn-uniform:0.5"', '"mixed:0.5"'),
        "missing file": base.replace("train.json", "trian.json"),
        "empty losses": base.replace('losses = ["atl", "cmm"]', "losses = []"),
        "seeds not integers": base.replace("seeds = [0]", 'seeds = ["0"]'),
        "not TOML": base + "\n[[[",
        "matrix a string": base.replace('models = ["atlop"]', 'models = "atlop"'),
        "loss options for an unknown loss": base + "\n[loss_options.cmmm]\nm = 1\n",
        "backend unknown": base + '\n[execution]\nbackend = "slurm"\n',
        "n_jobs 0": base + "\n[execution]\nn_jobs = 0\n",
        # training settings by type and range, model and loss options by the signatures (items 10, 12, 21)
        "device tpu": base.replace("epochs = 1", 'epochs = 1\ndevice = "tpu"'),
        "epochs -1": base.replace("epochs = 1", "epochs = -1"),
        "epochs a string": base.replace("epochs = 1", 'epochs = "1"'),
        "epochs 1.5": base.replace("epochs = 1", "epochs = 1.5"),
        "max_len 0": base.replace("epochs = 1", "epochs = 1\nmax_len = 0"),
        "max_len 100000": base.replace("epochs = 1", "epochs = 1\nmax_len = 100000"),
        "lr_head fast": base.replace("epochs = 1", 'epochs = 1\nlr_head = "fast"'),
        "seed -1": base.replace("seeds = [0]", "seeds = [-1]"),
        "seed 1e17": base.replace("seeds = [0]", "seeds = [100000000000000000]"),
        "seed 1e17 as a float": base.replace("seeds = [0]", "seeds = [1e17]"),
        "misspelled model option": base + "\n[model_options.atlop]\nemb_sise = 64\n",
        "model option of the wrong type": base + '\n[model_options.atlop]\nemb_size = "big"\n',
        "misspelled loss option": base + "\n[loss_options.cmm]\ngamma_typo = 2\n",
        "marker with a space": base.replace("epochs = 1", 'epochs = 1\nmarker = "* *"'),
    }
    for name, text in cases.items():
        toml = folder / f"{name.replace(' ', '-')}.toml"
        toml.write_text(text)
        h.config(name, "check", toml)
        if name != "missing file":   # plan lists missing files instead (below)
            h.config(name, "plan", toml, "--out", str(folder / "results"))
    missing_data = folder / "missing-data.toml"
    missing_data.write_text(base.replace(f"{folder}/train.json", "redocred/train_revised.json"))
    h.run("bench plan before the download", ["bench", "plan", str(missing_data), "--out", str(folder / "results")],
          status=0, expect="missing data: train = 'redocred/train_revised.json'")


def messages(h: Hostile, folder: Path) -> None:
    """Errors that say what to do: counts, every file, the value of a flag, rel_info by content, swapped files."""
    many = folder / "many-problems.json"
    many.write_text(json.dumps([make_doc(f"D{i}", 3, [(0, 0, "P1"), (1, 1, "P1")], 2) for i in range(1923)]))
    h.run("validate a file with 3,846 problems", ["data", "validate", str(many), "--relations", "infer"],
          lines=21, expect="... and 3,826 more problems")
    good = folder / "good.json"
    broken = folder / "not-json.json"
    h.run("validate three files", ["data", "validate", str(many), str(good), str(broken), "--relations", "infer"],
          lines=22, expect="not valid JSON")
    rel2id = folder / "rel2id.json"
    rel2id.write_text(json.dumps({"Na": 0, "P1": 1}))
    h.run("a relation outside the inventory", ["data", "validate", str(good), "--relations", str(rel2id)], lines=None,
          expect="pass --relations infer")
    cdg = folder / "cdg_rel_info.json"
    cdg.write_text(json.dumps({"P1": "one", "P2": "two", "P3": "three"}))
    h.run("rel_info under another name", ["data", "validate", str(good), "--relations", str(cdg)], status=0)
    low = folder / "low.json"
    low.write_text(json.dumps([{**d, "labels": d["labels"][:1]} for d in json.loads(good.read_text())]))
    h.run("noise profile with LOW and HIGH swapped", ["noise", "profile", str(good), str(low)], status=0,
          expect="were they swapped?")
    elsewhere = folder / "elsewhere.json"
    elsewhere.write_text(json.dumps(make_corpus(3, 7, "other")))
    h.run("mixed:1.0 with a file that aligns nowhere", ["noise", "generate", str(good), "--spec", "mixed:1.0", "--low",
                                                         str(elsewhere), "--out", str(folder / "mixed.json")],
          expect="is no document")


# ---------------------------------------------------------------- the second pass (issue 19)

def second_pass(h: Hostile, good: Path) -> None:
    """Kinds the first pass did not try: each new kind with several examples (not only the issue's)."""
    folder = h.root / "second"
    folder.mkdir()
    (h.root / "run_with.py").write_text(RUN_WITH, encoding="utf-8")
    overlaps(h, folder, good)
    stale_results(h, folder)
    chained_specs(h, good)
    grandchildren(h, folder)
    failed_runs(h, folder, good)
    passes_check_fails_cells(h)
    crashes(h, folder, good)


def overlaps(h: Hostile, folder: Path, good: Path) -> None:
    """An output aimed at any input (named in a spec, inside a results or audit folder, under an output folder,
    two outputs at one path), under several spellings, with and without --force: refused, every byte kept."""
    docs = json.loads(good.read_text())
    files = {"train.json": docs, "low.json": [{**d, "labels": d["labels"][::2]} for d in docs],
             "profile.json": {"per_relation": {}}, "ann.json": {"format": 1}, "matrix.json": {"P1": {"P2": 1.0}},
             "audit/audit.json": {}, "audit/candidates.csv": "", "res/bench.json": {}, "res/plan.json": {"cells": []},
             "res/cells/c/metrics.json": {}, "res/cells/c/cell.json": {}, "run/train.json": docs}
    for name, value in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(value))
    (folder / "link-res").symlink_to(folder / "res")
    os.link(folder / "matrix.json", folder / "hard-matrix.json")
    f = lambda name: str(folder / name)  # noqa: E731
    gen = ["noise", "generate", f("train.json"), "--out"]
    cases = [  # (what, argv, whether it takes --force)
        ("noise generate over profile=", ["noise", "generate", f("train.json"), "--spec",
                                           f"real:1.0,profile={f('profile.json')}", "--out", f("profile.json")], True),
        ("noise generate over model=", gen + [f("ann.json"), "--spec", f"annotator:0.5,model={f('ann.json')}"], True),
        ("noise generate over matrix= by a hard link", gen + [f("hard-matrix.json"), "--spec",
                                                              f"fp-flip:0.1,matrix={f('matrix.json')}"], True),
        ("noise generate over --low via ..", gen + [f("run/../low.json"), "--spec", "mixed:0.5", "--low",
                                                    f("low.json")], True),
        ("data convert --out over --dropped", ["data", "convert", "--from", "hf-docred", f("train.json"), "--out",
                                               f("b.json"), "--dropped", f("b.json")], True),
        ("data convert --out rel_info.json", ["data", "convert", "--from", "hf-docred", f("train.json"), "--out",
                                              f("rel_info.json")], True),
        ("report --out over plan.json", ["report", f("res"), "--out", f("res/plan.json")], False),
        ("report --out over a cell through a link", ["report", f("res"), "--out", f("link-res/cells/c/metrics.json")],
         False),
        ("report --pdf over bench.json", ["report", f("res"), "--out", f("r.html"), "--pdf", f("res/bench.json")],
         False),
        ("report --out and --pdf one file", ["report", f("res"), "--out", f("x.html"), "--pdf", f("x.html")], False),
        ("train --out holding --train", ["train", "--train", f("run/train.json"), "--dev", f("train.json"),
                                         "--encoder", "minilm", "--relations", "infer", "--out", f("run")], True),
        ("audit run --out holding TRAIN", ["audit", f("run/train.json"), "--relations", "infer", "--out", f("run")],
         True),
        ("audit apply over the audit's list", ["audit", "apply", f("train.json"), f("audit"), "--add-top", "1",
                                               "--out", f("audit/candidates.csv")], True),
        ("noise fit --out over HIGH", ["noise", "fit", f("low.json"), f("train.json"), "--out", f("train.json")], False),
    ]
    bench = write_bench(folder / "overlap-bench")   # a data file inside the results folder's noisy/
    (folder / "overlap-bench" / "results" / "noisy").mkdir(parents=True)
    shutil.copy(folder / "overlap-bench" / "train.json", folder / "overlap-bench" / "results" / "noisy" / "train.json")
    bench.write_text(bench.read_text().replace("overlap-bench/train.json", "overlap-bench/results/noisy/train.json"))
    cases.append(("bench run with an input among the files it rewrites", ["bench", "run", str(bench), "--out",
                                                                         str(bench.parent / "results"), "--quiet"], False))
    before = {p: sha(p) for p in folder.rglob("*") if p.is_file()}
    for what, argv, takes_force in cases:
        for force in ([], ["--force"]) if takes_force else ([],):
            h.run(f"{what} {' '.join(force)}".strip(), argv + force, lines=1)
    after = {p: sha(p) for p in folder.rglob("*") if p.is_file()}
    h.lost("an output over an input changed or added a file", after == before)


def stale_results(h: Hostile, folder: Path) -> None:
    """A finished run, then the fp-flip matrix it names changes: its cells rerun and its noisy set is rebuilt."""
    matrix = folder / "stale-matrix.json"
    matrix.write_text(json.dumps({"P1": {"P2": 1.0}}))
    toml = write_bench(folder / "stale", noise=("clean", f"fp-flip:0.3,matrix={matrix}"))
    results = folder / "stale" / "results"
    wrapper = [sys.executable, str(h.root / "run_with.py"), "cli", "instant"]
    run = ["bench", "run", str(toml), "--out", str(results), "--quiet", "--no-report"]
    h.run("bench run with a matrix= file", run, prefix=wrapper, status=0)
    again = h.run("bench run again, nothing changed", run, prefix=wrapper, status=0)
    if "; ran 0 in" not in again.stdout:
        h.tally.stale.append(f"an unchanged run ran cells again: {again.stdout.strip()[-120:]}")
    matrix.write_text(json.dumps({"P1": {"P3": 1.0}, "P2": {"P3": 1.0}}))
    changed = h.run("bench run after the matrix= file changed", run, prefix=wrapper, status=0)
    if "; ran 2 in" not in changed.stdout:
        h.tally.stale.append(f"a changed matrix= file did not rerun its 2 cells: {changed.stdout.strip()[-120:]}")
    current = hashlib.sha256(matrix.read_bytes()).hexdigest()
    manifests = [json.loads(p.read_text()) for p in (results / "noisy").glob("*.manifest.json")]
    if not any(m.get("spec_files", {}).get(str(matrix)) == current for m in manifests):
        h.tally.stale.append("no noisy set was built from the changed matrix= file")


def chained_specs(h: Hostile, good: Path) -> None:
    """Chained specs through the command: no added or flipped-to triple is a clean label; removed and added apart."""
    clean = {(d["title"], lab["h"], lab["t"], lab["r"]) for d in json.loads(good.read_text()) for lab in d["labels"]}
    specs = ("fn-uniform:0.8+fp-type:0.3", "fn-uniform:0.2+fp-type:0.1+fp-flip:0.05", "fp-type:0.2+fn-uniform:0.5",
             "fn-pair:0.3+fp-uniform:0.2+fp-flip:0.1", "fp-flip:0.1+fn-uniform:0.3+fp-type:0.2",
             "fn-frequency:0.5+fp-flip:0.2+fn-distance:0.2")
    for i, spec in enumerate(specs):
        out = h.root / "outputs" / f"chain-{i}.json"
        h.run(f"noise generate {spec}", ["noise", "generate", str(good), "--spec", spec, "--seed", str(i), "--out",
                                         str(out)], status=0)
        manifest = json.loads(out.with_suffix(".manifest.json").read_text())
        removed = {tuple(r[:4]) for s in manifest["steps"] for r in s["removed"] + s["changed"]}
        added = {tuple(r[:4]) for s in manifest["steps"] for r in s["added"]}
        added |= {(*r[:3], r[4]) for s in manifest["steps"] for r in s["changed"]}
        if added & clean or removed & added:
            h.tally.stale.append(f"{spec}: {len(added & clean)} added triples are clean labels, "
                                 f"{len(removed & added)} both removed and added")


GRANDCHILD_RUNNER = """
import sys
from pathlib import Path
from docrobust.bench.external import _run
folder, timeout = Path(sys.argv[1]), float(sys.argv[2])
command = ["bash", "-c", f"sleep 300 | cat & echo $! > {folder}/grandchild.pid; echo $$ > {folder}/child.pid; wait"]
_run(command, {"workdir": str(folder), "env": {}, "gpus": 0, "timeout": timeout}, {}, folder / "log")
"""


def grandchildren(h: Hostile, folder: Path) -> None:
    """An external model's command in the README's pipe form: its runner killed (-9, TERM, INT) or timed out."""
    script = folder / "grandchild_runner.py"
    script.write_text(GRANDCHILD_RUNNER)
    for end in ("SIGKILL", "SIGTERM", "SIGINT", "timeout"):
        work = folder / f"external-{end}"
        work.mkdir()
        h.tally.tries += 1
        runner = subprocess.Popen([sys.executable, str(script), str(work), "2" if end == "timeout" else "300"],
                                  env=h.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pid_files = [work / "child.pid", work / "grandchild.pid"]
        deadline = time.monotonic() + 60
        while not all(p.is_file() and p.read_text().strip() for p in pid_files) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [int(p.read_text()) for p in pid_files if p.is_file() and p.read_text().strip()]
        if end != "timeout":
            runner.send_signal(getattr(signal, end))
        runner.wait(timeout=60)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in [p for p in pids if alive(p)]:
            h.tally.processes_left.append(f"{end} of the runner left pid {pid}")
            os.kill(pid, signal.SIGKILL)


def failed_runs(h: Hostile, folder: Path, good: Path) -> None:
    """A train whose disk fills half way and a noise generate whose manifest meets a full disk: exit 2, no output
    left, and the rerun needs no --force."""
    wrapper = [sys.executable, str(h.root / "run_with.py"), "cli"]
    run = folder / "failed-run"
    train = ["train", "--train", str(good), "--dev", str(good), "--test", str(good), "--encoder", "minilm",
             "--relations", "infer", "--out", str(run), "--quiet"]
    h.run("train whose disk fills", train, prefix=wrapper + ["failing"], expect="No space left on device")
    h.lost("a failed train left its --out", not run.exists() and not list(folder.glob(".failed-run.*")))
    h.run("train again, without --force", train, prefix=wrapper + ["instant"], status=0)
    noisy = folder / "n.json"
    generate = ["noise", "generate", str(good), "--spec", "fn-uniform:0.3", "--out", str(noisy)]
    h.run("noise generate whose manifest meets a full disk", generate, prefix=wrapper + ["instant"],
          env={**h.env, "FULL_DISK_AT": "1"}, expect="No space left on device")
    h.lost("a failed noise generate left documents without their manifest", not noisy.exists())
    h.run("noise generate again, without --force", generate, status=0)


def passes_check_fails_cells(h: Hostile) -> None:
    """Configs that passed `bench check` and then failed every cell for a reason known before training."""
    folder = h.root / "second-configs"
    base = write_bench(folder).read_text()
    (folder / "bad-profile.json").write_text("[1, 2]")
    (folder / "inf-matrix.json").write_text('{"P1": {"P2": 1e400}}')
    (folder / "p999-matrix.json").write_text('{"P1": {"P999": 1.0}}')
    (folder / "nan-model.json").write_text('{"format": 1, "features": {"mean": [NaN]}}')
    spec = lambda s: base.replace('"fn-uniform:0.5"', json.dumps(s))  # noqa: E731
    cases = {
        "train_range past the file": base.replace("[data]\n", "[data]\ntrain_range = [0, 999]\n"),
        "dev_range past the file": base.replace("[data]\n", "[data]\ndev_range = [2, 40]\n"),
        "block_size not dividing emb_size": base + "\n[model_options.atlop]\nblock_size = 7\n",
        "block_size 0": base + "\n[model_options.atlop]\nblock_size = 0\n",
        "emb_size negative": base + "\n[model_options.atlop]\nemb_size = -64\n",
        "lr_head inf": base.replace("epochs = 1", "epochs = 1\nlr_head = inf"),
        "weight_decay inf": base.replace("epochs = 1", "epochs = 1\nweight_decay = inf"),
        "an encoder folder that is not there": base.replace('encoder = "minilm"', 'encoder = "./no/such/encoder"'),
        "annotator without model=": spec("annotator:1.0"),
        "a profile= that is not a profile": spec(f"real:0.5,profile={folder / 'bad-profile.json'}"),
        "a profile= that is missing": spec(f"real:0.5,profile={folder / 'missing.json'}"),
        "a matrix= weight of 1e400": spec(f"fp-flip:0.1,matrix={folder / 'inf-matrix.json'}"),
        "a matrix= relation outside the inventory": spec(f"fp-flip:0.1,matrix={folder / 'p999-matrix.json'}"),
        "an annotator model with NaN": spec(f"annotator:0.5,model={folder / 'nan-model.json'}"),
        "fn-uniform:1.01": spec("fn-uniform:1.01"),
        "unlabeled dev": base.replace(f"{folder}/dev.json", f"{folder}/dev-bare.json"),
    }
    (folder / "dev-bare.json").write_text(json.dumps([{k: v for k, v in d.items() if k != "labels"}
                                                      for d in make_corpus(4, 2, "dev")]))
    try:
        import torch
        if not torch.cuda.is_available():
            cases["device cuda without CUDA"] = base.replace("epochs = 1", 'epochs = 1\ndevice = "cuda"')
    except ImportError:
        pass
    for name, text in cases.items():
        toml = folder / f"{name.replace(' ', '-').replace('/', '-')}.toml"
        toml.write_text(text)
        h.config(name, "check", toml)
    h.run("noise generate fn-uniform:1.01 (the one validator)", ["noise", "generate", str(folder / "train.json"),
                                                                 "--spec", "fn-uniform:1.01", "--out",
                                                                 str(folder / "x.json")], expect="is above 1")


def crashes(h: Hostile, folder: Path, good: Path) -> None:
    """Inputs that crashed a command in the second pass, and their neighbours: one line, exit 2."""
    docs = json.loads(good.read_text())
    bad = {"bigint.json": json.dumps(docs)[:-1] + ', {"title": ' + "9" * 5000 + "}]",
           "bigint-index.json": json.dumps([{**docs[0], "labels": [{**docs[0]["labels"][0], "h": "BIG"}]}]).replace(
               '"BIG"', "1" * 4400),
           "surrogate-title.json": json.dumps([{**docs[0], "title": "\ud800 half"}] + docs[1:]),
           "surrogate-name.json": json.dumps(docs).replace('"name": "E0"', '"name": "E\\udc00"', 1),
           "bare.json": json.dumps([{k: v for k, v in d.items() if k != "labels"} for d in docs])}
    for name, text in bad.items():
        (folder / name).write_text(text)
    for name in ("bigint.json", "bigint-index.json", "surrogate-title.json", "surrogate-name.json"):
        p = str(folder / name)
        h.run(f"data validate {name}", ["data", "validate", p, "--relations", "infer"])
        h.run(f"noise generate {name}", ["noise", "generate", p, "--spec", "fn-uniform:0.2", "--out",
                                         str(folder / f"out-{name}")])
    (folder / "loop-a").symlink_to(folder / "loop-b")
    (folder / "loop-b").symlink_to(folder / "loop-a")
    gen = ["noise", "generate", str(good), "--spec", "clean", "--out"]
    h.run("--out through a symlink loop", gen + [str(folder / "loop-a" / "x.json")], expect="cannot be resolved")
    h.run('--out ""', gen + [""])
    h.run("train --out . --force", ["train", "--train", str(good), "--dev", str(good), "--encoder", "minilm",
                                    "--relations", "infer", "--out", ".", "--force"], expect="holds the current folder")
    rel2id = folder / "rel2id-twice.json"
    rel2id.write_text(json.dumps({"Na": 0, "P1": 1, "P2": 1, "P3": 2}))
    h.run("a rel2id with a column twice", ["data", "validate", str(good), "--relations", str(rel2id)],
          expect="share column 1")
    deep_toml = folder / "deep.toml"
    deep_toml.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    h.run("a 5,000-deep TOML array", ["bench", "check", str(deep_toml)], expect="nested too deeply")
    h.run("noise fit --C nan", ["noise", "fit", str(folder / "bare.json"), str(good), "--out", str(folder / "a.json"),
                                "--C", "nan"], expect="finite")
    bare = str(folder / "bare.json")
    h.run("train --dev unlabeled", ["train", "--train", str(good), "--dev", bare, "--encoder", "minilm", "--relations",
                                    "infer", "--out", str(folder / "bare-run")], expect="no document has a label")
    (folder / "no-predictions.json").write_text("[]")
    h.run("score --gold unlabeled", ["score", "--gold", bare, "--pred", str(folder / "no-predictions.json")],
          expect="no document has a label")
    h.run("audit run on a file without labels", ["audit", bare, "--relations", "infer", "--out",
                                                 str(folder / "bare-audit")], expect="no document has a label")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temporary folder).")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    h = Hostile(root, args.seed)
    inputs = root / "inputs"
    inputs.mkdir(exist_ok=True)
    good = inputs / "good.json"
    good.write_text(json.dumps(make_corpus(30, 0)))
    big = inputs / "big.json"
    big.write_text(json.dumps(make_corpus(3000, 1)))
    bad = bad_files(inputs, json.loads(good.read_text()))
    snapshot = {p: sha(p) for p in inputs.iterdir() if p.is_file()}
    try:
        for part in (lambda: bad_input(h, good, bad), lambda: outputs(h, good), lambda: messages(h, inputs),
                     lambda: bad_configs(h), lambda: kills_during_generate(h, big, 10), lambda: two_runs_and_kills(h),
                     lambda: full_disk(h), lambda: second_pass(h, good)):
            part()
        h.lost("an input file changed", all(sha(p) == digest for p, digest in snapshot.items()))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for kind, items in h.tally.kinds():
        for item in items:
            print(f"{kind}: {item}")
    print(h.tally.line())
    sys.exit(1 if any(items for _, items in h.tally.kinds()) else 0)


if __name__ == "__main__":
    main()
