"""`docrobust models list` and `docrobust losses list`: what the trainer can build, with every option."""
from __future__ import annotations

import click

from docrobust.base import REQUIRED, Option

from .options import plugin_option


def _options(options: dict[str, Option]) -> str:
    """`name=default ...` as bench.toml's [model_options.X] / [loss_options.X] and --model-option / --loss-option take them."""
    return " ".join(f"{o.name}={'REQUIRED' if o.default is REQUIRED else o.default}" for o in options.values()) or "none"


@click.group()
def models() -> None:
    """DocRE models by name (bench.toml [matrix] models, `train --model`)."""


@models.command("list")
@plugin_option
def list_models() -> None:
    """Show every model with its default loss, its options and what it is."""
    from docrobust.models import MODELS  # torch: only for this listing

    for name, summary, options in MODELS.describe():
        click.echo(f"{name:<12} {summary} Default loss: {MODELS[name].default_loss}.\n{'':<12} options: {_options(options)}")


@click.group()
def losses() -> None:
    """Training losses by name (bench.toml [matrix] losses, `train --loss`)."""


@losses.command("list")
@plugin_option
def list_losses() -> None:
    """Show every loss with its options and what it does."""
    from docrobust.models.losses import LOSSES  # torch: only for this listing

    for name, summary, options in LOSSES.describe():
        click.echo(f"{name:<20} {summary}\n{'':<20} options: {_options(options)}")


commands = [models, losses]
