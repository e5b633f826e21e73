"""DocRED-format documents: load, validate, save, and small helpers over their entities and labels.

Documents stay plain JSON values (lists and dicts) so that fields we do not know about, such as
Re-DocRED's `global_pos` and `index` on mentions, survive a load and save unchanged.
"""
from __future__ import annotations

import os
from typing import Any, Iterable

from docrobust.base import DocrobustError, atomic_write_text, cap_problems, dumps_json, read_json, shown

Doc = dict[str, Any]


INFER_HINT = "(pass --relations infer to take the relations from the labels)"


def load_docs(path: str | os.PathLike, relations: Any = None, *, max_problems: int = 20) -> list[Doc]:
    """Load and validate a DocRED-format JSON file; raise DocrobustError listing the problems found.

    `relations` (a RelationInventory or any container of relation ids) also checks every label's `r`.
    """
    docs = read_json(path)
    problems = validate_docs(docs, relations, source=str(path), max_problems=max_problems)
    if problems:
        raise DocrobustError(problems)
    return docs


def check_labeled(docs: list[Doc], source: str | os.PathLike, why: str) -> None:
    """Refuse documents without a single label where labels are needed (`why` says what for)."""
    if not any(isinstance(d, dict) and d.get("labels") for d in docs):
        raise DocrobustError(f"{source}: no document has a label; {why}")


def save_docs(docs: list[Doc], path: str | os.PathLike) -> None:
    """Write documents as compact JSON, atomically (DocRED's own files are compact too)."""
    atomic_write_text(path, dumps_json(docs))


# ---------------------------------------------------------------- validation

def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _doc_where(source: str, i: int, doc: Any) -> str:
    title = doc.get("title") if isinstance(doc, dict) else None
    return f"{source}: document {i}" + (f" {title!r}" if isinstance(title, str) else "")


def _validate_doc(doc: Any, relations: Any) -> Iterable[str]:
    """Yield 'field: reason' for every problem in one document."""
    if not isinstance(doc, dict):
        yield f"document: expected an object, got {type(doc).__name__}"
        return
    for key, kind in (("title", str), ("sents", list), ("vertexSet", list)):
        if key not in doc:
            yield f"{key}: missing"
        elif not isinstance(doc[key], kind):
            yield f"{key}: expected {kind.__name__}, got {type(doc[key]).__name__}"
    if any(not isinstance(doc.get(k), kind) for k, kind in (("sents", list), ("vertexSet", list))):
        return
    sents = doc["sents"]
    for s, sent in enumerate(sents):
        if not isinstance(sent, list) or not all(isinstance(w, str) for w in sent):
            yield f"sents[{s}]: expected a list of token strings"
    sent_lens = [len(s) if isinstance(s, list) else 0 for s in sents]
    entities = doc["vertexSet"]
    for e, entity in enumerate(entities):
        if not isinstance(entity, list):
            yield f"vertexSet[{e}]: expected a list of mentions, got {type(entity).__name__}"
            continue
        if not entity:
            yield f"vertexSet[{e}]: entity has no mentions"
        for m, mention in enumerate(entity):
            yield from (f"vertexSet[{e}][{m}].{p}" for p in _mention_problems(mention, sent_lens))
    labels = doc.get("labels", [])
    if not isinstance(labels, list):
        yield f"labels: expected a list, got {type(labels).__name__}"
        return
    seen: set[tuple] = set()
    for k, label in enumerate(labels):
        for p in _label_problems(label, len(entities), len(sents), relations):
            yield f"labels[{k}].{p}"
        if isinstance(label, dict):
            key = (label.get("h"), label.get("t"), label.get("r"))
            if all(isinstance(x, (int, str)) for x in key):
                if key in seen:
                    yield f"labels[{k}]: duplicate label (h={key[0]}, t={key[1]}, r={key[2]})"
                seen.add(key)


def _mention_problems(mention: Any, sent_lens: list[int]) -> Iterable[str]:
    if not isinstance(mention, dict):
        yield f"mention: expected an object, got {type(mention).__name__}"
        return
    for key in ("name", "sent_id", "pos", "type"):
        if key not in mention:
            yield f"{key}: missing"
    if "name" in mention and not isinstance(mention["name"], str):
        yield "name: expected a string"
    if "type" in mention and not isinstance(mention["type"], str):
        yield "type: expected a string"
    sid = mention.get("sent_id")
    if "sent_id" in mention and not (_is_int(sid) and 0 <= sid < len(sent_lens)):
        yield f"sent_id: {shown(sid)} outside the document's {len(sent_lens)} sentences"
        return
    pos = mention.get("pos")
    if "pos" not in mention or sid is None:
        return
    if not (isinstance(pos, list) and len(pos) == 2 and all(_is_int(x) for x in pos)):
        yield f"pos: expected [start, end] integers, got {shown(pos)}"
    elif not 0 <= pos[0] < pos[1] <= sent_lens[sid]:
        yield f"pos: {pos} outside sentence {sid} of {sent_lens[sid]} tokens"


def _label_problems(label: Any, n_entities: int, n_sents: int, relations: Any) -> Iterable[str]:
    if not isinstance(label, dict):
        yield f"label: expected an object, got {type(label).__name__}"
        return
    for key in ("h", "t", "r"):
        if key not in label:
            yield f"{key}: missing"
    for key in ("h", "t"):
        if key in label and not (_is_int(label[key]) and 0 <= label[key] < n_entities):
            yield f"{key}: {shown(label[key])} outside vertexSet of {n_entities} entities"
    if label.get("h") == label.get("t") and "h" in label:
        yield f"t: head and tail are the same entity ({label['h']})"
    if "r" in label:
        if not isinstance(label["r"], str):
            yield f"r: expected a relation id string, got {shown(label['r'])}"
        elif relations is not None and label["r"] not in relations:
            yield f"r: {shown(label['r'])} is not in the relation inventory {INFER_HINT}"
    evidence = label.get("evidence", [])
    if not (isinstance(evidence, list) and all(_is_int(s) and 0 <= s < n_sents for s in evidence)):
        yield f"evidence: expected sentence ids in 0..{n_sents - 1}, got {shown(evidence)}"


def validate_docs(docs: Any, relations: Any = None, source: str = "<documents>", max_problems: int = 20) -> list[str]:
    """Every problem in a DocRED-format value, one line each: 'file: document i 'title': field: reason'.

    Lists the first `max_problems` and then how many more there are.
    """
    if not isinstance(docs, list):
        return [f"{source}: expected a JSON list of documents, got {type(docs).__name__}"]
    return cap_problems((f"{_doc_where(source, i, doc)}: {p}" for i, doc in enumerate(docs)
                         for p in _validate_doc(doc, relations)), max_problems, source)


# ---------------------------------------------------------------- small document helpers

def sentence_sets(doc: Doc) -> list[frozenset[int]]:
    """The sentences each entity is mentioned in."""
    return [frozenset(m["sent_id"] for m in entity) for entity in doc["vertexSet"]]


def is_intra(sents_of: list[frozenset[int]], h: int, t: int) -> bool:
    """A pair is intra-sentence when some mention of h and some mention of t share a sentence."""
    return not sents_of[h].isdisjoint(sents_of[t])


def triples(doc: Doc) -> set[tuple[int, int, str]]:
    return {(lab["h"], lab["t"], lab["r"]) for lab in doc.get("labels", [])}
