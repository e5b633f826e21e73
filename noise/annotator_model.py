"""The fitted annotator model as probabilities: the features of a label table under a model's vocabulary, the
checked model file, and each stage's σ(w · x + b) (the probability model is stated in noise/annotator.py).

x_p are features of the pair and its document: entity types, intra- vs inter-sentence and sentence
distance, mention counts, whether the pair carries other relations (and its relations), whether the
reverse pair is labeled, position of the first mentions, how many labeled pairs each entity is in
(its frequency among the labels), document size; x_i adds the relation. Types and relations the fit
never saw get no weight (only the intercept and the other features speak), so a model applies to any
corpus in the DocRED format.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from docrobust.base import DocrobustError

from .table import LabelTable

FORMAT = "docrobust-annotator/1"
NUMERIC = ("inter_sentence", "log_distance", "log_mentions_h", "log_mentions_t", "other_relations",
           "log_relations_on_pair", "reverse_labeled", "position_h", "position_t", "log_pairs_of_h",
           "log_pairs_of_t", "log_entities", "log_sentences")
STAGE_BLOCKS = {"pair": ("numeric", "type_h", "type_t", "pair_relation"),
                "triple": ("numeric", "type_h", "type_t", "relation"),
                "independent": ("numeric", "type_h", "type_t", "relation"),
                "add": ("numeric", "type_h", "type_t", "pair_relation")}


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

def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z), exact, with no overflow warnings."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), p clipped to [1e-12, 1 - 1e-12]."""
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
    return sigmoid(x @ np.array(s["coef"], dtype=float) + s["intercept"]) if n else np.zeros(0)


def design_for(model: dict, table: LabelTable) -> Design:
    return Design(table, model["features"]["types"], model["features"]["relations"])


def miss_probabilities(model: dict, table: LabelTable) -> tuple[np.ndarray, np.ndarray, Design]:
    """(π per labeled pair, q per row, the design): the two stages of the miss model on a label table."""
    design = design_for(model, table)
    return stage_probabilities(model, design, "pair"), stage_probabilities(model, design, "triple"), design


def marginal(pi: np.ndarray, q: np.ndarray, pair_of_row: np.ndarray) -> np.ndarray:
    """P(row missed) = π_p + (1 - π_p) q_i."""
    return pi[pair_of_row] + (1 - pi[pair_of_row]) * q
