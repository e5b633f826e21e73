"""The one validation mechanism: values checked against type annotations, with their constraints beside them.

    @dataclass
    class Execution:
        backend: str = "local"
        n_jobs: Annotated[int, Range(1), "worker processes"] = 1
        device: Annotated[str, Pattern(r"auto|cpu|cuda(:\\d+)?", "auto, cpu, cuda or cuda:N")] = "auto"

    table_problems(Execution, {"n_jobs": 0, "n_job": 2})
        # [("n_jobs", "must be >= 1, got 0"), ("n_job", "unknown key (did you mean 'n_jobs'?); allowed: ...")]

`value_problems(value, hint)` says what is wrong with one value: its type first (an int is a float, a bool is
not a number, a string is not a list), then the constraints of `Annotated` (Range, Check, Pattern), each under
the key path below the value (`[1]`, `.name`). `table_problems(cls, table)` checks a TOML or JSON table against
a dataclass: unknown keys with the closest known one, missing required keys, every value. A plain string in
`Annotated` is the field's help (the CLI's option help, the JSON schema's description).

bench.toml's sections, TrainConfig, the external-model tables, and the options of every registered model,
loss and noise model (read from their signatures, plugins' too) are all checked here, so the command line and
`bench check` accept and refuse the same values with the same words. `json_schema(cls)` turns the same
annotations into a JSON schema, for editors.

Why not pydantic: the options of registered entries come from function signatures, plugins' included, which
pydantic would need a model generated for each; its coercions (\"1\" -> 1) would have to be switched off field
by field to refuse what a typo writes; and its messages would be rewritten into our one-line form anyway.
What it would add beyond this module, a JSON schema, is `json_schema` below.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from .errors import shown, suggest

__all__ = ["Check", "Pattern", "Range", "field_help", "json_schema", "missing_keys", "plain_type", "table_defaults",
           "table_problems", "type_name", "type_ok", "value_problems"]

_SEQUENCES = (list, tuple, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)


@dataclass(frozen=True)
class Range:
    """A number between `low` and `high` (either may be None), each bound open or closed; always finite.
    `says` replaces the bound's words in messages where they need explaining."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    says: str | None = None

    def holds(self, value: Any) -> bool:
        return (math.isfinite(value)
                and (self.low is None or (value > self.low if self.low_open else value >= self.low))
                and (self.high is None or (value < self.high if self.high_open else value <= self.high)))

    def __str__(self) -> str:
        if self.says:
            return self.says
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class Check:
    """Any other constraint: a predicate, and the words for what it accepts (`pattern`: the regular expression
    the predicate matches in full, when it is one, for the JSON schema)."""
    says: str
    test: Callable[[Any], bool]
    pattern: str | None = None

    def holds(self, value: Any) -> bool:
        return self.test(value)

    def __str__(self) -> str:
        return self.says


def Pattern(regex: str, says: str) -> Check:
    """A string matching `regex` in full."""
    return Check(says, lambda value: re.fullmatch(regex, value) is not None, regex)


def _split(hint: Any) -> tuple[Any, list[Range | Check]]:
    """(the type, its constraints) of a possibly Annotated hint."""
    if typing.get_origin(hint) is Annotated:
        base, *meta = typing.get_args(hint)
        return base, [m for m in meta if isinstance(m, (Range, Check))]
    return hint, []


def plain_type(hint: Any) -> Any:
    """An annotation's type without its Annotated metadata and without None: `Annotated[int | None, ...]` -> int
    (the first other member of a union)."""
    base = _split(hint)[0]
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        return _split(next(a for a in typing.get_args(base) if a is not type(None)))[0]
    return base


def field_help(hint: Any) -> str | None:
    """The help text of an Annotated hint (its plain-string metadata), or None."""
    if typing.get_origin(hint) is Annotated:
        return next((m for m in typing.get_args(hint)[1:] if isinstance(m, str)), None)
    return None


def type_ok(value: Any, hint: Any) -> bool:
    """Whether a config value has an annotation's type: an int is a float, a bool is not a number, a string is not a
    sequence, list items and table values are checked against their types (constraints are not: value_problems)."""
    hint = _split(hint)[0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is None or hint is type(None):
        return value is None
    if hint in (int, float):
        return isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    if origin in _SEQUENCES:
        return isinstance(value, (list, tuple)) and (not args or all(type_ok(v, args[0]) for v in value))
    if origin in _MAPPINGS:
        return isinstance(value, dict) and (not args or all(type_ok(v, args[1]) for v in value.values()))
    return isinstance(value, origin or hint)


def type_name(hint: Any) -> str:
    """An annotation in words: `int or null`, `list of float`, `one of 'a', 'b'`, `table`."""
    hint = _split(hint)[0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if hint is None or hint is type(None):
        return "null"
    if origin in _SEQUENCES:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in _MAPPINGS or dataclasses.is_dataclass(hint):
        return "table"
    return getattr(origin or hint, "__name__", str(hint))


def value_problems(value: Any, hint: Any, *, partial: bool = False) -> list[tuple[str, str]]:
    """(key path below the value, what is wrong) for one value against its annotation; [] when it fits.

    A list's or a table's entries are checked one by one (`[2]`, `.name`), a dataclass's as a table (with
    `partial`, missing required keys are not problems)."""
    base, constraints = _split(hint)
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin in (typing.Union, types.UnionType):
        for member in args:  # the first member whose type fits says what else is wrong, if anything
            if type_ok(value, member):
                return value_problems(value, member, partial=partial) or _constraint(value, constraints)
        return [("", f"expected {type_name(base)}, got {value!r}")]
    if dataclasses.is_dataclass(base) and isinstance(value, dict):
        return [(f".{key}", why) for key, why in table_problems(base, value, partial=partial)]
    if origin in _SEQUENCES and args and isinstance(value, (list, tuple)):
        found = [(f"[{i}]{sub}", why) for i, item in enumerate(value) for sub, why in value_problems(item, args[0])]
        return found or _constraint(value, constraints)
    if origin in _MAPPINGS and args and isinstance(value, dict):
        found = [(f".{key}{sub}", why) for key, item in value.items() for sub, why in value_problems(item, args[1])]
        return found or _constraint(value, constraints)
    if not type_ok(value, base):
        what = "a table" if dataclasses.is_dataclass(base) else type_name(base)
        return [("", f"expected {what}, got {value!r}")]
    return _constraint(value, constraints)


def _constraint(value: Any, constraints: Iterable[Range | Check]) -> list[tuple[str, str]]:
    """The first constraint a value of the right type breaks (None, where allowed, breaks none)."""
    if value is None:
        return []
    return next(([("", f"must be {c}, got {shown(value)}")] for c in constraints if not c.holds(value)), [])


def _fields(cls: type) -> dict[str, tuple[Any, bool]]:
    """name -> (resolved annotation with its Annotated metadata, whether the field is required)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: (hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls)}


def table_problems(cls: type, table: Mapping[str, Any], *, partial: bool = False, what: str = "key",
                   leave_out: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(key path, what is wrong) for a table against the dataclass `cls`, in the table's order, then the missing
    required keys (unless `partial`: a profile's table overrides a few keys). `what` names a key in messages;
    `leave_out` are fields set elsewhere, refused here and not offered as suggestions."""
    fields = {name: spec for name, spec in _fields(cls).items() if name not in set(leave_out)}
    problems: list[tuple[str, str]] = []
    for key, value in table.items():
        if key not in fields:
            problems.append((key, f"unknown {what}{suggest(key, fields)}; allowed: {', '.join(fields)}"))
            continue
        problems += [(f"{key}{sub}", why) for sub, why in value_problems(value, fields[key][0], partial=partial)]
    if not partial:
        problems += [(name, "missing (required)") for name, (_, required) in fields.items()
                     if required and name not in table]
    return problems


def missing_keys(cls: type, table: Mapping[str, Any]) -> list[str]:
    """Key paths of the required fields missing from a table, in the tables of dataclass fields too."""
    out = []
    for name, (hint, required) in _fields(cls).items():
        base = _split(hint)[0]
        if name not in table:
            out += [name] if required else []
        elif dataclasses.is_dataclass(base) and isinstance(table[name], dict):
            out += [f"{name}.{sub}" for sub in missing_keys(base, table[name])]
    return out


def table_defaults(cls: type) -> dict[str, Any]:
    """The fields' defaults as a plain table (None defaults left out: an absent key), recursing into dataclasses."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        base = _split(typing.get_type_hints(cls, include_extras=True)[f.name])[0]
        if dataclasses.is_dataclass(base):
            out[f.name] = table_defaults(base)
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        elif f.default is not dataclasses.MISSING and f.default is not None:
            out[f.name] = f.default
    return out


def json_schema(hint: Any) -> dict[str, Any]:
    """A JSON schema (draft 2020-12) of an annotation; a dataclass becomes an object of its fields."""
    base, constraints = _split(hint)
    origin, args = typing.get_origin(base), typing.get_args(base)
    out: dict[str, Any]
    if dataclasses.is_dataclass(base):
        fields = _fields(base)
        out = {"type": "object", "additionalProperties": False,
               "properties": {name: json_schema(h) for name, (h, _) in fields.items()},
               "required": [name for name, (_, required) in fields.items() if required]}
    elif origin in (typing.Union, types.UnionType):
        out = {"anyOf": [json_schema(a) for a in args]}
    elif origin is typing.Literal:
        out = {"enum": list(args)}
    elif origin in _SEQUENCES:
        out = {"type": "array", **({"items": json_schema(args[0])} if args else {})}
    elif origin in _MAPPINGS:
        out = {"type": "object", **({"additionalProperties": json_schema(args[1])} if args else {})}
    else:
        out = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
               bool: {"type": "boolean"}, type(None): {"type": "null"}, None: {"type": "null"}}.get(base, {})
    for c in constraints:
        if isinstance(c, Range):
            for bound, is_open, plain, strict in ((c.low, c.low_open, "minimum", "exclusiveMinimum"),
                                                  (c.high, c.high_open, "maximum", "exclusiveMaximum")):
                if bound is not None:
                    out[strict if is_open else plain] = bound
        elif c.pattern is not None:
            out["pattern"] = c.pattern
        else:
            out["description"] = c.says
    help_text = field_help(hint)
    if help_text:
        out["description"] = help_text
    return out
