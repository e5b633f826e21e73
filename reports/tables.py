"""The report's numbers as DataFrames, all recomputed from per-document counts.

load_results -> the plan's finished cells (records through docrobust.reports.results); cell_scores -> one
row per finished cell; summarize -> mean ± std over seeds per model × loss × noise cell; robustness /
auc_table -> degradation relative to clean; comparisons / wilcoxon_table -> significance of each loss
against the baseline loss; validity -> whether the numbers can carry a comparison at all.
Scores are fractions in [0, 1]; docrobust.reports.report prints them as percentages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from docrobust.corpus import CorpusError
from docrobust.corpus.score import BUCKETS, prf
from docrobust.reports.results import CellRecord, ResultsStore, Scores
from docrobust.reports.stats import METRICS, Resamples, holm, normalized_auc, paired_test, t_halfwidth, wilcoxon_p

CELL = ["model", "loss", "noise_family", "rate", "noise"]  # one noise cell of one system; seeds vary
META = ["cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status", "error",
        "config_hash", "train_seconds"]
BUCKET_METRICS = tuple(f"f1_{bucket}" for bucket in BUCKETS)
CALIBRATED = ("f1_calibrated", "calibration_offset")
CLEAN = "clean"


@dataclass
class Results:
    """A results folder as the report sees it: the plan's cells with a current record, and the others."""

    path: Path
    config: dict
    records: dict[str, CellRecord]  # done and failed cells of the plan, current config
    pending: pd.DataFrame           # cell_id, model, loss, noise, seed, state ("pending" | "stale"), problem
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rows = [{k: getattr(r, k) for k in META} for r in self.records.values()]
        self.cells = pd.DataFrame(rows, columns=META)
        self.cells["achieved_rate"] = pd.to_numeric(self.cells["achieved_rate"]).astype(float)
        self.cells["train_seconds"] = pd.to_numeric(self.cells["train_seconds"]).astype(float)
        self.cells["error"] = self.cells["error"].fillna("")

    @property
    def done(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "done"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] != "done"]

    def test(self, cell_id: str) -> Scores:
        """The test counts of a done cell."""
        return self.records[cell_id].test

    @property
    def n_docs(self) -> int:
        return next((r.test.docs.shape[0] for r in self.records.values() if r.test is not None), 0)

    @property
    def calibrated(self) -> bool:
        return any(r.calibrated is not None for r in self.records.values())


def load_results(results_dir: str | Path) -> Results:
    """The plan's cells of a results folder: records of the current config, the rest listed as pending."""
    root = Path(results_dir)
    if not root.is_dir():
        raise CorpusError(f"{root}: not a results folder (no such directory)")
    store = ResultsStore(root)
    plan = store.read_plan()
    states = store.states(plan)
    records = {c.cell_id: states[c.cell_id].record for c in plan if states[c.cell_id].status in ("done", "failed")}
    pending = pd.DataFrame([{"cell_id": c.cell_id, "model": c.model, "loss": c.loss, "noise": c.noise, "seed": c.seed,
                             "state": states[c.cell_id].status, "problem": states[c.cell_id].problem or ""}
                            for c in plan if states[c.cell_id].status in ("pending", "stale")],
                           columns=["cell_id", "model", "loss", "noise", "seed", "state", "problem"])
    warnings = [f"cell {row.cell_id} is not a result and counts as pending: {row.problem}"
                for row in pending.itertuples() if row.problem]
    results = Results(root, store.read_bench_json() or {}, records, pending, warnings)
    _check_titles(results)
    return results


def _check_titles(results: Results) -> None:
    """Every finished cell must be scored on the same test documents in the same order."""
    reference = None
    for cell_id, record in results.records.items():
        if record.test is None:
            continue
        if reference is None:
            reference = (cell_id, record.test.titles)
        elif record.test.titles != reference[1]:
            raise CorpusError(
                f"{results.path / 'cells' / cell_id / 'metrics.json'}: test.per_doc titles differ from cell "
                f"{reference[0]}'s; paired statistics need one test set per results folder")


def cell_scores(results: Results) -> pd.DataFrame:
    """One row per finished cell: metadata, METRICS, the F1 of each breakdown bucket and, where the cell has
    one, the dev-calibrated test F1 and its threshold offset."""
    done = results.done
    rows = []
    for cell_id in done["cell_id"]:
        record = results.records[cell_id]
        row = record.test.micro()
        for bucket in BUCKETS:
            row[f"f1_{bucket}"] = float(prf(record.test.buckets[bucket])["f1"])
        cal = record.calibrated
        row["f1_calibrated"], row["calibration_offset"] = (cal.test.micro()["f1"], cal.offset) if cal else (np.nan, np.nan)
        rows.append(row)
    scores = pd.DataFrame(rows, index=done.index, columns=[*METRICS, *BUCKET_METRICS, *CALIBRATED])
    return pd.concat([done[["cell_id", *CELL, "achieved_rate", "seed"]], scores], axis=1).reset_index(drop=True)


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable report order: models and losses as first seen, clean first, then families as seen, rate up."""
    keys = {}
    for column in ("model", "loss", "noise_family"):
        seen = list(dict.fromkeys(frame[column]))
        if column == "noise_family" and CLEAN in seen:
            seen.remove(CLEAN)
            seen.insert(0, CLEAN)
        keys[column] = frame[column].map({name: i for i, name in enumerate(seen)})
    ordered = frame.assign(**{f"_{k}": v for k, v in keys.items()})
    ordered = ordered.sort_values(["_noise_family", "rate", "noise", "_model", "_loss"], kind="stable")
    return ordered.drop(columns=[f"_{k}" for k in keys]).reset_index(drop=True)


def summarize(scores: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per model × loss × noise cell over seeds: n_seeds, and <metric>_{mean, std, ci} for each metric.

    std is the sample standard deviation (ddof = 1, NaN with one seed); ci is the half-width
    of the Student-t confidence interval of the mean.
    """
    metrics = [*METRICS, *BUCKET_METRICS, "f1_calibrated"]
    grouped = scores.groupby(CELL, sort=False, dropna=False)
    summary = grouped.agg(n_seeds=("seed", "size"), achieved_rate=("achieved_rate", "mean"))
    means, stds = grouped[metrics].mean(), grouped[metrics].std(ddof=1)
    for metric in metrics:
        summary[f"{metric}_mean"] = means[metric]
        summary[f"{metric}_std"] = stds[metric]
        summary[f"{metric}_ci"] = t_halfwidth(stds[metric].to_numpy(), summary["n_seeds"].to_numpy(), confidence)
    return _order(summary.reset_index())


def robustness(summary: pd.DataFrame) -> pd.DataFrame:
    """F1 drop of every noisy cell relative to the same system's clean cell (mean over seeds).

    drop = F1_clean - F1_noisy (absolute, in F1 units); rel_drop = drop / F1_clean.
    """
    clean = summary[summary["noise_family"] == CLEAN].set_index(["model", "loss"])["f1_mean"]
    noisy = summary[summary["noise_family"] != CLEAN][["model", "loss", "noise_family", "rate", "noise", "f1_mean"]]
    f1_clean = pd.Series(list(zip(noisy["model"], noisy["loss"])), index=noisy.index).map(clean)
    drops = noisy.assign(f1_clean=f1_clean.astype(float))
    drops["drop"] = drops["f1_clean"] - drops["f1_mean"]
    drops["rel_drop"] = drops["drop"] / drops["f1_clean"].where(drops["f1_clean"] > 0)
    return drops.reset_index(drop=True)


def auc_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Normalized area under mean F1 versus rate, per model × loss × noise family (clean point included)."""
    clean = summary[summary["noise_family"] == CLEAN]
    rows = []
    for (model, loss, family), curve in summary[summary["noise_family"] != CLEAN].groupby(
        ["model", "loss", "noise_family"], sort=False
    ):
        base = clean[(clean["model"] == model) & (clean["loss"] == loss)]
        points = pd.concat([base, curve])
        rates = points["rate"].to_numpy()
        rows.append({
            "model": model, "loss": loss, "noise_family": family, "rates": len(np.unique(rates)),
            "has_clean": len(base) > 0, "auc": normalized_auc(rates, points["f1_mean"].to_numpy()),
        })
    return pd.DataFrame(rows, columns=["model", "loss", "noise_family", "rates", "has_clean", "auc"])


def resolve_baseline(losses: list[str], baseline: str | None) -> str:
    """The baseline loss: the requested one, else `atl` when present, else the first loss seen."""
    if not losses:  # nothing finished: nothing to compare
        return baseline or ""
    if baseline is None:
        return "atl" if "atl" in losses else losses[0]
    if baseline not in losses:
        raise CorpusError(f"baseline loss {baseline!r} is not in the results (losses: {', '.join(losses)}); pass --baseline")
    return baseline


def comparisons(
    results: Results,
    baseline: str,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each loss against `baseline` for the same model and noise cell, on the seeds both finished.

    Paired bootstrap CI and p-value and approximate-randomization p-value over test
    documents (see stats.paired_test), all from one draw of `n_resamples` resamples;
    Holm-adjusted over all comparisons of the report (separately per test).
    """
    done = results.done
    n_docs = results.n_docs
    resamples = Resamples.draw(n_docs, n_resamples, seed) if n_docs else None
    rows = []
    for (model, family, rate, noise), cell in done.groupby(["model", "noise_family", "rate", "noise"], sort=False):
        base = cell[cell["loss"] == baseline].drop_duplicates("seed").set_index("seed")["cell_id"]
        for loss, other in cell[cell["loss"] != baseline].groupby("loss", sort=False):
            other = other.drop_duplicates("seed").set_index("seed")["cell_id"]
            seeds = [seed for seed in other.index if seed in base.index]
            if not seeds:
                continue
            a = [results.test(other[s]) for s in seeds]
            b = [results.test(base[s]) for s in seeds]
            test = paired_test(
                np.stack([c.docs for c in a]), np.stack([c.docs for c in b]), resamples,
                np.stack([c.outside() for c in a]), np.stack([c.outside() for c in b]), confidence,
            )
            rows.append({
                "model": model, "loss": loss, "baseline": baseline, "noise_family": family, "rate": rate,
                "noise": noise, "n_seeds": len(seeds), "n_docs": a[0].docs.shape[0],
                "delta_f1": test.delta, "ci_low": test.ci_low, "ci_high": test.ci_high,
                "p_bootstrap": test.p_bootstrap, "p_permutation": test.p_permutation,
            })
    columns = ["model", "loss", "baseline", *CELL[2:], "n_seeds", "n_docs", "delta_f1", "ci_low", "ci_high",
               "p_bootstrap", "p_permutation"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_bootstrap_holm"] = holm(table["p_bootstrap"].to_numpy())
    table["p_permutation_holm"] = holm(table["p_permutation"].to_numpy())
    return _order(table)


def wilcoxon_table(scores: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Wilcoxon signed-rank test of F1(loss) - F1(baseline) per model × loss × noise family.

    The pairs are the (noise cell, seed) units both systems finished, over the family's
    rates including the clean point r = 0; Holm-adjusted over the table.
    """
    key = ["model", "noise_family", "rate", "noise", "seed"]
    base = scores[scores["loss"] == baseline].drop_duplicates(key)
    clean = scores[scores["noise_family"] == CLEAN]
    rows = []
    for family in [f for f in dict.fromkeys(scores["noise_family"]) if f != CLEAN]:
        in_family = pd.concat([clean, scores[scores["noise_family"] == family]])
        others = in_family[in_family["loss"] != baseline].drop_duplicates(["loss", *key])
        paired = others.merge(base[key + ["f1"]], on=key, suffixes=("", "_baseline"))
        for (model, loss), pairs in paired.groupby(["model", "loss"], sort=False):
            diff = pairs["f1"] - pairs["f1_baseline"]
            rows.append({
                "model": model, "loss": loss, "baseline": baseline, "noise_family": family, "n_pairs": len(pairs),
                "mean_delta_f1": diff.mean(), "n_better": int((diff > 0).sum()), "n_worse": int((diff < 0).sum()),
                "p_wilcoxon": wilcoxon_p(pairs["f1"], pairs["f1_baseline"]),
            })
    columns = ["model", "loss", "baseline", "noise_family", "n_pairs", "mean_delta_f1", "n_better", "n_worse", "p_wilcoxon"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_wilcoxon_holm"] = holm(table["p_wilcoxon"].to_numpy())
    return table


def validity(summary: pd.DataFrame, min_clean_f1: float) -> pd.DataFrame:
    """Signs that the models are under-trained, so that no comparison of them can mean anything; one row each.

    kind "floor": a system's clean F1 (mean over seeds) is below `min_clean_f1`, a level no trained DocRE
    model sits below. kind "rise": a system's F1 at some noise rate exceeds its clean F1 by more than the seed
    spread, sqrt(std_clean² + std_noisy²) of F1 over seeds (0 with one seed): label noise does not help a
    trained model, so the ordering by noise rate is an artefact of training that has not converged, or of a
    threshold that over-predicts on clean labels (fewer positives then raise precision more than they cost
    recall); precision_clean and recall_clean tell the two apart.
    """
    columns = ["kind", "model", "loss", "noise_family", "rate", "noise", "f1_clean", "f1", "spread", "precision_clean",
               "recall_clean"]
    clean = summary[summary["noise_family"] == CLEAN]
    low = clean[clean["f1_mean"] < min_clean_f1]
    floor = low.assign(kind="floor", f1_clean=low["f1_mean"], f1=low["f1_mean"], spread=np.nan,
                       precision_clean=low["precision_mean"], recall_clean=low["recall_mean"])
    noisy = summary[summary["noise_family"] != CLEAN].merge(
        clean[["model", "loss", "f1_mean", "f1_std", "precision_mean", "recall_mean"]], on=["model", "loss"],
        suffixes=("", "_clean")).rename(columns={"precision_mean_clean": "precision_clean",
                                                 "recall_mean_clean": "recall_clean"})
    spread = np.sqrt(noisy["f1_std"].fillna(0) ** 2 + noisy["f1_std_clean"].fillna(0) ** 2)
    risen = noisy.assign(kind="rise", f1_clean=noisy["f1_mean_clean"], f1=noisy["f1_mean"], spread=spread)
    risen = risen[risen["f1"] - risen["f1_clean"] > risen["spread"] + 1e-12]
    return pd.concat([floor[columns], risen[columns]], ignore_index=True)
