"""One registry for everything chosen by name: noise models, models, losses, backends, report figures, commands.

    MODELS = Registry("model", options=lambda cls: signature_options(cls.__init__, skip=("encoder", "num_labels")))

    @MODELS.register("atlop")
    class ATLOP(DocREModel): ...

    MODELS["atlp"]        # DocrobustError: unknown model 'atlp' (did you mean 'atlop'?); known: atlop, docunet, kd-docre
    MODELS.option_problems("atlop", {"emb_sise": 64, "block_size": "big"})
        # [("emb_sise", "no such option (did you mean 'emb_size'?); model 'atlop' takes emb_size, block_size, ..."),
        #  ("block_size", "expected int, got 'big'")]

As lm-evaluation-harness's registries: a name registered twice is an error (the second would silently win),
entries keep their registration order, and an entry's options (name, default, type) are read from its
signature, so documenting an option and accepting it are one act. A registry is a read-only mapping.
"""
from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .errors import DocrobustError, suggest
from .schema import value_problems

__all__ = ["REQUIRED", "Option", "Registry", "first_paragraph", "signature_options"]

T = TypeVar("T")
REQUIRED = inspect.Parameter.empty  # the default of an option without one


@dataclass(frozen=True)
class Option:
    """A keyword option of a registered entry: its name, default (REQUIRED if none) and annotation (Any if none)."""
    name: str
    default: Any
    type: Any = Any


def first_paragraph(obj: Any) -> str:
    """An object's docstring's first paragraph on one line (the summary a listing prints)."""
    return " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())


def signature_options(fn: Callable, *, skip: typing.Iterable[str] = (), keyword_only: bool = False) -> dict[str, Option]:
    """The options of a callable: its parameters that can be passed by name (only keyword-only ones with
    `keyword_only`), except `self` and `skip`, with their annotations resolved (Any where there is none)."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)  # Annotated constraints stay
    except (NameError, TypeError):  # an annotation naming what the module imports only for type checkers
        hints = {}
    kinds = (inspect.Parameter.KEYWORD_ONLY,) if keyword_only else (inspect.Parameter.KEYWORD_ONLY,
                                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name: Option(p.name, p.default, hints.get(p.name, Any)) for p in inspect.signature(fn).parameters.values()
            if p.kind in kinds and p.name != "self" and p.name not in skip}


# While a plugin is imported: (its source, its module's name). What its module defines is registered with that
# source; what the import brings in besides (our own losses, imported by the plugin for the first time) is not.
REGISTERING: ContextVar[tuple[str, str] | None] = ContextVar("docrobust_registering", default=None)


def defining_module(entry: Any) -> str:
    """The module that defines an entry: a class's or function's own, or that of the function it wraps (a noise
    model's `fn`, a command's `callback`, a figure's `draw`, through functools.partial), else its type's."""
    for obj in (entry, *(getattr(entry, name, None) for name in ("fn", "callback", "draw"))):
        obj = getattr(obj, "func", obj)  # a functools.partial
        if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None):
            return obj.__module__
    return type(entry).__module__


class Registry(Mapping[str, T]):
    """Entries by name. `options(entry) -> {name: Option}` says what an entry accepts (default: its signature)."""

    made: ClassVar[list[Registry]] = []  # every registry, for counting what a plugin registers

    def __init__(self, kind: str, options: Callable[[T], dict[str, Option]] | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._options = options or signature_options
        Registry.made.append(self)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@REGISTRY.register("name")` adds the decorated entry and returns it unchanged."""
        def add(entry: T) -> T:
            return self.add(name, entry)
        return add

    def add(self, name: str, entry: T) -> T:
        """Add `entry` as `name`; a name already taken is an error naming both sources, never a silent replacement.
        The source is the plugin being loaded (docrobust.base.plugins), else the module that defines the entry."""
        source = defining_module(entry)
        plugin = REGISTERING.get()
        if plugin is not None and (source == plugin[1] or source.startswith(plugin[1] + ".")):
            source = plugin[0]
        if name in self._entries:
            raise DocrobustError(f"{self.kind} {name!r} from {source} is already registered by {self._sources[name]}; "
                                 "give it another name")
        self._entries[name] = entry
        self._sources[name] = source
        return entry

    def names_from(self, source: str) -> list[str]:
        """The names that `source` (a plugin, or a module) registered here."""
        return [name for name, where in self._sources.items() if where == source]

    def source(self, name: str) -> str:
        """Where the entry `name` comes from: a plugin's file or module, or the module that defines it."""
        self[name]  # an unknown name is the usual one-line error
        return self._sources[name]

    def unknown(self, name: Any) -> str:
        """The message for a name that is not registered: the closest one and every known one."""
        return f"unknown {self.kind} {name!r}{suggest(name, self._entries)}; known: {', '.join(sorted(self._entries))}"

    def __getitem__(self, name: str) -> T:
        if name not in self:
            raise DocrobustError(self.unknown(name))
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def get(self, name: str, default: Any = None) -> Any:
        return self._entries[name] if name in self else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def options(self, name: str) -> dict[str, Option]:
        """What the entry `name` accepts, by option name."""
        return self._options(self[name])

    def option_problems(self, name: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(option, what is wrong) for every option in `values` that `name` does not take, or whose value does
        not fit the option's annotation; [] when all are fine."""
        options = self.options(name)
        problems = []
        for key, value in values.items():
            if key not in options:
                takes = ", ".join(options) or "no options"
                problems.append((key, f"no such option{suggest(key, options)}; {self.kind} {name!r} takes {takes}"))
            else:
                problems += [(f"{key}{sub}", why) for sub, why in value_problems(value, options[key].type)]
        return problems

    def check_options(self, name: str, values: Mapping[str, Any]) -> None:
        """DocrobustError, one line per problem (option_problems), unless every option fits."""
        problems = self.option_problems(name, values)
        if problems:
            raise DocrobustError([f"{self.kind} {name!r} option {key}: {reason}" for key, reason in problems])

    def describe(self) -> list[tuple[str, str, dict[str, Option]]]:
        """(name, summary: the first docstring paragraph, options) of every entry, sorted by name, for listings."""
        return [(name, first_paragraph(self._entries[name]), self.options(name)) for name in sorted(self._entries)]
