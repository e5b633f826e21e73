"""docrobust.reports end to end: results folders written through the runner's writer -> tables, HTML, PDF, CLI."""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from docrobust.bench.cli import main
from docrobust.base import DocrobustError, sha256_file
from docrobust.reports import build_report, load_results, write_report
from docrobust.reports.plots import FIGURES
from docrobust.reports.report import findings as findings_of
from docrobust.reports.report import validity_lines, validity_title
from docrobust.reports.html_report import render_html
from synthetic import write_synthetic_results

CHROMIUM = shutil.which("chromium")
# In CI (`make test` installs chromium and poppler) a missing renderer fails the test instead of skipping it.
needs_chromium = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None and not os.environ.get("CI"),
                                   reason="poppler-utils (pdftotext, pdftoppm) is not installed")
QUICK = dict(models=("atlop",), losses=("atl", "cmm"), noise={"fn-uniform": (0.3, 0.6), "mixed": (1.0,)}, seeds=(0,),
             n_docs=100, n_failed=0)  # the quick profile's matrix and test set size


def make_results(path: Path, **options) -> Path:
    """2 models × 2 losses × (clean + fn-uniform at 0.2 and 0.4) × 2 seeds, 50 documents, the last cell failed."""
    return write_synthetic_results(path, models=("atlop", "docunet"), losses=("atl", "cmm"),
                                   noise={"fn-uniform": (0.2, 0.4)}, seeds=(0, 1), n_docs=50, n_failed=1, **options)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("results") / "run")


@pytest.fixture(scope="module")
def written(results_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("report")
    before = {p: sha256_file(p) for p in results_dir.rglob("*") if p.is_file()}
    summary = write_report(results_dir, out / "report.html", out / "report.pdf", resamples=1000)
    after = {p: sha256_file(p) for p in results_dir.rglob("*") if p.is_file()}
    return {**summary, "inputs_unchanged": before == after, "dir": out}


# ---------------------------------------------------------------- independent recomputation

def official_scores(per_doc: dict, unknown: int) -> dict:
    """DocRED's official formulas over summed per-document counts, in plain Python."""
    tp, n_pred, n_gold, in_train = (sum(per_doc[k]) for k in ("tp", "n_pred", "n_gold", "tp_in_train"))
    n_pred += unknown
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    ign_p = (tp - in_train) / (n_pred - in_train) if n_pred - in_train else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "ign_f1": 2 * ign_p * r / (ign_p + r) if ign_p + r else 0.0}


def recompute(results_dir: Path, split: str = "test") -> dict[tuple, dict]:
    """(model, loss, noise) -> {metric: (mean, sample std or None, n)} read straight from the JSON files.

    split "test", or "calibrated" for the dev-calibrated test score; also the F1 of the bucket counts.
    """
    groups = defaultdict(lambda: defaultdict(list))
    for cell_dir in sorted((results_dir / "cells").iterdir()):
        cell = json.loads((cell_dir / "cell.json").read_text())
        if cell["status"] != "done":
            continue
        metrics = json.loads((cell_dir / "metrics.json").read_text())
        test = metrics["calibrated"]["test"] if split == "calibrated" else metrics["test"]
        group = groups[cell["model"], cell["loss"], cell["noise"]]
        for metric, value in official_scores(test["per_doc"], test["n_pred_unknown_title"]).items():
            group[metric].append(value)
        if split == "test" and metrics.get("ranking"):   # the threshold-free AP the trainer computed
            group["ap"].append(metrics["ranking"]["ap"])
        for bucket, counts in test["breakdown"].items():
            if bucket != "per_relation":
                group[f"f1_{bucket}"].append(2 * counts["tp"] / (counts["n_pred"] + counts["n_gold"])
                                             if counts["n_pred"] + counts["n_gold"] else 0.0)
    return {key: {m: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else None, len(v)) for m, v in metrics.items()}
            for key, metrics in groups.items()}


class Tables(HTMLParser):
    """The HTML report's tables as {h3 title: list of rows (lists of cell text)}."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.title, self.in_title, self.cell = {}, "", False, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "h3":
            self.in_title, self.title = True, ""
        elif tag == "table":
            self.tables[self.title] = []
        elif tag == "tr":
            self.tables[self.title].append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "h3":
            self.in_title = False
        elif tag in ("td", "th"):
            self.tables[self.title][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif self.cell is not None:
            self.cell += data


def frame(rows: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame(rows[1:], columns=rows[0])


def html_tables(path: str | Path) -> dict[str, pd.DataFrame]:
    return {title: frame(rows) for title, rows in Tables(Path(path).read_text()).tables.items()}


def mean_std(want: tuple) -> str:
    mean, std, _ = want
    return f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def check_printed_numbers(tables: dict[str, pd.DataFrame], expected: dict, families: list[str], *,
                          calibrated: dict | None = None) -> int:
    """Assert every score in the summary, per-family and bucket tables equals the recomputation; return how many."""
    seen = 0
    systems = {(m, l) for m, l, _ in expected}
    has_clean = any(noise == "clean" for *_, noise in expected)
    for family in (["clean"] if has_clean else []) + families:
        for row in tables[f"Results: {family}"].to_dict("records"):
            want = expected[row["model"], row["loss"], row["noise"]]
            for column, metric in (("P (%)", "precision"), ("R (%)", "recall"), ("F1 (%)", "f1"), ("Ign F1 (%)", "ign_f1")):
                assert row[column].rstrip(" †‡") == mean_std(want[metric]), (row, column)
                seen += 1
            if calibrated:
                assert row["F1 calibrated (%)"] == mean_std(calibrated[row["model"], row["loss"], row["noise"]]["f1"])
                seen += 1
    for row in tables["F1 by bucket"].to_dict("records"):
        want = expected[row["model"], row["loss"], row["noise"]]
        for column, bucket in (("F1 frequent (%)", "frequent"), ("F1 long-tail (%)", "long_tail"),
                               ("F1 intra (%)", "intra"), ("F1 inter (%)", "inter")):
            assert row[column] == f"{100 * want[f'f1_{bucket}'][0]:.2f}"
            seen += 1
    summary = tables["F1 by noise rate"]
    for row in summary.to_dict("records"):
        model, loss = row["model · loss"].split(" · ")
        source = calibrated if row.get("threshold") == "dev-calibrated" else expected
        metric = "ap" if row.get("threshold") == "threshold-free AP" else "f1"
        clean = source.get((model, loss, "clean"), {}).get(metric, (None,))[0]
        if has_clean:
            assert row["clean F1"] == f"{100 * clean:.2f}"
            seen += 1
        for column in [c for c in summary.columns if c.startswith("F1 @ ")]:
            rate = float(column.removeprefix("F1 @ "))
            noise = f"{row['noise']}:{rate:g}"
            if (model, loss, noise) not in source:
                assert row[column] == ""
                continue
            f1 = source[model, loss, noise][metric][0]
            kept = (f" ({f1 / clean:.0%})" if clean > 0 else " (–)") if has_clean else ""
            assert row[column] == f"{100 * f1:.2f}" + kept
            seen += 1
    assert {tuple(r.split(" · ")) for r in summary["model · loss"]} == systems
    return seen


# ---------------------------------------------------------------- tables

def test_summary_equals_recomputation_from_per_document_counts(results_dir):
    expected = recompute(results_dir)
    summary = build_report(load_results(results_dir), resamples=200, figures=False).summary
    assert len(summary) == len(expected) == 2 * 2 * 3
    for row in summary.to_dict("records"):
        want = expected[row["model"], row["loss"], row["noise"]]
        assert row["n_seeds"] == want["f1"][2]
        for metric in ("precision", "recall", "f1", "ign_f1"):
            mean, std, _ = want[metric]
            assert row[f"{metric}_mean"] == pytest.approx(mean, abs=1e-12)
            assert (np.isnan(row[f"{metric}_std"]) if std is None else row[f"{metric}_std"] == pytest.approx(std, abs=1e-12))


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


def test_comparisons_pair_each_loss_with_the_baseline(results_dir):
    report = build_report(load_results(results_dir), resamples=300, figures=False)
    comparisons = report.comparisons
    assert report.baseline == "atl"
    assert set(comparisons["loss"]) == {"cmm"} and set(comparisons["baseline"]) == {"atl"}
    assert len(comparisons) == 2 * 3  # models × noise cells
    # the failed cell (docunet · cmm · fn-uniform:0.4 · seed 1) leaves one paired seed there
    last = comparisons[(comparisons["model"] == "docunet") & (comparisons["noise"] == "fn-uniform:0.4")]
    assert last["n_seeds"].tolist() == [1]
    assert (comparisons["p_bootstrap_holm"] >= comparisons["p_bootstrap"]).all()
    assert ((comparisons["ci_low"] <= comparisons["delta_f1"]) & (comparisons["delta_f1"] <= comparisons["ci_high"])).all()
    swapped = build_report(load_results(results_dir), baseline="cmm", resamples=300, figures=False).comparisons
    assert np.allclose(np.sort(swapped["delta_f1"]), np.sort(-comparisons["delta_f1"]))
    with pytest.raises(DocrobustError, match="baseline loss 'nope'"):
        build_report(load_results(results_dir), baseline="nope", figures=False)


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


@pytest.mark.slow
def test_validity_box_for_under_trained_models_and_not_for_trained_ones(tmp_path):
    under = write_synthetic_results(tmp_path / "under", quality=0.02, **QUICK)
    healthy = write_synthetic_results(tmp_path / "healthy", **QUICK)
    for name, folder in (("under", under), ("healthy", healthy)):
        write_report(folder, tmp_path / f"{name}.html", resamples=2000)
    under_html, healthy_html = (tmp_path / "under.html").read_text(), (tmp_path / "healthy.html").read_text()

    assert 'id="validity"' in under_html and "under-trained" in under_html
    clean_f1 = recompute(under)
    assert all(clean_f1["atlop", loss, "clean"]["f1"][0] < 0.10 for loss in ("atl", "cmm"))
    box = under_html.split('id="validity"')[1].split("</div>")[0]
    assert "Clean F1 below the 10% floor" in box and f"atlop · atl {100 * clean_f1['atlop', 'atl', 'clean']['f1'][0]:.2f}%" in box
    assert "No comparison is stated" in under_html and "significantly" not in under_html
    assert not re.search("<td[^>]*>[^<]*[†‡]</td>", under_html)  # marks withheld in every table
    assert "Significance marks are withheld" in under_html

    assert 'id="validity"' not in healthy_html and "under-trained" not in healthy_html
    assert re.search("<td[^>]*>[^<]*†[^<]*</td>", healthy_html)  # cmm's large effect is marked
    assert "No comparison is stated" not in healthy_html


def test_f1_that_rises_with_noise_beyond_the_seed_spread_fails_the_check(tmp_path):
    folder = write_synthetic_results(tmp_path / "run", **QUICK)
    report = build_report(load_results(folder), resamples=200, figures=False)
    assert report.valid
    # move a noisy cell's F1 above its clean F1: the cell predicts every gold triple it had missed
    metrics_path = folder / "cells" / "atlop__cmm__fn-uniform-0.6__s0" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    per_doc = metrics["test"]["per_doc"]
    per_doc["n_pred"] = [p + g - t for p, g, t in zip(per_doc["n_pred"], per_doc["n_gold"], per_doc["tp"])]
    per_doc["tp"] = list(per_doc["n_gold"])
    metrics_path.write_text(json.dumps(metrics))
    report = build_report(load_results(folder), resamples=200, figures=False)
    assert not report.valid and report.invalid["kind"].tolist() == ["rise"]
    assert report.invalid["noise"].tolist() == ["fn-uniform:0.6"]
    assert len(validity_lines(report)) == 1 and validity_title(report)[0].startswith("F1 rises with label noise")

    # the clean cmm cell over-predicts (four wrong predictions per gold triple): the box says so, and names the
    # rise, not under-training, as its reason
    path = folder / "cells" / "atlop__cmm__clean__s0" / "metrics.json"
    metrics = json.loads(path.read_text())
    per_doc = metrics["test"]["per_doc"]
    per_doc["n_pred"] = [p + 4 * g for p, g in zip(per_doc["n_pred"], per_doc["n_gold"])]
    path.write_text(json.dumps(metrics))
    report = build_report(load_results(folder), resamples=200, figures=False)
    lines = validity_lines(report)
    assert report.invalid["kind"].tolist() == ["rise"] * len(report.invalid) and len(lines) == 2
    r = report.invalid.iloc[0]
    assert r["precision_clean"] < 0.2 < r["recall_clean"]
    assert lines[1].startswith(f"On clean labels, atlop · cmm (precision {100 * r['precision_clean']:.2f}%, recall "
                               f"{100 * r['recall_clean']:.2f}%) over-predict")
    html = render_html(report)
    assert "F1 rises with label noise: the comparisons" in html and "under-trained" not in html


def test_without_a_clean_cell_the_report_shows_absolute_scores(tmp_path):
    folder = make_results(tmp_path / "run", clean=False)
    summary = write_report(folder, tmp_path / "r.html", resamples=300)
    text = Path(summary["html"]).read_text()
    tables = html_tables(summary["html"])
    assert "No clean cell: F1 drops, shares of clean F1 kept and robustness AUC need the `clean` noise cell" in text
    assert "clean F1" not in tables["F1 by noise rate"].columns and "AUC" not in tables["F1 by noise rate"].columns
    assert "F1 drop (pts)" not in tables["Results: fn-uniform"].columns and "Robustness AUC" not in tables
    check_printed_numbers(tables, recompute(folder), ["fn-uniform"])
    assert 'id="headline"' in text  # the F1 figure still shows the absolute curves


def test_calibrated_scores_show_beside_the_trained_ones(tmp_path):
    folder = make_results(tmp_path / "run", calibrated=True)
    summary = write_report(folder, tmp_path / "r.html", resamples=300)
    tables = html_tables(summary["html"])
    assert tables["F1 by noise rate"]["threshold"].tolist() == ["as trained", "dev-calibrated"] * 4
    assert check_printed_numbers(tables, recompute(folder), ["fn-uniform"], calibrated=recompute(folder, "calibrated"))
    assert "A threshold calibrated on dev changes clean F1 by" in Path(summary["html"]).read_text()


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


def test_cli_writes_the_report_and_rejects_a_bad_folder(results_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(results_dir), "--out", str(tmp_path / "r.html"), "--resamples", "200", "--baseline", "cmm"])
    assert exit_.value.code == 0 and (tmp_path / "r.html").is_file()
    assert "24 cells (1 failed)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "plan.json" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "x.html").exists()


# ---------------------------------------------------------------- broken folders

def test_a_cell_whose_files_do_not_parse_is_pending_and_named(tmp_path):
    root = make_results(tmp_path / "run")
    metrics = root / "cells" / "atlop__atl__clean__s0" / "metrics.json"
    metrics.write_text("{not json")
    results = load_results(root)
    assert results.pending["cell_id"].tolist() == ["atlop__atl__clean__s0"] and len(results.cells) == 23
    assert len(results.warnings) == 1 and str(metrics) in results.warnings[0] and "not valid JSON" in results.warnings[0]
    content = json.loads((root / "cells" / "atlop__cmm__clean__s0" / "metrics.json").read_text())
    del content["test"]["per_doc"]["tp"]
    (root / "cells" / "atlop__cmm__clean__s0" / "metrics.json").write_text(json.dumps(content))
    metrics.unlink()
    results = load_results(root)
    problems = dict(zip(results.pending["cell_id"], results.pending["problem"]))
    assert "field 'test.per_doc.tp' is missing" in problems["atlop__cmm__clean__s0"]
    assert problems["atlop__atl__clean__s0"] == f"{metrics}: no such file"
    text = Path(write_report(root, tmp_path / "r.html", resamples=200)["html"]).read_text()
    assert "2 of 24 cells have no current result" in text
    assert html_tables(tmp_path / "r.html")["Cells without a current result"]["cell_id"].tolist() == [
        "atlop__atl__clean__s0", "atlop__cmm__clean__s0"]


def test_too_few_resamples_for_holm_is_warned(results_dir):
    # 6 comparisons: Holm's first threshold is 0.05 / 6; with R = 100 the smallest bootstrap p is 2 / 101.
    report = build_report(load_results(results_dir), resamples=100, figures=False)
    assert len(report.comparisons) == 6 and len(report.warnings) == 1
    assert "--resamples 240" in report.warnings[0]
    assert build_report(load_results(results_dir), resamples=300, figures=False).warnings == []


def test_degenerate_folders_still_give_a_report(tmp_path):
    failed = write_synthetic_results(tmp_path / "failed", models=("atlop",), losses=("atl", "cmm"), noise={}, seeds=(0,),
                                     n_failed=2)
    summary = write_report(failed, tmp_path / "failed.html", resamples=200)
    text = Path(summary["html"]).read_text()
    assert summary["n_failed"] == 2 and "data:image/png" not in text and "No cell finished" in text
    assert len(html_tables(summary["html"])["Failed cells"]) == 2

    one_seed = write_synthetic_results(tmp_path / "one", noise={"fn-pair": (0.3,)}, seeds=(0,), n_failed=0)
    report = build_report(load_results(one_seed), resamples=200)
    assert report.summary["n_seeds"].eq(1).all() and report.summary["f1_std"].isna().all()
    assert report.summary["f1_ci"].isna().all()  # no t-band from one seed
    write_report(one_seed, tmp_path / "one.html", resamples=200)
    printed = html_tables(tmp_path / "one.html")["Results: fn-pair"]["F1 (%)"]
    assert not printed.str.contains("±").any()  # mean alone: no std from one seed


def test_reports_need_neither_torch_nor_other_layers():
    code = ("import sys, docrobust.reports.results; light = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'matplotlib', 'scipy', 'torch'}); "
            "import docrobust.reports, docrobust.reports.write, docrobust.bench.commands.report; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('docrobust.models', 'docrobust.noise', "
            "'docrobust.bench.runner', 'docrobust.bench.config'))]; "
            "print(light, bad); sys.exit(bool(bad or light))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_bands_follow_the_document_resampling_not_t_over_two_seeds(tmp_path):
    """Two seeds give t = 12.7, so a t-interval of the mean spans most of the axis; the figure's bands are the
    percentile interval of the mean over seeds when the 500 test documents are resampled (seeds held)."""
    folder = write_synthetic_results(tmp_path / "run", **{**QUICK, "seeds": (0, 1), "n_docs": 500})
    report = build_report(load_results(folder), resamples=2000, figures=False)
    summary = report.summary
    # an independent bootstrap: draw document indices, recompute each seed's micro F1, average over the seeds
    rng, widths = np.random.default_rng(1), []
    for row in summary.itertuples():
        cells = report.scores[(report.scores["loss"] == row.loss) & (report.scores["noise"] == row.noise)]["cell_id"]
        counts = np.stack([load_results(folder).test(c).docs for c in cells])        # (S, D, 4)
        draws = rng.integers(0, counts.shape[1], size=(2000, counts.shape[1]))
        sums = counts[:, draws].sum(axis=2)                                            # (S, R, 4)
        p, r = sums[..., 0] / sums[..., 1], sums[..., 0] / sums[..., 2]
        boot = (2 * p * r / (p + r)).mean(axis=0)
        low, high = np.quantile(boot, [0.025, 0.975])
        assert row.f1_lo == pytest.approx(low, abs=0.004) and row.f1_hi == pytest.approx(high, abs=0.004)
        if row.f1_mean > 0.1:   # near 0 F1 every interval shrinks
            widths.append((row.f1_hi - row.f1_lo, 2 * row.f1_ci))
    bands_, t_bands = np.array(widths).T
    # the document bands are alike from cell to cell; t(1)'s follow how far two seeds happen to fall apart
    assert bands_.max() < 2 * bands_.min() and t_bands.max() > 10 * t_bands.min(), widths


def test_f1_bands_stay_inside_0_to_100_with_two_wide_seeds(tmp_path):
    folder = write_synthetic_results(tmp_path / "run", quality=0.01, seeds=(0, 1), **{k: v for k, v in QUICK.items()
                                                                                     if k != "seeds"})
    summary = build_report(load_results(folder), resamples=200, figures=False).summary
    summary["f1_lo"] -= 0.05   # a band that would cross 0 F1, which the figure must not draw
    fig = FIGURES["f1_vs_rate"].draw(summary)
    bands = [c for ax in fig.axes for c in ax.collections if type(c).__name__ == "FillBetweenPolyCollection"]
    assert bands and all(0 <= v <= 100 for c in bands for p in c.get_paths() for v in p.vertices[:, 1])


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
