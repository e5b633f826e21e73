"""Featurization, long-input encoding, the max_len cap, the feature cache, and batching."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import docrobust.models.features as features_module
from docrobust.base import DocrobustError
from docrobust.corpus import RelationInventory, load_docs
from docrobust.models import batches_by_length, build_model, collate, featurize, featurize_cached, load_encoder
from docrobust.models.encoder import WINDOW, encode, special_ids
from tiny_encoder import one_thread, tiny_encoder_dir  # noqa: F401


@pytest.fixture(scope="module")
def tiny(tiny_encoder_dir):  # noqa: F811
    tokenizer, model = load_encoder(str(tiny_encoder_dir))
    return tokenizer, model.eval()


@pytest.fixture(scope="module")
def dev(data_dir):
    return load_docs(data_dir / "redocred" / "dev_revised.json")


@pytest.fixture(scope="module")
def relations(data_dir):
    return RelationInventory.load(data_dir)


def merge(docs: list[dict], title: str = "merged") -> dict:
    """One document made of several: sentences, entities and labels renumbered."""
    out = {"title": title, "sents": [], "vertexSet": [], "labels": []}
    for d in docs:
        s0, e0 = len(out["sents"]), len(out["vertexSet"])
        out["sents"] += d["sents"]
        out["vertexSet"] += [[{**m, "sent_id": m["sent_id"] + s0} for m in e] for e in d["vertexSet"]]
        out["labels"] += [{**lab, "h": lab["h"] + e0, "t": lab["t"] + e0, "evidence": [s + s0 for s in lab["evidence"]]}
                          for lab in d["labels"]]
    return out


def first_piece(tokenizer, word: str) -> int:
    return tokenizer(word, add_special_tokens=False)["input_ids"][0]


def test_every_mention_starts_at_its_marker_followed_by_its_first_word_piece(tiny, dev, relations):
    tokenizer, _ = tiny
    star = tokenizer.convert_tokens_to_ids("*")
    docs = dev[:20]
    for doc, f in zip(docs, featurize(docs, tokenizer, relations)):
        ids = f["input_ids"]
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert len(f["entity_pos"]) == len(doc["vertexSet"])
        for entity, positions in zip(doc["vertexSet"], f["entity_pos"]):
            assert len(positions) == len(entity)  # one per mention, a duplicated one twice (ATLOP)
            expected = {first_piece(tokenizer, doc["sents"][m["sent_id"]][m["pos"][0]]) for m in entity}
            assert all(ids[p] == star for p in positions)
            assert {ids[p + 1] for p in positions} == expected


def test_labels_are_the_documents_relations_and_column_0_marks_pairs_without_one(tiny, dev, relations):
    tokenizer, _ = tiny
    docs = dev[:20]
    for doc, f in zip(docs, featurize(docs, tokenizer, relations)):
        n = len(doc["vertexSet"])
        assert f["hts"] == [[h, t] for h in range(n) for t in range(n) if h != t]
        assert f["labels"].dtype == np.uint8 and f["labels"].shape == (n * (n - 1), 1 + len(relations))
        got = {(h, t, relations.ids[c - 1]) for (h, t), row in zip(f["hts"], f["labels"]) for c in np.flatnonzero(row[1:]) + 1}
        assert got == {(lab["h"], lab["t"], lab["r"]) for lab in doc["labels"]}
        np.testing.assert_array_equal(f["labels"][:, 0], f["labels"][:, 1:].sum(1) == 0)


def test_featurize_does_not_modify_its_input(tiny, dev, relations):
    docs = copy.deepcopy(dev[:5])
    featurize(docs, tiny[0], relations)
    assert docs == dev[:5]


def test_a_document_within_one_window_encodes_exactly_as_a_plain_forward(tiny, dev, relations):
    tokenizer, model = tiny
    batch = collate(featurize(dev[:2], tokenizer, relations))
    assert batch["input_ids"].shape[1] <= WINDOW
    with torch.no_grad():
        seq, att = encode(model, batch["input_ids"], batch["attention_mask"], *special_ids(model))
        plain = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_attentions=True)
    torch.testing.assert_close(seq, plain.last_hidden_state)
    torch.testing.assert_close(att, plain.attentions[-1])


def test_a_long_document_is_two_windows_averaged_over_their_overlap(tiny, dev, relations):
    tokenizer, model = tiny
    long_doc = merge(dev[:2])
    short = min(featurize(dev[2:12], tokenizer, relations), key=lambda f: len(f["input_ids"]))
    long = featurize([long_doc], tokenizer, relations)[0]
    n = len(long["input_ids"])
    assert WINDOW < n <= 1024 and len(short["input_ids"]) <= WINDOW
    batch = collate([long, short])
    start, end = special_ids(model)
    with torch.no_grad():
        seq, att = encode(model, batch["input_ids"], batch["attention_mask"], start, end)
        ids = torch.tensor(long["input_ids"])
        w1 = model(input_ids=torch.cat([ids[:WINDOW - 1], torch.tensor(end)])[None], output_attentions=True)
        w2 = model(input_ids=torch.cat([torch.tensor(start), ids[n - WINDOW + 1:]])[None], output_attentions=True)
        alone = model(input_ids=torch.tensor(short["input_ids"])[None]).last_hidden_state[0]
    L, H = batch["input_ids"].shape[1], model.config.hidden_size
    assert seq.shape == (2, L, H) and att.shape == (2, model.config.num_attention_heads, L, L)
    only1, only2 = n - WINDOW + 1, WINDOW - 1  # positions [0, only1) are in window 1 alone, [only2, n) in window 2 alone
    s1, s2 = w1.last_hidden_state[0], w2.last_hidden_state[0]
    torch.testing.assert_close(seq[0, :only1], s1[:only1])
    torch.testing.assert_close(seq[0, only2:n], s2[1 + only2 - (n - WINDOW + 1):])
    torch.testing.assert_close(seq[0, only1:only2], (s1[only1:only2] + s2[1:1 + only2 - only1]) / 2)
    rows = att[0, :, :n].sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    assert torch.equal(att[0, :, n:], torch.zeros_like(att[0, :, n:]))  # padding rows stay empty
    torch.testing.assert_close(seq[1, :len(short["input_ids"])], alone)


def test_the_length_cap_cuts_text_but_keeps_every_entity_embedded(tiny, dev, relations):
    tokenizer, model = tiny
    doc = merge(dev[:4])
    f = featurize([doc], tokenizer, relations, max_len=1024)[0]
    assert len(f["input_ids"]) == 1024
    flat = [p for positions in f["entity_pos"] for p in positions]
    assert all(0 <= p < 1023 for p in flat)
    cut = [e for e, positions in enumerate(f["entity_pos"]) if positions == [0]]
    assert cut, "the merged document should have entities entirely past the cap"
    assert len(f["labels"]) == len(doc["vertexSet"]) * (len(doc["vertexSet"]) - 1)
    atlop = build_model("atlop", model, 1 + len(relations), emb_size=32, block_size=8)
    batch = collate([f])
    with torch.no_grad():
        logits = atlop(batch["input_ids"], batch["attention_mask"], batch["entity_pos"], batch["hts"])
    assert logits.shape == (len(f["hts"]), 1 + len(relations)) and torch.isfinite(logits).all()


def test_max_len_too_small_is_a_one_line_error(tiny, dev, relations):
    with pytest.raises(DocrobustError, match="max_len=2"):
        featurize(dev[:1], tiny[0], relations, max_len=2)


def test_max_len_past_two_encoder_windows_is_refused(tiny, dev, relations):
    """Issue 10, item 10: `train --max-len 100000` was featurized and then tried to allocate ~160 GB in the encoder.
    The encoder reads at most two windows of 512 positions; featurize and TrainConfig refuse more, in one line."""
    from docrobust.models.train import TrainConfig

    with pytest.raises(DocrobustError, match="max_len=1025: .*two windows of 512 positions; use at most 1024") as e:
        featurize(dev[:1], tiny[0], relations, max_len=1025)
    with pytest.raises(DocrobustError, match=r"^training option max_len: must be between 16 and 1024 .*got 100000$") as e:
        TrainConfig(max_len=100000)
    assert len(e.value.problems) == 1
    assert len(featurize([merge(dev[:4])], tiny[0], relations, max_len=1024)[0]["input_ids"]) == TrainConfig().max_len == 1024


def test_the_mention_marker_is_an_option_named_in_the_error(tiny, dev, relations):
    """Issue 10, item 21: a tokenizer without a single token for the marker fails with one line naming the
    marker and the option; another marker gives the same features with its token where `*` was."""
    tokenizer, _ = tiny
    assert tokenizer("@", add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]
    with pytest.raises(DocrobustError) as e:
        featurize(dev[:2], tokenizer, relations, marker="@")
    assert len(e.value.problems) == 1 and "\n" not in e.value.problems[0]
    assert "no single token for the mention marker '@'" in e.value.problems[0]
    assert "training option marker" in e.value.problems[0]
    star, hash_ = (tokenizer.convert_tokens_to_ids(m) for m in "*#")
    for a, b in zip(featurize(dev[:5], tokenizer, relations), featurize(dev[:5], tokenizer, relations, marker="#")):
        assert star not in b["input_ids"] and hash_ not in a["input_ids"]
        assert b["input_ids"] == [hash_ if i == star else i for i in a["input_ids"]]
        assert b["entity_pos"] == a["entity_pos"] and b["entity_spans"] == a["entity_spans"]


def test_the_cache_serves_the_same_documents_and_rebuilds_changed_ones(tiny, dev, relations, tmp_path, monkeypatch):
    tokenizer, _ = tiny
    docs = copy.deepcopy(dev[:3])
    first = featurize_cached(docs, tokenizer, relations, tmp_path)
    calls = []
    real = features_module.featurize
    monkeypatch.setattr(features_module, "featurize", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = featurize_cached(docs, tokenizer, relations, tmp_path)
    assert calls == [] and len(list(tmp_path.iterdir())) == 1
    assert json.dumps([f["input_ids"] for f in again]) == json.dumps([f["input_ids"] for f in first])
    assert all(np.array_equal(a["labels"], b["labels"]) for a, b in zip(again, first))

    docs[0]["labels"] = docs[0]["labels"][1:]
    relabeled = featurize_cached(docs, tokenizer, relations, tmp_path)
    assert calls == [1] and len(list(tmp_path.iterdir())) == 2
    assert relabeled[0]["labels"][:, 1:].sum() == first[0]["labels"][:, 1:].sum() - 1


def test_collate_pads_and_concatenates_pairs(tiny, dev, relations):
    feats = featurize(dev[:3], tiny[0], relations)
    batch = collate(feats)
    lengths = [len(f["input_ids"]) for f in feats]
    assert batch["input_ids"].shape == (3, max(lengths)) and batch["input_ids"].dtype == torch.long
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert batch["labels"].shape == (sum(len(f["hts"]) for f in feats), 1 + len(relations))
    assert batch["labels"].dtype == torch.float32
    assert batch["entity_pos"] == [f["entity_pos"] for f in feats] and batch["hts"] == [f["hts"] for f in feats]


def test_batches_group_similar_lengths_and_cover_every_document_once(tiny, dev, relations):
    feats = featurize(dev[:30], tiny[0], relations)
    batches = batches_by_length(feats, 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert sorted(f["title"] for b in batches for f in b) == sorted(f["title"] for f in feats)
    assert sorted(len(b) for b in batches) == [2] + [4] * 7
    spans = sorted((min(len(f["input_ids"]) for f in b), max(len(f["input_ids"]) for f in b)) for b in batches)
    assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(spans, spans[1:]))  # chunks do not interleave
    again = batches_by_length(feats, 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    other = batches_by_length(feats, 4, shuffle=True, generator=torch.Generator().manual_seed(1))
    titles = lambda bs: [[f["title"] for f in b] for b in bs]  # noqa: E731
    assert titles(again) == titles(batches) and titles(other) != titles(batches)
    ordered = batches_by_length(feats, 4, shuffle=False)
    lengths = [len(f["input_ids"]) for b in ordered for f in b]
    assert lengths == sorted(lengths)


# ----------------------------------------------------------------------------- the authors' featurization (issue 20)

def duplicated_doc() -> dict:
    """Entity 0 lists its first mention twice (as 35 mentions of Re-DocRED dev do) and has a second one."""
    obama = {"name": "Obama", "sent_id": 0, "pos": [0, 1], "type": "PER"}
    return {"title": "dup", "sents": [["obama", "visited", "paris", "."], ["obama", "left", "."]],
            "vertexSet": [[obama, dict(obama), {**obama, "sent_id": 1}], [{"name": "Paris", "sent_id": 0, "pos": [2, 3],
                                                                            "type": "LOC"}]],
            "labels": []}


def test_a_duplicated_mention_counts_twice_as_in_atlop_unless_dedup_mentions(tiny, relations):
    """ATLOP keeps every mention of an entity: a listed-twice mention is two terms of its log-sum-exp and its
    attention mean. dedup_mentions=True keeps one."""
    from docrobust.models.pooling import gather_entities

    tokenizer, _ = tiny
    kept, once = (featurize([duplicated_doc()], tokenizer, relations, dedup_mentions=d)[0] for d in (False, True))
    assert kept["input_ids"] == once["input_ids"]            # the text and its markers are the same
    assert kept["entity_pos"][0] == [1, 1, once["entity_pos"][0][1]] and len(once["entity_pos"][0]) == 2
    a, b = once["entity_spans"][0]
    assert kept["entity_spans"][0] == [a, a, b]
    assert kept["entity_pos"][1] == once["entity_pos"][1] and kept["entity_spans"][1] == once["entity_spans"][1]

    torch.manual_seed(0)
    L = len(kept["input_ids"])
    seq, att = torch.randn(1, L, 6), torch.rand(1, 2, L, L)
    marker = [[[[p, p + 1] for p in positions] for positions in kept["entity_pos"]]]
    x1, x2 = seq[0, 1], seq[0, kept["entity_pos"][0][2]]
    entities = gather_entities(seq, att, marker)
    torch.testing.assert_close(entities.emb[0], torch.logsumexp(torch.stack([x1, x1, x2]), 0))   # = lse(x1 + log 2, x2)
    torch.testing.assert_close(entities.att[0], (2 * att[0, :, 1] + att[0, :, kept["entity_pos"][0][2]]) / 3)
    single = gather_entities(seq, att, [[[[p, p + 1] for p in positions] for positions in once["entity_pos"]]])
    assert not torch.allclose(single.emb[0], entities.emb[0])


def test_real_duplicated_mentions_are_kept(tiny, dev, relations):
    """Re-DocRED dev lists some mentions twice in one entity: each is one more span and marker position."""
    tokenizer, _ = tiny
    dups = [d for d in dev[:100] if any(len(e) != len({(m["sent_id"], *m["pos"]) for m in e}) for e in d["vertexSet"])]
    assert dups, "Re-DocRED dev's first 100 documents hold duplicated mentions"
    for doc, kept, once in zip(dups, featurize(dups, tokenizer, relations),
                               featurize(dups, tokenizer, relations, dedup_mentions=True)):
        for entity, spans, unique in zip(doc["vertexSet"], kept["entity_spans"], once["entity_spans"]):
            assert len(spans) == len(entity) and len(unique) == len({(m["sent_id"], *m["pos"]) for m in entity})
            assert set(map(tuple, spans)) == set(map(tuple, unique))


def test_the_feature_cache_keys_on_dedup_mentions(tiny, relations, tmp_path):
    tokenizer, _ = tiny
    kept = featurize_cached([duplicated_doc()], tokenizer, relations, tmp_path)
    once = featurize_cached([duplicated_doc()], tokenizer, relations, tmp_path, dedup_mentions=True)
    assert len(list(tmp_path.iterdir())) == 2 and len(kept[0]["entity_spans"][0]) == 3 and len(once[0]["entity_spans"][0]) == 2


def unused_tokenizer():
    """A BERT WordPiece tokenizer whose vocabulary has [unused0]..[unused99], as BERT's and MiniLM's do."""
    from transformers import BertTokenizerFast

    words = ["obama", "visited", "paris", "left", ".", "*"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"[unused{i}]" for i in range(100)] + words
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)


def test_docunet_marks_mentions_with_typed_unused_tokens(relations):
    """DocuNet's prepro.py for BERT: a mention of type T opens with [unused<i>] and closes with [unused<i + 50>],
    i = 1 + 2 * (position of T in ORG, LOC, TIME, PER, MISC, NUM); where two mentions start on one token, the first
    listed decides."""
    from docrobust.models.features import DOCUNET_TYPES, TYPED

    tokenizer = unused_tokenizer()
    u = lambda i: tokenizer.convert_tokens_to_ids(f"[unused{i}]")  # noqa: E731
    word = lambda w: tokenizer.convert_tokens_to_ids(w)  # noqa: E731
    doc = duplicated_doc()
    doc["vertexSet"].append([{"name": "Paris", "sent_id": 0, "pos": [2, 3], "type": "ORG"}])   # after the LOC one
    f = featurize([doc], tokenizer, relations, marker=TYPED)[0]
    assert DOCUNET_TYPES == {"ORG": 1, "LOC": 3, "TIME": 5, "PER": 7, "MISC": 9, "NUM": 11}
    assert f["input_ids"] == [tokenizer.cls_token_id, u(7), word("obama"), u(57), word("visited"), u(3), word("paris"),
                              u(53), word("."), u(7), word("obama"), u(57), word("left"), word("."), tokenizer.sep_token_id]
    assert f["entity_pos"] == [[1, 1, 9], [5], [5]]
    star = featurize([doc], tokenizer, relations)[0]
    assert star["entity_pos"] == f["entity_pos"] and star["entity_spans"] == f["entity_spans"]

    doc["vertexSet"][1][0]["type"] = "Chemical"
    with pytest.raises(DocrobustError) as e:
        featurize([doc], tokenizer, relations, marker=TYPED)
    assert e.value.problems == ["document 'dup': mention type 'Chemical' has no DocuNet typed marker (types ORG, LOC, "
                                "TIME, PER, MISC, NUM): use the training option marker = '*'"]


def test_typed_markers_fall_back_to_the_star_without_unused_tokens_and_are_docunets_default(tiny, relations):
    """DocuNet gives RoBERTa (no [unused] pieces) ATLOP's `*`; so does "typed" for such a vocabulary. The marker
    defaults to the model's: typed for DocuNet, `*` for the others."""
    from docrobust.models.train import TrainConfig

    tokenizer, _ = tiny
    assert "[unused1]" not in tokenizer.get_vocab()
    typed, star = (featurize([duplicated_doc()], tokenizer, relations, marker=m)[0] for m in ("typed", "*"))
    assert all(typed[k] == star[k] for k in ("input_ids", "entity_pos", "entity_spans"))
    assert TrainConfig(model="docunet").marker == "typed" and TrainConfig(model="kd-docre").marker == "*"
    assert TrainConfig(model="atlop").marker == "*" and TrainConfig(model="docunet", marker="#").marker == "#"


def roberta_folder(tmp_path):
    """A small random RoBERTa with a byte-level BPE tokenizer (RoBERTa's pair template: <s> a </s></s> b </s>)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["obama visited paris ."], vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    RobertaTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
                         pad_token="<pad>", unk_token="<unk>", mask_token="<mask>").save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=514, pad_token_id=1)
    RobertaModel(config, add_pooling_layer=False).save_pretrained(tmp_path)
    return tmp_path


def test_a_roberta_documents_first_window_ends_in_two_separators_as_in_atlop(tmp_path, tiny):
    """ATLOP's process_long_input for RoBERTa ends window 1 with </s></s> (its pair template's middle); BERT's with
    [SEP]. load_encoder reads it from the tokenizer."""
    tokenizer, model = load_encoder(str(roberta_folder(tmp_path)))
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert special_ids(model) == ([cls], [sep, sep])
    assert special_ids(tiny[1]) == ([tiny[0].cls_token_id], [tiny[0].sep_token_id])

    torch.manual_seed(1)
    n = 700
    ids = torch.randint(5, model.config.vocab_size, (1, n))
    ids[0, 0], ids[0, -1] = cls, sep
    with torch.no_grad():
        seq, _ = encode(model, ids, torch.ones(1, n), *special_ids(model))
        w1 = model(input_ids=torch.cat([ids[0, :WINDOW - 2], torch.tensor([sep, sep])])[None]).last_hidden_state[0]
        w2 = model(input_ids=torch.cat([torch.tensor([cls]), ids[0, n - WINDOW + 1:]])[None]).last_hidden_state[0]
    only1 = n - WINDOW + 1                        # positions before window 2's
    torch.testing.assert_close(seq[0, :only1], w1[:only1])
    torch.testing.assert_close(seq[0, only1:WINDOW - 2], (w1[only1:WINDOW - 2] + w2[1:WINDOW - 1 - only1]) / 2)
