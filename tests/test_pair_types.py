"""Entity-type pair filters (corpus/pair_types.py): a document with chemicals, diseases and genes yields only
(Chemical, Disease) pairs in features, training, predictions, scores and fp noise, counted by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.base import DocrobustError, read_json
from docrobust.corpus import RelationInventory, facts_from_docs, score
from docrobust.corpus.pair_types import allowed_pairs, pair_types_of, restrict_labels

CD = [["Chemical", "Disease"]]
TYPES = ["Chemical", "Disease", "Gene", "Chemical", "Disease"]   # entities 0..4


def typed_doc(title: str = "d1") -> dict:
    """Five entities (chemical, disease, gene, chemical, disease), one mention each in one sentence, and labels on
    allowed and other pairs: CID 0->1 and 3->4 (chemical -> disease), X 0->2 (chemical -> gene), Y 2->1
    (gene -> disease), CID 1->0 (disease -> chemical, the wrong direction)."""
    names = ["aspirin", "asthma", "TP53", "cisplatin", "nephrotoxicity"]
    return {"title": title, "sents": [names + ["."]],
            "vertexSet": [[{"name": n, "sent_id": 0, "pos": [i, i + 1], "type": t}] for i, (n, t) in
                          enumerate(zip(names, TYPES))],
            "labels": [{"h": h, "t": t, "r": r, "evidence": []} for h, t, r in
                       [(0, 1, "CID"), (3, 4, "CID"), (0, 2, "X"), (2, 1, "Y"), (1, 0, "CID")]]}


def pred(h: int, t: int, r: str, title: str = "d1") -> dict:
    return {"title": title, "h_idx": h, "t_idx": t, "r": r}


def test_allowed_pairs_are_the_ordered_chemical_disease_pairs_and_labels_follow():
    doc = typed_doc()
    assert allowed_pairs(doc, pair_types_of(CD)) == [[0, 1], [0, 4], [3, 1], [3, 4]]
    assert len(allowed_pairs(doc, None)) == 5 * 4
    (kept,) = restrict_labels([doc], pair_types_of(CD))
    assert [(lab["h"], lab["t"]) for lab in kept["labels"]] == [(0, 1), (3, 4)] and len(doc["labels"]) == 5
    for bad in ([], [["Chemical"]], [["Chemical", 3]], "Chemical,Disease", [["", "Disease"]]):
        with pytest.raises(DocrobustError, match="pair_types: expected a non-empty list"):
            pair_types_of(bad)


def test_scores_count_only_allowed_pairs_by_hand():
    gold = [typed_doc()]
    preds = [pred(0, 1, "CID"),     # correct, allowed
             pred(3, 1, "CID"),     # wrong, allowed
             pred(0, 2, "X"),       # correct, chemical -> gene: left out
             pred(2, 1, "Y"),       # correct, gene -> disease: left out
             pred(1, 0, "CID"),     # correct, disease -> chemical: left out
             pred(0, 1, "CID")]     # a duplicate: counted once, as the official script does
    facts = facts_from_docs([{**typed_doc(), "labels": [{"h": 0, "t": 1, "r": "CID"}]}])   # 0 -> 1 seen in training
    everything = score(gold, preds, facts)
    assert (everything["n_gold"], everything["n_pred"], everything["tp"], everything["tp_in_train"]) == (5, 5, 4, 1)
    filtered = score(gold, preds, facts, pair_types=CD)
    # gold: 0->1 and 3->4; predictions: 0->1 (correct, in training) and 3->1 (wrong); three left out
    assert (filtered["n_gold"], filtered["n_pred"], filtered["tp"], filtered["tp_in_train"]) == (2, 2, 1, 1)
    assert filtered["n_pred_other_types"] == 3 and filtered["pair_types"] == CD
    assert filtered["precision"] == filtered["recall"] == filtered["f1"] == 0.5
    assert filtered["ign_precision"] == 0.0 and filtered["ign_f1"] == 0.0   # (1 - 1) / (2 - 1)
    assert filtered["per_doc"]["n_gold"] == [2] and filtered["breakdown"]["per_relation"]["CID"] == {
        "n_pred": 2, "n_gold": 2, "tp": 1}
    assert "pair_types" not in everything and "n_pred_other_types" not in everything


def test_features_hold_only_allowed_pairs_and_their_labels(tiny_encoder_dir):  # noqa: F811
    from docrobust.models.encoder import load_encoder
    from docrobust.models.features import featurize

    tokenizer, _ = load_encoder(str(tiny_encoder_dir))
    relations = RelationInventory.from_docs([typed_doc()])
    (full,) = featurize([typed_doc()], tokenizer, relations)
    (f,) = featurize([typed_doc()], tokenizer, relations, pair_types=pair_types_of(CD))
    assert len(full["hts"]) == 20 and f["hts"] == [[0, 1], [0, 4], [3, 1], [3, 4]]
    cid = relations.column("CID")
    assert f["labels"][:, cid].tolist() == [1, 0, 0, 1] and f["labels"][:, 0].tolist() == [0, 1, 1, 0]
    assert f["labels"].shape == (4, 1 + len(relations)) and f["labels"][:, 1:].sum() == 2   # X, Y, 1->0 left out
    assert f["input_ids"] == full["input_ids"]   # every entity is still marked in the text


@pytest.mark.parametrize("frozen", [False, True])
def test_training_predicts_and_scores_only_allowed_pairs(tiny_encoder_dir, tmp_path, frozen):  # noqa: F811
    from docrobust.models.train import TrainConfig, train

    docs = [typed_doc(f"d{i}") for i in range(6)]
    relations = RelationInventory.from_docs(docs)
    config = TrainConfig(model="atlop", encoder=str(tiny_encoder_dir), epochs=2, batch_size=2, max_len=64,
                         model_options={"emb_size": 64, "block_size": 16}, lr_encoder=1e-3, lr_head=3e-2,
                         freeze_encoder=frozen, calibrate_threshold=True, pair_types=CD, progress=False,
                         num_threads=1)
    metrics = train(config, docs, docs[:3], docs[3:], relations=relations, out_dir=tmp_path / "run",
                    feature_store=tmp_path / "store")
    result = read_json(tmp_path / "run" / "result.json")
    allowed = {(0, 1), (0, 4), (3, 1), (3, 4)}
    assert all((p["h_idx"], p["t_idx"]) in allowed for p in result)
    for split in (metrics["test"], metrics["dev"], metrics["calibrated"]["test"]):
        assert split["n_gold"] == 2 * len(split["per_doc"]["title"]) and split["pair_types"] == CD
        assert split["n_pred_other_types"] == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["runtime"]["pairs"]["train"] == 6 * 4
    assert np.isfinite(metrics["epochs"][-1]["loss"])


@pytest.mark.parametrize("spec, n_added", [("fp-uniform:0.5", 15), ("fp-type:0.2", 6)])
def test_fp_noise_adds_only_allowed_pairs(spec, n_added):
    from docrobust.noise import apply_noise, replay

    docs = [typed_doc(f"d{i}") for i in range(6)]      # 30 labels
    noisy, manifest = apply_noise(docs, spec, 0, pair_types=CD)
    (step,) = manifest["steps"]
    added = [(d, h, t) for d, h, t, *_ in step["added"]]
    assert len(added) == n_added and manifest["pair_types"] == CD
    assert all(TYPES[h] == "Chemical" and TYPES[t] == "Disease" for _, h, t in added)
    assert replay(docs, manifest) == noisy
    _, unfiltered = apply_noise(docs, spec, 0)            # the same draw without the filter reaches other pairs
    assert any((TYPES[h], TYPES[t]) != ("Chemical", "Disease") for _, h, t, *_ in unfiltered["steps"][0]["added"])
    assert "pair_types" not in unfiltered


def test_bench_toml_pair_types_reach_the_cells_and_bad_values_are_one_line(tmp_path, some_data_dir):
    from docrobust.bench.config import load_config

    base = ('[data]\ntrain = "redocred/dev_revised.json"\ntrain_range = [0, 10]\ndev = "redocred/dev_revised.json"\n'
            'dev_range = [10, 20]\ntest = "redocred/test_revised.json"\n{extra}'
            '[matrix]\nmodels = ["atlop"]\nlosses = ["atl"]\n{training}')
    path = tmp_path / "bench.toml"
    path.write_text(base.format(extra="", training=""))
    plain = load_config(path, None, some_data_dir)
    path.write_text(base.format(extra='pair_types = [["PER", "ORG"]]\n', training=""))
    typed = load_config(path, None, some_data_dir)
    assert "pair_types" not in plain.cells()[0].config["training"]
    assert typed.cells()[0].config["training"]["pair_types"] == [["PER", "ORG"]]
    assert typed.cells()[0].config_hash != plain.cells()[0].config_hash
    path.write_text(base.format(extra='pair_types = [["PER"]]\n', training='[training]\npair_types = [["A", "B"]]\n'))
    with pytest.raises(DocrobustError) as e:
        load_config(path, None, some_data_dir)
    assert e.value.problems == [
        "bench.toml: data.pair_types: must be a non-empty list of [head type, tail type] pairs, got [['PER']]"]
    path.write_text(base.format(extra="", training='[training]\npair_types = [["A", "B"]]\n'))
    with pytest.raises(DocrobustError) as e:
        load_config(path, None, some_data_dir)
    assert e.value.problems == ["bench.toml: training.pair_types: set it in [data] (data.pair_types), where it "
                                "also restricts the noise"]
