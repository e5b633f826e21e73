"""Noise models on the real DocRED / Re-DocRED files: single-positive vs dev_ext, mixed, profile, fp-type."""
from __future__ import annotations

from collections import Counter

import pytest

from docrobust.corpus import load_docs, triples, validate_docs
from docrobust.noise import apply_noise, measure_profile, replay


@pytest.fixture(scope="module")
def docred_dev(data_dir) -> list[dict]:
    return load_docs(data_dir / "docred/dev.json")


@pytest.fixture(scope="module")
def redocred(data_dir) -> list[dict]:
    return load_docs(data_dir / "redocred/dev_revised.json") + load_docs(data_dir / "redocred/test_revised.json")


def test_single_positive_on_docred_dev_matches_dev_ext(data_dir, docred_dev):
    ext = {d["title"]: d for d in load_docs(data_dir / "docred/dev_ext.json")}
    out, manifest = apply_noise(docred_dev, "fn-single-positive", 0)
    matched = [(o, ext[o["title"]]) for o in out if o["title"] in ext]
    assert len(matched) >= 990
    for o, e in matched:
        assert Counter(lab["r"] for lab in o["labels"]) == Counter(lab["r"] for lab in e["labels"]), o["title"]
    n = sum(len(d["labels"]) for d in docred_dev)
    assert manifest["achieved_rate"] == (n - manifest["positives_after"]) / n


def test_profile_of_docred_against_redocred_has_the_known_totals(docred_dev, redocred):
    profile = measure_profile(docred_dev, redocred)
    assert profile["aligned"] == 895 and profile["entity_mismatch"] == 105
    totals = profile["totals"]
    assert (totals["low"], totals["high"], totals["fp"]) == (10_986, 30_859, 67)
    assert totals["fn"] == 30_859 - (10_986 - 67)
    assert sum(r["fn"] for r in profile["per_relation"].values()) == totals["fn"]
    assert all(0 <= r["fn_rate"] <= 1 for r in profile["per_relation"].values())


def test_mixed_gives_docred_labels_to_half_of_the_aligned_redocred_documents(docred_dev, redocred):
    out, manifest = apply_noise(redocred, "mixed:0.5", 3, low_docs=docred_dev)
    step = manifest["steps"][0]
    assert step["aligned"] == 895 and len(step["replaced"]) == round(0.5 * 895) and len(step["unaligned"]) == 105
    low = {d["title"]: d for d in docred_dev}
    replaced = set(step["replaced"])
    for clean, noisy in zip(redocred, out):
        assert triples(noisy) == triples(low[clean["title"]] if clean["title"] in replaced else clean)
    assert replay(redocred, manifest) == out


def test_fp_type_adds_relations_only_between_type_pairs_that_carry_them(redocred):
    def type_of(doc, e):
        return doc["vertexSet"][e][0]["type"]

    seen = {(type_of(d, lab["h"]), type_of(d, lab["t"]), lab["r"]) for d in redocred for lab in d["labels"]}
    out, manifest = apply_noise(redocred, "fp-type:0.2", 5)
    added = manifest["steps"][0]["added"]
    assert len(added) == round(0.2 * sum(len(d["labels"]) for d in redocred))
    by_title = {d["title"]: d for d in redocred}
    assert all((type_of(by_title[title], h), type_of(by_title[title], t), r) in seen for title, h, t, r, _ in added)
    assert validate_docs(out) == []


def test_real_noise_shaped_by_the_docred_profile(docred_dev, redocred):
    profile = measure_profile(docred_dev, redocred)
    out, manifest = apply_noise(redocred, "real:1.0", 2, profile=profile)
    n_r = Counter(lab["r"] for d in redocred for lab in d["labels"])
    removed = Counter(row[3] for row in manifest["steps"][0]["removed"])
    assert all(removed[r] == round(row["fn_rate"] * n_r[r]) for r, row in profile["per_relation"].items())
    assert manifest["achieved_rate"] == pytest.approx(profile["totals"]["fn_rate"] + profile["totals"]["fp_rate"], abs=0.02)
