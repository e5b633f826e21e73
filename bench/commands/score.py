"""`docrobust score`: DocRED's official F1, Ign F1 and Evi F1 for a prediction file."""
from __future__ import annotations

import json

import click

from docrobust.base import DocrobustError
from docrobust.corpus.data import resolve_path
from docrobust.corpus.score import IGN_VARIANTS, format_score, score_files


@click.command()
@click.option("--gold", required=True, metavar="GOLD.json", help="Documents with the gold labels.")
@click.option("--pred", required=True, metavar="RESULT.json", help='Predictions: [{"title", "h_idx", "t_idx", "r"[, "evidence"]}].')
@click.option("--train", metavar="TRAIN", help="Training file (DocRED JSON or .fact) for Ign F1.")
@click.option("--ign-variant", type=click.Choice(list(IGN_VARIANTS)), default="official", show_default=True,
              help="Ign F1 as DocRED's evaluation.py defines it, or ATLOP's (1e-5 added to Ign precision's denominator).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (fractions in [0, 1]).")
@click.option("--per-doc/--no-per-doc", default=False, help="Include per-document counts in --json output.")
@click.pass_obj
def score(obj: dict, gold: str, pred: str, train: str | None, ign_variant: str, as_json: bool, per_doc: bool) -> None:
    """Score predictions with DocRED's official definitions."""
    data_dir = obj["data_dir"]
    train_path = resolve_path(train, data_dir) if train else None
    result = score_files(resolve_path(gold, data_dir), resolve_path(pred, data_dir), train_path, ign_variant)
    if not result["n_gold"]:
        raise DocrobustError(f"{gold}: no document has a label, so there is nothing to score against (is it a file "
                          "with its labels withheld?)")
    if not per_doc:
        result.pop("per_doc")
    click.echo(json.dumps(result, indent=1) if as_json else format_score(result))


commands = [score]
