"""The results contract (docrobust.reports.results): what the writer writes is what the reader reads, records are
checked field by field, cells whose files do not parse are pending, and fixtures match the runner's naming."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import make_doc

from docrobust.bench.config import cell_id_for as runner_cell_id
from docrobust.base import DocrobustError
from docrobust.corpus import score
from docrobust.noise import describe_spec
from docrobust.reports.results import COLUMNS, FORMAT, CellRecord, PlannedCell, ResultsStore, Scores
from synthetic import draw_scores, write_synthetic_results

GOLD = [make_doc("A", 4, [(0, 1, "P1"), (1, 2, "P2"), (2, 3, "P1")]), make_doc("B", 5, [(0, 2, "P1"), (3, 4, "P3")])]
PREDS = [{"title": "A", "h_idx": 0, "t_idx": 1, "r": "P1"}, {"title": "A", "h_idx": 1, "t_idx": 0, "r": "P2"},
         {"title": "B", "h_idx": 3, "t_idx": 4, "r": "P3"}, {"title": "Z", "h_idx": 0, "t_idx": 1, "r": "P1"}]


def done_record(cell_id: str = "atlop__atl__clean__s0", config_hash: str = "h0", **metrics_extra) -> CellRecord:
    test = score(GOLD, PREDS, [("E0", "E1", "P1")])
    metrics = {"best_epoch": 3, "dev": score(GOLD, PREDS[:1]), "test": test, "epochs": [{"epoch": 0}], **metrics_extra}
    return CellRecord(cell_id, "atlop", "atl", "clean", "clean", 0.0, 0, "done", config_hash, achieved_rate=0.0,
                      config={"model": "atlop"}, train_seconds=1.5, total_seconds=2.0, versions={"torch": "2"},
                      data_hashes={"train": "a" * 64}, worker="host:1", metrics=metrics)


def test_a_scorer_result_reads_as_its_counts():
    """The record's counts are the scorer's: 2 correct of 4 predictions (one with an unknown title), 5 gold."""
    test = done_record().test
    assert test.titles == ("A", "B") and test.unknown == 1
    assert test.docs.tolist() == [[1, 2, 3, 1], [1, 1, 2, 0]]  # tp, n_pred, n_gold, tp_in_train per document
    assert test.total().tolist() == [2, 4, 5, 1]
    micro = test.micro()
    assert (micro["precision"], micro["recall"]) == (0.5, 0.4) and micro["f1"] == pytest.approx(4 / 9, abs=1e-15)
    assert micro == pytest.approx({k: v for k, v in score(GOLD, PREDS, [("E0", "E1", "P1")]).items()
                                   if k in micro}, abs=1e-15)
    assert test.buckets["intra"].tolist()[3] == 0 and sum(test.buckets[b][2] for b in ("intra", "inter")) == 5
    # and written back in the scorer's layout, it reads the same
    again = Scores.parse(test.to_json(), "test")
    assert again.titles == test.titles and np.array_equal(again.docs, test.docs) and again.unknown == test.unknown
    assert all(np.array_equal(again.buckets[b], test.buckets[b]) for b in test.buckets)


def test_written_cells_read_back_equal(tmp_path):
    store = ResultsStore(tmp_path)
    record = done_record(calibrated={"offset": -0.25, "dev": score(GOLD, PREDS), "test": score(GOLD, PREDS[:2])})
    failed = CellRecord("atlop__cmm__clean__s0", "atlop", "cmm", "clean", "clean", 0.0, 0, "failed", "h1",
                        error="RuntimeError: boom", traceback="Traceback ...")
    store.write_cell(record, {"result.json": "[]\n"})
    store.write_cell(failed)
    back = store.read_cell(record.cell_id)
    assert back.to_json() == record.to_json() and back.metrics == record.metrics
    assert back.to_json()["format"] == FORMAT and back.calibrated.offset == -0.25
    assert back.calibrated.test.micro()["f1"] == pytest.approx(score(GOLD, PREDS[:2])["f1"])
    assert sorted(p.name for p in (tmp_path / "cells" / record.cell_id).iterdir()) == ["cell.json", "metrics.json",
                                                                                       "result.json"]
    assert store.read_cell(failed.cell_id).to_json() == failed.to_json()
    assert not (tmp_path / "cells" / failed.cell_id / "metrics.json").exists()
    assert store.read_cell("nothing-here") is None
    store.write_table([failed, back])
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS) and [r["cell_id"] for r in rows] == [record.cell_id, failed.cell_id]
    assert float(rows[0]["f1"]) == pytest.approx(4 / 9) and rows[1]["f1"] == "" and rows[1]["error"] == "RuntimeError: boom"
    assert float(rows[0]["calibrated_f1"]) == pytest.approx(score(GOLD, PREDS[:2])["f1"])


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("test"), "field 'metrics.json.test' is missing"),
    (lambda m: m["test"]["per_doc"].pop("tp_in_train"), "field 'test.per_doc.tp_in_train' is missing"),
    (lambda m: m["test"]["per_doc"]["tp"].append(1), "field 'test.per_doc.tp' must be 2 non-negative integer counts"),
    (lambda m: m["test"]["per_doc"]["n_pred"].__setitem__(0, -1), "'test.per_doc.n_pred' must be 2 non-negative"),
    (lambda m: m["test"]["per_doc"]["tp"].__setitem__(0, 3), "tp > n_pred"),
    (lambda m: m["test"]["breakdown"].pop("long_tail"), "field 'test.breakdown.long_tail' is missing"),
    (lambda m: m.update(calibrated={"offset": "x", "dev": {}, "test": {}}), "'calibrated.offset' must be a number"),
])
def test_a_record_is_checked_field_by_field(change, message):
    record = done_record()
    metrics = json.loads(json.dumps(record.metrics))
    change(metrics)
    with pytest.raises(DocrobustError, match=message.replace("(", r"\(").replace("[", r"\[")):
        CellRecord.from_json(record.to_json(), metrics)


def test_a_done_cell_needs_metrics_and_a_failed_one_an_error():
    with pytest.raises(DocrobustError, match="a done cell needs its metrics.json"):
        CellRecord("c", "m", "l", "clean", "clean", 0.0, 0, "done", "h")
    with pytest.raises(DocrobustError, match="a failed cell needs its error"):
        CellRecord("c", "m", "l", "clean", "clean", 0.0, 0, "failed", "h")
    with pytest.raises(DocrobustError, match="field 'status' must be one of done, failed"):
        CellRecord("c", "m", "l", "clean", "clean", 0.0, 0, "running", "h", error="x")
    with pytest.raises(DocrobustError, match="missing 1 required positional argument: 'config_hash'"):
        CellRecord.from_json({k: v for k, v in done_record().to_json().items() if k != "config_hash"}, None)


def test_states_pending_for_unparseable_files_stale_for_another_config(tmp_path):
    store = ResultsStore(tmp_path)
    ids = ["atlop__atl__clean__s0", "atlop__cmm__clean__s0", "atlop__afl__clean__s0", "atlop__pu__clean__s0",
           "atlop__bce__clean__s0", "atlop__cmm+atl__clean__s0"]
    for cell_id in ids[:5]:
        store.write_cell(done_record(cell_id))
    (tmp_path / "cells" / ids[1] / "metrics.json").write_text('{"test": {"per_doc": ')  # cut short by a full disk
    (tmp_path / "cells" / ids[2] / "metrics.json").unlink()
    meta = json.loads((tmp_path / "cells" / ids[3] / "cell.json").read_text())
    (tmp_path / "cells" / ids[3] / "cell.json").write_text(json.dumps({**meta, "format": FORMAT + 1}))
    plan = [PlannedCell(c, "h0", "atlop", c.split("__")[1], "clean", 0) for c in ids]
    plan[4] = PlannedCell(ids[4], "another-config", "atlop", "bce", "clean", 0)
    states = store.states(plan)
    assert {c: s.status for c, s in states.items()} == {ids[0]: "done", ids[1]: "pending", ids[2]: "pending",
                                                       ids[3]: "pending", ids[4]: "stale", ids[5]: "pending"}
    assert "not valid JSON" in states[ids[1]].problem and states[ids[2]].problem.endswith("metrics.json: no such file")
    assert f"format {FORMAT + 1}" in states[ids[3]].problem and states[ids[5]].problem is None


def test_plan_round_trip_and_a_folder_without_one(tmp_path):
    store = ResultsStore(tmp_path)
    with pytest.raises(DocrobustError, match="no plan.json"):
        store.read_plan()
    plan = [PlannedCell("a__b__clean__s0", "h", "a", "b", "clean", 0), PlannedCell("a__b__fn-uniform-0.2__s1", "h2", "a",
                                                                                  "b", "fn-uniform:0.2", 1)]
    store.write_plan(plan)
    assert store.read_plan() == plan


def test_synthetic_folders_use_the_runners_names_and_specs(tmp_path):
    """Fixtures and benchmark folders are named as `bench run` names them: cell ids from the runner's config
    module, and noise specs the noise registry parses into the recorded family and rate."""
    root = write_synthetic_results(tmp_path / "run", noise={"fn-uniform": (0.2,), "mixed": (1.0,),
                                                            "fn-uniform+fp-type": (0.4,)}, seeds=(0,), n_failed=1)
    store = ResultsStore(root)
    plan = store.read_plan()
    assert len(plan) == 2 * 2 * 4 and store.cell_ids() == sorted(c.cell_id for c in plan)
    for cell in plan:
        record = store.read_cell(cell.cell_id)
        assert cell.cell_id == runner_cell_id(cell.model, cell.loss, cell.noise, cell.seed) == record.cell_id
        assert describe_spec(cell.noise) == (record.noise_family, pytest.approx(record.rate))
    assert {c.noise for c in plan} == {"clean", "fn-uniform:0.2", "mixed:1", "fn-uniform:0.2+fp-type:0.2"}
    states = store.states(plan)
    assert sorted(s.status for s in states.values()).count("failed") == 1 and "pending" not in {s.status for s in
                                                                                                states.values()}


def test_drawn_scores_are_consistent_counts():
    scores = draw_scores(np.random.default_rng(0), 40, 0.5, 0.3)
    tp, n_pred, n_gold, in_train = scores.docs.T
    assert (tp <= np.minimum(n_pred, n_gold)).all() and (in_train <= tp).all()
    for first, second in (("intra", "inter"), ("frequent", "long_tail")):
        assert np.array_equal(scores.buckets[first] + scores.buckets[second], [*scores.total()[:3], 0])
