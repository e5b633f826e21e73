"""docrobust.reports rendered: the HTML and PDF a results folder gives (the `written` report and its checks),
its first screen and pages in headless Chromium, and the PDF without Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_synthetic_results
from test_reports import QUICK, check_printed_numbers, html_tables, recompute

from docrobust.base import DocrobustError, sha256_file
from docrobust.reports import build_report, load_results, write_report
from docrobust.reports.plots import FIGURES
from docrobust.reports.report import findings as findings_of

CHROMIUM = shutil.which("chromium")
# In CI (`make test` installs chromium and poppler) a missing renderer fails the test instead of skipping it.
needs_chromium = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None and not os.environ.get("CI"),
                                   reason="poppler-utils (pdftotext, pdftoppm) is not installed")


# ---------------------------------------------------------------- the printed tables

@pytest.fixture(scope="module")
def written(results_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("report")
    before = {p: sha256_file(p) for p in results_dir.rglob("*") if p.is_file()}
    summary = write_report(results_dir, out / "report.html", out / "report.pdf", resamples=1000)
    after = {p: sha256_file(p) for p in results_dir.rglob("*") if p.is_file()}
    return {**summary, "inputs_unchanged": before == after, "dir": out}


@pytest.mark.slow
def test_every_printed_score_is_the_recomputed_one(results_dir, written):
    tables = html_tables(written["html"])
    seen = check_printed_numbers(tables, recompute(results_dir), ["fn-uniform"])
    assert seen == 12 * 4 + 12 * 4 + 4 * (1 + 2)  # per-family P/R/F1/Ign F1, buckets, summary clean + 2 rates


@pytest.mark.slow
def test_robustness_tables_follow_from_the_means(results_dir, written):
    tables = html_tables(written["html"])
    expected = recompute(results_dir)
    drops = tables["Results: fn-uniform"]
    assert len(drops) == 2 * 2 * 2
    assert set(tables["Results: clean"]["F1 drop (pts)"]) == {"–"}
    for row in drops.to_dict("records"):
        clean, noisy = expected[row["model"], row["loss"], "clean"]["f1"][0], expected[row["model"], row["loss"], row["noise"]]["f1"][0]
        assert row["F1 drop (pts)"] == f"{100 * (clean - noisy):.2f}"
        assert row["relative drop (%)"] == f"{100 * (clean - noisy) / clean:.1f}"
    summary = tables["F1 by noise rate"].set_index("model · loss")
    for row in tables["Robustness AUC"].to_dict("records"):
        f = [expected[row["model"], row["loss"], noise]["f1"][0] for noise in ("clean", "fn-uniform:0.2", "fn-uniform:0.4")]
        area = 0.2 * (f[0] + f[1]) / 2 + 0.2 * (f[1] + f[2]) / 2  # trapezoids over [0, 0.2] and [0.2, 0.4]
        assert row["AUC (%)"] == summary.at[f"{row['model']} · {row['loss']}", "AUC"] == f"{100 * area / 0.4:.2f}"


# ---------------------------------------------------------------- the summary

@pytest.mark.slow
def test_findings_state_the_tested_numbers(results_dir, written):
    text = Path(written["html"]).read_text()
    findings = re.findall(r"<li>(.*?)</li>", text.split('class="findings"')[1].split("</ul>")[0], re.S)
    report = build_report(load_results(results_dir), resamples=1000, figures=False)
    clean = report.summary[report.summary["noise_family"] == "clean"]
    assert findings[0] == (f"Without noise, F1 ranges from {100 * clean['f1_mean'].min():.2f}% (atlop · atl) to "
                           f"{100 * clean['f1_mean'].max():.2f}% (docunet · atl).")
    assert findings[1].startswith("At fn-uniform 0.4, the share of clean F1 kept is ")
    at_max = report.comparisons[report.comparisons["rate"] == 0.4]
    significant = at_max[at_max["p_bootstrap_holm"] < 0.05]
    assert 0 < len(significant) < len(at_max)  # this folder has both kinds at its largest rate
    for row in significant.itertuples():  # each significant difference is stated with its own numbers
        assert (f"{row.model} · cmm above atl (ΔF1 {100 * row.delta_f1:+.1f} points, 95% CI [{100 * row.ci_low:.1f}, "
                f"{100 * row.ci_high:.1f}], paired bootstrap over 50 documents, p = {row.p_bootstrap_holm:.3f} after "
                "Holm)") in findings[2]
    others = len(at_max) - len(significant)
    assert findings[2].endswith(f"; {others} other comparison(s) show no significant difference.")
    # with 100 resamples no p-value can pass Holm: "no significant difference" is stated, with the largest one
    few = build_report(load_results(results_dir), resamples=100, figures=False)
    largest = few.comparisons[few.comparisons["rate"] == 0.4].sort_values("delta_f1", key=abs).iloc[-1]
    assert (f"There, no loss differs significantly from atl (largest difference: {largest['model']} · cmm, "
            f"ΔF1 {100 * largest['delta_f1']:+.1f} points") in findings_of(few)[2]


# ---------------------------------------------------------------- the written files

@pytest.mark.slow
def test_write_report_summary_and_inputs(written):
    assert written["n_cells"] == 24 and written["n_failed"] == 1 and written["n_pending"] == 0
    assert written["warnings"] == [] and written["valid"] and written["inputs_unchanged"]
    assert Path(written["html"]).is_file() and Path(written["pdf"]).read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_html_is_self_contained_and_ends_with_provenance(written):
    text = Path(written["html"]).read_text()
    assert not re.search(r"https?://", text)
    assert "<link" not in text and "<script" not in text
    assert text.count('src="data:image/png;base64,') == len(FIGURES)
    tables = html_tables(written["html"])
    assert tables["Failed cells"]["cell_id"].tolist() == ["docunet__cmm__fn-uniform-0.4__s1"]
    assert tables["Failed cells"]["error"].tolist() == ["RuntimeError: CUDA out of memory"]
    assert "c" * 64 in text and "transformers" in text  # data hashes and versions
    order = [text.index(s) for s in ('id="summary"', "<h2>Results by noise family", "<h2>Paired comparisons",
                                     "<h2>Breakdowns", "<h2>Precision and recall", "<h2>Provenance",
                                     "<details><summary>Configuration")]
    assert order == sorted(order)


def screenshot(html: Path, out: Path, profile: Path, css: str = "") -> np.ndarray:
    """The first screen (1280 × 900) of `html`, with `css` added, as an RGB array."""
    import matplotlib.image

    page = out.with_suffix(".html")
    page.write_text(html.read_text().replace("</head>", f"<style>{css}</style></head>"))
    subprocess.run([CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", "--virtual-time-budget=10000",  # wait for the page to settle (loaded CPUs)
                    "--font-render-hinting=none", "--disable-lcd-text",    # the same glyphs in every render
                    f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1280,900",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    return matplotlib.image.imread(out)[..., :3]


@pytest.mark.slow
@needs_chromium
def test_first_screen_shows_the_findings_and_the_headline_figure(written, tmp_path):
    """Hiding an element (its space kept) changes the first screen exactly when it is on the first screen."""
    html = Path(written["html"])
    full = screenshot(html, tmp_path / "full.png", tmp_path / "profile")
    assert full.shape[:2] == (900, 1280) and full.std() > 0.05
    for element, min_height in (("#summary .findings", 60), ("#headline img", 250)):
        hidden = screenshot(html, tmp_path / "hidden.png", tmp_path / "profile", f"{element} {{ visibility: hidden }}")
        rows, columns = np.nonzero(np.abs(full - hidden).max(axis=2) > 0.1)
        assert rows.size > 2000, f"{element} is not on the first screen"
        assert rows.max() - rows.min() >= min_height and columns.max() - columns.min() >= 300, element
    # and the tables further down are not: their layout boxes start below the first screen. (Read from the layout,
    # not from pixels: Chromium rasterizes the same text slightly differently from one render to the next, enough to
    # blur a check that nothing changed.)
    tops = table_tops(html, tmp_path / "geometry.html", tmp_path / "profile")
    assert tops["width"] == 1280 and tops["tables"] and min(tops["tables"]) >= 900, tops   # the screenshots' 900 px


def table_tops(html: Path, out: Path, profile: Path) -> dict:
    """{"tables": the top (px) of each section table after the summary, "width": the layout's} in a 1280 px wide
    window, laid out by headless Chromium and written into the page by a script for --dump-dom to print."""
    script = ("<script>addEventListener('load', () => { const tops = [...document.querySelectorAll('h2 ~ div table')]"
              ".map(t => t.getBoundingClientRect().top); const pre = document.createElement('pre');"
              " pre.id = 'geometry'; pre.textContent = JSON.stringify({tables: tops, width: innerWidth});"
              " document.body.append(pre); });"
              "</script>")
    out.write_text(html.read_text().replace("</head>", f"{script}</head>"))
    dom = subprocess.run([CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          "--hide-scrollbars", "--virtual-time-budget=10000", f"--user-data-dir={profile}",
                          "--window-size=1280,900", "--dump-dom", out.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(re.search(r'<pre id="geometry">(.*?)</pre>', dom).group(1))


def pdf_text(path: Path, first: int, last: int) -> str:
    return subprocess.run(["pdftotext", "-layout", "-f", str(first), "-l", str(last), str(path), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", Path(path).read_bytes()))


@pytest.mark.slow
@needs_chromium
@needs_poppler
def test_pdf_opens_with_the_summary_and_a_quick_run_fits_in_8_pages(tmp_path):
    folder = write_synthetic_results(tmp_path / "quick", quality=0.02, **QUICK)
    write_report(folder, tmp_path / "r.html", tmp_path / "r.pdf", resamples=1000)
    first = pdf_text(tmp_path / "r.pdf", 1, 1)
    for text in ("DocRE robustness report: synthetic", "These models are under-trained", "F1 by noise rate",
                 "clean F1", "F1 @ 0.3", "Without noise, F1 ranges from", "Test scores versus the rate"):
        assert text in first, text
    n_pages = pdf_pages(tmp_path / "r.pdf")
    assert 2 <= n_pages <= 8
    assert "(A4)" in subprocess.run(["pdfinfo", str(tmp_path / "r.pdf")], capture_output=True, text=True).stdout
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "page")], check=True, timeout=120)
    import matplotlib.image

    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == n_pages
    lowest_ink = [np.nonzero((image < 0.9).any(axis=(1, 2)))[0].max() / image.shape[0]
                  for image in (matplotlib.image.imread(p)[..., :3] for p in pages)]
    assert min(lowest_ink[:-1]) > 0.6  # content flows: no page but the last ends in its upper part


@pytest.mark.slow
@needs_chromium
@needs_poppler
def test_pdf_is_the_html_printed(written):
    text = pdf_text(Path(written["pdf"]), 1, 99)
    for title in ("F1 by noise rate", "Results: fn-uniform", "Paired comparisons: fn-uniform", "F1 by bucket",
                  "Failed cells", "Software versions"):
        assert title in text


def test_pdf_without_chromium_is_one_line_and_keeps_the_html(results_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCROBUST_CHROMIUM", str(tmp_path / "no-such-browser"))
    with pytest.raises(DocrobustError, match="cannot run"):
        write_report(results_dir, tmp_path / "r.html", tmp_path / "r.pdf", resamples=100)
    assert (tmp_path / "r.html").is_file() and not (tmp_path / "r.pdf").exists()
    assert not list(tmp_path.glob(".*"))  # no partial file left


# ---------------------------------------------------------------- page 1 when F1 as trained cannot compare

def _make_f1_rise(folder: Path, cell: str = "atlop__cmm__fn-uniform-0.6__s0") -> None:
    """A noisy cell that predicts every gold triple it had missed: F1 as trained rises with noise."""
    path = folder / "cells" / cell / "metrics.json"
    metrics = json.loads(path.read_text())
    per_doc = metrics["test"]["per_doc"]
    per_doc["n_pred"] = [p + g - t for p, g, t in zip(per_doc["n_pred"], per_doc["n_gold"], per_doc["tp"])]
    per_doc["tp"] = list(per_doc["n_gold"])
    path.write_text(json.dumps(metrics))


@pytest.mark.slow
@needs_chromium
@needs_poppler
def test_first_page_states_the_calibrated_comparison_when_f1_as_trained_is_not_interpretable(tmp_path):
    """As-trained F1 trips the validity box; the dev-calibrated scores still answer, on PDF page 1, with their test;
    and a folder whose calibrated scores do not differ says so."""
    options = {**QUICK, "n_docs": 300, "seeds": (0,), "calibrated": True}
    differ = write_synthetic_results(tmp_path / "differ", **options)
    _make_f1_rise(differ)
    same = write_synthetic_results(tmp_path / "same", **options)
    _make_f1_rise(same)
    for cell in (same / "cells").iterdir():   # cmm's calibrated counts become atl's: nothing to tell them apart
        if "__cmm__" in cell.name:
            twin = json.loads((same / "cells" / cell.name.replace("__cmm__", "__atl__") / "metrics.json").read_text())
            metrics = json.loads((cell / "metrics.json").read_text())
            metrics["calibrated"] = twin["calibrated"]
            (cell / "metrics.json").write_text(json.dumps(metrics))

    for folder, expect_significant in ((differ, True), (same, False)):
        report = build_report(load_results(folder), resamples=4000, figures=False)
        assert not report.valid and report.valid_metric("f1_calibrated")
        row = report.retention[(report.retention["metric"] == "f1_calibrated")
                               & (report.retention["noise"] == "fn-uniform:0.6")].iloc[0]
        assert (row["p_holm"] < 0.05) == expect_significant, row
        write_report(folder, tmp_path / f"{folder.name}.html", tmp_path / f"{folder.name}.pdf", resamples=4000)
        page1 = " ".join(pdf_text(tmp_path / f"{folder.name}.pdf", 1, 1).split())
        assert "F1 cannot carry a comparison here; dev-calibrated F1 can." in page1
        stated = (f"dev-calibrated F1 {row['kept']:.0%} vs {row['kept_baseline']:.0%} (Δ {100 * row['delta']:+.1f} "
                  f"points, 95% CI [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}], ")
        assert stated in page1, page1
        if expect_significant:
            assert "At fn-uniform 0.6, atlop · cmm keeps more of its clean score than atlop · atl" in page1
            assert f"p = {row['p_holm']:.3f})" in page1 or "p < 0.001)" in page1
        else:
            assert "At fn-uniform 0.6, neither cmm nor atl keeps significantly more" in page1
            assert f"p = {row['p_holm']:.3f}, not significant)" in page1
