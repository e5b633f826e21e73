"""The one registry behind every name a user chooses: duplicates refused, unknown names answered with the
closest and every known one, options (names and types) read from signatures; the listings print from it."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from docrobust.bench.cli import COMMANDS, cli
from docrobust.bench.backends import BACKENDS
from docrobust.base import REQUIRED, DocrobustError, Option, Registry, signature_options, type_name, type_ok
from docrobust.models import MODELS
from docrobust.models.losses import LOSSES
from docrobust.noise import NOISE_MODELS
from docrobust.reports.plots import FIGURES


def smooth(table, rate, rng, *, width: float = 1.0, kind: str = "box", cap: int | None = None, path) -> None:
    """Smooth the labels.

    More about it."""


def test_duplicates_are_refused_and_unknown_names_say_what_exists():
    things = Registry("thing")
    things.add("uniform", 1)

    @things.register("frequency")
    def frequency(): ...

    assert list(things) == ["uniform", "frequency"] and things["frequency"] is frequency and len(things) == 2
    with pytest.raises(DocrobustError, match=r"thing 'uniform' from builtins is already registered by builtins; give"):
        things.add("uniform", 2)   # an int's source is its type's module
    assert things["uniform"] == 1   # the first entry stays
    with pytest.raises(DocrobustError) as e:
        things["unifrom"]
    assert e.value.problems == ["unknown thing 'unifrom' (did you mean 'uniform'?); known: frequency, uniform"]
    assert things.get("unifrom") is None and "unifrom" not in things and ["x"] not in things


def test_options_come_from_the_signature_with_their_types():
    things = Registry("thing", options=lambda fn: signature_options(fn, keyword_only=True))
    things.add("smooth", smooth)
    assert things.options("smooth") == {"width": Option("width", 1.0, float), "kind": Option("kind", "box", str),
                                        "cap": Option("cap", None, int | None), "path": Option("path", REQUIRED)}
    assert things.option_problems("smooth", {"width": 2, "cap": None, "path": "x", "kind": "tri"}) == []
    assert things.option_problems("smooth", {"widht": 2.0, "width": "2", "cap": True, "kind": 3}) == [
        ("widht", "no such option (did you mean 'width'?); thing 'smooth' takes width, kind, cap, path"),
        ("width", "expected float, got '2'"), ("cap", "expected int or null, got True"), ("kind", "expected str, got 3")]
    with pytest.raises(DocrobustError) as e:
        things.check_options("smooth", {"cap": 1.5})
    assert e.value.problems == ["thing 'smooth' option cap: expected int or null, got 1.5"]
    assert things.describe() == [("smooth", "Smooth the labels.", things.options("smooth"))]


def test_type_checks_read_as_a_config_is_written():
    from collections.abc import Sequence
    from typing import Literal

    assert type_ok(3, float) and not type_ok(True, float) and not type_ok(3.0, int)
    assert type_ok([1, 0.5], Sequence[float]) and not type_ok("abc", Sequence[float]) and not type_ok([1, "a"], list[float])
    assert type_ok("span", Literal["marker", "span"]) and not type_ok("spam", Literal["marker", "span"])
    assert type_name(float | Sequence[float] | None) == "float or list of float or null"


def test_every_name_a_user_chooses_is_in_a_registry():
    for registry, names in ((NOISE_MODELS, {"clean", "fn-uniform", "mixed"}), (MODELS, {"atlop", "docunet", "kd-docre"}),
                            (LOSSES, {"atl", "cmm", "pu"}), (BACKENDS, {"local", "dask"}), (COMMANDS, {"noise", "bench"}),
                            (FIGURES, set())):
        assert isinstance(registry, Registry) and names <= set(registry) and len(registry)
    with pytest.raises(DocrobustError, match="command 'noise' from .* is already registered by "):
        COMMANDS.add("noise", COMMANDS["noise"])


@pytest.mark.parametrize("command, registry", [("models", MODELS), ("losses", LOSSES)])
def test_models_and_losses_list_every_entry_with_its_options(command, registry):
    result = CliRunner().invoke(cli, [command, "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, summary, options in registry.describe():
        at = next(i for i, line in enumerate(lines) if line.split()[0] == name)
        assert summary in lines[at]
        listed = lines[at + 1].split("options: ")[1]
        assert listed == (" ".join(f"{o.name}={o.default}" for o in options.values()) or "none")
    assert ("emb_size=768 block_size=64" if command == "models" else "m=0.2 gamma=1.4") in result.output
