"""The loss registry: training losses selected by name, and the base class every loss shares.

Every loss sees the same two tensors:

    logits  [pairs, 1 + C]  float; column 0 is the threshold class TH, columns 1..C the relations
    labels  [pairs, 1 + C]  multi-hot (float or bool); column 0 is set exactly for pairs with no
                            relation (ATLOP's convention). Losses read only columns 1..C: column 0
                            is implied by them, so a batch cannot disagree with itself.

and returns a scalar. `loss.predict(logits, top_k)` turns logits back into multi-hot labels with
the threshold the loss was trained for (the TH column, or the fixed logit 0 for `balanced-softmax`
and `bce`), so the trainer never needs to know which loss it holds.

Import losses from docrobust.models.losses, which registers the built-in ones; a plugin registers its own
with `register_loss` from there too.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from docrobust.base import Option, Registry, signature_options

__all__ = ["LOSSES", "DocRELoss", "build_loss", "get_label", "register_loss"]

# ----------------------------------------------------------------------------- prediction and the base class

def _predict_above(logits: Tensor, threshold: Tensor, top_k: int) -> Tensor:
    """Multi-hot labels: relations scoring above `threshold` [pairs, 1], at most the top_k best.

    As ATLOP: the top-k cut ranks all columns (TH included) and keeps ties; pairs with no relation
    kept get column 0 = 1.
    """
    keep = logits > threshold                                  # [pairs, 1 + C]
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[1]), dim=1).values[:, -1:]  # [pairs, 1]
        keep &= logits >= kth
    out = torch.zeros_like(logits)
    out[:, 1:] = keep[:, 1:].to(logits.dtype)
    out[:, 0] = (~keep[:, 1:].any(dim=1)).to(logits.dtype)
    return out


def get_label(logits: Tensor, top_k: int = 4) -> Tensor:
    """ATLOP's decision rule: relations whose logit exceeds TH (column 0), at most top_k per pair
    (top_k <= 0: no cap); pairs with none get column 0 = 1. Same shape as logits."""
    return _predict_above(logits, logits[:, :1], top_k)


class DocRELoss(nn.Module):
    """Base class: forward(logits, labels) -> scalar; predict(logits, top_k) -> multi-hot labels."""

    name: ClassVar[str] = ""
    # Training-set statistics the loss takes as options, for the trainer to pass: "class_counts"
    # (labels per relation column, TH excluded) and "n_pairs" (all training entity pairs).
    train_stats: ClassVar[tuple[str, ...]] = ()

    def threshold(self, logits: Tensor) -> Tensor:
        """[pairs, 1]: the logit a relation must exceed, the TH column; a relation's score is its logit minus this."""
        return logits[:, :1]

    def predict(self, logits: Tensor, top_k: int = 4) -> Tensor:
        """Relations above `threshold`, at most top_k per pair (for TH: get_label)."""
        return _predict_above(logits, self.threshold(logits), top_k)


# ----------------------------------------------------------------------------- registry

def _loss_options(cls: type) -> dict[str, Option]:
    """Keyword options a registered loss accepts: its nearest explicit __init__'s, minus pinned ones (`fixed`)."""
    for klass in cls.__mro__[:cls.__mro__.index(DocRELoss)]:
        params = inspect.signature(klass.__init__).parameters
        if "__init__" in vars(klass) and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return signature_options(klass.__init__, skip=getattr(cls, "fixed", {}))
    return {}


LOSSES: Registry[type[DocRELoss]] = Registry("loss", options=_loss_options)


def register_loss(name: str) -> Callable[[type], type]:
    """Class decorator: make a DocRELoss subclass available to `build_loss(name)`."""
    def add(cls: type) -> type:
        cls.name = name
        return LOSSES.add(name, cls)
    return add


def build_loss(name: str, **options: Any) -> DocRELoss:
    """The loss registered as `name`, built with `options` (see each loss's __init__ for them)."""
    cls = LOSSES[name]
    LOSSES.check_options(name, {k: v for k, v in options.items() if k not in getattr(cls, "fixed", {})})
    return cls(**options)  # a pinned option: the ablation's __init__ says which loss to use instead
