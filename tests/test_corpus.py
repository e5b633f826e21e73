"""The DocRED data model: round trips, validation of every malformed input, relations, alignment, stats, outputs that
are never an input, messages that say what to do. The data folder and downloads: test_corpus_data."""
from __future__ import annotations

import copy
import errno
import functools
import json
import os
import subprocess
import sys

import pytest
from conftest import make_doc
from hypothesis import HealthCheck, given, settings, strategies as st

from docrobust.bench.cli import main
from docrobust.base import DocrobustError, check_output
from docrobust.corpus import RelationInventory, load_docs, save_docs, validate_docs
from docrobust.corpus.align import align
from docrobust.corpus.stats import corpus_stats


def test_round_trip_keeps_the_json_value_and_extra_fields(data_dir, tmp_path):
    src = data_dir / "redocred/dev_revised.json"
    docs = load_docs(src)
    assert "global_pos" in docs[0]["vertexSet"][0][0]
    save_docs(docs, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(src.read_text())


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d.pop("sents"), "sents: missing"),
    (lambda d: d.__setitem__("title", 3), "title: expected str"),
    (lambda d: d["vertexSet"][0][0]["pos"].__setitem__(1, 99), "pos: [0, 99] outside sentence 0"),
    (lambda d: d["vertexSet"][1][0].__setitem__("sent_id", 7), "sent_id: 7 outside the document's 2 sentences"),
    (lambda d: d["labels"][0].__setitem__("h", 9), "labels[0].h: 9 outside vertexSet of 4 entities"),
    (lambda d: d["labels"][0].__setitem__("t", 0), "head and tail are the same entity"),
    (lambda d: d["labels"].append(dict(d["labels"][0])), "duplicate label (h=0, t=1, r=P1)"),
    (lambda d: d["labels"][0].__setitem__("r", "P999"), "'P999' is not in the relation inventory"),
    (lambda d: d["vertexSet"].__setitem__(2, []), "vertexSet[2]: entity has no mentions"),
    (lambda d: d["vertexSet"][0][0].pop("type"), "vertexSet[0][0].type: missing"),
    (lambda d: d["labels"][0].__setitem__("evidence", [5]), "evidence: expected sentence ids in 0..1"),
    (lambda d: d["labels"][0].__setitem__("h", True), "labels[0].h: True outside vertexSet"),
])
def test_each_malformed_field_is_named(tmp_path, mutate, expected):
    doc = make_doc("Doc A", 4, [(0, 1, "P1"), (2, 3, "P2")])
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([make_doc("ok"), doc]))
    with pytest.raises(DocrobustError) as e:
        load_docs(path, RelationInventory(("P1", "P2")))
    line = e.value.problems[0]
    where = f"{path}: document 1" + (" 'Doc A'" if isinstance(doc.get("title"), str) else "")
    assert line.startswith(where + ": ") and expected in line, line
    assert "\n" not in line


@pytest.mark.parametrize("content, expected", [
    (b"{not json", "not valid JSON (line 1"),
    (b'{"title": "x"}', "expected a JSON list of documents, got dict"),
    (b"[\"\xc3\x28\"]", "not UTF-8"),
    (b"[3]", "document 0: document: expected an object, got int"),
])
def test_file_level_problems(tmp_path, content, expected):
    path = tmp_path / "f.json"
    path.write_bytes(content)
    with pytest.raises(DocrobustError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        load_docs(path)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(DocrobustError, match="no such file"):
        load_docs(tmp_path / "nope.json")


# A fuzz test: any JSON value obtained by corrupting a valid document is either valid or refused
# with DocrobustError lines; nothing else ever escapes.
json_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 12) | st.text(max_size=3),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=6)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_corrupted_documents_are_refused_cleanly(tmp_path_factory, data):
    doc = make_doc("F", 4, [(0, 1, "P1"), (2, 3, "P2")])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(doc))[1:]
        path = data.draw(st.sampled_from(paths))
        parent = functools.reduce(lambda v, k: v[k], path[:-1], doc)
        if data.draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1])
        else:
            parent[path[-1]] = data.draw(json_values)
    file = tmp_path_factory.mktemp("fuzz") / "doc.json"
    file.write_text(json.dumps([doc]))
    try:
        docs = load_docs(file, RelationInventory(("P1", "P2")))
    except DocrobustError as e:
        assert e.problems and all(p.startswith(str(file)) and "\n" not in p for p in e.problems)
    else:
        corpus_stats(docs)  # a document that passes validation must be usable downstream


def test_validation_stops_at_the_limit():
    docs = [make_doc(f"D{i}", 3, [(0, 0, "P1")]) for i in range(30)]
    problems = validate_docs(docs, max_problems=5)
    assert len(problems) == 6 and problems[-1].endswith("and 25 more problems")


def test_relation_inventory_of_the_real_metadata(data_dir):
    inv = RelationInventory.load(data_dir)
    rel2id = json.loads((data_dir / "meta/rel2id.json").read_text())
    assert len(inv) == 96 and all(inv.column(r) == c for r, c in rel2id.items() if r != "Na")
    assert inv.name("P17") == "country"


def test_relation_inventory_from_metadata_and_labels(some_data_dir, tmp_path, small_docs):
    inv = RelationInventory.load(some_data_dir)
    assert inv.ids == ("P1", "P2", "P3", "P4") and inv.column("P3") == 3 and inv.name("P2") == "relation 2"
    # another corpus with three relations, inferred from its labels
    assert RelationInventory.from_docs(small_docs).ids == ("P1", "P2", "P3")
    (tmp_path / "rel2id.json").write_text(json.dumps({"Na": 0, "CID": 1}))
    assert RelationInventory.load(tmp_path).ids == ("CID",)
    (tmp_path / "rel2id.json").write_text(json.dumps({"Na": 0, "CID": 2}))
    with pytest.raises(DocrobustError, match="columns must be 1..1"):
        RelationInventory.load(tmp_path)


def test_align_real_docred_against_redocred(data_dir):
    low = load_docs(data_dir / "docred/dev.json")
    high = load_docs(data_dir / "redocred/dev_revised.json") + load_docs(data_dir / "redocred/test_revised.json")
    alignment = align(low, high)
    diff = alignment.diff()
    assert diff["aligned"] == 895 and diff["entity_mismatch"] == 105
    assert (diff["low_labels"], diff["high_labels"], diff["removed"]) == (10986, 30859, 67)
    assert diff["added"] == diff["high_labels"] - diff["kept"]
    assert diff["per_relation"]["P495"]["removed"] > 0  # mostly relabeled P17


def test_align_reports_entity_mismatch_instead_of_mixing():
    a, b = make_doc("T", 3, [(0, 1, "P1")]), make_doc("T", 3, [(0, 1, "P1"), (1, 2, "P2")])
    b["vertexSet"][2][0]["name"] = "other"
    result = align([a, make_doc("only-low")], [b, make_doc("only-high")])
    assert result.pairs == [] and result.entity_mismatch == ["T"]
    assert result.only_low == ["only-low"] and result.only_high == ["only-high"]


def test_stats(small_docs):
    s = corpus_stats(small_docs)
    assert (s["documents"], s["entities"], s["mentions"], s["labels"]) == (3, 12, 12, 6)
    # entity i is in sentence i % 2: (0,2) is the only intra-sentence label
    assert s["intra_share"] == pytest.approx(1 / 6)
    assert s["labels_per_relation"] == {"P1": 3, "P2": 2, "P3": 1}


def test_cli_bad_input_is_one_line_per_problem_and_status_2(tmp_path, capsys):
    doc = make_doc("x", 3, [(0, 0, "P1")])
    (tmp_path / "bad.json").write_text(json.dumps([doc]))
    with pytest.raises(SystemExit) as e:
        main(["data", "validate", str(tmp_path / "bad.json"), "--relations", "infer"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: {tmp_path / 'bad.json'}: document 0 'x': labels[0].t: head and tail are the same entity (0)"]
    assert "Traceback" not in err


def test_inputs_are_never_modified(small_docs):
    before = copy.deepcopy(small_docs)
    corpus_stats(small_docs)
    align(small_docs, small_docs).diff()
    assert small_docs == before


# ---------------------------------------------------------------- outputs: never an input, never a special file

def test_check_output_refuses_inputs_under_any_spelling_and_special_files(tmp_path):
    src = tmp_path / "d" / "x.json"
    src.parent.mkdir()
    src.write_text("[]")
    (tmp_path / "link.json").symlink_to(src)
    os.link(src, tmp_path / "hard.json")
    for spelling in (src, tmp_path / "d" / ".." / "d" / "x.json", tmp_path / "link.json", tmp_path / "hard.json"):
        for force in (False, True):
            with pytest.raises(DocrobustError, match="is the input"):
                check_output(spelling, inputs=[src], force=force)
    with pytest.raises(DocrobustError, match="/dev/full: is a character device, not a regular file"):
        check_output("/dev/full", force=True)
    with pytest.raises(DocrobustError, match="is a folder, not a regular file"):
        check_output(tmp_path / "d", force=True)
    with pytest.raises(DocrobustError, match="exists; pass --force"):
        check_output(tmp_path / "hard.json")
    assert check_output(tmp_path / "hard.json", force=True) == tmp_path / "hard.json"
    with pytest.raises(DocrobustError, match="is not a folder"):
        check_output(src / "y.json")
    # a run folder: new or empty is fine; an earlier run needs force; a file is refused
    assert check_output(tmp_path / "new" / "run", folder=True, force=False) == tmp_path / "new" / "run"
    with pytest.raises(DocrobustError, match="exists; pass --force"):
        check_output(tmp_path / "d", folder=True)
    with pytest.raises(DocrobustError, match="exists and is not a folder"):
        check_output(src, folder=True, force=True)
    assert src.read_text() == "[]"


def test_writes_name_the_output_on_os_errors_and_clean_what_killed_writers_left(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.json.{int(dead.stdout)}.abc123.tmp"   # a writer killed mid-write
    stale.write_text("half")
    live = tmp_path / f".out.json.{os.getpid()}.live99.tmp"         # a writer still at work
    live.write_text("busy")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as e:
        save_docs([make_doc()], target)
    assert (e.value.errno, e.value.filename, e.value.strerror) == (errno.ENOSPC, str(target), "No space left on device")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]   # the dead writer's file went, ours too
    save_docs([make_doc()], target)
    assert load_docs(target) == [make_doc()] and sorted(p.name for p in tmp_path.iterdir()) == [live.name, "out.json"]


def test_json_nested_deeper_than_the_parser_goes_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DocrobustError) as e:
        load_docs(path)
    assert e.value.problems == [f"{path}: JSON nested too deeply to read (Python's parser stops near "
                                f"{sys.getrecursionlimit()} levels); DocRED files nest 5 levels"]


def test_long_values_are_shortened_in_messages(tmp_path):
    deep = 1
    for _ in range(900):   # as deep as the parser allows
        deep = [deep]
    doc = make_doc("x", 3, [(0, 1, "P1")])
    doc["labels"][0]["evidence"] = deep
    doc["labels"].append({"h": "x" * 100_000, "t": 1, "r": "P1"})
    problems = validate_docs([doc])
    assert len(problems) == 2 and all(len(p) < 200 for p in problems), problems


# ---------------------------------------------------------------- messages that say what to do

def test_data_validate_counts_every_problem_and_checks_every_file(tmp_path, capsys):
    bad = [make_doc(f"D{i}", 3, [(0, 0, "P1"), (1, 1, "P1")]) for i in range(1923)]   # 3,846 problems
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "good.json").write_text(json.dumps([make_doc("ok", 3, [(0, 1, "P1")])]))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SystemExit) as e:
        main(["data", "validate", str(tmp_path / "bad.json"), str(tmp_path / "good.json"), str(tmp_path / "broken.json"),
              "--relations", "infer"])
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert out == f"{tmp_path / 'good.json'}: 1 documents, valid\n"
    lines = err.splitlines()
    assert len(lines) == 22 and lines[20] == f"error: {tmp_path / 'bad.json'}: ... and 3,826 more problems"
    assert lines[21].startswith(f"error: {tmp_path / 'broken.json'}: not valid JSON")


def test_hints_name_the_value_to_pass(tmp_path):
    doc = make_doc("x", 3, [(0, 1, "P7")])
    assert validate_docs([doc], RelationInventory(("P1",)))[0].endswith(
        "'P7' is not in the relation inventory (pass --relations infer to take the relations from the labels)")
    with pytest.raises(DocrobustError, match=r"no rel2id.json or rel_info.json here or in meta/ \(pass --relations infer"):
        RelationInventory.load(tmp_path)


def test_relation_files_are_recognised_by_content(tmp_path):
    (tmp_path / "cdg_rel_info.json").write_text(json.dumps({"P17": "country", "P131": "located in"}))
    (tmp_path / "rel_info_columns.json").write_text(json.dumps({"Na": 0, "P17": 1, "P131": 2}))
    names = RelationInventory.load(tmp_path / "cdg_rel_info.json")
    assert names.ids == ("P17", "P131") and names.name("P17") == "country"
    assert RelationInventory.load(tmp_path / "rel_info_columns.json").ids == ("P17", "P131")
    (tmp_path / "odd.json").write_text(json.dumps({"P17": [1]}))
    with pytest.raises(DocrobustError, match=r'odd.json: expected a JSON object mapping relation ids to label columns'):
        RelationInventory.load(tmp_path / "odd.json")
