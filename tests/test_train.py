"""The trainer: it learns (overfits 20 real documents), its files agree with the scorer, it stops on NaN,
and `docrobust train` works and rejects bad input in one line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.base import DocrobustError, sha256_json
from docrobust.corpus import RelationInventory, facts_from_docs, load_docs
from docrobust.corpus.score import frequent_relations, score
from docrobust.models.train import TrainConfig, TrainingError, linear_schedule, train

# Sizes that let the tiny encoder overfit 20 documents in ~1 s per epoch. Measured with these settings:
# training F1 0.59 (seed 0) and 0.50 (seed 1) after 20 epochs, 0 for the first five. One thread: the
# tiny model gains little from two, and a second thread stalls badly when other processes share the cores.
TINY = dict(model_options={"emb_size": 128, "block_size": 16}, lr_encoder=1e-3, lr_head=3e-3, warmup=0.0,
            max_len=512, progress=False, num_threads=1)
OVERFIT_EPOCHS = 20
OVERFIT_F1 = 0.3


@pytest.fixture(scope="module")
def docs(data_dir) -> list[dict]:
    return load_docs(data_dir / "redocred/dev_revised.json")


@pytest.fixture(scope="module")
def relations(data_dir) -> RelationInventory:
    return RelationInventory.load(data_dir)


def tiny_config(encoder, **overrides) -> TrainConfig:
    return TrainConfig(encoder=str(encoder), **{**TINY, **overrides})


@pytest.fixture(scope="module")
def overfit_run(docs, relations, tiny_encoder_dir, tmp_path_factory):  # noqa: F811
    """ATLOP + ATL trained and evaluated on the same 20 documents (dev = test = train)."""
    subset = docs[:20]
    before = sha256_json(subset)
    out = tmp_path_factory.mktemp("overfit")
    config = tiny_config(tiny_encoder_dir, model="atlop", loss="atl", epochs=OVERFIT_EPOCHS, batch_size=4)
    metrics = train(config, subset, subset, subset, relations=relations, out_dir=out)
    assert sha256_json(subset) == before, "train() modified its input documents"
    return subset, out, metrics


@pytest.mark.slow
def test_overfits_training_documents(overfit_run):
    _, _, metrics = overfit_run
    losses = [e["loss"] for e in metrics["epochs"]]
    assert losses[-1] < 0.5 * losses[0]
    assert metrics["test"]["f1"] >= OVERFIT_F1, metrics["epochs"]


@pytest.mark.slow
def test_output_files_agree_with_scorer(overfit_run, relations):
    subset, out, metrics = overfit_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["best_epoch"] == metrics["best_epoch"]
    preds = json.loads((out / "result.json").read_text())
    assert preds and all(set(p) == {"title", "h_idx", "t_idx", "r"} and p["r"] in relations for p in preds)
    # Ign F1 leaves out facts of the training documents (the default train_facts), here all of them: 0.
    rescored = score(subset, preds, facts_from_docs(subset), frequent=frequent_relations(subset))
    assert rescored["ign_f1"] == 0 < rescored["f1"]
    for key in ("precision", "recall", "f1", "ign_f1", "n_pred", "tp"):
        assert rescored[key] == pytest.approx(saved["test"][key]), key
    assert saved["test"]["per_doc"]["title"] == [d["title"] for d in subset]

    dev_f1 = [e["dev_f1"] for e in saved["epochs"]]
    assert [e["epoch"] for e in saved["epochs"]] == list(range(1, OVERFIT_EPOCHS + 1))
    assert saved["best_epoch"] == 1 + int(np.argmax(dev_f1))
    assert saved["dev"]["f1"] == pytest.approx(max(dev_f1))

    resolved = json.loads((out / "config.json").read_text())
    config = TrainConfig.from_dict(resolved["config"])
    assert config.to_dict() == resolved["config"] and config.loss == "atl" and config.lr_encoder == TINY["lr_encoder"]
    assert set(resolved["versions"]) >= {"torch", "transformers", "docrobust"}

    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r["event"] == "epoch"] == list(range(1, OVERFIT_EPOCHS + 1))
    assert not (out / "checkpoint.pt").exists()


@pytest.mark.slow
def test_the_ranking_is_the_threshold_free_score_sklearn_computes(docs, relations, tiny_encoder_dir, tmp_path,  # noqa: F811
                                                                 monkeypatch):
    """With the whole test ranking kept, metrics' AP is sklearn's average precision of the gold labels against the
    scores above the threshold, and ranking.npz holds every candidate triple, best first."""
    from sklearn.metrics import average_precision_score

    import docrobust.models.train as train_module

    monkeypatch.setattr(train_module, "RANKING_DEPTH", 10 ** 9)
    subset = docs[:6]
    metrics = train(tiny_config(tiny_encoder_dir, epochs=3), subset, subset, subset, relations=relations, out_dir=tmp_path)
    with np.load(tmp_path / "ranking.npz") as npz:
        ranked = {k: npz[k] for k in npz.files}
    n_pairs = sum(len(d["vertexSet"]) * (len(d["vertexSet"]) - 1) for d in subset)
    assert len(ranked["score"]) == int(ranked["n_candidates"]) == n_pairs * len(relations) == metrics["ranking"]["depth"]
    assert np.all(np.diff(ranked["score"]) <= 0) and set(ranked["doc"]) == set(range(6))
    assert int(ranked["relevant"].sum()) == metrics["test"]["n_gold"] == metrics["ranking"]["relevant_ranked"]
    assert metrics["ranking"]["ap"] == pytest.approx(average_precision_score(ranked["relevant"], ranked["score"]),
                                                     abs=1e-12)
    assert 0 < metrics["ranking"]["ap"] < 1


@pytest.mark.slow
def test_select_by_calibrated_f1_picks_the_epoch_of_the_best_calibrated_dev_f1(docs, relations, tiny_encoder_dir,  # noqa: F811
                                                                               tmp_path):
    subset = docs[:6]
    metrics = train(tiny_config(tiny_encoder_dir, epochs=4, select_by="calibrated_f1", calibrate_threshold=True),
                    subset, subset, None, relations=relations, out_dir=tmp_path)
    calibrated = [e["dev_calibrated_f1"] for e in metrics["epochs"]]
    assert metrics["best_epoch"] == 1 + int(np.argmax(calibrated))
    # the dev calibration of the kept epoch is the one metrics report
    assert metrics["calibrated"]["dev"]["f1"] == pytest.approx(max(calibrated))
    with pytest.raises(DocrobustError, match="select_by"):
        tiny_config(tiny_encoder_dir, select_by="ign_f1")
    # with a delta no epoch can beat, the first is kept and early stopping ends the run `patience` epochs later
    metrics = train(tiny_config(tiny_encoder_dir, epochs=4, early_stopping=2, early_stopping_delta=1.0), subset, subset,
                    None, relations=relations, out_dir=tmp_path / "delta")
    assert metrics["best_epoch"] == 1 and len(metrics["epochs"]) == 3


def test_nan_loss_stops_with_step(docs, relations, tiny_encoder_dir, tmp_path, monkeypatch):  # noqa: F811
    from docrobust.models import losses

    calls = []

    def nan_on_second_call(self, logits, labels):
        calls.append(1)
        return logits.sum() * (float("nan") if len(calls) == 2 else 0.0)

    monkeypatch.setattr(losses.ATLoss, "forward", nan_on_second_call)
    config = tiny_config(tiny_encoder_dir, loss="atl", epochs=1, batch_size=1)
    with pytest.raises(TrainingError, match=r"epoch 1, step 2\b") as e:
        train(config, docs[:3], docs[:1], relations=relations, out_dir=tmp_path)
    assert "\n" not in str(e.value) and "nan" in str(e.value)


def test_early_stopping_and_checkpoint(docs, relations, tiny_encoder_dir, tmp_path):  # noqa: F811
    # A learning rate far below float32 resolution leaves the weights, so dev F1, unchanged: patience 1 stops at 2.
    config = tiny_config(tiny_encoder_dir, loss="atl", epochs=5, lr_encoder=0.0, lr_head=1e-20, early_stopping=1,
                         save_checkpoint=True)
    metrics = train(config, docs[:2], docs[2:4], relations=relations, out_dir=tmp_path)
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["best_epoch"] == 1
    assert "test" not in metrics
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert checkpoint["config"]["early_stopping"] == 1 and checkpoint["relations"]["ids"] == list(relations.ids)
    preds = json.loads((tmp_path / "result.json").read_text())
    assert score(docs[2:4], preds, frequent=frequent_relations(docs[:2]))["f1"] == pytest.approx(metrics["dev"]["f1"])


def test_grad_checkpointing_still_trains_the_encoder(docs, relations, tiny_encoder_dir, tmp_path):  # noqa: F811
    from safetensors.torch import load_file

    config = tiny_config(tiny_encoder_dir, loss="atl", epochs=1, grad_checkpointing=True, save_checkpoint=True)
    train(config, docs[:2], docs[:1], relations=relations, out_dir=tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt")["state_dict"]
    initial = load_file(tiny_encoder_dir / "model.safetensors")
    name = next(k for k in initial if "layer.0.attention" in k and k.endswith("weight"))
    assert not torch.equal(state[f"encoder.{name}"], initial[name])


def test_distillation_adds_mse_to_teacher(docs, relations, tiny_encoder_dir, tmp_path):  # noqa: F811
    base = dict(loss="atl", epochs=1, batch_size=2, log_every=1)
    teacher = train(tiny_config(tiny_encoder_dir, save_train_logits=True, **base), docs[:2], docs[:1],
                    relations=relations, out_dir=tmp_path / "teacher")
    logits = torch.load(tmp_path / "teacher" / "train_logits.pt")
    assert logits.shape[1] == 1 + len(relations) and teacher["epochs"]

    np.save(tmp_path / "zeros.npy", np.zeros(tuple(logits.shape), dtype=np.float32))
    runs = {}
    for name, extra in {"plain": {}, "kd": {"kd_teacher_logits": str(tmp_path / "zeros.npy"), "kd_weight": 2.0}}.items():
        train(tiny_config(tiny_encoder_dir, **base, **extra), docs[:2], docs[:1], relations=relations,
              out_dir=tmp_path / name)
        log = [json.loads(x) for x in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
        runs[name] = next(r["loss"] for r in log if r["event"] == "step")
    # Same seed, same first batch, same initial weights: the first loss differs by 2 * mean(student logits^2) > 0.
    assert runs["kd"] > runs["plain"]

    np.save(tmp_path / "short.npy", np.zeros((3, 1 + len(relations)), dtype=np.float32))
    with pytest.raises(DocrobustError, match="short.npy.*expected"):
        train(tiny_config(tiny_encoder_dir, **base, kd_teacher_logits=str(tmp_path / "short.npy")), docs[:2], docs[:1],
              relations=relations, out_dir=tmp_path / "bad")


def test_config_rejects_unknown_and_out_of_range():
    with pytest.raises(DocrobustError, match=r"unknown training option 'epoch'; allowed: .*epochs"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(DocrobustError, match="warmup"):
        TrainConfig.from_dict({"warmup": 1.5})
    with pytest.raises(DocrobustError, match=r"training option epochs: expected int, got '3'"):
        TrainConfig.from_dict({"epochs": "3"})
    with pytest.raises(DocrobustError, match=r"early_stopping: expected int or null, got True"):
        TrainConfig.from_dict({"early_stopping": True})
    config = TrainConfig.from_dict({"epochs": 3, "loss": "cmm", "loss_options": {"m": 0.3}})
    assert TrainConfig.from_dict(config.to_dict()) == config and config.batch_size == 4 and config.seed == 0


def test_linear_schedule():
    factor = linear_schedule(total_steps=100, warmup=0.1)
    values = [factor(s) for s in range(101)]
    assert values[0] == 0 and values[5] == pytest.approx(0.5) and values[10] == 1 and values[100] == 0
    assert values[:11] == sorted(values[:11]) and values[10:] == sorted(values[10:], reverse=True)


# ----------------------------------------------------------------------------- CLI

def test_cli_trains_and_prints_scores(docs, data_dir, tiny_encoder_dir, tmp_path):  # noqa: F811
    from click.testing import CliRunner

    from docrobust.bench.cli import cli

    (tmp_path / "few.json").write_text(json.dumps(docs[:3]))
    out = CliRunner().invoke(cli, [
        "--data-dir", str(data_dir), "train", "--model", "atlop", "--loss", "cmm", "--train", str(tmp_path / "few.json"),
        "--dev", str(tmp_path / "few.json"), "--test", "redocred/test_revised.json", "--max-eval-docs", "2",
        "--encoder", str(tiny_encoder_dir), "--out", str(tmp_path / "run"), "--epochs", "1", "--max-len", "256",
        "--loss-option", "gamma=1.2", "--loss-option", "margin=global", "--model-option", "emb_size=64",
        "--train-facts", "docred/train_annotated.fact", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "best epoch 1 of 1" in out.output and "test:" in out.output
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert saved["loss_options"] == {"gamma": 1.2, "margin": "global"} and saved["model_options"] == {"emb_size": 64}
    assert len(json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["per_doc"]["title"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--train", "missing.json"], "missing.json: no such file"),
    (["--loss", "nope"], "unknown loss 'nope'"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--loss-option", "gamma"], "expected KEY=VALUE"),
    (["--loss-option", "nope=1"], "loss_options.nope: no such option; loss 'atl' takes no options"),
    (["--epochs", "0"], "epochs: must be >= 1, got 0"),
    (["--relations", "missing-folder"], "missing-folder"),
])
def test_cli_bad_input_is_one_line(args, message, docs, data_dir, tiny_encoder_dir, tmp_path, capsys):  # noqa: F811
    from docrobust.bench.cli import main

    (tmp_path / "few.json").write_text(json.dumps(docs[:2]))
    base = {"--train": str(tmp_path / "few.json"), "--dev": str(tmp_path / "few.json"), "--encoder": str(tiny_encoder_dir),
            "--out": str(tmp_path / "run"), "--epochs": "1", "--max-len": "128"}
    given = dict(zip(args[::2], args[1::2]))
    argv = ["--data-dir", str(data_dir), "train", "--quiet"] + [x for k, v in {**base, **given}.items() for x in (k, v)]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and message in err, err


# ----------------------------------------------------------------------------- the real encoder

@pytest.mark.slow
def test_minilm_few_steps(docs, relations, tmp_path):
    config = TrainConfig(encoder="minilm", model="atlop", loss="atl", epochs=1, batch_size=1, max_len=256,
                         progress=False, num_threads=2)
    metrics = train(config, docs[:2], docs[2:3], docs[3:4], relations=relations, out_dir=tmp_path)
    assert np.isfinite(metrics["epochs"][0]["loss"]) and metrics["epochs"][0]["loss"] > 0
    assert 0 <= metrics["test"]["f1"] <= 1 and (tmp_path / "result.json").exists()
    assert json.loads((tmp_path / "config.json").read_text())["config"]["lr_encoder"] == 5e-5  # hidden 384 < 1024


@pytest.mark.slow
def test_a_frozen_encoder_with_span_pooling_learns_from_stored_features(docs, relations, tiny_encoder_dir, tmp_path):  # noqa: F811
    """The head alone, on the feature store's rows of a frozen random tiny encoder, fits 20 documents: measured
    training F1 0.44 (seed 0) and 0.50 (seed 1) after 30 epochs (0.08 / 0.19 after 15), against 0 for predicting
    nothing; the store encodes each document once."""
    subset = docs[:20]
    config = tiny_config(tiny_encoder_dir, model="atlop", loss="atl", epochs=30, batch_size=4, freeze_encoder=True,
                         calibrate_threshold=True, lr_head=1e-2)
    metrics = train(config, subset, subset, subset, relations=relations, out_dir=tmp_path / "run",
                    feature_store=tmp_path / "store")
    runtime = json.loads((tmp_path / "run" / "config.json").read_text())["runtime"]
    assert runtime["entity_pooling"] == "span" and runtime["encoded_docs"] == 20
    assert metrics["test"]["f1"] >= 0.2, metrics["epochs"]
    assert metrics["calibrated"]["dev"]["f1"] >= metrics["dev"]["f1"]   # the offset is chosen on dev, 0 included


@pytest.mark.slow
def test_choose_offset_is_what_decoding_at_each_offset_would_choose():
    """choose_offset counts each offset's predictions from intervals; decoding at every offset (the loss's own
    predict on shifted logits) must choose the same, ties and top-k cuts included, for TH and zero thresholds."""
    from docrobust.models.losses import build_loss
    from docrobust.models.train import OFFSETS, choose_offset, shift_threshold

    def by_decoding(loss_fn, labels, z, top_k):
        gold = torch.from_numpy(labels[:, 1:]).bool()
        best_f1, best = -1.0, 0.0
        for offset in sorted(OFFSETS, key=abs):
            pred = loss_fn.predict(shift_threshold(z, offset), top_k)[:, 1:].bool()
            f1 = 2 * int((pred & gold).sum()) / max(1, int(pred.sum()) + int(gold.sum()))
            if f1 > best_f1:
                best_f1, best = f1, offset
        return best

    rng = np.random.default_rng(0)
    for trial in range(120):
        n_pairs, n_rel = int(rng.integers(1, 200)), int(rng.integers(1, 12))
        z = torch.from_numpy(rng.normal(0, 2, (n_pairs, 1 + n_rel)).astype(np.float32))
        if trial % 3 == 0:
            z = torch.round(z * 2) / 2   # ties between relations, and with the offsets' grid
        labels = (rng.random((n_pairs, 1 + n_rel)) < 0.15).astype(np.float32)
        for name in ("atl", "bce", "balanced-softmax"):
            for top_k in (4, 2, 1, 0):
                assert choose_offset(build_loss(name), [{"labels": labels}], [z], top_k) == \
                    by_decoding(build_loss(name), labels, z, top_k), (trial, name, top_k)
