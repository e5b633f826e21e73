"""Noise generation against JSON I/O on a 3,000-document corpus: every model within 2x of load + save.

The corpus is Re-DocRED dev + test (500 documents each) repeated 3 times with distinct titles: 6 copies
of 500 documents. DocRED dev, repeated the same way, is the aligned low-quality version for `mixed`,
and its measured profile drives `real`; the annotator-noise model fitted to the same pair (not timed) drives
`annotator`.

    python benchmarks/bench_noise.py [--data-dir DIR] [--copies 3] [--goal 2.0]

Prints, per model, the seconds of apply_noise (including the input file's sha256) over the seconds
of load_docs + save_docs of the same file, and exits 1 if any ratio misses the goal.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from docrobust.base import sha256_file
from docrobust.corpus import load_docs, save_docs
from docrobust.corpus.data import resolve_data_dir
from docrobust.noise import NOISE_MODELS, apply_noise, measure_profile
from docrobust.noise.annotator import fit_stages, pair_data

RATES = {"mixed": 0.5, "real": 1.0, "annotator": 1.0}  # others: 0.3 for fn-*, 0.1 for fp-*


def spec_for(name: str, annotator: Path) -> str:
    if not NOISE_MODELS[name].takes_rate:
        return name
    spec = f"{name}:{RATES.get(name, 0.3 if name.startswith('fn-') else 0.1)}"
    return f"{spec},model={annotator}" if name == "annotator" else spec


def repeat(docs: list[dict], copies: int) -> list[dict]:
    return [{**d, "title": f"{d['title']} #{k}"} for k in range(copies) for d in docs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--copies", type=int, default=3, help="Copies of Re-DocRED dev + test.")
    parser.add_argument("--goal", type=float, default=2.0)
    args = parser.parse_args()
    data = resolve_data_dir(args.data_dir)
    clean = repeat(load_docs(data / "redocred/dev_revised.json") + load_docs(data / "redocred/test_revised.json"), args.copies)
    low = repeat(load_docs(data / "docred/dev.json"), args.copies)
    profile = measure_profile(low, clean)
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "corpus.json", Path(tmp) / "out.json"
        save_docs(clean, path)
        annotator = Path(tmp) / "annotator.json"
        annotator.write_text(json.dumps(fit_stages(pair_data(low, clean))))
        start = time.perf_counter()
        docs = load_docs(path)
        save_docs(docs, out)
        io_seconds = time.perf_counter() - start
        n = sum(len(d["labels"]) for d in docs)
        print(f"{len(docs):,} documents, {n:,} labels, {path.stat().st_size / 1e6:.1f} MB; "
              f"load + save {io_seconds:.2f} s; goal: noise <= {args.goal:g}x that")
        failed = []
        for name in NOISE_MODELS:
            spec = spec_for(name, annotator)
            start = time.perf_counter()
            apply_noise(docs, spec, 0, low_docs=low, profile=profile, source_sha256=sha256_file(path))
            ratio = (time.perf_counter() - start) / io_seconds
            print(f"  {spec.split(',model=')[0]:<22} {ratio:5.2f}x  {'ok' if ratio <= args.goal else 'SLOW'}")
            if ratio > args.goal:
                failed.append(spec)
    print("all within goal" if not failed else f"too slow: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
