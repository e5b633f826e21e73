"""Does the fitted annotator noise behave like real annotators? Fit quality, transfer, and the F1 it leaves.

1. Fit `docrobust noise fit` on the DocRED-vs-Re-DocRED pairs of the Re-DocRED *test* documents (DocRED dev's
   labels vs test_revised.json), and on the Revisit-DocRED pair (96 DocRED dev documents, recommend-revise
   labels vs labels from scratch). Each fit reports its 5-fold held-out quality.
2. Transfer: each model scored on documents it never saw, against the per-relation profile and the uniform
   rate of its own source: the DocRED model on the training documents (Re-DocRED dev 0-449, DocRED labels),
   the DocRED model on the Revisit pair and the Revisit model on the DocRED test pairs (titles shared by the
   two sources left out).
3. Training, as benchmarks/noise_realism.py (the quick profile: frozen MiniLM, ATLOP head, ATL, Re-DocRED
   dev 0-449 to train, 450-499 to select, all 500 test documents to score), on the training documents with
   DocRED's own labels (mixed:1.0), the per-relation profile (real:1.0, measured on the test documents),
   uniform misses of the same count as mixed:1.0, and the fitted annotator noise at the same count (its rate
   scales the model's expected count, which covers all 450 documents where DocRED's labels touch the 408 that
   align); with --revisit also the Revisit-fitted annotator noise at the same count. Each against mixed:1.0
   with the paired bootstrap over test documents (reports.stats.paired_test).

    python benchmarks/annotator_realism.py [--out results/annotator] [--seeds 0 1 2] [--revisit]
"""
from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from statistics import mean

import numpy as np
from noise_realism import ROOT, write_toml

from docrobust import noise
from docrobust.bench.config import _deep_merge, load_config
from docrobust.bench.runner import RunSummary, run_bench
from docrobust.base import atomic_write_json, sha256_json
from docrobust.corpus import load_docs
from docrobust.corpus.align import align
from docrobust.corpus.data import resolve_data_dir
from docrobust.noise.annotator import BASELINES, evaluate, fit_annotator, marginal, miss_probabilities
from docrobust.noise.table import LabelTable
from docrobust.reports.results import ResultsStore
from docrobust.reports.stats import Resamples, paired_test


def fit(low: list[dict], high: list[dict], name: str, out: Path, sources: dict) -> tuple[dict, Path]:
    """The fitted model of a pair, written to out/annotator-NAME-<sha>.json (a refit that differs gets new cells)."""
    model = fit_annotator(low, high, folds=5, seed=0, sources=sources)
    path = out / f"annotator-{name}-{sha256_json(model)[:12]}.json"
    if not path.exists():
        atomic_write_json(path, model)
    return model, path


def expected_misses(model: dict, docs: list[dict]) -> float:
    """Σ P(triple missed) under the model: the count annotator:1.0 removes from these documents."""
    labels = [d.get("labels", []) for d in docs]
    pi, q, design = miss_probabilities(model, LabelTable(docs, labels, base=sum(map(len, labels))))
    return float(marginal(pi, q, design.pair_of_row).sum())


def same_count(model: dict, path: Path, docs: list[dict], k: int) -> str:
    """The annotator spec that removes exactly k triples from docs (its rate scales the model's expected count)."""
    expected = expected_misses(model, docs)
    rate = f"{k / expected:.5f}"
    if round(float(rate) * expected) != k:
        raise SystemExit(f"annotator rate {rate} does not remove exactly {k} triples")
    return f"annotator:{rate},model={path}"


def quality_row(label: str, q: dict) -> str:
    ll, auc, pairs = q["log_likelihood_per_triple"], q["roc_auc_missed"], q["pairs_with_several_relations"]
    return (f"| {label} | {q['triples']:,} | {q['observed_miss_rate']:.3f} | "
            f"{ll['annotator (with its pair stage)']:.4f} | "
            + " | ".join(f"{ll[n]:.4f}" for n in BASELINES) + " | "
            + " | ".join(f"{auc[n]:.3f}" for n in BASELINES[:-1]) + f" | {pairs['observed_missed_whole']:.3f} | "
            + " | ".join(f"{pairs[n]:.3f}" for n in BASELINES[:3]) + " |")


def print_quality(rows: list[tuple[str, dict]]) -> None:
    print("\n| fitted on -> scored on | triples | missed | LL/triple annotator (pairs joint) | "
          + " | ".join(f"LL/triple {n}" for n in BASELINES) + " | "
          + " | ".join(f"AUC {n}" for n in BASELINES[:-1]) + " | whole pairs missed: observed | "
          + " | ".join(BASELINES[:3]) + " |")
    print("|" + "---|" * (3 + 1 + len(BASELINES) + len(BASELINES) - 1 + 1 + 3))
    for label, q in rows:
        print(quality_row(label, q))


def print_calibration(label: str, q: dict) -> None:
    for key in ("calibration_by_distance", "calibration_by_relation"):
        print(f"\n{label}, {key.replace('_', ' ')} (mean predicted miss rate vs observed)")
        print("| bucket | triples | observed | " + " | ".join(BASELINES) + " |\n|" + "---|" * (3 + len(BASELINES)))
        for row in q[key]:
            print(f"| {row['bucket']} | {row['triples']:,} | {row['observed']:.3f} | "
                  + " | ".join(f"{row[n]:.3f}" for n in BASELINES) + " |")


def without(docs: list[dict], titles: set[str]) -> list[dict]:
    return [d for d in docs if d["title"] not in titles]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/annotator")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--revisit", action="store_true", help="also train on the Revisit-fitted annotator noise")
    parser.add_argument("--no-train", action="store_true", help="fit and score the models only")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = resolve_data_dir()

    low = load_docs(data / "docred/dev.json")
    test, dev = load_docs(data / "redocred/test_revised.json"), load_docs(data / "redocred/dev_revised.json")
    train = dev[:450]
    revise = load_docs(data / "revisit-docred/valid_revise.json")
    scratch = load_docs(data / "revisit-docred/valid_scratch.json")
    fitted = fit_and_score(low, test, train, revise, scratch, out)
    if args.no_train:
        return
    specs, mixed = training_specs(low, test, train, fitted, args.revisit, out)
    summary = run_cells(specs, args.seeds, out, data)
    print_training(summary, specs, mixed, args.seeds, len(test))


def fit_and_score(low: list[dict], test: list[dict], train: list[dict], revise: list[dict], scratch: list[dict],
                  out: Path) -> dict[str, tuple[dict, Path]]:
    """Steps 1 and 2: both models fitted (name -> (model, file)), their fit quality and transfer printed."""
    docred_model, docred_path = fit(low, test, "docred", out,
                                    {"low": ["docred/dev.json"], "high": ["redocred/test_revised.json"]})
    revisit_model, revisit_path = fit(revise, scratch, "revisit", out,
                                      {"low": ["revisit-docred/valid_revise.json"],
                                       "high": ["revisit-docred/valid_scratch.json"]})
    test_titles, revisit_titles = {d["title"] for d in test}, {d["title"] for d in scratch}
    print(f"DocRED model: {docred_model['training']['documents']} documents, {docred_model['training']['triples']:,} "
          f"triples, miss rate {docred_model['training']['miss_rate']:.3f}; Revisit model: "
          f"{revisit_model['training']['documents']} documents, {revisit_model['training']['triples']:,} triples, "
          f"miss rate {revisit_model['training']['miss_rate']:.3f}")
    print_quality([
        ("DocRED test -> held-out folds", docred_model["held_out"]),
        ("DocRED test -> training documents (dev 0-449)", evaluate(docred_model, low, train)),
        (f"DocRED test -> Revisit ({len(revisit_titles - test_titles)} docs not in test)",
         evaluate(docred_model, without(revise, test_titles), without(scratch, test_titles))),
        ("Revisit -> held-out folds", revisit_model["held_out"]),
        (f"Revisit -> DocRED test pairs ({len(test_titles - revisit_titles)} docs not in Revisit)",
         evaluate(revisit_model, low, without(test, revisit_titles))),
        ("Revisit -> training documents not in Revisit", evaluate(revisit_model, low, without(train, revisit_titles))),
    ])
    print_calibration("DocRED test -> training documents", evaluate(docred_model, low, train))
    return {"DocRED": (docred_model, docred_path), "Revisit": (revisit_model, revisit_path)}


def training_specs(low: list[dict], test: list[dict], train: list[dict], fitted: dict[str, tuple[dict, Path]],
                   revisit: bool, out: Path) -> tuple[dict[str, str], dict]:
    """Step 3's noise specs (label -> spec), every synthetic one removing DocRED's count, and mixed:1.0's manifest;
    writes out/profile.json (the per-relation profile of the test documents)."""
    profile = noise.measure_profile(low, test)
    atomic_write_json(out / "profile.json", profile)
    mixed = noise.apply_noise(train, "mixed:1.0", 0, low_docs=low)[1]
    removed = mixed["steps"][0]["n_removed"]
    uniform = f"fn-uniform:{removed / mixed['positives_before']:.5f}"
    specs = {"DocRED's real labels": "mixed:1.0", "per-relation profile": "real:1.0", "uniform, same count": uniform,
             "annotator (fitted on DocRED test), same count": same_count(*fitted["DocRED"], train, removed)}
    if revisit:
        specs["annotator (fitted on Revisit), same count"] = same_count(*fitted["Revisit"], train, removed)
    aligned = {hi["title"] for _, hi in align(low, train).pairs}
    for name, (model, _) in fitted.items():
        print(f"{name} model's expected misses on the training documents: {expected_misses(model, train):,.0f} on all "
              f"{len(train)}, {expected_misses(model, [d for d in train if d['title'] in aligned]):,.0f} on the "
              f"{len(aligned)} that align with DocRED, whose real labels miss {removed:,}")
    return specs, mixed


def run_cells(specs: dict[str, str], seeds: list[int], out: Path, data: Path) -> RunSummary:
    """The quick profile's recipe on `specs` x `seeds`, run into out/results (out/bench.toml records it)."""
    base = tomllib.loads((ROOT / "bench.toml").read_text(encoding="utf-8"))
    quick = _deep_merge({k: v for k, v in base.items() if k != "profile"}, base["profile"]["quick"])
    quick.pop("description", None)
    quick["name"] = "annotator-realism"
    quick["data"]["profile"] = str(out / "profile.json")
    quick["matrix"] = {"models": ["atlop"], "losses": ["atl"], "noise": list(specs.values()), "seeds": seeds}
    write_toml(quick, out / "bench.toml")
    cfg = load_config(out / "bench.toml", None, data)
    return run_bench(cfg, out / "results", report=False)


def print_training(summary: RunSummary, specs: dict[str, str], mixed: dict, seeds: list[int], n_test: int) -> None:
    """Step 3's table: each spec's scores over the seeds, and its ΔF1 against DocRED's real labels (mixed:1.0)."""
    store = ResultsStore(summary.results_dir)
    records = {}
    for cell_id in summary.statuses:
        record = store.read_cell(cell_id)
        if record is not None and record.status == "done":
            records[record.noise, record.seed] = record
    normal = {label: noise.normalize_spec(spec) for label, spec in specs.items()}
    removed = mixed["steps"][0]["n_removed"]
    print(f"\nATL, frozen MiniLM, seeds {seeds}; Re-DocRED dev 0-449 trained on "
          f"({mixed['positives_before']:,} clean triples), DocRED's labels remove {removed:,} "
          f"(+{mixed['steps'][0]['n_added']} added); all 500 Re-DocRED test documents scored; ΔF1 vs DocRED's real "
          "labels: mean over the seeds both have, 95% paired bootstrap interval over test documents (10,000 "
          "resamples) and its p; scores: mean (min-max over seeds)")
    print("| training labels | removed / added (first seed) | F1 | precision | recall | F1 per seed | "
          "ΔF1 vs real labels [95% CI] | p |")
    print("|---|---|---|---|---|---|---|---|")
    real = {s: records.get((normal["DocRED's real labels"], s)) for s in seeds}
    resamples = Resamples.draw(n_test, seed=0)
    for label, spec in normal.items():
        got = {s: records[spec, s] for s in seeds if (spec, s) in records}
        if not got:
            print(f"| {label} | | not run | | | | | |")
            continue
        scores = [r.test.micro() for r in got.values()]
        f1 = [100 * s["f1"] for s in scores]
        delta, p = against_real(label, got, real, resamples)
        missing = [s for s in seeds if s not in got]
        spread = " | ".join(f"{mean(v):.1f} ({min(v):.1f}-{max(v):.1f})" for v in
                            (f1, [100 * s["precision"] for s in scores], [100 * s["recall"] for s in scores]))
        print(f"| {label}{f' (seeds {missing} missing)' if missing else ''} | {changes(store, got[min(got)])} | "
              f"{spread} | {', '.join(f'{v:.1f}' for v in f1)} | {delta} | {p} |")


def against_real(label: str, got: dict, real: dict, resamples: Resamples) -> tuple[str, str]:
    """(ΔF1 [95% CI], p) of a spec's cells against the real labels' on the seeds both have (paired bootstrap)."""
    both = [s for s in got if real.get(s) is not None]
    if label == "DocRED's real labels" or not both:
        return ("" if label == "DocRED's real labels" else "no paired seeds"), ""
    a = np.stack([got[s].test.docs for s in both])
    b = np.stack([real[s].test.docs for s in both])
    assert all(got[s].test.titles == real[s].test.titles for s in both)
    t = paired_test(a, b, resamples)
    return f"{100 * t.delta:+.1f} [{100 * t.ci_low:+.1f}, {100 * t.ci_high:+.1f}]", f"{t.p_bootstrap:.3f}"


def changes(store: ResultsStore, record) -> str:
    """Triples removed / added by the cell's noise, from its manifest."""
    manifest = store.cells_dir / record.cell_id / "manifest.json"
    if not manifest.exists():
        return ""
    steps = json.loads(manifest.read_text()).get("steps", [])
    return f"{sum(s['n_removed'] for s in steps):,} / {sum(s['n_added'] for s in steps):,}"


if __name__ == "__main__":
    main()
