"""The GPU path, measured (issue 8, part 5): one prepared script for a machine with one CUDA GPU.

    python benchmarks/gpu_check.py --out OUT [--encoder minilm] [--epochs 20]
    python benchmarks/gpu_check.py --out OUT --device cpu --epochs 1 --max-docs 8    # the script itself, checked on CPU

1. direct   Full fine-tuning of MiniLM ATLOP (marker pooling, bf16 autocast, ATLOP's learning rates) on Re-DocRED
            dev 0-449, the epoch chosen on 450-499, scored on the 500 Re-DocRED test documents: test F1 and Ign F1,
            training documents per second, peak GPU memory (torch.cuda.max_memory_allocated).
2. bench    The same cell through `docrobust bench run` with execution.gpus_per_run = 1 (a bench.toml written to
            OUT), so the local backend's GPU queue, worker process and device placement are exercised: its F1 and
            wall time next to the direct run's.

Data from DOCROBUST_DATA. --encoder-fp16 DIR: a copy of the encoder whose weights were saved in float16 (the device
tool carries at most 64 MiB, and MiniLM's float32 weights are 87 MiB); they are restored to float32 in OUT before
use, so training runs in float32 master weights as usual, from weights rounded to float16 once.
Writes OUT/gpu_check.json after each part.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from docrobust.base import atomic_write_json
from docrobust.corpus import RelationInventory, load_docs, load_train_facts
from docrobust.corpus.data import resolve_data_dir
from docrobust.models.train import TrainConfig, train

# ATLOP's settings (Zhou et al., 2021) for the cell, shared by the direct run and the generated bench.toml.
MODEL_OPTIONS = {"entity_pooling": "marker"}
TRAINING = {"batch_size": 4, "lr_encoder": 5e-5, "lr_head": 1e-4, "warmup": 0.06, "max_len": 1024}

BENCH_TOML = """\
name = "gpu-check"
description = "Full fine-tuning of MiniLM ATLOP on one GPU (benchmarks/gpu_check.py)"
encoder = "{encoder}"

[data]
train = "redocred/dev_revised.json"
train_range = [0, 450]
dev = "redocred/dev_revised.json"
dev_range = [450, 500]
test = "redocred/test_revised.json"
train_facts = "docred/train_annotated.fact"
relations = "meta/rel2id.json"

[matrix]
models = ["atlop"]
losses = ["atl"]
noise = ["clean"]
seeds = [0]

[execution]
backend = "local"
gpus_per_run = 1
"""


def toml_table(name: str, values: dict) -> str:
    """A TOML table of plain values (JSON's numbers and strings are TOML's)."""
    return f"\n[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def restore_fp32(source: Path, target: Path) -> Path:
    """A copy of the encoder folder `source` with its float16 safetensors weights cast back to float32."""
    from safetensors.torch import load_file, save_file
    shutil.copytree(source, target, dirs_exist_ok=True)
    for path in target.glob("*.safetensors"):
        save_file({k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()}, path,
                  metadata={"format": "pt"})
    return target


def part_direct(encoder: str, epochs: int, out: Path, options: dict) -> dict:
    root = resolve_data_dir()
    relations = RelationInventory.load(root)
    dev = load_docs(root / "redocred/dev_revised.json", relations)
    test = load_docs(root / "redocred/test_revised.json", relations)
    config = TrainConfig.from_dict({"model": "atlop", "loss": "atl", "model_options": MODEL_OPTIONS, **TRAINING,
                                    "encoder": encoder, "epochs": epochs, "seed": 0, "progress": False, **options})
    cuda = config.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    metrics = train(config, dev[:450], dev[450:], test, relations=relations,
                    train_facts=load_train_facts(root / "docred/train_annotated.fact"), out_dir=out / "direct")
    wall = time.perf_counter() - started
    seconds = metrics["seconds"]
    return {"epochs": epochs, "best_epoch": metrics["best_epoch"], "wall_seconds": wall, "seconds": seconds,
            "train_docs_per_second": min(450, config.max_train_docs or 450) * epochs / seconds["train"],
            "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
            "dev_f1": metrics["dev"]["f1"], "test_f1": metrics["test"]["f1"], "test_ign_f1": metrics["test"]["ign_f1"],
            "test_precision": metrics["test"]["precision"], "test_recall": metrics["test"]["recall"]}


def part_bench(encoder: str, epochs: int, out: Path, options: dict) -> dict:
    config = out / "bench.toml"
    config.write_text(BENCH_TOML.format(encoder=encoder) + toml_table("model_options.atlop", MODEL_OPTIONS)
                      + toml_table("training", {**TRAINING, "epochs": epochs, **options}))
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", "from docrobust.bench.cli import main; main()", "bench", "run",
                          str(config), "--out", str(out / "bench"), "--quiet", "--no-report"],
                         capture_output=True, text=True)
    wall = time.perf_counter() - started
    print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
    metrics = [json.loads(p.read_text()) for p in sorted((out / "bench" / "cells").glob("*/metrics.json"))]
    result = {"returncode": run.returncode, "wall_seconds": wall, "cells": len(metrics)}
    if metrics:
        m = metrics[0]
        result.update(best_epoch=m["best_epoch"], dev_f1=m["dev"]["f1"], test_f1=m["test"]["f1"],
                      test_ign_f1=m["test"]["ign_f1"], seconds=m["seconds"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--encoder-fp16", type=Path, help="an encoder folder with float16 weights, restored to float32")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--parts", default="direct,bench")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--max-docs", type=int, help="keep the first N training, dev and test documents")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device")
    options = {"device": args.device, **({"max_train_docs": args.max_docs, "max_eval_docs": args.max_docs}
                                         if args.max_docs else {})}
    args.out.mkdir(parents=True, exist_ok=True)
    encoder = str(restore_fp32(args.encoder_fp16, args.out / "encoder")) if args.encoder_fp16 else args.encoder
    report = {"gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "torch": torch.__version__,
              "encoder": f"{args.encoder_fp16} (float16 weights restored to float32)" if args.encoder_fp16 else encoder}
    for part in args.parts.split(","):
        report[part] = {"direct": part_direct, "bench": part_bench}[part](encoder, args.epochs, args.out, options)
        atomic_write_json(args.out / "gpu_check.json", report)
        print(part, json.dumps(report[part], indent=1), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
