"""bench.toml's tables as dataclasses: their keys, types, ranges, defaults and help, checked by docrobust.base.schema.

`json_schema(BenchFile)` is the same description as a JSON schema (`docrobust bench schema`), for editors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from docrobust.base import Check, DocrobustError, Range
from docrobust.corpus.pair_types import pair_types_of


def _pair_types_ok(value: Any) -> bool:
    try:
        return pair_types_of(value) is not None
    except DocrobustError:
        return False


SLICE = Check("[start, stop] with 0 <= start < stop", lambda v: len(v) == 2 and 0 <= v[0] < v[1])
PAIR_TYPES = Check("a non-empty list of [head type, tail type] pairs", _pair_types_ok)


@dataclass
class DataSection:
    """[data]: files by path, relative to the current folder or the data folder."""
    train: Annotated[str, "Training documents (DocRED JSON)."]
    dev: Annotated[str, "Dev documents: model selection."]
    test: Annotated[str, "Test documents: scoring."]
    low: Annotated[str | None, "The same documents with low-quality labels (mixed and real noise)."] = None
    profile: Annotated[str | None, "A noise profile file, for noise models that need one."] = None
    train_facts: Annotated[str | None, "Facts for Ign F1 [default: the training documents' facts]."] = None
    relations: Annotated[str, "A rel2id/rel_info file or folder, or infer (from the labels)."] = "infer"
    train_range: Annotated[list[int] | None, SLICE, "A [start, stop) slice of the training file."] = None
    dev_range: Annotated[list[int] | None, SLICE, "A [start, stop) slice of the dev file."] = None
    test_range: Annotated[list[int] | None, SLICE, "A [start, stop) slice of the test file."] = None
    pair_types: Annotated[list[list[str]] | None, PAIR_TYPES,
                          "Only these (head type, tail type) pairs are featurized, trained, scored and noised."] = None


@dataclass
class MatrixSection:
    """[matrix]: every combination of these is one cell."""
    models: list[str]
    losses: list[str]
    noise: Annotated[list[str], "Noise specs (docrobust noise list)."] = field(default_factory=lambda: ["clean"])
    seeds: list[int] = field(default_factory=lambda: [0])


@dataclass
class ExecutionSection:
    """[execution]: where and how wide the cells run."""
    backend: Annotated[str, "local (joblib loky processes) or dask (an existing cluster)."] = "local"
    n_jobs: Annotated[int, Range(1), "Cells at once."] = 1
    gpus_per_run: Annotated[int, Range(0), "GPUs each cell holds (0: CPU only)."] = 1
    scheduler: Annotated[str | None, "The Dask scheduler's address, e.g. tcp://host:8786."] = None


@dataclass
class PluginsSection:
    """[plugins]: the user's losses, models and noise models (README: Plugins)."""
    modules: Annotated[list[str], "Plugin files (relative to this bench.toml) or importable modules."] = field(
        default_factory=list)


@dataclass
class BenchFile:
    """A bench.toml: its tables, each checked by its annotations (docrobust.base.schema)."""
    data: DataSection
    matrix: MatrixSection
    name: Annotated[str | None, "The benchmark's name [default: the file's stem]."] = None
    description: str = ""
    encoder: Annotated[str | None, "Passed to the trainer: a name it knows or a local path."] = None
    training: Annotated[dict[str, Any], "TrainConfig settings of every cell."] = field(default_factory=dict)
    loss_training: Annotated[dict[str, dict[str, Any]], "[training] settings of one loss's cells."] = field(
        default_factory=dict)
    loss_options: Annotated[dict[str, dict[str, Any]], "Keyword options of one loss."] = field(default_factory=dict)
    model_options: Annotated[dict[str, dict[str, Any]], "Keyword options of one model."] = field(default_factory=dict)
    models: Annotated[dict[str, dict[str, Any]], "External models: [models.NAME] command tables."] = field(
        default_factory=dict)
    execution: ExecutionSection = field(default_factory=ExecutionSection)
    plugins: PluginsSection = field(default_factory=PluginsSection)
    profile: Annotated[dict[str, dict[str, Any]], "Named overrides of any of the above, chosen by --profile."] = field(
        default_factory=dict)
