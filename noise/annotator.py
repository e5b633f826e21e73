"""Annotator noise: a model of how real annotators miss (and add) triples, fitted to an aligned low/high pair.

Probability model, for the true triples T_p of each labeled entity pair p of a document:

    with probability π_p = σ(w_pair · x_p) the annotator misses the whole pair (every triple of T_p);
    otherwise it misses each triple i of T_p on its own, with probability q_i = σ(w_triple · x_i);
    so P(i missed) = π_p + (1 - π_p) q_i, and the triples of a pair are missed together more often
    than independent misses would be (annotators miss or keep whole pairs).
    Separately, with probability α_p = σ(w_add · x_p) the annotator adds one wrong relation r' to the
    pair, P(r' | p) ∝ Σ_{r ∈ T_p} C[r, r'] over the r' not on the pair (C: the fitted pair's counts of
    true relation r -> added relation r' on the same entity pair).

The features x_p and x_i, and the stages as probabilities: noise/annotator_model.py; fitting them to an
aligned low/high pair (L2 logistic regressions, then both miss stages jointly by maximum likelihood) and
the fit quality: noise/annotator_fit.py. Every public name of both is importable from here.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from docrobust.base import DocrobustError, read_json, sha256_file

from .annotator_fit import (BASELINES, DISTANCE_BUCKETS, EPS, PairData, evaluate, fit_annotator, fit_stages,
                            pair_data, pair_log_likelihood, quality_parts, summarize)
from .annotator_model import (FORMAT, NUMERIC, STAGE_BLOCKS, Design, check_model, design_for, feature_names, logit,
                              marginal, miss_probabilities, sigmoid, stage_probabilities)
from .registry import noise_model
from .table import Edit, LabelTable

__all__ = ["BASELINES", "DISTANCE_BUCKETS", "EPS", "FORMAT", "NUMERIC", "STAGE_BLOCKS", "Design", "PairData",
           "annotator", "check_model", "conditional_draw", "design_for", "evaluate", "feature_names", "fit_annotator",
           "fit_stages", "marginal", "miss_probabilities", "pair_data", "pair_log_likelihood", "quality_parts",
           "stage_probabilities", "summarize"]


@noise_model("annotator")
def annotator(table: LabelTable, rate: float, rng: np.random.Generator, *, model: str | None = None) -> Edit:
    """Annotator-shaped noise from a model fitted by `docrobust noise fit`: misses whole pairs and single
    triples, and adds wrong relations on labeled pairs, with the fitted probabilities of each triple and pair.

    Counts: k = round(rate * Σ_i P(i missed)) triples removed and round(rate * Σ_p α_p) added, exactly
    (rate 1.0: the model's expected counts on this corpus). The draw is conditional Poisson sampling
    extended to the two stages: all logits are shifted by one δ that makes the expected count k (δ ≈ 0
    at rate 1), then whole draws of the model (pairs, then triples) are repeated until one removes
    exactly k; so the result is the model's own distribution conditioned on its count. Additions: the
    same over pairs, each chosen pair getting one relation drawn from its confusion weights.
    """
    if model is None:
        raise DocrobustError("annotator needs model=annotator.json (from `docrobust noise fit LOW HIGH --out ...`)")
    fitted = check_model(read_json(model), model)
    pi, q, design = miss_probabilities(fitted, table)
    expected = float(marginal(pi, q, design.pair_of_row).sum())
    k = round(rate * expected)
    removed, shift, tries = conditional_draw(pi, q, design.pair_of_row, k, rng, "annotator")
    add, info_add = _additions(fitted, table, design, rate, rng)
    info = {"model_sha256": sha256_file(model), "expected_removed": expected, "shift": shift, "tries": tries,
            **info_add}
    return Edit(remove=np.flatnonzero(removed), add=add, info=info)


def _additions(model: dict, table: LabelTable, design: Design, rate: float,
               rng: np.random.Generator) -> tuple[list, dict[str, Any]]:
    """The added wrong relations: round(rate * Σ α_p) eligible pairs (confusion weight left), one relation each."""
    relations = model["features"]["relations"]
    index = {r: k for k, r in enumerate(relations)}
    C = np.zeros((len(relations), len(relations)))
    for r, row in model["confusion"].items():
        for r2, n in row.items():
            if r in index and r2 in index:
                C[index[r], index[r2]] = n
    weights = np.zeros((design.n_pairs, len(relations)))                  # (P, R) Σ_{r on p} C[r, :]
    known = design.row_relation >= 0
    np.add.at(weights, design.pair_of_row[known], C[design.row_relation[known]])
    weights[design.pair_relation > 0] = 0.0                                  # never a relation the pair has
    eligible = weights.sum(axis=1) > 0
    alpha = np.where(eligible, stage_probabilities(model, design, "add"), 0.0)
    expected = float(alpha.sum())
    k = round(rate * expected)
    chosen, shift, tries = conditional_draw(np.zeros(len(alpha)), alpha, np.arange(len(alpha)), k, rng,
                                            "annotator (additions)")
    added = []
    for p in np.flatnonzero(chosen).tolist():
        cum = np.cumsum(weights[p])
        r = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        added.append((int(design.pair_doc[p]), int(design.pair_h[p]), int(design.pair_t[p]), relations[r], []))
    return added, {"expected_added": expected, "shift_added": shift, "tries_added": tries}


def conditional_draw(pi: np.ndarray, q: np.ndarray, group: np.ndarray, k: int, rng: np.random.Generator,
                     what: str, max_tries: int = 200_000) -> tuple[np.ndarray, float, int]:
    """Rows removed by the two-stage model (group p dropped whole with π_p, else row i with q_i) conditioned on
    exactly k rows; (removed mask, logit shift δ, draws made).

    δ solves Σ_p [π_p(δ) n_p + (1 - π_p(δ)) Σ_{i ∈ p} q_i(δ)] = k with x(δ) = σ(logit x + δ) (bisection);
    draws are made in batches and the first with count k is kept (rejection gives the exact conditional law).
    """
    n = len(q)
    possible = int(np.count_nonzero((pi[group] > 0) | (q > 0)))
    if k > possible:
        raise DocrobustError(f"{what}: cannot change {k} triples, only {possible} have a probability > 0; lower the rate")
    if k == 0:
        return np.zeros(n, dtype=bool), 0.0, 0
    sizes = np.bincount(group, minlength=len(pi))

    def tilt(p: np.ndarray, delta: float) -> np.ndarray:  # probabilities 0 and 1 stay as they are
        return np.where((p > 0) & (p < 1), sigmoid(logit(p) + delta), p)

    def expected(delta: float) -> float:
        p_, q_ = tilt(pi, delta), tilt(q, delta)
        return float((p_ * sizes).sum() + ((1 - p_[group]) * q_).sum())

    lo, hi = -60.0, 60.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected(mid) < k else (lo, mid)
    delta = (lo + hi) / 2
    p_, q_ = tilt(pi, delta), tilt(q, delta)
    batch = max(1, min(256, 4_000_000 // max(n + len(pi), 1)))
    tries = 0
    while tries < max_tries:
        removed = (rng.random((batch, len(pi))) < p_)[:, group] | (rng.random((batch, n)) < q_)  # (B, n)
        hit = np.flatnonzero(removed.sum(axis=1) == k)
        if len(hit):
            return removed[hit[0]], float(delta), tries + int(hit[0]) + 1
        tries += batch
    raise DocrobustError(f"{what}: no draw of the model removed exactly {k} of {n} triples in {max_tries:,} tries; "
                      "use a rate nearer 1")
