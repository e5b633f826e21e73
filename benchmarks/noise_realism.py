"""Is our synthetic noise realistic? ATL trained on DocRED's real labels vs on synthetic noise of the same size.

Setting: the quick profile (frozen MiniLM, ATLOP head, Re-DocRED dev 0-449 to train, 450-499 to select, all 500
Re-DocRED test documents to score). Three training sets of the same documents:

    mixed:1.0              DocRED's own labels on the 408 training documents that align (the real noise)
    real:1.0               the per-relation FN/FP profile of DocRED vs Re-DocRED, measured on the *test*
                           documents (held out from training), applied to the clean training labels
    fn-uniform:<rate>      uniform false negatives removing as many triples as mixed:1.0 does

The question: does the profile-shaped noise reproduce the real labels' F1 (and its precision/recall split)
better than uniform noise, within the seed spread? Runs through `docrobust bench` (resumable), then prints
the table for the README.

    python benchmarks/noise_realism.py [--out results/realism] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from statistics import mean

from docrobust import noise
from docrobust.bench.config import _deep_merge, load_config
from docrobust.bench.runner import run_bench
from docrobust.base import atomic_write_json
from docrobust.corpus import load_docs
from docrobust.corpus.data import resolve_data_dir
from docrobust.reports.results import ResultsStore

ROOT = Path(__file__).resolve().parents[1]


def toml_value(value) -> str:
    return json.dumps(value) if not isinstance(value, dict) else "{" + ", ".join(
        f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def write_toml(table: dict, path: Path) -> None:
    """A flat-enough TOML writer for a merged bench.toml (tables of scalars, lists and inline tables)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for name, sub in table.items():
        if isinstance(sub, dict):
            lines.append(f"\n[{name}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in sub.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/realism")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = resolve_data_dir()

    low = load_docs(data / "docred/dev.json")
    profile = noise.measure_profile(low, load_docs(data / "redocred/test_revised.json"))
    atomic_write_json(out / "profile.json", profile)
    train = load_docs(data / "redocred/dev_revised.json")[:450]
    mixed = noise.apply_noise(train, "mixed:1.0", 0, low_docs=low)[1]
    removed = mixed["steps"][0]["n_removed"]
    uniform = noise.normalize_spec(f"fn-uniform:{removed / mixed['positives_before']:.5f}")  # as cells record it

    base = tomllib.loads((ROOT / "bench.toml").read_text(encoding="utf-8"))
    quick = _deep_merge({k: v for k, v in base.items() if k != "profile"}, base["profile"]["quick"])
    quick.pop("description", None)
    quick["name"] = "realism"
    quick["data"]["profile"] = str(out / "profile.json")
    quick["matrix"] = {"models": ["atlop"], "losses": ["atl"], "noise": ["mixed:1.0", "real:1.0", uniform],
                       "seeds": args.seeds}
    write_toml(quick, out / "bench.toml")
    summary = run_bench(load_config(out / "bench.toml", None, data), out / "results", report=False)

    store = ResultsStore(summary.results_dir)
    rows = {}
    for cell_id in summary.statuses:
        record = store.read_cell(cell_id)
        if record is not None and record.status == "done":
            rows.setdefault(record.noise, []).append(record.metrics["test"])
    print(f"\nATL, frozen MiniLM, seeds {args.seeds}; {removed} of {mixed['positives_before']} training triples removed "
          f"by DocRED's labels (+{mixed['steps'][0]['n_added']} added); profile measured on the test documents "
          f"(overall FN rate {profile['totals']['fn_rate']:.3f}, FP rate {profile['totals']['fp_rate']:.3f})")
    print("| training labels | F1 | precision | recall | F1 per seed |\n|---|---|---|---|---|")
    for spec in ("mixed:1.0", "real:1.0", uniform):
        scores = rows.get(spec, [])
        if not scores:
            continue
        f1 = [100 * s["f1"] for s in scores]
        print(f"| {spec} | {mean(f1):.1f} (range {min(f1):.1f}-{max(f1):.1f}) | {mean(100 * s['precision'] for s in scores):.1f} "
              f"| {mean(100 * s['recall'] for s in scores):.1f} | {', '.join(f'{v:.1f}' for v in f1)} |")


if __name__ == "__main__":
    main()
