"""`docrobust noise ...`: list the noise models, generate a noisy corpus, measure a real noise profile."""
from __future__ import annotations

from pathlib import Path

import click

from docrobust.base import DocrobustError, atomic_write_json, check_io, read_json, sha256_file
from docrobust.corpus import load_docs
from docrobust.corpus.data import REGISTRY, resolve_path
from docrobust.corpus.relations import relation_names
from docrobust.noise import (NOISE_MODELS, apply_noise, check_spec, manifest_path, measure_profile, needs_low_docs,
                             needs_profile, parse_spec, read_noisy, spec_files, write_noisy)
from docrobust.noise.pairs import PAIRS, pair_paths

from .options import plugin_option


@click.group()
def noise() -> None:
    """Label-noise injection: list models, generate noisy copies, profile real annotation noise."""


@noise.command("list")
@plugin_option
def list_() -> None:
    """Show every noise model with its options and what it does."""
    for model in NOISE_MODELS.values():
        usage = model.name + (":RATE" if model.takes_rate else "")
        usage += "".join(f",{k}={'PATH' if v is None else v}" for k, v in model.options.items())
        click.echo(f"{usage:<32} {model.summary}")


def _interrupted(out: Path) -> bool:
    """OUT.json beside a manifest of ours that describes other documents: a generate killed between write_noisy's
    two renames, which is no result and may be replaced without --force. (Documents without any manifest may be
    anybody's file: those still need --force.)"""
    try:
        manifest = read_json(manifest_path(out))
    except (DocrobustError, OSError):
        return False
    return isinstance(manifest, dict) and "output_sha256" in manifest and out.is_file() and read_noisy(out) is None


@noise.command()
@plugin_option
@click.argument("input")
@click.option("--spec", required=True, help="Noise spec, e.g. fn-uniform:0.3+fp-type:0.1 (see `docrobust noise list`).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", required=True, metavar="OUT.json", help="Noisy documents; the manifest goes to OUT.manifest.json.")
@click.option("--low", metavar="LOW.json", help="Aligned low-quality version of INPUT (for mixed).")
@click.option("--profile", metavar="P.json", help="Noise profile from `docrobust noise profile` (for real).")
@click.option("--force", is_flag=True, help="Overwrite OUT.json and its manifest.")
@click.pass_obj
def generate(obj: dict, input: str, spec: str, seed: int, out: str, low: str | None, profile: str | None,
             force: bool) -> None:
    """Write a noisy copy of INPUT and a manifest of every change (replayable with docrobust.noise.replay)."""
    data_dir = obj["data_dir"]
    parse_spec(spec)
    if needs_low_docs(spec) and not low:
        raise DocrobustError(f"spec {spec!r} needs --low LOW.json, an aligned low-quality version of {input}")
    if needs_profile(spec) and not profile:
        raise DocrobustError(f"spec {spec!r} needs --profile P.json (from `docrobust noise profile`)")
    source, low_path, profile_path = (resolve_path(p, data_dir) if p else None for p in (input, low, profile))
    out_path = Path(out)
    check_io([source, low_path, profile_path, *spec_files(spec, data_dir)], [out_path, manifest_path(out_path)],
             force=force or _interrupted(out_path))
    check_spec(spec, data_dir)
    noisy, manifest = apply_noise(
        load_docs(source), spec, seed, source_sha256=sha256_file(source),
        low_docs=load_docs(low_path) if low_path else None, profile=read_json(profile_path) if profile_path else None,
        data_dir=data_dir)
    manifest = write_noisy(noisy, manifest, out_path)
    steps = "; ".join(f"{s['name']}: -{s['n_removed']:,} +{s['n_added']:,} ~{s['n_changed']:,} "
                      f"(achieved {s['achieved_rate']:.4f})" for s in manifest["steps"])
    click.echo(f"{out_path}: {len(noisy):,} documents, {manifest['positives_before']:,} -> "
               f"{manifest['positives_after']:,} labels; {steps}; total rate {manifest['achieved_rate']:.4f}")


@noise.command()
@click.argument("low", metavar="LOW|PAIR")
@click.argument("high", nargs=-1)
@click.option("--out", metavar="profile.json", help="Write the profile here (JSON).")
@click.option("--top", default=10, show_default=True, help="Relations to list.")
@click.pass_obj
def profile(obj: dict, low: str, high: tuple[str, ...], out: str | None, top: int) -> None:
    """Per-relation false-negative / false-positive rates of LOW against HIGH (several files allowed), or of a
    registered real-noise PAIR (`docrobust noise pairs`)."""
    data_dir = obj["data_dir"]
    if high:
        low_paths, high_paths = [resolve_path(low, data_dir)], [resolve_path(f, data_dir) for f in high]
    elif low in PAIRS:
        low_paths, high_paths = pair_paths(low, data_dir)
    else:
        raise DocrobustError(f"{low!r} is not a registered real-noise pair ({', '.join(PAIRS)}); "
                          "give LOW and HIGH files, or a pair's name")
    if out:
        check_io([*low_paths, *high_paths], [out], force=True)
    high_docs = [d for path in high_paths for d in load_docs(path)]
    result = measure_profile([d for path in low_paths for d in load_docs(path)], high_docs)
    if out:
        atomic_write_json(out, result)
    total = result["totals"]
    if total["low"] > total["high"]:
        click.echo(f"warning: LOW has more labels than HIGH on the aligned documents ({total['low']:,} vs "
                   f"{total['high']:,}); were they swapped? The profile treats HIGH as the correct labels", err=True)
    click.echo(f"aligned {result['aligned']:,} documents ({result['entity_mismatch']} with other entities, "
               f"{result['only_low']} only in LOW, {result['only_high']} only in HIGH)")
    click.echo(f"labels: {total['low']:,} in LOW, {total['high']:,} in HIGH; false negatives {total['fn']:,} "
               f"(rate {total['fn_rate']:.4f}), false positives {total['fp']:,} (rate {total['fp_rate']:.4f})")
    names = relation_names(data_dir)
    for key in ("fn", "fp"):
        rows = sorted(((r, c) for r, c in result["per_relation"].items() if c[key]),
                      key=lambda kv: (-kv[1][f"{key}_rate"], kv[0]))[:top]
        click.echo(f"largest {key.upper()} rates:  {'relation':<8} {'rate':>6} {key:>6} {'high':>6}")
        for r, c in rows:
            click.echo(f"{'':<21}{r:<8} {c[f'{key}_rate']:>6.3f} {c[key]:>6,} {c['high']:>6,}  {names.get(r, '')}")
    if out:
        click.echo(f"wrote {out}")


@noise.command()
@click.pass_obj
def pairs(obj: dict) -> None:
    """Registered real-noise pairs (low -> high), usable as `noise profile NAME` and `real:RATE,profile=NAME`."""
    root = obj["data_dir"]
    for name, pair in PAIRS.items():
        present = all((root / REGISTRY[f].path).is_file() for f in pair.files)
        click.echo(f"{name:<20} {'present' if present else 'missing':<8} {' + '.join(pair.low)} -> "
                   f"{' + '.join(pair.high)}  {pair.description}")
        if not present:
            click.echo(f"{'':<29}docrobust data download {' '.join(pair.files)}")


commands = [noise]
