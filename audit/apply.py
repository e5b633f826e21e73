"""`docrobust audit apply`: a corrected training file from an audit's lists, with a manifest in the noise suite's
format (written by docrobust.noise.ManifestBuilder, as `noise generate` writes its own), so that
docrobust.noise.replay rebuilds the corrected file from the input and the manifest alone.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from docrobust.base import DocrobustError, read_json, sha256_file
from docrobust.corpus import Doc
from docrobust.noise import ManifestBuilder

from .folder import CANDIDATES, SUMMARY, SUSPICIOUS

__all__ = ["apply_audit", "read_list"]

Step = tuple[str, dict[str, Any], list[list], list[list]]   # (name, options, removed rows, added rows)


def read_list(path: Path) -> list[dict[str, Any]]:
    """A ranked list (candidates.csv / suspicious.csv, possibly filtered by hand) as rows, in file order."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a spreadsheet program re-saves with a BOM
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file; give the folder written by `docrobust audit`") from None
    for i, row in enumerate(rows, start=2):
        try:
            row["h_idx"], row["t_idx"], row["score"] = int(row["h_idx"]), int(row["t_idx"]), float(row["score"])
        except (KeyError, TypeError, ValueError):
            raise DocrobustError(f"{path}: line {i}: needs integer h_idx, t_idx and a numeric score") from None
    return rows


def apply_audit(docs: list[Doc], audit_dir: str | Path, *, add_top: int | None = None, add_above: float | None = None,
                drop_below: float | None = None, input_sha256: str | None = None) -> tuple[list[Doc], dict]:
    """(corrected documents, manifest in the noise suite's format): the first `add_top` candidates of
    candidates.csv, or those scoring above `add_above`, added as labels (evidence []), and the labels in
    suspicious.csv scoring below `drop_below` removed (one manifest step each: audit-drop, then audit-add).
    The lists may have been filtered by hand; the manifest records the sha256 of those read. `docs` are not
    modified, and docrobust.noise.replay(docs, manifest) rebuilds the result."""
    audit_dir = Path(audit_dir)
    if add_top is not None and add_above is not None:
        raise DocrobustError("audit apply: --add-top and --add-above are exclusive; give one")
    if add_top is None and add_above is None and drop_below is None:
        raise DocrobustError("audit apply: give --add-top K or --add-above S, and/or --drop-below S")
    for flag, value in (("--add-above", add_above), ("--drop-below", drop_below)):
        if value is not None and not math.isfinite(value):
            raise DocrobustError(f"audit apply: {flag} {value}: give a finite score (every comparison with it is false)")
    steps: list[Step] = []
    lists: dict[str, str] = {}
    if drop_below is not None:
        steps.append(_drop_step(audit_dir, drop_below))
        lists[SUSPICIOUS] = sha256_file(audit_dir / SUSPICIOUS)
    if add_top is not None or add_above is not None:
        steps.append(_add_step(docs, audit_dir, add_top, add_above))
        lists[CANDIDATES] = sha256_file(audit_dir / CANDIDATES)
    builder = ManifestBuilder(docs, spec="audit:" + ",".join(f"{k}={v}" for _, o, _, _ in steps for k, v in o.items()),
                              seed=0, input_sha256=input_sha256, input_sha256_of="file",
                              audit={"folder": str(audit_dir), "lists_sha256": lists})
    for i, (name, options, removed, added) in enumerate(steps):
        for title, h, t, *_ in removed + added:
            n = len(docs[builder.index[title]]["vertexSet"]) if title in builder.index else 0
            if not (0 <= h < n and 0 <= t < n and h != t):
                raise DocrobustError(f"audit apply: ({title!r}, {h}, {t}) is not an entity pair of this training file")
        builder.record({"name": name, "rate": None, "options": options,
                        "achieved_rate": (len(removed) + len(added)) / builder.base if builder.base else 0.0,
                        "n_removed": len(removed), "n_added": len(added), "n_changed": 0,
                        "removed": removed, "changed": [], "added": added}, f"audit apply step {i} ({name})")
    return builder.documents(), builder.finish()


def _drop_step(audit_dir: Path, drop_below: float) -> Step:
    """The audit-drop step: the labels of suspicious.csv scoring below `drop_below`."""
    rows = [r for r in read_list(audit_dir / SUSPICIOUS) if r["score"] < drop_below]
    return "audit-drop", {"drop_below": drop_below}, [[r["title"], r["h_idx"], r["t_idx"], r["r"]] for r in rows], []


def _add_step(docs: list[Doc], audit_dir: Path, add_top: int | None, add_above: float | None) -> Step:
    """The audit-add step: the first `add_top` candidates of candidates.csv, or those scoring above `add_above`;
    refused when the list is too short to tell, or names a relation the audit never scored and the training file
    does not hold."""
    rows = read_list(audit_dir / CANDIDATES)
    if add_top is not None:
        if add_top > len(rows):
            raise DocrobustError(f"--add-top {add_top}: {audit_dir / CANDIDATES} holds {len(rows):,} candidates; "
                                 f"run the audit again with --top {add_top} or more")
        chosen, options = rows[:add_top], {"add_top": add_top}
    else:
        chosen, options = [r for r in rows if r["score"] > add_above], {"add_above": add_above}
        if rows and len(chosen) == len(rows):
            raise DocrobustError(f"--add-above {add_above}: all {len(rows):,} candidates in {audit_dir / CANDIDATES} "
                                 f"score above it, so the list may stop short of it; run the audit again with a larger "
                                 f"--top")
    known = _audited_relations(audit_dir) | {lab["r"] for d in docs for lab in d.get("labels", [])}
    unknown = sorted({r["r"] for r in chosen} - known)
    if unknown:  # a list edited by hand: a relation the audit never scored would enter the training file
        raise DocrobustError(f"{audit_dir / CANDIDATES}: relation {unknown[0]!r} is neither in the audit's relation "
                             f"inventory nor in the training file ({len(unknown)} such)")
    return "audit-add", options, [], [[r["title"], r["h_idx"], r["t_idx"], r["r"], []] for r in chosen]


def _audited_relations(audit_dir: Path) -> set[str]:
    """The relation ids of the audit's inventory (audit.json), or none when the folder has no readable summary."""
    try:
        ids = read_json(audit_dir / SUMMARY).get("relations", {}).get("ids", [])
    except (DocrobustError, AttributeError):
        return set()
    return {r for r in ids if isinstance(r, str)} if isinstance(ids, list) else set()
