"""A synthetic results folder, written through the runner's own writer (docrobust.reports.results), for tests and
benchmarks (which put this folder on sys.path): the cell ids, noise specs, plan.json, cell.json and metrics.json are
those a `docrobust bench run` writes; only the counts are drawn instead of trained.

Generative model per cell (model i, loss j, noise rate r, seed s) and test document d:
    n_gold_d ~ 1 + Poisson(12)
    recall   = clip(quality + 0.05 i - 0.6 · 0.7^j · r + N(0, 0.01), 0.005, 0.95)   (later losses more robust)
    tp_d     ~ Binomial(n_gold_d, recall),  n_pred_d = tp_d + Poisson((0.35 - 0.05 j)(1 - r / 2) n_gold_d)
    tp_in_train_d ~ Binomial(tp_d, 0.3)
Bucket counts split the totals binomially (intra 60%, frequent 70%), so every bucket is consistent. A small
`quality` (e.g. 0.02) gives under-trained models, with clean F1 of a few percent. With calibrated=True every
done cell also carries a dev-calibrated score (recall + 0.05 at a threshold offset of -0.5). With ranked=True it
also carries a test ranking (ranking.npz and its AP): each document's n_gold_d gold triples score N(1 + 3 recall, 1)
and 30 n_gold_d other triples N(0, 1), the best RANKING_DEPTH kept.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from docrobust.base import sha256_json
from docrobust.corpus.score import BUCKETS, average_precision
from docrobust.models.train import RANKING_DEPTH
from docrobust.reports.results import CellRecord, PlannedCell, ResultsStore, Scores, cell_id_for

VERSIONS = {"docrobust": "0.1.0", "torch": "2.13.0", "transformers": "5.0.0", "python": "3.11.2"}


def draw_scores(rng: np.random.Generator, n_docs: int, recall: float, fp_rate: float) -> Scores:
    """Per-document counts of one split drawn from the module's model."""
    n_gold = 1 + rng.poisson(12, n_docs)
    tp = rng.binomial(n_gold, recall)
    n_pred = tp + rng.poisson(fp_rate * n_gold)
    docs = np.stack([tp, n_pred, n_gold, rng.binomial(tp, 0.3)], axis=1).astype(float)
    tp_all, pred_all, gold_all = docs[:, :3].sum(axis=0)
    buckets = {}
    for first, second, share in (("intra", "inter", 0.6), ("frequent", "long_tail", 0.7)):
        tp_a = rng.binomial(int(tp_all), share)
        pred_a = tp_a + rng.binomial(int(pred_all - tp_all), share)
        gold_a = tp_a + rng.binomial(int(gold_all - tp_all), share)
        buckets[first] = np.array([tp_a, pred_a, gold_a, 0.0])
        buckets[second] = np.array([tp_all - tp_a, pred_all - pred_a, gold_all - gold_a, 0.0])
    return Scores(tuple(f"doc{d:04d}" for d in range(n_docs)), docs, 0, {b: buckets[b] for b in BUCKETS})


def draw_ranking(rng: np.random.Generator, n_gold: np.ndarray, recall: float) -> dict[str, np.ndarray]:
    """A test ranking (models/train.py `ranking` layout) for documents with these gold counts."""
    n_items = 31 * n_gold
    doc = np.repeat(np.arange(len(n_gold), dtype=np.int32), n_items)
    relevant = np.concatenate([np.arange(n) < g for n, g in zip(n_items, n_gold)])
    score = (rng.normal(0, 1, len(doc)) + relevant * (1 + 3 * recall)).astype(np.float32)
    keep = np.argsort(-score, kind="stable")[:RANKING_DEPTH]
    return {"score": score[keep], "doc": doc[keep], "relevant": relevant[keep], "n_candidates": np.int64(len(doc))}


def spec_for(family: str, rate: float) -> str:
    """A real noise spec of `family` (steps joined by '+') with total rate `rate`, split evenly over its steps."""
    if family == "clean":
        return "clean"
    steps = family.split("+")
    return "+".join(f"{name}:{rate / len(steps):g}" for name in steps)


def write_synthetic_results(
    path: str | Path,
    models: Sequence[str] = ("atlop", "docunet"),
    losses: Sequence[str] = ("atl", "cmm"),
    noise: Mapping[str, Sequence[float]] | None = None,
    seeds: Sequence[int] = (0, 1),
    n_docs: int = 50,
    n_failed: int = 1,
    clean: bool = True,
    quality: float = 0.55,
    calibrated: bool = False,
    ranked: bool = False,
    seed: int = 0,
) -> Path:
    """Write bench.json, plan.json, cells/ and results.csv for models × losses × noise cells × seeds.

    noise: family -> nominal rates (default {"fn-uniform": (0.2, 0.4)}); clean: whether the matrix has the
    clean cell; the last n_failed cells of the plan fail.
    """
    store = ResultsStore(path)
    noise = {"fn-uniform": (0.2, 0.4)} if noise is None else noise
    cells = ([("clean", 0.0)] if clean else []) + [(family, float(r)) for family, rates in noise.items() for r in rates]
    grid = [(m, l, family, rate, s) for family, rate in cells for s in seeds for m in models for l in losses]
    rng = np.random.default_rng(seed)
    plan, records = [], []
    for index, (model, loss, family, rate, cell_seed) in enumerate(grid):
        i, j = models.index(model), losses.index(loss)
        spec = spec_for(family, rate)
        config = {"model": model, "loss": loss, "noise": spec, "seed": cell_seed, "training": {"epochs": 30}}
        cell = PlannedCell(cell_id_for(model, loss, spec, cell_seed), sha256_json(config)[:16], model, loss, spec,
                           cell_seed)
        plan.append(cell)
        failed = index >= len(grid) - n_failed
        recall = float(np.clip(quality + 0.05 * i - 0.6 * 0.7 ** j * rate + rng.normal(0, 0.01), 0.005, 0.95))
        fp_rate = (0.35 - 0.05 * j) * (1 - rate / 2)
        metrics = None
        if not failed:
            test, dev = draw_scores(rng, n_docs, recall, fp_rate), draw_scores(rng, max(1, n_docs // 2), recall, fp_rate)
            epochs = [{"epoch": e, "dev_f1": dev.micro()["f1"] * (1 - 0.5 ** (e + 1)), "loss": 1.0 / (e + 1)}
                      for e in range(3)]
            metrics = {"best_epoch": 2, "dev": dev.to_json(), "test": test.to_json(), "epochs": epochs}
            if calibrated:
                better = min(0.95, recall + 0.05)
                metrics["calibrated"] = {"offset": -0.5, "dev": draw_scores(rng, dev.docs.shape[0], better, fp_rate).to_json(),
                                         "test": draw_scores(rng, n_docs, better, fp_rate).to_json()}
        files = {"result.json": "[]\n"} if metrics else {}
        if metrics and ranked:
            ranking = draw_ranking(rng, test.docs[:, 2].astype(int), recall)
            metrics["ranking"] = {"ap": average_precision(ranking["score"], ranking["relevant"], test.docs[:, 2].sum()),
                                  "depth": len(ranking["score"]), "n_candidates": int(ranking["n_candidates"]),
                                  "relevant_ranked": int(ranking["relevant"].sum())}
            buf = io.BytesIO()
            np.savez_compressed(buf, **ranking)
            files["ranking.npz"] = buf.getvalue()
        record = CellRecord(
            cell.cell_id, model, loss, spec, family, rate, cell_seed, "failed" if failed else "done", cell.config_hash,
            achieved_rate=rate * (1 + rng.normal(0, 0.02)) if rate else 0.0, config=config,
            train_seconds=100.0 + index, total_seconds=110.0 + index, versions=VERSIONS,
            data_hashes={"train": "a" * 64, "dev": "b" * 64, "test": "c" * 64, "noisy_train": f"{index:064x}"},
            error="RuntimeError: CUDA out of memory" if failed else None,
            traceback="Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory" if failed else None,
            worker="synthetic:0", metrics=metrics)
        store.write_cell(record, files)
        records.append(record)
    store.write_bench_json({
        "name": "synthetic", "profile": "test", "encoder": "minilm",
        "matrix": {"models": list(models), "losses": list(losses),
                   "noise": list(dict.fromkeys(c.noise for c in plan)), "seeds": list(seeds)},
        "data": {"train": {"path": "synthetic"}, "test": {"path": "synthetic"}},
    })
    store.write_plan(plan)
    store.write_table(records)
    return store.root
