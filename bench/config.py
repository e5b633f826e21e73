"""bench.toml: one file describes a benchmark; this module reads, merges, validates and expands it.

    name = "docrobust"                  # default: the file's stem
    encoder = "minilm"                  # passed to the trainer (a name it knows or a local path)
    [data]                              # paths relative to the data folder (--data-dir / DOCROBUST_DATA)
    train = "redocred/train_revised.json"
    dev = "redocred/dev_revised.json"   # model selection
    test = "redocred/test_revised.json" # scoring
    low = "docred/train_annotated.json" # optional: the same documents with low-quality labels (mixed/real noise)
    profile = "..."                     # optional: noise profile file (for noise models that need one)
    train_facts = "docred/train_annotated.fact"   # optional (Ign F1); default: facts of the training documents
    relations = "meta/rel2id.json"      # a rel2id/rel_info file or folder, or "infer" (default) from the labels
    train_range = [0, 400]              # optional [start, stop) document slices of each file; train and dev
    dev_range = [400, 500]              #   may share a file only with disjoint ranges
    pair_types = [["Chemical", "Disease"]]   # optional: only these (head type, tail type) pairs are featurized,
                                        #   trained, predicted, scored and given fp-* noise (corpus/pair_types.py)
    [matrix]
    models = ["atlop"]; losses = ["atl", "cmm"]; noise = ["clean", "fn-uniform:0.4"]; seeds = [0]
    [training]                          # TrainConfig fields (model, loss, encoder, seed come from the matrix)
    [loss_training.cmm]                 # [training] settings for the cells of one loss (its own recipe)
    [loss_options.cmm]                  # keyword options of one loss / one model
    [model_options.atlop]
    [execution]
    backend = "local"                   # "local" (joblib loky processes) or "dask" (an existing cluster)
    n_jobs = 1; gpus_per_run = 1; scheduler = "tcp://host:8786"   # gpus_per_run = 0: CPU only
    [profile.quick]                     # any of the above; deep-merged over the base by --profile quick

Validation reports every problem at once, one line each, naming the key path where the value was written
(`bench.toml: profile.quick.matrix.losses[1]: unknown loss 'cmmm' (did you mean 'cmm'?); known: atl, cmm, ...`).
With `check_names` (the default) models, losses and [training] are checked against the trainer: names,
each model's and loss's options by name and type (from their signatures), training settings by type and
range (models/config.py: training_problems); this imports torch.
"""
from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docrobust import noise as noise_suite
from docrobust.base import (DocrobustError, load_plugins, loaded_plugins, missing_keys, plugin_names, sha256_file,
                            sha256_json, suggest, table_defaults, table_problems)
from docrobust.corpus.data import resolve_path
from docrobust.corpus.pair_types import pair_types_of
from docrobust.noise import parse_spec, spec_files
from docrobust.reports.results import cell_id_for  # the results folder's naming, shared with the reporter

from . import external
from .benchfile import BenchFile
from .backends import BACKENDS

DATA_FILES = ("train", "dev", "test", "low", "profile", "train_facts")
SPLITS = ("train", "dev", "test")
MATRIX_KEYS = ("model", "loss", "encoder", "seed", "loss_options", "model_options")  # set per cell, not in [training]
RUNTIME_KEYS = ("device", "num_threads", "progress", "save_checkpoint")  # how a cell runs, not what it computes: not hashed


# ---------------------------------------------------------------- the resolved benchmark

@dataclass(frozen=True)
class Cell:
    """One run of the matrix: a model trained with a loss on a (noisy) training set, with a seed."""
    cell_id: str
    model: str
    loss: str
    noise: str
    seed: int
    config: dict = field(compare=False)   # the resolved cell config; its hash decides whether a result is current
    config_hash: str = ""


@dataclass
class BenchConfig:
    """A validated benchmark: base merged with one profile, data paths resolved and hashed."""
    source: str
    name: str
    profile: str | None
    encoder: str | None
    data: dict[str, dict]           # "train"/"dev"/...: {"path", "sha256", "range"}; "relations": {"spec"[, "path", "sha256"]}
    matrix: dict[str, list]
    training: dict[str, Any]
    loss_options: dict[str, dict]
    model_options: dict[str, dict]
    execution: dict[str, Any]
    description: str = ""
    models: dict[str, dict] = field(default_factory=dict)   # external models by name (bench/external.py)
    loss_training: dict[str, dict] = field(default_factory=dict)  # loss -> [training] settings of its cells
    noise_files: dict[str, dict[str, str]] = field(default_factory=dict)  # spec -> {file it names: sha256}
    plugins: dict[str, dict] = field(default_factory=dict)  # source -> {"fingerprint", "names": ["loss:x", ...]}

    def to_json(self) -> dict:
        """The resolved config as written to RESULTS/bench.json (enough to plan the matrix again)."""
        return {"name": self.name, "profile": self.profile, "description": self.description, "source": self.source,
                "matrix": self.matrix, "data": self.data, "encoder": self.encoder, "training": self.training,
                "loss_options": self.loss_options, "model_options": self.model_options, "execution": self.execution,
                "models": self.models, "noise_files": self.noise_files, "loss_training": self.loss_training,
                "plugins": self.plugins}

    @classmethod
    def from_json(cls, obj: dict) -> "BenchConfig":
        keys = ("source", "name", "profile", "encoder", "data", "matrix", "training", "loss_options",
                "model_options", "execution", "description")
        return cls(**{k: obj.get(k, "" if k == "description" else None) for k in keys}, models=obj.get("models") or {},
                   noise_files=obj.get("noise_files") or {}, loss_training=obj.get("loss_training") or {},
                   plugins=obj.get("plugins") or {})

    def cells(self) -> list[Cell]:
        """The matrix in run order: grouped by (noise, seed) so each noisy training set is built once, then used."""
        cells = []
        for noise in self.matrix["noise"]:
            for seed in self.matrix["seeds"]:
                for model in self.matrix["models"]:
                    for loss in external.losses_for(self.models.get(model), self.matrix["losses"]):
                        config = self.cell_config(model, loss, noise, seed)
                        cells.append(Cell(cell_id_for(model, loss, noise, seed), model, loss, noise, seed, config,
                                          sha256_json(config)[:16]))
        return _unique_ids(cells)

    def cell_config(self, model: str, loss: str, noise: str, seed: int) -> dict:
        """What one cell computes: matrix coordinates, trainer settings, and the data by content hash (the files
        its noise spec names included, so that editing one reruns the cells that use it)."""
        training = {k: v for k, v in {**self.training, **self.loss_training.get(loss, {})}.items()
                    if k not in RUNTIME_KEYS}
        if "pair_types" in self.data:  # the trainer featurizes and scores by it (only when set: others keep their hash)
            training["pair_types"] = self.data["pair_types"]["pairs"]
        data = {k: {"sha256": v["sha256"], "range": v.get("range")} for k, v in self.data.items() if "sha256" in v}
        files = self.noise_files.get(noise)
        if model in self.models:
            config = external.cell_config(self.models[model], model, loss, noise, seed, data,
                                          self.data["relations"]["spec"])
            if "pair_types" in training:  # the scorer of its predictions keeps only those pairs
                config["training"] = {"pair_types": training["pair_types"]}
        else:
            config = {"model": model, "loss": loss, "noise": noise, "seed": seed, "encoder": self.encoder,
                      "training": training, "loss_options": self.loss_options.get(loss, {}),
                      "model_options": self.model_options.get(model, {}), "data": data,
                      "relations": self.data["relations"]["spec"]}
        config = {**config, "noise_files": files} if files else config  # specs without files keep their old hash
        plugins = self.plugins_of(model, loss, noise)
        return {**config, "plugins": plugins} if plugins else config  # so do cells that use no plugin

    def plugins_of(self, model: str, loss: str, noise: str) -> dict[str, str]:
        """source -> fingerprint of the plugins whose model, loss or noise models the cell uses: editing a plugin
        reruns exactly the cells that use it, and their workers load it first."""
        if not self.plugins:  # the usual case: no spec is parsed again for each cell
            return {}
        try:
            steps = [f"noise model:{step.name}" for step in parse_spec(noise)]
        except DocrobustError:
            steps = []
        used = {f"model:{model}", f"loss:{loss}", *steps}
        return {source: info["fingerprint"] for source, info in self.plugins.items() if used & set(info["names"])}


def _unique_ids(cells: list[Cell]) -> list[Cell]:
    """Two specs that sanitize alike (`a:b` and `a-b`) get the hash of their coordinates appended."""
    seen: dict[str, int] = {}
    for c in cells:
        seen[c.cell_id] = seen.get(c.cell_id, 0) + 1
    return [c if seen[c.cell_id] == 1 else
            Cell(f"{c.cell_id}-{sha256_json([c.model, c.loss, c.noise, c.seed])[:6]}", c.model, c.loss, c.noise,
                 c.seed, c.config, c.config_hash) for c in cells]


# ---------------------------------------------------------------- loading

def load_config(path: str | os.PathLike, profile: str | None = None, data_dir: str | os.PathLike | None = None, *,
                check_names: bool = True, hash_file=None,
                missing_data: list[tuple[str, str]] | None = None) -> BenchConfig:
    """Read, merge (base <- profile.<profile>), validate and resolve a bench.toml.

    `check_names` also checks model and loss names, their options and the [training] settings against the
    trainer (imports torch). `hash_file(path) -> sha256` lets the caller cache file hashes; default: hash every time.
    `missing_data`: a list that collects (key, file as written) for data files that are not there yet,
    instead of refusing them (`bench plan` shows the matrix before the download).
    Raises DocrobustError with one line per problem.
    """
    path = Path(path)
    src = path.name
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocrobustError(f"{path}: no such file (write a bench.toml; see the repository's example)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DocrobustError(f"{path}: not valid TOML ({e})") from None
    except RecursionError:
        raise DocrobustError(f"{path}: TOML nested too deeply to read (a bench.toml nests a few levels)") from None

    problems: list[str] = []
    profiles = raw.pop("profile", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise DocrobustError(f"{src}: profile: expected [profile.<name>] tables")
    for prefix, table in [("", raw)] + [(f"profile.{name}.", table) for name, table in profiles.items()]:
        problems += [f"{src}: {prefix}{key}: {why}" for key, why in table_problems(
            BenchFile, table, partial=True, leave_out=("profile",) if prefix else ())]
    if profile is not None and profile not in profiles:
        known = ", ".join(profiles) or "none defined"
        problems.append(f"{src}: profile {profile!r} does not exist{suggest(profile, profiles)}; known: {known}")
    if problems:
        raise DocrobustError(problems)

    over = profiles.get(profile, {}) if profile else {}
    merged = _deep_merge(_deep_merge(table_defaults(BenchFile), raw), over)

    def where(*keys: str | int) -> str:
        """`file: key.path` naming the profile table when the value was written there."""
        written_in_profile = _has(over, [k for k in keys if isinstance(k, str)])
        return f"{src}: " + (f"profile.{profile}." if written_in_profile else "") + _keypath(keys)

    problems += [f"{src}: {key}: missing (required)" for key in missing_keys(BenchFile, merged)]
    if problems:
        raise DocrobustError(problems)
    try:  # before any name is looked up: a plugin adds names
        load_plugins(merged["plugins"]["modules"], base=path.parent)
    except DocrobustError as e:
        raise DocrobustError([f"{where('plugins', 'modules')}: {p}" for p in e.problems]) from None
    plugins = {source: {"fingerprint": plugin.fingerprint, "names": plugin_names(source)}
               for source, plugin in loaded_plugins().items()}

    data = _check_data(merged["data"], data_dir, where, problems, hash_file, missing_data)
    _check_matrix(merged, where, problems)
    noise_files = _hash_noise_files(merged["matrix"]["noise"], data_dir, where, problems, hash_file or sha256_file)
    _check_execution(merged["execution"], where, problems)
    models = external.check_models(merged["models"], _builtin_models() if check_names else (), merged["execution"],
                                   path.parent, where, problems)
    bad_keys = [k for k in merged["training"] if k in MATRIX_KEYS]
    problems += [f"{where('training', k)}: set by the matrix ([matrix], encoder, [loss_options], [model_options]),"
                 f" not in [training]" for k in bad_keys]
    if "pair_types" in merged["training"]:
        problems.append(f"{where('training', 'pair_types')}: set it in [data] (data.pair_types), where it also "
                        "restricts the noise")
    if check_names:
        _check_registries(merged, where, problems)
    if problems:
        raise DocrobustError(problems)
    return BenchConfig(source=str(path), name=merged.get("name", path.stem), profile=profile,
                       encoder=merged.get("encoder"), data=data, matrix=merged["matrix"], training=merged["training"],
                       loss_options=merged["loss_options"], model_options=merged["model_options"],
                       execution=merged["execution"], description=merged.get("description", ""), models=models,
                       noise_files=noise_files, loss_training=merged["loss_training"], plugins=plugins)


def _keypath(keys) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _has(table: dict, keys) -> bool:
    for k in keys:
        if not isinstance(table, dict) or k not in table:
            return False
        table = table[k]
    return True


def _deep_merge(base: dict, over: dict) -> dict:
    """`over` wins; tables merge key by key, everything else (lists included) is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _check_data(data: dict, data_dir, where, problems: list[str], hash_file, missing: list | None = None) -> dict:
    """Every file exists (resolved in the data folder); train/dev slices of one file do not overlap."""
    hash_file = hash_file or sha256_file
    out: dict[str, dict] = {}
    for key in DATA_FILES:
        if key not in data:
            continue
        path = resolve_path(data[key], data_dir)
        if not path.is_file() and missing is not None:
            missing.append((key, data[key]))
            continue
        if not path.is_file():
            problems.append(f"{where('data', key)}: no such file {data[key]!r} (looked in the current folder and "
                            f"the data folder; `docrobust data download` fetches the known files)")
            continue
        out[key] = {"path": str(path.resolve()), "sha256": hash_file(path)}
        if key in SPLITS and f"{key}_range" in data:
            out[key]["range"] = list(data[f"{key}_range"])
    for key in SPLITS:
        if f"{key}_range" in data and key not in data:
            problems.append(f"{where('data', f'{key}_range')}: a range needs data.{key}")
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        if a in out and b in out and out[a]["path"] == out[b]["path"]:
            ra, rb = out[a].get("range"), out[b].get("range")
            if ra is None or rb is None or not (ra[1] <= rb[0] or rb[1] <= ra[0]):
                problems.append(f"{where('data', f'{b}_range')}: data.{a} and data.{b} are the same file; give both "
                                f"disjoint {a}_range/{b}_range slices (got {ra} and {rb})")
    if "pair_types" in data:  # its type was checked with the schema (BenchFile)
        out["pair_types"] = {"pairs": sorted(map(list, pair_types_of(data["pair_types"])))}
    rel = data["relations"]
    out["relations"] = {"spec": rel}
    if rel != "infer":
        path = resolve_path(rel, data_dir)
        if not path.exists() and missing is not None:
            missing.append(("relations", rel))
        elif not path.exists():
            problems.append(f"{where('data', 'relations')}: no such file or folder {rel!r} (or write \"infer\")")
        else:
            out["relations"] = {"spec": rel, "path": str(path.resolve())}
    return out


def _check_matrix(merged: dict, where, problems: list[str]) -> None:
    """Non-empty, duplicate-free lists; noise specs parse (each replaced by its normal form, so that
    `fn-uniform:0.50` and `fn-uniform:0.5` are one cell), rates in [0, 1], and needed files are given."""
    matrix = merged["matrix"]
    matrix["noise"] = [_normalized(spec, noise_suite.normalize_spec) for spec in matrix["noise"]]
    for key in ("models", "losses", "noise", "seeds"):
        values = matrix[key]
        if not values:
            problems.append(f"{where('matrix', key)}: empty; list at least one")
        dups = sorted({str(v) for v in values if values.count(v) > 1})
        if dups:
            problems.append(f"{where('matrix', key)}: duplicates {', '.join(dups)}")
    for i, spec in enumerate(matrix["noise"]):
        try:
            noise_suite.parse_spec(spec)
            family, rate = noise_suite.describe_spec(spec)
        except DocrobustError as e:
            problems.append(f"{where('matrix', 'noise', i)}: {e.problems[0]}")
            continue
        if not 0.0 <= float(rate) <= 1.0:
            problems.append(f"{where('matrix', 'noise', i)}: rate {rate} outside [0, 1]")
        for needs, key in ((noise_suite.needs_low_docs, "low"), (noise_suite.needs_profile, "profile")):
            if needs(spec) and key not in merged["data"]:
                problems.append(f"{where('matrix', 'noise', i)}: noise {spec!r} needs data.{key}")


def _hash_noise_files(specs: list, data_dir, where, problems: list[str], hash_file) -> dict[str, dict[str, str]]:
    """spec -> {each file it names: sha256}, for the specs that name files; a missing one is a problem."""
    out: dict[str, dict[str, str]] = {}
    for i, spec in enumerate(specs):
        try:
            parse_spec(spec)
        except DocrobustError:
            continue  # _check_matrix says why
        try:
            paths = spec_files(spec, data_dir)
        except DocrobustError as e:  # a registered pair whose files are not in the data folder
            problems += [f"{where('matrix', 'noise', i)}: {p}" for p in e.problems]
            continue
        missing = [p for p in paths if not p.is_file()]
        problems += [f"{where('matrix', 'noise', i)}: {p}: no such file (named in {spec!r})" for p in missing]
        if paths and not missing:
            out[spec] = {str(p): hash_file(p) for p in paths}
    return out


def _normalized(spec: Any, normalize) -> Any:
    try:
        return normalize(spec)
    except DocrobustError:  # reported with its position below
        return spec


def _check_execution(execution: dict, where, problems: list[str]) -> None:
    if execution["backend"] not in BACKENDS:
        problems.append(f"{where('execution', 'backend')}: {BACKENDS.unknown(execution['backend'])}")
    if execution["backend"] == "dask" and "scheduler" not in execution:
        problems.append(f"{where('execution', 'scheduler')}: the dask backend needs a scheduler address "
                        f"(e.g. \"tcp://host:8786\")")


def _builtin_models() -> Any:
    from docrobust.models.registry import MODELS  # imports torch: only with check_names
    return MODELS


def _check_registries(merged: dict, where, problems: list[str]) -> None:
    """Against the trainer (imports torch: only for check, plan and run): model and loss names, their options
    (names and types from each one's signature), [training] settings and seeds (types and ranges)."""
    from docrobust.models.config import training_problems  # torch: only when names are checked
    from docrobust.models.losses import LOSSES
    from docrobust.models.registry import MODELS

    for key, registry in (("models", MODELS), ("losses", LOSSES)):
        problems += [f"{where('matrix', key, i)}: {registry.unknown(name)}"
                     for i, name in enumerate(merged["matrix"][key])
                     if name not in registry and name not in merged["models"]]  # [models.<name>]: external
    for table, registry in (("model_options", MODELS), ("loss_options", LOSSES)):
        for name, options in merged[table].items():
            if name not in registry:
                problems.append(f"{where(table, name)}: {registry.unknown(name)}")
                continue
            problems += [f"{where(table, name, key)}: {why}" for key, why in registry.option_problems(name, options)]
    training = {k: v for k, v in merged["training"].items() if k not in MATRIX_KEYS}  # those are refused above
    problems += [f"{where('training', key)}: {why}" for key, why in training_problems(training, MATRIX_KEYS)]
    for loss, settings in merged["loss_training"].items():
        if loss not in LOSSES and loss not in merged["matrix"]["losses"]:
            problems.append(f"{where('loss_training', loss)}: {LOSSES.unknown(loss)}")
            continue
        problems += [f"{where('loss_training', loss, key)}: {why}" for key, why in training_problems(
            {k: v for k, v in settings.items() if k not in MATRIX_KEYS}, MATRIX_KEYS)]
        problems += [f"{where('loss_training', loss, key)}: set by the matrix, not in [loss_training]"
                     for key in settings if key in MATRIX_KEYS]
    for i, seed in enumerate(merged["matrix"]["seeds"]):
        problems += [f"{where('matrix', 'seeds', i)}: {why}" for _, why in training_problems({"seed": seed})]
