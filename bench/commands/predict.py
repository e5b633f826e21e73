"""`docrobust predict`: a saved checkpoint's predictions for new documents, in the official format (result.json's)."""
from __future__ import annotations

import click

from docrobust.base import atomic_write_json, check_io
from docrobust.corpus import load_docs
from docrobust.corpus.data import resolve_path

from .options import plugin_option

FORMATS = ("docred", "pubtator", "chemdisgene-json")


@click.command()
@plugin_option
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.argument("inputs", nargs=-1, required=True, metavar="DOCS...")
@click.option("--out", required=True, metavar="RESULT.json", help='Predictions: [{"title", "h_idx", "t_idx", "r"}].')
@click.option("--from", "fmt", type=click.Choice(FORMATS), default="docred", show_default=True,
              help="The documents' format: DocRED JSON (one file), or converted on the fly as `data convert` does.")
@click.option("--as-trained", is_flag=True,
              help="The threshold as trained, without a calibrated run's dev-chosen offset (the run's result.json).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", type=click.IntRange(1), help="Documents per batch [default: the run's eval_batch_size].")
@click.option("--force", is_flag=True, help="Overwrite RESULT.json.")
@click.pass_obj
def predict(obj: dict, checkpoint: str, inputs: tuple[str, ...], out: str, fmt: str, as_trained: bool, device: str,
            batch_size: int | None, force: bool) -> None:
    """Predict relations in DOCS... with CHECKPOINT (checkpoint.pt of `train --checkpoint`, or its folder).

    The checkpoint's encoder, model, loss threshold and, for a calibrated run, its dev-chosen threshold offset
    decide; documents need no labels. Writes the official prediction format, as the training run's result.json.
    """
    from docrobust.models.checkpoint import load_checkpoint, predict_docs  # torch: only when the command runs

    paths = [resolve_path(p, obj["data_dir"]) for p in inputs]
    if fmt == "docred" and len(paths) > 1:
        raise click.UsageError("--from docred takes one DOCS.json")
    check_io([checkpoint, *paths], [out], force=force)
    docs = load_docs(paths[0]) if fmt == "docred" else _converted(fmt, paths)
    loaded = load_checkpoint(checkpoint, device=device)
    preds = predict_docs(loaded, docs, calibrated=not as_trained, batch_size=batch_size)
    atomic_write_json(out, preds, indent=None)
    offset = "as trained" if as_trained or loaded.offset is None else f"offset {loaded.offset:+g}, chosen on dev"
    click.echo(f"wrote {out}: {len(preds)} relations in {len(docs)} documents (threshold {offset})")


def _converted(fmt: str, paths: list) -> list[dict]:
    """PubTator or ChemDisGene JSON documents as `data convert` converts them (default identifier separators)."""
    from docrobust.corpus.convert import check_converted, to_docred
    from docrobust.corpus.pubtator import read_chemdisgene, read_pubtator

    reader = read_pubtator if fmt == "pubtator" else read_chemdisgene
    docs, _ = to_docred(reader(paths))
    check_converted(docs, str(paths[0]))
    return docs


commands = [predict]
