"""The fold trainer: `fit(fold, training documents)` for cross_fit, built on the trainer's own pieces
(models/loop.py), so a fold trains exactly as `train()` does, without its epoch selection.

With freeze_encoder the features carry the stored encoder rows (read from the feature store, or computed once,
here) and each fold trains a fresh head on them; otherwise each fold reloads the encoder, so no fold starts from
another's fine-tuning.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from docrobust.corpus import Doc, RelationInventory
from docrobust.models.config import TrainConfig
from docrobust.models.encoder import load_encoder
from docrobust.models.evaluate import predict_logits
from docrobust.models.loop import (RunLog, build_loss_for, build_optimizer, featurize_for, model_for, resolve_config,
                                   resolve_device, run_epoch, seed_everything, torch_threads, transformers_bars,
                                   with_stored_rows)

from .crossfit import Fit, Scorer, cross_fit, resumable

__all__ = ["FoldTrainer", "train_folds"]


class FoldTrainer:
    """`fit(fold, training documents)` for cross_fit: trains `config.model` with `config.loss` on those documents
    for config.epochs (no epoch selection: there are no clean labels to select on) and returns a scorer of margins
    (each relation's logit above the loss's threshold) [pairs, R] per document. `seconds` times the features and
    each fold; `encoded` counts the documents the feature store had to encode."""

    def __init__(self, config: TrainConfig, docs: list[Doc], relations: RelationInventory, *, feature_store=None,
                 cache_dir=None, log_dir: str | Path | None = None):
        self.config, self.relations, self.log_dir = config, relations, log_dir
        self.device = resolve_device(config.device)
        self.seconds: dict[str, float] = {}
        started = time.perf_counter()
        with transformers_bars(config.progress):
            self.tokenizer, self.encoder = load_encoder(config.encoder)
        self.features = featurize_for(config, docs, self.tokenizer, relations, cache_dir)
        self.encoded = 0
        if config.freeze_encoder:
            model = model_for(config, self.encoder, relations, self.device)
            (self.features,), self.encoded = with_stored_rows(model, self.tokenizer, [self.features], config,
                                                              self.device, feature_store)
        self.seconds["features"] = time.perf_counter() - started

    def fit(self, fold: int, train_idx: np.ndarray) -> Scorer:
        started = time.perf_counter()
        generator = seed_everything(self.config.seed + fold)
        encoder = self.encoder if self.config.freeze_encoder else load_encoder(self.config.encoder)[1]
        model = model_for(self.config, encoder, self.relations, self.device)
        config = resolve_config(self.config, model)
        features = [self.features[i] for i in train_idx.tolist()]
        loss_fn = build_loss_for(config.loss, config.loss_options, features).to(self.device)
        optimizer, scheduler = build_optimizer(model, config, len(features))
        log = (RunLog(Path(self.log_dir) / f"fold{fold}.jsonl", None) if self.log_dir is not None
               else (lambda record: None))
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


def train_folds(config: TrainConfig, docs: list[Doc], relations: RelationInventory, fold_of: np.ndarray,
                out_dir: Path, key: str, *, feature_store=None, cache_dir=None) -> tuple[list[np.ndarray], FoldTrainer]:
    """Out-of-fold margins per document from a FoldTrainer on config.num_threads threads, each fold kept in
    out_dir/folds under `key` (see `resumable`) and logged in out_dir/logs; and the trainer (its seconds, encoded)."""
    with torch_threads(config.num_threads):
        trainer = FoldTrainer(config, docs, relations, feature_store=feature_store, cache_dir=cache_dir,
                              log_dir=out_dir / "logs")
        fit: Fit = resumable(trainer.fit, out_dir / "folds", key)
        return cross_fit(fold_of, fit), trainer
