"""`docrobust audit ...`: find missing and wrong labels in a training set, apply the findings, score them.

    docrobust audit TRAIN.json --out audit/                      cross-fit, rank, write the lists and the page
    docrobust audit apply TRAIN.json audit/ --add-top 500 --out fixed.json
    docrobust audit score TRAIN.json audit/ --manifest TRAIN.manifest.json | --truth BETTER.json ...
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from docrobust.base import DocrobustError, check_io, folder_built_beside, read_json, sha256_file
from docrobust.corpus import RelationInventory, check_labeled, load_docs
from docrobust.corpus.data import resolve_path
from docrobust.corpus.relations import inventory_for, inventory_path
from docrobust.noise import manifest_path, write_noisy

from docrobust.audit import (AUDIT_FINE_TUNING, AUDIT_TRAINING, apply_audit, read_audit, read_summary, run_audit,
                             score_audit, truth_from_docs, truth_from_manifest)

from .options import TrainingCommand, given, plugin_option
from .train import parse_options

# The training options the audit takes (the others are the audit's own: --seed also draws the folds, --fine-tune
# sets freeze_encoder).
TRAINING_FIELDS = ("encoder", "model", "loss", "epochs", "batch_size", "lr_head", "max_len", "device", "num_threads")


def _shown_defaults() -> dict[str, str]:
    """Each training option's [default: ...]: the audit's own, and the --fine-tune one where it differs."""
    both = {k: (AUDIT_TRAINING.get(k), AUDIT_FINE_TUNING.get(k)) for k in TRAINING_FIELDS}
    return {k: f"{plain}" if plain == tuned else f"{plain}; {tuned} with --fine-tune"
            for k, (plain, tuned) in both.items() if plain is not None}


class AuditGroup(click.Group):
    """`audit TRAIN.json ...` is `audit run TRAIN.json ...`; `audit apply|score|run ...` name their subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=AuditGroup)
def audit() -> None:
    """Label-error audit: rank the missing and the wrong labels of a training set (`audit TRAIN.json --out DIR`),
    write a corrected file (`audit apply`), measure the lists against known errors (`audit score`)."""


@audit.command(cls=TrainingCommand, fields=TRAINING_FIELDS, shown_defaults=_shown_defaults())
@plugin_option
@click.argument("train_path", metavar="TRAIN.json")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for candidates.csv, suspicious.csv, scores.npz, audit.json and audit.html.")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="Cross-fitting folds.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Folds and training seed.")
@click.option("--fine-tune", is_flag=True, help="Fine-tune the encoder in every fold instead of reading frozen "
              "features from the feature store (a GPU's job).")
@click.option("--relations", metavar="DIR|FILE|infer",
              help="Relation inventory [default: the data folder's meta/, else inferred from the labels].")
@click.option("--model-option", multiple=True, metavar="KEY=VALUE",
              help="Model option [default: emb_size=128 block_size=16; the model's own sizes with --fine-tune].")
@click.option("--loss-option", multiple=True, metavar="KEY=VALUE", help="Loss option, repeatable.")
@click.option("--top", type=click.IntRange(min=1), default=20000, show_default=True,
              help="Missing-label candidates written to candidates.csv (suspicious.csv holds every label).")
@click.option("--page-rows", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Rows of each list on the review page.")
@click.option("--adjust", is_flag=True, help="Subtract cleanlab's per-relation confident thresholds before ranking.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--force", is_flag=True, help="Replace an earlier audit in --out. An interrupted audit needs no --force: "
              "it is built in .OUT.partial beside --out, whose folds scored with the same settings are read back.")
@click.pass_obj
def run(obj: dict, train_path: str, out_dir: str, folds: int, seed: int, relations: str | None, model_option: tuple,
        loss_option: tuple, top: int, page_rows: int, adjust: bool, fine_tune: bool, quiet: bool, force: bool,
        **overrides) -> None:
    """Cross-fit a model over TRAIN's documents and rank its unlabeled triples (missing-label candidates) and its
    labels (suspicious labels) by out-of-fold score."""
    from docrobust.models.config import TrainConfig  # torch: only when the audit runs
    from docrobust.models.registry import check_model_options

    data_dir = obj["data_dir"]
    source = resolve_path(train_path, data_dir)
    settings = given(overrides)
    defaults = AUDIT_FINE_TUNING if fine_tune else AUDIT_TRAINING
    # every model takes the model options given
    model_options = {**defaults["model_options"], **parse_options(model_option, "--model-option")}
    config = TrainConfig.from_dict({**defaults, **settings, "seed": seed, "model_options": model_options,
                                    "progress": not quiet, "loss_options": parse_options(loss_option, "--loss-option")})
    check_model_options(config.model, config.model_options)  # before an encoder or a document is read
    local_encoder = Path(config.encoder) if config.encoder and Path(config.encoder).exists() else None
    check_io([source, inventory_path(relations, data_dir), local_encoder], folders=[out_dir], force=force)
    inventory = inventory_for(relations, data_dir, infer_if_missing=True)
    docs = load_docs(source, inventory)
    inventory = inventory or RelationInventory.from_docs(docs)
    check_labeled(docs, source, "the audit learns from the labels a set has")
    # built in a sibling kept on failure (.OUT.partial), whose scored folds the next run reads back
    with folder_built_beside(out_dir, resumable=True) as work:
        summary = run_audit(docs, inventory, config, work, folds=folds, seed=seed, top=top, page_rows=page_rows,
                            adjust=adjust, source=source)
    counts, out = summary["counts"], Path(out_dir)
    click.echo(f"audited {counts['documents']:,} documents ({counts['pairs']:,} entity pairs, {counts['labels']:,} "
               f"labels) in {summary['seconds']['total']:.0f} s with {folds} folds")
    click.echo(f"wrote {out / 'candidates.csv'} ({counts['candidates_written']:,} missing-label candidates), "
               f"{out / 'suspicious.csv'} ({counts['suspicious_written']:,} labels ranked), "
               f"{out / 'audit.html'}, {out / 'audit.json'}")


@audit.command()
@click.argument("train_path", metavar="TRAIN.json")
@click.argument("audit_dir", metavar="AUDIT/")
@click.option("--add-top", type=click.IntRange(min=0), metavar="K", help="Add the first K missing-label candidates.")
@click.option("--add-above", type=float, metavar="S", help="Add every candidate scoring above S.")
@click.option("--drop-below", type=float, metavar="S", help="Remove every label scoring below S.")
@click.option("--out", required=True, metavar="FIXED.json", help="Corrected file; its manifest goes to FIXED.manifest.json.")
@click.option("--force", is_flag=True, help="Overwrite FIXED.json and its manifest.")
@click.pass_obj
def apply(obj: dict, train_path: str, audit_dir: str, add_top: int | None, add_above: float | None,
          drop_below: float | None, out: str, force: bool) -> None:
    """Write TRAIN with the audit's findings applied, plus a manifest of every change in the noise suite's
    format (docrobust.noise.replay rebuilds the file from TRAIN and it). TRAIN is never modified; the lists
    in AUDIT/ may have been filtered by hand."""
    source = resolve_path(train_path, obj["data_dir"])
    out_path = Path(out)
    check_io([source, audit_dir], [out_path, manifest_path(out_path)], force=force)
    read_summary(audit_dir, source)
    fixed, manifest = apply_audit(load_docs(source), audit_dir, add_top=add_top, add_above=add_above,
                                  drop_below=drop_below, input_sha256=sha256_file(source))
    manifest = write_noisy(fixed, manifest, out_path)
    click.echo(f"{out_path}: {manifest['positives_before']:,} -> {manifest['positives_after']:,} labels ("
               + "; ".join(f"{s['name']}: -{s['n_removed']:,} +{s['n_added']:,}" for s in manifest["steps"])
               + f"); manifest {manifest_path(out_path)}")


@audit.command()
@click.argument("train_path", metavar="TRAIN.json")
@click.argument("audit_dir", metavar="AUDIT/")
@click.option("--manifest", "manifest_file", metavar="NOISY.manifest.json",
              help="TRAIN was made by `noise generate`: its manifest names the true errors.")
@click.option("--truth", multiple=True, metavar="BETTER.json",
              help="Better labels of the same documents (repeatable); only documents that align are scored.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def score(obj: dict, train_path: str, audit_dir: str, manifest_file: str | None, truth: tuple[str, ...],
          as_json: bool) -> None:
    """Precision@k, recall@k and average precision of both lists against known errors, beside the base rate."""
    data_dir = obj["data_dir"]
    if bool(manifest_file) == bool(truth):
        raise DocrobustError("audit score: give --manifest NOISY.manifest.json or --truth BETTER.json (one of them)")
    source = resolve_path(train_path, data_dir)
    result = score_audit_files(source, audit_dir, manifest_file and resolve_path(manifest_file, data_dir),
                               [resolve_path(p, data_dir) for p in truth])
    click.echo(json.dumps(result, indent=1) if as_json else format_audit_score(result))


def score_audit_files(source: Path, audit_dir: str | Path, manifest_file: Path | None, truth: list[Path]) -> dict:
    """score_audit for the files `audit score` is given."""

    audit_ = read_audit(audit_dir, source)
    if manifest_file:
        manifest = read_json(manifest_file)
        if manifest.get("output_sha256") != sha256_file(source):
            raise DocrobustError(f"{manifest_file}: is not the manifest of {source} (its output_sha256 differs)")
        missing, wrong = truth_from_manifest(manifest)
        return {"truth": str(manifest_file), **score_audit(audit_, missing, wrong)}
    missing, wrong, titles = truth_from_docs(load_docs(source), [d for p in truth for d in load_docs(p)])
    if not titles:
        raise DocrobustError(f"{', '.join(map(str, truth))}: no document aligns with {source} (same title and entities)")
    return {"truth": [str(p) for p in truth], **score_audit(audit_, missing, wrong, titles)}


def format_audit_score(result: dict) -> str:
    lines = [f"{result['documents']:,} documents scored against {result['truth']}"]
    for name, what in (("candidates", "missing-label candidates"), ("suspicious", "suspicious labels")):
        m = result[name]
        lines.append(f"{what}: {m['true']:,} true errors among {m['ranked']:,} ranked (base rate {m['base_rate']:.4%})")
        for k in ("100", "1,000", "n_true"):
            shown = f"{m['true']:,} (n_true)" if k == "n_true" else k
            lines.append(f"  precision@{shown:<14} {m[f'precision@{k}']:7.2%}   recall {m[f'recall@{k}']:7.2%}")
        lines.append(f"  average precision {m['average_precision']:.4f} ({m['average_precision'] / m['base_rate']:.0f}x "
                     f"the base rate)" if m["base_rate"] else "  average precision 0 (nothing to find)")
    return "\n".join(lines)


commands = [audit]
