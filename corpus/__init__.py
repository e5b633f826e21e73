"""DocRED documents: load, validate, save, align, convert, download, stats, and the official scorer."""
from .hf import from_hf, to_hf
from .io import Doc, check_labeled, is_intra, load_docs, save_docs, sentence_sets, triples, validate_docs
from .relations import RelationInventory
from .score import facts_from_docs, load_preds, load_train_facts, score

__all__ = ["Doc", "RelationInventory", "check_labeled", "facts_from_docs", "from_hf", "is_intra", "load_docs",
           "load_preds", "load_train_facts", "save_docs", "score", "sentence_sets", "to_hf", "triples",
           "validate_docs"]
