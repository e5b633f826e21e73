"""`docrobust data convert`: DocRE corpora in other formats to validated DocRED JSON (and a rel_info.json beside it)."""
from __future__ import annotations

from pathlib import Path

import click

from docrobust.base import atomic_write_json, check_io, check_output
from docrobust.corpus import save_docs
from docrobust.corpus.convert import (ID_SEPARATORS, ConversionReport, check_converted, relation_names_of, to_docred,
                                      write_rel_info)
from docrobust.corpus.data import resolve_path

from .data import data

FORMATS = ("hf-docred", "pubtator", "chemdisgene-json")


@data.command()
@click.option("--from", "fmt", type=click.Choice(FORMATS), required=True, help="The input format.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--out", required=True, metavar="OUT.json", help="DocRED JSON; rel_info.json is merged beside it.")
@click.option("--split", help="hf-docred: the split of a saved DatasetDict folder.")
@click.option("--id-separator", default=ID_SEPARATORS, show_default=True,
              help="pubtator, chemdisgene-json: the characters that separate a mention's identifiers (BioRED's ',', "
                   "CDR's and ChemDisGene's '|'; a tmVar variant id such as c|INS|5382|C stays whole).")
@click.option("--dropped", metavar="DROPPED.json", help="Write every dropped mention and relation here.")
@click.option("--force", is_flag=True, help="Overwrite OUT.json.")
@click.pass_obj
def convert(obj: dict, fmt: str, inputs: tuple[str, ...], out: str, split: str | None, id_separator: str,
            dropped: str | None, force: bool) -> None:
    """Convert INPUT... (files of one corpus split) to DocRED JSON at OUT.json.

    \b
    hf-docred         a saved `datasets` folder, a parquet or JSON / JSON Lines export of the hub's docred layout
    pubtator          PubTator text (CDR, GDA, BioRED, ChemDisGene; .gz too); relation files may be separate
    chemdisgene-json  ChemDisGene's JSON (docid, title, abstract, entity, relation)
    """
    paths = [resolve_path(p, obj["data_dir"]) for p in inputs]
    rel_info = Path(out).parent / "rel_info.json"
    check_io(paths, [out, rel_info, dropped], force=True)  # rel_info.json is merged, DROPPED replaced, whatever --force
    out_path = check_output(out, force=force)
    report = ConversionReport()
    if fmt == "hf-docred":
        from docrobust.corpus.hf import from_hf, hf_relation_names, load_hf

        docs, names = [], {}
        for path in paths:
            rows = load_hf(path, split)
            docs += from_hf(rows, str(path))
            names.update(hf_relation_names(rows))
        report.documents, report.relations = len(docs), sum(len(d.get("labels", [])) for d in docs)
        report.entities = sum(len(d.get("vertexSet", [])) for d in docs)
        report.mentions = sum(len(e) for d in docs for e in d.get("vertexSet", []) if isinstance(e, list))
    else:
        from docrobust.corpus.pubtator import read_chemdisgene, read_pubtator

        reader = read_pubtator if fmt == "pubtator" else read_chemdisgene
        docs, report = to_docred(reader(paths, id_separator, report), report)
        names = {}
    check_converted(docs, str(out_path))
    relations = write_rel_info(rel_info, relation_names_of(docs, names))
    if dropped:
        atomic_write_json(dropped, report.dropped)
    save_docs(docs, out_path)  # last: a conversion that fails leaves no OUT.json to block its rerun
    click.echo(f"{out_path}: " + "\n".join(report.summary()))
    click.echo(f"{rel_info}: {len(relations)} relations; check with "
               f"`docrobust data validate {out_path} --relations {rel_info}`")


commands: list = []   # `convert` joins the `data` group defined in data.py
