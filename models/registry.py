"""The model registry: DocRE models selected by name, and the base class every model shares.

    model = build_model("atlop", encoder, num_labels=1 + len(relations), emb_size=768)
    logits = model(input_ids, attention_mask, entity_pos, hts)     # [P, num_labels]

`num_labels` counts label columns including column 0, the threshold / no-relation class TH: the
width of `featurize`'s labels. Losses are applied outside the model, so any model trains with any
loss; each model names the loss its paper used in `default_loss`.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from docrobust.corpus import CorpusError

from .encoder import encode, special_ids
from .pooling import Entities, gather_entities

__all__ = ["MODELS", "DocREModel", "build_model", "describe_models", "register_model"]

MODELS: dict[str, type["DocREModel"]] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a DocREModel subclass available to `build_model(name)`."""
    def add(cls: type) -> type:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered (by {MODELS[name].__name__})")
        cls.name = name
        MODELS[name] = cls
        return cls
    return add


def _options(cls: type) -> list[str]:
    """Keyword options of a model: its __init__ parameters after encoder and num_labels."""
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "encoder", "num_labels")]


def build_model(name: str, encoder: nn.Module, num_labels: int, **options: Any) -> "DocREModel":
    """The model registered as `name` on `encoder`, with num_labels = 1 + relations columns."""
    if name not in MODELS:
        raise CorpusError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}")
    cls = MODELS[name]
    unknown = sorted(set(options) - set(_options(cls)))
    if unknown:
        raise CorpusError(f"model {name!r} has no option {', '.join(unknown)}: its options are {', '.join(_options(cls)) or 'none'}")
    if num_labels < 2:
        raise CorpusError(f"num_labels={num_labels}: a model needs the TH column and at least one relation")
    try:
        return cls(encoder, num_labels, **options)
    except ValueError as err:  # an option value the model cannot use
        raise CorpusError(f"model {name!r}: {err}") from None


def describe_models() -> list[tuple[str, str]]:
    """(name, summary: first docstring line, default loss, options with defaults) per registered model, sorted, for CLI listings."""
    rows = []
    for name in sorted(MODELS):
        cls = MODELS[name]
        params = inspect.signature(cls.__init__).parameters
        options = ", ".join(f"{p}={params[p].default}" for p in _options(cls))
        rows.append((name, f"{(cls.__doc__ or '').strip().splitlines()[0]} [loss {cls.default_loss}; {options}]"))
    return rows


class DocREModel(nn.Module):
    """Base class: an encoder (`self.encoder`) and a relation head on its entity features.

    Subclasses implement `forward(input_ids, attention_mask, entity_pos, hts) -> logits [P, num_labels]`
    and set `default_loss`. The trainer gives the encoder and the head separate learning rates.
    """

    name: ClassVar[str] = ""
    default_loss: ClassVar[str] = "atl"

    def __init__(self, encoder: nn.Module, num_labels: int):
        super().__init__()
        self.encoder = encoder
        self.num_labels = num_labels
        self.hidden_size = encoder.config.hidden_size
        self.start_ids, self.end_ids = special_ids(encoder)

    frozen: bool = False

    def freeze_encoder(self) -> None:
        """Fix the encoder's weights and remember each document's encoder output.

        Training then updates the head alone, and every epoch after the first costs the head only:
        the CPU quick profile uses this to take ten times the steps in the same time. The encoder
        stays in eval mode (no dropout), so a cached output equals a fresh one.
        """
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        self.frozen = True
        self._encoded: dict[bytes, tuple[Tensor, Tensor]] = {}  # word-piece ids -> (states [n, H], attention [h, n, n])

    def train(self, mode: bool = True) -> "DocREModel":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [] if self.frozen else list(self.encoder.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        encoder = {id(p) for p in self.encoder.parameters()}
        return [p for p in self.parameters() if id(p) not in encoder]

    def encode_entities(self, input_ids: Tensor, attention_mask: Tensor,
                        entity_pos: list) -> tuple[Tensor, Tensor, Entities]:
        """(sequence_output [B, L, H], attention [B, h, L, L], entities) of a batch."""
        encode_batch = self._encode_frozen if self.frozen else self._encode
        seq, att = encode_batch(input_ids, attention_mask)
        return seq, att, gather_entities(seq, att, entity_pos)

    def _encode(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        return encode(self.encoder, input_ids, attention_mask, self.start_ids, self.end_ids)

    def _encode_frozen(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """encode() through the per-document cache; padding positions are zero (masked out anyway)."""
        lengths = attention_mask.sum(1).long().tolist()
        keys = [input_ids[i, :n].cpu().numpy().tobytes() for i, n in enumerate(lengths)]
        missing = [i for i, key in enumerate(keys) if key not in self._encoded]
        if missing:
            n_max = max(lengths[i] for i in missing)
            with torch.no_grad():
                seq, att = self._encode(input_ids[missing, :n_max], attention_mask[missing, :n_max])
            for j, i in enumerate(missing):
                n = lengths[i]
                self._encoded[keys[i]] = (seq[j, :n].clone(), att[j, :, :n, :n].clone())
        B, L = input_ids.shape
        cached = [self._encoded[key] for key in keys]
        seq = cached[0][0].new_zeros(B, L, cached[0][0].shape[-1])       # [B, L, H]
        att = cached[0][1].new_zeros(B, cached[0][1].shape[0], L, L)     # [B, h, L, L]
        for i, (s, a) in enumerate(cached):
            n = lengths[i]
            seq[i, :n], att[i, :, :n, :n] = s, a
        return seq, att
