"""TrainConfig: every training option, its type and range, checked when a config is made."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docrobust.base import DocrobustError, dumps_json, suggest, type_name, type_ok

from .encoder import MAX_LEN, WINDOW
from .losses import LOSSES
from .registry import MODELS

__all__ = ["RANGES", "TrainConfig", "training_problems"]


@dataclass
class TrainConfig:
    """Every training option; the defaults are the papers' GPU settings.

    lr_encoder None means 5e-5, or 3e-5 for encoders with hidden size >= 1024. loss None means the
    model's `default_loss`. early_stopping is a patience in epochs (None: train all epochs). select_by is what
    picks the epoch (and what early stopping waits on): "f1", the dev F1 as trained (ATLOP's rule), or
    "calibrated_f1", the dev F1 after a threshold offset chosen on dev at that epoch, for losses whose threshold
    still drifts once their ranking has levelled off. An epoch is the new best only when it beats the best by more
    than early_stopping_delta (as Keras' min_delta), so a plateau's noise neither moves the kept epoch nor delays
    early stopping.
    kd_teacher_logits is a .pt/.npy array [training pairs, 1 + R] in training-feature order (as written
    by a run with save_train_logits); kd_weight scales the MSE between student and teacher logits.
    max_train_docs / max_eval_docs keep the first documents of the training / dev and test sets.
    freeze_encoder trains the head alone on stored encoder outputs (the CPU quick profile's setting).
    calibrate_threshold adds dev-calibrated scores (module docstring). marker is the mention marker (None: the
    model's default_marker); dedup_mentions keeps one of each duplicated mention (featurize).
    Every value is checked when a config is made (training_problems: types, RANGES, model and loss names
    and their options), so a mistake stops the run before any document is read.
    """
    model: str = "atlop"
    loss: str | None = None
    encoder: str = "bert-base-cased"
    model_options: dict[str, Any] = field(default_factory=dict)
    loss_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 4
    eval_batch_size: int = 8
    lr_encoder: float | None = None
    lr_head: float = 1e-4
    warmup: float = 0.06
    weight_decay: float = 0.0
    adam_eps: float = 1e-6
    max_grad_norm: float = 1.0
    top_k: int = 4
    max_len: int = 1024
    seed: int = 0
    grad_checkpointing: bool = False
    freeze_encoder: bool = False
    calibrate_threshold: bool = False
    marker: str | None = None
    dedup_mentions: bool = False
    pair_types: list[list[str]] | None = None
    early_stopping: int | None = None
    early_stopping_delta: float = 0.0
    select_by: str = "f1"
    save_checkpoint: bool = False
    save_train_logits: bool = False
    kd_teacher_logits: str | None = None
    kd_weight: float = 1.0
    max_train_docs: int | None = None
    max_eval_docs: int | None = None
    device: str = "auto"
    num_threads: int | None = None
    log_every: int = 50
    progress: bool = True

    def __post_init__(self) -> None:
        if self.marker is None and self.model in MODELS:
            self.marker = MODELS[self.model].default_marker
        problems = training_problems({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        if problems:
            raise DocrobustError([f"training option {key}: {reason}" for key, reason in problems])

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a plain dict (TOML table, JSON); unknown keys are an error naming the allowed ones."""
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in values if k not in allowed]
        if unknown:
            raise DocrobustError(f"unknown training option {unknown[0]!r}; allowed: {', '.join(allowed)}")
        return cls(**{k: dict(v) if isinstance(v, dict) else v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, accepted back by from_dict."""
        return json.loads(dumps_json(dataclasses.asdict(self)))


def _at_least(low: float, strict: bool = False) -> tuple[str, Callable[[Any], bool]]:
    # finite too: an infinite learning rate or size passes any lower bound and fails the run
    return ((f"> {low}", lambda v: v > low and math.isfinite(v)) if strict
            else (f">= {low}", lambda v: v >= low and math.isfinite(v)))


# What a setting accepts beyond its annotated type (a None, where the type allows it, always passes).
RANGES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    **dict.fromkeys(("epochs", "batch_size", "eval_batch_size", "early_stopping", "log_every", "max_train_docs",
                     "max_eval_docs", "num_threads"), _at_least(1)),
    **dict.fromkeys(("lr_encoder", "weight_decay", "max_grad_norm", "kd_weight", "early_stopping_delta"), _at_least(0)),
    **dict.fromkeys(("lr_head", "adam_eps"), _at_least(0, strict=True)),
    "warmup": ("in [0, 1)", lambda v: 0 <= v < 1),
    "max_len": (f"between 16 and {MAX_LEN} (the encoder reads a document as at most two windows of {WINDOW} "
                f"positions)", lambda v: 16 <= v <= MAX_LEN),
    "seed": ("in [0, 2**32)", lambda v: 0 <= v < 2 ** 32),   # numpy's seed range
    "device": ("auto, cpu, cuda, cuda:N or mps", lambda v: re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None),
    "marker": ("one word without spaces", lambda v: bool(v) and not any(c.isspace() for c in v)),
    "select_by": ("f1 or calibrated_f1", lambda v: v in ("f1", "calibrated_f1")),
    "pair_types": ("a non-empty list of [head type, tail type] pairs",
                   lambda v: bool(v) and all(len(p) == 2 for p in v)),
}


def training_problems(values: dict[str, Any], set_elsewhere: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(setting, what is wrong) for everything in `values` that TrainConfig refuses, [] when all is fine:
    unknown settings, values of the wrong type (from the annotations) or outside RANGES, an unknown model
    or loss, and model_options / loss_options that the model / loss does not take (names and types from
    its signature). `bench check` reports the same problems under their key paths before anything runs;
    `set_elsewhere` (its matrix keys) are left out of the settings an unknown name is compared with."""
    hints = typing.get_type_hints(TrainConfig)
    allowed = [k for k in hints if k not in set_elsewhere]
    problems = []
    for key, value in values.items():
        if key not in allowed:
            problems.append((key, f"unknown training setting{suggest(key, allowed)}; allowed: {', '.join(allowed)}"))
        elif not type_ok(value, hints[key]):
            problems.append((key, f"expected {type_name(hints[key])}, got {value!r}"))
        elif key in RANGES and value is not None and not RANGES[key][1](value):
            problems.append((key, f"must be {RANGES[key][0]}, got {value!r}"))
    if problems:  # the names below are only worth checking once they have the right types
        return problems
    model, loss = values.get("model"), values.get("loss")
    for key, name, registry in (("model", model, MODELS), ("loss", loss, LOSSES)):
        if name is not None and name not in registry:
            problems.append((key, registry.unknown(name)))
    if model in MODELS:
        loss = loss or MODELS[model].default_loss
    for key, name, registry in (("model_options", model, MODELS), ("loss_options", loss, LOSSES)):
        if name in registry:
            problems += [(f"{key}.{k}", why) for k, why in registry.option_problems(name, values.get(key, {}))]
    return problems


