"""Parity with the authors' code: docrobust's ATLOP, DocuNet and KD-DocRE against wzhouad/ATLOP, zjunlp/DocuNet and
tonytan48/KD-DocRE, run here on the same Re-DocRED dev documents, the same encoder and the same head weights
(float32, CPU, eval mode, no dropout).

The authors' code is not part of docrobust and is not copied into it: pass local checkouts (git clone) of the
three repositories and of lucidrains/axial-attention (KD-DocRE's dependency, 0.6.1):

    python benchmarks/parity.py --data /work/shared/data --atlop ATLOP --docunet DocuNet --kd-docre KD-DocRE \\
        --axial-attention axial-attention [--docs 500] [--batch-size 4] [--encoder minilm] [--threads 2]

Their modules are imported as they are, with stand-ins for what they import but this comparison does not reach or
what this environment lacks: opt_einsum.contract (torch.einsum, the same contraction), ujson (json), allennlp's
matrix attentions and overrides (DocuNet's similarity-based channels; its default, context-based, is compared), and
the tokenizer's build_inputs_with_special_tokens (CLS ids SEP), which transformers 5 removed, and the encoder's
output as the tuple transformers 4 returned (TupleOutput). Their prepro reads
meta/rel2id.json (KD-DocRE also meta/ner2id.json) from the working directory at import: it runs in a temporary
folder holding the data's rel2id.json and KD-DocRE's ner2id.json.

Printed, per model:
  features  documents whose input ids equal ours (their prepro, ours with the model's default featurization), and
            whose mention positions do (their starts + 1, every mention, against our entity_pos)
  logits    for docrobust's defaults and each option that departs from the reference: max |ours - theirs| over
            every pair (their pairs re-ordered to our hts), the reference's logit spread (max - min), and the
            pairs whose predicted relation set (the default loss's decision, top 4) differs
  loss      KD-DocRE: its AFL over all n x n pairs against ours with self_pairs (value; gradient on the pairs),
            and the gradient ratio of self_pairs=False to the reference
  windows   encode() against ATLOP's process_long_input on the documents over 512 pieces (MiniLM) and on random
            ids through a small random RoBERTa whose window ends are derived from a RoBERTa-shaped tokenizer
"""
from __future__ import annotations

import argparse
import os
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from parity_reference import TupleOutput, atlop_weights, docunet_weights, kd_weights, load_into, load_reference
from torch import nn

from docrobust.corpus import RelationInventory, load_docs
from docrobust.models import MODELS, build_model, collate, featurize, load_encoder
from docrobust.models.encoder import encode, special_ids, window_end_ids
from docrobust.models.losses import build_loss

SIZES = {"emb_size": 768, "block_size": 64}     # the papers' head sizes, on both sides


# ----------------------------------------------------------------------------- comparing

def their_batch(feats: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """ATLOP's collate_fn: ids padded with 0, float mask."""
    L = max(len(f["input_ids"]) for f in feats)
    ids = torch.tensor([f["input_ids"] + [0] * (L - len(f["input_ids"])) for f in feats])
    mask = torch.tensor([[1.0] * len(f["input_ids"]) + [0.0] * (L - len(f["input_ids"])) for f in feats])
    return ids, mask


def aligned(their_logits: torch.Tensor, their_hts: list[list], our_hts: list[list]) -> torch.Tensor:
    """The reference's logits re-ordered to our pairs (theirs: positives first, or all n x n pairs)."""
    rows, offset = [], 0
    for theirs, ours in zip(their_hts, our_hts):
        where = {tuple(ht): offset + i for i, ht in enumerate(theirs)}
        rows += [where[tuple(ht)] for ht in ours]
        offset += len(theirs)
    return their_logits[rows]


class Tally:
    """Max |difference|, the reference's logit range and differing predictions of one variant over all batches."""

    def __init__(self, loss: str):
        self.loss, self.diff, self.low, self.high, self.changed, self.pairs = build_loss(loss), 0.0, 0.0, 0.0, 0, 0

    def add(self, ours: torch.Tensor, theirs: torch.Tensor) -> None:
        self.diff = max(self.diff, (ours - theirs).abs().max().item())
        self.low, self.high = min(self.low, theirs.min().item()), max(self.high, theirs.max().item())
        changed = (self.loss.predict(ours, top_k=4) != self.loss.predict(theirs, top_k=4)).any(1)
        self.changed += int(changed.sum())
        self.pairs += len(ours)

    def line(self, name: str) -> str:
        return (f"  {name:<44} max |diff| {self.diff:.2e}   reference spread {self.high - self.low:.2e}   "
                f"pairs predicted differently {self.changed} of {self.pairs}")


def feature_parity(theirs: list[dict], ours: list[dict], self_pairs: bool) -> str:
    ids = sum(t["input_ids"] == o["input_ids"] for t, o in zip(theirs, ours))
    pos = sum([sorted(s + 1 for s, _ in e) for e in t["entity_pos"]] == o["entity_pos"] for t, o in zip(theirs, ours))
    selves = lambda o: [(e, e) for e in range(len(o["entity_pos"]))] if self_pairs else []  # noqa: E731
    hts = sum(sorted(map(tuple, t["hts"])) == sorted([tuple(ht) for ht in o["hts"]] + selves(o))
              for t, o in zip(theirs, ours))
    return (f"  features: input ids equal in {ids} of {len(ours)} documents, mention positions in {pos}, "
            f"pairs in {hts}")


def run_model(reference: nn.Module, ours: nn.Module, variants: dict, their_feats: list[dict],
              batch_size: int) -> tuple[dict[str, Tally], list[torch.Tensor]]:
    """Each variant (ours with option attributes set, on its features) against the reference, batch by batch;
    and the reference's logits of each batch."""
    tallies = {v: Tally(ours.default_loss) for v in variants}
    kept = []
    for i in range(0, len(their_feats), batch_size):
        chunk = their_feats[i:i + batch_size]
        ids, mask = their_batch(chunk)
        with torch.no_grad():
            theirs = reference(input_ids=ids, attention_mask=mask, entity_pos=[f["entity_pos"] for f in chunk],
                               hts=[f["hts"] for f in chunk])
            theirs = theirs[1] if isinstance(theirs, tuple) and len(theirs) == 2 else theirs
            theirs = theirs[0] if isinstance(theirs, tuple) else theirs
        kept.append(theirs)
        cache = {}
        for variant, (feats, attributes) in variants.items():
            for key, value in attributes.items():
                setattr(ours, key, value)
            batch = collate(feats[i:i + batch_size])
            key = (id(feats), ours.context_heads)   # the encoder pass and pooling, shared by variants of the head
            with torch.no_grad():
                if key not in cache:
                    cache[key] = ours.pair_inputs(batch["input_ids"], batch["attention_mask"], batch["entity_pos"],
                                                  batch["hts"])
                logits = ours.head(cache[key])
            tallies[variant].add(logits, aligned(theirs, [f["hts"] for f in chunk], batch["hts"]))
    return tallies, kept


def kd_loss_parity(kd_losses, ours: nn.Module, feats: list[dict], their_feats: list[dict], their_logits: list,
                   batch_size: int) -> list[str]:
    """KD-DocRE's AFL over all n x n pairs (self pairs' logits 0, label TH) against ours through training_rows, on the
    reference's logits of each batch [sum n^2, C]: value and gradient with self_pairs, the gradient ratio without."""
    afl = build_loss("afl", gamma=1.0)
    value_diff = grad_diff = 0.0
    ratios = []
    for i, full in zip(range(0, len(feats), batch_size), their_logits):
        chunk, their_chunk = feats[i:i + batch_size], their_feats[i:i + batch_size]
        batch = collate(chunk)
        counts = [len(f["entity_pos"]) for f in chunk]
        where = aligned(torch.arange(len(full))[:, None], [f["hts"] for f in their_chunk], batch["hts"])[:, 0]  # [P]
        their_labels = torch.zeros_like(full)
        their_labels[:, 0] = 1                                                     # self pairs: TH
        their_labels[where] = batch["labels"]
        leaf = full.clone().requires_grad_()
        their_loss = kd_losses.AFLoss(gamma_pos=1.0, gamma_neg=1.0)(leaf, their_labels.clone())
        their_loss.backward()
        grads = {}
        for self_pairs in (True, False):
            ours.self_pairs = self_pairs
            pairs = full[where].clone().requires_grad_()
            loss = afl(*ours.training_rows(pairs, batch["labels"], counts))
            loss.backward()
            grads[self_pairs] = pairs.grad
            if self_pairs:
                value_diff = max(value_diff, abs(loss.item() - their_loss.item()))
        theirs = leaf.grad[where]
        grad_diff = max(grad_diff, ((grads[True] - theirs).abs().max() / theirs.abs().max()).item())
        ratios.append(((theirs / grads[False])[grads[False].abs() > 1e-12].median().item(),
                       sum(n * (n - 1) for n in counts) / sum(n * n for n in counts)))
    ours.self_pairs = True
    measured = sum(r for r, _ in ratios) / len(ratios)
    expected = sum(e for _, e in ratios) / len(ratios)
    return [f"  loss over self pairs (self_pairs=True): max |value diff| {value_diff:.2e}, gradient max relative "
            f"diff {grad_diff:.2e}",
            f"  self_pairs=False: reference gradient / ours, median per batch, mean over batches {measured:.4f} "
            f"(sum n(n-1) / sum n^2: {expected:.4f})"]


def window_parity(atlop_long_seq, encoder, feats: list[dict]) -> list[str]:
    """encode() against ATLOP's process_long_input: MiniLM on the long documents, a random RoBERTa on random ids."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    lines = []
    long = [f for f in feats if len(f["input_ids"]) > 512]
    diff = 0.0
    for i in range(0, len(long), 4):
        batch = collate(long[i:i + 4])
        with torch.no_grad():
            ours = encode(encoder, batch["input_ids"], batch["attention_mask"], *special_ids(encoder))
            theirs = atlop_long_seq.process_long_input(TupleOutput(encoder), batch["input_ids"],
                                                       batch["attention_mask"], [encoder.config.cls_token_id],
                                                       [encoder.config.sep_token_id])
        diff = max(diff, max((a - b).abs().max().item() for a, b in zip(ours, theirs)))
    lines.append(f"  windows, MiniLM: {len(long)} documents over 512 pieces, max |diff| of states and attention "
                 f"{diff:.2e}")

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["a RoBERTa-shaped tokenizer"], vocab_size=300,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    tokenizer = RobertaTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                     cls_token="<s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=128, max_position_embeddings=514)
    roberta = RobertaModel._from_config(config, add_pooling_layer=False, attn_implementation="eager").eval()
    roberta.config.cls_token_id, roberta.config.sep_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    roberta.config.window_end_ids = window_end_ids(tokenizer)
    lengths = [600, 700, 900, 1024]
    ids = torch.full((4, 1024), tokenizer.pad_token_id)
    mask = torch.zeros(4, 1024)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(5, 300, (n,))
        ids[b, 0], ids[b, n - 1] = tokenizer.cls_token_id, tokenizer.sep_token_id
        mask[b, :n] = 1
    start, end = special_ids(roberta)
    with torch.no_grad():
        ours = encode(roberta, ids, mask, start, end)
        theirs = atlop_long_seq.process_long_input(TupleOutput(roberta), ids, mask, start, end)
        one_sep = encode(roberta, ids, mask, start, end[:1])
    same = max((a - b).abs().max().item() for a, b in zip(ours, theirs))
    text = ours[0].norm(dim=-1) > 0                     # positions of the documents (padding and gaps hold 0)
    single = ((one_sep[0] - ours[0]).norm(dim=-1)[text] / ours[0].norm(dim=-1)[text]).max().item()
    lines.append(f"  windows, random RoBERTa: end ids {end} (from the tokenizer), max |diff| {same:.2e}; "
                 f"a single </s> instead moves hidden states by up to {single:.2f} relative")
    return lines


# ----------------------------------------------------------------------------- main

@dataclass
class Setup:
    """What every comparison shares: the documents, the relations, our tokenizer and encoder, the batch size."""
    docs: list[dict]
    relations: RelationInventory
    tokenizer: Any
    encoder: nn.Module
    batch_size: int

    def ours(self, name: str, **options: Any) -> nn.Module:
        """Our model `name` at the papers' sizes, seeded, in eval mode, BatchNorm statistics randomized."""
        torch.manual_seed(0)
        model = build_model(name, self.encoder, 1 + len(self.relations), entity_pooling="marker", **SIZES,
                            **options).eval()
        for module in model.modules():   # BatchNorm statistics that are not the identity, so the test means something
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        return model

    def features(self, **options: Any) -> list[dict]:
        return featurize(self.docs, self.tokenizer, self.relations, **options)


def compare_atlop(setup: Setup, atlop: dict, their: list[dict], default: list[dict], dedup: list[dict]) -> None:
    ours = setup.ours("atlop")
    reference = atlop["model"].DocREModel(setup.encoder.config, TupleOutput(setup.encoder), num_labels=-1,
                                          **SIZES).eval()
    load_into(reference, atlop_weights(ours))
    reference.loss_fnt.get_label = lambda logits, num_labels=-1: logits
    print("ATLOP (wzhouad/ATLOP)")
    print(feature_parity(their, default, self_pairs=False))
    variants = {"defaults": (default, {}), "dedup_mentions=True": (dedup, {})}
    for variant, tally in run_model(reference, ours, variants, their, setup.batch_size)[0].items():
        print(tally.line(variant))


def compare_docunet(setup: Setup, docunet: dict, their: list[dict], default: list[dict]) -> None:
    ours = setup.ours("docunet")
    opts = Namespace(unet_in_dim=3, unet_out_dim=256, down_dim=256, max_height=42, channel_type="context-based")
    reference = docunet["model_balanceloss"].DocREModel(setup.encoder.config, opts, TupleOutput(setup.encoder),
                                                        num_labels=-1, **SIZES).eval()
    load_into(reference, docunet_weights(ours))
    reference.loss_fnt.get_label = lambda logits, num_labels=-1: logits
    star = setup.features()
    print("DocuNet (zjunlp/DocuNet, model_balanceloss.py)")
    print(feature_parity(their, default, self_pairs=False))
    print(f"  features with marker='*': input ids equal in "
          f"{sum(t['input_ids'] == o['input_ids'] for t, o in zip(their, star))} of {len(setup.docs)}")
    variants = {"defaults (typed markers, pad_map='reference')": (default, {"pad_map": "reference"}),
                "pad_map='zero'": (default, {"pad_map": "zero"}),
                "marker='*'": (star, {"pad_map": "reference"}),
                "dedup_mentions=True": (setup.features(marker="typed", dedup_mentions=True), {"pad_map": "reference"})}
    for variant, tally in run_model(reference, ours, variants, their, setup.batch_size)[0].items():
        print(tally.line(variant))


def compare_kd_docre(setup: Setup, kd: dict, their: list[dict], default: list[dict], dedup: list[dict]) -> None:
    ours = setup.ours("kd-docre")
    reference = kd["model"].DocREModel_KD(Namespace(gamma_pos=1.0, gamma_neg=1.0), setup.encoder.config,
                                          TupleOutput(setup.encoder), num_labels=-1, **SIZES).eval()
    load_into(reference, kd_weights(ours))
    print("KD-DocRE (tonytan48/KD-DocRE, lucidrains/axial-attention)")
    print(feature_parity(their, default, self_pairs=True))
    full = {"map_cells": "all", "context_heads": "sum"}
    variants = {"defaults (map_cells='pairs')": (default, {"map_cells": "pairs", "context_heads": "sum"}),
                "map_cells='all'": (default, full),
                "map_cells='all', context='mean'": (default, {"map_cells": "all", "context_heads": "mean"}),
                "map_cells='all', dedup_mentions=True": (dedup, full)}
    tallies, kept = run_model(reference, ours, variants, their, setup.batch_size)
    for variant, tally in tallies.items():
        print(tally.line(variant))
    ours.map_cells, ours.context_heads = "all", "sum"
    for line in kd_loss_parity(kd["losses"], ours, default, their, kept, setup.batch_size):
        print(line)


def parse_args() -> Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("DOCROBUST_DATA"), help="data folder (DOCROBUST_DATA)")
    for repo in ("atlop", "docunet", "kd-docre", "axial-attention"):
        parser.add_argument(f"--{repo}", type=Path, required=True, help=f"local checkout of the {repo} repository")
    parser.add_argument("--docs", type=int, default=100, help="the first N Re-DocRED dev documents")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    data = Path(args.data)
    docs = [d for d in load_docs(data / "redocred" / "dev_revised.json")[:args.docs] if len(d["vertexSet"]) <= 42]
    relations = RelationInventory.load(data)
    tokenizer, encoder = load_encoder(args.encoder)
    encoder.eval()
    tokenizer.build_inputs_with_special_tokens = lambda ids: [tokenizer.cls_token_id] + ids + [tokenizer.sep_token_id]
    encoder.config.transformer_type = "bert"
    encoder.config.num_labels = 1 + len(relations)
    reference, their = load_reference(args, docs, tokenizer)
    print(f"{len(docs)} Re-DocRED dev documents (<= 42 entities), encoder {args.encoder}, float32, "
          f"{args.threads} threads")

    setup = Setup(docs, relations, tokenizer, encoder, args.batch_size)
    default = {name: setup.features(marker=MODELS[name].default_marker) for name in MODELS}
    dedup = setup.features(dedup_mentions=True)
    compare_atlop(setup, reference["atlop"], their["atlop"], default["atlop"], dedup)
    compare_docunet(setup, reference["docunet"], their["docunet"], default["docunet"])
    compare_kd_docre(setup, reference["kd-docre"], their["kd-docre"], default["kd-docre"], dedup)
    print("Long inputs")
    for line in window_parity(reference["atlop"]["long_seq"], encoder, default["atlop"]):
        print(line)
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
