"""Annotator noise: a model of how real annotators miss (and add) triples, fitted to an aligned low/high pair.

Probability model, for the true triples T_p of each labeled entity pair p of a document:

    with probability π_p = σ(w_pair · x_p) the annotator misses the whole pair (every triple of T_p);
    otherwise it misses each triple i of T_p on its own, with probability q_i = σ(w_triple · x_i);
    so P(i missed) = π_p + (1 - π_p) q_i, and the triples of a pair are missed together more often
    than independent misses would be (annotators miss or keep whole pairs).
    Separately, with probability α_p = σ(w_add · x_p) the annotator adds one wrong relation r' to the
    pair, P(r' | p) ∝ Σ_{r ∈ T_p} C[r, r'] over the r' not on the pair (C: the fitted pair's counts of
    true relation r -> added relation r' on the same entity pair).

x_p are features of the pair and its document: entity types, intra- vs inter-sentence and sentence
distance, mention counts, whether the pair carries other relations (and its relations), whether the
reverse pair is labeled, position of the first mentions, how many labeled pairs each entity is in
(its frequency among the labels), document size; x_i adds the relation. Types and relations the fit
never saw get no weight (only the intercept and the other features speak), so a model applies to any
corpus in the DocRED format.

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

import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from docrobust import __version__
from docrobust.base import DocrobustError, read_json, sha256_file, sha256_json
from docrobust.corpus import Doc, triples
from docrobust.corpus.align import align

from .registry import noise_model
from .table import Edit, LabelTable

FORMAT = "docrobust-annotator/1"
NUMERIC = ("inter_sentence", "log_distance", "log_mentions_h", "log_mentions_t", "other_relations",
           "log_relations_on_pair", "reverse_labeled", "position_h", "position_t", "log_pairs_of_h",
           "log_pairs_of_t", "log_entities", "log_sentences")
STAGE_BLOCKS = {"pair": ("numeric", "type_h", "type_t", "pair_relation"),
                "triple": ("numeric", "type_h", "type_t", "relation"),
                "independent": ("numeric", "type_h", "type_t", "relation"),
                "add": ("numeric", "type_h", "type_t", "pair_relation")}
DISTANCE_BUCKETS = ((0, 0, "0 (same sentence)"), (1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 10**9, "5+"))
EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS] in log-likelihoods


# ---------------------------------------------------------------- features

class Design:
    """The feature blocks of a label table under a model's vocabulary, pair-level (P rows) and triple-level (N rows).

    pair_of_row: (N,) the index of each row's entity pair among the table's distinct labeled pairs.
    """

    def __init__(self, table: LabelTable, types: list[str], relations: list[str]):
        self.table = table
        pairs, self.pair_of_row = np.unique(table.pair, return_inverse=True)
        self.n_pairs = len(pairs)
        doc, h, t = table.decode_pairs(pairs)
        first = np.unique(self.pair_of_row, return_index=True)[1]     # (P,) a row of each pair
        n_rel = np.bincount(self.pair_of_row, minlength=self.n_pairs)
        distance = table.sentence_distance[first]
        docs = table.docs
        mentions = [np.array([len(e) for e in d["vertexSet"]]) for d in docs]
        first_sent = [np.array([min(m["sent_id"] for m in e) for e in d["vertexSet"]]) for d in docs]
        n_sents = np.array([max(len(d.get("sents", [])), 1) for d in docs])
        # how many labeled pairs each entity is in, and whether (t, h) is labeled too
        degree: Counter = Counter()
        for d, a, b in zip(doc.tolist(), h.tolist(), t.tolist()):
            degree[d, a] += 1
            degree[d, b] += 1
        reverse = table.pair_start[doc] + t * table.n_entities[doc] + h
        m_h = np.array([mentions[d][e] for d, e in zip(doc.tolist(), h.tolist())])
        m_t = np.array([mentions[d][e] for d, e in zip(doc.tolist(), t.tolist())])
        s_h = np.array([first_sent[d][e] for d, e in zip(doc.tolist(), h.tolist())])
        s_t = np.array([first_sent[d][e] for d, e in zip(doc.tolist(), t.tolist())])
        columns = [                                                      # (P,) each, in NUMERIC's order
            distance > 0, np.log1p(distance), np.log1p(m_h), np.log1p(m_t), n_rel > 1, np.log(n_rel),
            np.isin(reverse, pairs), s_h / n_sents[doc], s_t / n_sents[doc],
            np.log1p([degree[d, e] for d, e in zip(doc.tolist(), h.tolist())]),
            np.log1p([degree[d, e] for d, e in zip(doc.tolist(), t.tolist())]),
            np.log(table.n_entities[doc]), np.log(n_sents[doc])]
        self.numeric = np.column_stack(columns).astype(float) if self.n_pairs else np.zeros((0, len(NUMERIC)))
        type_code = {name: k for k, name in enumerate(types)}
        th, tt = (np.array([type_code.get(table.type_names[c], -1) for c in codes.tolist()], dtype=np.int64)
                  for codes in (table.row_types[0][first], table.row_types[1][first]))
        rel_code = {name: k for k, name in enumerate(relations)}
        self.row_relation = np.array([rel_code.get(table.relations[c], -1) for c in table.r.tolist()], dtype=np.int64)
        self.type_h, self.type_t = _one_hot(th, len(types)), _one_hot(tt, len(types))
        self.relation = _one_hot(self.row_relation, len(relations))                       # (N, R)
        self.pair_relation = np.zeros((self.n_pairs, len(relations)))                     # (P, R) mean one-hot
        np.add.at(self.pair_relation, self.pair_of_row, self.relation)
        self.pair_relation /= np.maximum(n_rel, 1)[:, None]
        self.n_rel = n_rel
        self.pair_doc, self.pair_h, self.pair_t = doc, h, t

    def matrix(self, stage: str, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """The design matrix of a stage, (P, F) or (N, F): standardized numeric features, then its one-hot blocks."""
        per_row = stage in ("triple", "independent")

        def block(name: str) -> np.ndarray:
            if name == "relation":
                return self.relation
            value = (self.numeric - mean) / std if name == "numeric" else getattr(self, name)
            return value[self.pair_of_row] if per_row else value

        return np.hstack([block(b) for b in STAGE_BLOCKS[stage]])


def _one_hot(codes: np.ndarray, n: int) -> np.ndarray:
    """(len(codes), n) indicators; code -1 (not in the vocabulary) is a row of zeros."""
    out = np.zeros((len(codes), n))
    known = codes >= 0
    out[np.flatnonzero(known), codes[known]] = 1.0
    return out


def feature_names(stage: str, types: list[str], relations: list[str]) -> list[str]:
    names = {"numeric": list(NUMERIC), "type_h": [f"type_h={x}" for x in types],
             "type_t": [f"type_t={x}" for x in types], "pair_relation": [f"pair_relation={r}" for r in relations],
             "relation": [f"relation={r}" for r in relations]}
    return [n for b in STAGE_BLOCKS[stage] for n in names[b]]


# ---------------------------------------------------------------- the fitted model as probabilities

def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # exact logistic, no overflow warnings


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def check_model(model: Any, where: str) -> dict:
    """A fitted annotator model (a dict as read from its file), checked; DocrobustError naming the field otherwise."""
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise DocrobustError(f"{where}: not an annotator model (expected format {FORMAT!r}, "
                          "as written by `docrobust noise fit`)")
    feats = model.get("features")
    ok = isinstance(feats, dict) and all(isinstance(feats.get(k), list) for k in ("types", "relations", "mean", "std"))
    if not ok or len(feats["mean"]) != len(NUMERIC) or len(feats["std"]) != len(NUMERIC):
        raise DocrobustError(f"{where}: field 'features' must hold types, relations, and the mean and std of "
                          f"{len(NUMERIC)} numeric features")
    if not (_finite(feats["mean"]) and _finite(feats["std"]) and all(s > 0 for s in feats["std"])):
        raise DocrobustError(f"{where}: field 'features': mean must be finite numbers and std finite numbers > 0")
    for stage in STAGE_BLOCKS:
        s = model.get("stages", {}).get(stage)
        if s is None and stage in ("add", "independent"):
            continue
        if not isinstance(s, dict) or s.get("features") != feature_names(stage, feats["types"], feats["relations"]) \
                or not isinstance(s.get("coef"), list) or len(s["coef"]) != len(s["features"]) \
                or not _finite(s["coef"]) or not _finite([s.get("intercept")]):
            raise DocrobustError(f"{where}: field 'stages.{stage}' must hold the stage's features, coef and intercept")
    if not isinstance(model.get("confusion"), dict):
        raise DocrobustError(f"{where}: field 'confusion' must be an object {{relation: {{relation: count}}}}")
    return model


def _finite(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def stage_probabilities(model: dict, design: Design, stage: str) -> np.ndarray:
    """σ(w · x + b) of a stage for every pair (pair, add) or row (triple, independent); zeros for an absent stage."""
    s = model["stages"].get(stage)
    n = len(design.pair_of_row) if stage in ("triple", "independent") else design.n_pairs
    if s is None:
        return np.zeros(n)
    f = model["features"]
    x = design.matrix(stage, np.array(f["mean"]), np.array(f["std"]))
    return _sigmoid(x @ np.array(s["coef"], dtype=float) + s["intercept"]) if n else np.zeros(0)


def design_for(model: dict, table: LabelTable) -> Design:
    return Design(table, model["features"]["types"], model["features"]["relations"])


def miss_probabilities(model: dict, table: LabelTable) -> tuple[np.ndarray, np.ndarray, Design]:
    """(π per labeled pair, q per row, the design): the two stages of the miss model on a label table."""
    design = design_for(model, table)
    return stage_probabilities(model, design, "pair"), stage_probabilities(model, design, "triple"), design


def marginal(pi: np.ndarray, q: np.ndarray, pair_of_row: np.ndarray) -> np.ndarray:
    """P(row missed) = π_p + (1 - π_p) q_i."""
    return pi[pair_of_row] + (1 - pi[pair_of_row]) * q


# ---------------------------------------------------------------- the noise

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
        return np.where((p > 0) & (p < 1), _sigmoid(_logit(p) + delta), p)

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


# ---------------------------------------------------------------- fitting

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

    theta0 = np.concatenate([np.zeros(fp), [_logit(np.array(0.05))], start[0], [start[1]]])
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
    pi, q = _sigmoid(Xp @ w_pair + b_pair), _sigmoid(Xt @ w_triple + b_triple)
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
