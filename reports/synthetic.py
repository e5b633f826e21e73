"""A synthetic results folder in the runner's format, for tests, benchmarks and trying the reporter.

Generative model per cell (model i, loss j, noise rate r, seed s) and test document d:
    n_gold_d ~ 1 + Poisson(12)
    recall   = clip(base_i - sensitivity_j * r + N(0, 0.01), 0.05, 0.95)   (false negatives in training)
    tp_d     ~ Binomial(n_gold_d, recall),  n_pred_d = tp_d + Poisson(fp_rate_j * (1 - r / 2) * n_gold_d)
    tp_in_train_d ~ Binomial(tp_d, 0.3)
Bucket counts split the totals binomially (intra 60%, frequent 70%), so every bucket is consistent.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from docrobust.corpus import atomic_write_json, atomic_write_text, sha256_json
from docrobust.reports.stats import prf

VERSIONS = {"docrobust": "0.1.0", "torch": "2.13.0", "transformers": "5.0.0", "python": "3.11.2"}


def _score(rng: np.random.Generator, n_docs: int, recall: float, fp_rate: float) -> dict:
    """A SCORE dict (docrobust.corpus.score.score layout) drawn from the module's model."""
    n_gold = 1 + rng.poisson(12, n_docs)
    tp = rng.binomial(n_gold, recall)
    n_pred = tp + rng.poisson(fp_rate * n_gold)
    tp_in_train = rng.binomial(tp, 0.3)
    totals = np.array([tp.sum(), n_pred.sum(), n_gold.sum(), tp_in_train.sum()])
    breakdown = {}
    for first, second, share in (("intra", "inter", 0.6), ("frequent", "long_tail", 0.7)):
        tp_a = rng.binomial(totals[0], share)
        pred_a = tp_a + rng.binomial(totals[1] - totals[0], share)
        gold_a = tp_a + rng.binomial(totals[2] - totals[0], share)
        breakdown[first] = {"n_pred": int(pred_a), "n_gold": int(gold_a), "tp": int(tp_a)}
        breakdown[second] = {"n_pred": int(totals[1] - pred_a), "n_gold": int(totals[2] - gold_a), "tp": int(totals[0] - tp_a)}
    scores = {k: float(v) for k, v in prf(totals).items()}
    return {
        **scores, "n_pred": int(totals[1]), "n_gold": int(totals[2]), "tp": int(totals[0]),
        "tp_in_train": int(totals[3]), "n_pred_unknown_title": 0,
        "per_doc": {"title": [f"doc{d:04d}" for d in range(n_docs)], "n_pred": n_pred.tolist(),
                    "n_gold": n_gold.tolist(), "tp": tp.tolist(), "tp_in_train": tp_in_train.tolist()},
        "breakdown": {**breakdown, "per_relation": {}},
    }


def write_synthetic_results(
    path: str | Path,
    models: Sequence[str] = ("bert", "roberta"),
    losses: Sequence[str] = ("atl", "sat"),
    noise: dict[str, Sequence[float]] | None = None,
    seeds: Sequence[int] = (0, 1),
    n_docs: int = 50,
    n_failed: int = 1,
    seed: int = 0,
) -> Path:
    """Write bench.json, results.csv and cells/ for every model × loss × (clean + noise cells) × seed.

    noise: family -> nominal rates (default {"fn-uniform": (0.2, 0.4)}); the last n_failed cells fail.
    """
    root = Path(path)
    noise = {"fn-uniform": (0.2, 0.4)} if noise is None else noise
    cells = [("clean", "clean", 0.0)] + [(f"{family}@{rate:g}", family, float(rate))
                                          for family, rates in noise.items() for rate in rates]
    grid = [(m, l, c, s) for m in models for l in losses for c in cells for s in seeds]
    rng = np.random.default_rng(seed)
    rows = []
    for index, (model, loss, (spec, family, rate), cell_seed) in enumerate(grid):
        i, j = models.index(model), losses.index(loss)
        cell_id = f"{index:04d}-{model}-{loss}-{spec.replace('@', '-')}-s{cell_seed}"
        failed = index >= len(grid) - n_failed
        recall = float(np.clip(0.55 + 0.05 * i - (0.6 - 0.2 * j) * rate + rng.normal(0, 0.01), 0.05, 0.95))
        fp_rate = (0.35 - 0.05 * j) * (1 - rate / 2)
        test = None if failed else _score(rng, n_docs, recall, fp_rate)
        achieved = rate * (1 + rng.normal(0, 0.02)) if rate else 0.0
        config = {"model": model, "loss": loss, "noise": spec, "seed": cell_seed, "epochs": 30}
        cell = {
            "cell_id": cell_id, "model": model, "loss": loss, "noise": spec, "noise_family": family, "rate": rate,
            "achieved_rate": achieved, "seed": cell_seed, "status": "failed" if failed else "done",
            "config_hash": sha256_json(config)[:16], "config": config,
            "timing": {"train_seconds": 100.0 + index, "total_seconds": 110.0 + index}, "versions": VERSIONS,
            "data_hashes": {"train": "a" * 64, "dev": "b" * 64, "test": "c" * 64, "noisy_train": f"{index:064x}"},
            "error": "RuntimeError: CUDA out of memory" if failed else None,
            "traceback": "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory" if failed else None,
        }
        folder = root / "cells" / cell_id
        atomic_write_json(folder / "cell.json", cell)
        if test is not None:
            dev = _score(rng, max(1, n_docs // 2), recall, fp_rate)
            epochs = [{"epoch": e, "dev_f1": dev["f1"] * (1 - 0.5 ** (e + 1)), "loss": 1.0 / (e + 1)} for e in range(3)]
            atomic_write_json(folder / "metrics.json", {"best_epoch": 2, "test": test, "dev": dev, "epochs": epochs})
        rows.append({
            "cell_id": cell_id, "model": model, "loss": loss, "noise": spec, "noise_family": family, "rate": rate,
            "achieved_rate": achieved, "seed": cell_seed, "status": cell["status"],
            **{k: (test[k] if test else np.nan) for k in ("precision", "recall", "f1", "ign_f1")},
            "train_seconds": cell["timing"]["train_seconds"], "config_hash": cell["config_hash"], "error": cell["error"] or "",
        })
    atomic_write_json(root / "bench.json", {
        "name": "synthetic", "profile": "test",
        "matrix": {"models": list(models), "losses": list(losses), "noise": {k: list(v) for k, v in noise.items()},
                   "seeds": list(seeds)},
        "data": {"train": "synthetic", "test": "synthetic"}, "encoder": "none",
    })
    atomic_write_text(root / "results.csv", pd.DataFrame(rows).to_csv(index=False))
    return root
