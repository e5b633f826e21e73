"""One rule for every command (corpus.io.check_io): no output is an input, lies over one, or is another output.

Each case names a command and the input its output is aimed at; hypothesis draws the case, how the path is
spelled (as is, through `..`, a symlink, a hard link) and --force, and every refusal must come before any
byte is written: the workspace's files, inputs and all, are the same afterwards, and nothing is added.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from conftest import make_corpus
from hypothesis import HealthCheck, given, settings, strategies as st

from docrobust.bench.cli import main
from docrobust.base import DocrobustError, check_io
from docrobust.corpus import save_docs


def workspace(root: Path) -> None:
    """Inputs of every command: documents, a low version, spec-named files, an audit folder, a results folder."""
    docs = make_corpus(6, seed=1)
    save_docs(docs, root / "train.json")
    save_docs([{**d, "labels": d["labels"][::2]} for d in docs], root / "low.json")
    for name, value in (("profile.json", {"per_relation": {}}), ("ann.json", {"format": 1}),
                        ("matrix.json", {"P1": {"P2": 1.0}}), ("audit/audit.json", {}), ("audit/candidates.csv", ""),
                        ("res/bench.json", {}), ("res/plan.json", {"cells": []}), ("res/cells/c/metrics.json", {}),
                        ("res/cells/c/cell.json", {}), ("run/train.json", docs)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(value), encoding="utf-8")


def noise_generate(spec: str, target: str) -> list[str]:
    return ["noise", "generate", "train.json", "--spec", spec, "--out", target]


# (command line with the output aimed at TARGET, the input it is aimed at)
CASES = {
    "noise generate over its input": (lambda t: noise_generate("fn-uniform:0.5", t), "train.json"),
    "noise generate over profile=": (lambda t: noise_generate("real:1.0,profile=profile.json", t), "profile.json"),
    "noise generate over model=": (lambda t: noise_generate("annotator:0.5,model=ann.json", t), "ann.json"),
    "noise generate over matrix=": (lambda t: noise_generate("fp-flip:0.1,matrix=matrix.json", t), "matrix.json"),
    "noise generate over --low": (lambda t: ["noise", "generate", "train.json", "--spec", "mixed:0.5", "--low",
                                             "low.json", "--out", t], "low.json"),
    "data convert --out over its input": (lambda t: ["data", "convert", "--from", "hf-docred", "train.json",
                                                     "--out", t], "train.json"),
    "data convert --dropped over its input": (lambda t: ["data", "convert", "--from", "hf-docred", "train.json",
                                                         "--out", "new/x.json", "--dropped", t], "train.json"),
    "noise profile --out over LOW": (lambda t: ["noise", "profile", "low.json", "train.json", "--out", t], "low.json"),
    "noise fit --out over HIGH": (lambda t: ["noise", "fit", "low.json", "train.json", "--out", t], "train.json"),
    "audit apply over the audit": (lambda t: ["audit", "apply", "train.json", "audit", "--add-top", "1", "--out", t],
                                   "audit/candidates.csv"),
    "audit apply over TRAIN": (lambda t: ["audit", "apply", "train.json", "audit", "--add-top", "1", "--out", t],
                               "train.json"),
    "report --out over plan.json": (lambda t: ["report", "res", "--out", t], "res/plan.json"),
    "report --out over a cell": (lambda t: ["report", "res", "--out", t], "res/cells/c/metrics.json"),
    "report --pdf over bench.json": (lambda t: ["report", "res", "--out", "r.html", "--pdf", t], "res/bench.json"),
    "train --out holding TRAIN": (lambda t: ["train", "--train", "run/train.json", "--dev", "train.json", "--encoder",
                                             "minilm", "--relations", "infer", "--out", t], "run"),
    "audit run --out holding TRAIN": (lambda t: ["audit", "run/train.json", "--relations", "infer", "--out", t], "run"),
}


def spelled(target: str, how: str) -> str:
    """The same file or folder under another name (made here, before the snapshot)."""
    path = Path(target)
    if how == "dotdot":
        return str(path.parent / ".." / path.parent.name / path.name) if str(path.parent) != "." else f"run/../{target}"
    if how in ("symlink", "hardlink") and not (how == "hardlink" and path.is_dir()):
        link = Path(f"link-{how}-{path.name}")
        (os.symlink if how == "symlink" else os.link)(path.resolve(), link)
        return str(link)
    return target


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file (links as their target's bytes), and folders."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}


def run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code, capsys.readouterr().err


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys is read per call
@given(case=st.sampled_from(sorted(CASES)), how=st.sampled_from(["as is", "dotdot", "symlink", "hardlink"]),
       force=st.booleans())
def test_every_command_refuses_an_output_over_any_input_and_changes_nothing(case, how, force, capsys):
    argv_for, target = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        root, cwd = Path(tmp), os.getcwd()
        workspace(root)
        os.chdir(root)
        try:
            takes_force = not case.startswith(("noise profile", "noise fit", "report"))  # these always replace
            argv = argv_for(spelled(target, how)) + (["--force"] if force and takes_force else [])
            before = snapshot(root)
            code, err = run(argv, capsys)
            assert (code, snapshot(root)) == (2, before), err
            assert err.count("\n") == 1 and err.startswith("error: ") and "input" in err, err
        finally:
            os.chdir(cwd)


def test_two_outputs_that_are_one_file_are_refused(tmp_path, capsys, monkeypatch):
    workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    for argv in (["report", "res", "--out", "x.html", "--pdf", "x.html"],
                 ["report", "res", "--out", "x.html", "--pdf", "./sub/../x.html"],
                 ["data", "convert", "--from", "hf-docred", "train.json", "--out", "b.json", "--dropped", "b.json"],
                 ["data", "convert", "--from", "hf-docred", "train.json", "--out", "rel_info.json"]):
        code, err = run(argv + ["--force"] * (argv[0] != "report"), capsys)
        assert code == 2 and "same path as the output" in err, (argv, err)
    assert snapshot(tmp_path) == before


def test_paths_that_cannot_be_outputs_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink("loop-b", "loop-a")
    os.symlink("loop-a", "loop-b")
    for files, folders, message in (([""], [], "empty path"), (["loop-a/x.json"], [], "cannot be resolved"),
                                    ([], ["."], "holds the current folder"), ([], [".."], "holds the current folder")):
        with pytest.raises(DocrobustError, match=message):
            check_io([], files, folders, force=True)
    # a new file inside an input folder is not over any input; an existing one is
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text("[]")
    check_io(["in"], ["in/new.json"])
    with pytest.raises(DocrobustError, match="overlaps the input in"):
        check_io(["in"], ["in/a.json"], force=True)


# ---------------------------------------------------------------- a failed run leaves nothing that blocks its rerun

def leftovers(folder: Path) -> list[str]:
    """What a run left in `folder` besides the inputs the test wrote (hidden resumable folders included)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("train.json", "low.json", "rel_info.json"))


def test_a_failed_train_leaves_no_out_and_the_rerun_needs_no_force(tmp_path, capsys, monkeypatch):
    import docrobust.models.train as trainer
    from test_safety import instant_train

    save_docs(make_corpus(4), tmp_path / "train.json")
    argv = ["train", "--train", str(tmp_path / "train.json"), "--dev", str(tmp_path / "train.json"), "--encoder",
            "minilm", "--relations", "infer", "--out", str(tmp_path / "run"), "--quiet"]

    def fails_half_way(config, *args, out_dir, **kwargs):
        (Path(out_dir) / "config.json").write_text("{}")
        (Path(out_dir) / "train_log.jsonl").write_text("")
        raise OSError(28, "No space left on device", str(Path(out_dir) / "metrics.json"))

    monkeypatch.setattr(trainer, "train", fails_half_way)
    code, err = run(argv, capsys)
    assert code == 2 and "No space left on device" in err and leftovers(tmp_path) == []
    monkeypatch.setattr(trainer, "train", instant_train)
    code, err = run(argv, capsys)
    assert code == 0 and sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json", "metrics.json", "result.json"] and leftovers(tmp_path) == ["run"]
    code, err = run(argv + ["--force"], capsys)  # replacing an earlier run goes through the sibling too
    assert code == 0 and leftovers(tmp_path) == ["run"]


def test_a_failed_audit_leaves_no_out_and_its_rerun_resumes_without_force(tmp_path, capsys, monkeypatch):
    import docrobust.bench.commands.audit as audit

    save_docs(make_corpus(4), tmp_path / "train.json")
    argv = ["audit", str(tmp_path / "train.json"), "--relations", "infer", "--out", str(tmp_path / "audit"), "--quiet"]
    seen = []

    def audit_once(docs, relations, config, out_dir, **kwargs):
        seen.append(sorted(p.name for p in Path(out_dir).iterdir()))
        (Path(out_dir) / "folds").mkdir(exist_ok=True)
        if len(seen) == 1:
            raise OSError(28, "No space left on device", str(Path(out_dir) / "scores.npz"))
        return {"counts": dict.fromkeys(("documents", "pairs", "labels", "candidates_written", "suspicious_written"), 0),
                "seconds": {"total": 0.0}}

    monkeypatch.setattr(audit, "run_audit", audit_once)
    code, err = run(argv, capsys)
    assert code == 2 and leftovers(tmp_path) == [".audit.partial"]
    code, err = run(argv, capsys)
    assert code == 0 and seen == [[], ["folds"]] and leftovers(tmp_path) == ["audit"]  # the second run resumed


def test_a_failed_noise_generate_or_data_convert_leaves_no_output(tmp_path, capsys, monkeypatch):
    import docrobust.noise.apply as apply

    save_docs(make_corpus(4), tmp_path / "train.json")
    argv = ["noise", "generate", str(tmp_path / "train.json"), "--spec", "fn-uniform:0.5", "--out",
            str(tmp_path / "n.json")]
    real_write = apply.atomic_write_json

    def full_disk(path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(apply, "atomic_write_json", full_disk)  # the documents are written, then the manifest fails
    code, err = run(argv, capsys)
    assert code == 2 and "n.manifest.json: No space left on device" in err and leftovers(tmp_path) == []
    monkeypatch.setattr(apply, "atomic_write_json", real_write)
    assert run(argv, capsys)[0] == 0 and leftovers(tmp_path) == ["n.json", "n.manifest.json"]

    # data convert: rel_info.json beside OUT names a relation otherwise, found after converting: no OUT.json
    datasets = pytest.importorskip("datasets")
    from test_convert_hf import hub_rows

    datasets.Dataset.from_list(hub_rows(make_corpus(3))).to_json(str(tmp_path / "hub.jsonl"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "rel_info.json").write_text(json.dumps({"P1": "another name"}))
    convert = ["data", "convert", "--from", "hf-docred", str(tmp_path / "hub.jsonl"), "--out", str(tmp_path / "out" / "x.json")]
    code, err = run(convert, capsys)
    assert code == 2 and "relation 'P1' is named" in err and sorted(os.listdir(tmp_path / "out")) == ["rel_info.json"]
    (tmp_path / "out" / "rel_info.json").unlink()
    assert run(convert, capsys)[0] == 0 and (tmp_path / "out" / "x.json").is_file()


# ---------------------------------------------------------------- files without labels where labels are needed

def test_unlabeled_files_are_refused_where_labels_are_needed(tmp_path, capsys, monkeypatch):
    import docrobust.models.train as trainer
    from test_safety import must_not_train

    docs = make_corpus(4)
    save_docs(docs, tmp_path / "train.json")
    save_docs([{k: v for k, v in d.items() if k != "labels"} for d in docs], tmp_path / "bare.json")
    (tmp_path / "pred.json").write_text("[]")
    monkeypatch.setattr(trainer, "train", must_not_train)
    train = ["train", "--train", str(tmp_path / "train.json"), "--encoder", "minilm", "--relations", "infer",
             "--out", str(tmp_path / "run")]
    for argv, message in ((train + ["--dev", str(tmp_path / "bare.json")], "best dev F1"),
                          (train + ["--dev", str(tmp_path / "train.json"), "--test", str(tmp_path / "bare.json")],
                           "test F1 needs labels"),
                          (["score", "--gold", str(tmp_path / "bare.json"), "--pred", str(tmp_path / "pred.json")],
                           "nothing to score against"),
                          (["audit", str(tmp_path / "bare.json"), "--relations", "infer", "--out", str(tmp_path / "a")],
                           "the audit learns from the labels")):
        code, err = run(argv, capsys)
        assert code == 2 and err.count("\n") == 1 and "bare.json: no document has a label" in err and message in err, err
    assert leftovers(tmp_path) == ["bare.json", "pred.json"]


def test_bench_run_refuses_an_input_among_the_files_it_rewrites(tmp_path, capsys):
    from test_safety import bench_toml

    results = tmp_path / "results"
    (results / "noisy").mkdir(parents=True)
    toml = bench_toml(tmp_path / "bench")
    (results / "noisy" / "train.json").write_bytes((tmp_path / "bench" / "train.json").read_bytes())
    toml.write_text(toml.read_text().replace(str(tmp_path / "bench" / "train.json"), str(results / "noisy" / "train.json")))
    before = snapshot(tmp_path)
    code, err = run(["bench", "run", str(toml), "--out", str(results), "--quiet", "--no-report"], capsys)
    assert code == 2 and "overlaps the input" in err and err.count("\n") == 1, err
    assert snapshot(tmp_path) == before
