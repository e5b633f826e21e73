"""Documents to model inputs, as ATLOP (Zhou et al., 2021) prepares them, and batching.

One feature per document:

    title       str
    input_ids   list[int]   CLS + word pieces + SEP, at most max_len ids. Every mention is wrapped in
                            marker tokens `*`: "* Barack Obama * was born in * Hawaii * ."
    entity_pos  list per entity of list of positions in input_ids (CLS is position 0) of the
                leading `*` of each of its mentions: "marker" pooling reads the entity from these states
    entity_spans list per entity of [start, end) word-piece spans of its mentions, markers excluded:
                "span" pooling (for frozen encoders) reads the entity from these pieces
    hts         list of [h, t], every ordered pair of distinct entities, h-major; with a pair-type filter
                (`pair_types`, corpus/pair_types.py) only the pairs it keeps, so nothing else is trained or predicted
    labels      np.ndarray uint8 [pairs, 1 + R]: column relations.column(r) set for each labeled
                relation r of the pair; column 0 (no relation) set exactly when no other is

The marker is an option of featurization (`marker`, each model names its default: ATLOP's `*`): one word
piece of the tokenizer, or "typed", DocuNet's markers for BERT (its prepro.py): a mention of type T starts
with `[unused<i>]` and ends with `[unused<i + 50>]`, i = DOCUNET_TYPES[T] (ORG 1, LOC 3, TIME 5, PER 7, MISC 9,
NUM 11); a token where several mentions start (end) takes the marker of the first in vertexSet order. A
tokenizer without `[unused]` pieces (RoBERTa) gets `*`, as DocuNet gives RoBERTa.

Duplicate mentions (`dedup_mentions`). Re-DocRED has entities listing one mention twice (same sentence and
span). ATLOP keeps every mention, so a duplicate counts twice in its entity's log-sum-exp and attention
mean: the default. dedup_mentions=True keeps one of each (start, end) span and one of each marker position.

The max_len cap. Word pieces past max_len - 2 are cut (ATLOP's truncation). A mention whose marker
falls in the cut part is dropped from entity_pos and entity_spans (a span running into the cut is
shortened to what is left); an entity left with no mention points at the CLS token (position 0,
span [0, 1)), the encoder's summary of the document, so every entity still gets an embedding,
every position indexes a real token, and its pairs keep their labels.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from docrobust.base import DocrobustError, atomic_write_bytes, sha256_json
from docrobust.corpus import RelationInventory
from docrobust.corpus.pair_types import PairTypes, allowed_pairs

from .encoder import MAX_LEN, WINDOW

__all__ = ["DOCUNET_TYPES", "MARKER", "TYPED", "batches_by_length", "collate", "featurize", "featurize_cached",
           "stack_labels", "tokenizer_fingerprint"]

MARKER = "*"
TYPED = "typed"
DOCUNET_TYPES = {"ORG": 1, "LOC": 3, "TIME": 5, "PER": 7, "MISC": 9, "NUM": 11}  # DocuNet's [unused<i>] per type
FORMAT = 3  # bump when the feature layout changes, so old caches are rebuilt


def _marker_id(tokenizer, marker: str) -> int:
    """The single word piece of the mention marker (ATLOP's `*`)."""
    ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        raise DocrobustError(f"tokenizer {tokenizer.name_or_path!r} has no single token for the mention marker {marker!r}: "
                          f"pass another marker (training option marker, e.g. '#' or '@') that is one word piece")
    return ids[0]


def _typed_ids(tokenizer) -> dict[str, tuple[int, int]] | None:
    """DocuNet's (start, end) marker ids per entity type, [unused<i>] and [unused<i + 50>]; None when the
    vocabulary lacks them (RoBERTa)."""
    vocab = tokenizer.get_vocab()
    ids = {t: (vocab.get(f"[unused{i}]"), vocab.get(f"[unused{i + 50}]")) for t, i in DOCUNET_TYPES.items()}
    return None if any(v is None for pair in ids.values() for v in pair) else ids


def _mention_markers(tokenizer, marker: str):
    """A function mention -> (start marker id, end marker id) for `marker` (the module docstring)."""
    typed = _typed_ids(tokenizer) if marker == TYPED else None
    if typed is None:
        plain = _marker_id(tokenizer, MARKER if marker == TYPED else marker)
        return lambda doc, mention: (plain, plain)

    def markers(doc: dict, mention: dict) -> tuple[int, int]:
        if mention.get("type") not in typed:
            raise DocrobustError(f"document {doc.get('title')!r}: mention type {mention.get('type')!r} has no DocuNet "
                              f"typed marker (types {', '.join(DOCUNET_TYPES)}): use the training option marker = '*'")
        return typed[mention["type"]]
    return markers


def _word_pieces(docs: list[dict], tokenizer) -> dict[str, list[int]]:
    """Word pieces of every distinct token in `docs`, tokenized one token at a time as ATLOP does."""
    words = sorted({w for doc in docs for sent in doc["sents"] for w in sent})
    pieces = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    return dict(zip(words, pieces))


def _doc_feature(doc: dict, pieces: dict[str, list[int]], markers, cls: int, sep: int,
                 relations: RelationInventory, max_len: int, dedup_mentions: bool,
                 pair_types: PairTypes | None = None) -> dict:
    starts: dict[tuple[int, int], int] = {}  # (sentence, token) -> marker before it: the first mention's (DocuNet)
    ends: dict[tuple[int, int], int] = {}    # (sentence, token) -> marker after it
    for e in doc["vertexSet"]:
        for m in e:
            start, end = markers(doc, m)
            starts.setdefault((m["sent_id"], m["pos"][0]), start)
            ends.setdefault((m["sent_id"], m["pos"][1] - 1), end)
    ids: list[int] = []
    where: dict[tuple[int, int], int] = {}  # (sentence, token) -> position of its first piece or marker
    after: dict[tuple[int, int], int] = {}  # (sentence, token) -> position just after its last piece
    for s, sent in enumerate(doc["sents"]):
        for k, word in enumerate(sent):
            where[s, k] = len(ids)
            ids += ([starts[s, k]] if (s, k) in starts else []) + pieces[word]
            after[s, k] = len(ids)
            ids += [ends[s, k]] if (s, k) in ends else []
    ids = [cls] + ids[:max_len - 2] + [sep]

    unique = set if dedup_mentions else list  # ATLOP keeps a duplicated mention twice: see the module docstring
    entity_pos, entity_spans = [], []
    sep_at = len(ids) - 1  # positions before it are text (+1 below: after CLS)
    for entity in doc["vertexSet"]:
        mentions = sorted(unique((where[m["sent_id"], m["pos"][0]] + 1, after[m["sent_id"], m["pos"][1] - 1] + 1)
                                 for m in entity))
        kept = [(a, min(b, sep_at)) for a, b in mentions if a < sep_at]  # cut mentions: see the module docstring
        entity_pos.append(sorted(unique(a for a, _ in kept)) or [0])
        # pieces between the markers; a mention whose words have no piece (or were cut) keeps its marker
        entity_spans.append([[a + 1, b] if b > a + 1 else [a, a + 1] for a, b in kept] or [[0, 1]])

    hts = allowed_pairs(doc, pair_types)
    row = {(h, t): i for i, (h, t) in enumerate(hts)}
    labels = np.zeros((len(hts), 1 + len(relations)), dtype=np.uint8)
    for lab in doc.get("labels", []):
        if (lab["h"], lab["t"]) in row:  # a label of a pair the filter leaves out is not trained on
            labels[row[lab["h"], lab["t"]], relations.column(lab["r"])] = 1
    labels[:, 0] = labels[:, 1:].sum(1) == 0
    return {"title": doc["title"], "input_ids": ids, "entity_pos": entity_pos, "entity_spans": entity_spans, "hts": hts,
            "labels": labels}


def featurize(docs: list[dict], tokenizer, relations: RelationInventory, max_len: int = 1024,
              marker: str = MARKER, dedup_mentions: bool = False, pair_types: PairTypes | None = None) -> list[dict]:
    """One ATLOP feature per document (layout, marker and dedup_mentions in the module docstring); `docs` are not
    modified."""
    if max_len < 3:
        raise DocrobustError(f"max_len={max_len} leaves no room for text between CLS and SEP: use at least 3 (ATLOP: 1024)")
    if max_len > MAX_LEN:
        raise DocrobustError(f"max_len={max_len}: the encoder reads a document as at most two windows of {WINDOW} "
                          f"positions; use at most {MAX_LEN}")
    markers = _mention_markers(tokenizer, marker)
    pieces = _word_pieces(docs, tokenizer)
    return [_doc_feature(d, pieces, markers, tokenizer.cls_token_id, tokenizer.sep_token_id, relations, max_len,
                         dedup_mentions, pair_types) for d in docs]


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of what decides the word pieces: the tokenizer's full definition (vocab, normalizer, ...).

    The truncation and padding settings are left out: transformers sets them on the backend at each call,
    so they record the tokenizer's last use, not what it does to our words (featurize neither pads nor
    truncates through it).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        spec = json.dumps(spec, sort_keys=True)
    else:
        spec = repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(f"{type(tokenizer).__name__}\n{spec}".encode()).hexdigest()


def featurize_cached(docs: list[dict], tokenizer, relations: RelationInventory, cache_dir: str | os.PathLike,
                     max_len: int = 1024, marker: str = MARKER, dedup_mentions: bool = False,
                     pair_types: PairTypes | None = None) -> list[dict]:
    """`featurize`, stored in `cache_dir` under a key of the tokenizer, the documents, the relations and the
    featurization options (max_len, marker, dedup_mentions, and pair_types when there is a filter).

    Any change to one of them (a relabeled pair, another vocabulary) gives another key, so a cached
    file is never stale; files are written atomically, so a crash never leaves a half file.
    """
    key = sha256_json([FORMAT, tokenizer_fingerprint(tokenizer), sha256_json(docs), list(relations.ids), max_len,
                       marker, dedup_mentions] + ([sorted(pair_types)] if pair_types is not None else []))
    path = Path(cache_dir) / f"features-{key[:32]}.pkl"
    if path.is_file():
        with open(path, "rb") as f:
            return pickle.load(f)
    features = featurize(docs, tokenizer, relations, max_len, marker, dedup_mentions, pair_types)
    atomic_write_bytes(path, pickle.dumps(features, protocol=pickle.HIGHEST_PROTOCOL))
    return features


def collate(features: list[dict], pad_id: int = 0) -> dict:
    """A batch: input_ids [B, L] (padded with pad_id), attention_mask [B, L], labels [P, 1 + R] (P = all pairs, in order)."""
    L = max(len(f["input_ids"]) for f in features)
    input_ids = torch.full((len(features), L), pad_id, dtype=torch.long)
    attention_mask = torch.zeros(len(features), L)
    for i, f in enumerate(features):
        input_ids[i, :len(f["input_ids"])] = torch.tensor(f["input_ids"])
        attention_mask[i, :len(f["input_ids"])] = 1.0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "entity_pos": [f["entity_pos"] for f in features],
            "entity_spans": [f["entity_spans"] for f in features], "hts": [f["hts"] for f in features],
            "labels": stack_labels(features)}


def stack_labels(features: list[dict]) -> Tensor:
    """Labels [P, 1 + R] (float) of the features' pairs, documents in order."""
    return torch.from_numpy(np.concatenate([f["labels"] for f in features])).float()


def batches_by_length(features: list[dict], batch_size: int, shuffle: bool,
                      generator: torch.Generator | None = None) -> list[list[dict]]:
    """Batches of documents of similar length, so little of a batch is padding.

    Documents are sorted by length (ties in random order when shuffling) and cut into chunks of
    batch_size; with shuffle the chunk order is random, without it the chunks go shortest first.
    Every feature appears in exactly one batch.
    """
    if batch_size < 1:
        raise DocrobustError(f"batch_size={batch_size}: use at least 1")
    order = torch.randperm(len(features), generator=generator).tolist() if shuffle else list(range(len(features)))
    order.sort(key=lambda i: len(features[i]["input_ids"]))  # stable: ties keep the random order
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]
    return [[features[i] for i in chunk] for chunk in chunks]
