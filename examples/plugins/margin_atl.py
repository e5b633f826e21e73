"""A loss plugin: ATLOP's adaptive thresholding with a margin (load it with `--plugin` or bench.toml's [plugins]).

Per pair, with TH the threshold logit, P the labelled relations and N the others:

    L = -sum_{r in P} log softmax_{P + TH}(z - m 1_P)_r  -  log softmax_{N + TH}(z - m 1_TH)_TH

so a positive must beat TH by `margin`, and TH must beat every negative by `margin`, before the loss stops
pushing; margin = 0 is ATLOP's loss. It predicts as ATL does: relations above TH.
"""
from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from docrobust.base import Range
from docrobust.models.losses import DocRELoss, register_loss


@register_loss("margin-atl")
class MarginATL(DocRELoss):
    """ATLOP's adaptive thresholding with a margin m between the positives, TH and the negatives."""

    def __init__(self, margin: Annotated[float, Range(0), "logit margin around TH"] = 1.0):
        super().__init__()
        self.margin = margin

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        positive = labels[:, 1:] > 0                                           # [pairs, C]
        th, rel = logits[:, :1], logits[:, 1:]                                 # [pairs, 1], [pairs, C]
        lowest = torch.finfo(logits.dtype).min
        with_positives = torch.cat([th, torch.where(positive, rel - self.margin, lowest)], dim=1)
        with_negatives = torch.cat([th - self.margin, torch.where(positive, lowest, rel)], dim=1)
        loss_positive = -(torch.log_softmax(with_positives, dim=1)[:, 1:] * positive).sum(dim=1)
        loss_threshold = -torch.log_softmax(with_negatives, dim=1)[:, 0]
        return (loss_positive + loss_threshold).mean()
