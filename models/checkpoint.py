"""checkpoint.pt: a trained run's best state, and predictions for new documents from it (`docrobust predict`).

    train(save_checkpoint=True) ──save_checkpoint──> checkpoint.pt
    checkpoint.pt ──load_checkpoint──> Checkpoint(model, tokenizer, config, relations, offset)
    Checkpoint + documents ──predict_docs──> [{"title", "h_idx", "t_idx", "r"}]   (official format)

The file is one dict, readable with `torch.load(path, weights_only=True)` (tensors and plain values only):

    format          FORMAT
    state_dict      the best epoch's weights; with freeze_encoder the head's alone (the encoder is fixed, so it is
                    loaded by the config's name or path, and checked against encoder_sha256)
    config          the resolved TrainConfig (model and its options, loss, encoder, marker, max_len, pair_types, ...)
    relations       the relation inventory: label column i + 1 is relation ids[i]
    offset          the dev-chosen threshold offset of a calibrated run (calibrate_threshold), else None
    encoder_sha256  with freeze_encoder: the hash of the encoder's weights the head was trained on, else None

Predictions go through the trainer's own steps (loop.featurize_for, loop.model_for, evaluate.predict_logits and
decode), and a frozen encoder's inputs through the feature store, so a checkpoint predicts for its training run's
test documents exactly what the run wrote to result.json (with the offset: what metrics.json's "calibrated" scored).
Labels play no part in a prediction: documents need none, and those they carry are not read (any relation
inventory will do).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from docrobust.base import DocrobustError, atomic_writer
from docrobust.corpus import RelationInventory, validate_docs

from .config import TrainConfig
from .encoder import hash_weights, load_encoder
from .evaluate import decode, predict_logits
from .loop import featurize_for, model_for, resolve_device, transformers_bars, with_stored_rows
from .losses import build_loss
from .registry import DocREModel

__all__ = ["FORMAT", "Checkpoint", "encoder_sha256", "load_checkpoint", "predict_docs", "save_checkpoint"]

FORMAT = 1           # bump when the file's layout or meaning changes
ENCODER = "encoder."  # the encoder's keys in a model's state dict


class Checkpoint(NamedTuple):
    """A loaded checkpoint: the model with its best weights (eval mode), its tokenizer, the run's resolved config,
    relation inventory and dev-chosen threshold offset (None for an uncalibrated run)."""
    model: DocREModel
    tokenizer: Any
    config: TrainConfig
    relations: RelationInventory
    offset: float | None


def encoder_sha256(encoder: torch.nn.Module) -> str:
    """sha256 of an encoder's weights (encoder.hash_weights)."""
    digest = hashlib.sha256()
    hash_weights(digest, encoder)
    return digest.hexdigest()


def save_checkpoint(path: str | os.PathLike, model: DocREModel, state: dict[str, Tensor], config: TrainConfig,
                    relations: RelationInventory, offset: float | None) -> None:
    """Write checkpoint.pt atomically: `state` (the best epoch's, of `model`; its head alone with freeze_encoder), the
    resolved `config`, the relations and the calibrated `offset` (None when the run was not calibrated)."""
    frozen = config.freeze_encoder
    with atomic_writer(path) as f:
        torch.save({"format": FORMAT, "state_dict": {k: v for k, v in state.items()
                                                     if not (frozen and k.startswith(ENCODER))},
                    "config": config.to_dict(), "relations": relations.to_json(), "offset": offset,
                    "encoder_sha256": encoder_sha256(model.encoder) if frozen else None}, f)


def load_checkpoint(path: str | os.PathLike, device: str = "auto") -> Checkpoint:
    """The model of checkpoint.pt (`path`, or the run's folder holding it) rebuilt on `device` ("auto": cuda when
    available) with its best weights: its encoder loaded by the config's name or path (the weights from the file,
    unless the encoder was frozen), the model and its options built by name (a plugin's must be loaded first).
    DocrobustError, one line, for a file that is not a checkpoint or whose encoder no longer has the weights its
    head was trained on."""
    path = Path(path) / "checkpoint.pt" if Path(path).is_dir() else Path(path)   # a run's folder holds its checkpoint
    saved = _read(path)
    config = TrainConfig.from_dict({**saved["config"], "device": device, "progress": False})
    relations = RelationInventory.from_json(saved["relations"])
    with transformers_bars(False):
        tokenizer, encoder = load_encoder(config.encoder)
    model = model_for(config, encoder, relations, torch.device("cpu"))
    if saved["encoder_sha256"] is not None and encoder_sha256(model.encoder) != saved["encoder_sha256"]:
        raise DocrobustError(f"{path}: encoder {config.encoder!r} does not have the weights this checkpoint's head was "
                             f"trained on (its frozen encoder is not saved in the checkpoint; load the same weights)")
    missing, unexpected = model.load_state_dict(saved["state_dict"], strict=False)
    missing = [k for k in missing if not (saved["encoder_sha256"] is not None and k.startswith(ENCODER))]
    if missing or unexpected:
        raise DocrobustError(f"{path}: its weights do not fit model {config.model!r} with its options ({len(missing)} "
                             f"missing, {len(unexpected)} unexpected, e.g. {(missing + unexpected)[0]})")
    model.to(resolve_device(device)).eval()
    return Checkpoint(model, tokenizer, config, relations, saved["offset"])


def _read(path: Path) -> dict[str, Any]:
    """checkpoint.pt's dict, loaded with weights_only (no code runs); DocrobustError unless it is one."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DocrobustError(f"{path}: not a checkpoint written by `docrobust train --checkpoint` ({first})") from None
    if not (isinstance(saved, dict) and {"state_dict", "config", "relations"} <= saved.keys()):
        raise DocrobustError(f"{path}: not a checkpoint written by `docrobust train --checkpoint` (a torch file "
                             f"without state_dict, config and relations)")
    if saved.get("format", FORMAT) > FORMAT:
        raise DocrobustError(f"{path}: checkpoint format {saved['format']}, this docrobust reads format {FORMAT}")
    return {"offset": None, "encoder_sha256": None, **saved}  # a checkpoint from before FORMAT 1 has neither


def predict_docs(checkpoint: Checkpoint | str | os.PathLike, docs: list[dict], *, calibrated: bool = True,
                 batch_size: int | None = None, feature_store: str | os.PathLike | None = None) -> list[dict]:
    """Predictions in the official format ({"title", "h_idx", "t_idx", "r"}, documents in order) for DocRED-format
    `docs`, labelled or not, from a Checkpoint or the path of checkpoint.pt.

    The loss's threshold decides, raised by the checkpoint's dev-chosen offset when the run was calibrated and
    `calibrated` is true (False: the threshold as trained, as result.json); at most config.top_k relations a pair,
    only pairs of config.pair_types. With a frozen encoder the model's inputs come from the feature store
    `feature_store` (default: models.store.feature_store_root()), computed and stored for documents not in it.
    """
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    model, tokenizer, config, relations, offset = checkpoint
    problems = validate_docs(docs)
    if problems:
        raise DocrobustError(problems)
    device = next(model.parameters()).device
    batch_size = batch_size or config.eval_batch_size
    features = featurize_for(config, [{**d, "labels": []} for d in docs], tokenizer, relations)
    if config.freeze_encoder:
        features = with_stored_rows(model, tokenizer, [features], config, device, feature_store)[0][0]
    loss_fn = build_loss(config.loss, **config.loss_options)   # its decision rule; the training statistics are unused
    return decode(loss_fn, features, predict_logits(model, features, batch_size, device), relations,
                  top_k=config.top_k, offset=(offset or 0.0) if calibrated else 0.0)
