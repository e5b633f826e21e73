"""`docrobust noise list / generate / profile`."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docrobust.bench.cli import cli, main
from docrobust.corpus import CorpusError, dumps_json, load_docs, save_docs, sha256_file
from docrobust.noise import NOISE_MODELS, apply_noise, measure_profile, replay


@pytest.fixture
def small_file(small_docs, tmp_path):
    save_docs(small_docs, tmp_path / "in.json")
    return tmp_path / "in.json"


def test_list_shows_every_model_with_its_options():
    output = CliRunner().invoke(cli, ["noise", "list"]).output
    lines = output.splitlines()
    assert len(lines) == len(NOISE_MODELS)
    for name, model in NOISE_MODELS.items():
        assert any(line.startswith(name) and model.summary in line for line in lines)
    assert "fn-frequency:RATE,exponent=1.0" in output and "real:RATE,profile=PATH" in output


def test_generate_writes_the_output_and_a_replayable_manifest(small_docs, small_file, tmp_path):
    out = tmp_path / "noisy.json"
    result = CliRunner().invoke(cli, ["noise", "generate", str(small_file), "--spec", "fn-uniform:0.5", "--seed", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1 and "6 -> 3 labels" in result.output and "total rate 0.5000" in result.output
    manifest = json.loads((tmp_path / "noisy.manifest.json").read_text())
    expected, _ = apply_noise(small_docs, "fn-uniform:0.5", 1)
    assert out.read_text() == dumps_json(expected)
    assert manifest["input_sha256"] == sha256_file(small_file) and manifest["spec"] == "fn-uniform:0.5"
    assert replay(small_docs, manifest) == load_docs(out)


def test_generate_refuses_to_overwrite_without_force(small_file, tmp_path):
    out = tmp_path / "noisy.json"
    args = ["noise", "generate", str(small_file), "--spec", "fn-uniform:0.5", "--out", str(out)]
    assert CliRunner().invoke(cli, args + ["--seed", "1"]).exit_code == 0
    first = out.read_text()
    refused = CliRunner().invoke(cli, args + ["--seed", "2"])
    assert isinstance(refused.exception, CorpusError) and "exists; pass --force" in str(refused.exception)
    assert out.read_text() == first
    assert CliRunner().invoke(cli, args + ["--seed", "2", "--force"]).exit_code == 0
    assert out.read_text() == dumps_json(apply_noise(load_docs(small_file), "fn-uniform:0.5", 2)[0])


def test_generate_mixed_and_real_take_their_inputs_from_files(small_docs, small_file, tmp_path):
    low = [dict(d, labels=d["labels"][:1]) for d in small_docs]
    save_docs(low, tmp_path / "low.json")
    (tmp_path / "profile.json").write_text(json.dumps(measure_profile(low, small_docs)))
    missing = CliRunner().invoke(cli, ["noise", "generate", str(small_file), "--spec", "mixed:1", "--out", str(tmp_path / "m.json")])
    assert "needs --low LOW.json" in str(missing.exception)
    mixed = CliRunner().invoke(cli, ["noise", "generate", str(small_file), "--spec", "mixed:1", "--low",
                                     str(tmp_path / "low.json"), "--out", str(tmp_path / "m.json")])
    assert mixed.exit_code == 0, mixed.output
    assert load_docs(tmp_path / "m.json") == low
    real = CliRunner().invoke(cli, ["noise", "generate", str(small_file), "--spec", "real:1", "--profile",
                                    str(tmp_path / "profile.json"), "--out", str(tmp_path / "r.json")])
    assert real.exit_code == 0, real.output
    assert sum(len(d["labels"]) for d in load_docs(tmp_path / "r.json")) == 3


def test_profile_prints_the_real_totals_and_writes_the_profile(data_dir, tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "noise", "profile", "docred/dev.json",
                                      "redocred/dev_revised.json", "redocred/test_revised.json",
                                      "--out", str(tmp_path / "p.json"), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "aligned 895 documents" in result.output
    assert "10,986 in LOW, 30,859 in HIGH" in result.output and "false positives 67" in result.output
    assert "notable work" in result.output  # relation names from meta/rel_info.json
    profile = json.loads((tmp_path / "p.json").read_text())
    assert profile["totals"]["fp"] == 67 and len(profile["per_relation"]) == 96


def test_a_bad_spec_exits_2_with_one_line(small_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["noise", "generate", str(small_file), "--spec", "fn-uniform:0.3,exponent=2", "--out", str(tmp_path / "o.json")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: noise spec") and "fn-uniform options: none" in err[0]
    assert not (tmp_path / "o.json").exists()
