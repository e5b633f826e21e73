"""Cost of the DocRE models relative to their encoder, on CPU with real Re-DocRED batches.

For each configuration, in a fresh subprocess (so peak RSS is its own):

    encoder   encode() forward + backward of a scalar of its outputs + AdamW step over the encoder
    atlop, docunet, kd-docre
              model forward + its default loss + backward + AdamW step over all parameters

each the median over --steps steps after --warmup, on batches of --batch-size documents; and the
eval-mode forward (no_grad) of each. Prints each model's train-step and eval-forward ratios to the
encoder's, and peak RSS (ru_maxrss). Other processes sharing the cores add noise: repeat a run
whose ratios look off.

    python benchmarks/bench_models.py --data /work/shared/data [--encoder minilm] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = ("encoder", "atlop", "docunet", "kd-docre")


def _batches(args) -> tuple[list[dict], object, object]:
    from docrobust.corpus import RelationInventory, load_docs
    from docrobust.models import batches_by_length, collate, featurize, load_encoder

    tokenizer, encoder = load_encoder(args.encoder)
    data = Path(args.data)
    docs = load_docs(data / "redocred" / "dev_revised.json")[args.first:args.first + args.batch_size * args.batches]
    relations = RelationInventory.load(data)
    features = featurize(docs, tokenizer, relations)
    batches = [collate(b) for b in batches_by_length(features, args.batch_size, shuffle=False)]
    return batches, encoder, relations


def _median_seconds(step, batches, warmup: int, steps: int) -> float:
    for i in range(warmup):
        step(batches[i % len(batches)])
    times = []
    for i in range(steps):
        start = time.perf_counter()
        step(batches[i % len(batches)])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_config(name: str, args) -> dict:
    """Time one configuration in this process; returns seconds per train step and eval forward, peak RSS."""
    import torch

    from docrobust.models import build_model
    from docrobust.models.encoder import encode, special_ids
    from docrobust.models.losses import build_loss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches, encoder, relations = _batches(args)
    if name == "encoder":
        module = encoder
        start_ids, end_ids = special_ids(encoder)

        def forward(b):
            return encode(encoder, b["input_ids"], b["attention_mask"], start_ids, end_ids)[0]

        def objective(b):
            return forward(b).mean()
    else:
        module = build_model(name, encoder, 1 + len(relations))
        loss = build_loss(module.default_loss)

        def forward(b):
            return module(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])

        def objective(b):
            return loss(forward(b), b["labels"])
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)

    def train_step(b):
        optimizer.zero_grad(set_to_none=True)
        objective(b).backward()
        optimizer.step()

    def eval_forward(b):
        with torch.no_grad():
            forward(b)

    module.train()
    train = _median_seconds(train_step, batches, args.warmup, args.steps)
    module.eval()
    evaluation = _median_seconds(eval_forward, batches, 1, args.steps)
    return {"config": name, "train_s": train, "eval_s": evaluation,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "tokens": [int(b["attention_mask"].sum()) for b in batches], "pairs": [len(b["labels"]) for b in batches]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DOCROBUST_DATA", ""), help="folder with redocred/ and meta/")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=2, help="distinct batches, cycled through")
    parser.add_argument("--first", type=int, default=0, help="first document of Re-DocRED dev to use")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {', '.join(CONFIGS)}")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: time this configuration, print JSON
    args = parser.parse_args()
    if not args.data:
        parser.error("pass --data or set DOCROBUST_DATA")
    if args.one:
        print(json.dumps(run_config(args.one, args)))
        return

    rows = {}
    for name in ["encoder"] + [c for c in args.configs.split(",") if c != "encoder"]:
        child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--one", name],
                               capture_output=True, text=True, check=False)
        if child.returncode:
            sys.exit(f"{name} failed:\n{child.stderr[-2000:]}")
        rows[name] = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{name:9s} train step {rows[name]['train_s']:.3f} s   eval forward {rows[name]['eval_s']:.3f} s   "
              f"peak RSS {rows[name]['peak_rss_gb']:.2f} GB", flush=True)
    base = rows["encoder"]
    print(f"\nbatches of {args.batch_size} documents, word pieces {base['tokens']}, pairs {rows[name]['pairs']}, "
          f"{args.threads} threads, encoder {args.encoder}")
    print(f"{'model':9s} {'train/encoder':>14s} {'eval/encoder':>13s} {'peak RSS GB':>12s}")
    for name, row in rows.items():
        if name != "encoder":
            print(f"{name:9s} {row['train_s'] / base['train_s']:14.2f} {row['eval_s'] / base['eval_s']:13.2f} "
                  f"{row['peak_rss_gb']:12.2f}")


if __name__ == "__main__":
    main()
