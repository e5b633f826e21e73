"""The report's tables for papers: the compact table and the per-family tables as booktabs LaTeX and as CSV.

The tables are the report's own (summary.summary_table, details.family_tables): the very frames the HTML shows,
so every number has one source. LaTeX is pandas' Styler.to_latex, whose escaping (escape="latex") makes every cell,
header and caption safe; on the escaped text, the report's own symbols are typeset (`±` as $\\pm$, `−` as $-$, `–`
as --, `·` as $\\cdot$) and the significance marks become superscripts ($^{\\dagger}$, $^{\\ddagger}$), so the files
are plain ASCII for any LaTeX with booktabs. A table's caption is its title and note; a family table's note says
what its marks mean. The CSV files hold the same cells as printed (strings such as `61.20 ± 0.85 †`).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from docrobust.base import atomic_write_text

from .content import Report, Table
from .details import family_note, family_tables
from .printing import NUMBER
from .results import safe_name
from .summary import summary_table

SYMBOLS = str.maketrans({"±": r"$\pm$", "−": "$-$", "–": "--", "·": r"$\cdot$"})
SUPERSCRIPTS = {"†": r"\dagger", "‡": r"\ddagger"}  # printing.MARKS' symbols
MARK_RUN = re.compile(f"(?: (?=[{''.join(SUPERSCRIPTS)}]+$))?([{''.join(SUPERSCRIPTS)}]+)")  # a cell's last space goes


def paper_tables(report: Report) -> dict[str, tuple[Table, str]]:
    """File stem -> (table, caption): `summary` (the compact table), then `results-<family>` per noise family."""
    summary = summary_table(report)
    out = {"summary": (summary, f"{summary.title}. {summary.note}")}
    note = family_note(report)
    for table in family_tables(report):
        out[f"results-{safe_name(table.title.removeprefix('Results: '))}"] = (table, f"{table.title}. {note}")
    return out


def typeset(escaped: object) -> str:
    """A cell or caption already escaped by pandas, with the report's symbols and significance marks in LaTeX."""
    marked = MARK_RUN.sub(lambda m: "$^{" + "".join(SUPERSCRIPTS[c] for c in m.group(1)) + "}$", str(escaped))
    return marked.translate(SYMBOLS)


def escape(text: str) -> str:
    """pandas' own LaTeX escaping (Styler.format(escape="latex")) of text outside the cells, such as a caption:
    Styler.to_latex writes its caption as given, so the text goes through a one-cell table's escaping."""
    rendered = pd.DataFrame([[text]]).style.hide(axis="index").hide(axis="columns").format(escape="latex").to_latex()
    return rendered.splitlines()[1].removesuffix(r" \\")


def to_latex(table: Table, caption: str, label: str) -> str:
    """One booktabs table (table float, caption, label, one tabular); numeric columns right-aligned."""
    frame = table.frame
    numeric = [len(frame) and all(v == "" or NUMBER.match(str(v)) for v in frame[c]) for c in frame.columns]
    align = "".join("r" if n else "l" for n in numeric)
    styler = (frame.style.hide(axis="index").format(typeset, escape="latex", na_rep="--")
              .format_index(typeset, escape="latex", axis="columns"))
    return styler.to_latex(hrules=True, column_format=align, caption=typeset(escape(caption)), label=label,
                           position="htbp", position_float="centering", environment="table")


def write_latex(report: Report, folder: str | Path) -> list[Path]:
    """`<stem>.tex` per paper table in `folder` (made if missing), each written atomically; the paths written."""
    return _write(folder, {f"{stem}.tex": to_latex(table, caption, f"tab:{stem}")
                           for stem, (table, caption) in paper_tables(report).items()})


def write_csv(report: Report, folder: str | Path) -> list[Path]:
    """`<stem>.csv` per paper table in `folder` (made if missing), the cells as printed; the paths written."""
    return _write(folder, {f"{stem}.csv": table.frame.to_csv(index=False)
                           for stem, (table, _) in paper_tables(report).items()})


def _write(folder: str | Path, files: dict[str, str]) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        atomic_write_text(folder / name, text)
    return [folder / name for name in files]
