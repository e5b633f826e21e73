"""write_report: a results folder in, an HTML (and optionally a PDF) report out."""
from __future__ import annotations

from pathlib import Path

from docrobust.reports.html_report import write_html
from docrobust.reports.pdf_report import write_pdf
from docrobust.reports.report import build_report
from docrobust.reports.results import load_results


def write_report(
    results_dir: str | Path,
    html_path: str | Path,
    pdf_path: str | Path | None = None,
    *,
    baseline: str | None = None,
    resamples: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> dict:
    """Write the HTML report (and the PDF when pdf_path is given) for a results folder, atomically.

    baseline: the loss every other loss is compared with (default `atl` when present, else the
    first loss in results.csv); resamples: bootstrap and permutation resamples per comparison;
    seed: their random seed; alpha: significance level after Holm; confidence: CI level.
    Returns {"n_cells", "n_failed", "html", "pdf", "warnings"}.
    """
    results = load_results(results_dir)
    report = build_report(results, baseline, resamples, seed, alpha, confidence)
    write_html(report, html_path)
    if pdf_path is not None:
        write_pdf(report, pdf_path)
    return {"n_cells": len(results.cells), "n_failed": len(results.failed), "html": str(html_path),
            "pdf": None if pdf_path is None else str(pdf_path), "warnings": list(report.warnings)}
