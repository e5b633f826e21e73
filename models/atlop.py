"""ATLOP (Zhou et al., 2021): localized context pooling and a grouped bilinear classifier.

For every entity pair (s, o) of a document, with e_s, e_o the entity embeddings and c_so their
localized context (models/pooling.py; entity pooling: models/registry.py):

    z_s = tanh(W_s [e_s; c_so])                 [emb_size]
    z_o = tanh(W_o [e_o; c_so])                 [emb_size]
    logits = GroupedBilinear(z_s, z_o)          [num_labels], column 0 the threshold class TH

trained with ATLOP's adaptive-thresholding loss by default.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .pooling import GroupedBilinear, PairInputs, entity_pair_linear
from .registry import DocREModel, register_model


@register_model("atlop")
class ATLOP(DocREModel):
    """ATLOP: entity log-sum-exp + localized context pooling, grouped bilinear classifier."""

    default_loss = "atl"

    def __init__(self, encoder: nn.Module, num_labels: int, emb_size: int = 768, block_size: int = 64,
                 entity_pooling: str = "auto"):
        super().__init__(encoder, num_labels, entity_pooling)
        H = self.hidden_size
        self.head_extractor = nn.Linear(2 * H, emb_size)
        self.tail_extractor = nn.Linear(2 * H, emb_size)
        self.bilinear = GroupedBilinear(emb_size, block_size, num_labels)

    def head(self, x: PairInputs) -> Tensor:   # entities [E, H], contexts [P, H]
        zs = torch.tanh(entity_pair_linear(self.head_extractor, x.entity, x.pairs.s, x.context))  # [P, emb]
        zo = torch.tanh(entity_pair_linear(self.tail_extractor, x.entity, x.pairs.o, x.context))  # [P, emb]
        return self.bilinear(zs, zo)                                                        # [P, num_labels]
