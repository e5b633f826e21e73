"""The report's provenance: the folder, failed and pending cells, software versions and data hashes."""
from __future__ import annotations

import pandas as pd

from .content import Report, Table


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.0f} s"


def overview(report: Report) -> Table:
    """What the results folder holds and how the report was computed."""
    results, cells, done = report.results, report.results.cells, report.results.done
    facts = {
        "results folder": str(results.path),
        "cells": f"{len(cells) + len(results.pending)} planned: {len(done)} done, {len(cells) - len(done)} failed, "
                 f"{len(results.pending)} without a current result",
        "models": ", ".join(dict.fromkeys(cells["model"])),
        "losses": ", ".join(dict.fromkeys(cells["loss"])),
        "noise cells": ", ".join(dict.fromkeys(cells["noise"])),
        "seeds": ", ".join(map(str, sorted(cells["seed"].unique()))),
        "test documents": str(results.n_docs),
        "encoder": str(results.config.get("encoder") or "–"),
        "training time": f"{_duration(cells['train_seconds'].sum())} over all cells",
        "baseline loss": report.baseline or "–",
        "resamples": f"{report.n_resamples:,} (paired bootstrap and approximate randomization)",
        "significance level": f"{report.alpha:g} after Holm; confidence {report.confidence:.0%}",
        "validity floor": f"clean F1 ≥ {report.min_clean_f1:.0%}",
    }
    return Table("Overview", "", pd.DataFrame({"": list(facts), "value": list(facts.values())}))


def provenance(report: Report) -> list[Table]:
    """The folder, failed and pending cells, versions and data hashes, grouped so each distinct value shows once."""
    results = report.results
    tables = [overview(report)]
    if not results.failed.empty:
        tables.append(Table("Failed cells", "Cells that did not finish; tracebacks are in cells/<cell_id>/cell.json.",
                            results.failed[["cell_id", "model", "loss", "noise", "seed", "error"]].reset_index(drop=True)))
    if len(results.pending):
        tables.append(Table("Cells without a current result",
                            "pending: not run yet, or its files are missing or unreadable (the next run redoes it); "
                            "stale: a result of another configuration.", results.pending.reset_index(drop=True)))
    versions = pd.DataFrame([{"cell_id": c, **r.versions} for c, r in results.records.items()])
    hashes = pd.DataFrame([{"cell_id": c, **r.data_hashes} for c, r in results.records.items()])
    if len(versions.columns) > 1:
        keys = [c for c in versions.columns if c != "cell_id"]
        tables.append(Table("Software versions", "Distinct version sets and how many cells ran under each.",
                            versions.fillna("–").groupby(keys, sort=False).size().rename("cells").reset_index()))
    shared = [c for c in ("train", "dev", "test") if c in hashes.columns]
    if shared:
        tables.append(Table("Data hashes (SHA-256)", "Distinct input files and how many cells used each.",
                            hashes[shared].fillna("–").groupby(shared, sort=False).size().rename("cells").reset_index()))
    if "noisy_train" in hashes.columns:
        per_cell = hashes[["cell_id", "noisy_train"]].merge(results.cells[["cell_id", "config_hash"]], on="cell_id")
        tables.append(Table("Noisy training sets (SHA-256)", "One per cell, with the hash of the cell's configuration.",
                            per_cell.fillna("–")))
    return tables
