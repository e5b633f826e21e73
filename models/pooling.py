"""What the DocRE models share: entity pooling, localized context pooling, the grouped bilinear.

Notation: B documents padded to L word pieces, H hidden size, h attention heads, M mentions,
E entities and P entity pairs in the whole batch (documents one after another).

Entity: each mention m is a span of word pieces; its state x_m and attention row A_m are the means
over the span's pieces (ATLOP's "marker" pooling: the one-piece span of the leading `*`; "span"
pooling: the mention's own word pieces, see registry.py), then, as ATLOP,

    e = log sum_m exp(x_m)                      [H], a smooth max over mentions
    a = mean_m A_m                              [h, L]

Localized context of pair (s, o) (ATLOP): the tokens both entities attend to,

    q = mean_heads(a_s * a_o) / (sum_L(...) + 1e-5)     [L], a distribution over tokens
    c = q @ X                                           [H]

KD-DocRE sums the heads instead, with epsilon 1e-10 (CONTEXT_EPS): the same distribution but for the epsilon
(on the mean's scale 1e-10 / h against ATLOP's 1e-5); `heads` = "mean" or "sum" chooses.

With a frozen encoder e, c_so (and c_ss, DocuNet's map diagonal) are fixed per document: `PairInputs`
holds them, and every model's head works from PairInputs alone, so they can be stored once.

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

__all__ = ["CONTEXT_EPS", "Entities", "GroupedBilinear", "PairInputs", "Pairs", "entity_pair_linear", "gather_entities",
           "pair_attention", "pair_context", "pair_index", "pair_inputs_from_rows", "pair_rows"]


class Entities(NamedTuple):
    emb: Tensor          # [E, H]     log-sum-exp of mention states
    att: Tensor          # [E, h, L]  mean attention rows of mentions
    counts: list[int]    # entities per document


def gather_entities(seq: Tensor, att: Tensor, entity_spans: list[list[list[list[int]]]]) -> Entities:
    """Entity embeddings and attention from all mention spans [a, b) of the batch in one gather each.

    entity_spans[b][e] lists the spans of entity e of document b. Mention means and the per-entity
    log-sum-exp and mean are segment reductions (index_add) over the gathered pieces, so backward
    writes one attention-sized gradient, not one per mention.
    """
    doc, pos, mention = [], [], []  # per word piece: document, position, mention (batch-wide)
    owner, counts = [], []          # per mention: entity (batch-wide); per document: entities
    n_entities = 0
    for b, entities in enumerate(entity_spans):
        for spans in entities:
            for a, e in spans:
                doc += [b] * (e - a)
                pos += range(a, e)
                mention += [len(owner)] * (e - a)
                owner.append(n_entities)
            n_entities += 1
        counts.append(len(entities))
    doc, pos, mention, owner = (torch.tensor(v, dtype=torch.long, device=seq.device) for v in (doc, pos, mention, owner))
    M = len(owner)
    width = torch.bincount(mention, minlength=M).to(seq.dtype)                           # pieces per mention
    x = seq.new_zeros(M, seq.shape[-1]).index_add(0, mention, seq[doc, pos]) / width[:, None]   # [M, H]
    top = torch.full((n_entities, x.shape[1]), -math.inf, dtype=x.dtype, device=x.device)
    top = top.scatter_reduce(0, owner[:, None].expand_as(x), x.detach(), "amax")      # [E, H], for stability
    emb = top + torch.zeros_like(top).index_add(0, owner, (x - top[owner]).exp()).log()

    pieces = att[doc, :, pos]                                                           # [pieces, h, L]
    rows = pieces.new_zeros((M,) + pieces.shape[1:]).index_add(0, mention, pieces) / width[:, None, None]  # [M, h, L]
    n = torch.bincount(owner, minlength=n_entities).to(rows.dtype)                      # mentions per entity
    ent_att = rows.new_zeros((n_entities,) + rows.shape[1:]).index_add(0, owner, rows)
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


CONTEXT_EPS = {"mean": 1e-5, "sum": 1e-10}   # heads averaged (ATLOP) or summed (KD-DocRE): each one's epsilon


def pair_attention(att: Tensor, heads: str = "mean") -> Tensor:
    """Localized context weights [n, n, L] of every entity pair of one document from its entities' attention [n, h, L],
    the heads averaged (ATLOP) or summed (KD-DocRE), each with its epsilon (CONTEXT_EPS)."""
    # elementwise on purpose: as a bmm over L (einsum's plan) CPU BLAS re-plans for every new (n, L),
    # costing seconds per batch; n*n*h*L multiply-adds are little (87 MB at DocRED's worst, n=42, L=1024)
    q = att[:, None] * att[None, :]                                # [n, n, h, L]: a_s * a_o per head
    q = q.mean(2) if heads == "mean" else q.sum(2)                 # [n, n, L]
    return q / (q.sum(-1, keepdim=True) + CONTEXT_EPS[heads])


def pair_context(seq: Tensor, entities: Entities, pairs: Pairs, heads: str = "mean") -> tuple[Tensor, Tensor]:
    """Localized contexts c = q @ X of every pair [P, H] (documents in order) and of every entity with itself [E, H]."""
    contexts, selves, offset = [], [], 0
    for b, n in enumerate(entities.counts):
        q = pair_attention(entities.att[offset:offset + n], heads)   # [n, n, L]
        mine = pairs.doc == b
        contexts.append(q[pairs.head[mine], pairs.tail[mine]] @ seq[b])   # [P_b, L] @ [L, H]
        selves.append(q.diagonal().t() @ seq[b])                          # [n, L] @ [L, H]
        offset += n
    return torch.cat(contexts), torch.cat(selves)


class PairInputs(NamedTuple):
    """What every model's head reads: fixed per document when the encoder is frozen (see the module docstring)."""
    entity: Tensor         # [E, H] entity embeddings, documents one after another
    self_context: Tensor   # [E, H] localized context of (e, e): DocuNet's map diagonal
    context: Tensor        # [P, H] localized context of each pair, in hts order
    pairs: Pairs
    counts: list[int]      # entities per document


def pair_inputs_from_rows(rows: list[Tensor], hts: list[list[list[int]]], counts: list[int]) -> PairInputs:
    """PairInputs of a batch from each document's rows [n + n + P_b, H] (n = counts[b]): entities, self
    contexts, pair contexts in hts order; the layout `pair_rows` writes."""
    entity = torch.cat([r[:n] for r, n in zip(rows, counts)])
    self_context = torch.cat([r[n:2 * n] for r, n in zip(rows, counts)])
    context = torch.cat([r[2 * n:] for r, n in zip(rows, counts)])
    return PairInputs(entity, self_context, context, pair_index(hts, counts, entity.device), counts)


def pair_rows(x: PairInputs) -> list[Tensor]:
    """Each document's rows [n + n + P_b, H] of a batch's PairInputs (the inverse of pair_inputs_from_rows); P_b,
    the document's pairs in hts, is n(n-1) unless a pair-type filter left some out."""
    n_pairs = torch.bincount(x.pairs.doc, minlength=len(x.counts)).tolist()
    return [torch.cat(parts) for parts in zip(x.entity.split(x.counts), x.self_context.split(x.counts),
                                              x.context.split(n_pairs))]


def entity_pair_linear(layer: nn.Linear, entities: Tensor, index: Tensor, extra: Tensor) -> Tensor:
    """layer([entities[index]; extra]) [P, out], with the entity half of the product taken once per
    entity [E, H] and gathered, rather than once per pair: W [e; x] + b = (W_e e)[index] + W_x x + b."""
    H = entities.shape[1]
    return F.linear(entities, layer.weight[:, :H])[index] + F.linear(extra, layer.weight[:, H:], layer.bias)


CHUNK = 512   # pairs per step of the grouped bilinear
GROUP = 4096  # products per step: g = GROUP // (b*b) blocks at once, so one step's [CHUNK, g*b*b] products stay in cache


class _GroupedBilinearFn(torch.autograd.Function):
    """y = sum_j vec(x^j (z^j)^T) @ W_j for x, z [P, k, b] and W [k, b*b, out], a chunk of pairs and g blocks at a time.

    Saves only x, z, W: backward recomputes the outer products, so memory holds one [CHUNK, g*b*b] step
    instead of the [P, k*b*b] matrix autograd would keep. Outer products are broadcast multiplies: batched
    matrix products of b-vectors (bmm) cost several times more on CPUs.
    """

    @staticmethod
    def forward(ctx, x: Tensor, z: Tensor, weight: Tensor) -> Tensor:
        P, k, b = x.shape
        g = max(1, GROUP // (b * b))
        ctx.save_for_backward(x, z, weight)
        y = x.new_zeros(P, weight.shape[2])
        for c in range(0, P, CHUNK):
            for j in range(0, k, g):
                xs, zs = x[c:c + CHUNK, j:j + g], z[c:c + CHUNK, j:j + g]                       # [C, g, b]
                outer = (xs[..., :, None] * zs[..., None, :]).flatten(1)                        # [C, g*b*b]
                y[c:c + CHUNK].addmm_(outer, weight[j:j + g].flatten(0, 1))                      # [C, out]
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z, weight = ctx.saved_tensors
        P, k, b = x.shape
        g = max(1, GROUP // (b * b))
        gx, gz, gw = torch.empty_like(x), torch.empty_like(z), torch.zeros_like(weight)
        for c in range(0, P, CHUNK):
            gc = grad[c:c + CHUNK]                                                              # [C, out]
            for j in range(0, k, g):
                xs, zs = x[c:c + CHUNK, j:j + g], z[c:c + CHUNK, j:j + g]                       # [C, g', b]
                w = weight[j:j + g].flatten(0, 1)                                               # [g'*b*b, out]
                outer = (xs[..., :, None] * zs[..., None, :]).flatten(1)
                gw[j:j + g] += (outer.t() @ gc).view(-1, b * b, gw.shape[2])
                g_outer = (gc @ w.t()).view(-1, xs.shape[1], b, b)                              # dy/d(x_i z_i')
                gx[c:c + CHUNK, j:j + g] = (g_outer * zs[..., None, :]).sum(-1)                 # sum_i' g[i, i'] z[i']
                gz[c:c + CHUNK, j:j + g] = (g_outer * xs[..., :, None]).sum(-2)                 # sum_i x[i] g[i, i']
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
        # Autocast does not cast a custom Function's inputs: under bf16 autocast x and z arrive in bf16 while the
        # weight is float32, so the product runs in the weight's precision (the head's share of the work is small).
        with torch.autocast(x.device.type, enabled=False):
            y = _GroupedBilinearFn.apply(x.to(self.weight.dtype).reshape(shape), z.to(self.weight.dtype).reshape(shape),
                                         self.weight)
        return y if self.bias is None else y + self.bias
