"""CDR as a first-class corpus: `data download cdr` fetches the three PubTator files from a mirror, verifies them and
converts them to DocRED JSON (into the cache when the data folder is read-only); the shipped `cdr` profile passes
`bench check`, and a tiny-encoder run of it trains on chemical-disease pairs only and scores."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from conftest import run_main
from test_corpus_data import serving
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.base import read_json
from docrobust.corpus.data import download, resolve_path, status

REPO = Path(__file__).resolve().parent.parent
CID = {"train": 1038, "dev": 1012, "test": 1066}   # the official counts of the CDR release


@pytest.fixture(scope="module")
def cdr_dir(data_dir, tmp_path_factory):
    """A data folder holding the CDR files, downloaded from the real data folder as a mirror and converted."""
    folder = tmp_path_factory.mktemp("cdr_data")
    with serving(data_dir) as mirror:
        for name in ("cdr-train", "cdr-dev", "cdr-test"):
            download(name, folder, mirror=mirror)
    return folder


@pytest.mark.slow
def test_download_cdr_from_a_mirror_verifies_and_converts_the_three_files(cdr_dir, data_dir, tmp_path, capsys,
                                                                          monkeypatch):
    states = {row["name"]: row["state"] for row in status(cdr_dir, check=True)}
    assert {n: states[n] for n in ("cdr-train-pubtator", "cdr-dev-pubtator", "cdr-test-pubtator", "cdr-train",
                                   "cdr-dev", "cdr-test")} == dict.fromkeys(
        ("cdr-train-pubtator", "cdr-dev-pubtator", "cdr-test-pubtator", "cdr-train", "cdr-dev", "cdr-test"), "ok")
    for split, n in CID.items():
        docs = read_json(cdr_dir / "cdr" / f"{split}.json")
        assert len(docs) == 500 and sum(len(d["labels"]) for d in docs) == n
        record = read_json(cdr_dir / "cdr" / f"{split}.conversion.json")
        assert record["relations"] == n and record["documents"] == 500
        assert all(d["reason"] == "no identifier (unlinked, '-' or '-1')" for d in record["dropped_items"])
    assert read_json(cdr_dir / "cdr" / "rel_info.json") == {"CID": "CID"}

    # the CLI: a bundle name; a current conversion is kept, an edited one is stale and converted again
    converted = cdr_dir / "cdr" / "dev.json"
    before = converted.stat().st_mtime_ns
    with serving(data_dir) as mirror:
        code, out, _ = run_main(["--data-dir", str(cdr_dir), "data", "download", "--mirror", mirror, "cdr"], capsys)
    assert code == 0 and out.count("500 documents") == 3 and converted.stat().st_mtime_ns == before
    converted.write_text(json.dumps(read_json(converted)[:3]))
    assert {r["name"]: r["state"] for r in status(cdr_dir, check=True)}["cdr-dev"] == "stale"
    with serving(data_dir) as mirror:
        assert run_main(["--data-dir", str(cdr_dir), "data", "download", "--mirror", mirror, "cdr-dev"], capsys)[0] == 0
    assert len(read_json(converted)) == 500

    # a read-only data folder (a shared copy): the converted file goes to the cache, where paths resolve
    shared = tmp_path / "shared"
    (shared / "cdr").mkdir(parents=True)
    shutil.copy(cdr_dir / "cdr" / "CDR_DevelopmentSet.PubTator.txt", shared / "cdr")
    for folder in (shared / "cdr", shared):
        folder.chmod(0o555)
    monkeypatch.setenv("DOCROBUST_CACHE", str(tmp_path / "cache"))
    try:
        path = download("cdr-dev", shared)
        assert path == tmp_path / "cache" / "converted" / "cdr" / "dev.json"
        assert resolve_path("cdr/dev.json", shared) == path and sorted(p.name for p in (shared / "cdr").iterdir()) == [
            "CDR_DevelopmentSet.PubTator.txt"]
        assert read_json(path) == read_json(converted)
    finally:
        for folder in (shared, shared / "cdr"):
            folder.chmod(0o755)


@pytest.mark.slow
def test_the_cdr_profile_passes_check_and_a_tiny_run_of_it_trains_and_scores_chemical_disease_pairs(
        cdr_dir, tiny_encoder_dir, tmp_path, capsys, monkeypatch):  # noqa: F811
    from docrobust.bench.config import load_config
    from docrobust.bench.runner import run_bench

    code, out, _ = run_main(["--data-dir", str(cdr_dir), "bench", "check", str(REPO / "bench.toml"), "--profile", "cdr"],
                       capsys)
    assert code == 0 and "24 cells, profile cdr" in out
    cfg = load_config(REPO / "bench.toml", "cdr", cdr_dir)
    assert cfg.data["pair_types"] == {"pairs": [["Chemical", "Disease"]]} and cfg.training["freeze_encoder"]
    monkeypatch.setenv("DOCROBUST_CACHE", str(tmp_path / "cache"))   # the feature store
    tiny = dataclasses.replace(
        cfg, encoder=str(tiny_encoder_dir), training={**cfg.training, "epochs": 2, "num_threads": 1},
        matrix={**cfg.matrix, "noise": ["clean", "fp-type:0.2"], "seeds": [0]},
        data={k: {**v, "range": [0, 16]} if k in ("train", "dev", "test") else v for k, v in cfg.data.items()},
        execution={**cfg.execution, "n_jobs": 1})
    summary = run_bench(tiny, tmp_path / "results", quiet=True, report=False)
    assert summary.ok and len(summary.done) == 4
    test_docs = read_json(cdr_dir / "cdr" / "test.json")[:16]
    types = {d["title"]: [e[0]["type"] for e in d["vertexSet"]] for d in test_docs}
    for cell in summary.done:
        metrics = read_json(tmp_path / "results" / "cells" / cell / "metrics.json")
        assert metrics["test"]["n_gold"] == sum(len(d["labels"]) for d in test_docs) > 0
        assert metrics["test"]["pair_types"] == [["Chemical", "Disease"]]
        preds = read_json(tmp_path / "results" / "cells" / cell / "result.json")
        assert all((types[p["title"]][p["h_idx"]], types[p["title"]][p["t_idx"]]) == ("Chemical", "Disease")
                   for p in preds)
        if "fp-type" in cell:
            manifest = read_json(tmp_path / "results" / "cells" / cell / "manifest.json")
            assert manifest["pair_types"] == [["Chemical", "Disease"]] and manifest["steps"][0]["n_added"] > 0
