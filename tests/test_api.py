"""The Python API (`import docrobust as dr`): the README's "Python API" session, run as printed on small data, gives
what the commands give; the names load lazily, so the torch-free layers stay torch- and pandas-free."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_corpus
from synthetic import write_synthetic_results
from tiny_encoder import tiny_encoder_dir  # noqa: F401

import docrobust as dr
from docrobust.bench.cli import cli
from docrobust.reports.results import ResultsStore

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_session() -> str:
    """The python block of the README's "## Python API" section."""
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="module")
def session(tiny_encoder_dir, folder) -> dict:  # noqa: F811
    """The session's namespace, run in a folder holding the files it names: train.json, test.json, a tiny model's
    runs/atl/checkpoint.pt (trained with test.json as its test set) and a synthetic results/quick."""
    from docrobust.corpus import RelationInventory
    from docrobust.models.train import TrainConfig, train

    tmp_path, relations = folder, ("P1", "P2", "P3")
    train_docs = make_corpus(20, relations, seed=1, prefix="tr")
    test_docs = make_corpus(6, relations, seed=2, prefix="te")
    (tmp_path / "train.json").write_text(json.dumps(train_docs))
    (tmp_path / "test.json").write_text(json.dumps(test_docs))
    config = TrainConfig(encoder=str(tiny_encoder_dir), epochs=1, max_len=128, lr_head=1e-5, num_threads=1,
                         model_options={"emb_size": 64, "block_size": 16}, save_checkpoint=True, progress=False)
    train(config, train_docs, test_docs, test_docs, relations=RelationInventory(relations),
          out_dir=tmp_path / "runs" / "atl")
    write_synthetic_results(tmp_path / "results" / "quick", calibrated=True, ranked=True)
    namespace: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        exec(compile(readme_session(), "README.md (Python API)", "exec"), namespace)
    return namespace


def test_the_readme_session_gives_what_the_commands_give(session, folder, monkeypatch):
    s, tmp_path = session, folder
    monkeypatch.chdir(folder)
    # generate: the manifest counts the labels it removed, and the saved copy is the noisy set
    assert s["removed"] == sum(map(len, (d["labels"] for d in s["train"]))) - sum(len(d["labels"]) for d in s["noisy"])
    assert s["removed"] == sum(step["n_removed"] for step in s["manifest"]["steps"]) > 0
    assert dr.load_docs("train.noisy.json") == s["noisy"]
    # predict: the checkpoint's predictions for its run's test set are the run's result.json
    assert s["preds"] and s["preds"] == json.loads((tmp_path / "runs/atl/result.json").read_text())
    # score: what `docrobust score --json` prints for the same files
    (tmp_path / "preds.json").write_text(json.dumps(s["preds"]))
    out = CliRunner().invoke(cli, ["score", "--gold", "test.json", "--pred", "preds.json", "--train", "train.json",
                                   "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == json.loads(json.dumps({k: v for k, v in s["scores"].items() if k != "per_doc"}))


def test_load_results_rows_are_the_cell_records(session, folder):
    cells, store = session["cells"], ResultsStore(folder / "results" / "quick")
    plan = store.read_plan()
    assert list(cells["cell_id"]) == [c.cell_id for c in plan] and cells["cell_id"].is_unique
    for row in cells.itertuples():
        record = store.read_cell(row.cell_id)
        assert (row.model, row.loss, row.noise, row.seed, row.status, row.config_hash) == \
               (record.model, record.loss, record.noise, record.seed, record.status, record.config_hash)
        if record.status != "done":
            assert math.isnan(row.f1) and row.error == record.error
            continue
        for name, value in record.test.micro().items():
            assert getattr(row, name) == pytest.approx(value), name
        assert row.f1_calibrated == pytest.approx(record.calibrated.test.micro()["f1"])
        assert row.calibration_offset == record.calibrated.offset and row.ap == pytest.approx(record.ap)
        assert row.train_seconds == record.train_seconds
    assert (cells["status"] == "failed").sum() == 1
    assert session["by_noise"]["f1"].notna().all()


def test_names_load_lazily_and_unknown_ones_are_attribute_errors():
    code = ("import sys, docrobust as dr, docrobust.base, docrobust.corpus, docrobust.noise; "
            "dr.load_docs, dr.generate, dr.score; heavy = {'torch', 'pandas'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert {"load_docs", "generate", "score", "predict", "load_results"} <= set(dir(dr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dr.nope  # noqa: B018
