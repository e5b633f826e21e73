"""Cost of the DocRE models relative to their encoder, on CPU with real Re-DocRED batches.

A training step is forward + loss + backward + AdamW step:

    encoder   encode() (both windows for long documents), a scalar of its output, AdamW over the encoder
    model     the model (same encode() inside), its default loss, AdamW over all its parameters

Each model runs in a fresh subprocess: a few training steps first, for its peak RSS (ru_maxrss),
then model and encoder-alone steps interleaved on the same batches (mean of --steps each), so
load from other processes on the shared cores hits both alike; the same for the eval-mode forward
(no_grad). Prints train-step and eval-forward ratios to the encoder's, peak RSS, and the seconds.
The encoder alone's peak RSS comes from its own subprocess.

    python benchmarks/bench_models.py --data /work/shared/data [--encoder minilm] [--threads 2] [--configs atlop]
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

CONFIGS = ("atlop", "docunet", "kd-docre")


def _batches(args) -> tuple[list[dict], object, object]:
    from docrobust.corpus import RelationInventory, load_docs
    from docrobust.models import batches_by_length, collate, featurize, load_encoder

    tokenizer, encoder = load_encoder(args.encoder)
    data = Path(args.data)
    dev = load_docs(data / "redocred" / "dev_revised.json")
    docs = dev[::len(dev) // (args.batch_size * args.batches)][:args.batch_size * args.batches]  # spread over the set
    relations = RelationInventory.load(data)
    features = featurize(docs, tokenizer, relations)
    batches = [collate(b) for b in batches_by_length(features, args.batch_size, shuffle=False)]
    return batches, encoder, relations


def _interleaved_seconds(steps: dict, batches: list, repeats: int) -> dict[str, float]:
    """Mean seconds per step of each step function, run in turn on the same batch, so load from
    other processes sharing the cores hits every configuration alike."""
    times = {name: [] for name in steps}
    for i in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step(batches[i % len(batches)])
            times[name].append(time.perf_counter() - start)
    return {name: statistics.fmean(t) for name, t in times.items()}


def run_config(name: str, args) -> dict:
    """One model against its encoder, in this process: peak RSS of the model's training steps first,
    then train-step and eval-forward seconds of model and encoder alone, interleaved."""
    import torch

    from docrobust.models import build_model
    from docrobust.models.encoder import encode, special_ids
    from docrobust.models.losses import build_loss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches, encoder, relations = _batches(args)
    model = build_model(name, encoder, 1 + len(relations))
    loss = build_loss(model.default_loss)
    start_ids, end_ids = special_ids(encoder)
    model_opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def model_forward(b):
        return model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])

    def encoder_forward(b):
        return encode(encoder, b["input_ids"], b["attention_mask"], start_ids, end_ids)[0]

    def train_step(optimizer, objective):
        def step(b):
            optimizer.zero_grad(set_to_none=True)
            objective(b).backward()
            optimizer.step()
        return step

    def eval_step(forward):
        def step(b):
            with torch.no_grad():
                forward(b)
        return step

    model_train = train_step(model_opt, lambda b: loss(model_forward(b), b["labels"]))
    model.train()
    for i in range(max(args.warmup, len(batches))):
        model_train(batches[i % len(batches)])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GB: the model's own peak, before the encoder's optimizer exists

    encoder_opt = torch.optim.AdamW(encoder.parameters(), lr=1e-5)
    encoder_train = train_step(encoder_opt, lambda b: encoder_forward(b).mean())
    encoder_train(batches[0])
    train = _interleaved_seconds({"encoder": encoder_train, "model": model_train}, batches, args.steps)
    model.eval()
    evaluation = _interleaved_seconds({"encoder": eval_step(encoder_forward), "model": eval_step(model_forward)},
                                      batches, args.steps)
    return {"config": name, "train_s": train, "eval_s": evaluation, "peak_rss_gb": peak,
            "tokens": [int(b["attention_mask"].sum()) for b in batches], "pairs": [len(b["labels"]) for b in batches]}


def encoder_peak(args) -> float:
    """Peak RSS (GB) of encoder-only training steps, in this process."""
    import torch

    from docrobust.models.encoder import encode, special_ids

    torch.set_num_threads(args.threads)
    batches, encoder, _ = _batches(args)
    start_ids, end_ids = special_ids(encoder)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-5)
    for i in range(max(args.warmup, len(batches))):
        optimizer.zero_grad(set_to_none=True)
        b = batches[i % len(batches)]
        encode(encoder, b["input_ids"], b["attention_mask"], start_ids, end_ids)[0].mean().backward()
        optimizer.step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DOCROBUST_DATA", ""), help="folder with redocred/ and meta/")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=4, help="batches of documents spread evenly over Re-DocRED dev")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps of each configuration (cycling through the batches)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {', '.join(CONFIGS)}")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: time this configuration, print JSON
    args = parser.parse_args()
    if not args.data:
        parser.error("pass --data or set DOCROBUST_DATA")
    if args.one:
        print(json.dumps(encoder_peak(args) if args.one == "encoder" else run_config(args.one, args)))
        return

    def child(name: str):
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--one", name], capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{name} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    print(f"encoder {args.encoder}, {args.batches} batches of {args.batch_size} Re-DocRED dev documents, "
          f"{args.threads} threads, mean of {args.steps} interleaved steps")
    print(f"encoder alone: peak RSS {child('encoder'):.2f} GB")
    print(f"{'model':9s} {'train/encoder':>14s} {'eval/encoder':>13s} {'peak RSS GB':>12s}   seconds (model/encoder)")
    for name in [c for c in args.configs.split(",") if c != "encoder"]:
        row = child(name)
        train, evaluation = row["train_s"], row["eval_s"]
        print(f"{name:9s} {train['model'] / train['encoder']:14.2f} {evaluation['model'] / evaluation['encoder']:13.2f} "
              f"{row['peak_rss_gb']:12.2f}   train {train['model']:.2f}/{train['encoder']:.2f}, "
              f"eval {evaluation['model']:.2f}/{evaluation['encoder']:.2f}; word pieces {row['tokens']}, pairs {row['pairs']}",
              flush=True)

if __name__ == "__main__":
    main()
