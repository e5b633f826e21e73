"""The typed record of one cell of a results folder (docrobust.reports.results): its scores as per-document counts,
parsed by one function whether it was just built or read back, so what is written is what can be read.

Only numpy is imported (no pandas, no plotting): the runner imports this module on every command.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from docrobust.base import DocrobustError
from docrobust.corpus.score import BUCKETS, COUNT_FIELDS, prf

FORMAT = 1  # cell.json "format"; a cell of another format is read as no result (pending)
STATUSES = ("done", "failed")  # what a finished cell can be; "pending" and "stale" are states of the plan
SCORES = ("precision", "recall", "f1", "ign_f1")
COLUMNS = ("cell_id", "model", "loss", "noise", "noise_family", "rate", "achieved_rate", "seed", "status",
           *SCORES, "calibrated_f1", "train_seconds", "config_hash", "error")


@dataclass(frozen=True, eq=False)
class Scores:
    """One split of one cell, as the counts every reported number is computed from.

    docs: (D, 4) per-document COUNT_FIELDS = [tp, n_pred, n_gold, tp_in_train], rows in `titles` order.
    unknown: predictions whose title is not a gold document; they count in n_pred only (official scorer).
    buckets: BUCKETS name -> (4,) summed [tp, n_pred, n_gold, 0] of the scorer's breakdown.
    """

    titles: tuple[str, ...]
    docs: np.ndarray
    unknown: int
    buckets: dict[str, np.ndarray]

    def outside(self) -> np.ndarray:
        """(4,) counts outside any document: the unknown-title predictions, in n_pred."""
        return np.array([0.0, self.unknown, 0.0, 0.0])

    def total(self) -> np.ndarray:
        """(4,) micro counts over the whole split."""
        return self.docs.sum(axis=0) + self.outside()

    def micro(self) -> dict[str, float]:
        """precision, recall, f1, ign_precision, ign_f1 of the split (docrobust.corpus.score.prf)."""
        return {k: float(v) for k, v in prf(self.total()).items()}

    @classmethod
    def parse(cls, score: Any, where: str) -> "Scores":
        """From a score dict as docrobust.corpus.score.score writes it; `where` names it in errors."""
        per_doc = _get(score, "per_doc", where)
        titles = _get(per_doc, "title", f"{where}.per_doc")
        if not isinstance(titles, list) or not set(map(type, titles)) <= {str}:
            raise DocrobustError(f"field '{where}.per_doc.title' must be a list of document titles")
        columns = [_counts(_get(per_doc, name, f"{where}.per_doc"), len(titles), f"{where}.per_doc.{name}")
                   for name in COUNT_FIELDS]
        docs = np.stack(columns, axis=1) if titles else np.zeros((0, 4))
        tp, n_pred, n_gold, in_train = docs.T
        if np.any(tp > np.minimum(n_pred, n_gold)) or np.any(in_train > tp):
            raise DocrobustError(f"field '{where}.per_doc': some document has tp > n_pred, tp > n_gold or "
                              f"tp_in_train > tp")
        unknown = _counts([_get(score, "n_pred_unknown_title", where)], 1, f"{where}.n_pred_unknown_title")[0]
        breakdown = _get(score, "breakdown", where)
        buckets = {name: np.array([*(_counts([_get(_get(breakdown, name, f"{where}.breakdown"), k,
                                                     f"{where}.breakdown.{name}")], 1,
                                             f"{where}.breakdown.{name}.{k}")[0] for k in ("tp", "n_pred", "n_gold")),
                                   0.0]) for name in BUCKETS}
        return cls(tuple(titles), docs, int(unknown), buckets)

    def to_json(self) -> dict:
        """The score dict layout of docrobust.corpus.score.score (per-relation breakdown left empty)."""
        total = self.total()
        return {**self.micro(), **{k: int(v) for k, v in zip(COUNT_FIELDS, total)},
                "n_pred_unknown_title": self.unknown,
                "per_doc": {"title": list(self.titles), **{k: self.docs[:, i].astype(int).tolist()
                                                           for i, k in enumerate(COUNT_FIELDS)}},
                "breakdown": {**{name: {k: int(v) for k, v in zip(("tp", "n_pred", "n_gold"), counts)}
                                 for name, counts in self.buckets.items()}, "per_relation": {}}}


@dataclass(frozen=True, eq=False)
class Calibrated:
    """Scores after a decision-threshold offset chosen on the dev split (metrics.json "calibrated")."""

    offset: float
    dev: Scores
    test: Scores


@dataclass(frozen=True, eq=False)
class CellRecord:
    """One finished cell of a matrix: what it is, how it ran, and (done cells) its scores.

    cell.json holds the metadata fields; metrics.json holds `metrics`, the trainer's dict, of which the record
    reads "test" and "dev" (score dicts with per-document counts) and the optional "calibrated"
    ({"offset": float, "dev": score dict, "test": score dict}). Every record is checked on construction: a
    done cell must carry a test score, a failed one an error.
    """

    cell_id: str
    model: str
    loss: str
    noise: str                          # the normalized noise spec, "clean" for none
    noise_family: str                   # the spec's model name(s), "clean" for none
    rate: float                         # nominal total noise rate of the spec
    seed: int
    status: str                         # "done" | "failed"
    config_hash: str                    # hash of the cell's resolved config: a different one makes it stale
    achieved_rate: float | None = None  # the noise manifest's achieved rate
    config: dict = field(default_factory=dict)
    train_seconds: float | None = None
    total_seconds: float | None = None
    versions: dict = field(default_factory=dict)     # package -> version
    data_hashes: dict = field(default_factory=dict)  # "train" | "dev" | "test" | "noisy_train" -> sha256
    error: str | None = None
    traceback: str | None = None
    worker: str | None = None
    started: float | None = None
    finished: float | None = None
    metrics: dict | None = field(default=None, repr=False)
    test: Scores | None = field(init=False, repr=False)
    dev: Scores | None = field(init=False, repr=False)
    calibrated: Calibrated | None = field(init=False, repr=False)
    ap: float | None = field(init=False, repr=False)  # threshold-free test score (metrics.json "ranking.ap")

    def __post_init__(self) -> None:
        for name in ("cell_id", "model", "loss", "noise", "noise_family", "config_hash"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise DocrobustError(f"field '{name}' must be a non-empty string")
        if self.status not in STATUSES:
            raise DocrobustError(f"field 'status' must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not _is_number(self.rate) or not (self.achieved_rate is None or _is_number(self.achieved_rate)):
            raise DocrobustError("fields 'rate' and 'achieved_rate' must be numbers")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise DocrobustError(f"field 'seed' must be an integer, got {self.seed!r}")
        test = dev = calibrated = ap = None
        if self.status == "done":
            if not isinstance(self.metrics, dict):
                raise DocrobustError("a done cell needs its metrics.json")
            test = Scores.parse(_get(self.metrics, "test", "metrics.json"), "test")
            dev = Scores.parse(self.metrics["dev"], "dev") if self.metrics.get("dev") else None
            if self.metrics.get("calibrated") is not None:
                cal = self.metrics["calibrated"]
                offset = _get(cal, "offset", "calibrated")
                if not _is_number(offset):
                    raise DocrobustError("field 'calibrated.offset' must be a number")
                calibrated = Calibrated(float(offset), Scores.parse(_get(cal, "dev", "calibrated"), "calibrated.dev"),
                                        Scores.parse(_get(cal, "test", "calibrated"), "calibrated.test"))
            if self.metrics.get("ranking") is not None:
                ap = _get(self.metrics["ranking"], "ap", "ranking")
                if not _is_number(ap) or not 0 <= ap <= 1:
                    raise DocrobustError("field 'ranking.ap' must be a number in [0, 1]")
        elif not self.error:
            raise DocrobustError("a failed cell needs its error")
        object.__setattr__(self, "ap", None if ap is None else float(ap))
        object.__setattr__(self, "test", test)
        object.__setattr__(self, "dev", dev)
        object.__setattr__(self, "calibrated", calibrated)

    def training_epochs(self) -> tuple[int, int, int] | None:
        """(best epoch, epochs run, epoch budget) of a done cell trained by epochs, else None: what tells a run whose
        dev F1 was still rising when its budget ended (best epoch among the last ones, no early stop)."""
        budget = (self.config.get("training") or {}).get("epochs") if isinstance(self.config, dict) else None
        epochs, best = (self.metrics or {}).get("epochs"), (self.metrics or {}).get("best_epoch")
        if not (isinstance(epochs, list) and epochs and all(isinstance(v, int) for v in (best, budget))):
            return None
        return best, len(epochs), budget

    def to_json(self) -> dict:
        """cell.json: the metadata (metrics.json is written beside it)."""
        meta = {f.name: getattr(self, f.name) for f in fields(self)
                if f.init and f.name not in ("metrics", "train_seconds", "total_seconds")}
        return {"format": FORMAT, **meta, "timing": {"train_seconds": self.train_seconds,
                                                     "total_seconds": self.total_seconds}}

    @classmethod
    def from_json(cls, meta: Any, metrics: Any) -> "CellRecord":
        """The record of a cell.json object and its metrics.json object (None for a failed cell)."""
        if not isinstance(meta, dict):
            raise DocrobustError("cell.json: expected a JSON object")
        if meta.get("format", FORMAT) != FORMAT:
            raise DocrobustError(f"cell.json: format {meta.get('format')!r}, this docrobust reads format {FORMAT}")
        timing = meta.get("timing") or {}
        known = {f.name for f in fields(cls) if f.init and f.name not in ("metrics", "train_seconds", "total_seconds")}
        given = {k: v for k, v in meta.items() if k in known}
        try:
            return cls(**given, train_seconds=timing.get("train_seconds"), total_seconds=timing.get("total_seconds"),
                       metrics=metrics)
        except TypeError as e:  # a required field missing
            raise DocrobustError(f"cell.json: {e}".replace("__init__() ", "")) from None

    def row(self) -> dict[str, Any]:
        """The results.csv row: metadata and test scores recomputed from the counts."""
        scores = self.test.micro() if self.test is not None else {}
        return {"cell_id": self.cell_id, "model": self.model, "loss": self.loss, "noise": self.noise,
                "noise_family": self.noise_family, "rate": self.rate, "achieved_rate": self.achieved_rate,
                "seed": self.seed, "status": self.status, **{k: scores.get(k) for k in SCORES},
                "calibrated_f1": self.calibrated.test.micro()["f1"] if self.calibrated else None,
                "train_seconds": self.train_seconds, "config_hash": self.config_hash, "error": self.error or ""}


@dataclass(frozen=True)
class PlannedCell:
    """One cell of plan.json: its coordinates and the config hash a current result must carry."""

    cell_id: str
    config_hash: str
    model: str
    loss: str
    noise: str
    seed: int


@dataclass(frozen=True)
class CellState:
    """A planned cell's state: done | failed (record current), stale (record of another config), pending.

    problem: why a folder that exists is not a result (missing or corrupt files), else None.
    """

    status: str
    record: CellRecord | None = None
    problem: str | None = None


def _get(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise DocrobustError(f"field '{where}' must be a JSON object")
    if key not in obj:
        raise DocrobustError(f"field '{where}.{key}' is missing")
    return obj[key]


def _counts(values: Any, n: int, where: str) -> np.ndarray:
    """A list of n non-negative integer counts as floats, or a DocrobustError naming the field.

    Checked by numpy (a list of JSON integers becomes an integer array; a float, string or null does not):
    `bench plan` checks every cell of a matrix this way.
    """
    array = np.asarray(values) if isinstance(values, list) else np.zeros(0, dtype=object)
    if array.shape != (n,) or (n and (array.dtype.kind not in "iu" or array.min() < 0)):
        raise DocrobustError(f"field '{where}' must be {n} non-negative integer counts")
    return array.astype(float)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

