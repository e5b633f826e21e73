"""The report's numbers as DataFrames, all recomputed from per-document counts.

load_results -> the plan's finished cells (records through docrobust.reports.results); cell_scores -> one
row per finished cell; summarize -> mean ± std over seeds per model × loss × noise cell; robustness /
auc_table -> degradation relative to clean; comparisons / wilcoxon_table -> significance of each loss
against the baseline loss; validity -> whether the numbers can carry a comparison at all.
Scores are fractions in [0, 1]; docrobust.reports.report prints them as percentages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from docrobust.base import DocrobustError
from docrobust.corpus.score import BUCKETS, prf
from docrobust.reports.results import CellRecord, ResultsStore, Scores
from docrobust.reports.stats import (METRICS, Resamples, holm, normalized_auc, paired_test, percentile_test, rank_bins,
                                     resampled_ap, resampled_scores, t_halfwidth, wilcoxon_p)

CELL = ["model", "loss", "noise_family", "rate", "noise"]  # one noise cell of one system; seeds vary
META = ["cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status", "error",
        "config_hash", "train_seconds"]
BUCKET_METRICS = tuple(f"f1_{bucket}" for bucket in BUCKETS)
CALIBRATED = ("f1_calibrated", "calibration_offset")
TRAINING = ("best_epoch", "epochs_run", "epoch_budget")
CLEAN = "clean"
# The scores whose robustness the report compares: F1 as trained, F1 with a threshold offset chosen on dev, and the
# threshold-free average precision of the test ranking. The first moves with the threshold; the other two do not.
SCORE_KINDS = {"f1": "F1 as trained", "f1_calibrated": "dev-calibrated F1", "ap": "threshold-free AP"}
BANDED = ("f1", "ign_f1", "f1_calibrated", "ap")  # scores drawn with document-resampling bands


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

    @cached_property
    def rankings(self) -> dict[str, np.ndarray]:
        """cell_id -> (D, B, 2) rank bins (stats.rank_bins) of each done cell with a threshold-free score and a
        readable ranking.npz; a cell whose ranking cannot be read has no AP, with a warning."""
        store, out = ResultsStore(self.path), {}
        for cell_id in self.done["cell_id"]:
            record = self.records[cell_id]
            if record.ap is None:
                continue
            try:
                ranked = store.read_ranking(cell_id, record.test.docs.shape[0])
            except DocrobustError as e:
                self.warnings.append(f"cell {cell_id} has no threshold-free score: {e}")
                continue
            out[cell_id] = rank_bins(ranked["doc"], ranked["relevant"], record.test.docs.shape[0])
        return out


def load_results(results_dir: str | Path) -> Results:
    """The plan's cells of a results folder: records of the current config, the rest listed as pending."""
    root = Path(results_dir)
    if not root.is_dir():
        raise DocrobustError(f"{root}: not a results folder (no such directory)")
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
            raise DocrobustError(
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
        row["ap"] = record.ap if record.ap is not None and cell_id in results.rankings else np.nan
        row.update(zip(TRAINING, record.training_epochs() or (np.nan,) * 3))
        rows.append(row)
    scores = pd.DataFrame(rows, index=done.index, columns=[*METRICS, *BUCKET_METRICS, *CALIBRATED, "ap", *TRAINING])
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
    metrics = [*METRICS, *BUCKET_METRICS, "f1_calibrated", "ap"]
    grouped = scores.groupby(CELL, sort=False, dropna=False)
    summary = grouped.agg(n_seeds=("seed", "size"), achieved_rate=("achieved_rate", "mean"))
    means, stds = grouped[metrics].mean(), grouped[metrics].std(ddof=1)
    for metric in metrics:
        summary[f"{metric}_mean"] = means[metric]
        summary[f"{metric}_std"] = stds[metric]
        summary[f"{metric}_ci"] = t_halfwidth(stds[metric].to_numpy(), summary["n_seeds"].to_numpy(), confidence)
    return _order(summary.reset_index())


@dataclass
class Resampled:
    """Every done cell's test scores under each resample of the test documents (the report's one draw): metric ->
    (R, C) float32, columns in `cell_ids` order; NaN for a cell without that score (no calibration, no ranking)."""

    cell_ids: list[str]
    values: dict[str, np.ndarray]

    def of(self, metric: str, cell_ids: list[str]) -> np.ndarray:
        """(R, len(cell_ids)) resampled values of these cells."""
        index = {c: i for i, c in enumerate(self.cell_ids)}
        return self.values[metric][:, [index[c] for c in cell_ids]]


def resample_cells(results: Results, resamples: Resamples) -> Resampled:
    """F1, Ign F1, dev-calibrated F1 and the threshold-free AP of every done cell under each resample (stats)."""
    ids = list(results.done["cell_id"])
    n_resamples = resamples.weights.shape[0]
    values = {m: np.full((n_resamples, len(ids)), np.nan, dtype=np.float32) for m in BANDED}
    if not ids:
        return Resampled(ids, values)

    def fill(columns: list[int], scores: list[Scores], keys: dict[str, str]) -> None:
        """values[metric][:, columns] = the resampled score `keys[metric]` of `scores`, from one resampling."""
        if columns:
            docs, outside = np.stack([x.docs for x in scores]), np.stack([x.outside() for x in scores])
            resampled = resampled_scores(resamples.weights, docs, outside, resamples.max_weight)
            for metric, key in keys.items():
                values[metric][:, columns] = resampled[key]

    tests = [results.test(c) for c in ids]
    fill(list(range(len(ids))), tests, {"f1": "f1", "ign_f1": "ign_f1"})
    calibrated = [i for i, c in enumerate(ids) if results.records[c].calibrated is not None]
    fill(calibrated, [results.records[ids[i]].calibrated.test for i in calibrated], {"f1_calibrated": "f1"})
    ranked = [i for i, c in enumerate(ids) if c in results.rankings]
    if ranked:
        values["ap"][:, ranked] = resampled_ap(
            resamples.weights, np.stack([results.rankings[ids[i]] for i in ranked]),
            np.stack([tests[i].docs[:, 2] for i in ranked]), np.array([results.records[ids[i]].ap for i in ranked]))
    return Resampled(ids, values)


def bands(summary: pd.DataFrame, scores: pd.DataFrame, resampled: Resampled, confidence: float = 0.95) -> pd.DataFrame:
    """summary with <metric>_lo and <metric>_hi for each BANDED metric: the percentile interval of the mean over
    seeds when the test documents are resampled (the seeds held), the uncertainty of a cell's score on this test set;
    and <metric>_seeds, the seeds' own values (a list per row)."""
    out = summary.copy()
    groups = scores.groupby(CELL, sort=False, dropna=False)["cell_id"].agg(list)
    for metric in BANDED:
        lows, highs = [], []
        for key in zip(*(summary[c] for c in CELL)):
            boot = resampled.of(metric, groups[key]).mean(axis=1) if metric in resampled.values else np.full(1, np.nan)
            low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2]) if not np.isnan(
                boot).any() else (np.nan, np.nan)
            lows.append(low)
            highs.append(high)
        out[f"{metric}_lo"], out[f"{metric}_hi"] = lows, highs
        values = scores.groupby(CELL, sort=False, dropna=False)[metric].agg(lambda v: [x for x in v if x == x])
        out[f"{metric}_seeds"] = [values[key] for key in zip(*(summary[c] for c in CELL))]
    return out


def retention(scores: pd.DataFrame, resampled: Resampled, baseline: str, n_docs: int,
              confidence: float = 0.95) -> pd.DataFrame:
    """Which loss keeps more of its clean score, per score kind (SCORE_KINDS), model and noisy cell, against `baseline`.

    kept = mean over seeds of the score on the noisy cell / mean over seeds of the score on the clean cell, for the
    seeds that the four cells (loss and baseline, clean and noisy) all finished; delta = kept(loss) - kept(baseline).
    Paired bootstrap over test documents: the four cells' scores under the same resamples (stats.percentile_test for
    the interval and p). Rows of comparison "noise" answer "which loss holds up under this noise"; rows of comparison
    "fp vs fn" take a false-positive cell's delta minus the delta of the false-negative cell nearest in rate
    (does the loss lose more, relative to the baseline, under wrong labels than under missing ones?). Holm over all rows.
    """
    columns = ["comparison", "metric", "model", "loss", "baseline", "noise_family", "rate", "noise", "n_seeds", "n_docs",
               "kept", "kept_baseline", "delta", "ci_low", "ci_high", "p"]
    cell_of = {(r.model, r.loss, r.noise, r.seed): r.cell_id for r in scores.itertuples()}
    value_of = dict(zip(scores["cell_id"], scores.to_dict("records")))
    rows, boots = [], []
    clean_noise = {r.noise for r in scores.itertuples() if r.noise_family == CLEAN}
    noisy = scores[scores["noise_family"] != CLEAN].drop_duplicates(["noise"])
    if len(clean_noise) != 1:   # retention needs the one clean cell
        return pd.DataFrame(columns=columns + ["p_holm"])
    (clean,) = clean_noise
    for metric in SCORE_KINDS:
        if metric not in resampled.values or scores[metric].isna().all():
            continue
        for model in dict.fromkeys(scores["model"]):
            for loss in [x for x in dict.fromkeys(scores["loss"]) if x != baseline]:
                for cell in noisy.itertuples():
                    seeds = [s for s in sorted(set(scores["seed"])) if all(
                        (model, l, n, s) in cell_of for l in (loss, baseline) for n in (cell.noise, clean))]
                    if not seeds:
                        continue
                    kept, boot = {}, {}
                    for system in (loss, baseline):
                        ids = {n: [cell_of[model, system, n, s] for s in seeds] for n in (cell.noise, clean)}
                        means = {n: np.mean([value_of[c][metric] for c in ids[n]]) for n in ids}
                        kept[system] = means[cell.noise] / means[clean] if means[clean] > 0 else np.nan
                        with np.errstate(divide="ignore", invalid="ignore"):
                            boot[system] = (resampled.of(metric, ids[cell.noise]).mean(axis=1)
                                            / resampled.of(metric, ids[clean]).mean(axis=1))
                    delta_boot = boot[loss] - boot[baseline]
                    if np.isnan(kept[loss]) or np.isnan(kept[baseline]) or np.isnan(delta_boot).any():
                        continue
                    low, high, p = percentile_test(delta_boot, confidence)
                    rows.append({"comparison": "noise", "metric": metric, "model": model, "loss": loss,
                                 "baseline": baseline, "noise_family": cell.noise_family, "rate": cell.rate,
                                 "noise": cell.noise, "n_seeds": len(seeds), "n_docs": n_docs,
                                 "kept": kept[loss], "kept_baseline": kept[baseline],
                                 "delta": kept[loss] - kept[baseline], "ci_low": low, "ci_high": high, "p": p})
                    boots.append(delta_boot)
    rows, boots = _fp_vs_fn(rows, boots, confidence)
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = holm(table["p"].to_numpy())
    return table


def _fp_vs_fn(rows: list[dict], boots: list[np.ndarray], confidence: float) -> tuple[list[dict], list[np.ndarray]]:
    """retention's "fp vs fn" rows: each false-positive-only cell against the false-negative-only cell nearest in rate."""
    def kind(family: str) -> str | None:
        steps = {step.split("-")[0] for step in family.split("+")}
        return steps.pop() if len(steps) == 1 and steps <= {"fp", "fn"} else None

    out, out_boots = list(rows), list(boots)
    for i, fp in enumerate(rows):
        if kind(fp["noise_family"]) != "fp":
            continue
        same = [j for j, r in enumerate(rows) if kind(r["noise_family"]) == "fn"
                and all(r[k] == fp[k] for k in ("comparison", "metric", "model", "loss"))]
        if not same:
            continue
        j = min(same, key=lambda j: (abs(rows[j]["rate"] - fp["rate"]), rows[j]["rate"]))
        boot = boots[i] - boots[j]
        low, high, p = percentile_test(boot, confidence)
        out.append({**fp, "comparison": "fp vs fn", "noise": f"{fp['noise']} vs {rows[j]['noise']}",
                    "kept": fp["delta"], "kept_baseline": rows[j]["delta"], "delta": fp["delta"] - rows[j]["delta"],
                    "ci_low": low, "ci_high": high, "p": p})
        out_boots.append(boot)
    return out, out_boots


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
        raise DocrobustError(f"baseline loss {baseline!r} is not in the results (losses: {', '.join(losses)}); pass --baseline")
    return baseline


def comparisons(
    results: Results,
    baseline: str,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    resamples: Resamples | None = None,
) -> pd.DataFrame:
    """Each loss against `baseline` for the same model and noise cell, on the seeds both finished.

    Paired bootstrap CI and p-value and approximate-randomization p-value over test
    documents (see stats.paired_test), all from one draw of `n_resamples` resamples (or the report's `resamples`);
    Holm-adjusted over all comparisons of the report (separately per test).
    """
    done = results.done
    n_docs = results.n_docs
    if resamples is None:
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


def validity(summary: pd.DataFrame, min_clean_f1: float, metrics: tuple[str, ...] = tuple(SCORE_KINDS)) -> pd.DataFrame:
    """validity_of each score kind in `metrics` that the summary holds, in one table with a "metric" column."""
    present = [m for m in metrics if f"{m}_mean" in summary and summary[f"{m}_mean"].notna().any()]
    parts = [validity_of(summary, min_clean_f1, m).assign(metric=m) for m in present]
    return pd.concat(parts, ignore_index=True) if parts else validity_of(summary, min_clean_f1).assign(metric="f1")


def validity_of(summary: pd.DataFrame, min_clean_f1: float, metric: str = "f1") -> pd.DataFrame:
    """Signs that a score cannot carry a comparison, so that no comparison of it can mean anything; one row each.

    kind "floor": a system's clean score (mean over seeds; F1 unless `metric` names another) is below
    `min_clean_f1`, a level no trained DocRE model sits below. kind "rise": a system's score at some noise rate
    exceeds its clean score by more than the seed spread (columns f1_clean and f1 hold the metric's values), sqrt(std_clean² + std_noisy²) of F1 over seeds (0 with one seed): label noise does not help a
    trained model, so the ordering by noise rate is an artefact of training that has not converged, or of a
    threshold that over-predicts on clean labels (fewer positives then raise precision more than they cost
    recall); precision_clean and recall_clean tell the two apart.
    """
    columns = ["kind", "model", "loss", "noise_family", "rate", "noise", "f1_clean", "f1", "spread", "precision_clean",
               "recall_clean"]
    mean, std = f"{metric}_mean", f"{metric}_std"
    clean = summary[summary["noise_family"] == CLEAN]
    low = clean[clean[mean] < min_clean_f1]
    floor = low.assign(kind="floor", f1_clean=low[mean], f1=low[mean], spread=np.nan,
                       precision_clean=low["precision_mean"], recall_clean=low["recall_mean"])
    noisy = summary[summary["noise_family"] != CLEAN].merge(
        clean[["model", "loss", *dict.fromkeys([mean, std, "precision_mean", "recall_mean"])]], on=["model", "loss"],
        suffixes=("", "_clean")).rename(columns={"precision_mean_clean": "precision_clean",
                                                 "recall_mean_clean": "recall_clean"})
    spread = np.sqrt(noisy[std].fillna(0) ** 2 + noisy[f"{std}_clean"].fillna(0) ** 2)
    risen = noisy.assign(kind="rise", f1_clean=noisy[f"{mean}_clean"], f1=noisy[mean], spread=spread)
    risen = risen[risen["f1"] - risen["f1_clean"] > risen["spread"] + 1e-12]
    return pd.concat([floor[columns], risen[columns]], ignore_index=True)


def convergence(scores: pd.DataFrame) -> pd.DataFrame:
    """Systems whose dev F1 was still rising when their epoch budget ended, from the cells' own training logs.

    A cell is still rising when it ran its whole budget (no early stop) and its best dev epoch is one of the last two;
    a system is listed when at least half of its cells are: one row per system with n_rising, n_cells and the best
    epochs seen. Comparing it with a system that levelled off measures the training budget as much as the loss.
    """
    columns = ["model", "loss", "n_rising", "n_cells", "best_epochs", "budget"]
    trained = scores.dropna(subset=list(TRAINING))
    rising = (trained["epochs_run"] >= trained["epoch_budget"]) & (trained["best_epoch"] >= trained["epochs_run"] - 1)
    rows = []
    for (model, loss), cells in trained.assign(rising=rising).groupby(["model", "loss"], sort=False):
        if cells["rising"].sum() * 2 >= len(cells) and cells["rising"].any():
            rows.append({"model": model, "loss": loss, "n_rising": int(cells["rising"].sum()), "n_cells": len(cells),
                         "best_epochs": sorted({int(e) for e in cells["best_epoch"]}),
                         "budget": int(cells["epoch_budget"].max())})
    return pd.DataFrame(rows, columns=columns)
