"""The hostile user's first pass (issue 10): bad files into every command, outputs over inputs, kill -9 during
`noise generate` and `bench run`, two runs into one folder, a full disk, bad bench.toml files and messages."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

# beside this script (a script's folder is on sys.path)
from hostile_kit import (RUN_WITH, Hostile, alive, make_corpus, make_doc, read_only_folder, sha, small_disk,
                         write_bench)


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

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # synthetic.py
    from synthetic import write_synthetic_results
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
