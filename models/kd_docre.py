"""KD-DocRE (Tan et al., 2022): ATLOP's pair features refined by axial attention over the entity-pair map.

ATLOP's head/tail features z_s, z_o (models/atlop.py) go through the grouped bilinear to a pair
feature of the encoder's width instead of to logits; the features of a document's pairs form an
N x N map (N = most entities in the batch) that axial attention layers refine, each pair attending
to the pairs sharing its head (its row) and its tail (its column):

    f_so = GroupedBilinear(z_s, z_o)                           [H], no bias
    x = the N x N map of the f_so
    repeat layers:  x = LayerNorm(W (x + RowAttn(x) + ColAttn(x)) + b)
    logits_so = W_c (x_so + f_so) + b_c                        [num_labels]

Departures from and agreements with the original (tonytan48/KD-DocRE), each an option:
    context     "sum" (default, the original's): the localized context sums the attention heads, epsilon
                1e-10; "mean" is ATLOP's (epsilon 1e-5), which lets a frozen encoder's stored rows be
                shared with ATLOP's (models/pooling.py, models/store.py).
    self_pairs  True (default, the original's): the training loss averages over all n x n pairs of each
                document, the self pairs (s, s) included with logits fixed at 0 and the label TH, so each
                adds a constant and the gradient is the pairs' own times sum n(n-1) / sum n^2; False:
                over the pairs alone.
    map_cells   "pairs" (default, ours): cells that are not pairs of the batch (the diagonal, entities
                past a document's own) are masked out as keys. "all" is the original's: a map of
                max(max_entities, n) cells a side (42: the original's fixed size) where every cell takes
                part, the diagonal holding the features of (e, e, c_ee) and the other cells those of
                zero entities and context (tanh of the extractors' biases), as the original pads. We
                mask because those cells carry no information about the document; the README's parity
                section gives the measured difference.
Trained with the adaptive focal loss by default; knowledge distillation from a teacher's logits is the
trainer's MSE term on these logits.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .pooling import GroupedBilinear, PairInputs, entity_pair_linear
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


CONTEXTS = ("sum", "mean")
MAP_CELLS = ("pairs", "all")


@register_model("kd-docre")
class KDDocRE(DocREModel):
    """KD-DocRE: ATLOP features, grouped bilinear to pair features, axial attention over the pair map."""

    default_loss = "afl"

    def __init__(self, encoder: nn.Module, num_labels: int, emb_size: int = 768, block_size: int = 64,
                 layers: int = 6, heads: int = 8, context: str = "sum", self_pairs: bool = True,
                 map_cells: str = "pairs", max_entities: int = 42, entity_pooling: str = "auto"):
        super().__init__(encoder, num_labels, entity_pooling)
        for option, value, allowed in (("context", context, CONTEXTS), ("map_cells", map_cells, MAP_CELLS)):
            if value not in allowed:
                raise ValueError(f"{option}={value!r}: use one of {', '.join(allowed)}")
        H = self.hidden_size
        self.context_heads, self.self_pairs = context, self_pairs
        self.map_cells, self.max_entities = map_cells, max_entities
        self.head_extractor = nn.Linear(2 * H, emb_size)
        self.tail_extractor = nn.Linear(2 * H, emb_size)
        self.projection = GroupedBilinear(emb_size, block_size, H, bias=False)
        self.axial = nn.ModuleList(AxialAttention(H, heads) for _ in range(layers))
        self.ffn = nn.ModuleList(nn.Linear(H, H) for _ in range(layers))
        self.norm = nn.ModuleList(nn.LayerNorm(H) for _ in range(layers))
        self.classifier = nn.Linear(H, num_labels)

    def features(self, entity: Tensor, s: Tensor, o: Tensor, context: Tensor) -> Tensor:
        """Pair features f = GroupedBilinear(z_s, z_o) [P, H] of entities [E, H] s, o [P] with contexts [P, H]."""
        zs = torch.tanh(entity_pair_linear(self.head_extractor, entity, s, context))        # [P, emb]
        zo = torch.tanh(entity_pair_linear(self.tail_extractor, entity, o, context))        # [P, emb]
        return self.projection(zs, zo)                                                       # [P, H]

    def pair_map(self, x: PairInputs, f: Tensor) -> tuple[Tensor, Tensor]:
        """The map [B, N, N, H] of the batch's pair features f [P, H] and which cells are keys [B, N, N] (map_cells)."""
        p, B, H = x.pairs, len(x.counts), f.shape[1]
        if self.map_cells == "pairs":
            N = max(x.counts, default=0)
            cells = f.new_zeros(B, N, N, H)
            valid = torch.zeros(B, N, N, dtype=torch.bool, device=f.device)
            valid[p.doc, p.head, p.tail] = True
        else:   # the original's: padding is the features of zero entities and context, the diagonal is (e, e)
            N = max([self.max_entities] + x.counts)
            zero = f.new_zeros(1, 2 * H)
            pad = self.projection(torch.tanh(self.head_extractor(zero)), torch.tanh(self.tail_extractor(zero)))
            cells = pad.to(f.dtype).expand(B, N, N, H).clone()
            valid = torch.ones(B, N, N, dtype=torch.bool, device=f.device)
            docs = torch.repeat_interleave(torch.arange(B, device=f.device), torch.tensor(x.counts, device=f.device))
            own = torch.cat([torch.arange(n, device=f.device) for n in x.counts])
            every = torch.arange(len(own), device=f.device)
            cells[docs, own, own] = self.features(x.entity, every, every, x.self_context).to(f.dtype)
        cells[p.doc, p.head, p.tail] = f
        return cells, valid

    def head(self, x: PairInputs) -> Tensor:   # entities [E, H], contexts [P, H]
        f = self.features(x.entity, x.pairs.s, x.pairs.o, x.context)                        # [P, H]
        cells, valid = self.pair_map(x, f)                                                   # [B, N, N, H]
        for axial, ffn, norm in zip(self.axial, self.ffn, self.norm):
            cells = norm(ffn(cells + axial(cells, valid)))
        y = cells[x.pairs.doc, x.pairs.head, x.pairs.tail] + f                               # residual around the stack
        return self.classifier(y)                                                            # [P, num_labels]

    def training_rows(self, logits: Tensor, labels: Tensor, counts: list[int]) -> tuple[Tensor, Tensor]:
        """With self_pairs, the batch's pairs and one row per entity for its self pair: logits 0, label TH."""
        if not self.self_pairs:
            return logits, labels
        selves = sum(counts)
        th = labels.new_zeros(selves, labels.shape[1])
        th[:, 0] = 1
        return torch.cat([logits, logits.new_zeros(selves, logits.shape[1])]), torch.cat([labels, th])
