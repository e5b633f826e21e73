"""What a cell would refuse before training, found before any cell runs (`bench check`)."""
from __future__ import annotations

import os
from pathlib import Path

from docrobust import noise as noise_suite
from docrobust.base import DocrobustError
from docrobust.corpus import RelationInventory, load_docs

from .config import BenchConfig


def preflight_problems(cfg: BenchConfig, data_dir: str | os.PathLike | None = None) -> list[str]:
    """Everything that would fail a cell before its training starts, found without training (`bench check`): each
    data file read and validated, ranges inside their files, train and dev slices with labels, every noise spec's
    files read and checked as the models read them (noise.check_spec), the model options through the model's own
    constructor, an encoder folder that is not there, and a device this machine does not have."""
    from docrobust.models.registry import check_model_options  # imports torch: only for `bench check`
    from docrobust.models.train import resolve_device

    src, problems = Path(cfg.source).name, []
    rel = cfg.data["relations"]
    try:
        inventory = RelationInventory.load(rel["path"]) if "path" in rel else None
    except DocrobustError as e:
        return [f"{src}: data.relations: {p}" for p in e.problems]
    labels: set[str] = set()
    for key in ("train", "dev", "test", "low"):
        if key not in cfg.data:
            continue
        entry = cfg.data[key]
        try:
            docs = load_docs(entry["path"], inventory)
        except DocrobustError as e:
            problems += [f"{src}: data.{key}: {p}" for p in e.problems]
            continue
        lo, hi = entry.get("range") or (0, len(docs))
        if hi > len(docs):
            problems.append(f"{src}: data.{key}_range: [{lo}, {hi}] reaches past the {len(docs)} documents of "
                            f"{entry['path']}")
        part = docs[lo:hi]
        labels |= {lab["r"] for d in part for lab in d.get("labels", [])}
        if key in ("train", "dev") and not any(d.get("labels") for d in part):
            problems.append(f"{src}: data.{key}: no document of the slice has a label")
    relations = inventory.ids if inventory is not None else sorted(labels)
    for i, spec in enumerate(cfg.matrix["noise"]):
        try:
            noise_suite.check_spec(spec, data_dir, relations)
        except DocrobustError as e:
            problems += [f"{src}: matrix.noise[{i}]: {p}" for p in e.problems]
    for model in cfg.matrix["models"]:
        if model in cfg.models:
            continue  # an external model: its command checks its own options
        try:
            check_model_options(model, cfg.model_options.get(model, {}))
        except DocrobustError as e:
            problems += [f"{src}: model_options.{model}: {p}" for p in e.problems]
    encoder = cfg.encoder or ""
    if encoder.startswith(("/", "./", "../", "~")) and not Path(encoder).expanduser().is_dir():
        problems.append(f"{src}: encoder: no such folder {encoder!r}")
    try:
        resolve_device(str(cfg.training.get("device", "auto")))
    except DocrobustError as e:
        problems.append(f"{src}: training.device: {e}")
    return problems
