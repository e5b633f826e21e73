"""Frozen-encoder features: encoder passes per matrix, and where a cell's time goes.

Runs a small frozen-MiniLM matrix (ATLOP x {atl, cmm} x {clean, fn-uniform:0.3, fn-uniform:0.6} x 2 seeds = 12
cells on 40 training, 10 dev and 50 test Re-DocRED documents, 3 epochs) in-process with a fresh feature store,
counting every document that goes through the encoder. Goal: one encoder pass per unique document, whatever
the number of cells. Then prints each cell's time split into encoding (reading the store), head training and
scoring, next to the one-off encoding the driver did for the whole matrix.

    python benchmarks/bench_features.py
"""
from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path
from statistics import mean

import docrobust.models.registry as registry
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.corpus.data import resolve_data_dir
from docrobust.reports.results import ResultsStore

BENCH = """
name = "features"
encoder = "minilm"
[data]
train = "redocred/dev_revised.json"
train_range = [0, 40]
dev = "redocred/dev_revised.json"
dev_range = [450, 460]
test = "redocred/test_revised.json"
test_range = [0, 50]
relations = "meta/rel2id.json"
[matrix]
models = ["atlop"]
losses = ["atl", "cmm"]
noise = ["clean", "fn-uniform:0.3", "fn-uniform:0.6"]
seeds = [0, 1]
[model_options.atlop]
emb_size = 128
block_size = 16
[training]
freeze_encoder = true
epochs = 3
lr_head = 3e-3
device = "cpu"
"""


def main() -> None:
    passes = []
    real = registry.encode

    def counting(model, input_ids, *args):
        passes.append(input_ids.shape[0])
        return real(model, input_ids, *args)
    registry.encode = counting
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DOCROBUST_CACHE"] = str(Path(tmp) / "cache")
        (Path(tmp) / "bench.toml").write_text(textwrap.dedent(BENCH), encoding="utf-8")
        cfg = load_config(Path(tmp) / "bench.toml", None, resolve_data_dir())
        summary = run_bench(cfg, Path(tmp) / "results", quiet=True, report=False)
        store = ResultsStore(summary.results_dir)
        splits = [store.read_cell(c).metrics["seconds"] for c in summary.statuses]
    unique = 40 + 10 + 50
    print(f"{len(summary.statuses)} cells, {unique} unique documents: {sum(passes)} documents encoded "
          f"({sum(passes) / unique:.2f} passes per document; goal 1.00), all by the driver: {summary.encoded_docs} "
          f"in {summary.encoding_seconds:.1f} s")
    print("per cell, mean over cells (s): " + ", ".join(f"{k} {mean(s[k] for s in splits):.2f}"
                                                      for k in ("features", "train", "score"))
          + "  (features = loading the encoder and reading the store)")


if __name__ == "__main__":
    main()
