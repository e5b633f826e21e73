"""`docrobust bench check|plan|run|status|schema`: validate, preview, run and inspect a benchmark matrix."""
from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path

import click

from docrobust.base import DocrobustError, check_io, json_schema
from docrobust.corpus.data import CONVERTED, REGISTRY
from docrobust.reports.results import ResultsStore

from ..benchfile import BenchFile
from ..config import BenchConfig, load_config
from ..preflight import preflight_problems
from ..runner import cell_statuses, default_results_dir, documents_to_encode, hash_cache, run_bench
from .options import plugin_option

CONFIG = click.argument("config", type=click.Path(dir_okay=False))
PROFILE = click.option("--profile", "-p", default=None, help="A [profile.<name>] table merged over the base.")
OUT = click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
                   help="Results folder [default: results/<name>[-<profile>]].")


def _load(ctx: click.Context, config: str, profile: str | None, out: str | None, *,
          missing_data: list | None = None, writes: bool = False) -> tuple[BenchConfig, ResultsStore]:
    """The validated config and its results folder; input files are hashed once per (path, size, mtime). With
    `writes` (bench run), no input may be among the files and folders of RESULTS that the runner rewrites."""
    store = ResultsStore(out or _default_out(config, profile))
    hashes = hash_cache(store)
    cfg = load_config(config, profile, ctx.obj["data_dir"], hash_file=hashes, missing_data=missing_data)
    if writes:
        inputs = [config, *(v["path"] for v in cfg.data.values() if "path" in v),
                  *(p for files in cfg.noise_files.values() for p in files)]
        rewritten = [store.root / name for name in ("report.html", "report.pdf")] + store.records()
        check_io(inputs, [p for p in rewritten if not p.is_dir()], [p for p in rewritten if p.is_dir()], force=True)
    if store.root.is_dir():
        hashes.save()
    return cfg, store


def _default_out(config: str, profile: str | None) -> Path:
    """results/<name>[-<profile>] without validating (the name is all it needs)."""
    try:
        name = tomllib.loads(Path(config).read_text(encoding="utf-8")).get("name")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        name = None  # load_config reports the real problem
    return default_results_dir(name if isinstance(name, str) else Path(config).stem, profile)


@click.group()
def bench() -> None:
    """Benchmark matrices: models x losses x noise x seeds, described by a bench.toml."""


@bench.command()
@CONFIG
@PROFILE
@plugin_option
@click.pass_context
def check(ctx: click.Context, config: str, profile: str | None) -> None:
    """Validate CONFIG (every problem, one line each) without running anything."""
    cfg = load_config(config, profile, ctx.obj["data_dir"], check_names=True)
    problems = preflight_problems(cfg, ctx.obj["data_dir"])  # what a cell would refuse before training
    if problems:
        raise DocrobustError(problems)
    click.echo(f"{config}: ok ({len(cfg.cells())} cells{f', profile {profile}' if profile else ''})")


@bench.command()
@CONFIG
@PROFILE
@plugin_option
@OUT
@click.pass_context
def plan(ctx: click.Context, config: str, profile: str | None, out: str | None) -> None:
    """Print the expanded matrix and which cells are done, failed or pending, without running.

    Data files that are not downloaded yet are listed, not refused, so the matrix can be seen first.
    """
    missing: list[tuple[str, str]] = []
    cfg, store = _load(ctx, config, profile, out, missing_data=missing)
    cells = cfg.cells()
    statuses = cell_statuses(store, cells)
    width = max(len(c.cell_id) for c in cells)
    lines = [f"{'cell':<{width}}  {'status':<8} model / loss / noise / seed"]
    lines += [f"{c.cell_id:<{width}}  {statuses[c.cell_id]:<8} {c.model} / {c.loss} / {c.noise} / {c.seed}"
              for c in cells]
    click.echo("\n".join(lines))
    click.echo(_counts(statuses) + f" -> {store.root}")
    encoding = documents_to_encode(cfg) if not missing else None
    if encoding is not None:
        click.echo(f"feature store: {encoding[0]} of {encoding[1]} documents still need an encoder pass")
    for key, path in missing:
        known = [f.name for f in [*REGISTRY.values(), *CONVERTED.values()] if f.path == path]
        click.echo(f"missing data: {key} = {path!r} is not in {ctx.obj['data_dir']} yet"
                   + (f" (docrobust data download {known[0]})" if known else ""))


def _counts(statuses: dict[str, str]) -> str:
    counts = Counter(statuses.values())
    return f"{len(statuses)} cells: " + ", ".join(f"{counts[s]} {s}" for s in ("done", "failed", "pending", "stale")
                                                   if counts[s])


@bench.command()
@CONFIG
@PROFILE
@plugin_option
@OUT
@click.option("--retry-failed", is_flag=True, help="Run failed cells again.")
@click.option("--no-report", is_flag=True, help="Do not write report.html and report.pdf at the end.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or per-cell lines (CI).")
@click.option("--n-jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel CPU jobs [default: execution.n_jobs].")
@click.pass_context
def run(ctx: click.Context, config: str, profile: str | None, out: str | None, retry_failed: bool, no_report: bool,
        quiet: bool, n_jobs: int | None) -> None:
    """Run every cell without a current result; exit status 1 when any cell failed."""
    cfg, store = _load(ctx, config, profile, out, writes=True)
    summary = run_bench(cfg, store.root, retry_failed=retry_failed, quiet=quiet, n_jobs=n_jobs, report=not no_report)
    click.echo(f"{_counts(summary.statuses)}; ran {len(summary.ran)} in {summary.wall_seconds:.1f} s -> {summary.results_dir}")
    for cell_id in summary.failed:
        click.echo(f"failed: {cell_id}: {store.read_cell(cell_id).error}", err=True)
    if summary.failed:
        click.echo("rerun with --retry-failed to try the failed cells again", err=True)
    ctx.exit(0 if summary.ok else 1)


@bench.command()
def schema() -> None:
    """Print bench.toml's JSON schema (keys, types, ranges, help) for an editor's completion and checks."""
    click.echo(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "bench.toml",
                           **json_schema(BenchFile)}, indent=1))


@bench.command()
@click.argument("results", type=click.Path(file_okay=False))
@click.pass_context
def status(ctx: click.Context, results: str) -> None:
    """List the done, failed and pending cells of a results folder; exit status 1 unless every cell is done."""
    store = ResultsStore(results)
    saved = store.read_bench_json()
    if saved is None:
        raise DocrobustError(f"{results}: no bench.json here; is this a results folder written by `docrobust bench run`?")
    cells = BenchConfig.from_json(saved).cells()
    states = store.states(cells)  # the runner's own test of a result: a cell whose files do not parse is pending
    statuses = {cell_id: state.status for cell_id, state in states.items()}
    for cell in cells:
        state = states[cell.cell_id]
        note = state.record.error if state.status == "failed" else state.problem
        click.echo(f"{state.status:<8} {cell.cell_id}" + (f"  {note}" if note else ""))
    click.echo(_counts(statuses))
    ctx.exit(0 if all(s == "done" for s in statuses.values()) else 1)


commands = [bench]
