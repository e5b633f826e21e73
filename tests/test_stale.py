"""No stale result: a file named inside a noise spec (`matrix=`, `model=`, `profile=`) is part of the cells'
config hash and of the noisy-set cache key, and a cached noisy set built from other contents is rebuilt."""
from __future__ import annotations

import json
import shutil

from test_safety import bench_toml, instant_train

from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.base import read_json, sha256_file
from docrobust.reports.results import ResultsStore


def manifests(out) -> dict[str, dict]:
    """The manifests of the cached noisy sets built from a spec that names files."""
    found = {p.name: read_json(p) for p in sorted((out / "noisy").glob("*.manifest.json"))}
    return {name: m for name, m in found.items() if "spec_files" in m}


def test_a_changed_spec_file_reruns_its_cells_and_rebuilds_their_noisy_set(tmp_path):
    matrix = tmp_path / "matrix.json"
    matrix.write_text(json.dumps({"P1": {"P2": 1.0}}))
    spec = f"fp-flip:0.3,matrix={matrix}"
    toml = bench_toml(tmp_path / "bench", noise=("clean", spec))
    out = tmp_path / "results"
    first = run_bench(load_config(toml), out, quiet=True, report=False, train_fn=instant_train)
    assert first.ok and len(first.ran) == 4
    (built,) = manifests(out).values()
    assert built["spec_files"] == {str(matrix): sha256_file(matrix)}

    again = run_bench(load_config(toml), out, quiet=True, report=False, train_fn=instant_train)
    assert again.ran == []  # unchanged file: nothing reruns

    matrix.write_text(json.dumps({"P1": {"P3": 1.0}, "P2": {"P3": 1.0}}))
    changed = run_bench(load_config(toml), out, quiet=True, report=False, train_fn=instant_train)
    assert sorted(changed.ran) == [c for c in ResultsStore(out).cell_ids() if "fp-flip" in c] and len(changed.ran) == 2
    rebuilt = {n: m for n, m in manifests(out).items() if m["spec_files"] == {str(matrix): sha256_file(matrix)}}
    assert len(manifests(out)) == 2 and len(rebuilt) == 1
    ((name, current),) = rebuilt.items()
    assert {r[-1] for s in current["steps"] for r in s["changed"]} == {"P3"}  # flips follow the new matrix

    # a cached set under the current key whose manifest names other contents (a copy, an older docrobust) is rebuilt
    (out / "noisy" / name).write_text(json.dumps({**current, "spec_files": {str(matrix): "0" * 64}}))
    for cell in changed.ran:
        shutil.rmtree(out / "cells" / cell)
    run_bench(load_config(toml), out, quiet=True, report=False, train_fn=instant_train)
    assert read_json(out / "noisy" / name)["spec_files"] == {str(matrix): sha256_file(matrix)}


def test_a_missing_spec_file_is_a_config_problem(tmp_path, capsys):
    from test_safety import run_cli

    toml = bench_toml(tmp_path / "bench", noise=("clean", f"fp-flip:0.3,matrix={tmp_path / 'gone.json'}"))
    code, _, err = run_cli(capsys, "bench", "check", str(toml))
    assert code == 2 and f"{tmp_path / 'gone.json'}: no such file" in err and err.count("\n") == 1, err
