"""TrainConfig: every training option with its type, range and help, checked when a config is made.

The annotations are the one source: `TrainConfig(...)`, bench.toml's [training] (`bench check`), and the
`train` / `audit` command-line options (generated from these fields) accept and refuse the same values
(docrobust.base.schema).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from docrobust.base import Check, DocrobustError, Pattern, Range, dumps_json, table_problems

from .encoder import MAX_LEN, WINDOW
from .losses import LOSSES
from .registry import MODELS

__all__ = ["TrainConfig", "training_problems"]

POSITIVE = Range(1)   # counts and sizes
NONNEG = Range(0)
EXCLUSIVE = Range(0, low_open=True)


@dataclass
class TrainConfig:
    """Every training option; the defaults are the papers' GPU settings.

    select_by is what picks the epoch (and what early stopping waits on): "f1", the dev F1 as trained
    (ATLOP's rule), or "calibrated_f1", the dev F1 after a threshold offset chosen on dev at that epoch, for
    losses whose threshold still drifts once their ranking has levelled off. An epoch is the new best only when
    it beats the best by more than early_stopping_delta (as Keras' min_delta), so a plateau's noise neither
    moves the kept epoch nor delays early stopping. kd_teacher_logits is a .pt/.npy array [training pairs, 1 + R]
    in training-feature order (as written by a run with save_train_logits). Every value is checked when a config
    is made (training_problems), so a mistake stops the run before any document is read.
    """
    model: Annotated[str, "Registered model: atlop, docunet, kd-docre."] = "atlop"
    loss: Annotated[str | None, "Registered loss (atl, cmm, afl, ...) [default: the model's own]."] = None
    encoder: Annotated[str, "Encoder: hub id, local folder, or minilm."] = "bert-base-cased"
    model_options: dict[str, Any] = field(default_factory=dict)
    loss_options: dict[str, Any] = field(default_factory=dict)
    epochs: Annotated[int, POSITIVE, "Training epochs."] = 30
    batch_size: Annotated[int, POSITIVE, "Documents per batch."] = 4
    eval_batch_size: Annotated[int, POSITIVE, "Documents per batch when predicting."] = 8
    lr_encoder: Annotated[float | None, NONNEG,
                          "Encoder learning rate [default: 5e-5, 3e-5 for encoders of hidden size >= 1024]."] = None
    lr_head: Annotated[float, EXCLUSIVE, "Learning rate of everything above the encoder."] = 1e-4
    warmup: Annotated[float, Range(0, 1, high_open=True), "Share of the steps with a linear warm-up."] = 0.06
    weight_decay: Annotated[float, NONNEG, "AdamW weight decay."] = 0.0
    adam_eps: Annotated[float, EXCLUSIVE, "AdamW epsilon."] = 1e-6
    max_grad_norm: Annotated[float, NONNEG, "Gradient clipping norm."] = 1.0
    top_k: Annotated[int, "At most this many relations predicted per pair (adaptive-threshold losses)."] = 4
    max_len: Annotated[int, Range(16, MAX_LEN, says=f"between 16 and {MAX_LEN} (the encoder reads a document as at "
                                                    f"most two windows of {WINDOW} positions)"),
                       "Tokens per document, special tokens included."] = 1024
    seed: Annotated[int, Range(0, 2 ** 32, high_open=True, says="in [0, 2**32)"), "Random seed."] = 0  # numpy's range
    grad_checkpointing: Annotated[bool, "Recompute encoder activations in backward to save memory."] = False
    freeze_encoder: Annotated[bool, "Train the head alone on stored encoder outputs (the feature store)."] = False
    calibrate_threshold: Annotated[bool, "Also report scores with a threshold offset chosen on dev."] = False
    marker: Annotated[str | None, Pattern(r"\S+", "one word without spaces"),
                      "Mention marker, one word piece of the encoder's tokenizer, or 'typed' (DocuNet's [unused] "
                      "markers) [default: the model's: * for ATLOP and KD-DocRE, typed for DocuNet]."] = None
    dedup_mentions: Annotated[bool, "Keep one of each duplicated mention (DocuNet's preprocessing)."] = False
    pair_types: Annotated[list[list[str]] | None, Check("a non-empty list of [head type, tail type] pairs",
                                                        lambda v: bool(v) and all(len(p) == 2 for p in v))] = None
    early_stopping: Annotated[int | None, POSITIVE, "Stop after N epochs without a better dev score."] = None
    early_stopping_delta: Annotated[float, NONNEG, "How much better a dev score must be to count as better."] = 0.0
    select_by: Annotated[Literal["f1", "calibrated_f1"],
                         "What picks the epoch: the dev F1 as trained, or calibrated on dev."] = "f1"
    save_checkpoint: Annotated[bool, "Also write checkpoint.pt (the best state)."] = False
    save_train_logits: Annotated[bool, "Also write the training set's logits (a teacher for distillation)."] = False
    kd_teacher_logits: Annotated[str | None, "Teacher logits (.pt/.npy) to distil from (KD-DocRE)."] = None
    kd_weight: Annotated[float, NONNEG, "Weight of the MSE to the teacher's logits."] = 1.0
    max_train_docs: Annotated[int | None, POSITIVE, "Train on the first N training documents."] = None
    max_eval_docs: Annotated[int | None, POSITIVE, "Evaluate on the first N dev and test documents."] = None
    device: Annotated[str, Pattern(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N or mps"),
                      "auto, cpu, cuda or cuda:N."] = "auto"
    num_threads: Annotated[int | None, POSITIVE, "CPU threads for torch."] = None
    log_every: Annotated[int, POSITIVE, "Log every N steps."] = 50
    progress: Annotated[bool, "Progress bars."] = True

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


def training_problems(values: dict[str, Any], set_elsewhere: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(setting, what is wrong) for everything in `values` that TrainConfig refuses, [] when all is fine:
    unknown settings, values of the wrong type or outside their range (the annotations), an unknown model
    or loss, and model_options / loss_options that the model / loss does not take (names and types from
    its signature). `bench check` reports the same problems under their key paths before anything runs;
    `set_elsewhere` (its matrix keys) are left out of the settings an unknown name is compared with."""
    problems = table_problems(TrainConfig, values, partial=True, what="training setting", leave_out=set_elsewhere)
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
