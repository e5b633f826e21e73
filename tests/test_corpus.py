"""The DocRED data model: round trips, validation of every malformed input, alignment, stats, downloads."""
from __future__ import annotations

import contextlib
import copy
import errno
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from conftest import make_doc
from hypothesis import HealthCheck, given, settings, strategies as st

from docrobust.bench.cli import cli, main
from docrobust.base import DocrobustError, check_output
from docrobust.corpus import RelationInventory, load_docs, save_docs, validate_docs
from docrobust.corpus.align import align
from docrobust.corpus.data import REGISTRY, checksum_of, download, resolve_data_dir, status
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


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCROBUST_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DOCROBUST_DATA")
    assert resolve_data_dir() == Path("~/.cache/docrobust").expanduser()


@contextlib.contextmanager
def serving(folder: Path):
    """A loopback HTTP server serving `folder` (a mirror with the registry's layout)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def mirror(data_dir):
    """The real data folder as a mirror: its files verify against the registry's checksums."""
    with serving(data_dir) as url:
        yield url


def test_download_verifies_and_renames_into_place(mirror, tmp_path, data_dir):
    path = download("redocred-test", tmp_path, mirror=mirror)
    assert path == tmp_path / "redocred/test_revised.json"
    assert path.read_bytes() == (data_dir / "redocred/test_revised.json").read_bytes()
    assert [r["state"] for r in status(tmp_path, check=True) if r["name"] == "redocred-test"] == ["ok"]
    assert not list(path.parent.glob(".*part"))


def test_download_with_a_wrong_checksum_leaves_nothing(some_data_dir, tmp_path, monkeypatch):
    entry = REGISTRY["rel2id"]
    monkeypatch.setitem(REGISTRY, "rel2id", type(entry)(**{**entry.__dict__, "checksum": "sha256:" + "0" * 64}))
    with pytest.raises(DocrobustError, match="failed verification"), serving(some_data_dir) as mirror:
        download("rel2id", tmp_path, mirror=mirror)
    assert not (tmp_path / "meta/rel2id.json").exists() and not list((tmp_path / "meta").iterdir())


def test_interrupted_download_never_looks_complete(tmp_path):
    """A server that closes the connection half-way: no target file, no leftover part file."""
    class Truncating(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"[" * 100)  # then hang up

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Truncating)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DocrobustError):
            download("rel2id", tmp_path, mirror=f"http://127.0.0.1:{server.server_port}", timeout=5)
    finally:
        server.shutdown()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_cli_download_list_stats_diff(mirror, tmp_path, data_dir):
    from click.testing import CliRunner

    runner = CliRunner()
    out = runner.invoke(cli, ["--data-dir", str(tmp_path), "data", "download", "--mirror", mirror, "rel2id", "rel-info"])
    assert out.exit_code == 0, out.output
    listing = runner.invoke(cli, ["--data-dir", str(tmp_path), "data", "list", "--check"]).output
    assert "rel2id" in listing and " ok " in listing and "missing" in listing
    stats = runner.invoke(cli, ["--data-dir", str(data_dir), "data", "stats", "redocred/test_revised.json", "--json"])
    assert json.loads(stats.output)["documents"] == 500
    diff = runner.invoke(cli, ["--data-dir", str(data_dir), "data", "diff", "docred/dev.json",
                               "redocred/dev_revised.json", "redocred/test_revised.json"])
    assert "aligned 895 documents" in diff.output and "67 removed" in diff.output


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


# ---------------------------------------------------------------- downloads on a fresh machine

# Where each file lives in its public repository at the commit the registry pins (from the repositories'
# trees): a fake raw.githubusercontent.com serves our copies under these paths.
PUBLISHED = {
    "tonytan48/Re-DocRED/ccfb54f5ddf5836027c87badda10f6dfc56efaac/data/dev_revised.json": "redocred/dev_revised.json",
    "tonytan48/Re-DocRED/ccfb54f5ddf5836027c87badda10f6dfc56efaac/data/test_revised.json": "redocred/test_revised.json",
    "Hytn/DocRED-HWE/03d7ed9e49ecf3a7af4c5b905a1e2da2e146905a/dataset/docred/dev.json": "docred/dev.json",
    "Hytn/DocRED-HWE/03d7ed9e49ecf3a7af4c5b905a1e2da2e146905a/dataset/docred/test.json": "docred/test.json",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/dataset/docred/dev_ext.json": "docred/dev_ext.json",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/dataset/docred/ref/train_annotated.fact":
        "docred/train_annotated.fact",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/meta/rel_info.json": "meta/rel_info.json",
    "www-Ye/SSR-PU/938e87e448ad3f0aae7f02500546d8a6041252c7/meta/rel2id.json": "meta/rel2id.json",
    "AndrewZhe/Revisit-DocRED/6de7239707967b0ec01fbf4aa8b6afaa1da9a146/data/docred/valid_revise.json":
        "revisit-docred/valid_revise.json",
    "AndrewZhe/Revisit-DocRED/6de7239707967b0ec01fbf4aa8b6afaa1da9a146/data/docred/valid_scratch.json":
        "revisit-docred/valid_scratch.json",
    **{f"NomitaChandra/SSGU-CD-all/a66ce32b259f8086cd467eb7d959c665e19062ad/dataset/cdr/CDR_{name}.PubTator.txt":
       f"cdr/CDR_{name}.PubTator.txt" for name in ("TrainingSet", "DevelopmentSet", "TestSet")},
}
# git blob ids of the files at those commits (DocRED-HWE's train_annotated.json is too large to keep here)
BLOB_IDS = {"docred/dev.json": "40da9836a911cae97cec74223a03e1b0ad770e7a",
            "docred/test.json": "be709b16335335de621c0437c2f16f1ae80d92cb",
            "docred/dev_ext.json": "47d3293b8c49852881b32fea9e382baea58697ff",
            "docred/train_annotated.fact": "feb6b529ca0291d1a754e9120d87be72da230294",
            "revisit-docred/valid_revise.json": "cfd10bb3358a76fbedcf0cd77486ec696ee2a350",
            "revisit-docred/valid_scratch.json": "f6fb7f9639bc8d2aafabf4109b685400b673265a",
            "cdr/CDR_TrainingSet.PubTator.txt": "c9a432989991dbeb701bd1b26e42a6970406393a",
            "cdr/CDR_DevelopmentSet.PubTator.txt": "c5ae6e9c8524375264fb620d91d33d8fd7b70742",
            "cdr/CDR_TestSet.PubTator.txt": "0bbdc104ba00f1e9fedd846415cf58fe07c797d8"}


def test_every_registry_url_is_pinned_and_every_checksum_is_full():
    for file in REGISTRY.values():
        assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/.+", file.url), file.url
        assert re.fullmatch(r"sha256:[0-9a-f]{64}|git-blob:[0-9a-f]{40}", file.checksum), file.checksum
    assert REGISTRY["docred-train"].checksum == "git-blob:7917c6888ccb22d684265503337717f4ca5fb2a7"


def test_the_public_urls_hold_the_registry_files(data_dir, tmp_path, monkeypatch):
    """Every registry URL that a copy here can stand in for is fetched from a fake GitHub with the public
    repositories' layout, and verifies; our copies have the blob ids the pinned commits give."""
    served = {path: data_dir / local for path, local in PUBLISHED.items()}

    class RawGitHub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            file = served.get(self.path.lstrip("/"))
            if file is None:
                self.send_error(404)
                return
            body = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RawGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, **kw: real_urlopen(
        url.replace("https://raw.githubusercontent.com", f"http://127.0.0.1:{server.server_port}"), **kw))
    monkeypatch.delenv("DOCROBUST_MIRROR", raising=False)
    try:
        fetched = [name for name, f in REGISTRY.items() if (data_dir / f.path).is_file()]
        assert {"rel-info", "rel2id", "docred-dev", "docred-dev-ext", "docred-train-facts"} <= set(fetched)
        for name in fetched:
            assert download(name, tmp_path).read_bytes() == (data_dir / REGISTRY[name].path).read_bytes()
    finally:
        server.shutdown()
    for local, blob in BLOB_IDS.items():
        assert checksum_of(data_dir / local, "git-blob") == f"git-blob:{blob}"
