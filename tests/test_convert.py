"""Converters to DocRED JSON: PubTator and ChemDisGene JSON. Every linked mention and every relation is kept or
counted as dropped; offsets map to the same surface text; composite and variant identifiers; bad input is one line
per problem. The Hugging Face layout and converted corpora through the whole pipeline: test_convert_hf."""
from __future__ import annotations

import json
import re

import pytest
from biomed import chemdisgene_json, make_abstracts, pubtator_text, relation_lines, write, write_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docrobust.bench.cli import main
from docrobust.base import read_json
from docrobust.corpus import RelationInventory, load_docs, validate_docs
from docrobust.corpus.convert import Abstract, ConversionReport, Mention, Relation, split_ids, to_docred
from docrobust.corpus.pubtator import read_pubtator


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def mention_tokens(doc: dict, m: dict) -> str:
    return "".join(doc["sents"][m["sent_id"]][m["pos"][0]:m["pos"][1]])


# ---------------------------------------------------------------- PubTator and ChemDisGene JSON

def test_pubtator_and_chemdisgene_json_give_the_same_documents_and_keep_every_linked_mention(tmp_path, capsys):
    abstracts = make_abstracts(12)
    # the abstracts with their mentions, and the relations in a separate gzip file (ChemDisGene's layout)
    text = write(tmp_path / "abstracts.txt", pubtator_text(abstracts, relations=False))
    rels = write(tmp_path / "relationships.tsv.gz", relation_lines(abstracts))
    code, out, _ = run(["data", "convert", "--from", "pubtator", str(text), str(rels), "--out",
                        str(tmp_path / "a" / "docs.json")], capsys)
    assert code == 0
    unlinked = sum(1 for a in abstracts for m in a["mentions"] if m[4] == "-1")
    assert f"dropped {unlinked} mentions: no identifier" in out
    docs = load_docs(tmp_path / "a" / "docs.json", RelationInventory.load(tmp_path / "a" / "rel_info.json"))
    code, _, _ = run(["data", "convert", "--from", "chemdisgene-json",
                      str(write_json(tmp_path / "cdg.json", chemdisgene_json(abstracts))), "--out",
                      str(tmp_path / "b" / "docs.json")], capsys)
    assert code == 0 and read_json(tmp_path / "b" / "docs.json") == docs

    for a, doc in zip(abstracts, docs):
        assert doc["title"] == a["docid"]
        entity_of = {}
        for e, entity in enumerate(doc["vertexSet"]):
            for m in entity:
                assert mention_tokens(doc, m) == squeeze(m["name"])      # offsets -> the same surface text
        linked = [m for m in a["mentions"] if m[4] != "-1"]
        for start, end, name, kind, ids in linked:
            for identifier in ids.split("|"):
                # each identifier of a composite mention is an entity holding that mention
                holders = [e for e, entity in enumerate(doc["vertexSet"]) if any(
                    m["name"] == name and m["type"] == kind for m in entity)]
                assert holders, (a["docid"], name)
                entity_of.setdefault(identifier, set()).update(holders)
        assert sum(len(e) for e in doc["vertexSet"]) == sum(len(set(m[4].split("|"))) for m in linked)
        assert len(doc["vertexSet"]) == len({i for m in linked for i in m[4].split("|")})
        labels = {(lab["h"], lab["t"], lab["r"]) for lab in doc["labels"]}
        assert len(labels) == len(doc["labels"]) == len(a["relations"])
        for r, head, tail in a["relations"]:
            assert any((h, t, r) in labels for h in entity_of[head] for t in entity_of[tail])


def test_composite_mentions_belong_to_each_identifier_and_entities_follow_the_text():
    text = "Renal and hepatic failure after cisplatin; hepatic failure recurred."
    a = Abstract("1", text, "", [Mention(0, 25, "Renal and hepatic failure", "Disease", ("D1", "D2")),
                                  Mention(32, 41, "cisplatin", "Chemical", ("C1",)),
                                  Mention(43, 58, "hepatic failure", "Disease", ("D2",))],
                 [Relation("CID", "C1", "D1"), Relation("CID", "C1", "D2")])
    (doc,), report = to_docred([a])
    names = [[m["name"] for m in entity] for entity in doc["vertexSet"]]
    assert names == [["Renal and hepatic failure"], ["Renal and hepatic failure", "hepatic failure"], ["cisplatin"]]
    assert doc["labels"] == [{"h": 2, "t": 0, "r": "CID", "evidence": []}, {"h": 2, "t": 1, "r": "CID", "evidence": []}]
    assert report.mentions == 4 and report.dropped == []


@st.composite
def annotated_texts(draw):
    """A text of words, punctuation and sentence ends, with non-overlapping mentions at arbitrary character
    spans (inside words too), identifiers shared by some mentions, and relations between the identifiers."""
    words = draw(st.lists(st.sampled_from(["aspirin", "BRCA1-associated", "cancer", "e.g.", "Dr.", "2.5", "mg/kg",
                                           "(IL-6)", "was", "seen", ".", "Then", "it", "rose", ";", "x10(-3)"]),
                          min_size=3, max_size=40))
    text = " ".join(words)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=12)))
    mentions = []
    for start, end in zip(cuts[::2], cuts[1::2]):
        if text[start:end].strip():
            mentions.append(Mention(start, end, text[start:end], draw(st.sampled_from(["Chemical", "Disease"])),
                                    (f"ID{draw(st.integers(0, 4))}",)))
    ids = sorted({m.ids[0] for m in mentions})
    pairs = draw(st.sets(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=6)) if ids else set()
    relations = [Relation("R", h, t) for h, t in sorted(pairs) if h != t]
    title_end = draw(st.integers(0, len(text)))
    while title_end < len(text) and text[title_end] != " ":   # PubTator joins title and abstract with a space
        title_end += 1
    return Abstract("7", text[:title_end], text[title_end + 1:], mentions, relations)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotated_texts())
def test_property_every_mention_and_relation_survives_and_offsets_map_to_the_same_text(abstract):
    (doc,), report = to_docred([abstract])
    assert validate_docs([doc]) == [] and report.dropped == []
    assert sum(len(e) for e in doc["vertexSet"]) == len(abstract.mentions) == report.mentions
    kept = sorted((m["name"], tuple(m["pos"]), m["sent_id"]) for e in doc["vertexSet"] for m in e)
    assert [name for name, *_ in kept] == sorted(m.text for m in abstract.mentions)
    for entity in doc["vertexSet"]:
        for m in entity:
            assert mention_tokens(doc, m) == squeeze(m["name"])
    assert len(doc["labels"]) == len(abstract.relations)
    # the tokens are the text: nothing added, nothing lost
    assert "".join(w for s in doc["sents"] for w in s) == squeeze(abstract.text)


def test_sentences_come_from_pysbd_and_a_mention_across_a_boundary_joins_them():
    text = "Dr. Smith gave 2.5 mg/kg i.v. of lidocaine, e.g. at 10 a.m. daily. It worked. Nothing else."
    (doc,), report = to_docred([Abstract("1", text, "", [], [])])   # offsets index title + " " + abstract
    assert [" ".join(s) for s in doc["sents"]] == [
        "Dr . Smith gave 2 . 5 mg / kg i . v . of lidocaine , e . g . at 10 a . m . daily .", "It worked .",
        "Nothing else ."]
    start = text.index("daily")
    crossing = Mention(start + 1, start + 12, text[start + 1:start + 12], "Chemical", ("C1",))   # "aily. It wo"
    (doc,), report = to_docred([Abstract("1", text, "", [crossing], [])])
    assert len(doc["sents"]) == 2 and report.merged_sentences == 1
    (m,), = doc["vertexSet"]
    assert m["sent_id"] == 0 and mention_tokens(doc, m) == squeeze(crossing.text)


@pytest.mark.parametrize("field, ids", [
    ("D001234|D005678", ("D001234", "D005678")),                    # CDR's composite mention
    ("D006470|D003556|-1", ("D006470", "D003556")),                 # ... with an unlinked part
    ("C035054,C049864,C442759", ("C035054", "C049864", "C442759")),  # BioRED's composite mention
    ("c|INS|5382|C", ("c|INS|5382|C",)),                            # tmVar variant ids stay whole
    ("p|SUB|G|12|D", ("p|SUB|G|12|D",)),
    ("c|DEL||15", ("c|DEL||15",)),
    ("p|FS|Y|34||", ("p|FS|Y|34||",)),
    ("|INS|125_126|AA", ("|INS|125_126|AA",)),                      # BioRED: no sequence type
    ("c|DEL888|C", ("c|DEL888|C",)),                                # BioRED: a misspelled operation
    ("c|SUB|C|1|T,rs12", ("c|SUB|C|1|T", "rs12")),                  # a composite list holding a variant
    ("rs1042522", ("rs1042522",)), ("-1", ()), ("-", ()),
])
def test_identifier_fields_split_composites_and_keep_tmvar_variant_ids_whole(field, ids):
    assert split_ids(field) == ids


def test_biored_variant_ids_survive_with_their_relations_and_novelty_cdr_composites_still_split(tmp_path, capsys):
    # BioRED's layout (relation lines with a novelty column) and CDR's (composite mentions joined by '|')
    text = "BRCA1 5382insC and p.G12D cause breast cancer; cisplatin induced renal and hepatic failure."
    pmid = "10788334"
    spans = {w: (text.index(w), text.index(w) + len(w)) for w in
             ("BRCA1", "5382insC", "p.G12D", "breast cancer", "cisplatin", "renal and hepatic failure")}
    ids = {"BRCA1": ("GeneOrGeneProduct", "672"), "5382insC": ("SequenceVariant", "c|INS|5382|C"),
           "p.G12D": ("SequenceVariant", "p|SUB|G|12|D"), "breast cancer": ("Disease", "D001943,D001943"),
           "cisplatin": ("Chemical", "D002945"), "renal and hepatic failure": ("Disease", "D058186|D017093")}
    lines = [f"{pmid}|t|{text}", f"{pmid}|a|"]
    lines += [f"{pmid}\t{s}\t{e}\t{w}\t{ids[w][0]}\t{ids[w][1]}" for w, (s, e) in spans.items()]
    lines += [f"{pmid}\tPositive_Correlation\tD001943\tc|INS|5382|C\tNovel",
              f"{pmid}\tAssociation\tp|SUB|G|12|D\tD001943\tNo",
              f"{pmid}\tCID\tD002945\tD058186|D017093",     # a relation naming the composite field
              f"{pmid}\tCID\tD002945\tD017093\tNo\tunknown column"]
    path = write(tmp_path / "b.txt", "\n".join(lines) + "\n")
    code, out, _ = run(["data", "convert", "--from", "pubtator", str(path), "--out", str(tmp_path / "b.json"),
                        "--dropped", str(tmp_path / "dropped.json")], capsys)
    assert code == 0
    (doc,) = read_json(tmp_path / "b.json")
    names = [[m["name"] for m in e] for e in doc["vertexSet"]]
    assert names == [["BRCA1"], ["5382insC"], ["p.G12D"], ["breast cancer"], ["cisplatin"],
                     ["renal and hepatic failure"], ["renal and hepatic failure"]]
    assert sorted((lab["h"], lab["t"], lab["r"], lab.get("novelty")) for lab in doc["labels"]) == [
        (2, 3, "Association", "No"), (3, 1, "Positive_Correlation", "Novel"),
        (4, 5, "CID", None), (4, 6, "CID", None)]            # the composite relation: one per part, and the
    dropped = read_json(tmp_path / "dropped.json")          # repeated CID 4 -> 6 is a duplicate
    assert sorted((d["kind"], d["reason"].split(" (")[0]) for d in dropped) == [
        ("relation", "duplicate"), ("relation column", "after the two identifiers, not BioRED's novelty mark")]
    assert "1 relations named a composite identifier" in out


@st.composite
def pubtator_documents(draw):
    """(PubTator text, {identifier: mention names}, relations (r, head id, tail id)) of one document whose
    mentions carry MeSH, NCBI Gene, rs and tmVar identifiers, some as composite lists (',' always; '|' only
    between non-variant ids, the two corpora's conventions)."""
    mesh = st.builds(lambda c, n: f"{c}{n:06d}", st.sampled_from("CD"), st.integers(0, 999_999))
    gene = st.integers(1, 10 ** 6).map(str)
    tmvar = st.builds(lambda t, op, a, pos, b: f"{t}|{op}|{a}|{pos}|{b}", st.sampled_from(["c", "p", "g", "r", ""]),
                      st.sampled_from(["SUB", "DEL", "INS", "FS", "Allele", "DEL888"]),
                      st.sampled_from(["", "A", "GT"]), st.sampled_from(["12", "125_126", "IVS9+459", "-3279"]),
                      st.sampled_from(["", "C", "X"]))
    rs = st.integers(1, 10 ** 8).map(lambda n: f"rs{n}")
    words, fields, carried = [], [], {}
    for k in range(draw(st.integers(1, 8))):
        ids = draw(st.lists(st.one_of(mesh, gene, tmvar, rs), min_size=1, max_size=3, unique=True))
        variant = any("|" in i for i in ids)
        fields.append(("," if variant else draw(st.sampled_from([",", "|"]))).join(ids))
        words.append(f"m{k}")
        for i in ids:
            carried.setdefault(i, set()).add(f"m{k}")
    known = sorted(carried)
    pairs = draw(st.lists(st.tuples(st.sampled_from(known), st.sampled_from(known)), max_size=8, unique=True))
    relations = [(draw(st.sampled_from(["CID", "Association"])), h, t) for h, t in pairs if h != t]
    text, lines, at = " ".join(words), [], 0
    lines = ["1|t|" + text, "1|a|"]
    for word, field in zip(words, fields):
        lines.append(f"1\t{at}\t{at + len(word)}\t{word}\tType\t{field}")
        at += len(word) + 1
    lines += [f"1\t{r}\t{h}\t{t}\t" + draw(st.sampled_from(["Novel", "No", ""])) for r, h, t in relations]
    return "\n".join(lines) + "\n", carried, relations


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pubtator_documents())
def test_property_generated_pubtator_keeps_every_identifier_and_relation(tmp_path, document):
    text, carried, relations = document
    path = write(tmp_path / "g.txt", text)
    report = ConversionReport()
    (doc,), report = to_docred(read_pubtator([path], report=report), report)
    assert report.dropped == [] and report.expanded == 0
    assert len(doc["vertexSet"]) == len(carried)     # one entity per identifier, variant ids whole
    entity_names = [frozenset(m["name"] for m in e) for e in doc["vertexSet"]]
    assert sorted(entity_names, key=sorted) == sorted(map(frozenset, carried.values()), key=sorted)
    got = sorted((entity_names[lab["h"]], entity_names[lab["t"]], lab["r"]) for lab in doc["labels"])
    want = sorted((frozenset(carried[h]), frozenset(carried[t]), r) for r, h, t in relations)
    assert len(doc["labels"]) == len(relations) and [(sorted(a), sorted(b), r) for a, b, r in got] == [
        (sorted(a), sorted(b), r) for a, b, r in want]


def test_every_dropped_mention_and_relation_is_counted_with_its_reason(tmp_path, capsys):
    lines = ["5|t|Lidocaine and asystole.", "5|a|Lidocaine was given.",
             "5\t0\t9\tLidocaine\tChemical\tC1\t", "5\t14\t22\tasystole\tDisease\tD1\t",
             "5\t24\t33\tLidocaine\tChemical\tC1",                       # a mention line without the trailing tab
             "5\t0\t9\tLidocain\tChemical\tC1",                          # text differs from the offsets
             "5\t30\t99\tbeyond\tChemical\tC1",                          # outside the text
             "5\t14\t22\tasystole\tDisease\t-",                          # not linked
             "5\t14\t22\tasystole\tDisease\tD1",                         # the same mention twice
             "5\tCID\tC1\tD1", "5\tCID\tC1\tD1", "5\tCID\tC1\tC1", "5\tCID\tC9\tD1",
             "6\tCID\tC1\tD1"]                                          # a document that no input gives
    path = write(tmp_path / "x.txt", "\n".join(lines) + "\n")
    code, out, _ = run(["data", "convert", "--from", "pubtator", str(path), "--out", str(tmp_path / "x.json"),
                        "--dropped", str(tmp_path / "dropped.json")], capsys)
    assert code == 0
    dropped = read_json(tmp_path / "dropped.json")
    assert sorted((d["kind"], d["reason"]) for d in dropped) == sorted([
        ("mention", "the text at its offsets differs from the mention text"),
        ("mention", "offsets outside the document's 44 characters"),
        ("mention", "no identifier (unlinked, '-' or '-1')"),
        ("mention", "duplicate (same span, same identifier)"),
        ("relation", "duplicate"), ("relation", "head and tail are the same entity"),
        ("relation", "identifier that no kept mention carries"),
        ("relation", "its document's text is in none of the inputs")])
    assert "1 documents, 2 entities, 3 mentions, 1 relations kept" in out and out.count("dropped 1 ") == 8
    (doc,) = read_json(tmp_path / "x.json")
    assert doc["labels"] == [{"h": 0, "t": 1, "r": "CID", "evidence": []}]


def test_bad_input_is_one_line_per_problem_naming_file_line_document_and_field(tmp_path, capsys):
    bad = write(tmp_path / "bad.txt", "1|t|Title\n1|a|Text here.\n1\t0\tfive\tTitle\tChemical\tC1\n"
                                      "2\t0\t5\tTitle\tChemical\tC1\t\n3\tCID\tC1\tD1\n")
    code, _, err = run(["data", "convert", "--from", "pubtator", str(bad), "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"error: {bad}:3: not a PubTator line") and len(lines) == 2
    assert lines[1] == f"error: {bad}:4: mention of document 2 before its |t| and |a| lines"
    assert not (tmp_path / "o.json").exists()
    relations_only = write(tmp_path / "relations.tsv", "3\tCID\tC1\tD1\n")
    code, _, err = run(["data", "convert", "--from", "pubtator", str(relations_only), "--out",
                        str(tmp_path / "o.json")], capsys)
    assert code == 2 and err.strip() == (f"error: {relations_only}: relations but no document text (PMID|t| and "
                                         "PMID|a| lines); give the abstracts file too")

    cdg = write_json(tmp_path / "cdg.json", [{"docid": "1", "title": "T", "abstract": "A", "entity": [
        {"start": 0, "end": "1", "mention": "T", "type": "Chemical", "id": "C"}], "relation": [{"type": "R"}]}])
    code, _, err = run(["data", "convert", "--from", "chemdisgene-json", str(cdg), "--out", str(tmp_path / "o.json")],
                       capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"error: {cdg}: document 0 '1': entity[0].end: expected int, got '1'",
        f"error: {cdg}: document 0 '1': relation[0].subj: missing",
        f"error: {cdg}: document 0 '1': relation[0].obj: missing"]

    mentions = [[{"name": "a", "sent_id": 0, "pos": [0, 1], "type": "X"}],
                [{"name": "b", "sent_id": 0, "pos": [1, 3], "type": "X"}]]
    row = {"title": "T", "sents": [["a", "b"]], "vertexSet": mentions,
           "labels": {"head": [0, 1], "tail": [1], "relation_id": ["R"]}}
    rows = write(tmp_path / "rows.jsonl", json.dumps(row) + "\n")
    code, _, err = run(["data", "convert", "--from", "hf-docred", str(rows), "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"error: {rows}: row 0 'T': labels: lists of different lengths (head 2, tail 1, relation_id 1)"]
    row["labels"] = {"head": [0], "tail": [1], "relation_id": ["R"]}
    rows = write(tmp_path / "rows.jsonl", json.dumps(row) + "\n")
    code, _, err = run(["data", "convert", "--from", "hf-docred", str(rows), "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"error: {rows}: document 0 'T': vertexSet[1][0].pos: [1, 3] outside sentence 0 of 2 tokens"]


def test_outputs_share_one_rel_info_and_validate(tmp_path, capsys):
    train, dev = make_abstracts(6, seed=1, prefix="1"), make_abstracts(4, seed=2, prefix="2")
    for name, abstracts in (("train", train), ("dev", dev)):
        path = write(tmp_path / f"{name}.txt", pubtator_text(abstracts))
        out = tmp_path / "out" / f"{name}.json"
        assert run(["data", "convert", "--from", "pubtator", str(path), "--out", str(out)], capsys)[0] == 0
    rel_info = read_json(tmp_path / "out" / "rel_info.json")
    used = {r for a in train + dev for r, _, _ in a["relations"]}
    assert rel_info == {r: r for r in sorted(used)}
    code, out, _ = run(["data", "validate", str(tmp_path / "out" / "train.json"), str(tmp_path / "out" / "dev.json"),
                        "--relations", str(tmp_path / "out" / "rel_info.json")], capsys)
    assert code == 0 and out.count("valid") == 2
    (tmp_path / "out" / "rel_info.json").write_text(json.dumps({"CID": "causes"}))
    code, _, err = run(["data", "convert", "--from", "pubtator", str(tmp_path / "dev.txt"), "--out",
                        str(tmp_path / "out" / "dev.json"), "--force"], capsys)
    assert code == 2 and "relation 'CID' is named 'causes' there and 'CID' here" in err
    code, _, err = run(["data", "convert", "--from", "pubtator", str(tmp_path / "dev.txt"), "--out",
                        str(tmp_path / "dev.txt")], capsys)
    assert code == 2 and "is the input" in err
