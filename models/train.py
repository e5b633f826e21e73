"""The trainer: fine-tune any registered DocRE model with any registered loss, keep the best dev epoch.

One run, top to bottom:

    docs ──featurize──> features (input_ids, entity_pos, hts, labels [pairs, 1 + R])
    encoder + build_model(model) ──> logits [P, 1 + R] per batch;  build_loss(loss)(logits, labels) -> scalar
    AdamW (encoder lr, head lr), linear warm-up then linear decay, gradient clipping
    each epoch: predict dev -> official score -> keep a CPU copy of the best state (by dev F1)
    end: restore the best state, predict test (or dev), write result.json, metrics.json, train_log.jsonl,
         config.json (and checkpoint.pt when asked)

With freeze_encoder the encoder's part of the forward pass (DocREModel.pair_inputs) is read from the
feature store (models/store.py), computed once per document for every run that shares the encoder,
and the model's head trains alone on it: an epoch costs the head only.

With calibrate_threshold, one offset on the threshold (a relation is predicted when its logit exceeds
TH + offset, or 0 + offset for the zero-threshold losses) is chosen on the dev set after training,
and metrics["calibrated"] reports dev and test scored with it, beside the scores as trained.

The steps a run is made of (featurization, the model, optimizer and schedule, the epoch loop) are models/loop.py's,
shared with the label audit's folds; predicting and scoring are models/evaluate.py's.

Defaults are the papers' GPU settings (ATLOP, Zhou et al., 2021: batch 4, encoder lr 5e-5 for base-size
and 3e-5 for large encoders, head lr 1e-4, 6% warm-up, 30 epochs, clipping 1.0, AdamW with eps 1e-6 and
no weight decay, at most 4 relations per pair). CPU runs shrink epochs and documents through the same keys.
"""
from __future__ import annotations

import dataclasses
import functools
import platform
import time
from collections.abc import Callable, Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from docrobust.base import DocrobustError, atomic_write_json, atomic_writer
from docrobust.corpus import RelationInventory, facts_from_docs, score
from docrobust.corpus.pair_types import pair_types_of
from docrobust.corpus.score import average_precision, frequent_relations

from .checkpoint import save_checkpoint
from .config import TrainConfig
from .encoder import load_encoder
from .evaluate import (OFFSETS, RANKING_DEPTH, batch_logits, choose_offset, decode, predict, predict_logits, ranking,
                       shift_threshold, write_ranking)
from .loop import (RunLog, TrainingError, build_loss_for, build_optimizer, featurize_for, linear_schedule, model_for,
                   resolve_config, resolve_device, run_epoch, seed_everything, torch_threads, transformers_bars,
                   with_stored_rows)
from .registry import DocREModel, build_model

# The evaluation and loop pieces are re-exported: callers and tests import them from here.
__all__ = ["OFFSETS", "TrainConfig", "TrainingError", "batch_logits", "choose_offset", "decode", "linear_schedule",
           "predict", "ranking", "shift_threshold", "store_features", "train"]


# ----------------------------------------------------------------------------- pieces of a run

def load_teacher_logits(path: str, features: list[dict], num_columns: int) -> None:
    """Attach a teacher's logits to each feature as "teacher_logits" [pairs, 1 + R] (float32).

    The file holds one array [all training pairs, 1 + R], rows in feature order then `hts` order.
    """
    path_ = Path(path)
    try:
        array = np.load(path_) if path_.suffix == ".npy" else torch.load(path_, map_location="cpu")
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file (kd_teacher_logits)") from None
    array = torch.as_tensor(np.asarray(array), dtype=torch.float32)
    n_pairs = sum(len(f["hts"]) for f in features)
    if tuple(array.shape) != (n_pairs, num_columns):
        raise DocrobustError(f"{path}: teacher logits have shape {tuple(array.shape)}, expected ({n_pairs}, {num_columns}) "
                          f"for these training documents (same documents, order, max_train_docs and max_len)")
    for f, rows in zip(features, array.split([len(f["hts"]) for f in features])):
        f["teacher_logits"] = rows


def versions() -> dict[str, str]:
    """The versions a run records (a copy: callers may add to it)."""
    return dict(_versions())


@functools.cache  # package metadata is read from disk; it does not change while a process runs
def _versions() -> dict[str, str]:
    return {"docrobust": version("docrobust"), "torch": torch.__version__, "transformers": version("transformers"),
            "python": platform.python_version()}


# ----------------------------------------------------------------------------- the run

class _Splits(NamedTuple):
    """One value per split: train, dev and test (None without a test set)."""
    train: Any
    dev: Any
    test: Any


@dataclasses.dataclass
class _Run:
    """What the steps of one train() share."""
    config: TrainConfig
    relations: RelationInventory
    device: torch.device
    docs: _Splits                      # the documents of each split, cut to max_train_docs / max_eval_docs
    feats: _Splits                     # their features (carrying the stored rows with freeze_encoder)
    model: DocREModel
    loss_fn: Any
    scored: Callable[[list[dict], list[dict]], dict[str, Any]]   # (documents, predictions) -> the official score

    def logits(self, features: list[dict]) -> list[Tensor]:
        return predict_logits(self.model, features, self.config.eval_batch_size, self.device)

    def decode(self, features: list[dict], logits: list[Tensor], offset: float = 0.0) -> list[dict]:
        return decode(self.loss_fn, features, logits, self.relations, top_k=self.config.top_k, offset=offset)


def train(config: TrainConfig, train_docs: list[dict], dev_docs: list[dict], test_docs: list[dict] | None = None, *,
          relations: RelationInventory, train_facts=None, out_dir, cache_dir=None, feature_store=None,
          frequent: Iterable[str] | None = None, progress_cb: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train `config.model` with `config.loss` on train_docs, select the epoch by F1 on dev_docs, score test_docs.

    Model selection uses the dev documents as given (the benchmark passes clean ones, so noise in the
    training labels never leaks into selection). Scores use DocRED's official definitions with the
    relations in `frequent` as the "frequent" bucket (default: the ten most common in train_docs; the
    benchmark passes the clean training labels' ten, so the buckets do not move with the noise). Ign F1
    leaves out facts in `train_facts`; by default the facts of `train_docs`. The benchmark passes the
    clean training file's facts instead, so that Ign F1 measures the same thing whatever noise was
    injected into train_docs. `feature_store` is the folder of the frozen-encoder feature store (default
    models.store.feature_store_root()). `progress_cb` receives every log record (dicts with "event":
    "step" | "epoch") as it is written.

    Writes result.json (test predictions, or dev when no test set), metrics.json, train_log.jsonl,
    config.json, ranking.npz (with a test set: its best-scored triples, see `ranking`) and, with save_checkpoint,
    checkpoint.pt into out_dir; returns the metrics:
    {"best_epoch", "dev": score of the best epoch, "test": score (with a test set), "epochs": [...],
    "ranking" (with a test set): {"ap": threshold-free average precision on test, "depth", "n_candidates",
    "relevant_ranked"},
    "calibrated" (with calibrate_threshold), "seconds": {"features", "train", "score"}, "train_seconds"}.
    Inputs are not modified.
    """
    with torch_threads(config.num_threads):
        return _train(config, train_docs, dev_docs, test_docs, relations=relations, train_facts=train_facts,
                      out_dir=Path(out_dir), cache_dir=cache_dir, feature_store=feature_store, frequent=frequent,
                      progress_cb=progress_cb)


def store_features(config: TrainConfig, doc_sets: list[list[dict]], relations: RelationInventory, *, cache_dir=None,
                   feature_store=None) -> int:
    """Fill the feature store with the frozen-encoder rows of these documents for `config`'s encoder, model
    options and max_len; return how many documents were encoded (0 when all were stored already).

    The benchmark calls it once per matrix before the cells start, so that every cell only reads the store.
    """
    with torch_threads(config.num_threads), transformers_bars(False):
        tokenizer, encoder = load_encoder(config.encoder)
        model = build_model(config.model, encoder, 1 + len(relations), **config.model_options)
        model.freeze_encoder()
        device = resolve_device(config.device)
        model.to(device)
        features = [featurize_for(config, docs, tokenizer, relations, cache_dir) for docs in doc_sets]
        return with_stored_rows(model, tokenizer, features, config, device, feature_store)[1]


def _train(config: TrainConfig, train_docs, dev_docs, test_docs, *, relations, train_facts, out_dir: Path,
           cache_dir, feature_store, frequent, progress_cb) -> dict[str, Any]:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(out_dir / "train_log.jsonl", progress_cb)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    docs = _Splits(train_docs[:config.max_train_docs], dev_docs[:config.max_eval_docs],
                   test_docs[:config.max_eval_docs] if test_docs is not None else None)
    if not docs.train or not docs.dev:
        raise DocrobustError("training needs at least one training and one dev document")
    scored = _scorer(config, docs.train, train_facts, frequent)
    model, feats, encoded = _prepare(config, docs, relations, device, cache_dir, feature_store)
    features_seconds = time.perf_counter() - started
    resolved = resolve_config(config, model)
    loss_fn = build_loss_for(resolved.loss, config.loss_options, feats.train).to(device)
    run = _Run(config, relations, device, docs, feats, model, loss_fn, scored)
    atomic_write_json(out_dir / "config.json", {
        "config": resolved.to_dict(), "versions": versions(),
        "runtime": {"device": str(device), "num_threads": torch.get_num_threads(), "relations": len(relations),
                    "entity_pooling": model.pooling, "encoded_docs": encoded,
                    "docs": {"train": len(docs.train), "dev": len(docs.dev), "test": len(docs.test or [])},
                    "pairs": {"train": sum(len(f["hts"]) for f in feats.train)}}})

    epochs, best, score_seconds = _epochs(run, generator, log)
    t1 = time.perf_counter()
    metrics, result = _final_scores(run, best, epochs, out_dir)
    score_seconds += time.perf_counter() - t1
    metrics["train_seconds"] = time.perf_counter() - started
    metrics["seconds"] = {"features": features_seconds, "score": score_seconds,
                          "train": metrics["train_seconds"] - features_seconds - score_seconds}
    atomic_write_json(out_dir / "result.json", result, indent=None)
    atomic_write_json(out_dir / "metrics.json", metrics)
    if config.save_train_logits:
        with atomic_writer(out_dir / "train_logits.pt") as f:
            torch.save(torch.cat(run.logits(feats.train)), f)
    if config.save_checkpoint:
        save_checkpoint(out_dir / "checkpoint.pt", model, best["state"], resolved, relations,
                        metrics.get("calibrated", {}).get("offset"))
    return metrics


def _scorer(config: TrainConfig, train_docs: list[dict], train_facts,
            frequent) -> Callable[[list[dict], list[dict]], dict[str, Any]]:
    """The official score of (documents, predictions) on the pairs of the pair-type filter, Ign F1 against
    `train_facts` (default: the training documents' facts), frequent relations `frequent` (default: theirs)."""
    facts = frozenset(train_facts) if train_facts is not None else facts_from_docs(train_docs)
    frequent = frozenset(frequent) if frequent is not None else frequent_relations(train_docs)
    pair_types = pair_types_of(config.pair_types)   # None: every pair

    def scored(docs: list[dict], preds: list[dict]) -> dict[str, Any]:
        return score(docs, preds, facts, frequent=frequent, pair_types=pair_types)
    return scored


def _prepare(config: TrainConfig, docs: _Splits, relations: RelationInventory, device: torch.device, cache_dir,
             feature_store) -> tuple[DocREModel, _Splits, int]:
    """The model and each split's features, and how many documents the feature store encoded: under a pair-type
    filter the training documents without a kept pair are left out (nothing to train on), with kd_teacher_logits
    the training features carry the teacher's rows, with freeze_encoder every split carries its stored rows."""
    with transformers_bars(config.progress):
        tokenizer, encoder = load_encoder(config.encoder)
    train_feats = featurize_for(config, docs.train, tokenizer, relations, cache_dir)
    dev_feats = featurize_for(config, docs.dev, tokenizer, relations, cache_dir)
    test_feats = featurize_for(config, docs.test, tokenizer, relations, cache_dir) if docs.test is not None else None
    if pair_types_of(config.pair_types) is not None:
        train_feats = [f for f in train_feats if f["hts"]]
    if config.kd_teacher_logits:
        train_feats = [dict(f) for f in train_feats]  # teacher rows go on copies, never on cached features
        load_teacher_logits(config.kd_teacher_logits, train_feats, 1 + len(relations))
    model = model_for(config, encoder, relations, device)
    if not config.freeze_encoder:
        return model, _Splits(train_feats, dev_feats, test_feats), 0
    splits, encoded = with_stored_rows(model, tokenizer, [train_feats, dev_feats, test_feats], config, device,
                                       feature_store)
    return model, _Splits(*splits), encoded


def _epochs(run: _Run, generator: torch.Generator, log: RunLog) -> tuple[list[dict], dict[str, Any], float]:
    """Train epoch by epoch, scoring dev after each, until config.epochs or early stopping; returns the epochs'
    records, the best epoch (by dev F1, or calibrated dev F1; its score, predictions, logits and a CPU copy of its
    state) and the seconds spent scoring."""
    config = run.config
    optimizer, scheduler = build_optimizer(run.model, config, len(run.feats.train))
    epochs, best = [], {"f1": -1.0}
    step, score_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        mean_loss, steps = run_epoch(run.model, run.loss_fn, optimizer, scheduler, run.feats.train, config, run.device,
                                     generator, epoch, step, log)
        step += steps
        t1 = time.perf_counter()
        dev_logits = run.logits(run.feats.dev)
        dev_preds = run.decode(run.feats.dev, dev_logits)
        dev_score = run.scored(run.docs.dev, dev_preds)
        record = {"epoch": epoch, "loss": mean_loss, "dev_f1": dev_score["f1"], "dev_ign_f1": dev_score["ign_f1"]}
        offset = None
        if config.select_by == "calibrated_f1":
            offset = choose_offset(run.loss_fn, run.feats.dev, dev_logits, config.top_k)
            record["dev_calibrated_f1"] = run.scored(run.docs.dev, run.decode(run.feats.dev, dev_logits, offset))["f1"]
        score_seconds += time.perf_counter() - t1
        record["seconds"] = time.perf_counter() - t0
        epochs.append(record)
        selected = record["dev_calibrated_f1" if config.select_by == "calibrated_f1" else "dev_f1"]
        if "epoch" not in best or selected > best["f1"] + config.early_stopping_delta:
            best = {"f1": selected, "epoch": epoch, "score": dev_score, "preds": dev_preds, "logits": dev_logits,
                    "offset": offset,
                    "state": {k: v.detach().to("cpu", copy=True) for k, v in run.model.state_dict().items()}}
        log({"event": "epoch", **record, "best_epoch": best["epoch"]})
        if config.early_stopping is not None and epoch - best["epoch"] >= config.early_stopping:
            break
    return epochs, best, score_seconds


def _final_scores(run: _Run, best: dict[str, Any], epochs: list[dict], out_dir: Path) -> tuple[dict[str, Any], list]:
    """The best state restored: the metrics so far and the predictions to write (test, or dev without a test set);
    with a test set its ranking goes to ranking.npz."""
    run.model.load_state_dict(best["state"])
    metrics: dict[str, Any] = {"best_epoch": best["epoch"], "dev": best["score"], "epochs": epochs}
    result, feats, docs = best["preds"], run.feats, run.docs
    test_logits = run.logits(feats.test) if feats.test is not None else None
    if test_logits is not None:
        result = run.decode(feats.test, test_logits)
        metrics["test"] = run.scored(docs.test, result)
        ranked = ranking(run.loss_fn, feats.test, test_logits, RANKING_DEPTH)
        metrics["ranking"] = {"ap": average_precision(ranked["score"], ranked["relevant"], metrics["test"]["n_gold"]),
                              "depth": len(ranked["score"]), "n_candidates": int(ranked["n_candidates"]),
                              "relevant_ranked": int(ranked["relevant"].sum())}
        write_ranking(out_dir / "ranking.npz", ranked)
    if run.config.calibrate_threshold:
        offset = best["offset"]  # chosen on these dev logits already when it picked the epoch
        if offset is None:
            offset = choose_offset(run.loss_fn, feats.dev, best["logits"], run.config.top_k)
        metrics["calibrated"] = {"offset": offset, "dev": run.scored(docs.dev, run.decode(feats.dev, best["logits"],
                                                                                           offset))}
        if test_logits is not None:
            metrics["calibrated"]["test"] = run.scored(docs.test, run.decode(feats.test, test_logits, offset))
    return metrics, result
