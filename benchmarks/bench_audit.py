"""The label-error auditor's goals, measured (issue 11); each stage's figures are saved and printed.

    python benchmarks/bench_audit.py [--out results/audit_bench] [--stages real,injected,loop] [--threads 2]
                                     [--fine-tune] [--epochs N]

injected  Re-DocRED dev (500 documents, clean labels) with fn-uniform:0.3, fn-uniform:0.6 and fp-type:0.2 injected;
          each audited with the defaults (frozen MiniLM from the feature store, ATLOP head, 5 folds) and scored
          against its manifest. The first audit's wall time is the "500 documents, 5 folds, <= 10 min on 2 cores"
          goal; the load average is printed beside every time, since the cores are shared.
real      DocRED's original labels (docred/dev.json) on the 895 documents that align with Re-DocRED dev + test,
          audited, and scored against Re-DocRED: the headline, precision@1,000 >= 50% and average precision well
          above the base rate for the missing-label candidates.
loop      Closing the loop. Train side: the aligned documents of Re-DocRED dev, with DocRED's labels; audited alone
          (so the corrections never see a test document). Held out: the aligned documents of Re-DocRED test with
          Re-DocRED's labels, the first 100 to select the epoch, the threshold offset and K, the rest to score.
          The quick profile's training (frozen MiniLM, ATLOP 128/16, ATL, 16 epochs, lr 3e-3, dev-calibrated
          threshold) on DocRED's labels, on Re-DocRED's, and on DocRED's plus the audit's top K (K from KS, chosen
          by the selection documents' F1: as trained for the as-trained score, calibrated for the calibrated one);
          goal: the corrected labels recover >= 1/3 of the F1 gap.

--fine-tune: the audits fine-tune the encoder in every fold (a GPU run; README, "Auditing"); --epochs N: per fold.
A stage whose result file exists is not run again (delete OUT/<stage>.json to redo it).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

from docrobust.audit import (AUDIT_FINE_TUNING, AUDIT_TRAINING, apply_audit, read_audit, run_audit, score_audit,
                             truth_from_docs, truth_from_manifest)
from docrobust.base import atomic_write_json
from docrobust.corpus import RelationInventory, load_docs, save_docs
from docrobust.corpus.align import align
from docrobust.corpus.data import resolve_data_dir
from docrobust.models.train import TrainConfig, train
from docrobust.noise import apply_noise, write_noisy

SPECS = ("fn-uniform:0.3", "fn-uniform:0.6", "fp-type:0.2")
KS = (1000, 2000, 4000, 8000, 16000)   # up to the candidates.csv default (--top 20000)
SELECT_DOCS = 100
LOOP_TRAINING = dict(model="atlop", loss="atl", encoder="minilm", freeze_encoder=True, calibrate_threshold=True,
                     model_options={"emb_size": 128, "block_size": 16}, epochs=16, batch_size=4, lr_head=3e-3,
                     max_len=1024, device="cpu", progress=False)   # bench.toml [profile.quick]


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def audit_config(threads: int, fine_tune: bool = False, epochs: int | None = None) -> TrainConfig:
    """The audit's CPU defaults, or with fine_tune its --fine-tune defaults on the GPU (ATLOP's 768/64 head, head lr
    1e-4, encoder 5e-5, 10 epochs)."""
    defaults = {**AUDIT_FINE_TUNING, "device": "cuda"} if fine_tune else {**AUDIT_TRAINING, "device": "cpu"}
    return TrainConfig.from_dict({**defaults, "progress": False, "num_threads": threads,
                                  **({"epochs": epochs} if epochs else {})})


def timed_audit(docs, relations, source: Path, out: Path, config: TrainConfig) -> dict:
    """run_audit with its wall time and its CPU time (what the audit cost, whatever else shared the cores)."""
    before = load()
    started, cpu = time.perf_counter(), time.process_time()
    summary = run_audit(docs, relations, config, out, source=source)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"  audited {len(docs)} documents in {seconds / 60:.1f} min wall, {cpu / 60:.1f} CPU-min ({before} before, "
          f"{load()} after; {summary['counts']['encoded_docs']} documents encoded, the rest read from the feature "
          "store)", flush=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "load_before": before, "load_after": load(),
            "summary_seconds": summary["seconds"], "encoded_docs": summary["counts"]["encoded_docs"]}


def stage_injected(root: Path, out: Path, relations, audit: TrainConfig) -> dict:
    """Each spec's figures are kept in injected/<spec>/result.json, so an interrupted stage resumes at the next spec."""
    clean = load_docs(root / "redocred/dev_revised.json", relations)
    result = {}
    for spec in SPECS:
        folder = out / "injected" / spec.replace(":", "_")
        if (folder / "result.json").is_file():
            result[spec] = json.loads((folder / "result.json").read_text())
            continue
        folder.mkdir(parents=True, exist_ok=True)
        noisy, manifest = apply_noise(clean, spec, seed=0)
        manifest = write_noisy(noisy, manifest, folder / "train.json")
        print(f"injected {spec}:", flush=True)
        timing = timed_audit(noisy, relations, folder / "train.json", folder / "audit", audit)
        missing, wrong = truth_from_manifest(manifest)
        result[spec] = {**timing, **score_audit(read_audit(folder / "audit"), missing, wrong)}
        atomic_write_json(folder / "result.json", result[spec])
        print_scores(result[spec])
    return result


def aligned_docred(root: Path, relations) -> tuple[list[dict], list[dict], list[dict], set[str]]:
    """(DocRED dev docs that align with Re-DocRED dev + test, Re-DocRED dev, Re-DocRED test, titles in Re-DocRED dev)."""
    dev, test = (load_docs(root / f"redocred/{n}_revised.json", relations) for n in ("dev", "test"))
    alignment = align(load_docs(root / "docred/dev.json", relations), dev + test)
    return [low for low, _ in alignment.pairs], dev, test, {d["title"] for d in dev}


def stage_real(root: Path, out: Path, relations, audit: TrainConfig) -> dict:
    low, dev, test, _ = aligned_docred(root, relations)
    folder = out / "real"
    folder.mkdir(parents=True, exist_ok=True)
    save_docs(low, folder / "docred_aligned.json")
    print(f"real: DocRED's labels on {len(low)} aligned documents", flush=True)
    timing = timed_audit(low, relations, folder / "docred_aligned.json", folder / "audit", audit)
    missing, wrong, titles = truth_from_docs(low, dev + test)
    audit = read_audit(folder / "audit")
    result = {**timing, **score_audit(audit, missing, wrong, titles)}
    print_scores(result)
    adjusted = score_audit(dataclasses.replace(audit, summary={
        **audit.summary, "settings": {**audit.summary["settings"], "adjust": True}}), missing, wrong, titles)
    result["adjusted"] = adjusted
    print("  the same margins ranked with cleanlab's per-relation adjustment (--adjust):")
    print_scores(adjusted)
    return result


def stage_loop(root: Path, out: Path, relations, audit: TrainConfig) -> dict:
    low, dev, test, dev_titles = aligned_docred(root, relations)
    high = {d["title"]: d for d in dev + test}
    train_low = [d for d in low if d["title"] in dev_titles]
    held = [high[d["title"]] for d in low if d["title"] not in dev_titles]
    select, scored = held[:SELECT_DOCS], held[SELECT_DOCS:]
    folder = out / "loop"
    folder.mkdir(parents=True, exist_ok=True)
    save_docs(train_low, folder / "train_docred.json")
    print(f"loop: audit of DocRED's labels on the {len(train_low)} train-side documents; select on {len(select)}, "
          f"score on {len(scored)} Re-DocRED test documents", flush=True)
    timing = (json.loads((folder / "audit_timing.json").read_text()) if (folder / "audit_timing.json").is_file() else
              timed_audit(train_low, relations, folder / "train_docred.json", folder / "audit", audit))
    atomic_write_json(folder / "audit_timing.json", timing)
    config = TrainConfig.from_dict({**LOOP_TRAINING, "num_threads": audit.num_threads})
    runs = {}

    def run(name: str, docs: list[dict]) -> dict:
        """One training (its metrics.json kept, so a finished run is read back instead of trained again)."""
        t0, done = time.perf_counter(), folder / "runs" / name / "metrics.json"
        metrics = (json.loads(done.read_text()) if done.is_file() else
                   train(config, docs, select, scored, relations=relations, out_dir=folder / "runs" / name))
        runs[name] = {"labels": sum(len(d["labels"]) for d in docs), "seconds": time.perf_counter() - t0,
                      "dev_f1": metrics["dev"]["f1"], "test_f1": metrics["test"]["f1"],
                      "dev_f1_calibrated": metrics["calibrated"]["dev"]["f1"],
                      "test_f1_calibrated": metrics["calibrated"]["test"]["f1"]}
        r = runs[name]
        print(f"  {name:<16} {r['labels']:>6,} labels  dev F1 {r['dev_f1']:.2%} ({r['dev_f1_calibrated']:.2%} calibrated)  "
              f"test F1 {r['test_f1']:.2%} ({r['test_f1_calibrated']:.2%} calibrated)  {r['seconds'] / 60:.1f} min", flush=True)
        return r

    run("docred", train_low)
    run("redocred", [high[d["title"]] for d in train_low])
    for k in KS:
        run(f"audit-top-{k}", apply_audit(train_low, folder / "audit", add_top=k)[0])
    result = {"audit": timing, "runs": runs}
    for which in ("test_f1", "test_f1_calibrated"):   # K chosen by the same measure on the selection documents
        chosen = max(KS, key=lambda k: runs[f"audit-top-{k}"][which.replace("test", "dev")])
        lo, hi, fixed = (runs[n][which] for n in ("docred", "redocred", f"audit-top-{chosen}"))
        result[f"chosen_k_{which}"] = chosen
        result[f"gap_recovered_{which}"] = (fixed - lo) / (hi - lo) if hi != lo else None
    return result


def print_scores(result: dict) -> None:
    for name in ("candidates", "suspicious"):
        m = result[name]
        if not m["true"]:
            continue
        print(f"  {name}: {m['true']:,} true of {m['ranked']:,} (base rate {m['base_rate']:.4%}); "
              f"P@100 {m['precision@100']:.1%}, P@1,000 {m['precision@1,000']:.1%}, "
              f"P@{m['true']:,} {m['precision@n_true']:.1%} (recall {m['recall@n_true']:.1%}); "
              f"AP {m['average_precision']:.4f} = {m['average_precision'] / m['base_rate']:.0f}x base rate", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/audit_bench")
    parser.add_argument("--stages", default="real,injected,loop")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fine-tune", action="store_true",
                        help="the audits fine-tune MiniLM in every fold (needs a GPU)")
    parser.add_argument("--epochs", type=int, help="training epochs of each fold [default: the audit's]")
    args = parser.parse_args()
    root = resolve_data_dir()
    relations = RelationInventory.load(root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = {"injected": stage_injected, "real": stage_real, "loop": stage_loop}
    audit = audit_config(args.threads, args.fine_tune, args.epochs)
    for name in args.stages.split(","):
        path = out / f"{name}.json"
        if path.is_file():
            print(f"{name}: done earlier ({path})")
            continue
        atomic_write_json(path, stages[name](root, out, relations, audit))
    report(out)


def report(out: Path) -> None:
    """The goals, from the saved stage results."""
    print("\ngoals:")
    injected = out / "injected.json"
    if injected.is_file():
        first = json.loads(injected.read_text())[SPECS[0]]
        cpu = f", {first['cpu_seconds'] / 60:.1f} CPU-min" if "cpu_seconds" in first else ""
        print(f"  500 documents x 5 folds in {first['seconds'] / 60:.1f} min wall{cpu} (goal <= 10 min on 2 cores; "
              f"{first['load_before']} before, {first['load_after']} after)")
    real = out / "real.json"
    if real.is_file():
        c = json.loads(real.read_text())["candidates"]
        print(f"  real noise: precision@1,000 {c['precision@1,000']:.1%} (goal >= 50%), average precision "
              f"{c['average_precision']:.4f} vs base rate {c['base_rate']:.4%} ({c['average_precision'] / c['base_rate']:.0f}x)")
    loop = out / "loop.json"
    if loop.is_file():
        r = json.loads(loop.read_text())
        for which in ("test_f1", "test_f1_calibrated"):
            g = r[f"gap_recovered_{which}"]
            print(f"  closing the loop ({which}, K = {r[f'chosen_k_{which}']} chosen on dev): "
                  f"{'n/a' if g is None else f'{g:.0%}'} of the F1 gap recovered (goal >= 33%)")


if __name__ == "__main__":
    main()
