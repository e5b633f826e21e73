"""The label-error auditor: which labels of a DocRE training set are missing, which are wrong.

Cross-fitting. The documents are split into k folds (a seeded random permutation, dealt round-robin);
for each fold a model is trained on the other k - 1 and scores every entity pair of the held-out fold,
so each (h, t, r) of every document gets an out-of-fold score from a model that never saw its label:

    margin[h, t, r] = z_r - threshold        the relation's logit above the loss's threshold
                                             (the TH column, or 0 for bce / balanced-softmax)

With a frozen encoder (the default) the encoder's outputs come from the feature store
(models/store.py): computed once per document and shared by all k folds, so a fold costs the head only.
Each fold's held-out margins are kept in OUT/folds/ under a hash of the settings and documents, so an
interrupted audit run again into the same folder trains only the folds it had not finished.

Probability model and label quality. Each entity pair is one example of a multi-label problem whose
classes are the relations: the labels form a [pairs, R] 0/1 matrix, and p[h, t, r] = sigmoid(margin) is
the out-of-sample probability that r holds, one-vs-threshold, as ATL's pairwise softmax over {r, TH}
defines it. That is exactly the input of cleanlab's multi-label label-quality scores, so we use
`cleanlab.multilabel_classification.rank.get_label_quality_scores_per_class` (self-confidence: p for
a labeled cell, 1 - p for an unlabeled one; low = likely wrong), which needs only out-of-sample
per-class probabilities, no independence between examples. Its pair-level aggregate and its
`find_label_issues` are not used: a pair is not the unit a person accepts or rejects (a triple is), and
confident learning's count of issues per class assumes class-conditional noise, which DocRED's missing
labels are not (annotators miss inter-sentence and long-tail triples more).

    missing-label candidates   unlabeled cells, lowest quality (most confident model) first
    suspicious labels          labeled cells, lowest quality (most strongly rejected label) first

`audit` writes candidates.csv, suspicious.csv, scores.npz (every cell's margin and label, for `audit
score` and `--add-above`), audit.json and audit.html; `apply` turns a ranked list into a corrected
training file plus a noise-suite manifest (so docrobust.noise.replay rebuilds it); `score` measures the
lists against known errors (a noise manifest, or a better-labeled version of the same documents).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from docrobust import __version__
from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, atomic_write_text, read_json,
                            sha256_file, sha256_json)
from docrobust.corpus import Doc, RelationInventory, triples
from docrobust.corpus.align import align
from docrobust.corpus.score import average_precision
from docrobust.noise import apply_changes

__all__ = ["AUDIT_FINE_TUNING", "AUDIT_TRAINING", "COLUMNS", "Audit", "FoldTrainer", "apply_audit", "assign_folds",
           "cross_fit",
           "label_quality", "ranked_cells", "read_audit", "read_summary", "run_audit", "score_audit", "truth_from_docs",
           "truth_from_manifest"]

# The CPU defaults: the quick benchmark's head on frozen MiniLM (bench.toml [profile.quick]); epochs sized so that
# 500 documents x 5 folds fit in 10 minutes on 2 cores (benchmarks/bench_audit.py).
AUDIT_TRAINING: dict[str, Any] = {
    "model": "atlop", "encoder": "minilm", "freeze_encoder": True, "model_options": {"emb_size": 128, "block_size": 16},
    "lr_head": 3e-3, "epochs": 8, "batch_size": 4, "max_len": 1024}
# --fine-tune (a GPU's job): the encoder trains in every fold, with the model's own head sizes and ATLOP's head
# learning rate; the settings of the measured GPU audit (benchmarks/bench_audit.py --fine-tune, README).
AUDIT_FINE_TUNING: dict[str, Any] = {**AUDIT_TRAINING, "freeze_encoder": False, "model_options": {}, "lr_head": 1e-4,
                                     "epochs": 10}

# The official prediction keys first, so a list can be scored and merged like predictions.
COLUMNS = ("title", "h_idx", "t_idx", "r", "score", "quality", "rank", "relation", "h_name", "h_type", "t_name",
           "t_type", "sent_ids", "context")
HEAD, TAIL = ("[[", "]]"), ("{{", "}}")   # how the CSV's context marks the head and tail mentions
SCORES, CANDIDATES, SUSPICIOUS, SUMMARY, PAGE = "scores.npz", "candidates.csv", "suspicious.csv", "audit.json", "audit.html"


# ----------------------------------------------------------------------------- cross-fitting

Scorer = Callable[[np.ndarray], list[np.ndarray]]          # document indices -> margins [pairs, R] each
Key = tuple[str, int, int, str]                            # (title, h, t, r)


def assign_folds(n_docs: int, folds: int, seed: int) -> np.ndarray:
    """Fold index per document: a seeded permutation dealt round-robin, so fold sizes differ by at most one."""
    if not 2 <= folds <= n_docs:
        raise DocrobustError(f"--folds {folds}: cross-fitting needs at least 2 folds and at most one per document "
                          f"({n_docs} documents)")
    fold_of = np.empty(n_docs, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n_docs)] = np.arange(n_docs) % folds
    return fold_of


def cross_fit(fold_of: np.ndarray, fit: Callable[[int, np.ndarray], Scorer]) -> list[np.ndarray]:
    """Out-of-fold margins per document: for each fold k, `fit(k, training documents)` returns a scorer,
    which scores the held-out documents of fold k only; every document is scored exactly once."""
    out: list[np.ndarray | None] = [None] * len(fold_of)
    for k in range(int(fold_of.max()) + 1):
        held = np.flatnonzero(fold_of == k)
        scorer = fit(k, np.flatnonzero(fold_of != k))
        for i, margins in zip(held.tolist(), scorer(held)):
            out[i] = margins
    return out


def resumable(fit: Callable[[int, np.ndarray], Scorer], folder: Path, key: str) -> Callable[[int, np.ndarray], Scorer]:
    """`fit` whose held-out margins are kept per fold in folder/fold<k>-<key>.npz (key: a hash of everything that
    decides them), so an interrupted audit run again into the same folder trains only the folds it had not done."""
    def fit_fold(fold: int, train_idx: np.ndarray) -> Scorer:
        path = folder / f"fold{fold}-{key[:16]}.npz"
        if path.is_file():
            with np.load(path) as stored:
                kept = {int(name[1:]): stored[name] for name in stored.files}
            return lambda idx: [kept[i] for i in idx.tolist()]
        scorer = fit(fold, train_idx)

        def score(idx: np.ndarray) -> list[np.ndarray]:
            margins = scorer(idx)
            buffer = io.BytesIO()
            np.savez(buffer, **{f"d{i}": m for i, m in zip(idx.tolist(), margins)})
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buffer.getvalue())
            return margins
        return score
    return fit_fold


class FoldTrainer:
    """`fit(fold, training documents)` for cross_fit: trains `config.model` with `config.loss` on those documents
    for config.epochs (no epoch selection: there are no clean labels to select on) and returns a scorer of margins.

    With freeze_encoder the features carry the stored encoder rows (read or computed once, here) and each fold
    trains a fresh head; otherwise each fold reloads the encoder, so no fold starts from another's fine-tuning.
    """

    def __init__(self, config, docs: list[Doc], relations: RelationInventory, *, feature_store=None, cache_dir=None,
                 log_dir: str | Path | None = None):
        from docrobust.models.encoder import load_encoder
        from docrobust.models.registry import build_model
        from docrobust.models.train import _featurize, resolve_device, transformers_bars, with_stored_rows

        self.config, self.relations, self.log_dir = config, relations, log_dir
        self.device = resolve_device(config.device)
        self.seconds: dict[str, float] = {}
        started = time.perf_counter()
        with transformers_bars(config.progress):
            self.tokenizer, self.encoder = load_encoder(config.encoder)
        self.features = _featurize(docs, self.tokenizer, relations, config, cache_dir)  # as train(): every option
        self.encoded = 0
        if config.freeze_encoder:
            model = build_model(config.model, self.encoder, 1 + len(relations), **config.model_options)
            model.freeze_encoder()
            model.to(self.device)
            (self.features,), self.encoded = with_stored_rows(model, self.tokenizer, [self.features], config,
                                                              self.device, feature_store)
        self.seconds["features"] = time.perf_counter() - started

    def fit(self, fold: int, train_idx: np.ndarray) -> Scorer:
        import torch

        from docrobust.models.encoder import load_encoder
        from docrobust.models.registry import build_model
        from docrobust.models.train import (LARGE_HIDDEN, RunLog, build_loss_for, linear_schedule, predict_logits,
                                            run_epoch, seed_everything)

        started, config = time.perf_counter(), self.config
        generator = seed_everything(config.seed + fold)
        encoder = self.encoder if config.freeze_encoder else load_encoder(config.encoder)[1]
        model = build_model(config.model, encoder, 1 + len(self.relations), **config.model_options)
        if config.freeze_encoder:
            model.freeze_encoder()
        model.to(self.device)
        features = [self.features[i] for i in train_idx.tolist()]
        loss_fn = build_loss_for(config.loss or type(model).default_loss, config.loss_options, features).to(self.device)
        lr_encoder = config.lr_encoder if config.lr_encoder is not None else (
            3e-5 if getattr(encoder.config, "hidden_size", 0) >= LARGE_HIDDEN else 5e-5)   # as train()
        optimizer = torch.optim.AdamW([{"params": list(model.encoder_parameters()), "lr": lr_encoder},
                                       {"params": list(model.head_parameters()), "lr": config.lr_head}],
                                      eps=config.adam_eps, weight_decay=config.weight_decay)
        steps = config.epochs * math.ceil(len(features) / config.batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(steps, config.warmup))
        log = RunLog(Path(self.log_dir) / f"fold{fold}.jsonl", None) if self.log_dir is not None else (lambda record: None)
        step = 0
        for epoch in range(1, config.epochs + 1):
            step += run_epoch(model, loss_fn, optimizer, scheduler, features, config, self.device, generator, epoch,
                              step, log)[1]
        self.seconds[f"fold{fold}"] = time.perf_counter() - started

        def score(idx: np.ndarray) -> list[np.ndarray]:
            held = [self.features[i] for i in idx.tolist()]
            logits = predict_logits(model, held, config.eval_batch_size, self.device)
            return [(z[:, 1:] - loss_fn.threshold(z)).numpy() for z in logits]
        return score


# ----------------------------------------------------------------------------- label quality and the ranked lists

def label_quality(margins: np.ndarray, labels: np.ndarray, *, adjust: bool = False) -> np.ndarray:
    """cleanlab's per-class label quality [pairs, R] of the 0/1 labels [pairs, R] given p = sigmoid(margins)
    (self-confidence: p where labeled, 1 - p where not; in [0, 1], low = likely a label error). `adjust`
    subtracts cleanlab's per-class confident thresholds first (its correction for class imbalance)."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    probs = 1.0 / (1.0 + np.exp(-margins.astype(np.float64)))   # float64: 1 - p keeps its order far above 0
    rows = [np.flatnonzero(row).tolist() for row in labels]
    return get_label_quality_scores_per_class(rows, probs, method="self_confidence", adjust_pred_probs=adjust)


def ranked_cells(margins: np.ndarray, labels: np.ndarray, quality: np.ndarray, labeled: bool,
                 pairs: np.ndarray | None = None) -> np.ndarray:
    """Flat indices into [pairs, R] of the labeled (suspicious) or unlabeled (candidate) cells, of the pairs
    where `pairs` (bool [pairs]) is set or of all, most likely errors first: quality ascending, ties broken by the
    margin (high first for candidates, low for labels)."""
    wanted = labels == labeled
    if pairs is not None:
        wanted &= pairs[:, None]
    cells = np.flatnonzero(wanted.ravel())
    sign = 1.0 if labeled else -1.0
    return cells[np.lexsort((sign * margins.ravel()[cells], quality.ravel()[cells]))]


def context(doc: Doc, h: int, t: int) -> tuple[list[int], list[list[tuple[str, str | None]]]]:
    """(sentence ids, per sentence its text as (text, role) pieces, role "h", "t" or None) for the review: the
    sentences mentioning both entities, or else the closest pair of a sentence with h and one with t."""
    sents_h = {m["sent_id"] for m in doc["vertexSet"][h]}
    sents_t = {m["sent_id"] for m in doc["vertexSet"][t]}
    both = sorted(sents_h & sents_t)
    if not both:
        a, b = min(((a, b) for a in sents_h for b in sents_t), key=lambda ab: (abs(ab[0] - ab[1]), ab))
        both = sorted({a, b})
    roles: dict[tuple[int, int], str] = {}
    for entity, role in ((t, "t"), (h, "h")):       # a token in both entities' mentions reads as the head
        for m in doc["vertexSet"][entity]:
            for k in range(m["pos"][0], m["pos"][1]):
                roles[m["sent_id"], k] = role
    pieces = []
    for s in both:
        sentence: list[tuple[str, str | None]] = []
        for k, word in enumerate(doc["sents"][s]):
            role = roles.get((s, k))
            if sentence and sentence[-1][1] == role:
                sentence[-1] = (f"{sentence[-1][0]} {word}", role)
            else:
                sentence.append((word, role))
        pieces.append(sentence)
    return both, pieces


def context_text(pieces: list[list[tuple[str, str | None]]]) -> str:
    """The review sentences as one line, head mentions in [[ ]] and tail mentions in {{ }}."""
    marks = {"h": HEAD, "t": TAIL, None: ("", "")}
    return " ".join(" ".join(f"{marks[role][0]}{text}{marks[role][1]}" for text, role in s) for s in pieces)


def list_rows(cells: np.ndarray, docs: list[Doc], hts: list[np.ndarray], offsets: np.ndarray, margins: np.ndarray,
              quality: np.ndarray, relations: RelationInventory) -> list[dict[str, Any]]:
    """One review row (COLUMNS, plus "pieces" for the page) per flat cell index, in the order given."""
    n_rel = len(relations)
    rows = []
    for rank, cell in enumerate(cells.tolist(), start=1):
        pair, column = divmod(cell, n_rel)
        d = int(np.searchsorted(offsets, pair, side="right") - 1)
        h, t = (int(v) for v in hts[d][pair - offsets[d]])
        doc, r = docs[d], relations.ids[column]
        sent_ids, pieces = context(doc, h, t)
        rows.append({"title": doc["title"], "h_idx": h, "t_idx": t, "r": r,
                     "score": round(float(margins.flat[cell]), 4), "quality": float(f"{quality.flat[cell]:.6g}"),
                     "rank": rank, "relation": relations.name(r),
                     "h_name": doc["vertexSet"][h][0]["name"], "h_type": doc["vertexSet"][h][0].get("type", ""),
                     "t_name": doc["vertexSet"][t][0]["name"], "t_type": doc["vertexSet"][t][0].get("type", ""),
                     "sent_ids": ";".join(map(str, sent_ids)), "context": context_text(pieces), "pieces": pieces})
    return rows


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def all_pairs(n_entities: int) -> np.ndarray:
    """[n(n-1), 2] every ordered pair of distinct entities, h-major: the features' `hts` order."""
    h, t = np.divmod(np.arange(n_entities * n_entities), n_entities)
    keep = h != t
    return np.stack([h[keep], t[keep]], axis=1)


# ----------------------------------------------------------------------------- the audit

def run_audit(docs: list[Doc], relations: RelationInventory, config, out_dir: str | Path, *, folds: int = 5,
              seed: int = 0, top: int = 20000, page_rows: int = 1000, adjust: bool = False, source: str | Path | None = None,
              feature_store=None, cache_dir=None, fit: Callable[[int, np.ndarray], Scorer] | None = None) -> dict:
    """Cross-fit `config` over `docs` and write the audit into out_dir; return audit.json's content.

    `source` is the training file (its sha256 ties `apply` and `score` to it); `fit` replaces the FoldTrainer
    (tests pass a model of their own). candidates.csv keeps the first `top` candidates, suspicious.csv every
    label; the page shows the first `page_rows` of each.
    """
    from .audit_page import write_page

    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_of = assign_folds(len(docs), folds, seed)
    trainer = None
    if fit is None:
        from docrobust.models.train import torch_threads

        key = sha256_json([config.to_dict(), folds, seed, relations.to_json(), docs])
        with torch_threads(config.num_threads):
            trainer = FoldTrainer(config, docs, relations, feature_store=feature_store, cache_dir=cache_dir,
                                  log_dir=out_dir / "logs")
            per_doc = cross_fit(fold_of, resumable(trainer.fit, out_dir / "folds", key))
    else:
        per_doc = cross_fit(fold_of, fit)
    hts = [all_pairs(len(d["vertexSet"])) for d in docs]
    labels = np.concatenate([doc_labels(d, relations, len(p)) for d, p in zip(docs, hts)])
    margins = np.concatenate(per_doc).astype(np.float32)
    if margins.shape != labels.shape:
        raise DocrobustError(f"the scorer returned margins of shape {margins.shape}, expected {labels.shape} "
                          "(every ordered entity pair x relation)")
    t0 = time.perf_counter()
    quality = label_quality(margins, labels, adjust=adjust)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in hts])])
    candidates = ranked_cells(margins, labels, quality, labeled=False)
    suspicious = ranked_cells(margins, labels, quality, labeled=True)
    cand_rows = list_rows(candidates[:top], docs, hts, offsets, margins, quality, relations)
    susp_rows = list_rows(suspicious, docs, hts, offsets, margins, quality, relations)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, margins=margins, labels=np.packbits(labels, axis=None), shape=np.array(labels.shape),
                        titles=np.array([d["title"] for d in docs]), pairs=np.array([len(p) for p in hts]),
                        folds=fold_of)
    atomic_write_bytes(out_dir / SCORES, buffer.getvalue())
    atomic_write_text(out_dir / CANDIDATES, csv_text(cand_rows))
    atomic_write_text(out_dir / SUSPICIOUS, csv_text(susp_rows))
    seconds = {**(trainer.seconds if trainer else {}), "rank": time.perf_counter() - t0}
    summary = {
        "docrobust_version": __version__, "input": str(source) if source else None,
        "input_sha256": sha256_file(source) if source else None,
        "settings": {"folds": folds, "seed": seed, "top": top, "adjust": adjust,
                     "quality": "cleanlab get_label_quality_scores_per_class(method='self_confidence', "
                                f"adjust_pred_probs={adjust}) of p = sigmoid(margin)",
                     "training": config.to_dict() if config is not None else None},
        "relations": relations.to_json(),
        "counts": {"documents": len(docs), "pairs": int(labels.shape[0]), "cells": int(labels.size),
                   "labels": int(labels.sum()), "unlabeled": int(labels.size - labels.sum()),
                   "candidates_written": len(cand_rows), "suspicious_written": len(susp_rows),
                   "fold_sizes": np.bincount(fold_of).tolist(), "encoded_docs": trainer.encoded if trainer else 0},
        "hashes": {name: sha256_file(out_dir / name) for name in (SCORES, CANDIDATES, SUSPICIOUS)},
        "seconds": {**seconds, "total": time.perf_counter() - started}}
    write_page(out_dir / PAGE, summary, cand_rows[:page_rows], susp_rows[:page_rows])
    summary["hashes"][PAGE] = sha256_file(out_dir / PAGE)
    atomic_write_json(out_dir / SUMMARY, summary)
    return summary


def doc_labels(doc: Doc, relations: RelationInventory, n_pairs: int) -> np.ndarray:
    """bool [pairs, R] of a document's labels, pairs in all_pairs order (relations outside the inventory are refused)."""
    n = len(doc["vertexSet"])
    out = np.zeros((n_pairs, len(relations)), dtype=bool)
    for h, t, r in triples(doc):
        out[h * (n - 1) + t - (t > h), relations.column(r) - 1] = True
    return out


# ----------------------------------------------------------------------------- reading an audit back

def read_summary(folder: str | Path, train_path: str | Path | None = None) -> dict:
    """audit.json of `folder`; with train_path, refuse it unless it audited that very file (same sha256)."""
    folder = Path(folder)
    if not (folder / SUMMARY).is_file():
        raise DocrobustError(f"{folder}: no {SUMMARY} here; give a folder written by `docrobust audit TRAIN.json --out FOLDER`")
    summary = read_json(folder / SUMMARY)
    if train_path is not None and summary.get("input_sha256") != sha256_file(train_path):
        raise DocrobustError(f"{train_path}: is not the file audited in {folder} (that was {summary.get('input')})")
    return summary


@dataclasses.dataclass
class Audit:
    """An audit folder read back: its summary, every cell's margin and label, and the documents' layout."""
    summary: dict
    margins: np.ndarray        # [pairs, R] float32
    labels: np.ndarray         # [pairs, R] bool
    titles: list[str]
    pairs: np.ndarray          # pairs per document

    def quality(self) -> np.ndarray:
        return label_quality(self.margins, self.labels, adjust=self.summary["settings"]["adjust"])

    def cells(self, keys: set[Key]) -> np.ndarray:
        """Flat cell indices of (title, h, t, r) keys; keys of other documents, pairs or relations are left out."""
        column = {r: i for i, r in enumerate(self.summary["relations"]["ids"])}
        doc = {t: i for i, t in enumerate(self.titles)}
        offsets = np.concatenate([[0], np.cumsum(self.pairs)])
        out = []
        for title, h, t, r in keys:
            d = doc.get(title)
            if d is None or r not in column:
                continue
            n = round((1 + math.sqrt(1 + 4 * int(self.pairs[d]))) / 2)   # n(n - 1) pairs
            if 0 <= h < n and 0 <= t < n and h != t:
                out.append((offsets[d] + h * (n - 1) + t - (t > h)) * len(column) + column[r])
        return np.array(sorted(out), dtype=np.int64)


def read_audit(folder: str | Path, train_path: str | Path | None = None) -> Audit:
    """The audit in `folder`, its scores checked against the sha256 audit.json recorded."""
    folder = Path(folder)
    summary = read_summary(folder, train_path)
    if not (folder / SCORES).is_file() or sha256_file(folder / SCORES) != summary["hashes"][SCORES]:
        raise DocrobustError(f"{folder / SCORES}: missing or changed since the audit wrote it; run the audit again")
    with np.load(folder / SCORES) as z:
        shape = tuple(z["shape"].tolist())
        labels = np.unpackbits(z["labels"], count=shape[0] * shape[1]).reshape(shape).astype(bool)
        return Audit(summary, z["margins"], labels, z["titles"].tolist(), z["pairs"])


# ----------------------------------------------------------------------------- apply: a corrected training file

def read_list(path: Path) -> list[dict[str, Any]]:
    """A ranked list (candidates.csv / suspicious.csv, possibly filtered by hand) as rows, in file order."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a spreadsheet program re-saves with a BOM
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file; give the folder written by `docrobust audit`") from None
    for i, row in enumerate(rows, start=2):
        try:
            row["h_idx"], row["t_idx"], row["score"] = int(row["h_idx"]), int(row["t_idx"]), float(row["score"])
        except (KeyError, TypeError, ValueError):
            raise DocrobustError(f"{path}: line {i}: needs integer h_idx, t_idx and a numeric score") from None
    return rows


def _audited_relations(audit_dir: Path) -> set[str]:
    """The relation ids of the audit's inventory (audit.json), or none when the folder has no readable summary."""
    try:
        ids = read_json(audit_dir / SUMMARY).get("relations", {}).get("ids", [])
    except (DocrobustError, AttributeError):
        return set()
    return {r for r in ids if isinstance(r, str)} if isinstance(ids, list) else set()


def apply_audit(docs: list[Doc], audit_dir: str | Path, *, add_top: int | None = None, add_above: float | None = None,
                drop_below: float | None = None, input_sha256: str | None = None) -> tuple[list[Doc], dict]:
    """(corrected documents, manifest in the noise suite's format): the first `add_top` candidates of
    candidates.csv, or those scoring above `add_above`, added as labels (evidence []), and the labels in
    suspicious.csv scoring below `drop_below` removed (one manifest step each: audit-drop, then audit-add).
    The lists may have been filtered by hand; the manifest records the sha256 of those read. `docs` are not
    modified, and docrobust.noise.replay(docs, manifest) rebuilds the result."""
    audit_dir = Path(audit_dir)
    if add_top is not None and add_above is not None:
        raise DocrobustError("audit apply: --add-top and --add-above are exclusive; give one")
    if add_top is None and add_above is None and drop_below is None:
        raise DocrobustError("audit apply: give --add-top K or --add-above S, and/or --drop-below S")
    for flag, value in (("--add-above", add_above), ("--drop-below", drop_below)):
        if value is not None and not math.isfinite(value):
            raise DocrobustError(f"audit apply: {flag} {value}: give a finite score (every comparison with it is false)")
    index: dict[str, int] = {}
    for i, d in enumerate(docs):
        if index.setdefault(d["title"], i) != i:
            raise DocrobustError(f"documents {index[d['title']]} and {i} share the title {d['title']!r}; "
                              "manifests name documents by title, so titles must be unique")
    labels = [d.get("labels", []) for d in docs]
    before = sum(map(len, labels))
    steps, lists = [], {}
    if drop_below is not None:
        rows = [r for r in read_list(audit_dir / SUSPICIOUS) if r["score"] < drop_below]
        lists[SUSPICIOUS] = sha256_file(audit_dir / SUSPICIOUS)
        steps.append(("audit-drop", {"drop_below": drop_below}, [[r["title"], r["h_idx"], r["t_idx"], r["r"]] for r in rows], []))
    if add_top is not None or add_above is not None:
        rows = read_list(audit_dir / CANDIDATES)
        lists[CANDIDATES] = sha256_file(audit_dir / CANDIDATES)
        if add_top is not None:
            if add_top > len(rows):
                raise DocrobustError(f"--add-top {add_top}: {audit_dir / CANDIDATES} holds {len(rows):,} candidates; "
                                  f"run the audit again with --top {add_top} or more")
            chosen, options = rows[:add_top], {"add_top": add_top}
        else:
            chosen, options = [r for r in rows if r["score"] > add_above], {"add_above": add_above}
            if rows and len(chosen) == len(rows):
                raise DocrobustError(f"--add-above {add_above}: all {len(rows):,} candidates in {audit_dir / CANDIDATES} "
                                  f"score above it, so the list may stop short of it; run the audit again with a larger --top")
        known = _audited_relations(audit_dir) | {lab["r"] for d in docs for lab in d.get("labels", [])}
        unknown = sorted({r["r"] for r in chosen} - known)
        if unknown:  # a list edited by hand: a relation the audit never scored would enter the training file
            raise DocrobustError(f"{audit_dir / CANDIDATES}: relation {unknown[0]!r} is neither in the audit's relation "
                              f"inventory nor in the training file ({len(unknown)} such)")
        steps.append(("audit-add", options, [], [[r["title"], r["h_idx"], r["t_idx"], r["r"], []] for r in chosen]))
    manifest: dict[str, Any] = {
        "spec": "audit:" + ",".join(f"{k}={v}" for _, o, _, _ in steps for k, v in o.items()), "seed": 0,
        "docrobust_version": __version__, "input_sha256": input_sha256, "input_sha256_of": "file",
        "documents": len(docs), "positives_before": before, "relations_before": _relation_counts(labels),
        "audit": {"folder": str(audit_dir), "lists_sha256": lists}, "steps": []}
    for i, (name, options, removed, added) in enumerate(steps):
        for title, h, t, *_ in removed + added:
            n = len(docs[index[title]]["vertexSet"]) if title in index else 0
            if not (0 <= h < n and 0 <= t < n and h != t):
                raise DocrobustError(f"audit apply: ({title!r}, {h}, {t}) is not an entity pair of this training file")
        record = {"name": name, "rate": None, "options": options,
                  "achieved_rate": (len(removed) + len(added)) / before if before else 0.0,
                  "n_removed": len(removed), "n_added": len(added), "n_changed": 0,
                  "removed": removed, "changed": [], "added": added}
        labels = apply_changes(labels, index, record, f"audit apply step {i} ({name})")
        manifest["steps"].append(record)
    changed = sum(s["n_removed"] + s["n_added"] for s in manifest["steps"])
    manifest.update(positives_after=sum(map(len, labels)), relations_after=_relation_counts(labels),
                    achieved_rate=changed / before if before else 0.0)
    fixed = [d if labs is d.get("labels") or ("labels" not in d and not labs) else {**d, "labels": labs}
             for d, labs in zip(docs, labels)]
    return fixed, manifest


def _relation_counts(labels: list[list[dict]]) -> dict[str, int]:
    counts = Counter(lab["r"] for labs in labels for lab in labs)
    return {r: counts[r] for r in sorted(counts)}


# ----------------------------------------------------------------------------- score: the lists against known errors

def truth_from_manifest(manifest: dict) -> tuple[set[Key], set[Key]]:
    """(true missing, true wrong) labels of a noisy file from its manifest: removed triples are missing, added ones
    wrong; a changed (h, t, r -> r') is both r missing and r' wrong."""
    missing: set[Key] = set()
    wrong: set[Key] = set()
    for step in manifest.get("steps", []):
        missing.update((ti, h, t, r) for ti, h, t, r in step["removed"])
        wrong.update((ti, h, t, r) for ti, h, t, r, _ in step["added"])
        for ti, h, t, r, r_new in step["changed"]:
            missing.add((ti, h, t, r))
            wrong.add((ti, h, t, r_new))
    return missing, wrong


def truth_from_docs(audited: list[Doc], truth: list[Doc]) -> tuple[set[Key], set[Key], set[str]]:
    """(true missing, true wrong, titles scored) against a better-labeled version of the same documents: only
    documents that align (same title, same entities) count; a label the truth has and the audited file lacks is
    missing, one the audited file has and the truth lacks is wrong."""
    missing: set[Key] = set()
    wrong: set[Key] = set()
    alignment = align(audited, truth)
    for low, high in alignment.pairs:
        lo, hi = triples(low), triples(high)
        missing.update((low["title"], *k) for k in hi - lo)
        wrong.update((low["title"], *k) for k in lo - hi)
    return missing, wrong, {low["title"] for low, _ in alignment.pairs}


KS = (100, 1000)


def list_metrics(ranked: np.ndarray, true_cells: np.ndarray, n_true: int) -> dict[str, Any]:
    """Precision and recall at 100, 1,000 and the number of true errors, average precision and the base rate (a
    random ranking's precision) of one ranked list of cells, against `true_cells` among n_true true errors (those
    the list cannot hold, e.g. of a relation outside the inventory, count as never found)."""
    hits = np.isin(ranked, true_cells)
    cum = np.cumsum(hits)
    out: dict[str, Any] = {"ranked": len(hits), "true": n_true, "found": int(cum[-1]) if len(cum) else 0,
                           "base_rate": n_true / len(hits) if len(hits) else 0.0}
    for name, k in [*((f"{k:,}", k) for k in KS), ("n_true", n_true)]:
        k = min(k, len(hits))
        out[f"precision@{name}"] = float(cum[k - 1] / k) if k else 0.0
        out[f"recall@{name}"] = float(cum[k - 1] / n_true) if k and n_true else 0.0
    out["average_precision"] = average_precision(-np.arange(len(hits)), hits, n_true)  # the list's order, no ties
    return out


def score_audit(audit: Audit, missing: set[Key], wrong: set[Key], titles: set[str] | None = None) -> dict[str, Any]:
    """Both lists, over every cell of the audited documents (or of those titled `titles`), against the true
    missing and wrong labels."""
    quality = audit.quality()
    pairs = None
    if titles is not None:
        pairs = np.repeat(np.isin(audit.titles, sorted(titles)), audit.pairs)
        missing = {k for k in missing if k[0] in titles}
        wrong = {k for k in wrong if k[0] in titles}
    result: dict[str, Any] = {"documents": len(audit.titles) if titles is None else len(set(audit.titles) & titles)}
    for name, labeled, truth in (("candidates", False, missing), ("suspicious", True, wrong)):
        ranked = ranked_cells(audit.margins, audit.labels, quality, labeled, pairs)
        result[name] = list_metrics(ranked, audit.cells(truth), len(truth))
    return result
