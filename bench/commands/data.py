"""`docrobust data ...`: list, download, validate, describe and compare DocRED-family files."""
from __future__ import annotations

import json

import click

from docrobust.base import DocrobustError, read_json
from docrobust.corpus import RelationInventory, load_docs
from docrobust.corpus.align import align
from docrobust.corpus.relations import inventory_for, relation_names
from docrobust.corpus.data import (CONVERTED, conversion_record_path, download as download_file, expand, known_names,
                                   resolve_path, status as data_status)
from docrobust.corpus.stats import corpus_stats


def load_input(path: str, data_dir, relations: RelationInventory | None = None) -> list[dict]:
    return load_docs(resolve_path(path, data_dir), relations)


relations_option = click.option(
    "--relations", metavar="infer|PATH",
    help="Relation inventory: a rel2id.json/rel_info.json file or a folder with them, or 'infer' from the labels "
         "[default: the data folder's meta/, else inferred].")


@click.group()
def data() -> None:
    """Known data files: list, download, validate, stats, diff."""


@data.command("list")
@click.option("--check", is_flag=True, help="Also verify checksums of the files present.")
@click.pass_obj
def list_(obj: dict, check: bool) -> None:
    """Show the known files and which are present in the data folder."""
    click.echo(f"data folder: {obj['data_dir']}")
    for row in data_status(obj["data_dir"], check=check):
        click.echo(f"  {row['name']:<20} {row['state']:<8} {row['path']:<30} {row['description']}")


@data.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Download every known file.")
@click.option("--mirror", metavar="URL", envvar="DOCROBUST_MIRROR", help="Base URL of a mirror with the same layout.")
@click.option("--force", is_flag=True, help="Download again even if a verified copy is present.")
@click.pass_obj
def download(obj: dict, names: tuple[str, ...], all_: bool, mirror: str | None, force: bool) -> None:
    """Download NAMES (see `data list`) into the data folder, verifying each checksum.

    A converted name (cdr-train) fetches its sources and converts them to DocRED JSON; a bundle (cdr) is its
    converted files."""
    if not names and not all_:
        raise click.UsageError("name at least one file (see `docrobust data list`) or pass --all")
    for name in expand(known_names() if all_ else names):
        path = download_file(name, obj["data_dir"], mirror=mirror, force=force)
        click.echo(f"{name}: {path}")
        if name in CONVERTED:
            record = read_json(conversion_record_path(path))
            click.echo("".join(f"  {line}\n" for line in record["summary"]), nl=False)


@data.command()
@click.argument("files", nargs=-1, required=True)
@relations_option
@click.pass_obj
def validate(obj: dict, files: tuple[str, ...], relations: str | None) -> None:
    """Check every one of FILES against the DocRED format; one line per problem, exit 2 if any file has one."""
    inventory = inventory_for(relations, obj["data_dir"], infer_if_missing=True)
    problems = []
    for f in files:
        try:
            docs = load_input(f, obj["data_dir"], inventory)
        except DocrobustError as e:
            problems += e.problems
            continue
        click.echo(f"{f}: {len(docs):,} documents, valid")
    if problems:
        raise DocrobustError(problems)


@data.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--top", default=15, show_default=True, help="Relations to list.")
@click.pass_obj
def stats(obj: dict, file: str, as_json: bool, top: int) -> None:
    """Documents, entities, mentions, labels, labels per relation, intra/inter-sentence share."""
    result = corpus_stats(load_input(file, obj["data_dir"]))
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    for key in ("documents", "sentences", "tokens", "entities", "mentions", "entity_pairs", "labels"):
        click.echo(f"{key:>14}: {result[key]:,}")
    click.echo(f"{'intra/inter':>14}: {100 * result['intra_share']:.1f}% / {100 * result['inter_share']:.1f}% of labels")
    names = relation_names(obj["data_dir"])
    click.echo(f"{'relations':>14}: {len(result['labels_per_relation'])} used; the {top} most frequent:")
    for r, n in list(result["labels_per_relation"].items())[:top]:
        click.echo(f"{'':>16}{r:<7} {n:>6,}  {names.get(r, '')}")


@data.command()
@click.argument("low")
@click.argument("high", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--top", default=15, show_default=True, help="Relations to list.")
@click.pass_obj
def diff(obj: dict, low: str, high: tuple[str, ...], as_json: bool, top: int) -> None:
    """Compare two label versions of the same documents: LOW (e.g. DocRED) against HIGH (e.g. Re-DocRED, several files allowed)."""
    high_docs = [d for f in high for d in load_input(f, obj["data_dir"])]
    alignment = align(load_input(low, obj["data_dir"]), high_docs)
    result = alignment.diff()
    if as_json:
        click.echo(json.dumps({**result, "entity_mismatch_titles": alignment.entity_mismatch}, indent=1))
        return
    click.echo(f"aligned {result['aligned']} documents; {result['entity_mismatch']} have different entities "
               f"(not compared); {result['only_low']} only in LOW, {result['only_high']} only in HIGH")
    click.echo(f"labels: {result['low_labels']:,} in LOW, {result['high_labels']:,} in HIGH; "
               f"{result['added']:,} added, {result['removed']:,} removed, {result['kept']:,} kept")
    names = relation_names(obj["data_dir"])
    rows = sorted(result["per_relation"].items(), key=lambda kv: -(kv[1]["added"] + kv[1]["removed"]))[:top]
    click.echo(f"  {'relation':<8} {'added':>7} {'removed':>8} {'kept':>6}")
    for r, c in rows:
        click.echo(f"  {r:<8} {c['added']:>7,} {c['removed']:>8,} {c['kept']:>6,}  {names.get(r, '')}")


commands = [data]
