"""The feature store: a frozen encoder's head inputs, computed once per document and shared by every cell.

With the encoder frozen, everything before a model's head (encoder pass, entity pooling, localized
context: `DocREModel.pair_inputs`) is a fixed function of the document, so it is computed once and
read by every cell of a matrix, every worker and every later run. An entry is one document's rows

    [n + n + P, H] float32          entities, contexts of (e, e), contexts of the P pairs in hts order
                                    (P = n(n-1), or fewer under a pair-type filter)

(pooling.pair_rows), under a key of what decides them: the encoder's weights and config (which holds
the windows' end ids), the tokenizer, the entity pooling, how the localized context reduces the heads,
and the document's model input (word-piece ids after the max_len cut and the markers, marker and span
positions, a duplicated mention's twice). Labels are not part of the key: label noise costs no encoder pass.

On disk: <root>/<encoder key>/<key[:2]>/<key>.rows, a 64-byte header "DRFS1 <rows> <cols> <crc32>"
then the rows, mapped with np.memmap (no copies: processes share the page cache). Each file is written
to a unique temporary name beside it and renamed, so concurrent writers of one entry leave one
complete file; a file whose size or checksum disagrees with its header is recomputed, never read.

Beside the rows, <root>/index/<spec[:24]>.json lists the documents (by text and entities) already encoded
for a benchmark's model set-up (feature_spec), so `bench plan` can say what is left to encode without a model.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from docrobust.base import DocrobustError, atomic_write_json, atomic_writer, read_json, sha256_json
from docrobust.corpus.data import DEFAULT_DATA_DIR

from .encoder import hash_weights
from .features import collate, tokenizer_fingerprint
from .pooling import pair_rows
from .registry import DocREModel

__all__ = ["FeatureStore", "feature_spec", "feature_store_root"]

FORMAT = 2          # bump when the rows' layout or meaning changes (2: each document encoded alone)
HEADER = 64         # bytes before the rows
MAGIC = b"DRFS1"


def feature_store_root() -> Path:
    """The frozen-encoder feature store: features/ in $DOCROBUST_CACHE, else in ~/.cache/docrobust.

    Derived files live apart from the data folder, which may be read-only (a shared copy of the corpora)."""
    return Path(os.environ.get("DOCROBUST_CACHE") or DEFAULT_DATA_DIR).expanduser() / "features"


def feature_spec(training: dict) -> str:
    """What decides a frozen-encoder cell's stored features, as bench.toml states it (encoder, model and its
    options, max_len, marker, pair types): the key of the store's index of documents already encoded."""
    return sha256_json([training.get(k) for k in ("encoder", "model", "model_options", "max_len", "marker")]
                       + ([training["pair_types"]] if training.get("pair_types") else []))


def text_key(doc: dict) -> str:
    """A document's identity in the index: its text and entities (labels excluded, as in the rows' keys)."""
    return sha256_json([doc["sents"], doc["vertexSet"]])


def encoder_fingerprint(model: DocREModel, tokenizer) -> str:
    """sha256 of what decides a document's rows besides the document: encoder weights (the pooler's excluded) and
    config, tokenizer, entity pooling, the localized context's head reduction."""
    h = hashlib.sha256(json.dumps([FORMAT, model.pooling, model.context_heads, tokenizer_fingerprint(tokenizer),
                                   model.encoder.config.to_json_string()]).encode())
    hash_weights(h, model.encoder)
    return h.hexdigest()


def document_key(feature: dict) -> str:
    """sha256 of a feature's model input (ids, marker and span positions, and its pairs when a pair-type filter
    left some out: the rows hold only theirs), labels excluded."""
    n = len(feature["entity_pos"])
    pairs = [] if len(feature["hts"]) == n * (n - 1) else [feature["hts"]]   # every pair: the key it always had
    return hashlib.sha256(json.dumps([feature["input_ids"], feature["entity_pos"], feature["entity_spans"], *pairs],
                                     separators=(",", ":")).encode()).hexdigest()


class FeatureStore:
    """Rows of frozen-encoder head inputs per (encoder, document), on disk; `encoded` counts documents encoded here."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else feature_store_root()
        self.encoded = 0

    def indexed(self, spec: str) -> set[str]:
        """Text keys of the documents encoded for `spec` (feature_spec); none when the index is absent or unreadable."""
        try:
            return set(read_json(self._index(spec)))
        except (OSError, DocrobustError):
            return set()

    def add_to_index(self, spec: str, docs: Iterable[dict]) -> None:
        """Record `docs` as encoded for `spec`: the index is merged and replaced atomically (entries a concurrent run
        adds may be lost, and `bench plan` then counts those documents as still to encode; their rows stay)."""
        atomic_write_json(self._index(spec), sorted(self.indexed(spec) | {text_key(d) for d in docs}))

    def _index(self, spec: str) -> Path:
        return self.root / "index" / f"{spec[:24]}.json"

    def path(self, encoder_key: str, key: str) -> Path:
        return self.root / encoder_key[:24] / key[:2] / f"{key}.rows"

    def read(self, path: Path) -> np.ndarray | None:
        """The rows at `path` (memory-mapped), or None when absent, truncated or corrupt."""
        try:
            with open(path, "rb") as f:
                head = f.read(HEADER).split()
            magic, rows, cols, crc = head[0], int(head[1]), int(head[2]), int(head[3])
        except (OSError, ValueError, IndexError):
            return None
        if magic != MAGIC or path.stat().st_size != HEADER + 4 * rows * cols:
            return None
        array = np.memmap(path, dtype=np.float32, mode="r", offset=HEADER, shape=(rows, cols))
        if zlib.crc32(array) != crc:
            return None
        return array

    def write(self, path: Path, rows: np.ndarray) -> None:
        """Write rows atomically (base.atomic_writer: a unique temporary file beside it, fsynced, then renamed)."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        header = b" ".join([MAGIC, *(str(v).encode() for v in (*rows.shape, zlib.crc32(rows)))])
        with atomic_writer(path) as f:
            f.write(header.ljust(HEADER - 1) + b"\n")
            f.write(rows.tobytes())

    @torch.no_grad()
    def rows(self, model: DocREModel, tokenizer, features: list[dict], *,
             device: torch.device | str = "cpu") -> list[np.ndarray]:
        """Each feature's rows, in order: read from the store, or computed with `model.pair_inputs` and stored.

        A missing document is encoded alone, once even when it appears several times in `features`: batched with
        others it would be padded, which changes the kernels' summation order at 1e-6, and a 20-epoch run trained
        on those rows can end points of F1 away; alone, its rows are the same whichever run first stored them.
        """
        encoder_key = encoder_fingerprint(model, tokenizer)
        paths = [self.path(encoder_key, document_key(f)) for f in features]
        found = {p: self.read(p) for p in set(paths)}
        missing = {}  # one feature per missing path
        for f, p in zip(features, paths):
            if found[p] is None:
                missing.setdefault(p, f)
        if missing:
            was_training = model.training
            model.eval()
            for path, feature in missing.items():
                batch = collate([feature])
                x = model.pair_inputs(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                                      batch["entity_pos"], batch["hts"], batch["entity_spans"])
                self.write(path, pair_rows(x)[0].float().cpu().numpy())
                self.encoded += 1
            model.train(was_training)
            found.update({p: self.read(p) for p in missing})
        return [found[p] for p in paths]
