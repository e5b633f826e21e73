"""The DocRED data model: round trips, validation of every malformed input, alignment, stats, downloads."""
from __future__ import annotations

import copy
import functools
import http.server
import json
import threading
from pathlib import Path

import pytest
from conftest import make_doc
from hypothesis import HealthCheck, given, settings, strategies as st

from docrobust.bench.cli import cli, main
from docrobust.corpus import CorpusError, RelationInventory, load_docs, save_docs, validate_docs
from docrobust.corpus.align import align
from docrobust.corpus.data import REGISTRY, download, resolve_data_dir, status
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
    with pytest.raises(CorpusError) as e:
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
    with pytest.raises(CorpusError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        load_docs(path)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_docs(tmp_path / "nope.json")


# A fuzz test: any JSON value obtained by corrupting a valid document is either valid or refused
# with CorpusError lines; nothing else ever escapes.
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
    except CorpusError as e:
        assert e.problems and all(p.startswith(str(file)) and "\n" not in p for p in e.problems)
    else:
        corpus_stats(docs)  # a document that passes validation must be usable downstream


def test_validation_stops_at_the_limit():
    docs = [make_doc(f"D{i}", 3, [(0, 0, "P1")]) for i in range(30)]
    problems = validate_docs(docs, max_problems=5)
    assert len(problems) == 6 and problems[-1].endswith("and 25 more problems")


def test_relation_inventory_from_metadata_and_labels(data_dir, tmp_path, small_docs):
    inv = RelationInventory.load(data_dir)
    rel2id = json.loads((data_dir / "meta/rel2id.json").read_text())
    assert len(inv) == 96 and all(inv.column(r) == c for r, c in rel2id.items() if r != "Na")
    assert inv.name("P17") == "country"
    # another corpus with two relations, inferred from its labels
    assert RelationInventory.from_docs(small_docs).ids == ("P1", "P2", "P3")
    (tmp_path / "rel2id.json").write_text(json.dumps({"Na": 0, "CID": 1}))
    assert RelationInventory.load(tmp_path).ids == ("CID",)
    (tmp_path / "rel2id.json").write_text(json.dumps({"Na": 0, "CID": 2}))
    with pytest.raises(CorpusError, match="columns must be 1..1"):
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


@pytest.fixture
def mirror(data_dir):
    """A loopback HTTP server serving the real data folder with the registry's layout."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data_dir))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_download_verifies_and_renames_into_place(mirror, tmp_path, data_dir):
    path = download("redocred-test", tmp_path, mirror=mirror)
    assert path == tmp_path / "redocred/test_revised.json"
    assert path.read_bytes() == (data_dir / "redocred/test_revised.json").read_bytes()
    assert [r["state"] for r in status(tmp_path, check=True) if r["name"] == "redocred-test"] == ["ok"]
    assert not list(path.parent.glob(".*part"))


def test_download_with_a_wrong_checksum_leaves_nothing(mirror, tmp_path, monkeypatch):
    entry = REGISTRY["rel2id"]
    monkeypatch.setitem(REGISTRY, "rel2id", type(entry)(**{**entry.__dict__, "checksum": "sha256:" + "0" * 64}))
    with pytest.raises(CorpusError, match="failed verification"):
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
        with pytest.raises(CorpusError):
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
