"""The hostile user's second pass (issue 19): each kind the first pass did not try, with several examples."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# beside this script (a script's folder is on sys.path)
from hostile_kit import RUN_WITH, Hostile, alive, make_corpus, sha, write_bench


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
from docrobust.bench.external_run import _run
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
