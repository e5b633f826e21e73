"""The `docrobust` command: one click group over data, noise, scoring, training, benchmarks and reports.

Each module in `docrobust.bench.commands` contributes its commands through a `commands` list, so a new
command is one module; they meet in one registry (COMMANDS), which refuses a name defined twice. Bad input
raises DocrobustError, and an OSError names the file the system refused; either is printed one line per
problem (never a traceback) and the command exits with status 2.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from docrobust import __version__
from docrobust.base import DocrobustError, Registry, load_entry_points
from docrobust.corpus.data import resolve_data_dir

from . import commands as commands_pkg


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="docrobust")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="DOCROBUST_DATA", show_envvar=True,
              help="Where DocRED-family data lives [default: ~/.cache/docrobust].")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None) -> None:
    """docrobust: how well does a DocRE model hold up when its training labels are wrong?"""
    load_entry_points()  # installed packages' plugins (entry point group docrobust.plugins)
    ctx.obj = {"data_dir": resolve_data_dir(data_dir)}


COMMANDS: Registry[click.Command] = Registry("command")  # two modules defining one command name is an error
for _info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
    for _command in getattr(importlib.import_module(f"{commands_pkg.__name__}.{_info.name}"), "commands", []):
        cli.add_command(COMMANDS.add(_command.name, _command))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: bad input (DocrobustError) and an input or output the system refuses (OSError: a
    read-only folder, a full disk) become one line per problem on stderr and exit status 2, never a traceback."""
    try:
        status = cli.main(args=argv, prog_name="docrobust", standalone_mode=False)
    except DocrobustError as e:
        for line in e.problems:  # whoever raises caps long lists ("... and 3,826 more problems")
            click.echo(f"error: {line}", err=True)
        sys.exit(2)
    except OSError as e:
        where = "".join(f"{name}: " for name in (e.filename, e.filename2) if name is not None)
        click.echo(f"error: {where}{e.strerror or e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
