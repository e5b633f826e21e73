"""The report's content: every computed table (Report), and the printed tables and sections made from them."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .cells import CLEAN, SCORE_KINDS, Results


@dataclass
class Report:
    """Everything a report shows; numbers are fractions, as computed."""

    results: Results
    baseline: str
    alpha: float
    confidence: float
    n_resamples: int
    min_clean_f1: float
    scores: pd.DataFrame  # per finished cell
    summary: pd.DataFrame  # per model × loss × noise cell, over seeds
    drops: pd.DataFrame
    auc: pd.DataFrame
    comparisons: pd.DataFrame
    wilcoxon: pd.DataFrame
    invalid: pd.DataFrame  # validity.validity per score kind: a row withholds the comparisons of its metric
    retention: pd.DataFrame  # retention.retention: which loss keeps more of its clean score, per score kind
    convergence: pd.DataFrame  # validity.convergence: systems whose dev F1 still rose at their last epoch
    figures: dict = field(default_factory=dict)  # name -> (FigureSpec, Figure)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether F1 as trained can carry a comparison (its significance marks and statements)."""
        return self.valid_metric("f1")

    def valid_metric(self, metric: str) -> bool:
        """Whether `metric` (a SCORE_KINDS key) is in the results and passed its validity check."""
        return metric in self.metrics and (self.invalid.empty or not (self.invalid["metric"] == metric).any())

    @property
    def metrics(self) -> list[str]:
        """The score kinds (SCORE_KINDS) that the finished cells carry."""
        return [m for m in SCORE_KINDS if f"{m}_mean" in self.summary and self.summary[f"{m}_mean"].notna().any()]

    @property
    def has_clean(self) -> bool:
        return bool((self.summary["noise_family"] == CLEAN).any())

    @property
    def families(self) -> list[str]:
        """The noise families other than clean, in report order."""
        return [f for f in dict.fromkeys(self.summary["noise_family"]) if f != CLEAN]


@dataclass
class Table:
    """A printed table: a title, an explanatory note, and string cells."""

    title: str
    note: str
    frame: pd.DataFrame


@dataclass
class Section:
    """A part of the details: an introduction, then tables and figures (by name) in order."""

    title: str
    intro: str
    blocks: list  # Table | str (a figure name)
