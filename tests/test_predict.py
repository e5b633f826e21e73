"""`docrobust predict`: a saved checkpoint predicts for its training run's test documents exactly what the run wrote
(result.json; with a calibrated run's offset, what metrics.json's "calibrated" scored), for a fine-tuned and a
frozen encoder, from DocRED JSON without labels or from PubTator converted on the fly; bad input is one line."""
from __future__ import annotations

import json

import pytest
import torch
from biomed import make_abstracts, pubtator_text, write
from conftest import make_corpus
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.bench.cli import main
from docrobust.corpus.score import score

pytestmark = pytest.mark.slow   # each run trains the tiny encoder for a few epochs (about 10 s)

RELATIONS = ("P1", "P2", "P3")


def cli(argv: list[str]) -> None:
    """`docrobust ARGV`; SystemExit 0 is success."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """train/dev/test files, and the test documents without their labels."""
    root = tmp_path_factory.mktemp("corpus")
    splits = {name: make_corpus(n, RELATIONS, seed=seed, prefix=name)
              for name, n, seed in (("train", 30, 3), ("dev", 10, 4), ("test", 10, 5))}
    splits["unlabeled"] = [{k: v for k, v in d.items() if k != "labels"} for d in splits["test"]]
    for name, docs in splits.items():
        (root / f"{name}.json").write_text(json.dumps(docs))
    return {name: root / f"{name}.json" for name in splits} | {"docs": splits}


def train_run(corpus: dict, encoder, out, *extra: str) -> None:
    cli(["train", "--model", "atlop", "--train", str(corpus["train"]), "--dev", str(corpus["dev"]), "--test",
         str(corpus["test"]), "--encoder", str(encoder), "--out", str(out), "--relations", "infer", "--epochs", "2",
         "--max-len", "128", "--model-option", "emb_size=64", "--model-option", "block_size=16", "--lr-head", "1e-5",
         "--lr-encoder", "1e-4", "--num-threads", "1", "--checkpoint", "--quiet", *extra])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A feature store of this module's own (DOCROBUST_CACHE), for the frozen-encoder runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCROBUST_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def calibrated(corpus, tiny_encoder_dir, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("calibrated") / "run"
    train_run(corpus, tiny_encoder_dir, out, "--calibrate-threshold")
    return out


@pytest.fixture(scope="module")
def frozen(corpus, tiny_encoder_dir, store, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("frozen") / "run"
    train_run(corpus, tiny_encoder_dir, out, "--freeze-encoder")
    return out


def read(path) -> list | dict:
    return json.loads(path.read_text())


def test_as_trained_the_predictions_are_the_runs_result_json(calibrated, corpus, tmp_path):
    cli(["predict", str(calibrated / "checkpoint.pt"), str(corpus["unlabeled"]), "--out", str(tmp_path / "p.json"),
         "--as-trained"])
    preds = read(tmp_path / "p.json")
    assert preds and preds == read(calibrated / "result.json")


def test_a_calibrated_run_predicts_with_its_dev_chosen_offset(calibrated, corpus, tmp_path):
    metrics = read(calibrated / "metrics.json")
    saved = torch.load(calibrated / "checkpoint.pt", weights_only=True)
    assert saved["offset"] == metrics["calibrated"]["offset"] != 0 and saved["encoder_sha256"] is None
    cli(["predict", str(calibrated), str(corpus["unlabeled"]), "--out", str(tmp_path / "p.json")])  # the run's folder
    preds = read(tmp_path / "p.json")
    assert preds != read(calibrated / "result.json")
    scored = score(corpus["docs"]["test"], preds)
    for key in ("tp", "n_pred", "n_gold", "f1"):
        assert scored[key] == metrics["calibrated"]["test"][key], key


def test_a_frozen_encoders_checkpoint_holds_the_head_and_predicts_the_result(frozen, corpus, store, tmp_path):
    saved = torch.load(frozen / "checkpoint.pt", weights_only=True)
    assert saved["state_dict"] and not any(k.startswith("encoder.") for k in saved["state_dict"])
    assert saved["encoder_sha256"] and saved["offset"] is None
    cli(["predict", str(frozen / "checkpoint.pt"), str(corpus["unlabeled"]), "--out", str(tmp_path / "p.json")])
    preds = read(tmp_path / "p.json")
    assert preds and preds == read(frozen / "result.json")


def test_pubtator_documents_are_converted_on_the_fly(calibrated, tmp_path):
    text = write(tmp_path / "abstracts.txt", pubtator_text(make_abstracts(4, seed=1)))
    cli(["data", "convert", "--from", "pubtator", str(text), "--out", str(tmp_path / "converted.json")])
    cli(["predict", str(calibrated), str(text), "--from", "pubtator", "--out", str(tmp_path / "on_the_fly.json")])
    cli(["predict", str(calibrated), str(tmp_path / "converted.json"), "--out", str(tmp_path / "from_json.json")])
    on_the_fly = read(tmp_path / "on_the_fly.json")
    assert on_the_fly and on_the_fly == read(tmp_path / "from_json.json")
    titles = {d["title"] for d in read(tmp_path / "converted.json")}
    assert {p["title"] for p in on_the_fly} <= titles


def test_bad_input_is_one_line(frozen, corpus, store, tmp_path, capsys):
    saved = torch.load(frozen / "checkpoint.pt", weights_only=True)
    torch.save({**saved, "encoder_sha256": "0" * 64}, tmp_path / "other_encoder.pt")
    (tmp_path / "bad.json").write_text(json.dumps([{"title": "x", "sents": [["a"]], "vertexSet": [[]]}]))
    cases = [([str(tmp_path / "missing.pt"), str(corpus["test"])], "missing.pt: No such file"),
             ([str(corpus["test"]), str(corpus["test"])], "not a checkpoint written by `docrobust train --checkpoint`"),
             ([str(tmp_path / "other_encoder.pt"), str(corpus["test"])], "does not have the weights"),
             ([str(frozen), str(tmp_path / "bad.json")], "vertexSet[0]: entity has no mentions")]
    for args, message in cases:
        with pytest.raises(SystemExit) as e:
            main(["predict", *args, "--out", str(tmp_path / "p.json")])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "p.json").exists()


BENCH = """
name = "tiny"
encoder = "{encoder}"
[data]
train = "redocred/dev_revised.json"
train_range = [0, 8]
dev = "redocred/dev_revised.json"
dev_range = [8, 12]
test = "redocred/test_revised.json"
test_range = [0, 4]
relations = "meta/rel2id.json"
[matrix]
models = ["atlop"]
losses = ["atl"]
noise = ["clean", "fn-uniform:0.5"]
seeds = [0]
[training]
epochs = 1
max_len = 128
lr_head = 1e-5
freeze_encoder = true
[model_options.atlop]
emb_size = 64
block_size = 16
"""


def test_a_benchmark_keeps_each_cells_checkpoint_when_asked(some_data_dir, tiny_encoder_dir, store,  # noqa: F811
                                                             tmp_path):
    from docrobust.bench.config import load_config
    from docrobust.bench.runner import run_bench

    configs = {}
    for name, extra in (("plain", ""), ("kept", "save_checkpoint = true\n")):
        (tmp_path / name).mkdir()
        text = BENCH.format(encoder=tiny_encoder_dir).replace("[training]\n", "[training]\n" + extra)
        (tmp_path / name / "bench.toml").write_text(text)
        configs[name] = load_config(tmp_path / name / "bench.toml", None, some_data_dir)
    cells = configs["kept"].cells()
    assert [c.config_hash for c in cells] == [c.config_hash for c in configs["plain"].cells()]  # not in the hash
    summary = run_bench(configs["kept"], tmp_path / "results", quiet=True, report=False)
    assert summary.ok and len(summary.ran) == len(cells) == 2
    test = json.loads((some_data_dir / "redocred/test_revised.json").read_text())[:4]
    (tmp_path / "test.json").write_text(json.dumps(test))
    for cell in cells:
        folder = tmp_path / "results" / "cells" / cell.cell_id
        cli(["predict", str(folder), str(tmp_path / "test.json"), "--out", str(tmp_path / f"{cell.cell_id}.json")])
        preds = read(tmp_path / f"{cell.cell_id}.json")
        assert (folder / "checkpoint.pt").is_file() and preds and preds == read(folder / "result.json")
