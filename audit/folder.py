"""An audit folder: the files `docrobust audit` writes into it, and reading them back for `apply` and `score`.

    scores.npz       every cell's margin [pairs, R] and label, the titles, pairs per document and folds
    candidates.csv   missing-label candidates, best first (the first --top)
    suspicious.csv   suspicious labels, best first (every label)
    audit.json       settings, counts, sha256 of the input and of every output, seconds (written last)
    audit.html       the review page
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from docrobust.base import DocrobustError, read_json, sha256_file

from .quality import label_quality

__all__ = ["CANDIDATES", "PAGE", "SCORES", "SUMMARY", "SUSPICIOUS", "Audit", "Key", "read_audit", "read_summary"]

SCORES, CANDIDATES, SUSPICIOUS = "scores.npz", "candidates.csv", "suspicious.csv"
SUMMARY, PAGE = "audit.json", "audit.html"
Key = tuple[str, int, int, str]   # a triple of the audited file: (title, h, t, r)


def read_summary(folder: str | Path, train_path: str | Path | None = None) -> dict:
    """audit.json of `folder`; with train_path, refuse it unless it audited that very file (same sha256)."""
    folder = Path(folder)
    if not (folder / SUMMARY).is_file():
        raise DocrobustError(f"{folder}: no {SUMMARY} here; give a folder written by "
                             "`docrobust audit TRAIN.json --out FOLDER`")
    summary = read_json(folder / SUMMARY)
    if train_path is not None and summary.get("input_sha256") != sha256_file(train_path):
        raise DocrobustError(f"{train_path}: is not the file audited in {folder} (that was {summary.get('input')})")
    return summary


@dataclasses.dataclass
class Audit:
    """An audit folder read back: its summary, every cell's margin and label, and the documents' layout."""
    summary: dict
    margins: np.ndarray        # [pairs, R] float32
    labels: np.ndarray         # [pairs, R] bool
    titles: list[str]
    pairs: np.ndarray          # pairs per document

    def quality(self) -> np.ndarray:
        """cleanlab's label quality [pairs, R], adjusted as the audit was (audit.json's settings)."""
        return label_quality(self.margins, self.labels, adjust=self.summary["settings"]["adjust"])

    def cells(self, keys: set[Key]) -> np.ndarray:
        """Flat cell indices of (title, h, t, r) keys; keys of other documents, pairs or relations are left out."""
        column = {r: i for i, r in enumerate(self.summary["relations"]["ids"])}
        doc = {t: i for i, t in enumerate(self.titles)}
        offsets = np.concatenate([[0], np.cumsum(self.pairs)])
        out = []
        for title, h, t, r in keys:
            d = doc.get(title)
            if d is None or r not in column:
                continue
            n = round((1 + math.sqrt(1 + 4 * int(self.pairs[d]))) / 2)   # n(n - 1) pairs
            if 0 <= h < n and 0 <= t < n and h != t:
                out.append((offsets[d] + h * (n - 1) + t - (t > h)) * len(column) + column[r])
        return np.array(sorted(out), dtype=np.int64)


def read_audit(folder: str | Path, train_path: str | Path | None = None) -> Audit:
    """The audit in `folder`, its scores checked against the sha256 audit.json recorded."""
    folder = Path(folder)
    summary = read_summary(folder, train_path)
    if not (folder / SCORES).is_file() or sha256_file(folder / SCORES) != summary["hashes"][SCORES]:
        raise DocrobustError(f"{folder / SCORES}: missing or changed since the audit wrote it; run the audit again")
    with np.load(folder / SCORES) as z:
        shape = tuple(z["shape"].tolist())
        labels = np.unpackbits(z["labels"], count=shape[0] * shape[1]).reshape(shape).astype(bool)
        return Audit(summary, z["margins"], labels, z["titles"].tolist(), z["pairs"])
