"""What the DocRE models share: entity pooling, localized context pooling, the grouped bilinear.

Notation: B documents padded to L word pieces, H hidden size, h attention heads, M mentions,
E entities and P entity pairs in the whole batch (documents one after another).

Entity (ATLOP): from the states x_m at its mentions' leading markers and their attention rows A_m,

    e = log sum_m exp(x_m)                      [H], a smooth max over mentions
    a = mean_m A_m                              [h, L]

Localized context of pair (s, o) (ATLOP): the tokens both entities attend to,

    q = mean_heads(a_s * a_o) / sum_L(...)      [L], a distribution over tokens
    c = q @ X                                   [H]

Grouped bilinear (ATLOP): z_s, z_o in R^d are cut into k = d / b blocks of b, and

    y_r = sum_j z_s^j W_r^j z_o^j + bias_r      W_r^j in R^{b x b}

i.e. a linear layer on the k*b*b products z_s^j[i] z_o^j[i'], computed one block at a time so
the [P, k*b*b] product matrix is never held in memory (nor saved for backward).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Entities", "GroupedBilinear", "Pairs", "entity_pair_linear", "gather_entities", "pair_attention", "pair_context",
           "pair_index"]


class Entities(NamedTuple):
    emb: Tensor          # [E, H]     log-sum-exp of mention states
    att: Tensor          # [E, h, L]  mean attention rows of mentions
    counts: list[int]    # entities per document


def gather_entities(seq: Tensor, att: Tensor, entity_pos: list[list[list[int]]]) -> Entities:
    """Entity embeddings and attention from all mentions of the batch in one gather each.

    The per-entity log-sum-exp and mean are segment reductions (index_add) over the gathered
    mentions, so backward writes one attention-sized gradient, not one per mention.
    """
    doc, pos, owner, counts = [], [], [], []  # per mention: document, position, entity (batch-wide)
    entity = 0
    for b, entities in enumerate(entity_pos):
        for positions in entities:
            doc += [b] * len(positions)
            pos += positions
            owner += [entity] * len(positions)
            entity += 1
        counts.append(len(entities))
    doc, pos, owner = (torch.tensor(v, dtype=torch.long, device=seq.device) for v in (doc, pos, owner))

    x = seq[doc, pos]                                                     # [M, H]
    top = torch.full((entity, x.shape[1]), -math.inf, dtype=x.dtype, device=x.device)
    top = top.scatter_reduce(0, owner[:, None].expand_as(x), x.detach(), "amax")  # [E, H], for stability
    emb = top + torch.zeros_like(top).index_add(0, owner, (x - top[owner]).exp()).log()

    rows = att[doc, :, pos]                                               # [M, h, L]
    n = torch.bincount(owner, minlength=entity).to(rows.dtype)            # mentions per entity
    ent_att = torch.zeros((entity,) + rows.shape[1:], dtype=rows.dtype, device=rows.device).index_add(0, owner, rows)
    return Entities(emb, ent_att / n[:, None, None], counts)


class Pairs(NamedTuple):
    doc: Tensor    # [P] document of each pair
    head: Tensor   # [P] head entity within its document
    tail: Tensor   # [P] tail entity within its document
    s: Tensor      # [P] head entity, batch-wide (row of Entities.emb)
    o: Tensor      # [P] tail entity, batch-wide


def pair_index(hts: list[list[list[int]]], counts: list[int], device: torch.device | None = None) -> Pairs:
    """Index tensors of every pair in hts, documents in order."""
    doc, local, offset = [], [], []
    for b, (pairs, n) in enumerate(zip(hts, counts)):
        doc += [b] * len(pairs)
        local += pairs
        offset += [sum(counts[:b])] * len(pairs)
    doc, offset = (torch.tensor(v, dtype=torch.long, device=device) for v in (doc, offset))
    head, tail = torch.tensor(local, dtype=torch.long, device=device).reshape(-1, 2).unbind(1)
    return Pairs(doc, head, tail, offset + head, offset + tail)


def pair_attention(att: Tensor) -> Tensor:
    """Localized context weights [n, n, L] of every entity pair of one document from its entities' attention [n, h, L]."""
    # elementwise on purpose: as a bmm over L (einsum's plan) CPU BLAS re-plans for every new (n, L),
    # costing seconds per batch; n*n*h*L multiply-adds are little (87 MB at DocRED's worst, n=42, L=1024)
    q = (att[:, None] * att[None, :]).mean(2)                      # [n, n, L]: mean over heads of a_s * a_o
    return q / (q.sum(-1, keepdim=True) + 1e-5)                    # ATLOP's epsilon


def pair_context(seq: Tensor, entities: Entities, pairs: Pairs) -> Tensor:
    """Localized context c = q @ X [P, H] of every pair (documents in order)."""
    contexts, offset = [], 0
    for b, n in enumerate(entities.counts):
        q = pair_attention(entities.att[offset:offset + n])          # [n, n, L]
        mine = pairs.doc == b
        contexts.append(q[pairs.head[mine], pairs.tail[mine]] @ seq[b])   # [P_b, L] @ [L, H]
        offset += n
    return torch.cat(contexts)


def entity_pair_linear(layer: nn.Linear, entities: Tensor, index: Tensor, extra: Tensor) -> Tensor:
    """layer([entities[index]; extra]) [P, out], with the entity half of the product taken once per
    entity [E, H] and gathered, rather than once per pair: W [e; x] + b = (W_e e)[index] + W_x x + b."""
    H = entities.shape[1]
    return F.linear(entities, layer.weight[:, :H])[index] + F.linear(extra, layer.weight[:, H:], layer.bias)


CHUNK = 512  # pairs per step of the grouped bilinear: one block's [512, b*b] products stay in cache


class _GroupedBilinearFn(torch.autograd.Function):
    """y = sum_j vec(x^j (z^j)^T) @ W_j for x, z [P, k, b] and W [k, b*b, out], a chunk of pairs and a block at a time.

    Saves only x, z, W: backward recomputes each block's outer products, so memory holds one
    [CHUNK, b*b] block instead of the [P, k*b*b] matrix autograd would keep.
    """

    @staticmethod
    def forward(ctx, x: Tensor, z: Tensor, weight: Tensor) -> Tensor:
        P, k, b = x.shape
        ctx.save_for_backward(x, z, weight)
        y = x.new_zeros(P, weight.shape[2])
        for c in range(0, P, CHUNK):
            xc, zc = x[c:c + CHUNK], z[c:c + CHUNK]
            for j in range(k):
                outer = torch.bmm(xc[:, j, :, None], zc[:, j, None, :]).view(-1, b * b)   # [C, b*b]
                y[c:c + CHUNK].addmm_(outer, weight[j])                                  # [C, out]
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z, weight = ctx.saved_tensors
        P, k, b = x.shape
        gx, gz, gw = torch.empty_like(x), torch.empty_like(z), torch.zeros_like(weight)
        for c in range(0, P, CHUNK):
            xc, zc, gc = x[c:c + CHUNK], z[c:c + CHUNK], grad[c:c + CHUNK]
            for j in range(k):
                outer = torch.bmm(xc[:, j, :, None], zc[:, j, None, :]).view(-1, b * b)
                gw[j].addmm_(outer.t(), gc)                                              # [b*b, out]
                g_outer = (gc @ weight[j].t()).view(-1, b, b)                            # dy/d(x_i z_i')
                gx[c:c + CHUNK, j] = torch.bmm(g_outer, zc[:, j, :, None]).squeeze(-1)   # sum_i' g[i, i'] z[i']
                gz[c:c + CHUNK, j] = torch.bmm(xc[:, j, None, :], g_outer).squeeze(1)    # sum_i x[i] g[i, i']
        return gx, gz, gw


class GroupedBilinear(nn.Module):
    """ATLOP's grouped bilinear layer: [P, d] x [P, d] -> [P, out_features], d = in_features, blocks of block_size."""

    def __init__(self, in_features: int, block_size: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features % block_size:
            raise ValueError(f"emb_size={in_features} is not a multiple of block_size={block_size}: pick sizes that divide")
        self.blocks, self.block_size = in_features // block_size, block_size
        # weight[j, i*b + i', r] is ATLOP's nn.Linear(emb_size * block_size, out).weight[r, j*b*b + i*b + i']
        self.weight = nn.Parameter(torch.empty(self.blocks, block_size * block_size, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1 / math.sqrt(in_features * block_size)  # nn.Linear's default initialization
        for p in (self.weight, self.bias):
            if p is not None:
                nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        shape = (x.shape[0], self.blocks, self.block_size)
        y = _GroupedBilinearFn.apply(x.reshape(shape), z.reshape(shape), self.weight)
        return y if self.bias is None else y + self.bias
