"""Real annotation noise: mix in a low-quality label version, or measure its profile and apply it.

Both start from an alignment of a low-quality version (e.g. DocRED's original labels) with a
high-quality one (Re-DocRED) of the same documents. A triple of the high version missing from the
low one is a false negative; a triple of the low version missing from the high one a false positive.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from docrobust.base import DocrobustError, read_json
from docrobust.corpus import Doc, triples
from docrobust.corpus.align import align
from .pairs import PAIRS, load_pair

from .models import seen_type_pairs
from .registry import noise_model
from .table import Edit, LabelTable, sample_new_triples


@noise_model("mixed")
def mixed(table: LabelTable, rate: float, rng: np.random.Generator, *, low_docs: list[Doc]) -> Edit:
    """DocRED-Mixed: a uniformly chosen k = round(rate * A) of the A documents that align with
    `low_docs` carry the low-quality triples (removed: clean-only triples; added: low-only ones, with
    the low version's evidence). The rate is a fraction of documents; documents that do not align
    (absent from `low_docs`, or with other entities) keep their labels and are listed in the manifest.
    A rate > 0 that means no document (none align, or too few for round(rate * A) >= 1) is refused.
    """
    if rate > 1:
        raise DocrobustError(f"mixed: rate {rate:g} is a fraction of documents and must be at most 1")
    alignment = align(low_docs, table.docs)
    index = {title: i for i, title in enumerate(table.titles)}
    pairs = sorted((index[high["title"]], low) for low, high in alignment.pairs)   # in document order
    k = round(rate * len(pairs))
    if rate > 0 and k == 0:
        raise DocrobustError(f"mixed: rate {rate:g} of {len(pairs)} aligned documents is no document; {len(pairs)} of "
                          f"{len(table.docs)} documents align with the low-quality file ({len(alignment.only_high)} "
                          f"titles missing from it, {len(alignment.entity_mismatch)} with other entities): is it "
                          "a version of the same documents?")
    chosen = np.sort(rng.choice(len(pairs), k, replace=False))
    remove, add = [], []
    for i, low in (pairs[c] for c in chosen.tolist()):
        low_keys = triples(low)
        start = table.row_start[i]
        current = table.labels[i]
        keys = table.taken_triples(i)
        remove += [start + j for j, lab in enumerate(current) if (lab["h"], lab["t"], lab["r"]) not in low_keys]
        add += [(i, lab["h"], lab["t"], lab["r"], list(lab.get("evidence", [])))
                for lab in low.get("labels", []) if (lab["h"], lab["t"], lab["r"]) not in keys]
    unaligned = sorted(alignment.entity_mismatch + alignment.only_high)
    return Edit(remove=np.array(remove, dtype=np.int64), add=add,
                achieved=len(chosen) / len(pairs) if pairs else 0.0,
                info={"aligned": len(pairs), "replaced": [table.titles[pairs[c][0]] for c in chosen.tolist()],
                      "unaligned": unaligned})


def measure_profile(low_docs: list[Doc], high_docs: list[Doc]) -> dict[str, Any]:
    """Per-relation false-negative and false-positive rates of `low_docs` against `high_docs`.

    Over the aligned documents, for relation r with H_r high-quality triples: fn_rate = (triples of r
    only in the high version) / H_r and fp_rate = (triples of r only in the low version) / H_r
    (both 0 when H_r = 0), so that `real` can reproduce them on a clean corpus.
    """
    alignment = align(low_docs, high_docs)
    high, low, fn, fp = Counter(), Counter(), Counter(), Counter()
    for lo_doc, hi_doc in alignment.pairs:
        lo, hi = triples(lo_doc), triples(hi_doc)
        high.update(r for *_, r in hi)
        low.update(r for *_, r in lo)
        fn.update(r for *_, r in hi - lo)
        fp.update(r for *_, r in lo - hi)

    def rates(h: int, lo: int, n_fn: int, n_fp: int) -> dict[str, Any]:
        return {"high": h, "low": lo, "fn": n_fn, "fp": n_fp,
                "fn_rate": n_fn / h if h else 0.0, "fp_rate": n_fp / h if h else 0.0}

    per_relation = {r: rates(high[r], low[r], fn[r], fp[r]) for r in sorted(high | low)}
    return {"aligned": len(alignment.pairs), "entity_mismatch": len(alignment.entity_mismatch),
            "only_low": len(alignment.only_low), "only_high": len(alignment.only_high),
            "totals": rates(sum(high.values()), sum(low.values()), sum(fn.values()), sum(fp.values())),
            "per_relation": per_relation}


def read_profile(value: str, data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The profile a spec's `profile=` names: a registered real-noise pair (docrobust.noise.pairs, measured
    from its files in the data folder), else a JSON file written by `docrobust noise profile --out`."""
    if value in PAIRS:
        return measure_profile(*load_pair(value, data_dir))
    if not Path(value).exists():
        raise DocrobustError(f"profile={value}: no such file, and {PAIRS.unknown(value)}")
    return read_json(value)


def profile_rates(profile: Any) -> dict[str, tuple[float, float]]:
    """relation -> (fn_rate, fp_rate) of a measure_profile() result, checked."""
    rows = profile.get("per_relation") if isinstance(profile, dict) else None
    if not isinstance(rows, dict) or not all(
            isinstance(v, dict) and all(isinstance(v.get(k), (int, float)) and 0 <= v[k] < math.inf
                                        for k in ("fn_rate", "fp_rate"))
            for v in rows.values()):
        raise DocrobustError("profile: expected the output of `docrobust noise profile` "
                          "({'per_relation': {relation: {'fn_rate': x, 'fp_rate': y}}})")
    return {r: (v["fn_rate"], v["fp_rate"]) for r, v in rows.items()}


@noise_model("real")
def real(table: LabelTable, rate: float, rng: np.random.Generator, *, profile: Any) -> Edit:
    """Real-shaped noise from a measured profile, scaled by the rate s: for each relation r with n_r
    triples, remove round(s * fn_rate_r * n_r) of them uniformly, and add round(s * fp_rate_r * n_r)
    unlabeled triples of r, uniform over the pairs whose entity types carry r in this corpus.
    Relations the profile does not list are left alone.
    """
    rates = profile_rates(profile)
    n_r = np.bincount(table.r, minlength=len(table.relations))
    keys = rng.standard_exponential(len(table))                 # one shared uniform order for the removals
    seen = seen_type_pairs(table)
    remove, add = [], []
    for c, r in enumerate(table.relations):
        fn_rate, fp_rate = rates.get(r, (0.0, 0.0))
        k_fn, k_fp = round(rate * fn_rate * n_r[c]), round(rate * fp_rate * n_r[c])
        rows = np.flatnonzero(table.r == c)
        if k_fn > len(rows):
            raise DocrobustError(f"real: relation {r} would lose {k_fn} of its {len(rows)} triples; lower the scale")
        remove.append(rows[np.argsort(keys[rows], kind="stable")[:k_fn]])
        if k_fp:
            only_r = np.zeros_like(seen)
            only_r[..., c] = seen[..., c]
            doc, h, t, rr = sample_new_triples(table, k_fp, rng, only_r, f"real (relation {r})")
            add += [(d, a, b, r, []) for d, a, b in zip(doc.tolist(), h.tolist(), t.tolist())]
    add.sort(key=lambda x: x[:3])
    return Edit(remove=np.sort(np.concatenate(remove)) if remove else np.zeros(0, dtype=np.int64), add=add)
