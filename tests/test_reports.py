"""docrobust.reports end to end: a synthetic results folder -> tables, HTML, PDF, CLI."""
from __future__ import annotations

import json
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
from docrobust.corpus import CorpusError, sha256_file
from docrobust.reports import build_report, load_results, write_report
from docrobust.reports.pdf_report import pages
from docrobust.reports.plots import FIGURES
from docrobust.reports.synthetic import write_synthetic_results

CHROMIUM = shutil.which("chromium")


def make_results(path: Path, **options) -> Path:
    """2 models × 2 losses × (clean + fn-uniform at 0.2 and 0.4) × 2 seeds, 50 documents, the last cell failed."""
    return write_synthetic_results(path, models=("bert", "roberta"), losses=("atl", "sat"),
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


def recompute(results_dir: Path) -> dict[tuple, dict]:
    """(model, loss, noise) -> {metric: (mean, sample std or None, n)} read straight from the JSON files."""
    groups = defaultdict(lambda: defaultdict(list))
    for cell_dir in sorted((results_dir / "cells").iterdir()):
        cell = json.loads((cell_dir / "cell.json").read_text())
        if cell["status"] != "done":
            continue
        test = json.loads((cell_dir / "metrics.json").read_text())["test"]
        for metric, value in official_scores(test["per_doc"], test["n_pred_unknown_title"]).items():
            groups[cell["model"], cell["loss"], cell["noise"]][metric].append(value)
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


def test_html_tables_print_the_recomputed_numbers(results_dir, written):
    tables = Tables(Path(written["html"]).read_text()).tables
    expected = recompute(results_dir)
    seen = 0
    for family in ("clean", "fn-uniform"):
        for row in frame(tables[f"Results: {family}"]).to_dict("records"):
            want = expected[row["model"], row["loss"], row["noise"]]
            for column, metric in (("P (%)", "precision"), ("R (%)", "recall"), ("F1 (%)", "f1"), ("Ign F1 (%)", "ign_f1")):
                mean, std, _ = want[metric]
                text = f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")
                assert row[column].rstrip(" †‡") == text
                seen += 1
    assert seen == 12 * 4


def test_robustness_tables_follow_from_the_means(results_dir, written):
    tables = Tables(Path(written["html"]).read_text()).tables
    expected = recompute(results_dir)
    drops = frame(tables["Results: fn-uniform"])
    assert len(drops) == 2 * 2 * 2
    assert set(frame(tables["Results: clean"])["F1 drop (pts)"]) == {"–"}
    for row in drops.to_dict("records"):
        clean, noisy = expected[row["model"], row["loss"], "clean"]["f1"][0], expected[row["model"], row["loss"], row["noise"]]["f1"][0]
        assert row["F1 drop (pts)"] == f"{100 * (clean - noisy):.2f}"
        assert row["relative drop (%)"] == f"{100 * (clean - noisy) / clean:.1f}"
    auc = frame(tables["Robustness: normalized area under the F1–rate curve"])
    for row in auc.to_dict("records"):
        f = [expected[row["model"], row["loss"], noise]["f1"][0] for noise in ("clean", "fn-uniform@0.2", "fn-uniform@0.4")]
        area = 0.2 * (f[0] + f[1]) / 2 + 0.2 * (f[1] + f[2]) / 2  # trapezoids over [0, 0.2] and [0.2, 0.4]
        assert row["AUC (%)"] == f"{100 * area / 0.4:.2f}"


def test_comparisons_pair_each_loss_with_the_baseline(results_dir):
    report = build_report(load_results(results_dir), resamples=300, figures=False)
    comparisons = report.comparisons
    assert report.baseline == "atl"
    assert set(comparisons["loss"]) == {"sat"} and set(comparisons["baseline"]) == {"atl"}
    assert len(comparisons) == 2 * 3  # models × noise cells
    # the failed cell (roberta · sat · fn-uniform@0.4 · seed 1) leaves one paired seed there
    last = comparisons[(comparisons["model"] == "roberta") & (comparisons["noise"] == "fn-uniform@0.4")]
    assert last["n_seeds"].tolist() == [1]
    assert (comparisons["p_bootstrap_holm"] >= comparisons["p_bootstrap"]).all()
    assert ((comparisons["ci_low"] <= comparisons["delta_f1"]) & (comparisons["delta_f1"] <= comparisons["ci_high"])).all()
    swapped = build_report(load_results(results_dir), baseline="sat", resamples=300, figures=False).comparisons
    assert np.allclose(np.sort(swapped["delta_f1"]), np.sort(-comparisons["delta_f1"]))
    with pytest.raises(CorpusError, match="baseline loss 'nope'"):
        build_report(load_results(results_dir), baseline="nope", figures=False)


# ---------------------------------------------------------------- the written files

def test_write_report_summary_and_inputs(written):
    assert written["n_cells"] == 24 and written["n_failed"] == 1 and written["warnings"] == []
    assert written["inputs_unchanged"]
    assert Path(written["html"]).is_file() and Path(written["pdf"]).is_file()


def test_html_is_self_contained_and_lists_failures(written):
    text = Path(written["html"]).read_text()
    assert not re.search(r"https?://", text)
    assert "<link" not in text and "<script" not in text
    assert text.count('src="data:image/png;base64,') == len(FIGURES)
    tables = Tables(text).tables
    failed = frame(tables["Failed cells"])
    assert failed["cell_id"].tolist() == ["0023-roberta-sat-fn-uniform-0.4-s1"]
    assert failed["error"].tolist() == ["RuntimeError: CUDA out of memory"]
    assert "c" * 64 in text and "transformers" in text  # data hashes and versions


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: cannot check the HTML renders")
def test_html_renders_in_headless_chromium(written, tmp_path):
    import matplotlib.image

    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000",
                    Path(written["html"]).as_uri()], check=True, capture_output=True, timeout=120)
    pixels = matplotlib.image.imread(shot)[..., :3]
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert pixels.shape[:2] == (2000, 1280)
    assert len(colours) > 50 and pixels.std() > 0.05  # a blank page has one colour and no variance


def test_pdf_has_every_page_and_renders(written, results_dir, tmp_path):
    data = Path(written["pdf"]).read_bytes()
    n_pages = len(re.findall(rb"/Type\s*/Page\b", data))
    report = build_report(load_results(results_dir), resamples=1000)
    assert n_pages == sum(1 for _ in pages(report))
    assert n_pages >= 2 + len(FIGURES)  # overview, configuration, tables, the figures
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: cannot render the PDF")
    subprocess.run(["pdftoppm", "-r", "40", "-png", written["pdf"], str(tmp_path / "page")], check=True, timeout=120)
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == n_pages
    import matplotlib.image

    assert all(matplotlib.image.imread(p)[..., :3].std() > 0.01 for p in rendered)


def test_cli_writes_the_report_and_rejects_a_bad_folder(results_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(results_dir), "--out", str(tmp_path / "r.html"), "--resamples", "200", "--baseline", "sat"])
    assert exit_.value.code == 0 and (tmp_path / "r.html").is_file()
    assert "24 cells (1 failed)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "results.csv" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "x.html").exists()


# ---------------------------------------------------------------- broken folders

def test_unreadable_metrics_is_one_line_naming_the_file(tmp_path):
    root = make_results(tmp_path / "run")
    metrics = next((root / "cells").glob("*/metrics.json"))
    metrics.write_text("{not json")
    with pytest.raises(CorpusError, match=re.escape(str(metrics))):
        load_results(root)
    metrics.unlink()
    with pytest.raises(CorpusError, match=re.escape(str(metrics))):
        load_results(root)


def test_missing_per_document_counts_name_the_field(tmp_path):
    root = make_results(tmp_path / "run")
    metrics = next((root / "cells").glob("*/metrics.json"))
    content = json.loads(metrics.read_text())
    del content["test"]["per_doc"]["tp"]
    metrics.write_text(json.dumps(content))
    with pytest.raises(CorpusError, match=r"metrics\.json: field 'test\.per_doc\.tp' is missing"):
        load_results(root)


def test_stale_results_csv_is_reported_and_ignored(tmp_path):
    root = make_results(tmp_path / "run")
    table = pd.read_csv(root / "results.csv")
    table.loc[0, "f1"] = 0.99
    table.to_csv(root / "results.csv", index=False)
    results = load_results(root)
    assert len(results.warnings) == 1 and table.loc[0, "cell_id"] in results.warnings[0]
    first = build_report(results, resamples=100, figures=False).scores.set_index("cell_id").loc[table.loc[0, "cell_id"]]
    assert first["f1"] != pytest.approx(0.99)


def test_too_few_resamples_for_holm_is_warned(results_dir):
    # 6 comparisons: Holm's first threshold is 0.05 / 6; with R = 100 the smallest bootstrap p is 2 / 101.
    report = build_report(load_results(results_dir), resamples=100, figures=False)
    assert len(report.comparisons) == 6 and len(report.warnings) == 1
    assert "--resamples 240" in report.warnings[0]
    assert build_report(load_results(results_dir), resamples=300, figures=False).warnings == []


def test_degenerate_folders_still_give_a_report(tmp_path):
    failed = write_synthetic_results(tmp_path / "failed", models=("m",), losses=("a", "b"), noise={}, seeds=(0,), n_failed=2)
    summary = write_report(failed, tmp_path / "failed.html", resamples=200)
    text = Path(summary["html"]).read_text()
    assert summary["n_failed"] == 2 and "data:image/png" not in text
    assert len(frame(Tables(text).tables["Failed cells"])) == 2

    one_seed = write_synthetic_results(tmp_path / "one", noise={"real": (0.3,)}, seeds=(0,), n_failed=0)
    report = build_report(load_results(one_seed), resamples=200)
    assert report.summary["n_seeds"].eq(1).all() and report.summary["f1_std"].isna().all()
    assert report.summary["f1_ci"].isna().all()  # no t-band from one seed
    write_report(one_seed, tmp_path / "one.html", resamples=200)
    printed = frame(Tables((tmp_path / "one.html").read_text()).tables["Results: real"])["F1 (%)"]
    assert not printed.str.contains("±").any()  # mean alone: no std from one seed


def test_reports_need_neither_torch_nor_other_layers():
    code = ("import sys, docrobust.reports, docrobust.bench.commands.report; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('docrobust.models', 'docrobust.noise'))]; "
            "print(bad); sys.exit(bool(bad))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
