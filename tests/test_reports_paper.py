"""docrobust report --latex / --csv: the report's compact and per-family tables for papers, one source of numbers."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from synthetic import write_synthetic_results

from docrobust.bench.cli import main
from docrobust.reports import build_report, load_results
from docrobust.reports.paper import paper_tables

RESAMPLES = 500
NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    """A results folder whose names carry underscores, its report through the command, and the report in memory."""
    root = tmp_path_factory.mktemp("paper")
    results = write_synthetic_results(root / "run", models=("atlop", "doc_unet"), losses=("atl", "cmm_b"),
                                      noise={"fn-uniform": (0.2, 0.4)}, seeds=(0, 1), n_docs=60, calibrated=True)
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(results), "--out", str(root / "report.html"), "--resamples", str(RESAMPLES),
              "--latex", str(root / "tex"), "--csv", str(root / "csv")])
    assert exit_.value.code == 0
    report = build_report(load_results(results), resamples=RESAMPLES, figures=False)  # the command's defaults
    return {"root": root, "tables": paper_tables(report)}


def body_rows(tex: str) -> list[list[str]]:
    """The cells of a booktabs tabular's body (between \\midrule and \\bottomrule)."""
    body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    return [line.removesuffix(" \\\\").split(" & ") for line in body.strip().splitlines()]


def balanced(tex: str) -> bool:
    depth = 0
    for char in tex.replace("\\{", "").replace("\\}", ""):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_latex_tables_look_compilable_and_carry_the_report_numbers(written):
    folder, tables = written["root"] / "tex", written["tables"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{stem}.tex" for stem in tables)
    assert {"summary", "results-clean", "results-fn-uniform"} <= set(tables)
    marked = 0
    for stem, (table, _) in tables.items():
        tex = (folder / f"{stem}.tex").read_text()
        assert tex.isascii() and balanced(tex), stem
        assert tex.count("\\begin{tabular}") == tex.count("\\end{tabular}") == 1, stem
        assert all(tex.count(rule) == 1 for rule in ("\\toprule", "\\midrule", "\\bottomrule")), stem
        assert not re.search(r"(?<!\\)[_%#]", tex), stem   # escaped by pandas; '&' only between cells (below)
        assert "doc\\_unet" in tex and "cmm\\_b" in tex and "\\caption{" in tex and f"\\label{{tab:{stem}}}" in tex
        rows = body_rows(tex)
        assert len(rows) == len(table.frame), stem
        for row, expected in zip(rows, table.frame.itertuples(index=False)):
            assert len(row) == len(expected), stem
            for cell, value in zip(row, expected):
                text = "" if pd.isna(value) else str(value)
                assert NUMBER.findall(cell) == NUMBER.findall(text), (stem, cell, text)
                marks = (len(re.findall(r"\\dagger", cell)), len(re.findall(r"\\ddagger", cell)))
                assert marks == (text.count("†"), text.count("‡")), (stem, cell, text)
                marked += marks != (0, 0)
    assert marked > 0   # the synthetic cmm_b is significantly more robust: superscripts are there to check
    family = (folder / "results-fn-uniform.tex").read_text()
    assert "$^{\\dagger}$ paired bootstrap" in family and "$^{\\ddagger}$ approximate randomization" in family
    assert "$\\pm$" in family and "F1 (\\%)" in family


def test_csv_tables_are_the_report_tables(written):
    folder, tables = written["root"] / "csv", written["tables"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{stem}.csv" for stem in tables)
    for stem, (table, _) in tables.items():
        read = pd.read_csv(folder / f"{stem}.csv", dtype=str, keep_default_na=False)
        expected = table.frame.astype(object).where(table.frame.notna(), "").astype(str)
        assert list(read.columns) == [str(c) for c in table.frame.columns], stem
        pd.testing.assert_frame_equal(read, expected.set_axis(read.columns, axis=1), check_dtype=False)


def test_table_folders_are_checked_like_the_other_outputs(written, tmp_path, capsys):
    results = written["root"] / "run"
    for options, reason in ((["--csv", str(results)], "the input"),
                            (["--latex", str(tmp_path / "t"), "--csv", str(tmp_path / "t")], "its own path")):
        with pytest.raises(SystemExit) as exit_:
            main(["report", str(results), "--out", str(tmp_path / "r.html"), *options])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and reason in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "r.html").exists()
