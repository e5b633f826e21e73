"""The model registry: DocRE models selected by name, and the base class every model shares.

    model = build_model("atlop", encoder, num_labels=1 + len(relations), emb_size=768)
    logits = model(input_ids, attention_mask, entity_pos, hts, entity_spans)     # [P, num_labels]

Every model is two stages: `pair_inputs` (encoder, entity pooling, localized context: models/pooling.py)
and `head` (the model's own layers on those PairInputs). With a frozen encoder the first stage is fixed
per document, so the trainer stores its output once (models/store.py) and trains `head` alone.

Entity pooling (`entity_pooling`, an option of every model):
    "marker"  ATLOP's: each mention is the state (and attention row) at its leading `*` marker. A
              marker's state only comes to describe its entity when the encoder is fine-tuned.
    "span"    each mention is the mean of its own word pieces' states (and attention rows), markers
              excluded; then the same log-sum-exp over mentions and the same localized context. This
              is our departure from ATLOP for frozen encoders, where marker states carry almost
              nothing (the README's "Entity pooling" gives the F1 of each with a frozen MiniLM).
    "auto"    (default) "span" when the encoder is frozen, else "marker".

`num_labels` counts label columns including column 0, the threshold / no-relation class TH: the
width of `featurize`'s labels. Losses are applied outside the model, so any model trains with any
loss; each model names the loss its paper used in `default_loss`, the mention marker its code used in
`default_marker` (featurize's `marker`), and the rows a training loss averages over in `training_rows`.
"""
from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from docrobust.base import DocrobustError, Registry, signature_options

from .encoder import encode, special_ids
from .features import MARKER
from .pooling import PairInputs, gather_entities, pair_context, pair_index

__all__ = ["MODELS", "POOLINGS", "DocREModel", "build_model", "register_model"]

POOLINGS = ("auto", "marker", "span")

# A model's options: its __init__ parameters after encoder and num_labels, with their annotations.
MODELS: Registry[type["DocREModel"]] = Registry(
    "model", options=lambda cls: signature_options(cls.__init__, skip=("encoder", "num_labels")))


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a DocREModel subclass available to `build_model(name)`."""
    def add(cls: type) -> type:
        cls.name = name
        return MODELS.add(name, cls)
    return add


def build_model(name: str, encoder: nn.Module, num_labels: int, **options: Any) -> "DocREModel":
    """The model registered as `name` on `encoder`, with num_labels = 1 + relations columns."""
    MODELS.check_options(name, options)
    if num_labels < 2:
        raise DocrobustError(f"num_labels={num_labels}: a model needs the TH column and at least one relation")
    try:
        return MODELS[name](encoder, num_labels, **options)
    except (ValueError, ZeroDivisionError, RuntimeError) as err:  # option values the model, or torch, cannot use
        zero = " (an option set to 0)" if isinstance(err, ZeroDivisionError) else ""
        raise DocrobustError(f"model {name!r}: {err}{zero}") from None


def check_model_options(model: str, options: dict) -> None:
    """DocrobustError unless the model's own constructor takes `options` (built on the meta device, with a stand-in
    encoder: the sizes are checked, nothing is allocated or loaded); `bench check` and `train` call it first."""
    with torch.device("meta"):
        build_model(model, _StubEncoder(), 2, **options)


class _StubEncoder:
    """What a model's constructor reads of its encoder (the config), for checking the model's options."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(hidden_size=8, num_attention_heads=2, cls_token_id=0, sep_token_id=1)


class DocREModel(nn.Module):
    """Base class: an encoder (`self.encoder`), entity pooling, and a relation head on PairInputs.

    Subclasses implement `head(x: PairInputs) -> logits [P, num_labels]` and set `default_loss` and
    `default_marker`; `context_heads` is how the localized context reduces the attention heads (pooling.py).
    The trainer gives the encoder and the head separate learning rates.
    """

    name: ClassVar[str] = ""
    default_loss: ClassVar[str] = "atl"
    default_marker: ClassVar[str] = MARKER
    context_heads: str = "mean"
    frozen: bool = False

    def __init__(self, encoder: nn.Module, num_labels: int, entity_pooling: str = "auto"):
        super().__init__()
        if entity_pooling not in POOLINGS:
            raise ValueError(f"entity_pooling={entity_pooling!r}: use one of {', '.join(POOLINGS)}")
        self.encoder = encoder
        self.num_labels = num_labels
        self.entity_pooling = entity_pooling
        self.hidden_size = encoder.config.hidden_size
        self.start_ids, self.end_ids = special_ids(encoder)

    @property
    def pooling(self) -> str:
        """The entity pooling in use: "marker" or "span" ("auto" resolved by whether the encoder is frozen)."""
        if self.entity_pooling == "auto":
            return "span" if self.frozen else "marker"
        return self.entity_pooling

    def freeze_encoder(self) -> None:
        """Fix the encoder's weights (eval mode: no dropout, so its output is a function of the document)."""
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        self.frozen = True

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

    def pair_inputs(self, input_ids: Tensor, attention_mask: Tensor, entity_pos: list, hts: list,
                    entity_spans: list | None = None) -> PairInputs:
        """Encoder, entity pooling and localized context of a batch: everything before the head."""
        seq, att = encode(self.encoder, input_ids, attention_mask, self.start_ids, self.end_ids)  # [B, L, H], [B, h, L, L]
        if self.pooling == "marker":
            spans = [[[[p, p + 1] for p in positions] for positions in doc] for doc in entity_pos]
        elif entity_spans is None:
            raise ValueError("span entity pooling needs entity_spans (featurize writes them)")
        else:
            spans = entity_spans
        entities = gather_entities(seq, att, spans)
        pairs = pair_index(hts, entities.counts, seq.device)
        context, self_context = pair_context(seq, entities, pairs, self.context_heads)    # [P, H], [E, H]
        return PairInputs(entities.emb, self_context, context, pairs, entities.counts)

    def training_rows(self, logits: Tensor, labels: Tensor, counts: list[int]) -> tuple[Tensor, Tensor]:
        """(logits, labels) [P', num_labels] a training loss averages over, for the batch's pairs' logits and labels
        [P, num_labels] and its documents' entity counts: the pairs themselves (KD-DocRE may add its self pairs)."""
        return logits, labels

    def head(self, x: PairInputs) -> Tensor:
        raise NotImplementedError

    def forward(self, input_ids: Tensor, attention_mask: Tensor, entity_pos: list, hts: list,
                entity_spans: list | None = None) -> Tensor:
        """Logits [P, num_labels] of every pair in hts, documents in order."""
        return self.head(self.pair_inputs(input_ids, attention_mask, entity_pos, hts, entity_spans))
