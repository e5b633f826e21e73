"""The report as one self-contained HTML file: the Jinja2 template report.html.j2 beside this module, inline CSS,
figures as base64 PNG, no script and nothing fetched. Its print rules make the same file the PDF (pdf_report)."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import jinja2
from matplotlib.figure import Figure

from docrobust.base import atomic_write_text

from .content import Report, Section, Table
from .details import sections
from .findings import findings
from .printing import NUMBER
from .provenance import provenance
from .summary import notices, summary_table, validity_lines, validity_title

LONG_TABLE = 60  # rows beyond which a provenance table is folded away (and left out of the PDF)
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def png_base64(fig: Figure, dpi: int = 150) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def table_view(table: Table) -> dict:
    """A table as the template shows it: strings, numbers flagged for right alignment."""
    rows = [[(text, bool(NUMBER.match(text))) for text in map(_text, row)]
            for row in table.frame.itertuples(index=False, name=None)]
    return {"title": table.title, "note": table.note, "columns": [str(c) for c in table.frame.columns], "rows": rows}


def _text(value: object) -> str:
    return "–" if value is None or (isinstance(value, float) and value != value) else str(value)


def subtitle(report: Report) -> str:
    """One line: what was run, on what."""
    results = report.results
    cells, planned = results.cells, len(results.cells) + len(results.pending)
    seeds = cells["seed"].nunique()
    parts = [f"{planned} cells ({len(results.done)} done"
             + (f", {len(results.failed)} failed" if len(results.failed) else "")
             + (f", {len(results.pending)} without a result" if len(results.pending) else "") + ")",
             f"models {', '.join(dict.fromkeys(cells['model']))}", f"losses {', '.join(dict.fromkeys(cells['loss']))}",
             f"{seeds} seed{'s' if seeds != 1 else ''}", f"{results.n_docs} test documents",
             f"encoder {results.config.get('encoder') or '–'}"]
    return " · ".join(parts)


def render_html(report: Report) -> str:
    """The whole report as an HTML string."""
    figures = {name: {"caption": spec.caption, "src": png_base64(fig, dpi=180 if name == "f1_vs_rate" else 150)}
               for name, (spec, fig) in report.figures.items()}
    name = str(report.results.config.get("name") or report.results.path.name)

    def blocks(section: Section) -> dict:
        return {"title": section.title, "intro": section.intro,
                "blocks": [figures[b] if isinstance(b, str) else table_view(b) for b in section.blocks]}

    return TEMPLATES.get_template("report.html.j2").render(
        title=f"DocRE robustness report: {name}", subtitle=subtitle(report), invalid=validity_lines(report),
        invalid_title=validity_title(report), notices=notices(report),
        headline=figures.get("f1_vs_rate"), summary_table=table_view(summary_table(report)),
        findings=findings(report), sections=[blocks(s) for s in sections(report)],
        provenance=[table_view(t) for t in provenance(report)], warnings=report.warnings, long_table=LONG_TABLE,
        config_json=json.dumps(report.results.config, indent=2, ensure_ascii=False))


def write_html(report: Report, path: str | Path) -> None:
    atomic_write_text(path, render_html(report))
