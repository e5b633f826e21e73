"""Run a noise spec over documents, record everything in a manifest, and replay a manifest.

Each step gets its own random stream, PCG64(SeedSequence([seed, step index])), and sees the labels
left by the steps before it. Its Edit becomes manifest rows keyed by title, and those rows are what
changes the labels, in generation and replay alike:

    removed  [title, h, t, r]              the label disappears
    changed  [title, h, t, r, r_new]       the label keeps its place and fields, with relation r_new
    added    [title, h, t, r, evidence]    a new label {"h", "t", "r", "evidence"} is appended

Output documents share everything but their label lists with the input (labels left alone are
shared too); the input is never modified.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from docrobust import __version__
from docrobust.base import (DocrobustError, atomic_write_bytes, atomic_write_json, dumps_json, read_json, sha256_bytes,
                            sha256_file, sha256_json)
from docrobust.corpus import Doc

from docrobust.corpus.pair_types import pair_types_of

from .annotator import check_model
from .models import read_confusion
from .real import profile_rates, read_profile
from .registry import NOISE_MODELS, OPTIONAL_INPUTS, NoiseModel, NoiseStep, parse_spec, spec_files
from .table import Edit, LabelTable


def step_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, index])))


def apply_noise(docs: list[Doc], spec: str, seed: int, *, low_docs: list[Doc] | None = None,
                profile: dict | None = None, source_sha256: str | None = None,
                data_dir: str | os.PathLike | None = None,
                pair_types: Iterable[Iterable[str]] | None = None) -> tuple[list[Doc], dict]:
    """Noisy copies of `docs` under `spec` (see registry.py), and the manifest that records every change.

    `low_docs`: the aligned low-quality version for `mixed`; `profile`: a measure_profile() result for
    `real` (or name in the spec its file, or a registered real-noise pair, whose files are looked up in
    `data_dir`); `pair_types`: the fp-* models add triples only to pairs of these (head type, tail type)
    (corpus/pair_types.py; recorded in the manifest); `source_sha256`: the input file's sha256, recorded as is
    (without it the sha256 of the JSON value is recorded). The sha256 of every file the spec names is recorded
    as `spec_files`. Same input, spec and seed: same output.
    The manifest's achieved_rate is changed triples / input positives; a step's achieved_rate is in
    its model's unit (the same, except documents for mixed).
    """
    steps = parse_spec(spec)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise DocrobustError(f"seed must be an integer >= 0, got {seed!r}")
    pair_types = pair_types_of(pair_types)
    inputs = {"low_docs": low_docs, "profile": profile, "data_dir": data_dir, "pair_types": pair_types}
    builder = ManifestBuilder(docs, spec=spec, seed=int(seed), input_sha256=source_sha256 or sha256_json(docs),
                              input_sha256_of="file" if source_sha256 else "json", steps=[],
                              **({"pair_types": sorted(map(list, pair_types))} if pair_types is not None else {}))
    table = LabelTable(docs, builder.labels, base=builder.base)
    files = {str(p): sha256_file(p) for p in spec_files(spec, data_dir) if Path(p).is_file()}
    if files:  # the files the spec names, by content: a cache built from other contents is not this result
        builder.manifest["spec_files"] = files
    clean = [{(lab["h"], lab["t"], lab["r"]) for lab in labs} for labs in builder.labels]
    for i, step in enumerate(steps):
        model = NOISE_MODELS[step.name]
        kwargs = _arguments(model, step, inputs)
        edit = _false_only(model.fn(table, step.rate, step_rng(seed, i), **kwargs), table)
        record = _record(step, edit, table)
        if "profile" in kwargs:
            record["profile_sha256"] = sha256_json(kwargs["profile"])
        builder.record(record, f"step {i} ({step})")
        table = _next_table(docs, builder.labels, clean, table)
    return builder.documents(), builder.finish()


def check_spec(spec: str, data_dir: str | os.PathLike | None = None, relations: list[str] | None = None) -> None:
    """Everything a spec's steps would refuse before drawing anything, said at once: the spec itself, the files it
    names read and checked as the models read them (an annotator model=, a profile=, an fp-flip matrix= against
    `relations` when given), and a model= the annotator needs. `noise generate` and `bench check` both call it."""
    problems = []
    steps = parse_spec(spec)
    for step in steps:
        where = f"noise spec {spec!r}, step {str(step)!r}: " if len(steps) > 1 else ""  # one step: the spec says it
        try:
            if step.name == "annotator" and "model" not in step.options:
                raise DocrobustError("annotator needs model=annotator.json (from `docrobust noise fit LOW HIGH --out ...`)")
            for option, value in step.options.items():
                if option == "model":
                    check_model(read_json(value), value)
                elif option == "profile":
                    profile_rates(read_profile(value, data_dir))
                elif option == "matrix":
                    read_confusion(value, relations)
        except DocrobustError as e:
            problems += [f"{where}{p}" for p in e.problems]
    if problems:
        raise DocrobustError(problems)


def replay(docs: list[Doc], manifest: dict) -> list[Doc]:
    """The output of apply_noise rebuilt from its input and manifest alone (no models, no randomness)."""
    if manifest.get("input_sha256_of") == "json" and sha256_json(docs) != manifest.get("input_sha256"):
        raise DocrobustError("replay: these documents are not the manifest's input (sha256 differs)")
    index = title_index(docs)
    labels = [d.get("labels", []) for d in docs]
    for i, record in enumerate(manifest.get("steps", [])):
        labels = apply_changes(labels, index, record, f"manifest step {i}")
    return rebuild_documents(docs, labels)


def apply_changes(labels: list[list[dict]], index: dict[str, int], record: dict, where: str) -> list[list[dict]]:
    """New label lists after one step's removed / changed / added rows; lists of untouched documents are shared."""
    per_doc: dict[int, tuple[set, dict, list]] = {}

    def doc_of(title: str) -> tuple[set, dict, list]:
        if title not in index:
            raise DocrobustError(f"{where}: no document titled {title!r}")
        return per_doc.setdefault(index[title], (set(), {}, []))

    for title, h, t, r in record["removed"]:
        doc_of(title)[0].add((h, t, r))
    for title, h, t, r, r_new in record["changed"]:
        doc_of(title)[1][(h, t, r)] = r_new
    for title, h, t, r, evidence in record["added"]:
        doc_of(title)[2].append({"h": h, "t": t, "r": r, "evidence": list(evidence)})
    out = list(labels)
    for i, (removed, changed, added) in per_doc.items():
        keys = {(lab["h"], lab["t"], lab["r"]) for lab in labels[i]}
        missing = (removed | changed.keys()) - keys
        if missing:
            raise DocrobustError(f"{where}: document {i} has no label (h, t, r) = {sorted(missing)[0]}")
        kept = [lab if (lab["h"], lab["t"], lab["r"]) not in changed else {**lab, "r": changed[(lab["h"], lab["t"], lab["r"])]}
                for lab in labels[i] if (lab["h"], lab["t"], lab["r"]) not in removed]
        out[i] = kept + added
        if len({(lab["h"], lab["t"], lab["r"]) for lab in out[i]}) != len(out[i]):
            raise DocrobustError(f"{where}: document {i} would hold a label twice")
    return out


class ManifestBuilder:
    """A manifest being written over `docs`, and the label lists its steps have left so far.

    The header (spec, seed, version, input hash, documents, positives and relation counts before) is made here;
    `record` applies one step's rows (see `apply_changes`) and appends the step; `finish` adds the totals
    (positives and relation counts after, achieved_rate = changed triples / positives before); `documents`
    rebuilds the documents with the current labels. `apply_noise` and the audit's `apply` both write through it.
    """

    def __init__(self, docs: list[Doc], *, spec: str, seed: int, input_sha256: str | None, input_sha256_of: str,
                 **fields: Any):
        """`fields`: further header keys, in their order after the counts; "steps" goes where given, else last."""
        self.docs, self.index = docs, title_index(docs)
        self.labels: list[list[dict]] = [d.get("labels", []) for d in docs]
        self.base = sum(map(len, self.labels))
        self.manifest: dict[str, Any] = {
            "spec": spec, "seed": seed, "docrobust_version": __version__, "input_sha256": input_sha256,
            "input_sha256_of": input_sha256_of, "documents": len(docs), "positives_before": self.base,
            "relations_before": relation_counts(self.labels), **fields}
        self.manifest.setdefault("steps", [])

    def record(self, record: dict[str, Any], where: str) -> None:
        """Apply one step's removed / changed / added rows to the labels and append the step to the manifest."""
        self.labels = apply_changes(self.labels, self.index, record, where)
        self.manifest["steps"].append(record)

    def finish(self) -> dict[str, Any]:
        """The manifest with its totals."""
        changed = sum(len(s[k]) for s in self.manifest["steps"] for k in ("removed", "added", "changed"))
        self.manifest.update(positives_after=sum(map(len, self.labels)), relations_after=relation_counts(self.labels),
                             achieved_rate=changed / self.base if self.base else 0.0)
        return self.manifest

    def documents(self) -> list[Doc]:
        """The documents carrying the labels the recorded steps left (see `rebuild_documents`)."""
        return rebuild_documents(self.docs, self.labels)


def title_index(docs: list[Doc]) -> dict[str, int]:
    """Document index by title; manifests name documents by title, so a title given twice is refused."""
    index: dict[str, int] = {}
    for i, d in enumerate(docs):
        if d["title"] in index:
            raise DocrobustError(f"documents {index[d['title']]} and {i} share the title {d['title']!r}; "
                              "noise manifests name documents by title, so titles must be unique")
        index[d["title"]] = i
    return index


def relation_counts(labels: list[list[dict]]) -> dict[str, int]:
    """Labels per relation, relations sorted."""
    counts = Counter(lab["r"] for labs in labels for lab in labs)
    return {r: counts[r] for r in sorted(counts)}


def rebuild_documents(docs: list[Doc], labels: list[list[dict]]) -> list[Doc]:
    """Shallow document copies carrying the new label lists (a document without labels stays without)."""
    return [dict(d) if labs is d.get("labels") or ("labels" not in d and not labs) else {**d, "labels": labs}
            for d, labs in zip(docs, labels)]


# ---------------------------------------------------------------- files: a noisy set and its manifest are one result

def manifest_path(path: str | os.PathLike) -> Path:
    """OUT.json -> OUT.manifest.json"""
    if not Path(path).name:
        raise DocrobustError(f"{str(path)!r}: not a file name; name the output file")
    return Path(path).with_suffix(".manifest.json")


def write_noisy(docs: list[Doc], manifest: dict, path: str | os.PathLike) -> dict:
    """Write noisy documents to `path` and their manifest beside it; return the manifest as written.

    The two files are renamed into place one after the other, so the manifest records the sha256 of the
    documents' bytes (`output_sha256`) and goes second: after a kill between the renames, read_noisy
    sees new documents beside an old manifest, and reports the pair as absent instead of mismatched.
    """
    data = dumps_json(docs).encode("utf-8")
    manifest = {**manifest, "output_sha256": sha256_bytes(data)}
    atomic_write_bytes(path, data)
    try:
        atomic_write_json(manifest_path(path), manifest, indent=None)
    except BaseException:  # documents without their manifest are no result (a full disk): leave none to block a rerun
        Path(path).unlink(missing_ok=True)
        raise
    return manifest


def read_noisy(path: str | os.PathLike) -> tuple[list[Doc], dict] | None:
    """(documents, manifest) written by write_noisy, or None when either file is missing or unreadable, or the
    documents are not the ones the manifest describes (an interrupted write)."""
    try:
        manifest = read_json(manifest_path(path))
        data = Path(path).read_bytes()
    except (DocrobustError, OSError):
        return None
    if not isinstance(manifest, dict) or manifest.get("output_sha256") != sha256_bytes(data):
        return None
    return json.loads(data), manifest


# ---------------------------------------------------------------- helpers

def _arguments(model: NoiseModel, step: NoiseStep, inputs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a step: its options over the defaults, then the inputs it asks for."""
    kwargs = {k: v for k, v in model.options.items() if k not in model.inputs}
    kwargs.update((k, v) for k, v in step.options.items() if k not in model.inputs)
    for name in model.inputs:
        value = read_profile(step.options[name], inputs["data_dir"]) if name in step.options else inputs[name]
        if value is None and name not in OPTIONAL_INPUTS:
            how = {"low_docs": "pass low_docs= (CLI: --low LOW.json), an aligned low-quality version of the documents",
                   "profile": f"pass profile= (CLI: --profile P.json) or write {step},profile=P.json"}
            raise DocrobustError(f"{step.name} needs {name}: {how[name]}")
        kwargs[name] = value
    return kwargs


def _next_table(docs: list[Doc], labels: list[list[dict]], clean: list[set], table: LabelTable) -> LabelTable:
    """What the next step of a chained spec sees: as rows, only the clean labels no step has touched (a false
    negative is a true label missed; a flip confuses a true label), and as taken, every label now or in the
    input (a false positive is false with respect to the clean labels). So removed and added rows never meet."""
    untouched = [[lab for lab in labs if (lab["h"], lab["t"], lab["r"]) in clean[d]] for d, labs in enumerate(labels)]
    taken = [clean[d] | {(lab["h"], lab["t"], lab["r"]) for lab in labs} for d, labs in enumerate(labels)]
    return LabelTable(docs, untouched, table.base, table.relations, taken)


def _false_only(edit: Edit, table: LabelTable) -> Edit:
    """The edit without additions or flips onto a taken triple (a label now or in the clean input); the models
    sample around them, this is the guarantee for any model that does not, and the count of what it dropped."""
    add = [a for a in edit.add if (a[1], a[2], a[3]) not in table.taken_triples(a[0])]
    keep = [k for k, (row, r) in enumerate(zip(edit.flip.tolist(), edit.flip_to))
            if (int(table.h[row]), int(table.t[row]), r) not in table.taken_triples(int(table.doc[row]))]
    if len(add) == len(edit.add) and len(keep) == len(edit.flip_to):
        return edit
    dropped = len(edit.add) - len(add) + len(edit.flip_to) - len(keep)
    return dataclasses.replace(edit, add=add, flip=edit.flip[keep], flip_to=[edit.flip_to[k] for k in keep],
                               info={**edit.info, "dropped_true_labels": dropped})


def _record(step: NoiseStep, edit: Edit, table: LabelTable) -> dict[str, Any]:
    """The manifest entry of one step: what it asked for, what it did, and every triple it touched."""
    title, rel = table.titles, table.relations

    def rows(idx: np.ndarray) -> list[list]:
        return [[title[d], h, t, rel[r]] for d, h, t, r in
                zip(table.doc[idx].tolist(), table.h[idx].tolist(), table.t[idx].tolist(), table.r[idx].tolist())]

    removed, changed = rows(edit.remove), [row + [r] for row, r in zip(rows(edit.flip), edit.flip_to)]
    added = [[title[d], h, t, r, evidence] for d, h, t, r, evidence in edit.add]
    n = len(removed) + len(added) + len(changed)
    achieved = edit.achieved if edit.achieved is not None else (n / table.base if table.base else 0.0)
    record = {"name": step.name, "rate": step.rate, "options": dict(step.options), "achieved_rate": achieved,
              "n_removed": len(removed), "n_added": len(added), "n_changed": len(changed), **edit.info}
    return {**record, "removed": removed, "changed": changed, "added": added}

