"""Noise models on generated corpora: exact rates, determinism, only the intended changes, replay."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

import pytest
from conftest import make_doc
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from docrobust.base import DocrobustError, dumps_json
from docrobust.corpus import triples, validate_docs
from docrobust.noise import (NOISE_MODELS, NoiseStep, apply_noise, describe_spec, measure_profile, needs_low_docs,
                             needs_profile, normalize_spec, parse_spec, replay)

RELATIONS = ("P1", "P2", "P3", "P4")
TYPES = ("PER", "LOC", "ORG")
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- generated corpora

@st.composite
def documents(draw, title: str, min_labels: int = 0) -> dict:
    """A valid document with 2-6 entities of random types, some mentioned in two sentences, and distinct labels."""
    n_entities, n_sents = draw(st.integers(2, 6)), draw(st.integers(1, 4))
    candidates = [(h, t, r) for h in range(n_entities) for t in range(n_entities) if h != t for r in RELATIONS]
    doc = make_doc(title, n_entities, draw(st.lists(st.sampled_from(candidates), unique=True, min_size=min_labels, max_size=14)),
                   n_sents)
    for e, entity in enumerate(doc["vertexSet"]):
        entity[0]["type"] = draw(st.sampled_from(TYPES))
        if draw(st.booleans()):
            entity.append({**entity[0], "sent_id": draw(st.integers(0, n_sents - 1))})
    return doc


@st.composite
def corpora(draw, min_labels: int = 0) -> list[dict]:
    """1-4 documents, each with at least `min_labels` labels."""
    return [draw(documents(f"doc {i}", min_labels)) for i in range(draw(st.integers(1, 4)))]


@st.composite
def low_versions(draw, docs: list[dict]) -> list[dict]:
    """Another label version of `docs`: each kept document loses and gains some triples; one may have other entities."""
    low = []
    for doc in docs:
        if draw(st.integers(0, 5)) == 0:
            continue  # absent from the low version
        n = len(doc["vertexSet"])
        candidates = [(h, t, r) for h in range(n) for t in range(n) if h != t for r in RELATIONS]
        keep = [lab for lab in doc["labels"] if draw(st.booleans())]
        kept = {(lab["h"], lab["t"], lab["r"]) for lab in keep}
        extra = [c for c in draw(st.lists(st.sampled_from(candidates), unique=True, max_size=3)) if c not in kept]
        new = {**copy.deepcopy(doc), "labels": keep + [{"h": h, "t": t, "r": r, "evidence": [0]} for h, t, r in extra]}
        if draw(st.integers(0, 5)) == 0:
            new["vertexSet"][0][0]["name"] = "renamed"  # same title, other entities: must not be mixed
        low.append(new)
    return low


def all_triples(docs: list[dict]) -> Counter:
    return Counter((d["title"], lab["h"], lab["t"], lab["r"]) for d in docs for lab in d["labels"])


def entity_type(doc: dict, e: int) -> str:
    return doc["vertexSet"][e][0]["type"]


def run(docs: list[dict], spec: str, seed: int, **inputs) -> tuple[list[dict], dict]:
    """apply_noise plus the checks every model must pass: input untouched, valid output, same bytes again, replay."""
    before = copy.deepcopy(docs)
    out, manifest = apply_noise(docs, spec, seed, **inputs)
    assert docs == before
    assert validate_docs(out) == []
    assert [{k: v for k, v in d.items() if k != "labels"} for d in out] == [
        {k: v for k, v in d.items() if k != "labels"} for d in docs]
    again, manifest_again = apply_noise(docs, spec, seed, **inputs)
    assert dumps_json(again) == dumps_json(out) and dumps_json(manifest_again) == dumps_json(manifest)
    assert dumps_json(replay(docs, json.loads(dumps_json(manifest)))) == dumps_json(out)
    assert manifest["positives_after"] == sum(len(d["labels"]) for d in out)
    return out, manifest


def changed_count(manifest: dict) -> int:
    return sum(s["n_removed"] + s["n_added"] + s["n_changed"] for s in manifest["steps"])


# ---------------------------------------------------------------- false negatives

@SETTINGS
@given(docs=corpora(), rate=st.floats(0, 1), seed=st.integers(0, 2**32),
       spec=st.sampled_from(["fn-uniform:{}", "fn-frequency:{},exponent=1.5", "fn-frequency:{},exponent=-2",
                             "fn-distance:{}", "fn-distance:{},strength=3", "fn-pair:{}"]))
def test_fn_models_remove_exactly_round_rate_n_and_nothing_else(docs, rate, seed, spec):
    out, manifest = run(docs, spec.format(rate), seed)
    n = sum(len(d["labels"]) for d in docs)
    before, after = all_triples(docs), all_triples(out)
    assert not after - before                                  # only removals
    assert sum((before - after).values()) == round(rate * n)
    assert manifest["achieved_rate"] == (round(rate * n) / n if n else 0.0)
    assert Counter(tuple(row) for row in manifest["steps"][0]["removed"]) == before - after


@SETTINGS
@given(docs=corpora(), seed=st.integers(0, 2**32), data=st.data())
def test_fn_pair_removes_whole_pairs_but_at_most_one(docs, seed, data):
    n = sum(len(d["labels"]) for d in docs)
    k = data.draw(st.integers(0, n))
    out, _ = run(docs, f"fn-pair:{k / n if n else 0}", seed)
    removed = all_triples(docs) - all_triples(out)
    pairs = Counter((title, h, t) for title, h, t, _ in all_triples(docs))
    lost = Counter((title, h, t) for title, h, t, _ in removed)
    assert sum(removed.values()) == k
    assert sum(lost[p] < pairs[p] for p in lost) <= 1


@SETTINGS
@given(docs=corpora(), seed=st.integers(0, 2**32), data=st.data(), sign=st.sampled_from([1, -1]))
def test_fn_frequency_with_a_steep_exponent_takes_the_most_or_least_frequent_relations_first(docs, seed, data, sign):
    counts = Counter(lab["r"] for d in docs for lab in d["labels"])
    if not counts:
        return
    target = max(counts.values()) if sign > 0 else min(counts.values())
    k = data.draw(st.integers(0, sum(c for c in counts.values() if c == target)))
    n = sum(counts.values())
    out, _ = run(docs, f"fn-frequency:{k / n},exponent={sign * 80}", seed)
    removed = all_triples(docs) - all_triples(out)
    assert all(counts[r] == target for *_, r in removed)


@SETTINGS
@given(docs=corpora(), seed=st.integers(0, 2**32), rate=st.floats(0, 1))
def test_fn_distance_with_a_steep_strength_misses_far_pairs_first(docs, seed, rate):
    out, _ = run(docs, f"fn-distance:{rate},strength=80", seed)
    by_title = {d["title"]: d for d in docs}

    def distance(title, h, t):
        vs = by_title[title]["vertexSet"]
        return min(abs(a["sent_id"] - b["sent_id"]) for a in vs[h] for b in vs[t])

    removed = all_triples(docs) - all_triples(out)
    kept = all_triples(out)
    if removed and kept:
        assert min(distance(*x[:3]) for x in removed) >= max(distance(*x[:3]) for x in kept)


@SETTINGS
@given(docs=corpora(), seed=st.integers(0, 2**32))
def test_fn_single_positive_keeps_exactly_one_triple_per_relation_and_document(docs, seed):
    out, manifest = run(docs, "fn-single-positive", seed)
    assert not all_triples(out) - all_triples(docs)
    for d, o in zip(docs, out):
        assert Counter(lab["r"] for lab in o["labels"]) == {r: 1 for r in {lab["r"] for lab in d["labels"]}}
    n = sum(len(d["labels"]) for d in docs)
    assert manifest["steps"][0]["achieved_rate"] == pytest.approx((n - manifest["positives_after"]) / n if n else 0)


# ---------------------------------------------------------------- false positives

def candidates(docs: list[dict], typed: bool) -> int:
    """Unlabeled (h, t, r), h != t, counted by brute force; typed: only type pairs that carry r in the corpus."""
    seen = {(entity_type(d, lab["h"]), entity_type(d, lab["t"]), lab["r"]) for d in docs for lab in d["labels"]}
    relations = sorted({lab["r"] for d in docs for lab in d["labels"]})
    total = 0
    for d in docs:
        labeled = triples(d)
        n = len(d["vertexSet"])
        total += sum((h, t, r) not in labeled and (not typed or (entity_type(d, h), entity_type(d, t), r) in seen)
                     for h in range(n) for t in range(n) if h != t for r in relations)
    return total


@SETTINGS
@given(docs=corpora(), rate=st.floats(0, 3), seed=st.integers(0, 2**32), model=st.sampled_from(["fp-uniform", "fp-type"]))
def test_fp_models_add_exactly_round_rate_n_new_triples_or_say_why_not(docs, rate, seed, model):
    n = sum(len(d["labels"]) for d in docs)
    k = round(rate * n)
    available = candidates(docs, typed=model == "fp-type")
    if k > available:
        with pytest.raises(DocrobustError, match=f"cannot add {k} triples, only {available} unlabeled candidates"):
            apply_noise(docs, f"{model}:{rate}", seed)
        return
    out, manifest = run(docs, f"{model}:{rate}", seed)
    before, after = all_triples(docs), all_triples(out)
    assert not before - after and sum((after - before).values()) == k
    relations = {lab["r"] for d in docs for lab in d["labels"]}
    seen = {(entity_type(d, lab["h"]), entity_type(d, lab["t"]), lab["r"]) for d in docs for lab in d["labels"]}
    by_title = {d["title"]: d for d in docs}
    for title, h, t, r in after - before:
        assert r in relations
        if model == "fp-type":
            assert (entity_type(by_title[title], h), entity_type(by_title[title], t), r) in seen


@SETTINGS
@given(docs=corpora(), rate=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_fp_flip_changes_exactly_k_relations_in_place_to_confusable_ones(docs, rate, seed):
    n = sum(len(d["labels"]) for d in docs)
    try:
        out, manifest = run(docs, f"fp-flip:{rate}", seed)
    except DocrobustError as e:
        assert f"cannot change {round(rate * n)} triples" in str(e)
        return
    carriers = defaultdict(set)  # relation -> the entity-type pairs it joins in the input
    for d in docs:
        for lab in d["labels"]:
            carriers[lab["r"]].add((entity_type(d, lab["h"]), entity_type(d, lab["t"])))
    flips = 0
    for d, o in zip(docs, out):
        assert [(a["h"], a["t"], a["evidence"]) for a in d["labels"]] == [(b["h"], b["t"], b["evidence"]) for b in o["labels"]]
        for a, b in zip(d["labels"], o["labels"]):
            if a["r"] != b["r"]:
                flips += 1
                assert carriers[a["r"]] & carriers[b["r"]]  # confusable: they share an entity-type pair
    assert flips == round(rate * n) == manifest["steps"][0]["n_changed"]


def test_fp_flip_reads_a_confusion_matrix_file(tmp_path):
    docs = [make_doc("A", 4, [(0, 1, "P1"), (1, 2, "P2"), (2, 3, "P1")]), make_doc("B", 3, [(0, 2, "P1")])]
    (tmp_path / "m.json").write_text(json.dumps({"P1": {"P9": 1.0}, "P2": {}}))
    out, manifest = run(docs, f"fp-flip:0.75,matrix={tmp_path / 'm.json'}", 4)
    assert sorted(row[-1] for row in manifest["steps"][0]["changed"]) == ["P9", "P9", "P9"]
    with pytest.raises(DocrobustError, match="only 3 have a confusable relation"):
        apply_noise(docs, f"fp-flip:1.0,matrix={tmp_path / 'm.json'}", 4)
    (tmp_path / "bad.json").write_text(json.dumps({"P1": {"P9": -1}}))
    with pytest.raises(DocrobustError, match="bad.json: expected a JSON object"):
        apply_noise(docs, f"fp-flip:0.5,matrix={tmp_path / 'bad.json'}", 4)


# ---------------------------------------------------------------- real noise on generated corpora

@SETTINGS
@given(data=st.data(), rate=st.floats(0, 1), seed=st.integers(0, 2**32))
def test_mixed_gives_a_fraction_of_aligned_documents_the_low_labels(data, rate, seed):
    docs = data.draw(corpora(min_labels=1))
    low = data.draw(low_versions(docs))
    low_by_title = {d["title"]: d for d in low}
    aligned = [d["title"] for d in docs if d["title"] in low_by_title
               and low_by_title[d["title"]]["vertexSet"] == d["vertexSet"]]
    if rate > 0 and round(rate * len(aligned)) == 0:  # a rate that means no document is refused, not a no-op
        with pytest.raises(DocrobustError, match=f"mixed: rate .* of {len(aligned)} aligned documents is no document"):
            run(docs, f"mixed:{rate}", seed, low_docs=low)
        return
    out, manifest = run(docs, f"mixed:{rate}", seed, low_docs=low)
    step = manifest["steps"][0]
    assert step["aligned"] == len(aligned) and len(step["replaced"]) == round(rate * len(aligned))
    assert sorted(step["unaligned"]) == sorted(d["title"] for d in docs if d["title"] not in aligned)
    for d, o in zip(docs, out):
        expected = low_by_title[d["title"]] if d["title"] in step["replaced"] else d
        assert triples(o) == triples(expected)


@SETTINGS
@given(data=st.data(), scale=st.floats(0.2, 1.5), seed=st.integers(0, 2**32))
def test_real_applies_a_measured_profile_per_relation(data, scale, seed):
    docs = data.draw(corpora(min_labels=4))
    profile = measure_profile(data.draw(low_versions(docs)), docs)
    target = data.draw(st.sampled_from([docs, data.draw(corpora())]))  # the profiled corpus itself, or another
    n_r = Counter(lab["r"] for d in target for lab in d["labels"])
    try:
        out, manifest = run(target, f"real:{scale}", seed, profile=profile)
    except DocrobustError as e:
        assert "lower the" in str(e)
        return
    before, after = all_triples(target), all_triples(out)
    removed = Counter(x[3] for x in before - after)
    added = Counter(x[3] for x in after - before)
    for r, row in profile["per_relation"].items():
        assert removed[r] == round(scale * row["fn_rate"] * n_r[r])
        assert added[r] == round(scale * row["fp_rate"] * n_r[r])
    assert manifest["steps"][0]["profile_sha256"]


# ---------------------------------------------------------------- specs, composition, determinism

@SETTINGS
@given(docs=corpora(), seed=st.integers(0, 2**32), a=st.floats(0, 0.5), b=st.floats(0, 0.5))
def test_steps_compose_and_their_rates_add_up(docs, seed, a, b):
    n = sum(len(d["labels"]) for d in docs)
    assume(round(a * n) + round(b * n) <= n)  # two rates of 0.5 can each round up past the labels there are
    out, manifest = run(docs, f"fn-uniform:{a}+fn-pair:{b}", seed)
    assert [s["n_removed"] for s in manifest["steps"]] == [round(a * n), round(b * n)]
    assert manifest["positives_after"] == n - round(a * n) - round(b * n)
    assert changed_count(manifest) == n - manifest["positives_after"]


CHAIN_STEPS = ("fn-uniform", "fn-frequency", "fn-pair", "fn-distance", "fp-uniform", "fp-type", "fp-flip", "mixed")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32))
def test_chained_specs_add_only_false_triples_and_never_remove_what_they_add(data, seed):
    """Whatever the order of the steps: every added or flipped-to triple is false w.r.t. the clean labels, every
    removed or flipped triple is a clean one, and the manifest's removed and added sets are disjoint."""
    docs = data.draw(corpora(min_labels=1))
    names = data.draw(st.lists(st.sampled_from(CHAIN_STEPS), min_size=2, max_size=4))
    spec = "+".join(f"{name}:{data.draw(st.sampled_from([0.05, 0.1, 0.2]))}" for name in names)
    low = data.draw(low_versions(docs)) if "mixed" in names else None
    try:
        out, manifest = run(docs, spec, seed, low_docs=low)
    except DocrobustError as e:  # a rate the corpus cannot meet is said, never half-applied
        assert "lower the rate" in str(e) or "no document" in str(e), e
        return
    clean = all_triples(docs)
    removed, added = Counter(), Counter()
    for step in manifest["steps"]:
        removed.update(tuple(row) for row in step["removed"])
        removed.update(tuple(row[:4]) for row in step["changed"])
        added.update(tuple(row[:4]) for row in step["added"])
        added.update((*row[:3], row[4]) for row in step["changed"])
    assert not set(added) & set(clean), spec
    assert set(removed) <= set(clean) and not set(removed) & set(added), spec
    assert max([*removed.values(), *added.values(), 1]) == 1, spec  # no triple removed or added twice
    assert all_triples(out) == clean - removed + added


def test_clean_is_the_identity_and_other_seeds_differ(small_docs):
    out, manifest = run(small_docs, "clean", 0)
    assert out == small_docs and manifest["achieved_rate"] == 0.0 and changed_count(manifest) == 0
    outputs = {dumps_json(apply_noise(small_docs, "fn-uniform:0.5", seed)[0]) for seed in range(8)}
    assert len(outputs) > 1


def test_output_shares_unchanged_structures_and_the_manifest_records_provenance(small_docs):
    out, manifest = apply_noise(small_docs, "fn-uniform:0.5", 1, source_sha256="ab" * 32)
    assert all(o["sents"] is d["sents"] and o["vertexSet"] is d["vertexSet"] for d, o in zip(small_docs, out))
    assert manifest["input_sha256"] == "ab" * 32 and manifest["input_sha256_of"] == "file"
    assert manifest["relations_before"] == {"P1": 3, "P2": 2, "P3": 1}
    assert sum(manifest["relations_after"].values()) == 3
    from docrobust import __version__
    assert manifest["docrobust_version"] == __version__ and manifest["seed"] == 1


def test_replay_refuses_other_documents_and_impossible_manifests(small_docs):
    _, manifest = apply_noise(small_docs, "fn-uniform:0.5", 1)
    with pytest.raises(DocrobustError, match="not the manifest's input"):
        replay(small_docs[:2], manifest)
    manifest["input_sha256_of"] = "file"
    manifest["steps"][0]["removed"].append(["A", 0, 3, "P7"])
    with pytest.raises(DocrobustError, match=r"document 0 has no label \(h, t, r\) = \(0, 3, 'P7'\)"):
        replay(small_docs, manifest)


def test_duplicate_titles_and_bad_seeds_are_refused(small_docs):
    with pytest.raises(DocrobustError, match="share the title 'A'"):
        apply_noise(small_docs + [small_docs[0]], "fn-uniform:0.1", 0)
    with pytest.raises(DocrobustError, match="seed must be an integer >= 0"):
        apply_noise(small_docs, "fn-uniform:0.1", -1)


def test_rates_that_cannot_be_met_exactly_are_refused(small_docs):
    for spec in ("fn-uniform:2", "fn-pair:1.01"):  # a fraction of the labels: refused by the spec's one parser
        with pytest.raises(DocrobustError, match=f"rate {spec.split(':')[1]} is above 1; fn-.* rate is a fraction"):
            apply_noise(small_docs, spec, 0)
    with pytest.raises(DocrobustError, match=r"cannot add 600 triples, only \d+ unlabeled candidates exist"):
        apply_noise(small_docs, "fp-uniform:100", 0)
    with pytest.raises(DocrobustError, match="must be at most 1"):
        apply_noise(small_docs, "mixed:1.5", 0, low_docs=small_docs)


def test_output_bytes_do_not_depend_on_the_hash_seed(small_docs, tmp_path):
    spec = "fp-flip:0.3+fn-distance:0.3+fp-type:0.5+fp-uniform:0.5+fn-single-positive"
    (tmp_path / "docs.json").write_text(json.dumps(small_docs))
    script = ("import json, sys; from docrobust.noise import apply_noise; from docrobust.base import dumps_json; "
              f"out, m = apply_noise(json.load(open(sys.argv[1])), {spec!r}, 7); print(dumps_json([out, m]))")
    outputs = {subprocess.run([sys.executable, "-c", script, str(tmp_path / "docs.json")], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": h}, timeout=60).stdout
               for h in ("1", "2")}
    assert outputs == {dumps_json(list(apply_noise(small_docs, spec, 7))) + "\n"}


@pytest.mark.parametrize("spec, steps", [
    ("fn-uniform:0.4", [("fn-uniform", 0.4, {})]),
    ("fn-frequency:0.4,exponent=-1.5", [("fn-frequency", 0.4, {"exponent": -1.5})]),
    ("fn-uniform:0.3+fp-type:1e+0", [("fn-uniform", 0.3, {}), ("fp-type", 1.0, {})]),
    (" fn-single-positive + real:1,profile=p.json ", [("fn-single-positive", None, {}), ("real", 1.0, {"profile": "p.json"})]),
    ("clean", [("clean", None, {})]),
])
def test_parse_spec(spec, steps):
    assert [(s.name, s.rate, s.options) for s in parse_spec(spec)] == steps
    assert parse_spec("+".join(str(s) for s in parse_spec(spec))) == parse_spec(spec)


@pytest.mark.parametrize("spec, message", [
    ("", "empty noise spec"),
    ("fn-unifrom:0.3", "unknown noise model 'fn-unifrom' (did you mean 'fn-uniform'"),
    ("fn-uniform", "fn-uniform needs a rate, e.g. fn-uniform:0.3"),
    ("fn-uniform:abc", "rate 'abc' is not a number"),
    ("fn-uniform:-0.1", "rate must be a finite number >= 0"),
    ("fn-uniform:nan", "rate must be a finite number >= 0"),
    ("fn-single-positive:0.3", "takes no rate"),
    ("fn-frequency:0.3,exp=2", "bad option 'exp=2'; fn-frequency options: exponent=1.0"),
    ("fn-uniform:0.3,exponent=2", "fn-uniform options: none"),
    ("fn-frequency:0.3,exponent=high", "option exponent: expected a number, got 'high'"),
    ("fn-frequency:0.3,exponent=1,exponent=2", "option 'exponent' given twice"),
    ("clean+fn-uniform:0.1", "'clean' means no noise and cannot be combined"),
])
def test_bad_specs_are_one_line_errors_naming_the_part(spec, message):
    with pytest.raises(DocrobustError, match=message.replace("(", r"\(").replace("+", r"\+")) as e:
        parse_spec(spec)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("written, normal", [
    ("fn-uniform:0.50", "fn-uniform:0.5"), (" fn-uniform:.5 ", "fn-uniform:0.5"), ("mixed:1", "mixed:1.0"),
    ("fn-frequency:0.4,exponent=1.0", "fn-frequency:0.4"), ("fn-frequency:0.4,exponent=-1", "fn-frequency:0.4,exponent=-1.0"),
    ("fn-uniform:0.3 + fp-type:0.10", "fn-uniform:0.3+fp-type:0.1"), ("fn-uniform:0.1234567", "fn-uniform:0.1234567"),
    ("clean", "clean"), ("real:1,profile=p.json", "real:1.0,profile=p.json"),
])
def test_specs_written_differently_normalize_to_one_text(written, normal):
    assert normalize_spec(written) == normal and normalize_spec(normal) == normal
    assert parse_spec(normal) == [NoiseStep(s.name, s.rate, {k: v for k, v in s.options.items()
                                                              if v != NOISE_MODELS[s.name].options[k]})
                                  for s in parse_spec(written)]


def test_describe_and_needs():
    assert describe_spec("clean") == ("clean", 0.0)
    family, rate = describe_spec("fn-uniform:0.3+fp-type:0.1")
    assert family == "fn-uniform+fp-type" and rate == pytest.approx(0.4)
    assert describe_spec("fn-single-positive") == ("fn-single-positive", 0.0)
    assert needs_low_docs("fn-uniform:0.1+mixed:0.5") and not needs_low_docs("real:1")
    assert needs_profile("real:1") and not needs_profile("real:1,profile=p.json") and not needs_profile("mixed:0.1")
    with pytest.raises(DocrobustError, match="mixed needs low_docs"):
        apply_noise([make_doc("A", 3, [(0, 1, "P1")])], "mixed:0.5", 0)
    with pytest.raises(DocrobustError, match="real needs profile"):
        apply_noise([make_doc("A", 3, [(0, 1, "P1")])], "real:0.5", 0)


def test_the_registry_documents_every_model():
    assert {"clean", "fn-uniform", "fn-frequency", "fn-distance", "fn-pair", "fn-single-positive", "fp-uniform",
            "fp-type", "fp-flip", "mixed", "real"} <= set(NOISE_MODELS)
    assert all(m.summary for m in NOISE_MODELS.values())
    assert NOISE_MODELS["fn-frequency"].options == {"exponent": 1.0}
    assert NOISE_MODELS["mixed"].inputs == ("low_docs",) and "low_docs" not in NOISE_MODELS["mixed"].options
