"""The pieces of a training run, shared by the trainer (models/train.py) and the label audit's folds, so that a
change to how a model trains is made once:

    featurize_for          features with every featurization option of the config
    model_for              the model, gradient checkpointing and a frozen encoder as asked, on the device
    with_stored_rows       with freeze_encoder: the features carrying their stored encoder rows
    resolve_config         the loss and encoder lr the config leaves to the model, filled in
    build_loss_for         the loss, plus the training statistics it declares
    build_optimizer        AdamW (encoder_lr, lr_head), linear warm-up then linear decay over the run's steps
    run_epoch              one pass over stored or encoded inputs: loss, backward, clipping, step

The defaults they apply are the papers' (see models/train.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from docrobust.base import DocrobustError, atomic_write_text, dumps_json
from docrobust.corpus import RelationInventory
from docrobust.corpus.pair_types import pair_types_of

from .config import TrainConfig
from .evaluate import batch_logits
from .features import batches_by_length, featurize, featurize_cached, stack_labels
from .losses import LOSSES, build_loss
from .registry import DocREModel, build_model
from .store import FeatureStore

__all__ = ["LARGE_HIDDEN", "RunLog", "TrainingError", "build_loss_for", "build_optimizer", "class_counts",
           "encoder_lr", "featurize_for", "linear_schedule", "model_for", "resolve_config", "resolve_device",
           "run_epoch", "seed_everything", "torch_threads", "transformers_bars", "with_stored_rows"]

LARGE_HIDDEN = 1024  # encoders this wide (BERT/RoBERTa-large) get the papers' smaller encoder lr


class TrainingError(Exception):
    """A run that cannot go on (a NaN or infinite loss); the message is one line naming epoch and step."""


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a generator for the batch order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """'auto' is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DocrobustError(f"device {name!r} requested but torch sees no CUDA device; use device='auto' or 'cpu'")
    return torch.device(name)


def linear_schedule(total_steps: int, warmup: float) -> Callable[[int], float]:
    """lr multiplier at step s: s / w during warm-up (w = warmup * total), then (total - s) / (total - w)."""
    warm = int(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return step / max(1, warm)
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))
    return factor


def class_counts(features: list[dict]) -> list[int]:
    """Labels per relation column in the training features (TH column excluded)."""
    return np.sum([f["labels"][:, 1:].sum(axis=0, dtype=np.int64) for f in features], axis=0).tolist()


def build_loss_for(name: str, options: dict[str, Any], features: list[dict]):
    """The loss `name` with `options`, plus the training statistics it declares (`train_stats`) unless given."""
    stats = {"class_counts": lambda: class_counts(features), "n_pairs": lambda: sum(len(f["hts"]) for f in features)}
    wanted = getattr(LOSSES.get(name), "train_stats", ())
    options = {**{k: stats[k]() for k in wanted if k in stats}, **options}
    try:
        return build_loss(name, **options)
    except (ValueError, TypeError) as e:
        raise DocrobustError(str(e).splitlines()[0]) from e


def featurize_for(config: TrainConfig, docs: list[dict], tokenizer, relations: RelationInventory,
                  cache_dir=None) -> list[dict]:
    """Features of `docs` with every featurization option of `config` (max_len, marker, dedup_mentions, pair_types),
    read from and kept in the features cache `cache_dir` when given."""
    options = {"max_len": config.max_len, "marker": config.marker, "dedup_mentions": config.dedup_mentions,
               "pair_types": pair_types_of(config.pair_types)}
    if cache_dir is None:
        return featurize(docs, tokenizer, relations, **options)
    return featurize_cached(docs, tokenizer, relations, cache_dir, **options)


def model_for(config: TrainConfig, encoder, relations: RelationInventory, device: torch.device) -> DocREModel:
    """`config.model` with its options on `encoder`, gradient checkpointing and a frozen encoder when asked, on
    `device`."""
    model = build_model(config.model, encoder, 1 + len(relations), **config.model_options)
    if config.grad_checkpointing:  # transformers 5 renamed it; >= 4.45 has the old name only
        enable = getattr(model.encoder, "activation_checkpointing_enable", model.encoder.gradient_checkpointing_enable)
        enable()
    if config.freeze_encoder:
        model.freeze_encoder()
    return model.to(device)


def encoder_lr(config: TrainConfig, encoder) -> float:
    """config.lr_encoder, or by default the papers' rule: 3e-5 for encoders LARGE_HIDDEN wide or wider, else 5e-5."""
    if config.lr_encoder is not None:
        return config.lr_encoder
    return 3e-5 if getattr(encoder.config, "hidden_size", 0) >= LARGE_HIDDEN else 5e-5


def resolve_config(config: TrainConfig, model: DocREModel) -> TrainConfig:
    """`config` with what it leaves to the model filled in: the loss (the model's default) and the encoder lr."""
    return dataclasses.replace(config, loss=config.loss or type(model).default_loss,
                               lr_encoder=encoder_lr(config, model.encoder))


def build_optimizer(model: DocREModel, config: TrainConfig,
                    n_train: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the encoder (encoder_lr) and the head (lr_head), and its linear warm-up then decay over
    config.epochs epochs of `n_train` training features in batches of config.batch_size."""
    groups = [{"params": list(model.encoder_parameters()), "lr": encoder_lr(config, model.encoder)},
              {"params": list(model.head_parameters()), "lr": config.lr_head}]
    optimizer = torch.optim.AdamW(groups, eps=config.adam_eps, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(n_train / config.batch_size)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(steps, config.warmup))


def with_stored_rows(model: DocREModel, tokenizer, splits: list[list[dict] | None], config: TrainConfig,
                     device: torch.device, feature_store) -> tuple[list[list[dict] | None], int]:
    """Copies of each split's features carrying their stored rows ("rows"), and how many documents were encoded."""
    store = FeatureStore(feature_store)
    every = [f for split in splits if split is not None for f in split]
    rows = iter(store.rows(model, tokenizer, every, device=device))
    return [None if split is None else [{**f, "rows": next(rows)} for f in split] for split in splits], store.encoded


def run_epoch(model, loss_fn, optimizer, scheduler, features: list[dict], config: TrainConfig, device: torch.device,
              generator: torch.Generator, epoch: int, first_step: int, log: RunLog) -> tuple[float, int]:
    """One pass over the training features in length-grouped batches; returns (mean batch loss, steps).

    Per batch: loss = loss_fn(logits, labels) [+ kd_weight * mean((logits - teacher)^2)] over the model's
    training_rows (the pairs; KD-DocRE's self pairs too), then backward, clip the global gradient norm, AdamW
    step, scheduler step.
    """
    model.train()
    total, window, t0, i = 0.0, [], time.perf_counter(), 0
    batches = batches_by_length(features, config.batch_size, shuffle=True, generator=generator)
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False, disable=not config.progress)
    for i, chunk in enumerate(bar, start=1):
        logits, labels = model.training_rows(batch_logits(model, chunk, device).float(), stack_labels(chunk).to(device),
                                             [len(f["entity_pos"]) for f in chunk])   # [P', 1 + R]: P pairs, + self pairs
        loss = loss_fn(logits, labels)
        if config.kd_teacher_logits:
            teacher = torch.cat([f["teacher_logits"] for f in chunk]).to(device)  # [P, 1 + R]
            teacher = torch.nn.functional.pad(teacher, (0, 0, 0, len(logits) - len(teacher)))  # added rows: 0, as theirs
            loss = loss + config.kd_weight * torch.nn.functional.mse_loss(logits, teacher)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss is {loss.item()} at epoch {epoch}, step {i} (global step {first_step + i}) of "
                                f"{config.model} with loss {loss_fn.name}: try a lower learning rate "
                                f"or check the loss options")
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        total += loss.item()
        window.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if (first_step + i) % config.log_every == 0:
            log({"event": "step", "epoch": epoch, "step": i, "global_step": first_step + i, "loss": sum(window) / len(window),
                 "lr_encoder": optimizer.param_groups[0]["lr"], "lr_head": optimizer.param_groups[1]["lr"],
                 "seconds": time.perf_counter() - t0})
            window = []
    return total / max(1, i), i


class RunLog:
    """train_log.jsonl: one JSON object per logging interval and per epoch, rewritten atomically."""

    def __init__(self, path: Path, callback: Callable[[dict], None] | None):
        self.path, self.callback, self.lines = path, callback, []

    def __call__(self, record: dict) -> None:
        self.lines.append(dumps_json(record))
        atomic_write_text(self.path, "\n".join(self.lines) + "\n")  # a few KB: cheap next to a training step
        if self.callback is not None:
            self.callback(record)


@contextlib.contextmanager
def transformers_bars(enabled: bool) -> Iterator[None]:
    """Show transformers' own progress bars (weight loading) only when ours are shown too."""
    from transformers.utils import logging

    before = logging.is_progress_bar_enabled()
    (logging.enable_progress_bar if enabled else logging.disable_progress_bar)()
    try:
        yield
    finally:
        (logging.enable_progress_bar if before else logging.disable_progress_bar)()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use n intra-op threads inside the block (unchanged when None), restoring the previous number."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
