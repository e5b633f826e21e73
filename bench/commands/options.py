"""Command-line options generated from TrainConfig's fields, so that `train` and `audit` declare none by hand.

`--batch-size` is `batch_size`: its type, help and default come from the field (docrobust.models.config), and an
option left out is None, which leaves the config's own default (or the command's) in place. Values are checked
when the TrainConfig is made, by the same annotations as bench.toml's [training].

    @click.command(cls=TrainingCommand, fields=("epochs", "lr_head"), shown_defaults={"epochs": "8"})
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import click

from docrobust.base import field_help, load_plugins, plain_type

# Fields with options of their own (KEY=VALUE lists, HEAD,TAIL pairs, --quiet, --checkpoint) or no command-line use.
NOT_OPTIONS = ("model_options", "loss_options", "pair_types", "progress", "save_checkpoint")


def _click_type(hint: Any) -> tuple[Any, bool]:
    """(click type, whether it is a flag) of a field's annotation."""
    hint = plain_type(hint)
    if hint is bool:
        return None, True
    if typing.get_origin(hint) is typing.Literal:
        return click.Choice(typing.get_args(hint)), False
    return (hint if hint in (int, float) else str), False


def training_options(fields: Iterable[str] | None = None, shown_defaults: Mapping[str, str] | None = None,
                     required: Iterable[str] = ()) -> list[click.Option]:
    """An option for each TrainConfig field in `fields` (default: every field but NOT_OPTIONS), in the fields'
    order; `shown_defaults` replaces the `[default: ...]` of a command whose own defaults differ, and the
    `required` ones have none."""
    from docrobust.models.config import TrainConfig  # imports torch: only when the command runs or shows its help

    hints = typing.get_type_hints(TrainConfig, include_extras=True)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    shown_defaults = shown_defaults or {}
    options = []
    for name in fields if fields is not None else [n for n in hints if n not in NOT_OPTIONS]:
        kind, flag = _click_type(hints[name])
        shown = shown_defaults.get(name, None if flag or defaults[name] is None or name in required
                                   else str(defaults[name]))
        help_text = (field_help(hints[name]) or "") + (f" [default: {shown}]" if shown is not None else "")
        options.append(click.Option([f"--{name.replace('_', '-')}", name], is_flag=flag, default=None,
                                    required=name in required, help=help_text.strip(),
                                    **({} if flag else {"type": kind})))
    return options


class TrainingCommand(click.Command):
    """A command with TrainConfig options (training_options), made when the command is first parsed or shown,
    so that `docrobust --help` and the commands without them do not import torch."""

    def __init__(self, *args: Any, fields: Iterable[str] | None = None,
                 shown_defaults: Mapping[str, str] | None = None, required: Iterable[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._training: tuple | None = (fields, shown_defaults, tuple(required))

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if self._training is not None:
            self.params += training_options(*self._training)
            self._training = None
        return super().get_params(ctx)


def _load_plugins(ctx: click.Context, param: click.Parameter, specs: tuple[str, ...]) -> None:
    load_plugins(specs)


# `--plugin` on every command that takes a model, loss or noise model by name: loaded before any other option.
plugin_option = click.option("--plugin", "plugins", multiple=True, metavar="PATH|MODULE", expose_value=False,
                             is_eager=True, callback=_load_plugins,
                             help="A plugin file or module that registers losses, models or noise models "
                                  "(repeatable; README: Plugins).")


def given(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options given on the command line: those not None (flags left out are None too)."""
    return {k: v for k, v in values.items() if v is not None}
