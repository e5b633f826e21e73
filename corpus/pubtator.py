"""Readers of PubTator text and of the ChemDisGene JSON made from it, into `convert.Abstract`s.

PubTator, as CDR, GDA, BioRED and ChemDisGene distribute it (documents separated by blank lines):

    PMID|t|Title text
    PMID|a|Abstract text
    PMID<TAB>start<TAB>end<TAB>mention text<TAB>type<TAB>identifier(s)[<TAB>individual mentions]   a mention
    PMID<TAB>relation type<TAB>identifier 1<TAB>identifier 2[<TAB>more columns]                   a relation

Offsets index title + " " + abstract. Relation lines may also stand in files of their own (ChemDisGene's
`*_relationships.tsv`, `approved_relns_*.tsv`): every file given is read, and each relation joins the
document of its PMID. Files may be gzip-compressed (`.gz`). A fifth relation column holding BioRED's novelty
mark (`Novel`, `No`) becomes the label's "novelty"; other columns after the two identifiers are dropped and
counted. Identifier fields are cut as `convert.split_ids` states (composite lists at `,` and `|`, tmVar
variant ids kept whole).

ChemDisGene JSON (its baseline's `tsv2json.py`): a list of {"docid", "title", "abstract", "entity": [{"start",
"end", "mention", "type", "id"}], "relation": [{"type", "subj", "obj"}]}, with the same offsets.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any, Iterable

from .convert import ID_SEPARATORS, NOVELTY, Abstract, ConversionReport, Mention, Relation, split_ids
from docrobust.base import DocrobustError, cap_problems, read_json, shown


def _lines(path: Path) -> Iterable[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            yield from f
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DocrobustError(f"{path}: is a folder, expected a PubTator file") from None
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise DocrobustError(f"{path}: not UTF-8 PubTator text ({e})") from None


def read_pubtator(paths: Iterable[str | os.PathLike], id_separator: str = ID_SEPARATORS,
                  report: ConversionReport | None = None) -> list[Abstract]:
    """Abstracts of PubTator files, in order of first appearance; one DocrobustError listing every bad line.

    A relation of a PMID whose text no file gives (a relation file covering more documents than the abstracts
    given) is dropped and counted in `report`."""
    paths = [Path(p) for p in paths]
    docs: dict[str, Abstract] = {}
    text_lines: set[tuple[str, str]] = set()   # (PMID, "t" | "a") already read
    relations: list[tuple[str, Relation, str]] = []
    problems: list[str] = []
    for path in paths:
        for n, raw in enumerate(_lines(path), 1):
            line = raw.rstrip("\r\n")
            where = f"{path}:{n}"
            if not line.strip():
                continue
            head = line.split("|", 2)
            if len(head) == 3 and head[1] in ("t", "a") and "\t" not in head[0]:
                doc = docs.setdefault(head[0], Abstract(head[0], "", "", where=where))
                if (head[0], head[1]) in text_lines:
                    problems.append(f"{where}: document {head[0]} has a second |{head[1]}| line "
                                    "(is a file given twice?)")
                text_lines.add((head[0], head[1]))
                if head[1] == "t":
                    doc.title = head[2]
                else:
                    doc.abstract = head[2]
                continue
            cols = line.split("\t")
            if len(cols) >= 6 and cols[1].isdigit() and cols[2].isdigit():
                if cols[0] not in docs:
                    problems.append(f"{where}: mention of document {cols[0]} before its |t| and |a| lines")
                    continue
                docs[cols[0]].mentions.append(Mention(int(cols[1]), int(cols[2]), cols[3], cols[4],
                                                      split_ids(cols[5], id_separator)))
            elif len(cols) >= 4 and not cols[1].isdigit():
                extra = [c.strip() for c in cols[4:]]
                novelty = extra.pop(0) if extra and extra[0] in NOVELTY else None
                relations += [(cols[0], rel, where) for rel in
                              split_relation(cols[1], cols[2], cols[3], id_separator, report, novelty)]
                if any(extra) and report is not None:
                    report.drop("relation column", "after the two identifiers, not BioRED's novelty mark "
                                "(the relation is kept)", cols[0], f"{shown(' '.join(extra))} ({where})")
            else:
                problems.append(f"{where}: not a PubTator line (PMID|t|title, PMID|a|abstract, a mention "
                                f"PMID<TAB>start<TAB>end<TAB>text<TAB>type<TAB>id, or a relation "
                                f"PMID<TAB>type<TAB>id<TAB>id): {shown(line)}")
    for pmid, rel, where in relations:
        if pmid in docs:
            docs[pmid].relations.append(rel)
        elif report is not None:
            report.drop("relation", "its document's text is in none of the inputs", pmid,
                        f"{rel.type} {rel.head} -> {rel.tail} ({where})")
    if relations and not docs:
        problems.append(f"{', '.join(map(str, paths))}: relations but no document text (PMID|t| and PMID|a| lines); "
                        "give the abstracts file too")
    if problems:
        raise DocrobustError(cap_problems(problems))
    return list(docs.values())


def split_relation(kind: str, head: str, tail: str, id_separator: str, report: ConversionReport | None,
                   novelty: str | None = None) -> list[Relation]:
    """One relation per pair of the parts of its identifiers, cut as mention fields are (`split_ids`); a
    relation naming a composite field is counted in `report.expanded`. An identifier with no part (`-`)
    stays as written, to be dropped and counted as one that no mention carries."""
    heads = split_ids(head, id_separator) or (head.strip(),)
    tails = split_ids(tail, id_separator) or (tail.strip(),)
    if len(heads) * len(tails) > 1 and report is not None:
        report.expanded += 1
    return [Relation(kind, h, t, novelty) for h in heads for t in tails]


_CDG_DOC = {"docid": str, "title": str, "abstract": str, "entity": list}
_CDG_ENTITY = {"start": int, "end": int, "mention": str, "type": str, "id": str}
_CDG_RELATION = {"type": str, "subj": str, "obj": str}


def read_chemdisgene(paths: Iterable[str | os.PathLike], id_separator: str = ID_SEPARATORS,
                     report: ConversionReport | None = None) -> list[Abstract]:
    """Abstracts of ChemDisGene JSON files; one DocrobustError naming file, document and field for every problem."""
    out: list[Abstract] = []
    problems: list[str] = []
    for path in map(Path, paths):
        data = read_json(path)
        if not isinstance(data, list):
            raise DocrobustError(f"{path}: expected a JSON list of ChemDisGene documents, got {type(data).__name__}")
        for i, doc in enumerate(data):
            where = f"{path}: document {i}"
            bad = list(_field_problems(doc, _CDG_DOC, ""))
            if not bad:
                where += f" {doc['docid']!r}"
                for k, e in enumerate(doc["entity"]):
                    bad += _field_problems(e, _CDG_ENTITY, f"entity[{k}].")
                relations = doc.get("relation", [])
                if not isinstance(relations, list):
                    bad.append(f"relation: expected a list, got {type(relations).__name__}")
                    relations = []
                for k, r in enumerate(relations):
                    bad += _field_problems(r, _CDG_RELATION, f"relation[{k}].")
            if bad:
                problems += [f"{where}: {b}" for b in bad]
                continue
            out.append(Abstract(
                doc["docid"], doc["title"], doc["abstract"],
                [Mention(e["start"], e["end"], e["mention"], e["type"], split_ids(e["id"], id_separator))
                 for e in doc["entity"]],
                [rel for r in doc.get("relation", []) for rel in
                 split_relation(r["type"], r["subj"], r["obj"], id_separator, report)], where))
    if problems:
        raise DocrobustError(cap_problems(problems))
    return out


def _field_problems(obj: Any, fields: dict[str, type], prefix: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{prefix.rstrip('.') or 'document'}: expected an object, got {type(obj).__name__}"]
    bad = []
    for key, kind in fields.items():
        value = obj.get(key)
        if key not in obj:
            bad.append(f"{prefix}{key}: missing")
        elif not isinstance(value, kind) or isinstance(value, bool):
            bad.append(f"{prefix}{key}: expected {kind.__name__}, got {shown(value)}")
    return bad
