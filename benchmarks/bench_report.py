"""Report speed: a synthetic results folder of 1,000 cells × 500 test documents -> HTML + PDF.

Goal: `write_report` under 60 s on 2 cores. Prints its seconds and the ratio to the budget.
Run: python benchmarks/bench_report.py [--resamples 10000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from docrobust.reports import write_report
from docrobust.reports.synthetic import write_synthetic_results

BUDGET_S = 60.0
# 2 models × 5 losses × (clean + 4 families × 6 rates = 25 noise cells) × 4 seeds = 1,000 cells
GRID = {
    "models": ("bert", "roberta"),
    "losses": ("atl", "bce", "sat", "apl", "nce"),
    "noise": {family: (0.05, 0.1, 0.2, 0.3, 0.4, 0.5) for family in ("fn-uniform", "fp-type", "mixed", "fn-uniform+fp-type")},
    "seeds": (0, 1, 2, 3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        write_synthetic_results(root / "results", n_docs=500, n_failed=3, **GRID)
        print(f"built the synthetic folder in {time.perf_counter() - start:.1f} s (outside the budget)")

        start = time.perf_counter()
        summary = write_report(root / "results", root / "report.html", root / "report.pdf", resamples=args.resamples)
        seconds = time.perf_counter() - start
        print(f"cells: {summary['n_cells']} ({summary['n_failed']} failed), 500 documents, {args.resamples:,} resamples")
        print(f"html {(root / 'report.html').stat().st_size / 1e6:.1f} MB, pdf {(root / 'report.pdf').stat().st_size / 1e6:.1f} MB")
        print(f"write_report: {seconds:.1f} s = {seconds / BUDGET_S:.2f} × the {BUDGET_S:.0f} s budget")


if __name__ == "__main__":
    main()
