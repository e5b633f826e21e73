"""Real-noise pairs by name: `noise profile NAME` measures a registered pair (the numbers Revisit-DocRED and
Re-DocRED imply), `real:RATE,profile=NAME` applies it anywhere (noise generate, the runner), and a pair whose
files are missing says which to download."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import make_corpus, no_real_data
from test_bench_run import instant_train, write_toml

from docrobust.bench.cli import main
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.base import read_json
from docrobust.corpus import load_docs
from docrobust.corpus.data import REGISTRY
from docrobust.noise.pairs import PAIRS, load_pair
from docrobust.noise import apply_noise, measure_profile


@pytest.fixture(scope="module")
def pair_data(data_dir):
    missing = [REGISTRY[f].path for p in PAIRS.values() for f in p.files if not (data_dir / REGISTRY[f].path).is_file()]
    if missing:
        no_real_data(f"DOCROBUST_DATA={data_dir} lacks {', '.join(missing)}")
    return data_dir


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def test_noise_profile_by_name_gives_each_pairs_measured_rates(pair_data, capsys, tmp_path):
    code, out, _ = run(["--data-dir", str(pair_data), "noise", "profile", "revisit-docred", "--out",
                        str(tmp_path / "revisit.json")], capsys)
    assert code == 0
    assert "aligned 96 documents (0 with other entities, 0 only in LOW, 0 only in HIGH)" in out
    assert ("labels: 1,214 in LOW, 3,308 in HIGH; false negatives 2,094 (rate 0.6330), false positives 0 "
            "(rate 0.0000)") in out
    by_files = measure_profile(load_docs(pair_data / "revisit-docred/valid_revise.json"),
                               load_docs(pair_data / "revisit-docred/valid_scratch.json"))
    assert read_json(tmp_path / "revisit.json") == by_files

    code, out, _ = run(["--data-dir", str(pair_data), "noise", "profile", "docred-vs-redocred"], capsys)
    assert code == 0 and "aligned 895 documents (105 with other entities" in out
    assert "labels: 10,986 in LOW, 30,859 in HIGH; false negatives 19,940" in out


def test_a_pair_name_is_a_profile_in_noise_specs_and_in_the_runner(pair_data, capsys, tmp_path):
    low, high = load_pair("revisit-docred", pair_data)
    profile = measure_profile(low, high)
    docs = load_docs(pair_data / "redocred/test_revised.json")
    by_name, manifest = apply_noise(docs, "real:0.5,profile=revisit-docred", 3, data_dir=pair_data)
    assert (by_name, manifest["steps"][0]["profile_sha256"]) == (
        apply_noise(docs, "real:0.5", 3, profile=profile)[0], apply_noise(docs, "real:0.5", 3, profile=profile)[1][
            "steps"][0]["profile_sha256"])
    n_r = Counter(lab["r"] for d in docs for lab in d["labels"])
    removed = Counter(row[3] for row in manifest["steps"][0]["removed"])
    assert removed and all(removed[r] == round(0.5 * row["fn_rate"] * n_r[r])
                           for r, row in profile["per_relation"].items())

    code, out, _ = run(["--data-dir", str(pair_data), "noise", "generate", "redocred/test_revised.json", "--spec",
                        "real:0.5,profile=revisit-docred", "--seed", "3", "--out", str(tmp_path / "n.json")], capsys)
    assert code == 0 and read_json(tmp_path / "n.json") == by_name

    toml = write_toml(tmp_path, f"""
        [data]
        train = "{pair_data}/redocred/dev_revised.json"
        train_range = [0, 40]
        dev = "{pair_data}/redocred/dev_revised.json"
        dev_range = [40, 50]
        test = "{pair_data}/redocred/test_revised.json"
        test_range = [0, 10]
        [matrix]
        models = ["atlop"]
        losses = ["atl"]
        noise = ["real:1.0,profile=revisit-docred"]
        """.replace("\n        ", "\n"))
    summary = run_bench(load_config(toml, None, pair_data), tmp_path / "results", quiet=True, report=False,
                        train_fn=instant_train)
    assert summary.ok
    cell = read_json(tmp_path / "results" / "cells" / summary.ran[0] / "manifest.json")
    assert cell["spec"] == "real:1.0,profile=revisit-docred" and cell["positives_after"] < cell["positives_before"]


def test_pairs_are_listed_and_a_missing_pair_says_what_to_download(tmp_path, capsys):
    code, out, _ = run(["--data-dir", str(tmp_path), "noise", "pairs"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("docred-vs-redocred   missing  docred-dev -> redocred-dev + ")
    assert "docrobust data download revisit-docred-revise revisit-docred-scratch" in out
    code, _, err = run(["--data-dir", str(tmp_path), "noise", "profile", "revisit-docred"], capsys)
    assert code == 2 and err.strip() == (
        f"error: real-noise pair 'revisit-docred': revisit-docred/valid_revise.json, revisit-docred/valid_scratch.json "
        f"not in {tmp_path}; run `docrobust data download revisit-docred-revise revisit-docred-scratch`")
    code, _, err = run(["--data-dir", str(tmp_path), "noise", "profile", "revisit-docrd"], capsys)
    assert code == 2 and "'revisit-docrd' is not a registered real-noise pair" in err
    (tmp_path / "x.json").write_text(json.dumps(make_corpus(3)))
    code, _, err = run(["--data-dir", str(tmp_path), "noise", "generate", str(tmp_path / "x.json"), "--spec",
                        "real:1.0,profile=revisit", "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and err.strip() == ("error: profile=revisit: no such file, and unknown real-noise pair 'revisit' "
                                         "(did you mean 'revisit-docred'?); known: docred-vs-redocred, revisit-docred")
