"""The fitted annotator-noise model: recovers known miss probabilities, and its noise is exact and replayable."""
from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_doc
from test_noise import run

from docrobust.bench.cli import cli
from docrobust.base import DocrobustError, dumps_json, sha256_file
from docrobust.corpus import save_docs, triples
from docrobust.noise import apply_noise
from docrobust.noise.annotator import fit_annotator, marginal, miss_probabilities
from docrobust.noise.table import LabelTable

RELATIONS = ("P1", "P2", "P3", "P4")


def high_corpus(n_docs: int, seed: int, max_relations: int = 1, prefix: str = "D") -> list[dict]:
    """Documents of 4-9 entities over 2-4 sentences (entity i in sentence i % n_sents), 2-6 labeled pairs each
    with 1..max_relations distinct relations."""
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        n_ent, n_sents = rng.randint(4, 9), rng.randint(2, 4)
        pairs = rng.sample([(h, t) for h in range(n_ent) for t in range(n_ent) if h != t], rng.randint(2, 6))
        labels = [(h, t, r) for h, t in pairs for r in rng.sample(RELATIONS, rng.randint(1, max_relations))]
        docs.append(make_doc(f"{prefix}{i}", n_ent, sorted(labels), n_sents))
    return docs


def inter_sentence(doc: dict, h: int, t: int) -> bool:
    return doc["vertexSet"][h][0]["sent_id"] != doc["vertexSet"][t][0]["sent_id"]


def low_version(high: list[dict], seed: int, p_intra: float, p_inter: float, p_whole: float = 0.0,
                add: tuple[str, str] | None = None) -> list[dict]:
    """A low-quality version: each labeled pair missed whole with p_whole, else each triple missed with p_intra or
    p_inter; `add=(r, r2)`: every pair carrying r also gets the wrong relation r2 (when free) with probability 0.2."""
    rng = random.Random(seed)
    low = []
    for doc in high:
        by_pair: dict[tuple[int, int], list[dict]] = {}
        for lab in doc["labels"]:
            by_pair.setdefault((lab["h"], lab["t"]), []).append(lab)
        kept = []
        for (h, t), labs in by_pair.items():
            if rng.random() < p_whole:
                continue
            p = p_inter if inter_sentence(doc, h, t) else p_intra
            kept += [lab for lab in labs if rng.random() >= p]
            rels = {lab["r"] for lab in labs}
            if add and add[0] in rels and add[1] not in rels and rng.random() < 0.2:
                kept.append({"h": h, "t": t, "r": add[1], "evidence": []})
        low.append({**copy.deepcopy(doc), "labels": kept})
    return low


@pytest.fixture(scope="module")
def distance_pair() -> tuple[list[dict], list[dict]]:
    """Misses 3x likelier for inter-sentence pairs (0.1 vs 0.3), nothing else."""
    high = high_corpus(1200, seed=1)
    return low_version(high, 2, p_intra=0.1, p_inter=0.3), high


@pytest.fixture(scope="module")
def fitted(distance_pair) -> dict:
    return fit_annotator(*distance_pair, folds=4, seed=0)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    """A model fitted to pairs with several relations, whole-pair misses and P1 -> P2 additions, as a file."""
    high = high_corpus(600, seed=5, max_relations=3)
    model = fit_annotator(low_version(high, 6, 0.15, 0.3, p_whole=0.25, add=("P1", "P2")), high, folds=3)
    path = tmp_path_factory.mktemp("annotator") / "annotator.json"
    path.write_text(json.dumps(model))
    return str(path)


@pytest.mark.slow
def test_fit_recovers_a_three_times_higher_inter_sentence_miss_rate(fitted):
    fresh = high_corpus(1500, seed=9)
    labels = [d["labels"] for d in fresh]
    table = LabelTable(fresh, labels, base=sum(map(len, labels)))
    pi, q, design = miss_probabilities(fitted, table)
    p = marginal(pi, q, design.pair_of_row)
    inter = table.sentence_distance > 0
    ratio = p[inter].mean() / p[~inter].mean()
    assert 2.4 < ratio < 3.6, ratio
    assert p[~inter].mean() == pytest.approx(0.1, abs=0.025) and p[inter].mean() == pytest.approx(0.3, abs=0.03)


@pytest.mark.slow
def test_fit_beats_the_per_relation_profile_and_uniform_on_held_out_documents(fitted):
    held = fitted["held_out"]
    ll, auc = held["log_likelihood_per_triple"], held["roc_auc_missed"]
    assert ll["annotator"] > ll["per-relation profile"] + 0.005 and ll["annotator"] > ll["uniform"] + 0.005
    assert auc["annotator"] > auc["per-relation profile"] + 0.05 and auc["uniform"] == 0.5
    by_distance = {row["bucket"]: row for row in held["calibration_by_distance"]}
    same = by_distance["0 (same sentence)"]
    assert same["observed"] == pytest.approx(0.1, abs=0.03)
    assert same["annotator"] == pytest.approx(same["observed"], abs=0.03)
    assert same["per-relation profile"] > same["observed"] + 0.05  # the profile cannot tell distances apart
    assert held["triples"] == fitted["training"]["triples"]  # every triple scored once, by a model that did not see it


@pytest.mark.slow
def test_the_fitted_file_records_features_coefficients_hashes_and_held_out_quality(fitted, distance_pair):
    low, high = distance_pair
    assert fitted["training"]["low_sha256"] != fitted["training"]["high_sha256"]
    assert len(fitted["training"]["titles"]) == len(high)
    for stage in ("pair", "triple", "independent"):
        s = fitted["stages"][stage]
        assert len(s["features"]) == len(s["coef"]) and "inter_sentence" in s["features"]
    assert fitted["stages"]["add"] is None  # this low version adds nothing
    coef = dict(zip(fitted["stages"]["independent"]["features"], fitted["stages"]["independent"]["coef"]))
    assert coef["inter_sentence"] > 0.2  # standardized: a 3x miss rate is a clearly positive weight
    json.dumps(fitted, allow_nan=False)


@pytest.mark.slow
def test_pair_stage_learns_that_annotators_miss_whole_pairs(model_file):
    model = json.loads(open(model_file).read())
    pairs = model["held_out"]["pairs_with_several_relations"]
    assert pairs["observed_missed_whole"] > 0.25
    assert pairs["annotator"] == pytest.approx(pairs["observed_missed_whole"], abs=0.05)
    assert pairs["annotator, no pair stage"] < pairs["observed_missed_whole"] - 0.1  # independent misses cannot
    ll = model["held_out"]["log_likelihood_per_triple"]
    assert ll["annotator (with its pair stage)"] > ll["annotator, no pair stage"]
    # the noise it draws misses whole multi-relation pairs as often as the fitted annotators did
    high = high_corpus(600, seed=15, max_relations=3, prefix="E")
    out, manifest = apply_noise(high, f"annotator:1.0,model={model_file}", 0)
    whole = [not (triples(o) & {(h, t, r) for h, t, r in triples(d) if (h, t) == pair})
             for d, o in zip(high, out) for pair, n in Counter((h, t) for h, t, _ in triples(d)).items() if n >= 2]
    assert np.mean(whole) == pytest.approx(pairs["observed_missed_whole"], abs=0.06)


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0, 1.4])
def test_annotator_noise_removes_and_adds_exactly_the_counts_asked_for(model_file, rate):
    high = high_corpus(80, seed=21, max_relations=3)
    out, manifest = run(high, f"annotator:{rate},model={model_file}", 3)
    step = manifest["steps"][0]
    assert step["n_removed"] == round(rate * step["expected_removed"])
    assert step["n_added"] == round(rate * step["expected_added"])
    assert step["model_sha256"] == sha256_file(model_file)
    assert rate == 0 or step["n_added"] > 0
    with_p1 = []
    for title, h, t, r, _ in step["added"]:   # the fitted wrong relation, on labeled pairs, never one they have
        doc = next(d for d in high if d["title"] == title)
        on_pair = {x for a, b, x in triples(doc) if (a, b) == (h, t)}
        assert r == "P2" and on_pair and "P2" not in on_pair
        with_p1.append("P1" in on_pair)
    assert rate == 0 or np.mean(with_p1) > 0.75  # mostly where the true relation is P1, as fitted


@pytest.mark.slow
def test_annotator_noise_applies_to_a_corpus_of_other_types_and_relations(model_file):
    docs = high_corpus(40, seed=3)
    for d in docs:
        for e in d["vertexSet"]:
            e[0]["type"] = "Chemical"
        for lab in d["labels"]:
            lab["r"] = "CID"
    out, manifest = run(docs, f"annotator:0.8,model={model_file}", 1)
    step = manifest["steps"][0]
    assert step["n_removed"] == round(0.8 * step["expected_removed"]) > 0 and step["n_added"] == 0


@pytest.mark.slow
def test_annotator_output_does_not_depend_on_the_hash_seed(model_file, tmp_path):
    docs = high_corpus(30, seed=4, max_relations=3)
    (tmp_path / "docs.json").write_text(json.dumps(docs))
    spec = f"annotator:0.7,model={model_file}"
    script = ("import json, sys; from docrobust.noise import apply_noise; from docrobust.base import dumps_json; "
              f"out, m = apply_noise(json.load(open(sys.argv[1])), {spec!r}, 7); print(dumps_json([out, m]))")
    outputs = {subprocess.run([sys.executable, "-c", script, str(tmp_path / "docs.json")], capture_output=True,
                              text=True, check=True, env={**os.environ, "PYTHONHASHSEED": h}, timeout=120).stdout
               for h in ("1", "2")}
    assert outputs == {dumps_json(list(apply_noise(docs, spec, 7))) + "\n"}
    assert dumps_json(apply_noise(docs, spec, 8)[0]) != dumps_json(apply_noise(docs, spec, 7)[0])


def test_annotator_needs_a_fitted_model_and_says_so(tmp_path, small_docs):
    with pytest.raises(DocrobustError, match="annotator needs model=annotator.json"):
        apply_noise(small_docs, "annotator:1.0", 0)
    (tmp_path / "p.json").write_text(json.dumps({"per_relation": {}}))
    with pytest.raises(DocrobustError, match="not an annotator model"):
        apply_noise(small_docs, f"annotator:1.0,model={tmp_path / 'p.json'}", 0)


@pytest.mark.slow
def test_noise_fit_command_writes_a_model_that_noise_generate_applies(tmp_path, distance_pair):
    low, high = distance_pair
    save_docs(low[:300], tmp_path / "low.json")
    save_docs(high[:150], tmp_path / "high_a.json")
    save_docs(high[150:300], tmp_path / "high_b.json")
    runner = CliRunner()
    result = runner.invoke(cli, ["noise", "fit", str(tmp_path / "low.json"), str(tmp_path / "high_a.json"),
                                 str(tmp_path / "high_b.json"), "--out", str(tmp_path / "m.json"), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "aligned 300 documents" in result.output and "per-relation profile" in result.output
    model = json.loads((tmp_path / "m.json").read_text())
    assert model["training"]["sources"]["low"][0]["sha256"] == sha256_file(tmp_path / "low.json")
    assert [s["sha256"] for s in model["training"]["sources"]["high"]] == [
        sha256_file(tmp_path / f) for f in ("high_a.json", "high_b.json")]
    assert model["held_out"]["method"].startswith("3-fold")
    result = runner.invoke(cli, ["noise", "generate", str(tmp_path / "high_a.json"), "--spec",
                                 f"annotator:1.0,model={tmp_path / 'm.json'}", "--out", str(tmp_path / "noisy.json")])
    assert result.exit_code == 0, result.output
    assert "annotator: -" in result.output
