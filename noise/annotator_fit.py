"""Fitting the annotator model to an aligned low/high pair, and its fit quality (held-out, or on another pair).

The stages are L2 logistic regressions, fitted by maximum likelihood (so calibrated as fitted; the held-out
report checks it on documents the fit did not see). scikit-learn's LogisticRegression fits the misses alone
(the "independent" stage, kept for the fit report as the model without its pair stage); from there the pair
and triple stages are fitted jointly, with the same penalty, by scipy's L-BFGS (the solver scikit-learn
uses): a pair whose triples were all missed was missed whole with posterior r_p = π_p / (π_p + (1 - π_p) Π q_i),
and the gradient is EM's, r_p - π_p for the pair logit and (1 - r_p)(missed_i - q_i) for the triple logit.

Fitted file (JSON, `docrobust noise fit`): the feature vocabulary and standardization, each stage's
feature names, coefficients and intercept, the confusion counts, the training pair's hashes and
titles, and the held-out fit quality (k-fold by document) against the per-relation profile and uniform.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from docrobust import __version__
from docrobust.base import DocrobustError, sha256_json
from docrobust.corpus import Doc, triples
from docrobust.corpus.align import align

from .annotator_model import (FORMAT, NUMERIC, Design, feature_names, logit, marginal, miss_probabilities, sigmoid,
                              stage_probabilities)
from .table import LabelTable

DISTANCE_BUCKETS = ((0, 0, "0 (same sentence)"), (1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 10**9, "5+"))
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] in log-likelihoods


@dataclass
class PairData:
    """An aligned low/high pair as a table of the high version's triples and what the low version did with them.

    missed: (N,) whether the low version lacks the row; additions: (pair index, relation) of every wrong relation
    the low version adds on a labeled pair; elsewhere: its additions on pairs without any true relation.
    """
    table: LabelTable
    missed: np.ndarray
    additions: list[tuple[int, str]]
    elsewhere: int = 0

    @cached_property
    def pairs(self) -> Design:
        return Design(self.table, [], [])

    def subset(self, docs: np.ndarray) -> "PairData":
        """The same for some documents (indices, ascending): pairs keep their order, so additions carry over."""
        table = self.table
        labels = [table.labels[d] for d in docs.tolist()]
        sub = LabelTable([table.docs[d] for d in docs.tolist()], labels, base=sum(map(len, labels)))
        kept = np.isin(self.pairs.pair_doc, docs)
        new_index = np.cumsum(kept) - 1
        return PairData(sub, self.missed[np.isin(table.doc, docs)],
                        [(int(new_index[p]), r) for p, r in self.additions if kept[p]])


def pair_data(low_docs: list[Doc], high_docs: list[Doc]) -> PairData:
    """Align LOW with HIGH (by title, same entities) and record the misses and additions of LOW."""
    alignment = align(low_docs, high_docs)
    if not alignment.pairs:
        raise DocrobustError("noise fit: no document of LOW aligns with HIGH (same title and entities); "
                          "are they versions of the same documents?")
    highs = [hi for _, hi in alignment.pairs]
    labels = [hi.get("labels", []) for hi in highs]
    table = LabelTable(highs, labels, base=sum(map(len, labels)))
    low_triples = [triples(lo) for lo, _ in alignment.pairs]
    missed = np.array([(h, t, table.relations[r]) not in low_triples[d]
                       for d, h, t, r in zip(table.doc.tolist(), table.h.tolist(), table.t.tolist(), table.r.tolist())],
                      dtype=bool)
    data = PairData(table, missed, [])
    pairs = data.pairs
    index = {key: p for p, key in enumerate(zip(pairs.pair_doc.tolist(), pairs.pair_h.tolist(), pairs.pair_t.tolist()))}
    for d, ((_, hi), lo) in enumerate(zip(alignment.pairs, low_triples)):
        for h, t, r in sorted(lo - triples(hi)):
            if (d, h, t) in index:
                data.additions.append((index[d, h, t], r))
            else:
                data.elsewhere += 1
    return data


def _logistic(X: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """(coef, intercept) of scikit-learn's L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression  # only fitting needs scikit-learn; applying needs numpy

    lr = LogisticRegression(C=C, max_iter=5000, tol=1e-6).fit(X, y)
    return lr.coef_[0].copy(), float(lr.intercept_[0])


def pair_log_likelihood(pi: np.ndarray, q: np.ndarray, pair_of_row: np.ndarray, missed: np.ndarray) -> np.ndarray:
    """(P,) log P(each pair's observed pattern of misses) under the two-stage model."""
    q, pi = np.clip(q, EPS, 1 - EPS), np.clip(pi, EPS, 1 - EPS)
    log_each = np.bincount(pair_of_row, np.where(missed, np.log(q), np.log1p(-q)), minlength=len(pi))
    all_missed = np.bincount(pair_of_row, ~missed, minlength=len(pi)) == 0
    return np.where(all_missed, np.logaddexp(np.log(pi), np.log1p(-pi) + log_each), np.log1p(-pi) + log_each)


def _fit_two_stages(Xp: np.ndarray, Xt: np.ndarray, g: np.ndarray, missed: np.ndarray, C: float,
                    start: tuple[np.ndarray, float]) -> tuple[np.ndarray, float, np.ndarray, float, int]:
    """Maximum likelihood of the two-stage model with sklearn's penalty (Σ w² / 2C, intercepts free), by scipy's
    L-BFGS from `start` (the independent logistic regression) for the triple stage and a rare whole-pair miss.

    With r_p = P(pair p missed whole | its misses) (0 unless all were missed), the gradient of the log-likelihood
    is r_p - π_p for the pair logit and (1 - r_p)(m_i - q_i) for the triple logit, the EM weights in closed form.
    """
    from scipy.optimize import minimize

    n_pairs, fp = len(Xp), Xp.shape[1]
    all_missed = np.bincount(g, ~missed, minlength=n_pairs) == 0
    m = missed.astype(float)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        wp, bp, wt, bt = theta[:fp], theta[fp], theta[fp + 1:-1], theta[-1]
        a, z = Xp @ wp + bp, Xt @ wt + bt
        log_pi, log_not_pi = -np.logaddexp(0, -a), -np.logaddexp(0, a)
        log_q, log_not_q = -np.logaddexp(0, -z), -np.logaddexp(0, z)
        log_each = np.bincount(g, np.where(missed, log_q, log_not_q), minlength=n_pairs)
        kept = log_not_pi + log_each
        ll = np.where(all_missed, np.logaddexp(log_pi, kept), kept)
        r = np.where(all_missed, np.exp(log_pi - ll), 0.0)
        d_a, d_z = r - np.exp(log_pi), (1 - r[g]) * (m - np.exp(log_q))
        value = -ll.sum() + (wp @ wp + wt @ wt) / (2 * C)
        grad = np.concatenate([-(Xp.T @ d_a) + wp / C, [-d_a.sum()], -(Xt.T @ d_z) + wt / C, [-d_z.sum()]])
        return float(value), grad

    theta0 = np.concatenate([np.zeros(fp), [logit(np.array(0.05))], start[0], [start[1]]])
    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 20_000, "gtol": 1e-6})
    theta = result.x
    return theta[:fp], float(theta[fp]), theta[fp + 1:-1], float(theta[-1]), int(result.nit)


def fit_stages(data: PairData, *, C: float = 1.0) -> dict[str, Any]:
    """The model dict (features, stages, confusion, training summary) fitted to one PairData."""
    table, missed = data.table, data.missed
    if missed.all() or not missed.any():
        raise DocrobustError(f"noise fit: the low version {'misses every' if missed.all() else 'keeps every'} "
                          "triple of the aligned documents; there is nothing to fit")
    types, relations = list(table.type_names), list(table.relations)
    design = Design(table, types, relations)
    mean, std = design.numeric.mean(axis=0), design.numeric.std(axis=0)
    std[std == 0] = 1.0
    Xp, Xt = design.matrix("pair", mean, std), design.matrix("triple", mean, std)
    g, n_pairs = design.pair_of_row, design.n_pairs
    independent = _logistic(Xt, missed, C)
    w_pair, b_pair, w_triple, b_triple, iterations = _fit_two_stages(Xp, Xt, g, missed, C, independent)
    pi, q = sigmoid(Xp @ w_pair + b_pair), sigmoid(Xt @ w_triple + b_triple)
    ll = float(pair_log_likelihood(pi, q, g, missed).sum())
    stages = {"pair": _stage("pair", w_pair, b_pair, types, relations),
              "triple": _stage("triple", w_triple, b_triple, types, relations),
              "independent": _stage("independent", *independent, types, relations), "add": None}
    added = np.bincount([p for p, _ in data.additions], minlength=n_pairs)
    if 0 < np.count_nonzero(added) < n_pairs:
        stages["add"] = _stage("add", *_logistic(Xp, added > 0, C), types, relations)
    on_pair = [sorted(set(rels)) for rels in _relations_by_pair(table, g, n_pairs)]
    confusion: Counter = Counter((r0, r1) for p, r1 in data.additions for r0 in on_pair[p])
    n_missed = Counter(table.relations[c] for c in table.r[missed].tolist())
    n_all = Counter(table.relations[c] for c in table.r.tolist())
    return {"format": FORMAT, "docrobust_version": __version__,
            "features": {"numeric": list(NUMERIC), "mean": mean.tolist(), "std": std.tolist(), "types": types,
                         "relations": relations},
            "stages": stages,
            "confusion": {a: {b: n for (a2, b), n in sorted(confusion.items()) if a2 == a}
                          for a in sorted({a for a, _ in confusion})},
            "training": {"documents": len(table.docs), "triples": len(missed), "missed": int(missed.sum()),
                         "miss_rate": float(missed.mean()), "pairs": n_pairs,
                         "pairs_missed_whole": int(np.count_nonzero(np.bincount(g, ~missed, minlength=n_pairs) == 0)),
                         "added": len(data.additions), "added_on_unlabeled_pairs": data.elsewhere,
                         "profile": {rel: n_missed[rel] / n_all[rel] for rel in sorted(n_all)},
                         "lbfgs_iterations": iterations, "log_likelihood_per_triple": ll / len(missed), "C": C}}


def _relations_by_pair(table: LabelTable, pair_of_row: np.ndarray, n_pairs: int) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(n_pairs)]
    for p, c in zip(pair_of_row.tolist(), table.r.tolist()):
        out[p].append(table.relations[c])
    return out


def _stage(stage: str, coef: np.ndarray, intercept: float, types: list[str], relations: list[str]) -> dict[str, Any]:
    return {"features": feature_names(stage, types, relations), "coef": coef.tolist(), "intercept": intercept}


def fit_annotator(low_docs: list[Doc], high_docs: list[Doc], *, C: float = 1.0, folds: int = 5, seed: int = 0,
                  sources: dict | None = None) -> dict[str, Any]:
    """Fit the annotator model to an aligned low/high pair, with its held-out fit quality.

    Fit quality: the documents are split into `folds` folds (a seeded permutation); each fold is scored by
    the model fitted on the others, next to the per-relation profile and the uniform rate of those others.
    The model returned is fitted on all documents. `sources` (e.g. file paths and sha256) is recorded.
    """
    data = pair_data(low_docs, high_docs)
    n_docs = len(data.table.docs)
    if folds < 2 or n_docs < folds:
        raise DocrobustError(f"noise fit: {folds} folds need folds >= 2 and at least as many aligned documents; "
                          f"{n_docs} align")
    fold_of_doc = np.random.default_rng(seed).permutation(n_docs) % folds
    parts = [quality_parts(fit_stages(data.subset(np.flatnonzero(fold_of_doc != f)), C=C),
                           data.subset(np.flatnonzero(fold_of_doc == f))) for f in range(folds)]
    model = fit_stages(data, C=C)
    model["training"].update(titles=list(data.table.titles), low_sha256=sha256_json(low_docs),
                             high_sha256=sha256_json(high_docs), sources=sources or {})
    model["held_out"] = {"method": f"{folds}-fold cross-validation by document (folds from seed {seed}): each triple "
                                   "scored by the model, profile and rate fitted on the other folds",
                         **summarize(parts)}
    return model


# ---------------------------------------------------------------- fit quality

BASELINES = ("annotator", "annotator, no pair stage", "per-relation profile", "uniform")


def quality_parts(model: dict, data: PairData) -> dict[str, np.ndarray]:
    """Arrays of one evaluation set for summarize(): per row ("row ...") and per labeled pair ("pair ...") the
    observed misses and the probabilities given them by the annotator model, by its triple-level logistic
    regression alone (no pair stage), by its training pair's per-relation profile (a relation it never saw gets the
    overall rate) and by the overall rate alone (uniform)."""
    pi, q, design = miss_probabilities(model, data.table)
    g, n_pairs = design.pair_of_row, design.n_pairs
    rate = model["training"]["miss_rate"]
    profile = model["training"]["profile"]
    by_relation = np.array([profile.get(r, rate) for r in data.table.relations])[data.table.r]
    rows = {"annotator": marginal(pi, q, g),
            "annotator, no pair stage": stage_probabilities(model, design, "independent"),
            "per-relation profile": by_relation, "uniform": np.full(len(g), rate)}

    def all_missed(p: np.ndarray) -> np.ndarray:  # P(every triple of the pair missed) under independent misses
        return np.exp(np.bincount(g, np.log(np.clip(p, EPS, 1)), minlength=n_pairs))

    whole = {name: all_missed(p) for name, p in rows.items()}
    whole["annotator"] = pi + (1 - pi) * all_missed(q)
    added = np.bincount([p for p, _ in data.additions], minlength=n_pairs)
    return {"row missed": data.missed,
            "row relation": np.array([data.table.relations[c] for c in data.table.r.tolist()]),
            "row distance": data.table.sentence_distance, **{f"row {k}": v for k, v in rows.items()},
            "pair size": design.n_rel, "pair missed": np.bincount(g, ~data.missed, minlength=n_pairs) == 0,
            "pair annotator log-likelihood": pair_log_likelihood(pi, q, g, data.missed),
            **{f"pair {k}": v for k, v in whole.items()},
            "pair added": added, "pair annotator added": stage_probabilities(model, design, "add")}


def summarize(parts: list[dict[str, np.ndarray]] | dict[str, np.ndarray], top: int = 12) -> dict[str, Any]:
    """Fit quality over one or several evaluation sets pooled: log-likelihood per triple (independent misses for
    all three; the annotator model also with its pair stage, the joint probability of each pair's misses), ROC AUC
    of "missed", whole multi-relation pairs missed, and calibration (mean predicted vs observed miss rate) by
    relation (the `top` most frequent, then the rest) and by sentence-distance bucket. The AUC is computed per
    evaluation set (fold) and averaged, weighted by triples."""
    from sklearn.metrics import roc_auc_score

    parts = [parts] if isinstance(parts, dict) else parts
    a = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    y = a["row missed"]
    n = len(y)

    def loglik(p: np.ndarray, obs: np.ndarray) -> float:
        p = np.clip(p, EPS, 1 - EPS)
        return float(np.where(obs, np.log(p), np.log1p(-p)).sum())

    ll = {name: loglik(a[f"row {name}"], y) / n for name in BASELINES}

    def auc(name: str) -> float | None:
        # per evaluation set, weighted by its triples: pooled, one fold's constant rate would rank against another's
        scored = [(len(p["row missed"]), roc_auc_score(p["row missed"], p[f"row {name}"]))
                  for p in parts if 0 < p["row missed"].sum() < len(p["row missed"])]
        return float(sum(k * v for k, v in scored) / sum(k for k, _ in scored)) if scored else None

    def table(keys: np.ndarray, order: list) -> list[dict[str, Any]]:
        rows = []
        for key in order:
            sel = keys == key
            if sel.any():
                rows.append({"bucket": str(key), "triples": int(sel.sum()), "observed": float(y[sel].mean()),
                             **{name: float(a[f"row {name}"][sel].mean()) for name in BASELINES}})
        return rows

    relations, counts = np.unique(a["row relation"], return_counts=True)
    frequent = [r for _, r in sorted(zip(-counts, relations))][:top]
    relation_key = np.where(np.isin(a["row relation"], frequent), a["row relation"], "other")
    distance_key = np.empty(n, dtype=object)
    for lo, hi, name in DISTANCE_BUCKETS:
        distance_key[(a["row distance"] >= lo) & (a["row distance"] <= hi)] = name
    multi = a["pair size"] >= 2
    whole = {name: float(a[f"pair {name}"][multi].mean()) if multi.any() else 0.0 for name in BASELINES}
    return {
        "triples": n, "missed": int(y.sum()), "observed_miss_rate": float(y.mean()) if n else 0.0,
        "log_likelihood_per_triple": {
            "annotator (with its pair stage)": float(a["pair annotator log-likelihood"].sum()) / n, **ll},
        "roc_auc_missed": {name: auc(name) for name in BASELINES},
        "pairs_with_several_relations": {
            "pairs": int(multi.sum()),
            "observed_missed_whole": float(a["pair missed"][multi].mean()) if multi.any() else 0.0, **whole},
        "additions": {"observed": int(a["pair added"].sum()), "annotator": float(a["pair annotator added"].sum())},
        "calibration_by_relation": table(relation_key, frequent + ["other"]),
        "calibration_by_distance": table(distance_key, [name for *_, name in DISTANCE_BUCKETS]),
    }


def evaluate(model: dict, low_docs: list[Doc], high_docs: list[Doc]) -> dict[str, Any]:
    """Fit quality of a fitted model on another aligned low/high pair (transfer), as summarize() reports it."""
    return summarize(quality_parts(model, pair_data(low_docs, high_docs)))
