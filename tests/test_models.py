"""The model registry, shared pooling, and the three DocRE models on hand-built documents (and MiniLM on a real one)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import docrobust.models.pooling as pooling
from docrobust.base import DocrobustError
from docrobust.corpus import RelationInventory, load_docs
from docrobust.models import MODELS, build_model, collate, featurize, load_encoder
from docrobust.models.losses import build_loss
from docrobust.models.pooling import GroupedBilinear, gather_entities, pair_attention
from docrobust.models.store import FeatureStore
from docrobust.models.train import batch_logits
from conftest import make_corpus
from tiny_encoder import one_thread, tiny_encoder_dir  # noqa: F401


@pytest.fixture(scope="module")
def relations(some_data_dir):
    return RelationInventory.load(some_data_dir)


@pytest.fixture(scope="module")
def docs(relations):
    return make_corpus(3, tuple(relations.ids), seed=3)


@pytest.fixture(scope="module")
def tiny_batch(tiny_encoder_dir, docs, relations):  # noqa: F811
    tokenizer, _ = load_encoder(str(tiny_encoder_dir))
    feats = featurize(docs, tokenizer, relations)
    return {**collate(feats), "features": feats}


def fresh_tiny(path) -> torch.nn.Module:
    torch.manual_seed(0)
    return load_encoder(str(path))[1]


SMALL = {"atlop": {"emb_size": 64, "block_size": 16}, "docunet": {"emb_size": 64, "block_size": 16, "down_dim": 16, "unet_out_dim": 16},
         "kd-docre": {"emb_size": 64, "block_size": 16, "layers": 2, "heads": 4}}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_gives_logits_for_every_pair_and_backward_reaches_every_parameter(name, tiny_encoder_dir, tiny_batch, docs, relations):  # noqa: F811
    model = build_model(name, fresh_tiny(tiny_encoder_dir), 1 + len(relations))  # paper sizes
    b = tiny_batch
    logits = model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])
    pairs = sum(len(d["vertexSet"]) * (len(d["vertexSet"]) - 1) for d in docs)
    assert logits.shape == (pairs, 1 + len(relations)) and torch.isfinite(logits).all()
    build_loss(model.default_loss)(logits, b["labels"]).backward()
    head = model.head_parameters()
    assert {id(p) for p in head}.isdisjoint(id(p) for p in model.encoder_parameters())
    assert len(head) + len(model.encoder_parameters()) == len(list(model.parameters()))
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in head)
    layer = model.encoder.encoder.layer[-1].attention.self.query.weight  # the last layer's attention map is used
    assert layer.grad is not None and layer.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_under_bf16_autocast(name, tiny_encoder_dir, tiny_batch, relations):  # noqa: F811
    """The CUDA path runs forward and loss under bf16 autocast (train.autocast); CPU autocast checks the same dtype
    handling here: every op takes mixed bf16/float32 inputs, the logits stay near float32's, gradients reach the
    float32 parameters."""
    torch.manual_seed(0)  # the head's random init decides how close bf16 stays; not whatever ran before
    model = build_model(name, fresh_tiny(tiny_encoder_dir), 1 + len(relations), **SMALL[name])
    b = tiny_batch
    full = model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])
        loss = build_loss(model.default_loss)(logits.float(), b["labels"])
    loss.backward()
    assert torch.isfinite(logits).all() and (logits.float() - full).abs().max() < 0.1 * full.abs().max()
    assert all(p.dtype == torch.float32 and p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.head_parameters())
    assert sum(p.grad.abs().sum() for p in model.head_parameters()) > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradient_checkpointing_through_the_encoder_gives_the_same_gradients(name, tiny_encoder_dir, tiny_batch, relations):  # noqa: F811
    grads = []
    for checkpointing in (False, True):
        model = build_model(name, fresh_tiny(tiny_encoder_dir), 1 + len(relations), **SMALL[name])
        if checkpointing:
            model.encoder.gradient_checkpointing_enable()
        model.train()
        for m in model.modules():  # no dropout, so both runs compute the same function
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        b = tiny_batch
        model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"]).square().mean().backward()
        grads.append(model.encoder.embeddings.word_embeddings.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_fits_a_few_documents(name, tiny_encoder_dir, tiny_batch, relations):  # noqa: F811
    """30 steps with ATLOP's loss on 3 documents: the loss falls to under a fifth (measured 0.05-0.07
    over seeds), and the facts' scores above TH rise clearly above the non-facts' (measured by 6.8-13)."""
    model = build_model(name, fresh_tiny(tiny_encoder_dir), 1 + len(relations), **SMALL[name])
    loss = build_loss("atl")
    optimizer = torch.optim.AdamW([{"params": model.encoder_parameters(), "lr": 1e-3},
                                   {"params": model.head_parameters(), "lr": 3e-3}])
    b, losses = tiny_batch, []
    for _ in range(30):
        optimizer.zero_grad()
        logits = model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])
        value = loss(logits, b["labels"])
        value.backward()
        optimizer.step()
        losses.append(value.item())
    assert min(losses[-5:]) < 0.2 * losses[0], losses
    above_th = (logits[:, 1:] - logits[:, :1]).detach()
    facts = b["labels"][:, 1:].bool()
    assert above_th[facts].mean() - above_th[~facts].mean() > 3.0


def test_atlop_with_the_real_minilm_encoder_on_a_real_document(data_dir):
    relations = RelationInventory.load(data_dir)
    docs = load_docs(data_dir / "redocred" / "dev_revised.json")[:1]
    tokenizer, encoder = load_encoder("minilm")
    b = collate(featurize(docs[:1], tokenizer, relations))
    model = build_model("atlop", encoder, 1 + len(relations))
    logits = model(b["input_ids"], b["attention_mask"], b["entity_pos"], b["hts"])
    n = len(docs[0]["vertexSet"])
    assert logits.shape == (n * (n - 1), 1 + len(relations)) and torch.isfinite(logits).all()
    build_loss("atl")(logits, b["labels"]).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.head_parameters())
    assert torch.isfinite(encoder.embeddings.word_embeddings.weight.grad).all()


def test_entities_are_the_log_sum_exp_and_mean_attention_of_their_mentions():
    torch.manual_seed(0)
    seq, att = torch.randn(2, 9, 5), torch.rand(2, 3, 9, 9)
    entity_pos = [[[1, 4], [2], [0, 5, 7]], [[3], [8, 6]]]
    marker_spans = [[[[p, p + 1] for p in positions] for positions in doc] for doc in entity_pos]
    entities = gather_entities(seq, att, marker_spans)
    assert entities.counts == [3, 2]
    flat = [(b, positions) for b, doc in enumerate(entity_pos) for positions in doc]
    for e, (b, positions) in enumerate(flat):
        torch.testing.assert_close(entities.emb[e], torch.logsumexp(seq[b, positions], 0))
        torch.testing.assert_close(entities.att[e], att[b, :, positions].mean(1))


def test_span_pooling_takes_each_mention_as_the_mean_of_its_word_pieces():
    torch.manual_seed(0)
    seq, att = torch.randn(1, 10, 4), torch.rand(1, 2, 10, 10)
    spans = [[[[1, 4], [6, 7]], [[7, 10]]]]          # entity 0: pieces 1-3 and piece 6; entity 1: pieces 7-9
    entities = gather_entities(seq, att, spans)
    m0, m1, m2 = seq[0, 1:4].mean(0), seq[0, 6], seq[0, 7:10].mean(0)
    torch.testing.assert_close(entities.emb[0], torch.logsumexp(torch.stack([m0, m1]), 0))
    torch.testing.assert_close(entities.emb[1], m2)
    torch.testing.assert_close(entities.att[0], (att[0, :, 1:4].mean(1) + att[0, :, 6]) / 2)
    torch.testing.assert_close(entities.att[1], att[0, :, 7:10].mean(1))


def test_pair_attention_is_the_normalized_mean_over_heads_of_the_product():
    torch.manual_seed(0)
    att = torch.rand(4, 3, 7)
    q = pair_attention(att)
    for s in range(4):
        for o in range(4):
            expected = (att[s] * att[o]).mean(0)
            torch.testing.assert_close(q[s, o], expected / (expected.sum() + 1e-5))


def test_grouped_bilinear_is_atlops_linear_layer_on_block_outer_products(monkeypatch):
    monkeypatch.setattr(pooling, "CHUNK", 3)  # several chunks of pairs, the last one short
    torch.manual_seed(0)
    layer = GroupedBilinear(8, 4, 5).double()
    x, z = torch.randn(7, 8, dtype=torch.double, requires_grad=True), torch.randn(7, 8, dtype=torch.double, requires_grad=True)
    outer = (x.view(7, 2, 4, 1) * z.view(7, 2, 1, 4)).reshape(7, 32)     # ATLOP's materialized products
    torch.testing.assert_close(layer(x, z), outer @ layer.weight.reshape(32, 5) + layer.bias)
    assert torch.autograd.gradcheck(lambda a, c, w: pooling._GroupedBilinearFn.apply(a.view(7, 2, 4), c.view(7, 2, 4), w),
                                    (x, z, layer.weight))


def test_build_model_names_what_exists_and_rejects_bad_options(tiny_encoder_dir):  # noqa: F811
    encoder = fresh_tiny(tiny_encoder_dir)
    with pytest.raises(DocrobustError, match="unknown model 'bert-re'.*atlop, docunet, kd-docre"):
        build_model("bert-re", encoder, 5)
    with pytest.raises(DocrobustError, match=r"model 'atlop' option blocksize: no such option \(did you mean 'block_size'"):
        build_model("atlop", encoder, 5, blocksize=8)
    with pytest.raises(DocrobustError, match=r"model 'atlop' option emb_size: expected int, got 'big'"):
        build_model("atlop", encoder, 5, emb_size="big")
    with pytest.raises(DocrobustError, match="emb_size=100 is not a multiple of block_size=64"):
        build_model("atlop", encoder, 5, emb_size=100)
    with pytest.raises(DocrobustError, match="heads=5"):
        build_model("kd-docre", encoder, 5, heads=5)
    assert [name for name, _, _ in MODELS.describe()] == ["atlop", "docunet", "kd-docre"]
    assert list(MODELS.options("atlop")) == ["emb_size", "block_size", "entity_pooling"]
    assert {cls.default_loss for cls in MODELS.values()} == {"atl", "balanced-softmax", "afl"}


def test_load_encoder_errors_are_one_line_and_say_what_to_do(tmp_path):
    with pytest.raises(DocrobustError, match="no config.json") as err:
        load_encoder(str(tmp_path))
    assert "\n" not in str(err.value)
    with pytest.raises(DocrobustError, match="cannot load encoder") as err:
        load_encoder(str(tmp_path / "nowhere" / "model"))
    assert "\n" not in str(err.value) and "minilm" in str(err.value)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("pooling", ["marker", "span"])
def test_the_head_on_stored_rows_gives_the_end_to_end_logits_and_trains_alone(name, pooling, tiny_encoder_dir, tiny_batch, relations, tmp_path):  # noqa: F811
    model = build_model(name, fresh_tiny(tiny_encoder_dir), 1 + len(relations), entity_pooling=pooling, **SMALL[name])
    model.freeze_encoder()
    model.eval()
    inputs = {k: tiny_batch[k] for k in ("input_ids", "attention_mask", "entity_pos", "hts", "entity_spans")}
    with torch.no_grad():
        expected = model(**inputs)                                   # end to end, through the frozen encoder
    tokenizer, _ = load_encoder(str(tiny_encoder_dir))
    feats = tiny_batch["features"]
    rows = FeatureStore(tmp_path).rows(model, tokenizer, feats)   # each document alone, not as batched above
    stored = [{**f, "rows": r} for f, r in zip(feats, rows)]
    with torch.no_grad():
        torch.testing.assert_close(batch_logits(model, stored, torch.device("cpu")), expected, atol=1e-5, rtol=1e-4)

    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    optimizer = torch.optim.AdamW(model.head_parameters(), lr=1e-3)
    model.train()
    assert not model.encoder.training and model.encoder_parameters() == []
    for _ in range(2):
        loss = build_loss("atl")(batch_logits(model, stored, torch.device("cpu")), tiny_batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert not torch.allclose(model.eval()(**inputs), expected, atol=1e-5)  # the head learned
    assert all(torch.equal(v, encoder_before[k]) for k, v in model.encoder.state_dict().items())
    assert all(p.grad is None for p in model.encoder.parameters())


# ----------------------------------------------------------------------------- the authors' code's choices (issue 20)

def hand_inputs(counts: list[int], H: int = 6, seed: int = 0) -> pooling.PairInputs:
    """PairInputs of documents with these entity counts: random entities and contexts, every ordered pair."""
    torch.manual_seed(seed)
    E = sum(counts)
    hts = [[[h, t] for h in range(n) for t in range(n) if h != t] for n in counts]
    P = sum(len(d) for d in hts)
    return pooling.PairInputs(torch.randn(E, H), torch.randn(E, H), torch.randn(P, H),
                              pooling.pair_index(hts, counts), counts)


def test_kd_docre_context_sums_the_heads_with_epsilon_1e_10():
    """KD-DocRE: q = sum_heads(a_s * a_o) / (sum_L(...) + 1e-10); ATLOP's mean over heads with 1e-5 differs where
    the attention is small (here only by the epsilon)."""
    torch.manual_seed(0)
    att = torch.rand(3, 4, 7) * 1e-3                 # small rows, where the epsilon shows
    q = pair_attention(att, "sum")
    for s in range(3):
        for o in range(3):
            product = sum(att[s, h] * att[o, h] for h in range(4))
            torch.testing.assert_close(q[s, o], product / (product.sum() + 1e-10))
    mean = pair_attention(att, "mean")
    assert (q.sum(-1) - 1).abs().max() < 1e-4 and (mean.sum(-1) - 1).abs().max() > 0.01
    assert KD_HEAD(5).context_heads == "sum" and KD_HEAD(5, context="mean").context_heads == "mean"
    assert build_model("atlop", KD_HEAD(5).encoder, 5, emb_size=16, block_size=4).context_heads == "mean"


def test_kd_docre_self_pairs_add_zero_logits_labelled_th_to_the_loss():
    """The reference's loss runs over all n x n pairs; a self pair's logits are 0 and its label TH, so the loss is
    (P * loss over the pairs + S * log C) / (P + S) for AFL, and the gradient the pairs' own times P / (P + S)."""
    torch.manual_seed(0)
    counts, C = [3, 4], 6
    P, S = sum(n * (n - 1) for n in counts), sum(counts)
    model = KD_HEAD(C)
    logits = torch.randn(P, C, requires_grad=True)
    labels = torch.zeros(P, C)
    labels[torch.arange(P), torch.randint(0, C, (P,))] = 1
    labels[:, 0] = labels[:, 1:].sum(1) == 0
    afl = build_loss("afl")
    rows, rows_labels = model.training_rows(logits, labels, counts)
    assert rows.shape == (P + S, C) and torch.equal(rows[P:], torch.zeros(S, C))
    assert torch.equal(rows_labels[P:, 0], torch.ones(S)) and rows_labels[P:, 1:].sum() == 0
    loss = afl(rows, rows_labels)
    alone = afl(logits, labels)
    torch.testing.assert_close(loss, (P * alone + S * torch.log(torch.tensor(float(C)))) / (P + S))
    (with_self,) = torch.autograd.grad(loss, logits)
    (without,) = torch.autograd.grad(alone, logits)
    torch.testing.assert_close(with_self, without * P / (P + S))
    model.self_pairs = False
    assert model.training_rows(logits, labels, counts)[0] is logits


def KD_HEAD(num_labels: int, **options):
    """A KD-DocRE on a stand-in encoder of width 8 (its head alone is exercised)."""
    encoder = torch.nn.Module()
    encoder.config = type("Config", (), {"hidden_size": 8, "cls_token_id": 0, "sep_token_id": 1})()
    return build_model("kd-docre", encoder, num_labels, emb_size=16, block_size=4, layers=1, heads=2, **options).eval()


def test_docunet_padding_cells_repeat_the_last_entitys_as_in_docunet():
    """DocuNet pads its entity attention list with the last entity's, so map cell (s, o) past n entities holds the
    context of (min(s, n-1), min(o, n-1)); pad_map="zero" gives them zero context (the projection's bias)."""
    encoder = torch.nn.Module()
    encoder.config = type("Config", (), {"hidden_size": 6, "cls_token_id": 0, "sep_token_id": 1})()
    x = hand_inputs([2, 3])
    maps = {}
    for pad in ("reference", "zero"):
        model = build_model("docunet", encoder, 5, emb_size=8, block_size=4, max_entities=4, unet_in_dim=3,
                            unet_out_dim=4, down_dim=4, pad_map=pad)
        torch.manual_seed(1)
        model.channels.reset_parameters()                                # the same W_in in both models
        with torch.no_grad():
            maps[pad] = model.context_map(x)                              # [B, 3, 4, 4]
        W = model.channels
    cell = {}
    for b, n in enumerate(x.counts):
        offset = sum(x.counts[:b])
        for s in range(n):
            cell[b, s, s] = W(x.self_context[offset + s])
        for p in torch.nonzero(x.pairs.doc == b)[:, 0].tolist():
            cell[b, x.pairs.head[p].item(), x.pairs.tail[p].item()] = W(x.context[p])
    with torch.no_grad():
        for b, n in enumerate(x.counts):
            for s in range(4):
                for o in range(4):
                    inside = s < n and o < n
                    torch.testing.assert_close(maps["reference"][b, :, s, o], cell[b, min(s, n - 1), min(o, n - 1)])
                    torch.testing.assert_close(maps["zero"][b, :, s, o], cell[b, s, o] if inside else W.bias)
    with pytest.raises(DocrobustError, match="pad_map='edge': use one of reference, zero"):
        build_model("docunet", encoder, 5, pad_map="edge")


def test_kd_docre_map_cells_all_lets_every_cell_of_the_original_map_take_part():
    """map_cells="all" (the original's): a map of max_entities cells a side, the diagonal holding the features of
    (e, e, c_ee) and the padding those of zero entities and context; every cell is a key. "pairs" masks all but the
    batch's pairs. Either way a document's logits do not depend on the documents batched with it."""
    x = hand_inputs([2, 3], H=8)
    model = KD_HEAD(5, map_cells="all", max_entities=5)
    with torch.no_grad():
        f = model.features(x.entity, x.pairs.s, x.pairs.o, x.context)
        cells, valid = model.pair_map(x, f)
        assert cells.shape == (2, 5, 5, 8) and valid.all()
        zero = torch.zeros(1, 16)
        pad = model.projection(torch.tanh(model.head_extractor(zero)), torch.tanh(model.tail_extractor(zero)))[0]
        e = torch.arange(5)
        self_features = model.features(x.entity, e, e, x.self_context)
        for b, n in enumerate(x.counts):
            for s in range(5):
                for o in range(5):
                    if s < n and o < n and s == o:
                        torch.testing.assert_close(cells[b, s, s], self_features[sum(x.counts[:b]) + s])
                    elif not (s < n and o < n):
                        torch.testing.assert_close(cells[b, s, o], pad)
        for mode in ("all", "pairs"):
            model.map_cells = mode
            both = model.head(x)
            first = model.head(pooling.pair_inputs_from_rows(pooling.pair_rows(x)[:1], [[[0, 1], [1, 0]]], [2]))
            torch.testing.assert_close(both[:2], first)
        model.map_cells = "pairs"
        cells, valid = model.pair_map(x, f)
        assert valid.sum() == len(f) and cells.shape == (2, 3, 3, 8)
    encoder = torch.nn.Module()
    encoder.config = type("Config", (), {"hidden_size": 8, "cls_token_id": 0, "sep_token_id": 1})()
    for option in ({"map_cells": "every"}, {"context": "max"}):
        with pytest.raises(DocrobustError, match=f"{next(iter(option))}="):
            build_model("kd-docre", encoder, 5, **option)


def test_the_feature_store_never_serves_rows_of_another_featurization_or_context(tiny_encoder_dir, tmp_path):  # noqa: F811
    """Keeping a duplicated mention changes the document's key (its spans), so its rows are computed anew; the
    stored rows of an unchanged document are served; KD-DocRE's summed-heads context has its own encoder key,
    and with context="mean" it shares ATLOP's."""
    from docrobust.models.store import encoder_fingerprint
    from test_features import duplicated_doc

    tokenizer, encoder = load_encoder(str(tiny_encoder_dir))
    relations = RelationInventory(("P1",), {"P1": "p1"})
    plain = {**duplicated_doc(), "title": "plain"}
    plain["vertexSet"] = [plain["vertexSet"][0][:1], plain["vertexSet"][1]]
    model = build_model("atlop", encoder, 2, emb_size=16, block_size=4)
    model.freeze_encoder()
    store = FeatureStore(tmp_path)
    kept = featurize([duplicated_doc(), plain], tokenizer, relations)
    once = featurize([duplicated_doc(), plain], tokenizer, relations, dedup_mentions=True)
    first = store.rows(model, tokenizer, kept)
    assert store.encoded == 2
    second = store.rows(model, tokenizer, once)
    assert store.encoded == 3                                   # the duplicated document again, the plain one served
    assert np.array_equal(first[1], second[1])
    # rows: entities 0, 1, their self contexts, the pairs' contexts; entity 0 (listed twice) alone changes, with
    # every context that reads its attention
    assert not np.allclose(first[0][0], second[0][0], atol=1e-4) and not np.allclose(first[0][2], second[0][2], atol=1e-4)
    np.testing.assert_allclose(first[0][[1, 3]], second[0][[1, 3]], atol=1e-6)

    kd_sum = build_model("kd-docre", encoder, 2, emb_size=16, block_size=4, layers=1, heads=4)
    kd_mean = build_model("kd-docre", encoder, 2, emb_size=16, block_size=4, layers=1, heads=4, context="mean")
    for m in (kd_sum, kd_mean):
        m.freeze_encoder()
    assert encoder_fingerprint(kd_sum, tokenizer) != encoder_fingerprint(model, tokenizer)
    assert encoder_fingerprint(kd_mean, tokenizer) == encoder_fingerprint(model, tokenizer)
    before = store.encoded
    store.rows(kd_sum, tokenizer, kept)
    assert store.encoded == before + 2


def test_training_averages_kd_docres_loss_over_its_self_pairs_too(tiny_encoder_dir, docs, relations, tmp_path):  # noqa: F811
    """The trainer's loss is over the model's training_rows: KD-DocRE's first step (same seed, batch and weights)
    gives (P * L + S * log C) / (P + S) with self_pairs, L without."""
    import json

    from docrobust.models.train import train
    from test_train import tiny_config

    docs = docs[:2]
    first = {}
    for self_pairs in (True, False):
        config = tiny_config(tiny_encoder_dir, model="kd-docre", loss="afl", epochs=1, batch_size=2, log_every=1,
                             model_options={**SMALL["kd-docre"], "self_pairs": self_pairs})
        out = tmp_path / str(self_pairs)
        train(config, docs, docs[:1], relations=relations, out_dir=out)
        log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
        first[self_pairs] = next(r["loss"] for r in log if r["event"] == "step")
    S = sum(len(d["vertexSet"]) for d in docs)
    P = sum(len(d["vertexSet"]) * (len(d["vertexSet"]) - 1) for d in docs)
    C = 1 + len(relations)
    assert first[True] == pytest.approx((P * first[False] + S * math.log(C)) / (P + S), rel=1e-5)
