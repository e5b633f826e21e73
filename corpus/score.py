"""DocRED's official evaluation: F1, Ign F1 and Evi F1, with per-document counts and breakdowns.

The definitions follow the official `code/evaluation.py` of DocRED (thunlp/DocRED) exactly:
- predictions are deduplicated on (title, h_idx, t_idx, r), keeping the first;
- gold triples are the distinct (title, r, h, t) keys, so a duplicated gold label counts once;
- predictions whose title is not among the gold documents stay in the precision denominator;
- Ign F1 recomputes precision leaving out correct predictions whose fact (a head mention name, a tail
  mention name, r) occurs in the training file: P_ign = (tp - tp_in_train) / (n_pred - tp_in_train), with
  the unchanged recall. ATLOP's copy of the script adds 1e-5 to that denominator and many papers report
  with it: `ign_variant="atlop"` (CLI: `--ign-variant atlop`) gives that variant;
- Evi F1 compares predicted evidence sentences with gold evidence on correct predictions.
An empty prediction list scores 0 (the official script divides by zero there).
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Iterable

import numpy as np

from docrobust.base import DocrobustError, cap_problems, read_json, shown
from .io import Doc, is_intra, load_docs, sentence_sets, validate_docs
from .pair_types import is_allowed, restrict_labels

Fact = tuple[str, str, str]
BUCKETS = ("intra", "inter", "frequent", "long_tail")
N_FREQUENT = 10  # "frequent" relations are the ten most common, as in Re-DocRED/KD-DocRE analyses


# ---------------------------------------------------------------- inputs

def facts_from_docs(docs: Iterable[Doc]) -> frozenset[Fact]:
    """Every (head mention name, tail mention name, relation) of the labeled documents."""
    facts = set()
    for doc in docs:
        entities = doc["vertexSet"]
        for lab in doc.get("labels", []):
            facts.update((m1["name"], m2["name"], lab["r"]) for m1 in entities[lab["h"]] for m2 in entities[lab["t"]])
    return frozenset(facts)


def load_train_facts(path: str | os.PathLike) -> frozenset[Fact]:
    """Facts of a training set, from a `.fact` file (a JSON list of [name, name, r]) or a DocRED train JSON.

    The facts are read from the file's content on every call; nothing is cached by file name, so a
    regenerated noisy training file never reuses stale facts.
    """
    data = read_json(path)
    if isinstance(data, list) and all(isinstance(x, list) and len(x) == 3 for x in data):
        return frozenset(tuple(x) for x in data)
    problems = validate_docs(data, source=str(path))
    if problems:
        raise DocrobustError([f"{path}: neither a .fact list of [head name, tail name, relation] nor DocRED documents"] + problems)
    return facts_from_docs(data)


def check_preds(preds: Any, source: str = "<predictions>") -> list[dict]:
    """Raise DocrobustError unless `preds` is a list of {"title", "h_idx", "t_idx", "r"[, "evidence"]}."""
    if not isinstance(preds, list):
        raise DocrobustError(f"{source}: expected a JSON list of predictions, got {type(preds).__name__}")
    problems = cap_problems((f"{source}: prediction {i}: {p}" for i, pred in enumerate(preds)
                             for p in _prediction_problems(pred)), source=source)
    if problems:
        raise DocrobustError(problems)
    return preds


def _prediction_problems(pred: Any) -> Iterable[str]:
    if not isinstance(pred, dict):
        yield "expected an object"
        return
    for key, kind in (("title", str), ("h_idx", int), ("t_idx", int), ("r", str)):
        if not isinstance(pred.get(key), kind) or isinstance(pred.get(key), bool):
            yield f"{key}: expected {kind.__name__}, got {shown(pred.get(key))}"
    evidence = pred.get("evidence", [])
    if not (isinstance(evidence, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in evidence)):
        yield "evidence: expected a list of sentence ids"


def load_preds(path: str | os.PathLike) -> list[dict]:
    return check_preds(read_json(path), str(path))


# ---------------------------------------------------------------- scoring

COUNT_FIELDS = ("tp", "n_pred", "n_gold", "tp_in_train")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den == 0."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


IGN_VARIANTS = {"official": 0.0, "atlop": 1e-5}  # what each adds to Ign precision's denominator


def prf(counts: Any, ign_variant: str = "official") -> dict[str, np.ndarray]:
    """Micro scores from summed counts (..., 4) = COUNT_FIELDS = [tp, n_pred, n_gold, tp_in_train].

    P = tp / n_pred, R = tp / n_gold, F1 = 2PR / (P + R), each 0 where its denominator is 0;
    DocRED's Ign precision = (tp - tp_in_train) / (n_pred - tp_in_train) (ATLOP's variant adds 1e-5 to
    that denominator), and Ign F1 is its harmonic mean with the same R. Each value has shape (...): one formula for a single score (shape ())
    and for every bootstrap resample of a report at once.
    """
    if ign_variant not in IGN_VARIANTS:
        raise DocrobustError(f"unknown Ign F1 variant {ign_variant!r}; known: {', '.join(IGN_VARIANTS)}")
    tp, n_pred, n_gold, tp_in_train = np.moveaxis(np.asarray(counts, dtype=float), -1, 0)
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_gold)
    ign_precision = _ratio(tp - tp_in_train, n_pred - tp_in_train + IGN_VARIANTS[ign_variant])
    return {"precision": precision, "recall": recall, "f1": _ratio(2 * precision * recall, precision + recall),
            "ign_precision": ign_precision, "ign_f1": _ratio(2 * ign_precision * recall, ign_precision + recall)}


def frequent_relations(docs: Iterable[Doc], n: int = N_FREQUENT) -> frozenset[str]:
    """The `n` most common relations among the labels (ties broken by id)."""
    counts = Counter(lab["r"] for d in docs for lab in d.get("labels", []))
    return frozenset(r for r, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _counts() -> dict[str, int]:
    return {"n_pred": 0, "n_gold": 0, "tp": 0}


def score(gold_docs: list[Doc], preds: list[dict], train_facts: Iterable[Fact] | None = None, *,
          frequent: Iterable[str] | None = None, ign_variant: str = "official",
          pair_types: Iterable[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Score predictions against gold documents with DocRED's official definitions.

    `train_facts`: facts of the training set for Ign F1 (without them Ign F1 equals F1).
    `ign_variant`: "official", or "atlop" for ATLOP's Ign precision with 1e-5 in its denominator.
    `frequent`: relation ids of the "frequent" bucket; by default the ten most common gold relations
    (pass the training set's, `frequent_relations(train_docs)`, to follow the literature).
    `pair_types`: score only pairs of these (head type, tail type) (corpus/pair_types.py): gold labels of
    other pairs are left out, and so are predictions on other pairs of known documents (counted in
    n_pred_other_types); every count, and so Ign F1, follows.
    Returns fractions in [0, 1], totals, per-document counts (for resampling) and bucket counts.
    """
    pair_types = frozenset(map(tuple, pair_types)) if pair_types is not None else None
    gold_docs = restrict_labels(gold_docs, pair_types)
    facts = frozenset(train_facts or ())
    frequent = frozenset(frequent) if frequent is not None else frequent_relations(gold_docs)

    # Gold: the official script keys triples by (title, r, h, t) and keeps the last vertexSet per title.
    gold: dict[tuple, set[int]] = {}
    entities_of: dict[str, list] = {}
    order: list[str] = []
    for doc in gold_docs:
        title = doc["title"]
        if title not in entities_of:
            order.append(title)
        entities_of[title] = doc["vertexSet"]
        for lab in doc.get("labels", []):
            gold[(title, lab["r"], lab["h"], lab["t"])] = set(lab.get("evidence", []))
    sents_of = {title: sentence_sets({"vertexSet": v}) for title, v in entities_of.items()}
    tot_evidence = sum(len(lab.get("evidence", [])) for d in gold_docs for lab in d.get("labels", []))

    per_doc = {title: {"n_pred": 0, "n_gold": 0, "tp": 0, "tp_in_train": 0} for title in order}
    buckets = {b: _counts() for b in BUCKETS}
    per_relation: dict[str, dict[str, int]] = {}

    def add(title: str, h: int, t: int, r: str, field: str) -> None:
        per_doc[title][field] += 1
        n_ent = len(entities_of[title])
        if 0 <= h < n_ent and 0 <= t < n_ent:  # an out-of-range prediction has no sentence bucket
            buckets["intra" if is_intra(sents_of[title], h, t) else "inter"][field] += 1
        buckets["frequent" if r in frequent else "long_tail"][field] += 1
        per_relation.setdefault(r, _counts())[field] += 1

    for title, r, h, t in gold:
        add(title, h, t, r, "n_gold")

    seen: set[tuple] = set()
    n_pred = tp = tp_in_train = unknown = pred_evi = correct_evi = other_types = 0
    has_evidence = False
    for p in preds:
        key = (p["title"], p["h_idx"], p["t_idx"], p["r"])
        if key in seen:
            continue
        seen.add(key)
        entities = entities_of.get(p["title"], [])
        if (pair_types is not None and 0 <= p["h_idx"] < len(entities) and 0 <= p["t_idx"] < len(entities)
                and not is_allowed({"vertexSet": entities}, p["h_idx"], p["t_idx"], pair_types)):
            other_types += 1
            continue
        n_pred += 1
        title, h, t, r = key
        if title not in entities_of:
            unknown += 1
            continue
        has_evidence |= "evidence" in p
        evidence = set(p.get("evidence", []))
        pred_evi += len(evidence)
        add(title, h, t, r, "n_pred")
        gold_evidence = gold.get((title, r, h, t))
        if gold_evidence is None:
            continue
        tp += 1
        add(title, h, t, r, "tp")
        correct_evi += len(gold_evidence & evidence)
        entities = entities_of[title]
        if facts and any((m1["name"], m2["name"], r) in facts for m1 in entities[h] for m2 in entities[t]):
            tp_in_train += 1
            per_doc[title]["tp_in_train"] += 1

    result: dict[str, Any] = {
        **{k: float(v) for k, v in prf([tp, n_pred, len(gold), tp_in_train], ign_variant).items()},
        "ign_variant": ign_variant,
        "n_pred": n_pred, "n_gold": len(gold), "tp": tp, "tp_in_train": tp_in_train,
        "n_pred_unknown_title": unknown,
    }
    if pair_types is not None:
        result.update(pair_types=sorted(map(list, pair_types)), n_pred_other_types=other_types)
    if has_evidence:
        evi_p = correct_evi / pred_evi if pred_evi else 0.0
        evi_r = correct_evi / tot_evidence if tot_evidence else 0.0
        result.update(evi_precision=evi_p, evi_recall=evi_r,
                      evi_f1=2 * evi_p * evi_r / (evi_p + evi_r) if evi_p + evi_r else 0.0)
    result["per_doc"] = {"title": order, **{k: [per_doc[t][k] for t in order] for k in ("n_pred", "n_gold", "tp", "tp_in_train")}}
    result["breakdown"] = {**buckets, "per_relation": dict(sorted(per_relation.items()))}
    return result


def average_precision(scores: Any, relevant: Any, n_relevant: float | None = None, weights: Any = None) -> float:
    """Area under the precision-recall curve of a ranking, as sklearn's `average_precision_score` computes it.

    Items are ranked by `scores`, highest first; at each distinct score (tied items enter together)
    P_k = relevant items scoring >= it / items scoring >= it, R_k = relevant items scoring >= it / n_relevant, and
    AP = sum_k (R_k - R_(k-1)) P_k. No interpolation, so AP depends on the order of the scores alone (any strictly
    increasing transform of them leaves it unchanged). `n_relevant` (default: the relevant items given) counts the
    relevant items that were never ranked as well (a ranking cut at some depth), which therefore lower recall: with
    every relevant item ranked this is sklearn's value. `weights` (default 1) counts each item that many times, as a
    bootstrap over documents does with a document's items. 0 when nothing is relevant.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    if n_relevant is None:
        n_relevant = float(weights[relevant].sum())
    if not n_relevant or not len(scores):
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(np.where(relevant[order], weights[order], 0.0))   # relevant items down to each rank
    seen = np.cumsum(weights[order])                                    # all items down to each rank
    ends = np.r_[np.flatnonzero(np.diff(scores[order])), len(scores) - 1]  # the last rank of each tied group
    hits, seen = hits[ends], seen[ends]
    precision = _ratio(hits, seen)
    return float(np.sum(np.diff(hits, prepend=0.0) * precision) / n_relevant)


def score_files(gold_path: str | os.PathLike, pred_path: str | os.PathLike, train_path: str | os.PathLike | None = None,
                ign_variant: str = "official") -> dict:
    """`score` on files: gold documents, a prediction list and, for Ign F1, a training file (.fact or JSON)."""
    gold = load_docs(gold_path)
    facts = load_train_facts(train_path) if train_path else None
    return score(gold, load_preds(pred_path), facts, ign_variant=ign_variant)


def format_score(result: dict) -> str:
    """A short human-readable summary, percentages to two decimals as papers report them."""
    lines = [f"{k:>10}: {100 * result[k]:6.2f}" for k in ("precision", "recall", "f1", "ign_f1", "evi_f1") if k in result]
    lines.append(f"{'counts':>10}: {result['tp']} correct of {result['n_pred']} predicted, {result['n_gold']} gold"
                 + (f", {result['n_pred_unknown_title']} with unknown titles" if result["n_pred_unknown_title"] else ""))
    for b in BUCKETS:
        c = result["breakdown"][b]
        lines.append(f"{b:>10}: F1 {100 * prf([c['tp'], c['n_pred'], c['n_gold'], 0])['f1']:6.2f}  ({c['n_gold']} gold)")
    return "\n".join(lines)


__all__ = ["score", "score_files", "load_train_facts", "facts_from_docs", "load_preds", "check_preds",
           "prf", "average_precision", "frequent_relations", "format_score", "BUCKETS", "COUNT_FIELDS", "IGN_VARIANTS", "N_FREQUENT"]
