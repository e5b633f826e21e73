"""`bench check` runs every check a cell would run before training (bench.preflight.preflight_problems): each of these
configs passed `check` and then failed every cell. One validator for a spec on the command line and in check."""
from __future__ import annotations

import json

import pytest
from test_safety import bench_toml, run_cli

MATRIX = {"P1": {"P999": 1.0}}
CASES = {  # what is written into the base bench.toml -> what the one line says
    "a range past the file's end": (("[data]\n", "[data]\ntrain_range = [0, 999]\n"),
                                    "data.train_range: [0, 999] reaches past the 12 documents"),
    "a block size that does not divide": (("[training]\n", "[model_options.atlop]\nblock_size = 7\n[training]\n"),
                                          "model_options.atlop: model 'atlop': emb_size=768 is not a multiple"),
    "a block size of 0": (("[training]\n", "[model_options.atlop]\nblock_size = 0\n[training]\n"),
                          "model_options.atlop: model 'atlop': integer modulo by zero (an option set to 0)"),
    "a negative size": (("[training]\n", "[model_options.atlop]\nemb_size = -64\n[training]\n"),
                        "model_options.atlop: model 'atlop': Trying to create tensor with negative dimension"),
    "an infinite learning rate": (("epochs = 1\n", "epochs = 1\nlr_head = inf\n"), "training.lr_head: must be > 0"),
    "an encoder folder that is not there": (('encoder = "minilm"', 'encoder = "./no/such/encoder"'),
                                            "encoder: no such folder './no/such/encoder'"),
    "annotator without model=": (('"fn-uniform:0.5"', '"annotator:1.0"'), "annotator needs model=annotator.json"),
    "a malformed profile=": (('"fn-uniform:0.5"', '"real:0.5,profile=PROFILE"'),
                             "profile: expected the output of `docrobust noise profile`"),
    "a matrix= relation outside the inventory": (('"fn-uniform:0.5"', '"fp-flip:0.1,matrix=MATRIX"'),
                                                 "relation 'P999' is not in the relation inventory"),
    "an annotator model with a zero std": (('"fn-uniform:0.5"', '"annotator:0.5,model=MODEL"'),
                                           "std finite numbers > 0"),
    "an fn rate above 1": (('"fn-uniform:0.5"', '"fn-uniform:1.01"'), "rate 1.01 is above 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_refuses_what_would_fail_every_cell_in_one_line(case, tmp_path, capsys):
    toml = bench_toml(tmp_path)
    (old, new), message = CASES[case]
    (tmp_path / "profile.json").write_text("[1, 2]")
    (tmp_path / "matrix.json").write_text(json.dumps(MATRIX))
    (tmp_path / "model.json").write_text(json.dumps(_annotator_model_with_zero_std(tmp_path)))
    for name, file in (("PROFILE", "profile.json"), ("MATRIX", "matrix.json"), ("MODEL", "model.json")):
        new = new.replace(name, str(tmp_path / file))
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new, 1))
    code, out, err = run_cli(capsys, "bench", "check", str(toml))
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_a_good_config_passes_check_with_every_model(tmp_path, capsys):
    toml = bench_toml(tmp_path, models=("atlop", "docunet", "kd-docre"))
    code, out, err = run_cli(capsys, "bench", "check", str(toml))
    assert code == 0 and out.endswith(": ok (12 cells)\n"), err


def test_the_command_line_refuses_what_check_refuses(tmp_path, capsys):
    toml = bench_toml(tmp_path)
    for argv in (["noise", "generate", str(tmp_path / "train.json"), "--spec", "fn-uniform:1.01", "--out",
                  str(tmp_path / "n.json")],
                 ["train", "--train", str(tmp_path / "train.json"), "--dev", str(tmp_path / "dev.json"), "--encoder",
                  "minilm", "--relations", "infer", "--out", str(tmp_path / "run"), "--model-option", "block_size=0"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and ("rate 1.01 is above 1" in err or "set to 0" in err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.toml", "dev.json", "test.json", "train.json"]
    assert toml.is_file()


def _annotator_model_with_zero_std(tmp_path) -> dict:
    """A well-formed annotator model file but for one std of 0 (which divides every feature by zero)."""
    from docrobust.noise.annotator import FORMAT, NUMERIC, STAGE_BLOCKS, feature_names

    types, relations = ["LOC", "PER"], ["P1", "P2", "P3"]
    stages = {stage: {"features": feature_names(stage, types, relations), "coef": [0.0] * len(
        feature_names(stage, types, relations)), "intercept": 0.0} for stage in STAGE_BLOCKS}
    return {"format": FORMAT, "features": {"types": types, "relations": relations, "mean": [0.0] * len(NUMERIC),
                                           "std": [0.0] + [1.0] * (len(NUMERIC) - 1)},
            "stages": stages, "confusion": {}}


def test_inputs_that_crashed_a_command_are_one_line(tmp_path, capsys, monkeypatch):
    """Tracebacks of the second hostile pass: each now one line and exit 2, before any work."""
    monkeypatch.chdir(tmp_path)
    toml = bench_toml(tmp_path)
    docs = json.loads((tmp_path / "train.json").read_text())
    (tmp_path / "bigint.json").write_text(json.dumps(docs)[:-1] + ', {"title": ' + "9" * 5000 + "}]")
    (tmp_path / "surrogate.json").write_text(json.dumps([{**docs[0], "title": "\ud800 half"}] + docs[1:]))
    (tmp_path / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    for argv, message in ((["data", "validate", "bigint.json", "--relations", "infer"], "a number too long to read"),
                          (["data", "validate", "surrogate.json", "--relations", "infer"], "half of a UTF-16 pair"),
                          (["noise", "generate", "surrogate.json", "--spec", "clean", "--out", "s.json"], "UTF-16"),
                          (["noise", "generate", "train.json", "--spec", "clean", "--out", ""], "not a file name"),
                          (["bench", "check", "deep.toml"], "TOML nested too deeply"),
                          (["noise", "fit", "train.json", "dev.json", "--out", "a.json", "--C", "nan"], "finite")):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and message in err, (argv, err)
    assert toml.is_file() and not any(tmp_path.glob("*.manifest.json"))


def test_a_list_resaved_with_a_byte_order_mark_reads_as_written(tmp_path):
    from docrobust.audit import apply_audit, read_list
    from docrobust.base import DocrobustError

    (tmp_path / "candidates.csv").write_bytes("\ufeffh_idx,t_idx,score,title,r\n0,1,0.9,D0,P1\n".encode())
    assert read_list(tmp_path / "candidates.csv")[0]["h_idx"] == 0
    with pytest.raises(DocrobustError, match="--add-above nan: give a finite score"):
        apply_audit([], tmp_path, add_above=float("nan"))


def test_a_relation_written_into_the_list_by_hand_is_refused(tmp_path):
    from conftest import make_corpus

    from docrobust.audit import apply_audit
    from docrobust.base import DocrobustError

    docs = make_corpus(2, seed=1)   # relations P1-P3; the audit's inventory adds P4
    (tmp_path / "audit.json").write_text(json.dumps({"relations": {"ids": ["P1", "P2", "P3", "P4"]}}))
    for r, ok in (("P4", True), ("P999", False)):
        (tmp_path / "candidates.csv").write_text(f"title,h_idx,t_idx,r,score\nD0,0,3,{r},0.9\n")
        if ok:
            assert apply_audit(docs, tmp_path, add_top=1)[1]["steps"][0]["added"][0][3] == r
        else:
            with pytest.raises(DocrobustError, match="relation 'P999' is neither in the audit's relation inventory"):
                apply_audit(docs, tmp_path, add_top=1)


def test_a_rel2id_with_a_column_twice_names_both_relations(tmp_path):
    from docrobust.base import DocrobustError
    from docrobust.corpus import RelationInventory

    (tmp_path / "rel2id.json").write_text(json.dumps({"Na": 0, "P1": 1, "P2": 1, "P3": 2}))
    with pytest.raises(DocrobustError, match="relations 'P1' and 'P2' share column 1; each needs its own") as e:
        RelationInventory.load(tmp_path / "rel2id.json")
    assert len(e.value.problems) == 1
