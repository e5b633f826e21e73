"""The official metric on hand-computed cases, and on real files."""
from __future__ import annotations

import json
import math

import numpy as np

import pytest
from conftest import make_doc

from docrobust.bench.cli import cli
from docrobust.base import DocrobustError
from docrobust.corpus import facts_from_docs, load_docs, load_train_facts
from docrobust.corpus.score import check_preds, score


def pred(title, h, t, r, **extra):
    return {"title": title, "h_idx": h, "t_idx": t, "r": r, **extra}


@pytest.fixture
def gold():
    # A: 3 gold triples; B: 2 gold triples -> 5 in all
    return [make_doc("A", 4, [(0, 1, "P1"), (1, 2, "P2"), (2, 3, "P1")]),
            make_doc("B", 5, [(0, 2, "P1"), (3, 4, "P3")])]


def test_hand_computed_precision_recall_f1(gold):
    preds = [pred("A", 0, 1, "P1"), pred("A", 1, 2, "P1"), pred("B", 3, 4, "P3"), pred("B", 0, 1, "P2")]
    s = score(gold, preds)
    # 2 correct of 4 predicted, 5 gold
    assert (s["tp"], s["n_pred"], s["n_gold"]) == (2, 4, 5)
    assert s["precision"] == pytest.approx(0.5)
    assert s["recall"] == pytest.approx(0.4)
    assert s["f1"] == pytest.approx(2 * 0.5 * 0.4 / 0.9)
    assert s["per_doc"] == {"title": ["A", "B"], "n_pred": [2, 2], "n_gold": [3, 2], "tp": [1, 1], "tp_in_train": [0, 0]}


def test_duplicates_are_removed_and_unknown_titles_stay_in_the_denominator(gold):
    preds = [pred("A", 0, 1, "P1"), pred("A", 0, 1, "P1"), pred("A", 0, 1, "P1"), pred("Z", 0, 1, "P1")]
    s = score(gold, preds)
    # the duplicate counts once; the unknown title counts as a wrong prediction: P = 1/2
    assert (s["tp"], s["n_pred"], s["n_pred_unknown_title"]) == (1, 2, 1)
    assert s["precision"] == pytest.approx(0.5)
    assert s["recall"] == pytest.approx(0.2)


def test_duplicated_gold_labels_count_once():
    doc = make_doc("A", 3, [(0, 1, "P1")])
    doc["labels"].append(dict(doc["labels"][0]))
    s = score([doc], [pred("A", 0, 1, "P1")])
    assert s["n_gold"] == 1 and s["f1"] == pytest.approx(1.0)


def test_ign_f1_leaves_out_correct_facts_seen_in_training(gold):
    # entity names are E0..E4; the fact (E0, E1, P1) is "seen in training"
    facts = {("E0", "E1", "P1")}
    preds = [pred("A", 0, 1, "P1"), pred("A", 1, 2, "P2"), pred("B", 0, 1, "P9")]
    s = score(gold, preds, facts)
    assert s["tp_in_train"] == 1 and s["tp"] == 2
    recall = 2 / 5
    # DocRED's evaluation.py: (correct_re - correct_in_train_annotated) / (len(submission_answer) - correct_in_train_annotated)
    assert s["ign_precision"] == (2 - 1) / (3 - 1) == 0.5 and s["ign_variant"] == "official"
    assert s["ign_f1"] == 2 * 0.5 * recall / (0.5 + recall)
    assert s["recall"] == pytest.approx(recall)
    # ATLOP's copy of the script adds 1e-5 to the denominator: a named option, never the default
    atlop = score(gold, preds, facts, ign_variant="atlop")
    ign_p = (2 - 1) / (3 - 1 + 1e-5)
    assert atlop["ign_precision"] == ign_p and atlop["ign_variant"] == "atlop"
    assert atlop["ign_f1"] == pytest.approx(2 * ign_p * recall / (ign_p + recall), rel=1e-15)
    assert atlop["ign_f1"] < s["ign_f1"] and {k: atlop[k] for k in ("precision", "recall", "f1")} == \
        {k: s[k] for k in ("precision", "recall", "f1")}
    with pytest.raises(DocrobustError, match="unknown Ign F1 variant 'atlopp'; known: official, atlop"):
        score(gold, preds, facts, ign_variant="atlopp")


def test_ign_f1_without_training_facts_equals_f1_exactly(gold):
    preds = [pred("A", 0, 1, "P1"), pred("A", 1, 2, "P1"), pred("B", 3, 4, "P3")]
    s = score(gold, preds)
    assert s["ign_f1"] == s["f1"] and s["ign_precision"] == s["precision"]
    # every prediction correct and a training fact: 0/0, scored 0 (the official script divides by zero)
    assert score(gold, [pred("A", 0, 1, "P1")], {("E0", "E1", "P1")})["ign_precision"] == 0.0


def test_cli_ign_variant(gold, tmp_path):
    from click.testing import CliRunner

    (tmp_path / "gold.json").write_text(json.dumps(gold))
    (tmp_path / "pred.json").write_text(json.dumps([pred("A", 0, 1, "P1"), pred("A", 1, 2, "P2"), pred("B", 0, 1, "P9")]))
    (tmp_path / "train.fact").write_text(json.dumps([["E0", "E1", "P1"]]))
    args = ["score", "--gold", str(tmp_path / "gold.json"), "--pred", str(tmp_path / "pred.json"),
            "--train", str(tmp_path / "train.fact"), "--json"]
    official, atlop = (json.loads(CliRunner().invoke(cli, args + extra).output) for extra in ([], ["--ign-variant", "atlop"]))
    assert official["ign_precision"] == 0.5 and atlop["ign_precision"] == 1 / (2 + 1e-5)


def test_ign_f1_matches_any_mention_pair():
    doc = make_doc("A", 3, [(0, 1, "P1")])
    doc["vertexSet"][0].append({"name": "alias", "sent_id": 1, "pos": [0, 1], "type": "LOC"})
    s = score([doc], [pred("A", 0, 1, "P1")], {("alias", "E1", "P1")})
    assert s["tp_in_train"] == 1


def test_evidence_f1(gold):
    # gold evidence is [0] for every label; 5 gold evidence sentences in all
    preds = [pred("A", 0, 1, "P1", evidence=[0, 1]), pred("A", 1, 2, "P2", evidence=[1])]
    s = score(gold, preds)
    evi_p, evi_r = 1 / 3, 1 / 5
    assert s["evi_f1"] == pytest.approx(2 * evi_p * evi_r / (evi_p + evi_r))
    assert "evi_f1" not in score(gold, [pred("A", 0, 1, "P1")])


def test_empty_predictions_score_zero(gold):
    s = score(gold, [])
    assert s["f1"] == 0 and s["precision"] == 0 and s["ign_f1"] == 0


def test_breakdowns(gold):
    # entity i is in sentence i % 2: pairs (0,2) and (1,3) are intra, (0,1) inter
    s = score(gold, [pred("A", 0, 1, "P1"), pred("B", 0, 2, "P1")], frequent={"P1"})
    b = s["breakdown"]
    assert b["intra"] == {"n_pred": 1, "n_gold": 1, "tp": 1}
    assert b["inter"] == {"n_pred": 1, "n_gold": 4, "tp": 1}
    assert b["frequent"] == {"n_pred": 2, "n_gold": 3, "tp": 2}
    assert b["long_tail"] == {"n_pred": 0, "n_gold": 2, "tp": 0}
    assert b["per_relation"]["P3"] == {"n_pred": 0, "n_gold": 1, "tp": 0}


def test_bad_predictions_are_refused_with_one_line_each():
    with pytest.raises(DocrobustError) as e:
        check_preds([{"title": "A", "h_idx": "0", "t_idx": 1, "r": "P1"}], "p.json")
    assert e.value.problems == ["p.json: prediction 0: h_idx: expected int, got '0'"]
    with pytest.raises(DocrobustError) as e:  # unhashable evidence would crash the scorer's set()
        check_preds([pred("A", 0, 1, "P1", evidence=[[0]])], "p.json")
    assert e.value.problems == ["p.json: prediction 0: evidence: expected a list of sentence ids"]
    with pytest.raises(DocrobustError) as e:  # many problems: the first 20, then how many more
        check_preds([{"title": 1}] * 1000, "p.json")
    assert len(e.value.problems) == 21 and e.value.problems[-1] == "p.json: ... and 3,980 more problems"


def test_facts_from_docs_equal_the_fact_file_format(tmp_path, gold):
    facts = facts_from_docs(gold)
    (tmp_path / "t.fact").write_text(json.dumps(sorted(facts)))
    (tmp_path / "t.json").write_text(json.dumps(gold))
    assert load_train_facts(tmp_path / "t.fact") == facts == load_train_facts(tmp_path / "t.json")


def test_train_facts_follow_content_not_file_name(tmp_path, gold):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(gold))
    first = load_train_facts(path)
    gold[0]["labels"] = []
    path.write_text(json.dumps(gold))
    assert load_train_facts(path) != first


def test_real_gold_scores_itself_perfectly_and_docred_labels_score_as_expected(data_dir):
    high = load_docs(data_dir / "redocred/test_revised.json")
    preds = [pred(d["title"], lab["h"], lab["t"], lab["r"]) for d in high for lab in d["labels"]]
    assert score(high, preds)["f1"] == pytest.approx(1.0)
    # DocRED's original labels as "predictions" against Re-DocRED: precision near 1, recall far lower
    low = load_docs(data_dir / "docred/dev.json")
    low_preds = [pred(d["title"], lab["h"], lab["t"], lab["r"]) for d in low for lab in d["labels"]]
    s = score(high, low_preds)
    assert s["n_pred_unknown_title"] > 0  # dev.json also holds Re-DocRED dev's documents
    assert s["recall"] < 0.5 < s["tp"] / (s["n_pred"] - s["n_pred_unknown_title"])


def test_cli_json(some_data_dir, tmp_path):
    from click.testing import CliRunner

    gold = load_docs(some_data_dir / "redocred/test_revised.json")[:20]
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    preds = [pred(d["title"], lab["h"], lab["t"], lab["r"]) for d in gold for lab in d["labels"][::2]]
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    out = CliRunner().invoke(cli, ["score", "--gold", str(tmp_path / "gold.json"), "--pred", str(tmp_path / "pred.json"),
                                   "--train", str(some_data_dir / "docred/train_annotated.fact"), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    n_gold = sum(len({(x["h"], x["t"], x["r"]) for x in d["labels"]}) for d in gold)
    assert result["precision"] == 1.0 and math.isclose(result["recall"], len(preds) / n_gold)
    assert 0 <= result["ign_f1"] <= result["f1"] <= 1


# ---------------------------------------------------------------- the threshold-free score

def test_average_precision_equals_sklearns_with_ties_and_ignores_monotone_transforms():
    from sklearn.metrics import average_precision_score

    from docrobust.corpus.score import average_precision

    # by hand: ranks 1 (hit), 2-3 tied (one hit), 4 (miss): AP = 1/2 * 1 + 1/2 * 2/3
    assert average_precision([0.9, 0.5, 0.5, 0.1], [True, False, True, False]) == pytest.approx(1 / 2 + 1 / 3)
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 80))
        scores = rng.integers(0, 6, n).astype(float) + rng.choice([0.0, 0.25], n)  # many ties
        relevant = rng.random(n) < 0.3
        if not relevant.any():
            continue
        expected = average_precision_score(relevant, scores)
        assert average_precision(scores, relevant) == pytest.approx(expected, abs=1e-12)
        for transform in (np.exp, lambda x: 3 * x - 7, lambda x: np.arctan(x) ** 3):
            assert average_precision(transform(scores), relevant) == pytest.approx(expected, abs=1e-12)
        # relevant items never ranked (a ranking cut short) lower recall: AP scales by ranked / all relevant
        assert average_precision(scores, relevant, 2 * relevant.sum()) == pytest.approx(expected / 2, abs=1e-12)


def test_average_precision_is_one_for_a_perfect_ranking_and_the_base_rate_for_a_random_one():
    from docrobust.corpus.score import average_precision

    rng = np.random.default_rng(1)
    relevant = rng.random(200_000) < 0.02
    assert average_precision(relevant.astype(float) + rng.random(len(relevant)) * 0.5, relevant) == 1.0
    assert average_precision(rng.random(len(relevant)), relevant) == pytest.approx(relevant.mean(), rel=0.1)
    # weights count items: doubling every weight changes nothing, weighting one document's items moves AP
    scores = rng.random(1000)
    rel = rng.random(1000) < 0.3
    assert average_precision(scores, rel, weights=np.full(1000, 2.0)) == pytest.approx(average_precision(scores, rel))
    assert average_precision([], []) == 0.0 and average_precision([0.3, 0.1], [False, False]) == 0.0
