"""`docrobust train`: train one model with one loss, select the best dev epoch, score the test set."""
from __future__ import annotations

import json
from pathlib import Path

import click

from docrobust.base import DocrobustError, check_io, folder_built_beside
from docrobust.corpus import RelationInventory, check_labeled, load_docs, load_train_facts
from docrobust.corpus.data import resolve_path
from docrobust.corpus.relations import inventory_for, inventory_path
from docrobust.corpus.score import format_score

from .options import TrainingCommand, given, plugin_option


def parse_pair_types(values: tuple[str, ...]) -> list[list[str]] | None:
    """--pair-types HEAD,TAIL values as [[head, tail], ...]; None when none is given."""
    pairs = [[x.strip() for x in v.split(",")] for v in values]
    bad = [v for v, p in zip(values, pairs) if len(p) != 2 or not all(p)]
    if bad:
        raise click.BadParameter(f"{bad[0]!r}: expected HEAD,TAIL entity types, e.g. Chemical,Disease")
    return pairs or None


def parse_options(pairs: tuple[str, ...], flag: str) -> dict:
    """KEY=VALUE strings to a dict; VALUE is read as JSON when it parses (0.3, true, [1, 2]), else kept as text."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DocrobustError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. {flag} m=0.3")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@click.command(cls=TrainingCommand, required=("encoder",))
@plugin_option
@click.option("--train", "train_path", required=True, metavar="TRAIN.json", help="Training documents (DocRED JSON).")
@click.option("--dev", "dev_path", required=True, metavar="DEV.json", help="Dev documents: the best epoch by their F1.")
@click.option("--test", "test_path", metavar="TEST.json", help="Test documents, scored with the best epoch.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the run's files.")
@click.option("--train-facts", metavar="FILE", help="Facts for Ign F1 (.fact or DocRED JSON) [default: the training file's].")
@click.option("--relations", metavar="DIR|FILE|infer",
              help="Relation inventory: folder or rel2id.json, or infer from the labels [default: the data folder's meta/].")
@click.option("--loss-option", multiple=True, metavar="KEY=VALUE", help="Loss option, repeatable (VALUE read as JSON).")
@click.option("--model-option", multiple=True, metavar="KEY=VALUE", help="Model option, repeatable (VALUE read as JSON).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache featurized documents here.")
@click.option("--checkpoint", is_flag=True, help="Also write checkpoint.pt (the best state).")
@click.option("--pair-types", multiple=True, metavar="HEAD,TAIL", callback=lambda ctx, param, v: parse_pair_types(v),
              help="Only pairs of these entity types are trained, predicted and scored (repeatable; CDR: "
                   "Chemical,Disease) [default: every pair].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--force", is_flag=True, help="Replace the run already in --out.")
@click.pass_obj
def train(obj: dict, train_path: str, dev_path: str, test_path: str | None, train_facts: str | None,
          relations: str | None, loss_option: tuple[str, ...], model_option: tuple[str, ...], out_dir: str,
          cache_dir: str | None, checkpoint: bool, quiet: bool, force: bool, **overrides) -> None:
    """Train MODEL with LOSS on TRAIN, keep the epoch with the best dev F1, and score TEST with it.

    Writes result.json, metrics.json, train_log.jsonl and config.json into --out (a new or empty folder,
    or with --force one holding an earlier run).
    """
    from docrobust.models.registry import check_model_options
    from docrobust.models.train import TrainConfig, train as run_training

    data_dir = obj["data_dir"]
    settings = given(overrides)  # the training options given on the command line (the rest: TrainConfig's defaults)
    config = TrainConfig.from_dict({**settings, "save_checkpoint": checkpoint, "progress": not quiet,
                                    "loss_options": parse_options(loss_option, "--loss-option"),
                                    "model_options": parse_options(model_option, "--model-option")})
    check_model_options(config.model, config.model_options)  # before an encoder or a document is read
    paths = {name: resolve_path(p, data_dir) if p else None
             for name, p in (("train", train_path), ("dev", dev_path), ("test", test_path), ("facts", train_facts))}
    local_encoder = Path(config.encoder) if Path(config.encoder).exists() else None
    check_io([*paths.values(), inventory_path(relations, data_dir), local_encoder, cache_dir, config.kd_teacher_logits],
             folders=[out_dir], force=force)
    inventory = inventory_for(relations, data_dir)
    docs = {name: load_docs(paths[name], inventory) if paths[name] else None for name in ("train", "dev", "test")}
    if inventory is None:
        inventory = RelationInventory.from_docs([d for part in docs.values() if part for d in part])
    for name, why in (("train", "there is nothing to learn from"),
                      ("dev", "the best epoch is the one with the best dev F1, which needs labeled dev documents"),
                      ("test", "test F1 needs labels (leave --test out to train without scoring a test set)")):
        if docs[name] is not None:
            check_labeled(docs[name], paths[name], why)
    facts = load_train_facts(paths["facts"]) if train_facts else None

    with folder_built_beside(out_dir) as work:  # a failed run leaves no half-written --out behind
        metrics = run_training(config, docs["train"], docs["dev"], docs["test"], relations=inventory, train_facts=facts,
                               out_dir=work, cache_dir=cache_dir)
    click.echo(f"best epoch {metrics['best_epoch']} of {len(metrics['epochs'])}; dev:\n{format_score(metrics['dev'])}")
    if "test" in metrics:
        click.echo(f"test:\n{format_score(metrics['test'])}")
    click.echo(f"wrote {Path(out_dir) / 'result.json'} and metrics.json")


commands = [train]
