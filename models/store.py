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
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

from docrobust.corpus.data import feature_store_root

from .features import batches_by_length, collate, tokenizer_fingerprint
from .pooling import pair_rows
from .registry import DocREModel

__all__ = ["FeatureStore"]

FORMAT = 1          # bump when the rows' layout or meaning changes
HEADER = 64         # bytes before the rows
MAGIC = b"DRFS1"


def encoder_fingerprint(model: DocREModel, tokenizer) -> str:
    """sha256 of what decides a document's rows besides the document: encoder weights (the pooler's excluded) and
    config, tokenizer, entity pooling, the localized context's head reduction."""
    h = hashlib.sha256(json.dumps([FORMAT, model.pooling, model.context_heads, tokenizer_fingerprint(tokenizer),
                                   model.encoder.config.to_json_string()]).encode())
    for name, tensor in sorted(model.encoder.state_dict().items()):
        if name.startswith("pooler."):  # unused by the models, and random where a checkpoint lacks it
            continue
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
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
        """Write rows atomically: a unique temporary file in the same folder, then a rename."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        header = b" ".join([MAGIC, *(str(v).encode() for v in (*rows.shape, zlib.crc32(rows)))])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header.ljust(HEADER - 1) + b"\n")
                f.write(rows.tobytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @torch.no_grad()
    def rows(self, model: DocREModel, tokenizer, features: list[dict], *, batch_size: int = 8,
             device: torch.device | str = "cpu") -> list[np.ndarray]:
        """Each feature's rows, in order: read from the store, or computed with `model.pair_inputs` and stored.

        Documents missing from the store are encoded in length-sorted batches, each once even when
        it appears several times in `features`.
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
            todo = list(missing.values())
            where = {id(f): p for p, f in missing.items()}
            for chunk in batches_by_length(todo, batch_size, shuffle=False):
                batch = collate(chunk)
                x = model.pair_inputs(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                                      batch["entity_pos"], batch["hts"], batch["entity_spans"])
                for f, rows in zip(chunk, pair_rows(x)):
                    self.write(where[id(f)], rows.float().cpu().numpy())
                self.encoded += len(chunk)
            model.train(was_training)
            found.update({p: self.read(p) for p in missing})
        return [found[p] for p in paths]
