"""DocuNet (Zhang et al., 2021): relation extraction as semantic segmentation of an entity-by-entity map.

For each document the localized contexts of all n x n entity pairs (diagonal included), projected
to `unet_in_dim` channels, form an image; a U-Net over the images of the batch (N x N, N =
max_entities) gives every cell a feature u_so that has seen the pairs around it. Then, as ATLOP, with
entity embeddings e_s, e_o:

    I[b, :, s, o] = W_in c_so + b_in           [unet_in_dim, N, N]   (context-based channels)
    U = UNet(I)                                [unet_out_dim, N, N]
    z_s = tanh(W_s [e_s; u_so]),  z_o = tanh(W_o [e_o; u_so])
    logits = GroupedBilinear(z_s, z_o)         [num_labels]

trained with the balanced softmax (multi-label categorical cross-entropy) by default. The diagonal
cells hold each entity's context with itself (PairInputs.self_context). A document with more than
max_entities entities grows the map of its batch to fit rather than failing.

The cells past a document's n entities (`pad_map`): DocuNet pads its list of entity attentions with the
last entity's, so cell (s, o) there holds the context of (min(s, n-1), min(o, n-1)), a real pair's
("reference", the default); "zero" gives them zero context (W_in 0 + b_in). The U-Net's convolutions
and, in training, its BatchNorm statistics see those cells. Mentions are marked as DocuNet marks them
(`default_marker`: typed [unused] markers for BERT, `*` for RoBERTa; models/features.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .features import TYPED
from .pooling import GroupedBilinear, PairInputs, entity_pair_linear
from .registry import DocREModel, register_model

PAD_MAPS = ("reference", "zero")


def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    """(3x3 conv, batch norm, ReLU) twice; padding keeps the map size."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """DocuNet's U-Net: two 2x max-pool downsamplings (d -> 2d -> 2d channels) and two bilinear upsamplings with skips."""

    def __init__(self, c_in: int, c_out: int, d: int = 256):
        super().__init__()
        self.inc = double_conv(c_in, d)
        self.down1 = double_conv(d, 2 * d)
        self.down2 = double_conv(2 * d, 2 * d)
        self.up1 = double_conv(4 * d, d)            # [down1 skip; upsampled down2]
        self.up2 = double_conv(2 * d, d // 2)       # [inc skip; upsampled up1]
        self.out = nn.Conv2d(d // 2, c_out, 1)

    @staticmethod
    def _up(x: Tensor, skip: Tensor) -> Tensor:
        """x upsampled 2x, padded to skip's size (odd sizes lose a row to pooling), concatenated after skip."""
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return torch.cat([skip, x], dim=1)

    def forward(self, x: Tensor) -> Tensor:                    # [B, c_in, N, N]
        x1 = self.inc(x)                                       # [B, d, N, N]
        x2 = self.down1(F.max_pool2d(x1, 2))                   # [B, 2d, N/2, N/2]
        x3 = self.down2(F.max_pool2d(x2, 2))                   # [B, 2d, N/4, N/4]
        x = self.up1(self._up(x3, x2))                         # [B, d, N/2, N/2]
        x = self.up2(self._up(x, x1))                          # [B, d/2, N, N]
        return self.out(x)                                     # [B, c_out, N, N]


@register_model("docunet")
class DocuNet(DocREModel):
    """DocuNet: U-Net over the entity-by-entity context map, grouped bilinear classifier."""

    default_loss = "balanced-softmax"
    default_marker = TYPED

    def __init__(self, encoder: nn.Module, num_labels: int, emb_size: int = 768, block_size: int = 64,
                 max_entities: int = 42, unet_in_dim: int = 3, unet_out_dim: int = 256, down_dim: int = 256,
                 pad_map: str = "reference", entity_pooling: str = "auto"):
        super().__init__(encoder, num_labels, entity_pooling)
        if max_entities < 4 or down_dim % 2:
            raise ValueError(f"max_entities={max_entities}, down_dim={down_dim}: the U-Net needs max_entities >= 4 and an even down_dim")
        if pad_map not in PAD_MAPS:
            raise ValueError(f"pad_map={pad_map!r}: use one of {', '.join(PAD_MAPS)}")
        H = self.hidden_size
        self.max_entities, self.pad_map = max_entities, pad_map
        self.channels = nn.Linear(H, unet_in_dim)
        self.unet = UNet(unet_in_dim, unet_out_dim, down_dim)
        self.head_extractor = nn.Linear(H + unet_out_dim, emb_size)
        self.tail_extractor = nn.Linear(H + unet_out_dim, emb_size)
        self.bilinear = GroupedBilinear(emb_size, block_size, num_labels)

    def context_map(self, x: PairInputs) -> Tensor:
        """The U-Net input [B, unet_in_dim, N, N]: projected localized context of every entity pair, W_in c_so + b_in."""
        N = max([self.max_entities] + x.counts)
        pairs, own_context = self.channels(x.context), self.channels(x.self_context)   # [P, C], [E, C]
        # cells past a document's entities: b_in, zero context (in the projections' dtype, bf16 under autocast)
        image = self.channels.bias.to(pairs.dtype).expand(len(x.counts), N, N, -1).clone()
        image[x.pairs.doc, x.pairs.head, x.pairs.tail] = pairs
        docs = torch.repeat_interleave(torch.arange(len(x.counts), device=image.device),
                                       torch.tensor(x.counts, device=image.device))
        own = torch.cat([torch.arange(n, device=image.device) for n in x.counts])
        image[docs, own, own] = own_context
        if self.pad_map == "reference":   # cell (s, o) past the entities: that of (min(s, n-1), min(o, n-1))
            last = torch.tensor(x.counts, device=image.device)[:, None] - 1                  # [B, 1]
            at = torch.arange(N, device=image.device).minimum(last).clamp(min=0)             # [B, N]
            batch = torch.arange(len(x.counts), device=image.device)[:, None, None]
            image = image[batch, at[:, :, None], at[:, None, :]]
        return image.permute(0, 3, 1, 2)

    def head(self, x: PairInputs) -> Tensor:   # entities [E, H], contexts [P, H] and [E, H]
        cells = self.unet(self.context_map(x)).permute(0, 2, 3, 1)                          # [B, N, N, unet_out]
        u = cells[x.pairs.doc, x.pairs.head, x.pairs.tail]                                   # [P, unet_out]
        zs = torch.tanh(entity_pair_linear(self.head_extractor, x.entity, x.pairs.s, u))    # [P, emb]
        zo = torch.tanh(entity_pair_linear(self.tail_extractor, x.entity, x.pairs.o, u))    # [P, emb]
        return self.bilinear(zs, zo)                                                         # [P, num_labels]
