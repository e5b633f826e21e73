"""Resampling the test documents once per report, and what it carries: the figures' bands and the retention
comparisons (which loss keeps more of its clean score), each with its paired bootstrap over documents.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cells import BANDED, CELL, CLEAN, SCORE_KINDS, Results
from .records import Scores
from .stats import Resamples, holm, percentile_test, resampled_ap, resampled_scores

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
