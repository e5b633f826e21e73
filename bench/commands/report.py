"""`docrobust report`: tables, significance tests and figures for a benchmark results folder."""
from __future__ import annotations

import click

from docrobust.base import check_io
from docrobust.reports.results import ResultsStore

from .options import plugin_option


@click.command("report")
@plugin_option
@click.argument("results", type=click.Path(file_okay=False))
@click.option("--out", "html_path", type=click.Path(dir_okay=False), default="report.html", show_default=True,
              help="Self-contained HTML report to write.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as a PDF (A4, printed by headless Chromium).")
@click.option("--latex", "latex_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the compact table and the per-family tables as booktabs LaTeX into this folder.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the same tables as CSV into this folder.")
@click.option("--baseline", default=None,
              help="Loss every other loss is compared with [default: atl if present, else the first loss].")
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Bootstrap and permutation resamples per comparison.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the resampling.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Significance level after Holm correction.")
@click.option("--min-clean-f1", type=click.FloatRange(0, 1), default=0.10, show_default=True,
              help="Validity floor: a clean F1 below it marks the models as under-trained and withholds significance.")
def report(results: str, html_path: str, pdf_path: str | None, latex_dir: str | None, csv_dir: str | None,
           baseline: str | None, resamples: int, seed: int, alpha: float, min_clean_f1: float) -> None:
    """Write an HTML (and optionally PDF) report for the RESULTS folder of `docrobust bench run`, and optionally its
    tables for papers (LaTeX, CSV)."""
    from docrobust.reports import write_report  # matplotlib, seaborn and scipy load only for this command

    check_io(ResultsStore(results).records(), [html_path, pdf_path], [latex_dir, csv_dir], force=True)
    summary = write_report(results, html_path, pdf_path, baseline=baseline, resamples=resamples, seed=seed, alpha=alpha,
                           min_clean_f1=min_clean_f1, latex_dir=latex_dir, csv_dir=csv_dir)
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if not summary["valid"]:
        click.echo("warning: the models look under-trained (see the report's validity box); significance is withheld",
                   err=True)
    tables = [f"{len(summary[kind])} {kind} tables in {folder}"
              for kind, folder in (("latex", latex_dir), ("csv", csv_dir)) if folder is not None]
    written = " and ".join(p for p in (summary["html"], summary["pdf"], *tables) if p)
    pending = f", {summary['n_pending']} without a result" if summary["n_pending"] else ""
    click.echo(f"{summary['n_cells']} cells ({summary['n_failed']} failed{pending}) -> {written}")


commands = [report]
