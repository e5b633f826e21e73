"""The report as a PDF (matplotlib PdfPages): text and table pages drawn as figures, then the figures."""
from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Iterator

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from docrobust.corpus import atomic_write_bytes
from docrobust.reports.html_report import LONG_TABLE
from docrobust.reports.report import Report, Table, overview, provenance, sections

PAGE = (11.0, 8.5)  # landscape letter, inches: wide tables fit
ROWS_PER_PAGE = 30
TEXT_LINES_PER_PAGE = 75
MAX_CELL = 48  # characters; longer cells (hashes, error messages) are cut with an ellipsis
CHAR_WIDTH = 0.0058  # a 7.5 pt character as a fraction of the table's width (0.92 of the page)


def _cut(value: object) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table_pages(table: Table) -> Iterator[Figure]:
    """One landscape page per ROWS_PER_PAGE rows, the title and note on each."""
    frame = table.frame
    n_pages = max(1, -(-len(frame) // ROWS_PER_PAGE))
    for page in range(n_pages):
        rows = frame.iloc[page * ROWS_PER_PAGE:(page + 1) * ROWS_PER_PAGE]
        fig = Figure(figsize=PAGE)
        suffix = f" ({page + 1}/{n_pages})" if n_pages > 1 else ""
        fig.text(0.04, 0.96, table.title + suffix, fontsize=13, weight="bold", va="top")
        if table.note:
            fig.text(0.04, 0.925, textwrap.fill(table.note, 170), fontsize=8, va="top", color="0.25")
        ax = fig.add_axes((0.04, 0.04, 0.92, 0.80))
        ax.axis("off")
        if len(rows):
            text = [[_cut(v) for v in row] for row in rows.itertuples(index=False)]
            labels = [str(c) for c in frame.columns]
            # widths from character counts: measuring every cell's extent (auto_set_column_width) is the slow part
            chars = [max(len(s) for s in column) + 2 for column in zip(labels, *text)]
            widths = [c * CHAR_WIDTH / max(1.0, sum(chars) * CHAR_WIDTH) for c in chars]
            drawn = ax.table(cellText=text, colLabels=labels, colWidths=widths, loc="upper left", cellLoc="left")
            drawn.auto_set_font_size(False)
            drawn.set_fontsize(7.5)
            drawn.scale(1, 1.25)
            for (row, _), cell in drawn.get_celld().items():
                cell.set_edgecolor("0.85")
                if row == 0:
                    cell.set_facecolor("0.93")
        yield fig


def text_pages(title: str, text: str) -> Iterator[Figure]:
    """Monospaced text, TEXT_LINES_PER_PAGE lines a page."""
    lines = [piece for line in text.splitlines() for piece in (textwrap.wrap(line, 150, drop_whitespace=False) or [""])]
    n_pages = max(1, -(-len(lines) // TEXT_LINES_PER_PAGE))
    for page in range(n_pages):
        fig = Figure(figsize=PAGE)
        fig.text(0.04, 0.96, title + (f" ({page + 1}/{n_pages})" if n_pages > 1 else ""), fontsize=13, weight="bold", va="top")
        chunk = lines[page * TEXT_LINES_PER_PAGE:(page + 1) * TEXT_LINES_PER_PAGE]
        fig.text(0.04, 0.92, "\n".join(chunk), fontsize=7, family="monospace", va="top")
        yield fig


def pages(report: Report) -> Iterator[Figure]:
    """Every page in order: overview, warnings, configuration, tables, figures, provenance."""
    yield from table_pages(overview(report))
    if report.warnings:
        yield from text_pages("Warnings", "\n".join(report.warnings))
    yield from text_pages("Configuration (bench.json)", json.dumps(report.results.config, indent=2, ensure_ascii=False))
    for table in sections(report):
        yield from table_pages(table)
    for _, fig in report.figures:
        yield fig
    for table in provenance(report):
        if len(table.frame) > LONG_TABLE:
            table = Table(table.title, f"{len(table.frame)} rows: see the HTML report.", table.frame.iloc[:0])
        yield from table_pages(table)


def render_pdf(report: Report) -> bytes:
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": str(report.results.config.get("name", "docrobust report")),
                                    "Creator": "docrobust report"}) as pdf:
        for fig in pages(report):
            pdf.savefig(fig)
    return buffer.getvalue()


def write_pdf(report: Report, path: str | Path) -> None:
    atomic_write_bytes(path, render_pdf(report))
