"""Cross-fitting: every document scored by a model that never saw it.

The documents are dealt into k folds (a seeded random permutation, round-robin); for each fold a model is fitted on
the other k - 1 and scores the held-out fold only, so each (h, t, r) of every document gets an out-of-fold margin
[pairs, R]. `resumable` keeps each fold's held-out margins on disk, so an interrupted audit trains only the folds it
had not finished.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from docrobust.base import DocrobustError, atomic_write_bytes

__all__ = ["Fit", "Scorer", "assign_folds", "cross_fit", "resumable"]

Scorer = Callable[[np.ndarray], list[np.ndarray]]          # document indices -> margins [pairs, R] each
Fit = Callable[[int, np.ndarray], Scorer]                  # (fold, training document indices) -> its scorer


def assign_folds(n_docs: int, folds: int, seed: int) -> np.ndarray:
    """Fold index per document: a seeded permutation dealt round-robin, so fold sizes differ by at most one."""
    if not 2 <= folds <= n_docs:
        raise DocrobustError(f"--folds {folds}: cross-fitting needs at least 2 folds and at most one per document "
                             f"({n_docs} documents)")
    fold_of = np.empty(n_docs, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n_docs)] = np.arange(n_docs) % folds
    return fold_of


def cross_fit(fold_of: np.ndarray, fit: Fit) -> list[np.ndarray]:
    """Out-of-fold margins per document: for each fold k, `fit(k, training documents)` returns a scorer,
    which scores the held-out documents of fold k only; every document is scored exactly once."""
    out: list[np.ndarray | None] = [None] * len(fold_of)
    for k in range(int(fold_of.max()) + 1):
        held = np.flatnonzero(fold_of == k)
        scorer = fit(k, np.flatnonzero(fold_of != k))
        for i, margins in zip(held.tolist(), scorer(held)):
            out[i] = margins
    return out


def resumable(fit: Fit, folder: Path, key: str) -> Fit:
    """`fit` whose held-out margins are kept per fold in folder/fold<k>-<key>.npz (key: a hash of everything that
    decides them), so an interrupted audit run again into the same folder trains only the folds it had not done."""
    def fit_fold(fold: int, train_idx: np.ndarray) -> Scorer:
        path = folder / f"fold{fold}-{key[:16]}.npz"
        if path.is_file():
            with np.load(path) as stored:
                kept = {int(name[1:]): stored[name] for name in stored.files}
            return lambda idx: [kept[i] for i in idx.tolist()]
        scorer = fit(fold, train_idx)

        def score(idx: np.ndarray) -> list[np.ndarray]:
            margins = scorer(idx)
            buffer = io.BytesIO()
            np.savez(buffer, **{f"d{i}": m for i, m in zip(idx.tolist(), margins)})
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buffer.getvalue())
            return margins
        return score
    return fit_fold
