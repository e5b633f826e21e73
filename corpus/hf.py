"""Hugging Face `datasets` layout of DocRED (the hub's `docred` and Re-DocRED sets) to DocRED JSON and back.

The layout differs from DocRED's JSON in one place: a document's `labels` are one dict of parallel lists,

    {"title": str, "sents": [[str]], "vertexSet": [[{"name", "sent_id", "pos", "type"}]],
     "labels": {"head": [int], "tail": [int], "relation_id": [str], "relation_text": [str], "evidence": [[int]]}}

`from_hf` reads any iterable of such rows: a `datasets.Dataset`, or rows read from a saved dataset folder
(`datasets.load_from_disk`), a parquet export or a JSON / JSON Lines export (`load_hf`). `to_hf` builds a
`datasets.Dataset` with the hub's features. `datasets` is an optional extra (`pip install 'docrobust[hf]'`),
needed only for `to_hf` and saved folders; parquet needs pyarrow (`docrobust[parquet]`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from docrobust.base import DocrobustError, cap_problems, read_json, shown
from .io import Doc, validate_docs

LABEL_KEYS = ("head", "tail", "relation_id", "relation_text", "evidence")
MENTION_KEYS = ("name", "sent_id", "pos", "type")


def _datasets():
    try:
        import datasets
    except ImportError:
        raise DocrobustError("the Hugging Face layout needs the datasets package: pip install 'docrobust[hf]'") from None
    return datasets


def from_hf(rows: Any, source: str = "<dataset>") -> list[Doc]:
    """DocRED documents from rows in the Hugging Face layout; DocrobustError naming row and field for each problem.

    Mention fields beyond the four of DocRED (Re-DocRED's `global_pos`, `index`) are kept when set;
    `relation_text` is dropped (DocRED keeps names in rel_info.json: see `hf_relation_names`).
    """
    if hasattr(rows, "keys") and not hasattr(rows, "features"):   # a DatasetDict: the split must be chosen
        raise DocrobustError(f"{source}: holds the splits {', '.join(rows.keys())}; pick one (ds['train'], --split train)")
    docs, problems = [], []
    for i, row in enumerate(rows):
        doc, bad = _doc_of_row(row)
        title = row.get("title") if isinstance(row, dict) else None
        where = f"{source}: row {i}" + (f" {title!r}" if isinstance(title, str) else "")
        problems += [f"{where}: {b}" for b in bad]
        docs.append(doc)
    problems += validate_docs(docs, source=source, max_problems=10 ** 9) if not problems else []
    if problems:
        raise DocrobustError(cap_problems(problems, source=source))
    return docs


def _doc_of_row(row: Any) -> tuple[Doc, list[str]]:
    if not isinstance(row, dict):
        return {}, [f"expected an object, got {type(row).__name__}"]
    missing = [k for k in ("title", "sents", "vertexSet", "labels") if k not in row]
    if missing:
        return {}, [f"{k}: missing" for k in missing]
    labels = row["labels"]
    if isinstance(labels, list):   # already DocRED's list of label objects: accept it as it is
        return {**row}, []
    if not isinstance(labels, dict):
        return {}, [f"labels: expected a dict of lists ({', '.join(LABEL_KEYS)}), got {type(labels).__name__}"]
    columns = {k: labels.get(k) for k in LABEL_KEYS if labels.get(k) is not None}
    bad = [f"labels.{k}: missing" for k in ("head", "tail", "relation_id") if k not in columns]
    bad += [f"labels.{k}: expected a list, got {shown(v)}" for k, v in columns.items() if not isinstance(v, list)]
    if bad:
        return {}, bad
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        return {}, [f"labels: lists of different lengths ({', '.join(f'{k} {n}' for k, n in lengths.items())})"]
    n = lengths["head"]
    evidence = columns.get("evidence", [[]] * n)
    doc = {k: v for k, v in row.items() if k not in ("labels", "vertexSet")}
    doc["vertexSet"] = _mentions_set(row["vertexSet"])
    doc["labels"] = [{"h": h, "t": t, "r": r, "evidence": list(ev) if isinstance(ev, list) else ev}
                     for h, t, r, ev in zip(columns["head"], columns["tail"], columns["relation_id"], evidence)]
    return doc, []


def _mentions_set(vertex_set: Any) -> Any:
    """The vertexSet with the mention fields Arrow adds as null (a field some other mention has) left out;
    anything malformed is passed on as it is, for validate_docs to name."""
    if not isinstance(vertex_set, list):
        return vertex_set
    return [[{k: v for k, v in m.items() if k in MENTION_KEYS or v is not None} if isinstance(m, dict) else m
             for m in entity] if isinstance(entity, list) else entity for entity in vertex_set]


def hf_relation_names(rows: Iterable[Any]) -> dict[str, str]:
    """relation_id -> relation_text as the rows give them (for rel_info.json)."""
    names: dict[str, str] = {}
    for row in rows:
        labels = row.get("labels") if isinstance(row, dict) else None
        if isinstance(labels, dict) and isinstance(labels.get("relation_text"), list):
            names.update(zip(labels.get("relation_id") or [], labels["relation_text"]))
    return names


def hf_features():
    """The hub `docred` dataset's features (labels as a sequence of dicts, which Arrow stores as dict of lists)."""
    datasets = _datasets()
    Value, Sequence = datasets.Value, datasets.Sequence
    mention = {"name": Value("string"), "sent_id": Value("int32"), "pos": Sequence(Value("int32")),
               "type": Value("string")}
    return datasets.Features({
        "title": Value("string"),
        "sents": Sequence(Sequence(Value("string"))),
        "vertexSet": [[mention]],
        "labels": Sequence({"head": Value("int32"), "tail": Value("int32"), "relation_id": Value("string"),
                            "relation_text": Value("string"), "evidence": Sequence(Value("int32"))}),
    })


def to_hf(docs: list[Doc], relation_names: dict[str, str] | None = None):
    """A `datasets.Dataset` in the hub's DocRED layout; relation_text from `relation_names` (else the id).

    Only DocRED's fields travel (title, sents, the four mention fields, h/t/r/evidence), as in the hub's set.
    """
    datasets = _datasets()
    names = relation_names or {}
    rows = [{"title": d["title"], "sents": d["sents"],
             "vertexSet": [[{k: m[k] for k in MENTION_KEYS} for m in entity] for entity in d["vertexSet"]],
             "labels": {"head": [lab["h"] for lab in d.get("labels", [])],
                        "tail": [lab["t"] for lab in d.get("labels", [])],
                        "relation_id": [lab["r"] for lab in d.get("labels", [])],
                        "relation_text": [names.get(lab["r"], lab["r"]) for lab in d.get("labels", [])],
                        "evidence": [list(lab.get("evidence", [])) for lab in d.get("labels", [])]}}
            for d in docs]
    return datasets.Dataset.from_list(rows, features=hf_features())


def load_hf(path: str | os.PathLike, split: str | None = None) -> list[dict]:
    """Rows of a saved dataset folder (`save_to_disk`; `split` picks one of a DatasetDict), a parquet file, or a
    JSON list / JSON Lines file (`Dataset.to_json`)."""
    path = Path(path)
    if path.is_dir():
        datasets = _datasets()
        try:
            ds = datasets.load_from_disk(str(path))
        except FileNotFoundError as e:
            raise DocrobustError(f"{path}: not a folder written by save_to_disk ({e})") from None
        if hasattr(ds, "keys"):
            if split is None and len(ds) == 1:
                split = next(iter(ds.keys()))
            if split not in ds:
                raise DocrobustError(f"{path}: holds the splits {', '.join(ds.keys())}; pick one with --split")
            ds = ds[split]
        return list(ds)
    if split is not None:
        raise DocrobustError(f"{path}: --split applies to a saved DatasetDict folder, not to a file")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DocrobustError("reading parquet needs pyarrow: pip install 'docrobust[parquet]'") from None
        try:
            return pq.read_table(path).to_pylist()
        except (OSError, ValueError) as e:
            raise DocrobustError(f"{path}: cannot read as parquet ({e})") from None
    return _json_rows(path)


def _json_rows(path: Path) -> list[Any]:
    """A JSON list, or JSON Lines (one object per line, as datasets' to_json writes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise DocrobustError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if text.lstrip().startswith("["):
        return read_json(path)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DocrobustError(f"{path}:{n}: not valid JSON Lines ({e.msg}, column {e.colno})") from None
            except RecursionError:
                raise DocrobustError(f"{path}:{n}: JSON nested too deeply to read") from None
    return rows
