"""Predicting and scoring with a trained model: logits, official-format predictions, the threshold-free ranking and
the dev-chosen threshold offset.

    features ──batch_logits / predict_logits──> logits [pairs, 1 + R] per document (column 0: the threshold TH)
    logits ──decode (loss_fn.predict, top_k, offset)──> {"title", "h_idx", "t_idx", "r"} predictions
    logits ──ranking──> the best-scored triples (score = z_r - threshold): average precision, no threshold
    dev logits ──choose_offset──> the threshold offset with the best dev F1

The trainer (models/train.py) evaluates through these every epoch; the label audit scores its held-out folds with
predict_logits.
"""
from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from docrobust.base import atomic_write_bytes
from docrobust.corpus import RelationInventory

from .features import batches_by_length, collate
from .pooling import pair_inputs_from_rows
from .registry import DocREModel

__all__ = ["OFFSETS", "RANKING_DEPTH", "autocast", "batch_logits", "choose_offset", "decode", "predict",
           "predict_logits", "ranking", "shift_threshold", "to_device", "write_ranking"]


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (the encoder's matmuls), plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch's tensors moved to `device`; other values as they are."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def batch_logits(model: DocREModel, chunk: list[dict], device: torch.device) -> Tensor:
    """Logits [P, 1 + R] of a chunk of features: the head alone on the stored rows when the features carry
    them ("rows", see models/store.py), else the whole model on the word pieces."""
    if "rows" in chunk[0]:
        x = pair_inputs_from_rows([torch.from_numpy(np.array(f["rows"])).to(device) for f in chunk],
                                  [f["hts"] for f in chunk], [len(f["entity_pos"]) for f in chunk])
        with autocast(device):
            return model.head(x)
    batch = to_device(collate(chunk), device)
    with autocast(device):
        return model(batch["input_ids"], batch["attention_mask"], batch["entity_pos"], batch["hts"], batch["entity_spans"])


@torch.no_grad()
def predict_logits(model: torch.nn.Module, features: list[dict], batch_size: int, device: torch.device) -> list[Tensor]:
    """Logits [pairs, 1 + R] per feature (float32, CPU), in the order of `features`."""
    model.eval()
    position = {id(f): i for i, f in enumerate(features)}
    out: list[Tensor | None] = [None] * len(features)
    for chunk in batches_by_length(features, batch_size, shuffle=False, generator=None):
        logits = batch_logits(model, chunk, device)
        for f, rows in zip(chunk, logits.float().cpu().split([len(f["hts"]) for f in chunk])):
            out[position[id(f)]] = rows
    return out


def shift_threshold(logits: Tensor, offset: float) -> Tensor:
    """Logits whose relation columns are lowered by `offset`: the loss's threshold raised by it."""
    if not offset:
        return logits
    shifted = logits.clone()
    shifted[:, 1:] -= offset
    return shifted


def decode(loss_fn, features: list[dict], logits: list[Tensor], relations: RelationInventory, *, top_k: int = 4,
           offset: float = 0.0) -> list[dict]:
    """Predictions in the official format {"title", "h_idx", "t_idx", "r"} from each feature's logits.

    The loss decides the threshold (`loss_fn.predict`), raised by `offset`; at most `top_k` relations per pair.
    """
    if not features:
        return []
    # one predict over every pair (it decides row by row), then each row back to its document and pair
    rows, columns = loss_fn.predict(shift_threshold(torch.cat(logits), offset), top_k)[:, 1:].nonzero(as_tuple=True)
    hts = [ht for f in features for ht in f["hts"]]
    titles = [f["title"] for f in features for _ in f["hts"]]
    return [{"title": titles[p], "h_idx": hts[p][0], "t_idx": hts[p][1], "r": relations.ids[c]}
            for p, c in zip(rows.tolist(), columns.tolist())]


def predict(model: torch.nn.Module, loss_fn, features: list[dict], relations: RelationInventory, *,
            top_k: int = 4, batch_size: int = 8, device: torch.device | str = "cpu") -> list[dict]:
    """Predictions in the official format, documents in input order (see `decode`)."""
    return decode(loss_fn, features, predict_logits(model, features, batch_size, torch.device(device)), relations,
                  top_k=top_k)


RANKING_DEPTH = 100_000  # test triples kept per run for the threshold-free score: about 0.7 MB for 500 documents


def ranking(loss_fn, features: list[dict], logits: list[Tensor], depth: int = RANKING_DEPTH) -> dict[str, np.ndarray]:
    """The `depth` best-scored (document, pair, relation) triples of a split, for its threshold-free score.

    A triple's score is its logit above the loss's own threshold (z_r - z_TH, or z_r for the zero-threshold losses):
    the decision is score > 0, so ranking by it asks how well the model orders triples, whatever its threshold.
    Returns score [K] (float32, descending), doc [K] (index into `features`), relevant [K] (a gold label) and
    n_candidates (every triple of the split); the average precision over it (corpus.score.average_precision with
    recall counted against all gold triples) is the run's threshold-free score.
    """
    scores = [(z[:, 1:] - loss_fn.threshold(z)).numpy().astype(np.float32).ravel() for z in logits]
    score_all = np.concatenate(scores)
    keep = np.argpartition(-score_all, depth - 1)[:depth] if depth < len(score_all) else np.arange(len(score_all))
    keep = keep[np.argsort(-score_all[keep], kind="stable")]
    doc = np.repeat(np.arange(len(features), dtype=np.int32), [len(s) for s in scores])
    relevant = np.concatenate([np.asarray(f["labels"])[:, 1:].astype(bool).ravel() for f in features])
    return {"score": score_all[keep], "doc": doc[keep], "relevant": relevant[keep],
            "n_candidates": np.int64(len(score_all))}


OFFSETS = [round(0.1 * k, 1) for k in range(-30, 31)]  # threshold offsets tried by calibration, in logit units


def choose_offset(loss_fn, features: list[dict], logits: list[Tensor], top_k: int = 4) -> float:
    """The threshold offset (from OFFSETS) with the best micro F1 against these features' labels; ties go
    to the offset nearest 0. Used on the dev set only, never on test.

    Exactly what `decode` would predict at each offset, from one pass: relation r of a pair is predicted at offset
    o iff it is among the top_k relations (m_r, the relations scoring above it, < k), z_r - o > t (the loss's
    threshold), and, when it is the k-th (m_r = k - 1), z_r - o >= z_0 (column 0 then ranks above it in the top-k
    cut, which ranks every column). So each candidate is predicted on an interval of offsets, and F1 at every
    offset is a count over the candidates.
    """
    z = torch.cat(logits)                                                        # [P, 1 + R]
    gold = torch.from_numpy(np.concatenate([f["labels"][:, 1:] for f in features])).bool()
    n_gold = int(gold.sum())
    relations = z[:, 1:]
    k = min(top_k, z.shape[1]) if top_k > 0 else relations.shape[1] + 1
    descending = (-relations).sort(dim=1).values
    above = torch.searchsorted(descending, (-relations).contiguous(), side="left")  # [P, R]: relations above each
    candidate = above < k                                                        # [P, R]
    strict = (relations - loss_fn.threshold(z))[candidate]                       # predicted iff o < strict
    loose = torch.where(above == k - 1, relations - z[:, :1], torch.full_like(relations, math.inf))[candidate]
    hit = gold[candidate]
    order = sorted(OFFSETS, key=abs)
    offsets = torch.tensor(order, dtype=z.dtype)[:, None]                         # [O, 1]
    predicted = (offsets < strict) & (offsets <= loose)                          # [O, candidates]
    n_pred, tp = predicted.sum(1), (predicted & hit).sum(1)
    f1 = 2 * tp / (n_pred + n_gold).clamp(min=1)
    return order[int(torch.argmax(f1))]   # argmax is the first best: the offset nearest 0 wins ties


def write_ranking(path: Path, ranked: dict[str, np.ndarray]) -> None:
    """ranking.npz (compressed), written atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **ranked)
    atomic_write_bytes(path, buf.getvalue())

