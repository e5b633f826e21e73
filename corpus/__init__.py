"""DocRED documents: load, validate, save, align, download, stats, and the official scorer."""
from .io import (CorpusError, Doc, atomic_write_bytes, atomic_write_json, atomic_write_text, check_io, check_labeled,
                 check_output, dumps_json, folder_built_beside, is_intra, load_docs, read_json, save_docs,
                 sentence_sets, sha256_bytes, sha256_file, sha256_json, triples, validate_docs)
from .hf import from_hf, to_hf
from .relations import RelationInventory
from .score import facts_from_docs, load_preds, load_train_facts, score

__all__ = ["CorpusError", "Doc", "RelationInventory", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "check_io", "check_labeled", "check_output", "dumps_json", "facts_from_docs", "folder_built_beside",
           "from_hf", "is_intra", "load_docs", "load_preds", "load_train_facts", "read_json", "save_docs", "score",
           "sentence_sets", "sha256_bytes", "sha256_file", "sha256_json", "to_hf", "triples", "validate_docs"]
