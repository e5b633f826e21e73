"""KD-DocRE (Tan et al., 2022): ATLOP's pair features refined by axial attention over the entity-pair map.

ATLOP's head/tail features z_s, z_o (models/atlop.py) go through the grouped bilinear to a pair
feature of the encoder's width instead of to logits; the features of a document's pairs form an
N x N map (N = most entities in the batch) that axial attention layers refine, each pair attending
to the pairs sharing its head (its row) and its tail (its column):

    f_so = GroupedBilinear(z_s, z_o)                           [H], no bias
    x = the N x N map of the f_so
    repeat layers:  x = LayerNorm(W (x + RowAttn(x) + ColAttn(x)) + b)
    logits_so = W_c (x_so + f_so) + b_c                        [num_labels]

Cells that are not pairs of the batch (the diagonal, entities past a document's own) are masked
out as keys, where the original pads every map to 42 entities and lets those cells take part. The
localized context is ATLOP's (the original sums heads instead of averaging them: the same after
normalization). Trained with the adaptive focal loss by default; knowledge distillation from a
teacher's logits is the trainer's MSE term on these logits.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .pooling import GroupedBilinear, PairInputs, Pairs, entity_pair_linear
from .registry import DocREModel, register_model


class AxialAttention(nn.Module):
    """Multi-head self-attention along the rows and along the columns of a [B, N, N, D] map, summed."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"axial attention over width {dim} cannot split into heads={heads}: pick heads dividing {dim}")
        self.heads = heads
        self.qkv = nn.ModuleList(nn.Linear(dim, 3 * dim, bias=False) for _ in range(2))   # one per axis
        self.out = nn.ModuleList(nn.Linear(dim, dim) for _ in range(2))

    def _attend(self, x: Tensor, valid: Tensor, axis: int) -> Tensor:
        """Attention along the last axis of cells: x [B, R, N, D] with key mask valid [B, R, N]."""
        B, R, N, D = x.shape
        q, k, v = self.qkv[axis](x).view(B, R, N, 3, self.heads, D // self.heads).permute(3, 0, 1, 4, 2, 5)  # [B, R, h, N, d]
        scores = q @ k.transpose(-1, -2) / (D // self.heads) ** 0.5                        # [B, R, h, N, N]
        scores = scores.masked_fill(~valid[:, :, None, None, :], torch.finfo(scores.dtype).min)
        y = scores.softmax(-1) @ v                                                          # [B, R, h, N, d]
        return self.out[axis](y.transpose(2, 3).reshape(B, R, N, D))

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:     # x [B, N, N, D], valid [B, N, N]
        rows = self._attend(x, valid, 0)                                                    # pairs sharing the head
        cols = self._attend(x.transpose(1, 2), valid.transpose(1, 2), 1).transpose(1, 2)    # pairs sharing the tail
        return rows + cols


@register_model("kd-docre")
class KDDocRE(DocREModel):
    """KD-DocRE: ATLOP features, grouped bilinear to pair features, axial attention over the pair map."""

    default_loss = "afl"

    def __init__(self, encoder: nn.Module, num_labels: int, emb_size: int = 768, block_size: int = 64,
                 layers: int = 6, heads: int = 8, entity_pooling: str = "auto"):
        super().__init__(encoder, num_labels, entity_pooling)
        H = self.hidden_size
        self.head_extractor = nn.Linear(2 * H, emb_size)
        self.tail_extractor = nn.Linear(2 * H, emb_size)
        self.projection = GroupedBilinear(emb_size, block_size, H, bias=False)
        self.axial = nn.ModuleList(AxialAttention(H, heads) for _ in range(layers))
        self.ffn = nn.ModuleList(nn.Linear(H, H) for _ in range(layers))
        self.norm = nn.ModuleList(nn.LayerNorm(H) for _ in range(layers))
        self.classifier = nn.Linear(H, num_labels)

    def refine(self, f: Tensor, pairs: Pairs, n_docs: int, n_entities: int) -> Tensor:
        """Axial-attention refinement of pair features f [P, H], returned for the same pairs [P, H]."""
        cells = (n_docs, n_entities, n_entities)
        x = f.new_zeros(cells + (f.shape[1],)).index_put((pairs.doc, pairs.head, pairs.tail), f)   # [B, N, N, H]
        valid = torch.zeros(cells, dtype=torch.bool, device=f.device)
        valid[pairs.doc, pairs.head, pairs.tail] = True
        for axial, ffn, norm in zip(self.axial, self.ffn, self.norm):
            x = norm(ffn(x + axial(x, valid)))
        return x[pairs.doc, pairs.head, pairs.tail] + f                                        # residual around the stack

    def head(self, x: PairInputs) -> Tensor:   # entities [E, H], contexts [P, H]
        zs = torch.tanh(entity_pair_linear(self.head_extractor, x.entity, x.pairs.s, x.context))  # [P, emb]
        zo = torch.tanh(entity_pair_linear(self.tail_extractor, x.entity, x.pairs.o, x.context))  # [P, emb]
        f = self.projection(zs, zo)                                                            # [P, H]
        y = self.refine(f, x.pairs, len(x.counts), max(x.counts, default=0))
        return self.classifier(y)                                                              # [P, num_labels]
