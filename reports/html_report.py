"""The report as one self-contained HTML file: inline CSS, figures as base64 PNG, no network."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from matplotlib.figure import Figure

from docrobust.corpus import atomic_write_text
from docrobust.reports.report import Report, Table, overview, provenance, sections

LONG_TABLE = 60  # rows beyond which a provenance table is folded away

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2em auto;
       max-width: 1150px; padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.2em; }
p.note { font-size: 0.85em; color: #444; margin-top: 0.2em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.4em 0 1.2em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; text-align: left; white-space: nowrap; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
pre { background: #f6f6f6; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #333; }
.warn { color: #8a4b00; }
"""


def png_base64(fig: Figure, dpi: int = 150) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def table_html(table: Table, level: int = 3) -> str:
    body = table.frame.to_html(index=False, escape=True, border=0, na_rep="–")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    block = f'<h{level}>{html.escape(table.title)}</h{level}>{note}<div class="scroll">{body}</div>'
    if len(table.frame) > LONG_TABLE:
        return f"<details><summary>{html.escape(table.title)} ({len(table.frame)} rows)</summary>{block}</details>"
    return block


def render_html(report: Report) -> str:
    """The whole report as an HTML string."""
    parts = [f"<h1>DocRE robustness report: {html.escape(str(report.results.config.get('name', report.results.path.name)))}</h1>",
             table_html(overview(report))]
    if report.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
        parts.append(f'<h2>Warnings</h2><ul class="warn">{items}</ul>')
    parts.append("<h2>Configuration</h2><p class=\"note\">bench.json, as resolved by the runner.</p>"
                 f"<pre>{html.escape(json.dumps(report.results.config, indent=2, ensure_ascii=False))}</pre>")
    parts.append("<h2>Tables</h2>")
    parts += [table_html(table) for table in sections(report)]
    parts.append("<h2>Figures</h2>")
    for spec, fig in report.figures:
        parts.append(f'<figure><img alt="{html.escape(spec.caption, quote=True)}" '
                     f'src="data:image/png;base64,{png_base64(fig)}"></figure>')  # the caption is the figure's title
    parts.append("<h2>Provenance</h2>")
    parts += [table_html(table) for table in provenance(report)]
    title = html.escape(str(report.results.config.get("name", "docrobust report")))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f"<body>{''.join(parts)}</body></html>\n")


def write_html(report: Report, path: str | Path) -> None:
    atomic_write_text(path, render_html(report))
