"""A tiny random BERT for fast tests: `build_tiny_encoder(texts, out_dir)` and the `tiny_encoder_dir` fixture.

The folder it writes loads with `docrobust.models.encoder.load_encoder(path)` like any hub model:
config.json + model.safetensors + a WordPiece tokenizer trained with `tokenizers` on `texts`.
Other test modules use the fixtures by importing them: `from tiny_encoder import tiny_encoder_dir` (and
`one_thread`, which runs a module on one torch thread).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_encoder(texts: list[str], out_dir: str | os.PathLike, hidden: int = 48, layers: int = 2,
                       heads: int = 4, vocab_size: int = 2000, seed: int = 0) -> Path:
    """Write a randomly initialized BERT (hidden x layers x heads) with a WordPiece vocab of `texts` to out_dir."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.decoder = decoders.WordPiece()
    # `*` is ATLOP's mention marker: always in the vocabulary, whatever the texts
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=["*"])
    wordpiece.train_from_iterator(texts, trainer)
    vocab = wordpiece.get_vocab()
    BertTokenizerFast(vocab=vocab, do_lower_case=True).save_pretrained(out_dir)

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, max_position_embeddings=512, pad_token_id=0)
    BertModel(config, add_pooling_layer=False).save_pretrained(out_dir)
    return out_dir


def _texts() -> list[str]:
    """Re-DocRED dev text when DOCROBUST_DATA has it, else the hand-built documents' words."""
    path = Path(os.environ.get("DOCROBUST_DATA", "/nonexistent")) / "redocred" / "dev_revised.json"
    if path.is_file():
        docs = json.loads(path.read_text(encoding="utf-8"))
    else:
        from conftest import make_doc
        docs = [make_doc(f"T{i}", 6, n_sents=3) for i in range(4)]
    return [" ".join(w for sent in d["sents"] for w in sent) for d in docs]


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A tiny BERT folder (hidden 48, 2 layers, 4 heads), built once per test session."""
    return build_tiny_encoder(_texts(), tmp_path_factory.mktemp("tiny_encoder"))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tiny encoder's small ops run fastest on one thread, and the test machine's cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
