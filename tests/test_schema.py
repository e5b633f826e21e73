"""The one validation mechanism (docrobust.base.schema): types, Annotated constraints, key paths, defaults, JSON schema."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Literal

from conftest import run_main

from docrobust.base import (Pattern, Range, json_schema, missing_keys, table_defaults, table_problems, type_name,
                            value_problems)


@dataclass
class Inner:
    size: Annotated[int, Range(1), "how many"]
    ratio: Annotated[float, Range(0, 1, high_open=True)] = 0.5


@dataclass
class Outer:
    inner: Inner
    names: list[str] = field(default_factory=lambda: ["a"])
    device: Annotated[str, Pattern(r"cpu|cuda(:\d+)?", "cpu, cuda or cuda:N")] = "cpu"
    mode: Literal["fast", "slow"] = "fast"
    limit: Annotated[int | None, Range(0)] = None
    tables: dict[str, Inner] = field(default_factory=dict)


def test_types_then_constraints_each_under_its_key_path():
    table = {"inner": {"size": 0, "ratio": 1.0}, "names": ["a", 3], "device": "tpu", "mode": "quick", "limit": True,
             "tables": {"x": {"size": "2"}}, "extra": 1}
    assert table_problems(Outer, table) == [
        ("inner.size", "must be >= 1, got 0"), ("inner.ratio", "must be in [0, 1), got 1.0"),
        ("names[1]", "expected str, got 3"), ("device", "must be cpu, cuda or cuda:N, got 'tpu'"),
        ("mode", "expected one of 'fast', 'slow', got 'quick'"), ("limit", "expected int or null, got True"),
        ("tables.x.size", "expected int, got '2'"),
        ("extra", "unknown key; allowed: inner, names, device, mode, limit, tables")]
    assert value_problems(float("inf"), Annotated[float, Range(0)]) == [("", "must be >= 0, got inf")]
    assert value_problems(None, Annotated[int | None, Range(0)]) == [] and value_problems(3, int | None) == []
    assert type_name(Annotated[list[int] | None, Range(0)]) == "list of int or null"


def test_partial_tables_leave_required_keys_to_the_merged_one():
    assert table_problems(Outer, {"inner": {"ratio": 0.1}}, partial=True) == []
    assert table_problems(Outer, {"inner": {"ratio": 0.1}}) == [("inner.size", "missing (required)")]
    assert missing_keys(Outer, {}) == ["inner"] and missing_keys(Outer, {"inner": {}}) == ["inner.size"]
    assert table_defaults(Outer) == {"inner": {"ratio": 0.5}, "names": ["a"], "device": "cpu", "mode": "fast",
                                     "tables": {}}


def test_the_json_schema_carries_the_same_constraints_and_help():
    schema = json_schema(Outer)
    inner = schema["properties"]["inner"]
    assert schema["required"] == ["inner"] and schema["additionalProperties"] is False
    assert inner["properties"]["size"] == {"type": "integer", "minimum": 1, "description": "how many"}
    assert inner["properties"]["ratio"] == {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    assert schema["properties"]["device"]["pattern"] == r"cpu|cuda(:\d+)?"
    assert schema["properties"]["mode"] == {"enum": ["fast", "slow"]}


def test_bench_schema_prints_bench_tomls_schema(capsys):
    code, out, _ = run_main(["bench", "schema"], capsys)
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "bench.toml" and {"data", "matrix", "plugins"} <= set(schema["properties"])
    assert schema["properties"]["execution"]["properties"]["n_jobs"]["minimum"] == 1
    assert schema["required"] == ["data", "matrix"]
