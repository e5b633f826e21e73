"""Runner overhead against a tiny-model cell, and `bench plan` on a 1,000-cell matrix with results present.

    python benchmarks/bench_runner.py [--data-dir DIR]

Goals, printed as ratios measured in this one run:
  1. the driver's time per cell outside training (preparing the task, noisy-set cache, persisting the cell,
     rebuilding results.csv; the one-off input loading and the final parquet write spread over the cells)
     is under 1% of one tiny-model cell's time;
  2. planning a 1,000-cell matrix whose results are all present (what `docrobust bench plan` does after
     its imports: load and validate bench.toml, hash inputs through the cache, expand, read 1,000 cell
     records) takes under 2 s.
Needs the real data (DOCROBUST_DATA or --data-dir); builds the tiny test encoder in a temporary folder.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tiny_encoder.py, synthetic.py

from docrobust.bench.config import load_config  # noqa: E402
from docrobust.bench.runner import cell_statuses, hash_cache, run_bench  # noqa: E402
from docrobust.base import atomic_write_json
from docrobust.corpus import score
from docrobust.corpus.data import resolve_data_dir  # noqa: E402
from docrobust.corpus.score import average_precision  # noqa: E402
from docrobust.reports.results import CellRecord, ResultsStore  # noqa: E402
from synthetic import draw_ranking, draw_scores  # noqa: E402

TOML = """
name = "bench"
encoder = "{encoder}"
[data]
train = "redocred/dev_revised.json"
train_range = [0, 8]
dev = "redocred/dev_revised.json"
dev_range = [8, 12]
test = "redocred/test_revised.json"
test_range = [0, 4]
relations = "meta/rel2id.json"
[matrix]
models = {models}
losses = {losses}
noise = {noise}
seeds = {seeds}
[training]
epochs = 1
max_len = 256
[model_options.atlop]
emb_size = 64
block_size = 16
"""


def write_toml(folder: Path, encoder: Path, models, losses, noise, seeds) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.toml"
    path.write_text(TOML.format(encoder=encoder, models=json.dumps(models), losses=json.dumps(losses),
                                noise=json.dumps(noise), seeds=json.dumps(seeds)), encoding="utf-8")
    return path


def instant_train(config, train_docs, dev_docs, test_docs, *, relations, train_facts, out_dir, **_):
    """A trainer that predicts nothing at once: what is left of a cell's time is the runner's."""
    metrics = {"best_epoch": 1, "dev": score(dev_docs, []), "test": score(test_docs, [], train_facts), "epochs": []}
    atomic_write_json(Path(out_dir) / "result.json", [])
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return metrics


def tiny_cell_seconds(tmp: Path, data_dir: Path, encoder: Path) -> tuple[float, float]:
    """(mean seconds of a real tiny-model cell, the runner's overhead per cell in that same run)."""
    cfg = load_config(write_toml(tmp / "tiny", encoder, ["atlop"], ["atl", "cmm"], ["clean", "fn-uniform:0.5"], [0]),
                      None, data_dir)
    summary = run_bench(cfg, tmp / "tiny" / "results", quiet=True, report=False)
    store = ResultsStore(summary.results_dir)
    seconds = [store.read_cell(c).total_seconds for c in summary.ran]
    return statistics.mean(seconds), summary.overhead_seconds / len(summary.ran)


def runner_overhead(tmp: Path, data_dir: Path, encoder: Path, n_seeds: int) -> tuple[float, int]:
    """Driver seconds per cell over a matrix of instant cells (models x losses x noise x seeds)."""
    cfg = load_config(write_toml(tmp / "overhead", encoder, ["atlop", "docunet"], ["atl", "cmm"],
                                 ["clean", "fn-uniform:0.5"], list(range(n_seeds))), None, data_dir)
    summary = run_bench(cfg, tmp / "overhead" / "results", quiet=True, report=False, train_fn=instant_train)
    return summary.overhead_seconds / len(summary.ran), len(summary.ran)


def plan_seconds(tmp: Path, data_dir: Path, encoder: Path) -> tuple[float, int]:
    """Wall seconds of the plan path on 2 x 5 x 10 x 10 = 1,000 cells, all with results present (each with 500
    test documents' counts, which the status check parses)."""
    noise = ["clean"] + [f"fn-uniform:{r / 10:g}" for r in range(1, 10)]
    toml = write_toml(tmp / "plan", encoder, ["atlop", "docunet"], ["atl", "cmm", "afl", "pu", "bce"], noise,
                      list(range(10)))
    store = ResultsStore(tmp / "plan" / "results")
    rng = np.random.default_rng(0)
    for cell in load_config(toml, None, data_dir, check_names=False).cells():  # results present
        test = draw_scores(rng, 500, 0.5, 0.3)
        ranked = draw_ranking(rng, test.docs[:, 2].astype(int), 0.5)   # what a trained cell adds: its test ranking
        metrics = {"test": test.to_json(), "dev": draw_scores(rng, 100, 0.5, 0.3).to_json(), "best_epoch": 12,
                   "epochs": [{"epoch": e, "loss": 0.1, "dev_f1": 0.3, "dev_ign_f1": 0.3, "dev_calibrated_f1": 0.3,
                               "seconds": 4.0} for e in range(1, 17)],
                   "ranking": {"ap": average_precision(ranked["score"], ranked["relevant"], test.docs[:, 2].sum()),
                               "depth": len(ranked["score"]), "n_candidates": int(ranked["n_candidates"]),
                               "relevant_ranked": int(ranked["relevant"].sum())}}
        buf = io.BytesIO()
        np.savez_compressed(buf, **ranked)
        store.write_cell(CellRecord(cell.cell_id, cell.model, cell.loss, cell.noise, "fn-uniform", 0.0, cell.seed, "done",
                                    cell.config_hash, metrics=metrics), {"ranking.npz": buf.getvalue()})
    hash_cache(store)  # warm the file-hash cache as a first plan would
    cache = hash_cache(store)
    load_config(toml, None, data_dir, check_names=False, hash_file=cache)
    cache.save()

    t0 = time.perf_counter()
    cache = hash_cache(store)
    cells = load_config(toml, None, data_dir, check_names=False, hash_file=cache).cells()
    statuses = cell_statuses(store, cells)
    lines = [f"{c.cell_id}  {statuses[c.cell_id]}" for c in cells]
    seconds = time.perf_counter() - t0
    assert len(lines) == 1000 and set(statuses.values()) == {"done"}
    return seconds, len(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the instant-cell matrix (8 cells each)")
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    from tiny_encoder import _texts, build_tiny_encoder

    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        tmp = Path(tmp)
        encoder = build_tiny_encoder(_texts(), tmp / "encoder")
        cell, overhead_real = tiny_cell_seconds(tmp, data_dir, encoder)
        overhead, n_cells = runner_overhead(tmp, data_dir, encoder, args.seeds)
        plan, n_plan = plan_seconds(tmp, data_dir, encoder)
    print(f"tiny-model cell: {cell:.2f} s (mean of 4)")
    print(f"runner overhead per cell, {n_cells} instant cells: {overhead * 1000:.1f} ms = "
          f"{overhead / cell:.2%} of a tiny cell (goal < 1%)")
    print(f"runner overhead per cell, the 4 tiny cells themselves: {overhead_real * 1000:.1f} ms = "
          f"{overhead_real / cell:.2%} of a tiny cell")
    print(f"bench plan, {n_plan} cells with results present: {plan:.3f} s = {plan / 2.0:.2f} x the 2 s goal")


if __name__ == "__main__":
    main()
