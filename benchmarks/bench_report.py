"""Report speed: a synthetic results folder of 1,000 cells × 500 test documents -> HTML + PDF.

The folder is written through the runner's own writer (tests/synthetic.py), with real cell ids and
noise specs, every cell with a dev-calibrated score and a test ranking (ranking.npz, the threshold-free score).
Goal: `write_report` (tables, 200 paired comparisons and the retention comparisons of three score kinds at 10,000
resamples, the document-resampling bands, figures, HTML, and the PDF printed by headless Chromium) under 60 s on 2
cores. Prints its seconds, the ratio to the budget, where the time went, and what a cell's ranking adds to the
folder (goal: at most 2 MB per cell of 500 test documents).
Run: python benchmarks/bench_report.py [--resamples 10000]
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # synthetic.py

from docrobust.reports import write_report  # noqa: E402
from synthetic import write_synthetic_results  # noqa: E402

BUDGET_S = 60.0
# 2 models × 5 losses × (clean + 4 families × 6 rates = 25 noise cells) × 4 seeds = 1,000 cells
GRID = {
    "models": ("atlop", "docunet"),
    "losses": ("atl", "cmm", "afl", "bce", "pu"),
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
        write_synthetic_results(root / "results", n_docs=500, n_failed=3, calibrated=True, ranked=True, **GRID)
        print(f"built the synthetic folder in {time.perf_counter() - start:.1f} s (outside the budget)")
        rankings = [p.stat().st_size for p in (root / "results" / "cells").glob("*/ranking.npz")]
        print(f"ranking.npz: {len(rankings)} cells, largest {max(rankings) / 1e6:.2f} MB = "
              f"{max(rankings) / 2e6:.2f} × the 2 MB budget per cell")

        start = time.perf_counter()
        summary = write_report(root / "results", root / "report.html", root / "report.pdf", resamples=args.resamples)
        seconds = time.perf_counter() - start
        print(f"cells: {summary['n_cells']} ({summary['n_failed']} failed), 500 documents, {args.resamples:,} resamples")
        print(f"html {(root / 'report.html').stat().st_size / 1e6:.1f} MB, pdf {(root / 'report.pdf').stat().st_size / 1e6:.1f} MB, "
              f"{pdf_pages(root / 'report.pdf')} pages")
        print(f"write_report: {seconds:.1f} s = {seconds / BUDGET_S:.2f} × the {BUDGET_S:.0f} s budget")
        stages(root / "results")


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def stages(results: Path) -> None:
    """The same report again, stage by stage (second run: warm caches), to show where the time goes."""
    from docrobust.reports.html_report import write_html
    from docrobust.reports.pdf_report import write_pdf
    from docrobust.reports.report import build_report
    from docrobust.reports.tables import load_results

    times, t0 = {}, time.perf_counter()
    loaded = load_results(results)
    times["read the cells"], t0 = time.perf_counter() - t0, time.perf_counter()
    report = build_report(loaded, figures=False)
    times["statistics"], t0 = time.perf_counter() - t0, time.perf_counter()
    report = build_report(loaded, resamples=100)  # figures, with few resamples
    times["figures (+ statistics at 100 resamples)"], t0 = time.perf_counter() - t0, time.perf_counter()
    write_html(report, results.parent / "again.html")
    times["html (PNG encoding, template)"], t0 = time.perf_counter() - t0, time.perf_counter()
    write_pdf(results.parent / "again.html", results.parent / "again.pdf")
    times["pdf (Chromium)"] = time.perf_counter() - t0
    print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))


if __name__ == "__main__":
    main()
