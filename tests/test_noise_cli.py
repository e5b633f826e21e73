"""`docrobust noise list / generate / profile`."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_corpus, make_doc

from docrobust.bench.cli import cli, main
from docrobust.base import DocrobustError, dumps_json, sha256_file
from docrobust.corpus import load_docs, save_docs
from docrobust.noise import NOISE_MODELS, apply_noise, measure_profile, read_noisy, replay


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
    assert isinstance(refused.exception, DocrobustError) and "exists; pass --force" in str(refused.exception)
    assert out.read_text() == first
    assert CliRunner().invoke(cli, args + ["--seed", "2", "--force"]).exit_code == 0
    assert out.read_text() == dumps_json(apply_noise(load_docs(small_file), "fn-uniform:0.5", 2)[0])


def test_a_pair_left_by_a_kill_between_the_renames_is_replaced_without_force(small_file, tmp_path):
    """write_noisy renames the documents, then the manifest: a kill between them leaves new documents beside the old
    manifest, which is no result; the rerun replaces it without --force. Documents without a manifest of ours may be
    anybody's file and still need --force."""
    out = tmp_path / "noisy.json"
    args = ["noise", "generate", str(small_file), "--spec", "fn-uniform:0.5", "--out", str(out)]
    assert CliRunner().invoke(cli, args + ["--seed", "1"]).exit_code == 0
    out.write_text(small_file.read_text())   # the next run's documents landed, its manifest did not
    assert read_noisy(out) is None
    assert CliRunner().invoke(cli, args + ["--seed", "2"]).exit_code == 0
    assert read_noisy(out) is not None and read_noisy(out)[1]["seed"] == 2

    other = tmp_path / "mine.json"
    other.write_text("[]")
    refused = CliRunner().invoke(cli, args[:-1] + [str(other)])
    assert "exists; pass --force" in str(refused.exception) and other.read_text() == "[]"


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


# ---------------------------------------------------------------- inputs are never modified, outputs are whole

def test_generate_never_overwrites_an_input_or_a_special_file(small_file, tmp_path, capsys):
    (tmp_path / "d").mkdir()
    (tmp_path / "link.json").symlink_to(small_file)
    before = small_file.read_bytes()
    for out, message in ((small_file, "is the input"), (tmp_path / "d" / ".." / "in.json", "is the input"),
                         (tmp_path / "link.json", "is the input"),
                         ("/dev/full", "/dev/full: is a character device, not a regular file"),
                         (tmp_path / "d", "is a folder, not a regular file")):
        with pytest.raises(SystemExit) as e:
            main(["noise", "generate", str(small_file), "--spec", "fn-uniform:0.5", "--out", str(out), "--force"])
        err = capsys.readouterr().err.splitlines()
        assert e.value.code == 2 and len(err) == 1 and message in err[0], err
    assert small_file.read_bytes() == before and Path("/dev/full").is_char_device()
    low = tmp_path / "noisy.manifest.json"   # an input where the output's manifest would go
    save_docs(load_docs(small_file), low)
    refused = CliRunner().invoke(cli, ["noise", "generate", str(small_file), "--spec", "mixed:1", "--low", str(low),
                                       "--out", str(tmp_path / "noisy.json"), "--force"])
    assert f"{low}: is the input {low}" in str(refused.exception) and not (tmp_path / "noisy.json").exists()


GENERATE = """
import sys
from docrobust.bench.cli import main
import docrobust.noise.apply as apply
if sys.argv[1] == "pause":    # stop between the documents' rename and the manifest's, where a kill does most harm
    write_json = apply.atomic_write_json
    def paused(*args, **kwargs):
        print("between", flush=True)
        sys.stdin.readline()
        write_json(*args, **kwargs)
    apply.atomic_write_json = paused
print("ready", flush=True)
main(sys.argv[2:])
"""


@pytest.mark.slow
def test_kill_9_during_generate_force_leaves_a_consistent_pair_or_none(small_file, tmp_path):
    """A noisy file and its manifest are one result: after a SIGKILL at any moment of `generate --force`,
    read_noisy gives a pair whose manifest replays to the documents, or nothing; never a mismatch."""
    big = tmp_path / "big.json"
    save_docs(make_corpus(3000, seed=1), big)
    inputs = load_docs(big)
    out = tmp_path / "out" / "noisy.json"
    script = tmp_path / "generate.py"
    script.write_text(GENERATE, encoding="utf-8")

    def start(mode: str, seed: int) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(script), mode, "noise", "generate", str(big), "--spec",
                                 "fn-uniform:0.3+fp-type:0.1", "--seed", str(seed), "--out", str(out), "--force"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        return proc

    def check_pair() -> bool:
        pair = read_noisy(out)
        if pair is not None:
            docs, manifest = pair
            assert replay(inputs, manifest) == docs and manifest["seed"] is not None
        return pair is not None

    t0 = time.monotonic()
    first = start("run", 0)
    assert first.wait(120) == 0, first.stderr.read()
    seconds = time.monotonic() - t0
    assert check_pair()

    paused = start("pause", 1)   # the worst moment: new documents in place, old manifest beside them
    assert paused.stdout.readline() == "between\n"
    os.kill(paused.pid, signal.SIGKILL)
    paused.wait()
    assert load_docs(out) != read_noisy_docs_of(seed=0, path=out, inputs=inputs)
    assert not check_pair()   # the old manifest does not describe the new documents: absent, not mismatched

    rng = random.Random(0)
    for seed in range(2, 8):   # kills at random moments of the write
        proc = start("run", seed)
        time.sleep(rng.uniform(0, seconds))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        check_pair()
    assert inputs == load_docs(big)

    last = start("run", 9)
    assert last.wait(120) == 0, last.stderr.read()
    assert check_pair() and read_noisy(out)[1]["seed"] == 9
    assert sorted(p.name for p in out.parent.iterdir()) == ["noisy.json", "noisy.manifest.json"]  # no .tmp left


def read_noisy_docs_of(seed: int, path, inputs):
    """The documents `generate` wrote for `seed` (recomputed)."""
    return apply_noise(inputs, "fn-uniform:0.3+fp-type:0.1", seed)[0]


def test_profile_warns_when_low_and_high_look_swapped(small_docs, small_file, tmp_path):
    low = [dict(d, labels=d["labels"][:1]) for d in small_docs]
    save_docs(low, tmp_path / "low.json")
    right = CliRunner().invoke(cli, ["noise", "profile", str(tmp_path / "low.json"), str(small_file)])
    assert right.exit_code == 0 and "warning" not in right.output
    swapped = CliRunner().invoke(cli, ["noise", "profile", str(small_file), str(tmp_path / "low.json")])
    assert swapped.exit_code == 0
    assert "warning: LOW has more labels than HIGH on the aligned documents (6 vs 3); were they swapped?" in swapped.output


def test_mixed_with_a_low_file_that_aligns_nowhere_is_refused(small_file, tmp_path, capsys):
    save_docs([make_doc("elsewhere", 3, [(0, 1, "P1")])], tmp_path / "low.json")
    with pytest.raises(SystemExit) as e:
        main(["noise", "generate", str(small_file), "--spec", "mixed:1.0", "--low", str(tmp_path / "low.json"),
              "--out", str(tmp_path / "m.json")])
    err = capsys.readouterr().err.splitlines()
    assert e.value.code == 2 and len(err) == 1
    assert "mixed: rate 1 of 0 aligned documents is no document; 0 of 3 documents align" in err[0]
    assert not (tmp_path / "m.json").exists()
