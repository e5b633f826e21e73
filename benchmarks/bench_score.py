"""Scoring speed: 500 Re-DocRED test documents against 20,000 predictions, after load (goal: under 0.5 s).

Predictions are every gold triple plus random wrong ones up to 20,000, some duplicated, with Ign F1
against DocRED's train facts. Prints the median of 5 runs and its ratio to the 0.5 s budget.
"""
from __future__ import annotations

import os
import random
import statistics
import time

from docrobust.corpus import load_docs, load_train_facts, score
from docrobust.corpus.data import resolve_data_dir

N_PRED = 20_000
BUDGET_S = 0.5


def main() -> None:
    data = resolve_data_dir(os.environ.get("DOCROBUST_DATA"))
    gold = load_docs(data / "redocred/test_revised.json")
    facts = load_train_facts(data / "docred/train_annotated.fact")
    rng = random.Random(0)
    relations = sorted({lab["r"] for d in gold for lab in d["labels"]})
    preds = [{"title": d["title"], "h_idx": lab["h"], "t_idx": lab["t"], "r": lab["r"]} for d in gold for lab in d["labels"]]
    while len(preds) < N_PRED:
        d = rng.choice(gold)
        h, t = rng.sample(range(len(d["vertexSet"])), 2)
        preds.append({"title": d["title"], "h_idx": h, "t_idx": t, "r": rng.choice(relations)})
    preds = preds[:N_PRED]
    rng.shuffle(preds)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = score(gold, preds, facts)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"score: {len(gold)} documents, {len(preds):,} predictions, F1 {100 * result['f1']:.2f}, "
          f"Ign F1 {100 * result['ign_f1']:.2f}")
    print(f"score: median {median:.3f} s over 5 runs = {median / BUDGET_S:.2f}x the {BUDGET_S} s budget "
          f"({'PASS' if median < BUDGET_S else 'FAIL'})")


if __name__ == "__main__":
    main()
