"""The frozen-encoder feature store: one encoder pass per document, keys that follow what decides the rows,
damaged entries recomputed, concurrent writers leaving one valid file."""
from __future__ import annotations

import copy
import multiprocessing

import numpy as np
import pytest
import torch

import docrobust.models.registry as registry
from docrobust.corpus import RelationInventory
from docrobust.models import build_model, featurize, load_encoder
from docrobust.models.store import FeatureStore
from tiny_encoder import one_thread, tiny_encoder_dir  # noqa: F401
from conftest import make_doc


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return [make_doc(f"D{i}", 4 + i % 3, [(0, 1, "P1"), (2, 1, "P2")], n_sents=2 + i) for i in range(5)]  # distinct texts


@pytest.fixture(scope="module")
def relations(docs) -> RelationInventory:
    return RelationInventory.from_docs(docs)


@pytest.fixture(scope="module")
def frozen(tiny_encoder_dir, relations):  # noqa: F811
    tokenizer, encoder = load_encoder(str(tiny_encoder_dir))
    model = build_model("atlop", encoder, 1 + len(relations), emb_size=32, block_size=8)
    model.freeze_encoder()
    return tokenizer, model


@pytest.fixture
def count_encoder_calls(monkeypatch):
    """Documents passed through the encoder, counted at the encoder call itself."""
    seen = []
    real = registry.encode

    def counting(model, input_ids, *args):
        seen.extend(input_ids.shape[:1])
        return real(model, input_ids, *args)
    monkeypatch.setattr(registry, "encode", counting)
    return seen


def test_each_document_is_encoded_once_whatever_the_labels(frozen, docs, relations, tmp_path, count_encoder_calls):
    tokenizer, model = frozen
    store = FeatureStore(tmp_path)
    first = store.rows(model, tokenizer, featurize(docs + docs[:2], tokenizer, relations))  # two documents twice
    assert sum(count_encoder_calls) == len(docs) and store.encoded == len(docs)
    relabeled = copy.deepcopy(docs)
    for d in relabeled:
        d["labels"] = d["labels"][:1]                            # noise changes labels, not features
    again = FeatureStore(tmp_path).rows(model, tokenizer, featurize(relabeled, tokenizer, relations))
    assert sum(count_encoder_calls) == len(docs)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    n = [len(d["vertexSet"]) for d in docs]
    assert [r.shape for r in again] == [(k * k + k, model.hidden_size) for k in n]


def test_a_documents_rows_do_not_depend_on_the_documents_stored_with_it(frozen, docs, relations, tmp_path):
    """Rows are bit-identical whether a document was stored alone or in a run with longer ones (no padding), so a
    store filled by other runs serves exactly what a fresh one computes."""
    tokenizer, model = frozen
    feats = featurize(docs, tokenizer, relations)
    together = FeatureStore(tmp_path / "together").rows(model, tokenizer, feats)
    for i, feature in enumerate(feats):
        [alone] = FeatureStore(tmp_path / f"alone{i}").rows(model, tokenizer, [feature])
        assert np.array_equal(alone, together[i])


def test_a_changed_document_tokenizer_or_max_len_is_a_new_entry(frozen, docs, relations, tmp_path, tiny_encoder_dir,  # noqa: F811
                                                                 count_encoder_calls):
    tokenizer, model = frozen
    store = FeatureStore(tmp_path)
    store.rows(model, tokenizer, featurize(docs, tokenizer, relations))
    entries = lambda: sorted(p.name for p in tmp_path.rglob("*.rows"))  # noqa: E731
    before = entries()
    assert len(before) == len(docs)

    edited = copy.deepcopy(docs[:1])
    edited[0]["sents"][0][0] = "changed"
    store.rows(model, tokenizer, featurize(edited, tokenizer, relations))
    assert len(entries()) == len(docs) + 1

    store.rows(model, tokenizer, featurize(docs[:1], tokenizer, relations, max_len=8))
    assert len(entries()) == len(docs) + 2

    other_tokenizer, _ = load_encoder(str(tiny_encoder_dir))
    other_tokenizer.add_tokens(["zzunseen"])           # another tokenizer giving these documents the same ids
    assert featurize(docs[:1], other_tokenizer, relations)[0]["input_ids"] == featurize(docs[:1], tokenizer, relations)[0]["input_ids"]
    store.rows(model, other_tokenizer, featurize(docs[:1], other_tokenizer, relations))
    assert len(entries()) == len(docs) + 3


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_a_damaged_entry_is_recomputed_never_read(frozen, docs, relations, tmp_path, damage, count_encoder_calls):
    tokenizer, model = frozen
    feats = featurize(docs[:2], tokenizer, relations)
    store = FeatureStore(tmp_path)
    good = [np.array(r) for r in store.rows(model, tokenizer, feats)]
    path = sorted(tmp_path.rglob("*.rows"))[0]
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:len(data) - 7]
    elif damage == "flip":
        data[-5] ^= 0xFF
    else:
        data[:5] = b"XXXXX"
    path.write_bytes(bytes(data))
    calls = sum(count_encoder_calls)
    again = FeatureStore(tmp_path).rows(model, tokenizer, feats)
    assert sum(count_encoder_calls) == calls + 1                      # the damaged document only
    # recomputed alone rather than padded in a batch of two: equal to float tolerance
    assert all(np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(good, again))


def _write_many(args) -> None:
    root, path, seed = args
    torch.set_num_threads(1)
    rows = np.arange(12000, dtype=np.float32).reshape(3000, 4)
    store = FeatureStore(root)
    for _ in range(30):
        store.write(path, rows)


@pytest.mark.slow
def test_concurrent_writers_of_one_entry_leave_one_valid_file(tmp_path):
    path = tmp_path / "ab" / "entry.rows"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_write_many, [(tmp_path, path, s) for s in range(4)])
    assert [p.name for p in path.parent.iterdir()] == ["entry.rows"]        # no temporary files left
    rows = FeatureStore(tmp_path).read(path)
    assert rows is not None and np.array_equal(rows, np.arange(12000, dtype=np.float32).reshape(3000, 4))


def test_the_tokenizer_key_does_not_record_the_tokenizers_last_call(frozen):
    """transformers sets truncation/padding on the backend at each call: a used tokenizer keeps its key."""
    from docrobust.models.features import tokenizer_fingerprint

    tokenizer, _ = frozen
    before = tokenizer_fingerprint(tokenizer)
    tokenizer(["some words", "more"], truncation=True, max_length=8, padding="max_length")
    assert tokenizer_fingerprint(tokenizer) == before
