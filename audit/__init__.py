"""The label-error auditor: which labels of a DocRE training set are missing, which are wrong.

    crossfit.py  every document scored by a model that never saw it: out-of-fold margins [pairs, R]
                     margin[h, t, r] = z_r - threshold   (the TH column, or 0 for bce / balanced-softmax)
    folds.py     the fold trainer, on the trainer's own pieces (models/loop.py); imports torch, so it is not
                 imported here: run_audit loads it when it trains
    quality.py   cleanlab's multi-label label quality of p = sigmoid(margin); the two ranked lists
    page.py      the lists' rows (CSV) and the review page (audit.html)
    run.py       `docrobust audit`: cross-fit, rank, write the audit folder
    folder.py    the audit folder's files, read back
    apply.py     `audit apply`: a corrected training file plus a noise-suite manifest (docrobust.noise.replay
                 rebuilds it)
    scoring.py   `audit score`: the lists against known errors (a noise manifest, or better labels)

Cleanlab's pair-level aggregate and its `find_label_issues` are not used: a pair is not the unit a person accepts or
rejects (a triple is), and confident learning's count of issues per class assumes class-conditional noise, which
DocRED's missing labels are not (annotators miss inter-sentence and long-tail triples more).
"""
from .apply import apply_audit, read_list
from .crossfit import Fit, Scorer, assign_folds, cross_fit, resumable
from .folder import CANDIDATES, PAGE, SCORES, SUMMARY, SUSPICIOUS, Audit, Key, read_audit, read_summary
from .page import COLUMNS, context, context_text, csv_text, list_rows, write_page
from .quality import all_pairs, doc_labels, label_quality, ranked_cells
from .run import AUDIT_FINE_TUNING, AUDIT_TRAINING, run_audit
from .scoring import list_metrics, score_audit, truth_from_docs, truth_from_manifest

__all__ = ["AUDIT_FINE_TUNING", "AUDIT_TRAINING", "CANDIDATES", "COLUMNS", "PAGE", "SCORES", "SUMMARY", "SUSPICIOUS",
           "Audit", "Fit", "Key", "Scorer", "all_pairs", "apply_audit", "assign_folds", "context", "context_text",
           "cross_fit", "csv_text", "doc_labels", "label_quality", "list_metrics", "list_rows", "ranked_cells",
           "read_audit", "read_list", "read_summary", "resumable", "run_audit", "score_audit", "truth_from_docs",
           "truth_from_manifest", "write_page"]
