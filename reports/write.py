"""write_report: a results folder in, an HTML (and optionally a PDF) report out, and its tables for papers."""
from __future__ import annotations

from pathlib import Path

from .cells import load_results
from .html_report import write_html
from .paper import write_csv, write_latex
from .pdf_report import write_pdf
from .report import MIN_CLEAN_F1, build_report


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
    min_clean_f1: float = MIN_CLEAN_F1,
    latex_dir: str | Path | None = None,
    csv_dir: str | Path | None = None,
) -> dict:
    """Write the HTML report (and the PDF when pdf_path is given: the HTML printed), each atomically, and the compact
    and per-family tables as booktabs LaTeX into latex_dir and as CSV into csv_dir when given (reports/paper.py).

    baseline: the loss every other loss is compared with (default `atl` when present, else the first loss);
    resamples: bootstrap and permutation resamples per comparison; seed: their random seed; alpha:
    significance level after Holm; confidence: CI level; min_clean_f1: the validity floor, below which a
    system's clean F1 marks the models as under-trained and significance is withheld.
    Returns {"n_cells", "n_failed", "n_pending", "valid", "html", "pdf", "latex", "csv", "warnings"}, "latex" and "csv"
    the files written (empty lists when not asked).
    """
    results = load_results(results_dir)
    report = build_report(results, baseline, resamples, seed, alpha, confidence, min_clean_f1=min_clean_f1)
    write_html(report, html_path)
    if pdf_path is not None:
        write_pdf(html_path, pdf_path)
    latex = write_latex(report, latex_dir) if latex_dir is not None else []
    csv = write_csv(report, csv_dir) if csv_dir is not None else []
    return {"n_cells": len(results.cells), "n_failed": len(results.failed), "n_pending": len(results.pending),
            "valid": report.valid, "html": str(html_path), "pdf": None if pdf_path is None else str(pdf_path),
            "latex": [str(p) for p in latex], "csv": [str(p) for p in csv], "warnings": list(report.warnings)}
