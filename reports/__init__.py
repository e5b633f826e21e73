"""Reports: robustness tables, significance tests and figures from a benchmark results folder."""
from .report import Report, build_report
from .results import Results, load_results
from .stats import Resamples, holm, normalized_auc, paired_test, prf, wilcoxon_p
from .write import write_report

__all__ = ["Report", "Resamples", "Results", "build_report", "holm", "load_results", "normalized_auc", "paired_test",
           "prf", "wilcoxon_p", "write_report"]
