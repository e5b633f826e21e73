"""The authors' code as benchmarks/parity.py runs it: their modules imported unchanged with stand-ins for what they
import but the comparison does not reach, their prepro run on our documents, and our head weights mapped onto theirs.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import tempfile
import types
from argparse import Namespace
from pathlib import Path

import torch
from torch import nn

REFERENCE_MODULES = ("prepro", "model", "model_balanceloss", "long_seq", "losses", "attn_unet", "element_wise", "utils")


# ----------------------------------------------------------------------------- importing the reference

def install_stand_ins() -> None:
    """Modules the reference imports that this comparison does not reach, or that this environment lacks."""
    sys.modules.setdefault("ujson", json)
    opt_einsum = types.ModuleType("opt_einsum")
    opt_einsum.contract = torch.einsum
    sys.modules["opt_einsum"] = opt_einsum
    overrides = types.ModuleType("overrides")
    overrides.overrides = lambda f: f
    sys.modules.setdefault("overrides", overrides)
    names = ("allennlp", "allennlp.modules", "allennlp.modules.matrix_attention",
             "allennlp.modules.matrix_attention.matrix_attention")
    for name in names:
        sys.modules.setdefault(name, types.ModuleType(name))
    class MatrixAttention(nn.Module):
        register = staticmethod(lambda name: lambda cls: cls)   # allennlp's registry decorator, a no-op here

    for cls in ("DotProductMatrixAttention", "CosineMatrixAttention", "BilinearMatrixAttention", "MatrixAttention"):
        setattr(sys.modules[names[2]], cls, MatrixAttention)
        setattr(sys.modules[names[3]], cls, MatrixAttention)


def import_reference(checkout: Path, names: tuple[str, ...], workdir: Path) -> dict[str, types.ModuleType]:
    """The reference's modules `names`, imported from `checkout` with `workdir` as the working directory; module
    names the three repositories share (model, losses, long_seq...) are dropped afterwards so the next can load."""
    for name in REFERENCE_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(checkout))
    here = os.getcwd()
    os.chdir(workdir)
    try:
        return {name: importlib.import_module(name) for name in names}
    finally:
        os.chdir(here)
        sys.path.remove(str(checkout))
        for name in REFERENCE_MODULES:
            sys.modules.pop(name, None)


class TupleOutput(nn.Module):
    """The encoder as transformers 4 returned it to the reference: (last hidden state, ..., attentions), so its
    `output[0]` and `output[-1][-1]` read the states and the last layer's attention (transformers 5's output holds
    an empty cross-attentions tuple last)."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, **inputs):
        out = self.encoder(**inputs)
        return out.last_hidden_state, out.attentions


def load_reference(args: Namespace, docs: list[dict], tokenizer) -> tuple[dict[str, dict[str, types.ModuleType]],
                                                                           dict[str, list[dict]]]:
    """The three repositories' modules (by model name) and their prepro's features of `docs`, read in a temporary
    folder holding the data's meta/rel2id.json and KD-DocRE's meta/ner2id.json (their prepro reads them at import)."""
    install_stand_ins()
    sys.path.insert(0, str(args.axial_attention))
    work = Path(tempfile.mkdtemp(prefix="parity-"))
    try:
        (work / "meta").mkdir()
        shutil.copy(Path(args.data) / "meta" / "rel2id.json", work / "meta" / "rel2id.json")
        shutil.copy(args.kd_docre / "meta" / "ner2id.json", work / "meta" / "ner2id.json")
        docs_file = work / "docs.json"
        docs_file.write_text(json.dumps(docs), encoding="utf-8")
        atlop = import_reference(args.atlop, ("prepro", "model", "long_seq"), work)
        docunet = import_reference(args.docunet, ("prepro", "model_balanceloss"), work)
        kd = import_reference(args.kd_docre, ("prepro", "model", "losses"), work)
        their = {"atlop": atlop["prepro"].read_docred(str(docs_file), tokenizer),
                 "docunet": docunet["prepro"].read_docred("bert", str(docs_file), str(work / "docunet.pkl"), tokenizer),
                 "kd-docre": kd["prepro"].read_docred(str(docs_file), tokenizer)}
    finally:
        shutil.rmtree(work)
    return {"atlop": atlop, "docunet": docunet, "kd-docre": kd}, their


# ----------------------------------------------------------------------------- weights: ours -> theirs

def bilinear_weight(layer) -> torch.Tensor:
    """Our GroupedBilinear weight [k, b*b, out] as ATLOP's nn.Linear(emb_size * block_size, out).weight [out, k*b*b]."""
    return layer.weight.detach().reshape(-1, layer.weight.shape[2]).t().clone()


def extractors(ours) -> dict[str, torch.Tensor]:
    return {f"{side}.{p}": getattr(getattr(ours, side), p).detach().clone()
            for side in ("head_extractor", "tail_extractor") for p in ("weight", "bias")}


def atlop_weights(ours) -> dict[str, torch.Tensor]:
    return {**extractors(ours), "bilinear.weight": bilinear_weight(ours.bilinear),
            "bilinear.bias": ours.bilinear.bias.detach()}


def docunet_weights(ours) -> dict[str, torch.Tensor]:
    where = {"inc": "inc.conv.double_conv", "down1": "down1.maxpool_conv.1.double_conv",
             "down2": "down2.maxpool_conv.1.double_conv", "up1": "up1.conv.double_conv", "up2": "up2.conv.double_conv",
             "out": "outc.conv"}
    unet = {f"segmentation_net.{where[k.split('.')[0]]}.{k.split('.', 1)[1]}": v.clone()
            for k, v in ours.unet.state_dict().items()}
    return {**atlop_weights(ours), **unet, "liner.weight": ours.channels.weight.detach(),
            "liner.bias": ours.channels.bias.detach()}


def kd_weights(ours) -> dict[str, torch.Tensor]:
    D = ours.hidden_size
    out = {**extractors(ours), "projection.weight": bilinear_weight(ours.projection),
           "classifier.weight": ours.classifier.weight.detach(), "classifier.bias": ours.classifier.bias.detach()}
    for i, (axial, ffn, norm) in enumerate(zip(ours.axial, ours.ffn, ours.norm)):
        prefix = f"axial_transformer.axial_attns.{i}.axial_attentions"
        for axis, theirs in ((0, 1), (1, 0)):   # ours: 0 along a row (pairs sharing the head); theirs: 1 along dim 2
            qkv = axial.qkv[axis].weight.detach()
            out[f"{prefix}.{theirs}.fn.to_q.weight"] = qkv[:D]
            out[f"{prefix}.{theirs}.fn.to_kv.weight"] = qkv[D:]
            out[f"{prefix}.{theirs}.fn.to_out.weight"] = axial.out[axis].weight.detach()
            out[f"{prefix}.{theirs}.fn.to_out.bias"] = axial.out[axis].bias.detach()
        for name, layer in (("ffns", ffn), ("lns", norm)):
            out[f"axial_transformer.{name}.{i}.weight"] = layer.weight.detach()
            out[f"axial_transformer.{name}.{i}.bias"] = layer.bias.detach()
    return out


def load_into(reference: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Copy weights into the reference, every name checked to exist and match in shape."""
    state = reference.state_dict()
    for name, value in weights.items():
        assert name in state and state[name].shape == value.shape, (name, tuple(value.shape))
        state[name].copy_(value)
