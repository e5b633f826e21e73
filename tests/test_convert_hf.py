"""Converters to DocRED JSON, the Hugging Face layout: it goes there and back unchanged, from saved folders, Parquet
and JSON exports through the CLI; and each converted corpus (PubTator, ChemDisGene JSON, HF) validates, takes every
noise model, trains a tiny model and scores. The PubTator and ChemDisGene JSON converters: test_convert."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from biomed import chemdisgene_json, make_abstracts, pubtator_text, write, write_json
from conftest import make_corpus
from hypothesis import given, settings
from hypothesis import strategies as st
from test_convert import run
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.base import DocrobustError, read_json
from docrobust.corpus import RelationInventory, facts_from_docs, save_docs, score, validate_docs
from docrobust.corpus.convert import write_rel_info
from docrobust.corpus.hf import from_hf, hf_relation_names, load_hf, to_hf
from docrobust.noise import NOISE_MODELS, apply_noise, measure_profile
from docrobust.noise.annotator import fit_annotator

datasets = pytest.importorskip("datasets", reason="the hf-docred converter's extra: pip install 'docrobust[hf]'")


# ---------------------------------------------------------------- the Hugging Face layout

def hub_rows(docs: list[dict]) -> list[dict]:
    """Rows in the hub's docred layout, written out by hand (not by to_hf)."""
    return [{"title": d["title"], "sents": d["sents"], "vertexSet": d["vertexSet"],
             "labels": {"head": [x["h"] for x in d["labels"]], "tail": [x["t"] for x in d["labels"]],
                        "relation_id": [x["r"] for x in d["labels"]],
                        "relation_text": [f"name of {x['r']}" for x in d["labels"]],
                        "evidence": [x["evidence"] for x in d["labels"]]}} for d in docs]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_property_hf_there_and_back_keeps_every_mention_and_relation(seed, n):
    docs = make_corpus(n, seed=seed)
    ds = datasets.Dataset.from_list(hub_rows(docs))
    assert from_hf(ds) == docs
    assert from_hf(to_hf(docs)) == docs
    assert to_hf(from_hf(ds), {r: f"name of {r}" for r in ("P1", "P2", "P3")}).to_list() == hub_rows(docs)


def test_hf_saved_folders_parquet_and_json_exports_convert_through_the_cli(tmp_path, capsys):
    train, test = make_corpus(6, seed=3, prefix="tr"), make_corpus(3, seed=4, prefix="te")
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(hub_rows(train)),
                               "test": datasets.Dataset.from_list(hub_rows(test))})
    dd.save_to_disk(str(tmp_path / "saved"))
    dd["train"].to_parquet(str(tmp_path / "train.parquet"))
    dd["train"].to_json(str(tmp_path / "train.jsonl"))
    code, _, err = run(["data", "convert", "--from", "hf-docred", str(tmp_path / "saved"), "--out",
                        str(tmp_path / "x.json")], capsys)
    assert code == 2 and "holds the splits train, test; pick one with --split" in err
    for source, extra in (("saved", ["--split", "test"]), ("train.parquet", []), ("train.jsonl", [])):
        out = tmp_path / source.replace(".", "_") / "docs.json"
        code, stdout, _ = run(["data", "convert", "--from", "hf-docred", str(tmp_path / source), *extra, "--out",
                               str(out)], capsys)
        assert code == 0, stdout
        assert read_json(out) == (test if source == "saved" else train)
        assert read_json(out.parent / "rel_info.json") == {r: f"name of {r}" for r in sorted(
            {x["r"] for d in (test if source == "saved" else train) for x in d["labels"]})}
    assert load_hf(tmp_path / "saved", "train") == hub_rows(train) == load_hf(tmp_path / "train.parquet")


# ---------------------------------------------------------------- converted corpora go through the whole pipeline

def converted(kind: str, folder: Path, capsys) -> tuple[list[dict], list[dict], list[dict]]:
    """(train, test, low) of one input format, converted and validated: low is the same training documents with
    half the relations. The Hugging Face sets are `datasets.Dataset`s in memory, converted by from_hf."""
    folder.mkdir()
    if kind == "hf-docred":
        train, test = make_corpus(24, seed=5, prefix="tr"), make_corpus(8, seed=6, prefix="te")
        low = [{**d, "labels": d["labels"][::2]} for d in train]
        for name, docs in (("train", train), ("test", test), ("low", low)):
            ds = datasets.Dataset.from_list(hub_rows(docs))
            save_docs(from_hf(ds), folder / "docred" / f"{name}.json")
            write_rel_info(folder / "docred" / "rel_info.json", hf_relation_names(ds))
        files = {}
    else:
        train, test = make_abstracts(24, seed=5, prefix="1"), make_abstracts(8, seed=6, prefix="2")
        low = [{**a, "relations": a["relations"][::2]} for a in train]
        if kind == "pubtator":
            files = {name: write(folder / f"{name}.txt", pubtator_text(a))
                     for name, a in (("train", train), ("test", test), ("low", low))}
        else:
            files = {name: write_json(folder / f"{name}.json", chemdisgene_json(a))
                     for name, a in (("train", train), ("test", test), ("low", low))}
    out = {}
    for name in ("train", "test", "low"):
        if name in files:
            assert run(["data", "convert", "--from", kind, str(files[name]), "--out",
                        str(folder / "docred" / f"{name}.json")], capsys)[0] == 0
        code, stdout, _ = run(["data", "validate", str(folder / "docred" / f"{name}.json"), "--relations",
                               str(folder / "docred" / "rel_info.json")], capsys)
        assert code == 0 and "valid" in stdout
        out[name] = read_json(folder / "docred" / f"{name}.json")
    return out["train"], out["test"], out["low"]


# a spec for every registered noise model (low_docs and profile are passed to all)
NOISE_SPECS = {"clean": "clean", "fn-uniform": "fn-uniform:0.2", "fn-frequency": "fn-frequency:0.2",
               "fn-distance": "fn-distance:0.2", "fn-pair": "fn-pair:0.2", "fn-single-positive": "fn-single-positive",
               "fp-uniform": "fp-uniform:0.2", "fp-type": "fp-type:0.2", "fp-flip": "fp-flip:0.2", "mixed": "mixed:0.5",
               "real": "real:1.0", "annotator": "annotator:1.0,model={annotator}"}


@pytest.mark.parametrize("kind", ["pubtator", "chemdisgene-json", "hf-docred"])
def test_a_converted_corpus_takes_every_noise_model_trains_a_tiny_model_and_scores(kind, tmp_path, capsys,
                                                                                 tiny_encoder_dir):  # noqa: F811
    from docrobust.models.train import TrainConfig, train

    docs, test, low = converted(kind, tmp_path / kind, capsys)
    profile = measure_profile(low, docs)
    assert profile["aligned"] == len(docs) and profile["totals"]["fn"] > 0
    n = sum(len(d["labels"]) for d in docs)
    new = sorted(set(NOISE_MODELS) - set(NOISE_SPECS))
    assert not new, f"noise models {new} are new: give each a spec in NOISE_SPECS so converted corpora are tried on it"
    annotator = tmp_path / "annotator.json"  # the annotator-noise model fitted to the converted pair itself
    annotator.write_text(json.dumps(fit_annotator(low, docs, folds=2)))
    for name, spec in NOISE_SPECS.items():
        spec = spec.format(annotator=annotator)
        noisy, manifest = apply_noise(docs, spec, 0, low_docs=low, profile=profile)
        assert validate_docs(noisy) == [], spec
        if spec.endswith(":0.2"):
            assert manifest["achieved_rate"] == round(0.2 * n) / n, spec
        assert (manifest["positives_after"] == n) == (name in ("clean", "fp-flip")), spec

    noisy, _ = apply_noise(docs, "fn-uniform:0.3", 0)
    relations = RelationInventory.from_docs(docs + test)
    config = TrainConfig(model="atlop", encoder=str(tiny_encoder_dir), epochs=2, batch_size=4, max_len=256,
                         model_options={"emb_size": 64, "block_size": 16}, lr_encoder=1e-3, lr_head=3e-3,
                         progress=False, num_threads=1)
    metrics = train(config, noisy, test, test, relations=relations, out_dir=tmp_path / "run",
                    train_facts=facts_from_docs(noisy))
    recomputed = score(test, read_json(tmp_path / "run" / "result.json"), facts_from_docs(noisy))
    assert metrics["test"]["n_gold"] == sum(len(d["labels"]) for d in test) > 0
    assert {k: recomputed[k] for k in ("f1", "ign_f1", "n_pred", "tp")} == {
        k: metrics["test"][k] for k in ("f1", "ign_f1", "n_pred", "tp")}


def test_unknown_format_and_missing_datasets_are_one_line(tmp_path, capsys, monkeypatch):
    code, _, err = run(["data", "convert", "--from", "bioc", "x.xml", "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and "'bioc' is not one of 'hf-docred', 'pubtator', 'chemdisgene-json'" in err
    import builtins
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "datasets" else real_import(name, *a, **k))
    with pytest.raises(DocrobustError, match=r"pip install 'docrobust\[hf\]'"):
        to_hf(make_corpus(1))
