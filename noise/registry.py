"""The noise-model registry and the one parser of noise specs.

A spec names one or several steps joined by `+`, each `name[:rate][,option=value...]`:

    fn-uniform:0.4
    fn-frequency:0.4,exponent=1.5
    fn-uniform:0.3+fp-type:0.1
    real:1.0,profile=profile.json
    fn-single-positive            (a model without a rate)
    clean                         (no noise)

A `+` followed by a letter starts the next step, so `exponent=-1.5` and `1e+3` stay in their step.
A model is one function decorated with `@noise_model(name)`; its keyword-only parameters are its spec
options (their defaults give the option types), except `low_docs`, which only `apply_noise` can pass.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from docrobust.base import (REQUIRED, DocrobustError, Option, Registry, first_paragraph, signature_options, type_ok,
                            value_problems)

from .pairs import PAIRS, pair_paths

INPUTS = ("low_docs", "profile", "pair_types")  # what apply_noise passes to the models that ask for it by name
SPEC_ONLY_INPUTS = ("profile",)   # ... of which these may also be named in the spec as a file
OPTIONAL_INPUTS = ("pair_types",)  # ... and these may be None (pair_types: no filter, every pair)


@dataclass(frozen=True)
class NoiseModel:
    name: str
    fn: Callable
    takes_rate: bool
    options: dict[str, Any]       # option -> default (None: a file path, or required)
    inputs: tuple[str, ...]       # entries of INPUTS the model needs
    max_rate: float | None = None  # the largest rate that means something (1.0: a fraction of the labels)

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line."""
        return first_paragraph(self.fn)


def _spec_options(fn: Callable) -> dict[str, Option]:
    """A model's spec options: its keyword-only parameters but the inputs only apply_noise passes."""
    return signature_options(fn, keyword_only=True, skip=[i for i in INPUTS if i not in SPEC_ONLY_INPUTS])


NOISE_MODELS: Registry[NoiseModel] = Registry("noise model", options=lambda model: _spec_options(model.fn))


def noise_model(name: str, *, takes_rate: bool = True, max_rate: float | None = None) -> Callable[[Callable], Callable]:
    """Register `fn(table, rate, rng, **options) -> Edit` under `name` (see noise/table.py); `max_rate` bounds the
    rate where it is a fraction (of the labels: an fn model cannot miss more than all of them)."""
    def register(fn: Callable) -> Callable:
        options = {o.name: None if o.default is REQUIRED else o.default for o in _spec_options(fn).values()}
        inputs = tuple(o.name for o in signature_options(fn, keyword_only=True).values() if o.name in INPUTS)
        NOISE_MODELS.add(name, NoiseModel(name, fn, takes_rate, options, inputs, max_rate))
        return fn
    return register


@dataclass(frozen=True)
class NoiseStep:
    name: str
    rate: float | None
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        head = self.name if self.rate is None else f"{self.name}:{_text(self.rate)}"
        return ",".join([head] + [f"{k}={_text(v)}" for k, v in self.options.items()])


def _text(value: Any) -> str:
    """A value as a spec writes it: floats in their shortest exact form (0.50 -> 0.5, 1 -> 1.0)."""
    return repr(float(value)) if isinstance(value, float) else str(value)


def parse_spec(spec: str) -> list[NoiseStep]:
    """Steps of a spec string; DocrobustError naming the bad part and the valid choices."""
    if not isinstance(spec, str) or not spec.strip():
        raise DocrobustError(f"empty noise spec; give e.g. fn-uniform:0.3 (models: {', '.join(NOISE_MODELS)})")
    steps = [_parse_step(part.strip(), spec) for part in re.split(r"\s*\+\s*(?=[A-Za-z])", spec.strip())]
    if len(steps) > 1 and any(s.name == "clean" for s in steps):
        raise DocrobustError(f"noise spec {spec!r}: 'clean' means no noise and cannot be combined with other steps")
    return steps


def _parse_step(part: str, spec: str) -> NoiseStep:
    head, *option_texts = part.split(",")
    name, has_rate, rate_text = head.partition(":")
    where = f"noise spec {spec!r}, step {part!r}"
    if name.strip() not in NOISE_MODELS:
        raise DocrobustError(f"{where}: {NOISE_MODELS.unknown(name.strip())}")
    model = NOISE_MODELS[name.strip()]
    rate = None
    if model.takes_rate:
        if not has_rate:
            raise DocrobustError(f"{where}: {model.name} needs a rate, e.g. {model.name}:0.3")
        try:
            rate = float(rate_text)
        except ValueError:
            raise DocrobustError(f"{where}: rate {rate_text!r} is not a number") from None
        if not (math.isfinite(rate) and rate >= 0):
            raise DocrobustError(f"{where}: rate must be a finite number >= 0, got {rate_text!r}")
        if model.max_rate is not None and rate > model.max_rate:
            raise DocrobustError(f"{where}: rate {rate_text} is above {model.max_rate:g}; {model.name}'s rate is a "
                              "fraction of the labels")
    elif has_rate:
        raise DocrobustError(f"{where}: {model.name} takes no rate; write just {model.name!r}")
    options: dict[str, Any] = {}
    for text in option_texts:
        key, has_value, value = (s.strip() for s in text.partition("="))
        valid = ", ".join(f"{k}={v}" for k, v in model.options.items()) or "none"
        if key not in model.options or not has_value:
            raise DocrobustError(f"{where}: bad option {text.strip()!r}; {model.name} options: {valid}")
        if key in options:
            raise DocrobustError(f"{where}: option {key!r} given twice")
        options[key] = _convert(value, NOISE_MODELS.options(model.name)[key], f"{where}: option {key}")
    return NoiseStep(model.name, rate, {k: options[k] for k in model.options if k in options})


def _convert(text: str, option: Option, where: str) -> Any:
    """An option's text as its annotated type (a number type: parsed as float where floats are allowed, so that
    `exponent=1` and `exponent=1.0` are one spec), then checked like every other option (docrobust.base.schema)."""
    if not text:
        raise DocrobustError(f"{where}: empty value")
    value: Any = text
    if type_ok(0, option.type) and not type_ok(text, option.type):  # a number option
        try:
            value = float(text) if type_ok(0.5, option.type) else int(text)
        except ValueError:
            raise DocrobustError(f"{where}: expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise DocrobustError(f"{where}: expected a finite number, got {text!r}")
    problems = value_problems(value, option.type)
    if problems:
        raise DocrobustError(f"{where}: {problems[0][1]}")
    return value


def normalize_spec(spec: str) -> str:
    """The one text of a spec: rates and options as numbers (`fn-uniform:0.50` -> `fn-uniform:0.5`), options
    in the model's order, options equal to their default left out, so equal specs compare equal."""
    steps = [NoiseStep(s.name, s.rate, {k: v for k, v in s.options.items() if v != NOISE_MODELS[s.name].options[k]})
             for s in parse_spec(spec)]
    return "+".join(map(str, steps))


def describe_spec(spec: str) -> tuple[str, float]:
    """(family, nominal rate): the model names joined by '+', and the sum of the step rates (0 without a rate)."""
    steps = parse_spec(spec)
    return "+".join(s.name for s in steps), float(sum(s.rate or 0.0 for s in steps))


def spec_files(spec: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every file a spec names (`model=`, `matrix=`, `profile=`; a registered pair's profile stands for the pair's
    data files), in spec order: inputs of the command that applies it, and part of what its result depends on."""

    files: list[Path] = []
    for step in parse_spec(spec):
        for key, value in step.options.items():
            if NOISE_MODELS[step.name].options[key] is not None:
                continue  # a number, not a path
            if key == "profile" and value in PAIRS:
                low, high = pair_paths(value, data_dir)
                files += [*low, *high]
            else:
                files.append(Path(value))
    return files


def needs_low_docs(spec: str) -> bool:
    """Whether apply_noise needs `low_docs` (an aligned low-quality version of the documents) for this spec."""
    return any("low_docs" in NOISE_MODELS[s.name].inputs for s in parse_spec(spec))


def needs_profile(spec: str) -> bool:
    """Whether apply_noise needs `profile=` for this spec (a step uses a profile without naming its file)."""
    return any("profile" in NOISE_MODELS[s.name].inputs and "profile" not in s.options for s in parse_spec(spec))
