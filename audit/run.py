"""`docrobust audit`: cross-fit a model over a training set, rank every cell, write the audit folder.

With a frozen encoder (the default) the encoder's outputs come from the feature store (models/store.py): computed
once per document and shared by all k folds, so a fold costs the head only. Each fold's held-out margins are kept
in OUT/folds/ under a hash of the settings and documents, so an interrupted audit run again into the same folder
trains only the folds it had not finished.
"""
from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docrobust import __version__
from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, atomic_write_text, sha256_file,
                            sha256_json)
from docrobust.corpus import Doc, RelationInventory

from .crossfit import Fit, assign_folds, cross_fit
from .folder import CANDIDATES, PAGE, SCORES, SUMMARY, SUSPICIOUS
from .page import csv_text, list_rows, write_page
from .quality import all_pairs, doc_labels, label_quality, ranked_cells

if TYPE_CHECKING:  # for the annotation only: importing docrobust.models loads torch
    from docrobust.models.config import TrainConfig

__all__ = ["AUDIT_FINE_TUNING", "AUDIT_TRAINING", "run_audit", "write_scores"]

# The CPU defaults: the quick benchmark's head on frozen MiniLM (bench.toml [profile.quick]); epochs chosen for the
# goal of 500 documents x 5 folds within 10 minutes on 2 cores (measured by benchmarks/bench_audit.py, README).
AUDIT_TRAINING: dict[str, Any] = {
    "model": "atlop", "encoder": "minilm", "freeze_encoder": True, "model_options": {"emb_size": 128, "block_size": 16},
    "lr_head": 3e-3, "epochs": 8, "batch_size": 4, "max_len": 1024}
# --fine-tune (a GPU's job): the encoder trains in every fold, with the model's own head sizes and ATLOP's head
# learning rate; the settings of the measured GPU audit (benchmarks/bench_audit.py --fine-tune, README).
AUDIT_FINE_TUNING: dict[str, Any] = {**AUDIT_TRAINING, "freeze_encoder": False, "model_options": {}, "lr_head": 1e-4,
                                     "epochs": 10}


def run_audit(docs: list[Doc], relations: RelationInventory, config: TrainConfig | None, out_dir: str | Path, *,
              folds: int = 5, seed: int = 0, top: int = 20000, page_rows: int = 1000, adjust: bool = False,
              source: str | Path | None = None, feature_store=None, cache_dir=None, fit: Fit | None = None) -> dict:
    """Cross-fit `config` over `docs` and write the audit into out_dir; return audit.json's content.

    `source` is the training file (its sha256 ties `apply` and `score` to it); `fit` replaces the FoldTrainer
    (tests pass a model of their own; `config` may then be None). candidates.csv keeps the first `top` candidates, suspicious.csv every
    label; the page shows the first `page_rows` of each.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_of = assign_folds(len(docs), folds, seed)
    trainer = None
    if fit is None:
        # torch and transformers take seconds to import: only an audit that trains needs them, `apply` and `score` not
        from .folds import train_folds

        key = sha256_json([config.to_dict(), folds, seed, relations.to_json(), docs])
        per_doc, trainer = train_folds(config, docs, relations, fold_of, out_dir, key, feature_store=feature_store,
                                       cache_dir=cache_dir)
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
    write_scores(out_dir / SCORES, margins, labels, [d["title"] for d in docs], [len(p) for p in hts], fold_of)
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


def write_scores(path: Path, margins: np.ndarray, labels: np.ndarray, titles: list[str], pairs: list[int],
                 fold_of: np.ndarray) -> None:
    """scores.npz (compressed, written atomically): margins [pairs, R] float32, labels packed to bits with their
    shape, the titles, pairs per document and each document's fold (read back by folder.read_audit)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, margins=margins, labels=np.packbits(labels, axis=None), shape=np.array(labels.shape),
                        titles=np.array(titles), pairs=np.array(pairs), folds=fold_of)
    atomic_write_bytes(path, buffer.getvalue())
