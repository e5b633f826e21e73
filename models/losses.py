"""Training losses for document-level relation extraction, selected by name.

Each takes logits and multi-hot labels [pairs, 1 + C] (column 0 the threshold class TH) and returns a scalar;
that contract, the base class DocRELoss and the registry are in models/loss_registry.py, and importable here.

Registered losses (`docrobust losses list` lists them):

    atl                  ATLOP (Zhou et al., 2021) adaptive thresholding: positives above TH, TH above negatives.
    cmm                  Concentrated Margin Maximization (COMM, arXiv 2503.13885), our reconstruction, below.
    cmm-no-concentration cmm with the sigmoid scale 1 and no difficulty weight.
    cmm-fixed-margin     cmm with one global margin m for every relation.
    cmm-no-margin        cmm with m = 0.
    cmm+atl              cmm plus ATLOP's ranking loss.
    afl                  KD-DocRE (Tan et al., 2022) adaptive focal loss.
    balanced-softmax     DocuNet (Zhang et al., 2021) multi-label categorical cross-entropy, threshold 0.
    bce                  Binary cross-entropy on the relation columns, threshold 0.
    pu                   SSR-PU (Wang et al., 2022) non-negative positive-unlabeled ranking risk.

CMM, reconstructed. The COMM paper describes CMM in prose and formulas but publishes no code; this
is our reading of it. With s_r = z_r - z_TH (the relation's score above the threshold class) and
y_r = +1 for a labeled relation, -1 otherwise, for relation columns r = 1..C:

    d_r = sigmoid(gamma * y_r * s_r)            concentrated margin: gamma >= 1 sharpens the sigmoid
                                                around the threshold (paper: gamma in {1, 1.2, 1.4, 1.6, 2})
    m_r = m * (n_min / n_r) ** (1/4)            distribution-aware target margin; n_r is r's count in the
                                                training labels, n_min the smallest non-zero count, so the
                                                rarest relations get the full m (paper: m in {0.1, ..., 0.4});
                                                m_r = m without counts or when n_r = 0
    w_r = (1 - d_r) ** gamma, detached          difficulty weight: badly separated pairs weigh most
    l_r = w_r * softplus(logit(1/2 + m_r) - gamma * y_r * s_r)
                                                = -w_r * log sigmoid(gamma * y_r * s_r - logit(1/2 + m_r)),
                                                small once d_r exceeds the target 1/2 + m_r

    loss = mean over pairs of [ mean_{r positive} l_r + mean_{r negative} l_r ]

(a pair without positives contributes its negative mean alone). Each choice above is one keyword,
so every ablation is `cmm` with one or two keywords pinned, never a copy of the math.

The reduction is the choice the paper leaves open: "balanced" (our reading, the default) averages each pair's
negatives, so a false-positive cell weighs 1/|N_p| of a missed positive (|N_p| = C - |P_p|; DocRED has C = 96);
"pair-sum" sums them (a false-positive cell weighs as much as a missed positive); "mean" averages over all
cells. What each does to precision and recall is measured in the README (COMM's grid, benchmarks/cmm_grid.py).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .loss_registry import LOSSES, DocRELoss, build_loss, get_label, register_loss

__all__ = ["LOSSES", "DocRELoss", "build_loss", "get_label", "register_loss"]


class _ZeroThreshold(DocRELoss):
    """Losses trained against the fixed logit 0 rather than the TH column."""

    def threshold(self, logits: Tensor) -> Tensor:
        """[pairs, 1] zeros: relations are predicted with logit > 0."""
        return torch.zeros_like(logits[:, :1])


# ----------------------------------------------------------------------------- shared pieces

def _positives(logits: Tensor, labels: Tensor) -> Tensor:
    """Bool [pairs, C]: which relation columns are labeled, after checking the two shapes agree."""
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be [pairs, 1 + relations] with at least one relation; got {tuple(logits.shape)}")
    if labels.shape != logits.shape:
        raise ValueError(f"labels {tuple(labels.shape)} must have the shape of logits {tuple(logits.shape)}")
    return labels[:, 1:] > 0


def _mean(x: Tensor, count: Tensor) -> Tensor:
    """x / count with empty groups (count 0) giving 0 instead of nan."""
    return x / count.clamp(min=1)


def _pair_mean(per_pair: Tensor) -> Tensor:
    """Mean over pairs [pairs] -> scalar; 0 for an empty batch."""
    return per_pair.sum() / max(per_pair.numel(), 1)


def _rank_positives_above_th(logits: Tensor, pos: Tensor) -> Tensor:
    """Per pair, sum over positives r of -log softmax_{P + TH}(z)_r  [pairs].

    Each positive is a softmax 'winner' against TH and the other positives: it pushes z_r above z_TH.
    """
    candidates = torch.cat([torch.ones_like(pos[:, :1]), pos], dim=1)       # TH always competes
    lse = logits.masked_fill(~candidates, -math.inf).logsumexp(dim=1, keepdim=True)  # [pairs, 1]
    return torch.where(pos, lse - logits[:, 1:], 0.0).sum(dim=1)


def _rank_th_above_negatives(logits: Tensor, pos: Tensor) -> Tensor:
    """Per pair, -log softmax_{N + TH}(z)_TH  [pairs]: TH wins against every negative relation."""
    candidates = torch.cat([torch.ones_like(pos[:, :1]), ~pos], dim=1)
    return logits.masked_fill(~candidates, -math.inf).logsumexp(dim=1) - logits[:, 0]


def atl_loss(logits: Tensor, pos: Tensor) -> Tensor:
    """ATLOP's adaptive-thresholding loss, averaged over pairs (see ATLoss)."""
    per_pair = _rank_positives_above_th(logits, pos) + _rank_th_above_negatives(logits, pos)
    return _pair_mean(per_pair)


def _counts_tensor(class_counts: Sequence[float] | Tensor | None, loss: str) -> Tensor | None:
    """Validated per-relation training counts as a float64 tensor, or None."""
    if class_counts is None:
        return None
    counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
    if not torch.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(f"{loss}: class_counts must be finite and non-negative (one per relation, TH excluded)")
    return counts


def _check_columns(values: Tensor | None, relations: int, option: str, loss: str) -> None:
    """Raise if a per-relation option does not have one entry per relation column."""
    if values is not None and values.numel() != relations:
        raise ValueError(f"{loss}: {option} has {values.numel()} entries but logits have {relations} relation "
                         f"columns; pass one value per relation in label-column order, TH excluded")


def _choice(value: str, allowed: tuple[str, ...], option: str, loss: str) -> str:
    """`value` if it is one of `allowed`, else a ValueError naming the option and the loss."""
    if value not in allowed:
        raise ValueError(f"{loss}: {option} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


# ----------------------------------------------------------------------------- ATLOP

@register_loss("atl")
class ATLoss(DocRELoss):
    """ATLOP adaptive thresholding: rank positives above TH and TH above negatives (Zhou et al., 2021).

    Per pair: L = -sum_{r in P} log softmax_{P + TH}(z)_r - log softmax_{N + TH}(z)_TH, averaged over
    pairs. Predicts relations above TH.
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return atl_loss(logits, _positives(logits, labels))


# ----------------------------------------------------------------------------- CMM

@register_loss("cmm")
class CMMLoss(DocRELoss):
    """Concentrated Margin Maximization (COMM, arXiv 2503.13885), our reconstruction: see module docstring.

    Options:
        m              target margin in probability space above 1/2, 0 <= m < 0.5 (default 0.2)
        gamma          concentration of the sigmoid and focusing exponent of the weight (default 1.4)
        class_counts   n_r per relation column (TH excluded), the training labels' counts; sets m_r
        margin         "class": m_r = m (n_min / n_r)^(1/4); "global": m_r = m
        concentrate    False: sigmoid scale 1 instead of gamma
        weight         "difficulty": w_r = (1 - d_r)^gamma; "none": w_r = 1
        detach_weight  stop the gradient through w_r (default True)
        reduction      "balanced": per pair mean(positives) + mean(negatives), then mean over pairs;
                       "pair-sum": per pair mean(positives) + sum(negatives), then mean over pairs;
                       "mean": mean over all pair-relation cells; "sum": sum over them
        atl_weight     weight of ATLOP's ranking loss added on top (default 0)
    """

    train_stats = ("class_counts",)

    def __init__(self, *, m: float = 0.2, gamma: float = 1.4, class_counts: Sequence[float] | Tensor | None = None,
                 margin: str = "class", concentrate: bool = True, weight: str = "difficulty",
                 detach_weight: bool = True, reduction: str = "balanced", atl_weight: float = 0.0) -> None:
        super().__init__()
        loss = self.name or "cmm"
        if not 0.0 <= m < 0.5:
            raise ValueError(f"{loss}: m must satisfy 0 <= m < 0.5 so that logit(1/2 + m) is finite; got m={m}")
        if not gamma > 0:
            raise ValueError(f"{loss}: gamma must be > 0 (the paper uses 1 to 2); got gamma={gamma}")
        if atl_weight < 0:
            raise ValueError(f"{loss}: atl_weight must be >= 0; got {atl_weight}")
        self.m, self.gamma, self.atl_weight = float(m), float(gamma), float(atl_weight)
        self.margin = _choice(margin, ("class", "global"), "margin", loss)
        self.weight = _choice(weight, ("difficulty", "none"), "weight", loss)
        self.reduction = _choice(reduction, ("balanced", "pair-sum", "mean", "sum"), "reduction", loss)
        self.concentrate, self.detach_weight = bool(concentrate), bool(detach_weight)
        counts = _counts_tensor(class_counts, loss)
        self.register_buffer("target", self._targets(counts), persistent=False)  # [C] or [1]

    def _targets(self, counts: Tensor | None) -> Tensor:
        """logit(1/2 + m_r) per relation: [C] with class margins and counts, else one shared value [1]."""
        margins = torch.tensor([self.m], dtype=torch.float64)
        if self.margin == "class" and counts is not None and (counts > 0).any():
            n_min = counts[counts > 0].min()
            margins = torch.where(counts > 0, self.m * (n_min / counts.clamp(min=n_min)) ** 0.25, self.m)
        return torch.logit(0.5 + margins)  # float64; cast to the logits' dtype in forward

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos = _positives(logits, labels)                          # [pairs, C]
        if self.target.numel() > 1:
            _check_columns(self.target, pos.shape[1], "class_counts", self.name or "cmm")
        s = logits[:, 1:] - logits[:, :1]                         # [pairs, C] score above TH
        scale = self.gamma if self.concentrate else 1.0
        ys = scale * torch.where(pos, s, -s)                      # gamma * y_r * s_r
        cell = F.softplus(self.target.to(logits) - ys)           # [pairs, C]
        if self.weight == "difficulty":
            w = torch.exp(self.gamma * F.logsigmoid(-ys))         # (1 - d_r)^gamma, stable for large |ys|
            cell = cell * (w.detach() if self.detach_weight else w)
        if self.reduction in ("balanced", "pair-sum"):
            n_pos = pos.sum(dim=1)
            negatives = torch.where(pos, 0.0, cell).sum(dim=1)
            if self.reduction == "balanced":
                negatives = _mean(negatives, pos.shape[1] - n_pos)
            loss = _pair_mean(_mean(torch.where(pos, cell, 0.0).sum(dim=1), n_pos) + negatives)
        elif self.reduction == "mean":
            loss = cell.sum() / max(cell.numel(), 1)
        else:
            loss = cell.sum()
        if self.atl_weight:
            loss = loss + self.atl_weight * atl_loss(logits, pos)
        return loss


def _variant(class_name: str, name: str, base: type[DocRELoss], summary: str, **fixed: Any) -> type[DocRELoss]:
    """Register `base` under `name` with some options pinned: an ablation, same math, fewer knobs."""
    def __init__(self: DocRELoss, **options: Any) -> None:
        pinned = sorted(set(options) & set(fixed))
        if pinned:
            raise TypeError(f"loss {name!r} fixes {', '.join(f'{k}={fixed[k]!r}' for k in pinned)}; "
                            f"use {base.name!r} to choose them")
        base.__init__(self, **options, **fixed)
    cls = type(class_name, (base,), {"__init__": __init__, "__doc__": summary, "fixed": fixed,
                                     "__module__": __name__})
    return register_loss(name)(cls)


CMMNoConcentration = _variant("CMMNoConcentration", "cmm-no-concentration", CMMLoss,
                              "CMM ablation: sigmoid scale 1 (no concentration) and w_r = 1.",
                              concentrate=False, weight="none")
CMMFixedMargin = _variant("CMMFixedMargin", "cmm-fixed-margin", CMMLoss,
                          "CMM ablation: one global margin m_r = m instead of distribution-aware margins.",
                          margin="global")
CMMNoMargin = _variant("CMMNoMargin", "cmm-no-margin", CMMLoss,
                       "CMM ablation: m = 0, target d_r > 1/2 only.", m=0.0)
CMMPlusATL = _variant("CMMPlusATL", "cmm+atl", CMMLoss,
                      "CMM plus ATLOP's ranking loss (weight 1).", atl_weight=1.0)


# ----------------------------------------------------------------------------- baselines

@register_loss("afl")
class AFLoss(DocRELoss):
    """KD-DocRE adaptive focal loss: each positive against TH alone, focally weighted (Tan et al., 2022).

    With s_r = z_r - z_TH and p_r = sigmoid(s_r) (the softmax of r against TH alone):
        L = sum_{r in P} -(1 + (1 - p_r)^gamma) log p_r  -  log softmax_{N + TH}(z)_TH,
    averaged over pairs. As in KD-DocRE the focal factor is not detached; gamma is its `gamma_pos`
    (default 1.0; its `gamma_neg` is unused there). Predicts relations above TH.
    """

    def __init__(self, *, gamma: float = 1.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"afl: gamma must be >= 0; got {gamma}")
        self.gamma = float(gamma)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos = _positives(logits, labels)
        s = logits[:, 1:] - logits[:, :1]
        focal = 1.0 + torch.exp(self.gamma * F.logsigmoid(-s))     # 1 + (1 - p_r)^gamma
        per_pair = torch.where(pos, -focal * F.logsigmoid(s), 0.0).sum(dim=1) + _rank_th_above_negatives(logits, pos)
        return _pair_mean(per_pair)


@register_loss("balanced-softmax")
class BalancedSoftmaxLoss(_ZeroThreshold):
    """DocuNet balanced softmax: multi-label categorical cross-entropy against the logit 0 (Zhang et al., 2021).

    Followed exactly as DocuNet: column 0 is an ordinary 'no relation' class, positive for pairs with
    no relation, and every class is compared with a fixed zero logit:
        L = log(1 + sum_{c in Neg} e^{z_c}) + log(1 + sum_{c in Pos} e^{-z_c}),  over all 1 + C columns,
    averaged over pairs. Predicts relations with logit > 0 (the TH column is not the threshold here).
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos = _positives(logits, labels)
        pos = torch.cat([~pos.any(dim=1, keepdim=True), pos], dim=1)   # [pairs, 1 + C], column 0 = no relation
        zero = torch.zeros_like(logits[:, :1])
        neg_term = torch.cat([logits.masked_fill(pos, -math.inf), zero], dim=1).logsumexp(dim=1)
        pos_term = torch.cat([(-logits).masked_fill(~pos, -math.inf), zero], dim=1).logsumexp(dim=1)
        per_pair = neg_term + pos_term
        return _pair_mean(per_pair)


@register_loss("bce")
class BCELoss(_ZeroThreshold):
    """Binary cross-entropy on each relation column independently; TH column unused, threshold 0.

    L = mean over pairs and relations of -[y log sigmoid(z) + (1 - y) log sigmoid(-z)]; predicts
    relations with logit > 0, i.e. sigmoid > 1/2.
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos = _positives(logits, labels)
        cells = F.binary_cross_entropy_with_logits(logits[:, 1:], pos.to(logits.dtype), reduction="sum")
        return cells / max(pos.numel(), 1)


@register_loss("pu")
class PULoss(DocRELoss):
    """SSR-PU non-negative positive-unlabeled ranking risk, one binary PU problem per relation (Wang et al., 2022).

    With s_r = z_r - z_TH (SSR-PU's ranking form), the squared loss l(s, y) = (y s - margin)^2 / 4 and,
    per relation r, P_r the pairs labeled r and U_r the rest (unlabeled, not negative):
        R_r^- = mean_{U_r} l(s, -1) - pi_r mean_{P_r} l(s, -1)       unlabeled minus positive part of it
        R_r^+ = pi_r sqrt((1 - pi_r) / pi_r) mean_{P_r} l(s, +1)   SSR-PU's re-weighted positive risk
        R_r = R_r^+ + R_r^-   if R_r^- >= beta,  else  -nn_gamma * R_r^-   (non-negative correction:
                                                                          push the negative risk back up)
    and L = sum_r R_r. pi_r is the class prior of r among all pairs. As SSR-PU, by default it is
    prior_scale (its `e`, 3.0) times r's labeled frequency, which under-counts the true prior when
    labels are missing; that frequency comes from class_counts / n_pairs when both are given, else
    from the batch (pi_r is clamped just below 1, which a small batch can exceed). `prior` (a float,
    or one per relation) sets pi_r directly. shift=True is SSR-PU's S-PU: with the labeled
    frequency pi_l and pi_u = (pi_r - pi_l) / (1 - pi_l),
        R_r^- = (1 - pi_r) / (1 - pi_u) mean_{U_r} l(s, -1) - pi_u (1 - pi_r) / (1 - pi_u) mean_{P_r} l(s, -1).
    margin defaults to SSR-PU's 1.0 (its published DocRED runs use shift=True, margin=0.25).
    Predicts relations above TH, as SSR-PU.
    """

    train_stats = ("class_counts", "n_pairs")

    def __init__(self, *, prior: float | Sequence[float] | None = None, prior_scale: float = 3.0,
                 class_counts: Sequence[float] | Tensor | None = None, n_pairs: int | None = None,
                 margin: float = 1.0, shift: bool = False, beta: float = 0.0, nn_gamma: float = 1.0) -> None:
        super().__init__()
        priors = None if prior is None else torch.as_tensor(prior, dtype=torch.float64).flatten()
        if priors is not None and not ((priors > 0) & (priors < 1)).all():
            raise ValueError(f"pu: prior must lie in (0, 1), one value or one per relation; got {prior}")
        if prior_scale <= 0:
            raise ValueError(f"pu: prior_scale must be > 0; got {prior_scale}")
        counts = _counts_tensor(class_counts, "pu")
        if (counts is None) != (n_pairs is None) or (n_pairs is not None and n_pairs <= 0):
            raise ValueError("pu: give class_counts and n_pairs (> 0, all training pairs) together, or neither "
                             "to estimate the labeled frequency from each batch")
        self.prior_scale, self.margin, self.shift = float(prior_scale), float(margin), bool(shift)
        self.beta, self.nn_gamma = float(beta), float(nn_gamma)
        self.register_buffer("prior", priors, persistent=False)
        self.register_buffer("labeled_freq", None if counts is None else counts / n_pairs, persistent=False)

    def _priors(self, pos: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """(pi_r, labeled frequency pi_l) per relation [C], in `like`'s dtype and device, clamped below 1."""
        _check_columns(self.labeled_freq, pos.shape[1], "class_counts", "pu")
        if self.labeled_freq is not None:
            freq = self.labeled_freq.to(like)
        else:
            freq = pos.to(like.dtype).sum(dim=0) / max(len(pos), 1)
        pi = self.prior.to(like) if self.prior is not None else self.prior_scale * freq
        if pi.numel() > 1:
            _check_columns(pi, pos.shape[1], "prior", "pu")
        below_one = 1.0 - 1e-6
        return pi.clamp(max=below_one).expand(pos.shape[1]), freq.clamp(max=below_one)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        pos = _positives(logits, labels)                          # [pairs, C]
        s = logits[:, 1:] - logits[:, :1]
        pi, pi_l = self._priors(pos, logits)
        as_neg = 0.25 * (s + self.margin) ** 2                    # l(s, -1)
        as_pos = 0.25 * (s - self.margin) ** 2                    # l(s, +1)
        n_pos = pos.sum(dim=0)
        u_neg = _mean(torch.where(pos, 0.0, as_neg).sum(dim=0), pos.shape[0] - n_pos)   # [C]
        p_neg = _mean(torch.where(pos, as_neg, 0.0).sum(dim=0), n_pos)
        p_pos = _mean(torch.where(pos, as_pos, 0.0).sum(dim=0), n_pos)
        if self.shift:
            pi_u = (pi - pi_l).clamp(min=0) / (1 - pi_l)         # clamp: an explicit prior below pi_l
            risk_neg = ((1 - pi) * u_neg - pi_u * (1 - pi) * p_neg) / (1 - pi_u)
        else:
            risk_neg = u_neg - pi * p_neg
        risk_pos = torch.sqrt(pi * (1 - pi)) * p_pos              # pi * sqrt((1 - pi) / pi), finite at pi = 0
        risk = torch.where(risk_neg < self.beta, -self.nn_gamma * risk_neg, risk_pos + risk_neg)
        return risk.sum()
