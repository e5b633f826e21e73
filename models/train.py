"""The trainer: fine-tune any registered DocRE model with any registered loss, keep the best dev epoch.

One run, top to bottom:

    docs ──featurize──> features (input_ids, entity_pos, hts, labels [pairs, 1 + R])
    encoder + build_model(model) ──> logits [P, 1 + R] per batch;  build_loss(loss)(logits, labels) -> scalar
    AdamW (encoder lr, head lr), linear warm-up then linear decay, gradient clipping
    each epoch: predict dev -> official score -> keep a CPU copy of the best state (by dev F1)
    end: restore the best state, predict test (or dev), write result.json, metrics.json, train_log.jsonl,
         config.json (and checkpoint.pt when asked)

With freeze_encoder the encoder's part of the forward pass (DocREModel.pair_inputs) is read from the
feature store (models/store.py), computed once per document for every run that shares the encoder,
and the model's head trains alone on it: an epoch costs the head only.

With calibrate_threshold, one offset on the threshold (a relation is predicted when its logit exceeds
TH + offset, or 0 + offset for the zero-threshold losses) is chosen on the dev set after training,
and metrics["calibrated"] reports dev and test scored with it, beside the scores as trained.

Defaults are the papers' GPU settings (ATLOP, Zhou et al., 2021: batch 4, encoder lr 5e-5 for base-size
and 3e-5 for large encoders, head lr 1e-4, 6% warm-up, 30 epochs, clipping 1.0, AdamW with eps 1e-6 and
no weight decay, at most 4 relations per pair). CPU runs shrink epochs and documents through the same keys.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import platform
import random
import time
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, atomic_write_text, dumps_json)
from docrobust.corpus import RelationInventory, facts_from_docs, score
from docrobust.corpus.pair_types import pair_types_of
from docrobust.corpus.score import average_precision, frequent_relations

from .config import TrainConfig
from .encoder import load_encoder
from .features import batches_by_length, collate, featurize, featurize_cached, stack_labels
from .losses import LOSSES, build_loss
from .pooling import pair_inputs_from_rows
from .registry import DocREModel, build_model
from .store import FeatureStore

__all__ = ["TrainConfig", "TrainingError", "choose_offset", "decode", "predict", "ranking", "store_features", "train"]

LARGE_HIDDEN = 1024  # encoders this wide (BERT/RoBERTa-large) get the papers' smaller encoder lr


class TrainingError(Exception):
    """A run that cannot go on (a NaN or infinite loss); the message is one line naming epoch and step."""


# ----------------------------------------------------------------------------- pieces of a run

def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a generator for the batch order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """'auto' is cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DocrobustError(f"device {name!r} requested but torch sees no CUDA device; use device='auto' or 'cpu'")
    return torch.device(name)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (the encoder's matmuls), plain fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def linear_schedule(total_steps: int, warmup: float) -> Callable[[int], float]:
    """lr multiplier at step s: s / w during warm-up (w = warmup * total), then (total - s) / (total - w)."""
    warm = int(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return step / max(1, warm)
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))
    return factor


def class_counts(features: list[dict]) -> list[int]:
    """Labels per relation column in the training features (TH column excluded)."""
    return np.sum([f["labels"][:, 1:].sum(axis=0, dtype=np.int64) for f in features], axis=0).tolist()


def build_loss_for(name: str, options: dict[str, Any], features: list[dict]):
    """The loss `name` with `options`, plus the training statistics it declares (`train_stats`) unless given."""
    stats = {"class_counts": lambda: class_counts(features), "n_pairs": lambda: sum(len(f["hts"]) for f in features)}
    wanted = getattr(LOSSES.get(name), "train_stats", ())
    options = {**{k: stats[k]() for k in wanted if k in stats}, **options}
    try:
        return build_loss(name, **options)
    except (ValueError, TypeError) as e:
        raise DocrobustError(str(e).splitlines()[0]) from e


def load_teacher_logits(path: str, features: list[dict], num_columns: int) -> None:
    """Attach a teacher's logits to each feature as "teacher_logits" [pairs, 1 + R] (float32).

    The file holds one array [all training pairs, 1 + R], rows in feature order then `hts` order.
    """
    path_ = Path(path)
    try:
        array = np.load(path_) if path_.suffix == ".npy" else torch.load(path_, map_location="cpu")
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file (kd_teacher_logits)") from None
    array = torch.as_tensor(np.asarray(array), dtype=torch.float32)
    n_pairs = sum(len(f["hts"]) for f in features)
    if tuple(array.shape) != (n_pairs, num_columns):
        raise DocrobustError(f"{path}: teacher logits have shape {tuple(array.shape)}, expected ({n_pairs}, {num_columns}) "
                          f"for these training documents (same documents, order, max_train_docs and max_len)")
    for f, rows in zip(features, array.split([len(f["hts"]) for f in features])):
        f["teacher_logits"] = rows


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
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


def versions() -> dict[str, str]:
    return {"docrobust": version("docrobust"), "torch": torch.__version__, "transformers": version("transformers"),
            "python": platform.python_version()}


class RunLog:
    """train_log.jsonl: one JSON object per logging interval and per epoch, rewritten atomically."""

    def __init__(self, path: Path, callback: Callable[[dict], None] | None):
        self.path, self.callback, self.lines = path, callback, []

    def __call__(self, record: dict) -> None:
        self.lines.append(dumps_json(record))
        atomic_write_text(self.path, "\n".join(self.lines) + "\n")  # a few KB: cheap next to a training step
        if self.callback is not None:
            self.callback(record)


@contextlib.contextmanager
def transformers_bars(enabled: bool) -> Iterator[None]:
    """Show transformers' own progress bars (weight loading) only when ours are shown too."""
    from transformers.utils import logging

    before = logging.is_progress_bar_enabled()
    (logging.enable_progress_bar if enabled else logging.disable_progress_bar)()
    try:
        yield
    finally:
        (logging.enable_progress_bar if before else logging.disable_progress_bar)()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use n intra-op threads inside the block (unchanged when None), restoring the previous number."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------- the run

def train(config: TrainConfig, train_docs: list[dict], dev_docs: list[dict], test_docs: list[dict] | None = None, *,
          relations: RelationInventory, train_facts=None, out_dir, cache_dir=None, feature_store=None,
          frequent: Iterable[str] | None = None, progress_cb: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train `config.model` with `config.loss` on train_docs, select the epoch by F1 on dev_docs, score test_docs.

    Model selection uses the dev documents as given (the benchmark passes clean ones, so noise in the
    training labels never leaks into selection). Scores use DocRED's official definitions with the
    relations in `frequent` as the "frequent" bucket (default: the ten most common in train_docs; the
    benchmark passes the clean training labels' ten, so the buckets do not move with the noise). Ign F1
    leaves out facts in `train_facts`; by default the facts of `train_docs`. The benchmark passes the
    clean training file's facts instead, so that Ign F1 measures the same thing whatever noise was
    injected into train_docs. `feature_store` is the folder of the frozen-encoder feature store (default
    corpus.data.feature_store_root()). `progress_cb` receives every log record (dicts with "event":
    "step" | "epoch") as it is written.

    Writes result.json (test predictions, or dev when no test set), metrics.json, train_log.jsonl,
    config.json, ranking.npz (with a test set: its best-scored triples, see `ranking`) and, with save_checkpoint,
    checkpoint.pt into out_dir; returns the metrics:
    {"best_epoch", "dev": score of the best epoch, "test": score (with a test set), "epochs": [...],
    "ranking" (with a test set): {"ap": threshold-free average precision on test, "depth", "n_candidates",
    "relevant_ranked"},
    "calibrated" (with calibrate_threshold), "seconds": {"features", "train", "score"}, "train_seconds"}.
    Inputs are not modified.
    """
    with torch_threads(config.num_threads):
        return _train(config, train_docs, dev_docs, test_docs, relations=relations, train_facts=train_facts,
                      out_dir=Path(out_dir), cache_dir=cache_dir, feature_store=feature_store, frequent=frequent,
                      progress_cb=progress_cb)


def _featurize(docs: list[dict], tokenizer, relations: RelationInventory, config: TrainConfig, cache_dir) -> list[dict]:
    if cache_dir is None:
        return featurize(docs, tokenizer, relations, max_len=config.max_len, marker=config.marker,
                         dedup_mentions=config.dedup_mentions, pair_types=pair_types_of(config.pair_types))
    return featurize_cached(docs, tokenizer, relations, cache_dir, max_len=config.max_len, marker=config.marker,
                            dedup_mentions=config.dedup_mentions, pair_types=pair_types_of(config.pair_types))


def with_stored_rows(model: DocREModel, tokenizer, splits: list[list[dict] | None], config: TrainConfig,
                     device: torch.device, feature_store) -> tuple[list[list[dict] | None], int]:
    """Copies of each split's features carrying their stored rows ("rows"), and how many documents were encoded."""
    store = FeatureStore(feature_store)
    every = [f for split in splits if split is not None for f in split]
    rows = iter(store.rows(model, tokenizer, every, batch_size=config.eval_batch_size, device=device))
    return [None if split is None else [{**f, "rows": next(rows)} for f in split] for split in splits], store.encoded


def store_features(config: TrainConfig, doc_sets: list[list[dict]], relations: RelationInventory, *, cache_dir=None,
                   feature_store=None) -> int:
    """Fill the feature store with the frozen-encoder rows of these documents for `config`'s encoder, model
    options and max_len; return how many documents were encoded (0 when all were stored already).

    The benchmark calls it once per matrix before the cells start, so that every cell only reads the store.
    """
    with torch_threads(config.num_threads), transformers_bars(False):
        tokenizer, encoder = load_encoder(config.encoder)
        model = build_model(config.model, encoder, 1 + len(relations), **config.model_options)
        model.freeze_encoder()
        device = resolve_device(config.device)
        model.to(device)
        features = [_featurize(docs, tokenizer, relations, config, cache_dir) for docs in doc_sets]
        return with_stored_rows(model, tokenizer, features, config, device, feature_store)[1]


def _train(config: TrainConfig, train_docs, dev_docs, test_docs, *, relations, train_facts, out_dir: Path,
           cache_dir, feature_store, frequent, progress_cb) -> dict[str, Any]:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(out_dir / "train_log.jsonl", progress_cb)
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)

    train_docs = train_docs[:config.max_train_docs]
    dev_docs = dev_docs[:config.max_eval_docs]
    test_docs = test_docs[:config.max_eval_docs] if test_docs is not None else None
    if not train_docs or not dev_docs:
        raise DocrobustError("training needs at least one training and one dev document")
    facts = frozenset(train_facts) if train_facts is not None else facts_from_docs(train_docs)
    frequent = frozenset(frequent) if frequent is not None else frequent_relations(train_docs)
    pair_types = pair_types_of(config.pair_types)   # None: every pair

    def scored(docs: list[dict], preds: list[dict]) -> dict[str, Any]:
        """The official score, on the pairs of the pair-type filter."""
        return score(docs, preds, facts, frequent=frequent, pair_types=pair_types)

    with transformers_bars(config.progress):
        tokenizer, encoder = load_encoder(config.encoder)
    train_feats = _featurize(train_docs, tokenizer, relations, config, cache_dir)
    dev_feats = _featurize(dev_docs, tokenizer, relations, config, cache_dir)
    test_feats = _featurize(test_docs, tokenizer, relations, config, cache_dir) if test_docs is not None else None
    if pair_types is not None:  # a training document without a kept pair has nothing to train on
        train_feats = [f for f in train_feats if f["hts"]]
    if config.kd_teacher_logits:
        train_feats = [dict(f) for f in train_feats]  # teacher rows go on copies, never on cached features
        load_teacher_logits(config.kd_teacher_logits, train_feats, 1 + len(relations))

    model = build_model(config.model, encoder, 1 + len(relations), **config.model_options)
    if config.grad_checkpointing:  # transformers 5 renamed it; >= 4.45 has the old name only
        enable = getattr(model.encoder, "activation_checkpointing_enable", model.encoder.gradient_checkpointing_enable)
        enable()
    if config.freeze_encoder:
        model.freeze_encoder()
    model.to(device)
    encoded = 0
    if config.freeze_encoder:
        (train_feats, dev_feats, test_feats), encoded = with_stored_rows(
            model, tokenizer, [train_feats, dev_feats, test_feats], config, device, feature_store)
    features_seconds = time.perf_counter() - started
    loss_name = config.loss or type(model).default_loss
    loss_fn = build_loss_for(loss_name, config.loss_options, train_feats).to(device)
    hidden = getattr(encoder.config, "hidden_size", 0)
    lr_encoder = config.lr_encoder if config.lr_encoder is not None else (3e-5 if hidden >= LARGE_HIDDEN else 5e-5)
    resolved = dataclasses.replace(config, loss=loss_name, lr_encoder=lr_encoder)
    atomic_write_json(out_dir / "config.json", {
        "config": resolved.to_dict(), "versions": versions(),
        "runtime": {"device": str(device), "num_threads": torch.get_num_threads(), "relations": len(relations),
                    "entity_pooling": model.pooling, "encoded_docs": encoded,
                    "docs": {"train": len(train_docs), "dev": len(dev_docs), "test": len(test_docs or [])},
                    "pairs": {"train": sum(len(f["hts"]) for f in train_feats)}}})

    optimizer = torch.optim.AdamW([{"params": list(model.encoder_parameters()), "lr": lr_encoder},
                                   {"params": list(model.head_parameters()), "lr": config.lr_head}],
                                  eps=config.adam_eps, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_feats) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(config.epochs * steps_per_epoch, config.warmup))

    epochs, best = [], {"f1": -1.0}
    step, score_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        mean_loss, steps = run_epoch(model, loss_fn, optimizer, scheduler, train_feats, config, device, generator,
                                     epoch, step, log)
        step += steps
        t1 = time.perf_counter()
        dev_logits = predict_logits(model, dev_feats, config.eval_batch_size, device)
        dev_preds = decode(loss_fn, dev_feats, dev_logits, relations, top_k=config.top_k)
        dev_score = scored(dev_docs, dev_preds)
        record = {"epoch": epoch, "loss": mean_loss, "dev_f1": dev_score["f1"], "dev_ign_f1": dev_score["ign_f1"]}
        if config.select_by == "calibrated_f1":
            offset = choose_offset(loss_fn, dev_feats, dev_logits, config.top_k)
            record["dev_calibrated_f1"] = scored(dev_docs, decode(loss_fn, dev_feats, dev_logits, relations,
                                                                  top_k=config.top_k, offset=offset))["f1"]
        score_seconds += time.perf_counter() - t1
        record["seconds"] = time.perf_counter() - t0
        epochs.append(record)
        selected = record["dev_calibrated_f1" if config.select_by == "calibrated_f1" else "dev_f1"]
        if "epoch" not in best or selected > best["f1"] + config.early_stopping_delta:
            best = {"f1": selected, "epoch": epoch, "score": dev_score, "preds": dev_preds, "logits": dev_logits,
                    "state": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}
        log({"event": "epoch", **record, "best_epoch": best["epoch"]})
        if config.early_stopping is not None and epoch - best["epoch"] >= config.early_stopping:
            break

    t1 = time.perf_counter()
    model.load_state_dict(best["state"])
    metrics: dict[str, Any] = {"best_epoch": best["epoch"], "dev": best["score"], "epochs": epochs}
    result = best["preds"]
    test_logits = predict_logits(model, test_feats, config.eval_batch_size, device) if test_feats is not None else None
    if test_logits is not None:
        result = decode(loss_fn, test_feats, test_logits, relations, top_k=config.top_k)
        metrics["test"] = scored(test_docs, result)
        ranked = ranking(loss_fn, test_feats, test_logits, RANKING_DEPTH)
        metrics["ranking"] = {"ap": average_precision(ranked["score"], ranked["relevant"], metrics["test"]["n_gold"]),
                              "depth": len(ranked["score"]), "n_candidates": int(ranked["n_candidates"]),
                              "relevant_ranked": int(ranked["relevant"].sum())}
        write_ranking(out_dir / "ranking.npz", ranked)
    if config.calibrate_threshold:
        offset = choose_offset(loss_fn, dev_feats, best["logits"], config.top_k)
        metrics["calibrated"] = {"offset": offset, "dev": scored(dev_docs, decode(
            loss_fn, dev_feats, best["logits"], relations, top_k=config.top_k, offset=offset))}
        if test_logits is not None:
            metrics["calibrated"]["test"] = scored(test_docs, decode(
                loss_fn, test_feats, test_logits, relations, top_k=config.top_k, offset=offset))
    score_seconds += time.perf_counter() - t1
    metrics["train_seconds"] = time.perf_counter() - started
    metrics["seconds"] = {"features": features_seconds, "score": score_seconds,
                          "train": metrics["train_seconds"] - features_seconds - score_seconds}
    atomic_write_json(out_dir / "result.json", result, indent=None)
    atomic_write_json(out_dir / "metrics.json", metrics)
    if config.save_train_logits:
        torch.save(torch.cat(predict_logits(model, train_feats, config.eval_batch_size, device)),
                   out_dir / "train_logits.pt")
    if config.save_checkpoint:
        save_checkpoint(out_dir / "checkpoint.pt", best["state"], resolved, relations)
    return metrics


def run_epoch(model, loss_fn, optimizer, scheduler, features: list[dict], config: TrainConfig, device: torch.device,
              generator: torch.Generator, epoch: int, first_step: int, log: RunLog) -> tuple[float, int]:
    """One pass over the training features in length-grouped batches; returns (mean batch loss, steps).

    Per batch: loss = loss_fn(logits, labels) [+ kd_weight * mean((logits - teacher)^2)] over the model's
    training_rows (the pairs; KD-DocRE's self pairs too), then backward, clip the global gradient norm, AdamW
    step, scheduler step.
    """
    model.train()
    total, window, t0, i = 0.0, [], time.perf_counter(), 0
    batches = batches_by_length(features, config.batch_size, shuffle=True, generator=generator)
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False, disable=not config.progress)
    for i, chunk in enumerate(bar, start=1):
        logits, labels = model.training_rows(batch_logits(model, chunk, device).float(), stack_labels(chunk).to(device),
                                             [len(f["entity_pos"]) for f in chunk])   # [P', 1 + R]: P pairs, + self pairs
        loss = loss_fn(logits, labels)
        if config.kd_teacher_logits:
            teacher = torch.cat([f["teacher_logits"] for f in chunk]).to(device)  # [P, 1 + R]
            teacher = torch.nn.functional.pad(teacher, (0, 0, 0, len(logits) - len(teacher)))  # added rows: 0, as theirs
            loss = loss + config.kd_weight * torch.nn.functional.mse_loss(logits, teacher)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss is {loss.item()} at epoch {epoch}, step {i} (global step {first_step + i}) of "
                                f"{config.model} with loss {loss_fn.name}: try a lower learning rate "
                                f"or check the loss options")
        loss.backward()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        total += loss.item()
        window.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if (first_step + i) % config.log_every == 0:
            log({"event": "step", "epoch": epoch, "step": i, "global_step": first_step + i, "loss": sum(window) / len(window),
                 "lr_encoder": optimizer.param_groups[0]["lr"], "lr_head": optimizer.param_groups[1]["lr"],
                 "seconds": time.perf_counter() - t0})
            window = []
    return total / max(1, i), i


def write_ranking(path: Path, ranked: dict[str, np.ndarray]) -> None:
    """ranking.npz (compressed), written atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **ranked)
    atomic_write_bytes(path, buf.getvalue())


def save_checkpoint(path: Path, state: dict[str, Tensor], config: TrainConfig, relations: RelationInventory) -> None:
    """The best state with what is needed to rebuild the model, written to a temporary file then renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state_dict": state, "config": config.to_dict(), "relations": relations.to_json()}, tmp)
    tmp.replace(path)
