"""Reports: robustness tables, significance tests and figures from a benchmark results folder.

Names load on first use, so that the runner can import the results contract (docrobust.reports.results,
numpy only) without pandas, scipy or matplotlib.
"""
from importlib import import_module

_WHERE = {"Report": "content", "build_report": "report", "Results": "cells", "load_results": "cells",
          "Resamples": "stats", "holm": "stats", "normalized_auc": "stats", "paired_test": "stats",
          "wilcoxon_p": "stats", "write_report": "write", "CellRecord": "records", "ResultsStore": "results",
          "Scores": "records", "results_table": "api"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
