"""ATLOP (Zhou et al., 2021): localized context pooling and a grouped bilinear classifier.

For every entity pair (s, o) of a document, with e_s, e_o the entity embeddings and c_so their
localized context (models/pooling.py):

    z_s = tanh(W_s [e_s; c_so])                 [emb_size]
    z_o = tanh(W_o [e_o; c_so])                 [emb_size]
    logits = GroupedBilinear(z_s, z_o)          [num_labels], column 0 the threshold class TH

trained with ATLOP's adaptive-thresholding loss by default.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .pooling import GroupedBilinear, entity_pair_linear, pair_context, pair_index
from .registry import DocREModel, register_model


@register_model("atlop")
class ATLOP(DocREModel):
    """ATLOP: entity log-sum-exp + localized context pooling, grouped bilinear classifier."""

    default_loss = "atl"

    def __init__(self, encoder: nn.Module, num_labels: int, emb_size: int = 768, block_size: int = 64):
        super().__init__(encoder, num_labels)
        H = self.hidden_size
        self.head_extractor = nn.Linear(2 * H, emb_size)
        self.tail_extractor = nn.Linear(2 * H, emb_size)
        self.bilinear = GroupedBilinear(emb_size, block_size, num_labels)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, entity_pos: list, hts: list) -> Tensor:
        seq, att, entities = self.encode_entities(input_ids, attention_mask, entity_pos)  # [B, L, H], [B, h, L, L]
        pairs = pair_index(hts, entities.counts, seq.device)
        context = pair_context(seq, entities, pairs)                                              # [P, H]
        zs = torch.tanh(entity_pair_linear(self.head_extractor, entities.emb, pairs.s, context))  # [P, emb]
        zo = torch.tanh(entity_pair_linear(self.tail_extractor, entities.emb, pairs.o, context))  # [P, emb]
        return self.bilinear(zs, zo)                                                        # [P, num_labels]
