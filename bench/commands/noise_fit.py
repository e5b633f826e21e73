"""`docrobust noise fit`: fit the annotator-noise model (docrobust.noise.annotator) to an aligned low/high pair.

It joins the `noise` group of noise.py; the model it writes is the `model=` of the `annotator:RATE` noise spec.
"""
from __future__ import annotations

import math

import click

from docrobust.base import DocrobustError, atomic_write_json, check_io, sha256_file
from docrobust.corpus import load_docs
from docrobust.corpus.data import resolve_path
from docrobust.noise.annotator import BASELINES, fit_annotator

from .noise import noise


@noise.command()
@click.argument("low")
@click.argument("high", nargs=-1, required=True)
@click.option("--out", required=True, metavar="annotator.json", help="Write the fitted model here (JSON).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds (by document) of the held-out fit-quality report.")
@click.option("--C", "C", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Inverse L2 strength of the logistic regressions (scikit-learn's C).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the fold split.")
@click.pass_obj
def fit(obj: dict, low: str, high: tuple[str, ...], out: str, folds: int, C: float, seed: int) -> None:
    """Fit how the annotators of LOW miss (and add) triples of HIGH (several files allowed): the model of
    `annotator:RATE,model=OUT`, with its held-out fit quality against the per-relation profile and uniform."""
    if not math.isfinite(C):  # click's range lets nan and inf through
        raise DocrobustError(f"noise fit: --C {C}: give a finite number > 0")
    data_dir = obj["data_dir"]
    low_path, high_paths = resolve_path(low, data_dir), [resolve_path(f, data_dir) for f in high]
    check_io([low_path, *high_paths], [out], force=True)
    sources = {"low": [{"path": str(low_path), "sha256": sha256_file(low_path)}],
               "high": [{"path": str(p), "sha256": sha256_file(p)} for p in high_paths]}
    model = fit_annotator(load_docs(low_path), [d for p in high_paths for d in load_docs(p)], C=C, folds=folds,
                          seed=seed, sources=sources)
    atomic_write_json(out, model)
    fit_, held = model["training"], model["held_out"]
    click.echo(f"aligned {fit_['documents']:,} documents: {fit_['triples']:,} true triples, {fit_['missed']:,} missed "
               f"(rate {fit_['miss_rate']:.3f}), {fit_['pairs_missed_whole']:,} of {fit_['pairs']:,} labeled pairs "
               f"missed whole, {fit_['added']:,} wrong relations added on labeled pairs "
               f"({fit_['added_on_unlabeled_pairs']:,} elsewhere, not modelled)")
    pairs = held["pairs_with_several_relations"]
    click.echo(f"held out, {held['method'].split(':')[0]}: {held['triples']:,} triples; pairs with several relations "
               f"missed whole: {pairs['observed_missed_whole']:.3f} observed of {pairs['pairs']:,}")
    click.echo(f"  {'':<26}{'log-lik/triple':>15}{'ROC AUC':>9}{'whole pairs':>12}")
    ll = held["log_likelihood_per_triple"]
    click.echo(f"  {'annotator, joint by pair':<26}{ll['annotator (with its pair stage)']:>15.4f}")
    for name in BASELINES:
        auc = held["roc_auc_missed"][name]
        click.echo(f"  {name:<26}{ll[name]:>15.4f}{'' if auc is None else f'{auc:.3f}':>9}{pairs[name]:>12.3f}")
    click.echo(f"  calibration by sentence distance (observed / {' / '.join(BASELINES)}):")
    for row in held["calibration_by_distance"]:
        click.echo(f"    {row['bucket']:<18}{row['triples']:>7,}  {row['observed']:.3f} / "
                   + " / ".join(f"{row[name]:.3f}" for name in BASELINES))
    click.echo(f"wrote {out}")


commands: list = []  # `fit` is a subcommand of the noise group, added above
