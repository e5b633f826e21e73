"""docrobust.reports end to end: results folders written through the runner's writer -> tables, statistics, the
report's content, CLI. The rendered HTML and PDF (headless Chromium) are tested in test_reports_render."""
from __future__ import annotations

import json
import re
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
from docrobust.base import DocrobustError
from docrobust.reports import build_report, load_results, write_report
from docrobust.reports.plots import FIGURES
from docrobust.reports.report import validity_lines, validity_title
from docrobust.reports.html_report import render_html
from synthetic import write_synthetic_results

QUICK = dict(models=("atlop",), losses=("atl", "cmm"), noise={"fn-uniform": (0.3, 0.6), "mixed": (1.0,)}, seeds=(0,),
             n_docs=100, n_failed=0)  # the quick profile's matrix and test set size


def make_results(path: Path, **options) -> Path:
    """2 models × 2 losses × (clean + fn-uniform at 0.2 and 0.4) × 2 seeds, 50 documents, the last cell failed."""
    return write_synthetic_results(path, models=("atlop", "docunet"), losses=("atl", "cmm"),
                                   noise={"fn-uniform": (0.2, 0.4)}, seeds=(0, 1), n_docs=50, n_failed=1, **options)


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
