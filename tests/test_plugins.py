"""Plugins: a user's loss and noise model (examples/plugins/) listed, validated, trained in a tiny matrix on both
backends and rerun when edited; installed entry points; broken plugins are one line each with exit status 2."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import make_corpus, run_main
from test_bench_run import bench_toml, read_rows, write_toml
from tiny_encoder import tiny_encoder_dir  # noqa: F401

from docrobust.base import DocrobustError, load_entry_points, load_plugin
from docrobust.bench.config import load_config
from docrobust.bench.runner import run_bench
from docrobust.models.losses import LOSSES, build_loss
from docrobust.noise import NOISE_MODELS, apply_noise

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "plugins"


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    """One copy of the example plugins for the module, free to edit (a process registers a name once)."""
    folder = tmp_path_factory.mktemp("examples") / "plugins"
    shutil.copytree(EXAMPLES, folder)
    return folder


def test_a_plugin_file_is_listed_with_its_options_and_works_like_ours(plugins, capsys):
    code, out, _ = run_main(["losses", "list", "--plugin", str(plugins / "margin_atl.py")], capsys)
    assert code == 0 and "margin-atl" in out and "margin=1.0" in out
    code, out, _ = run_main(["noise", "list", "--plugin", str(plugins / "fn_entity.py")], capsys)
    assert code == 0 and "fn-entity:RATE" in out
    with pytest.raises(DocrobustError, match="loss 'margin-atl' option margin: must be >= 0, got -1"):
        build_loss("margin-atl", margin=-1)
    assert LOSSES.source("margin-atl").endswith("margin_atl.py")


def test_the_margin_loss_is_atl_at_margin_zero_and_the_entity_noise_removes_exactly_k(plugins):
    import torch

    load_plugin(str(plugins / "margin_atl.py"))
    load_plugin(str(plugins / "fn_entity.py"))
    logits, labels = torch.randn(50, 6), (torch.rand(50, 6) < 0.3).float()
    labels[:, 0] = (labels[:, 1:].sum(1) == 0).float()
    assert torch.allclose(build_loss("margin-atl", margin=0.0)(logits, labels), build_loss("atl")(logits, labels))
    assert build_loss("margin-atl", margin=1.0)(logits, labels) > build_loss("atl")(logits, labels)
    docs = make_corpus(20)
    n = sum(len(d["labels"]) for d in docs)
    noisy, manifest = apply_noise(docs, "fn-entity:0.4", 3)
    assert sum(len(d["labels"]) for d in noisy) == n - round(0.4 * n) and manifest["steps"][0]["n_removed"] == round(0.4 * n)


def test_bench_check_validates_plugin_options_and_a_colliding_name_is_one_line(plugins, tmp_path, data_dir, capsys):
    toml = write_toml(tmp_path / "bench", bench_toml("enc", models=("atlop",), losses=("margin-atl",))
                      + f'[plugins]\nmodules = ["{plugins / "margin_atl.py"}"]\n[loss_options.margin-atl]\nmargin = -1\n')
    code, _, err = run_main(["--data-dir", str(data_dir), "bench", "check", str(toml)], capsys)
    assert code == 2 and "bench.toml: loss_options.margin-atl.margin: must be >= 0, got -1" in err, err
    clash = plugins / "clash.py"
    clash.write_text("from docrobust.models.losses import DocRELoss, register_loss\n\n"
                     "@register_loss('atl')\nclass Mine(DocRELoss):\n    pass\n")
    code, _, err = run_main(["losses", "list", "--plugin", str(clash)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"loss 'atl' from {clash} is already registered by docrobust.models.losses" in err


@pytest.mark.parametrize("body, says", [
    ("import numpy\nnumpy.frobnicate()\n", "plugin {}: failed to import: AttributeError: module 'numpy' has no "
                                            "attribute 'frobnicate' ({}:2 in <module>)"),
    ("X = 1\n", "plugin {}: registers nothing; decorate a loss, model or noise model"),
])
def test_a_plugin_that_raises_or_registers_nothing_is_one_line_exit_2(tmp_path, capsys, body, says):
    path = tmp_path / "broken.py"
    path.write_text(body)
    code, _, err = run_main(["models", "list", "--plugin", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert says.format(path, path) in err, err
    code, _, err = run_main(["models", "list", "--plugin", str(tmp_path / "absent.py")], capsys)
    assert code == 2 and f"plugin {tmp_path / 'absent.py'}: no such file" in err


def installed_plugin(site: Path, package: str, loss: str, version: str = "0.3") -> Path:
    """A package installed into `site` (its dist-info, as pip writes it) whose docrobust.plugins entry point
    registers the example margin loss as `loss`."""
    (site / package).mkdir(parents=True, exist_ok=True)
    (site / package / "__init__.py").write_text(
        (EXAMPLES / "margin_atl.py").read_text().replace('"margin-atl"', f'"{loss}"'))
    info = site / f"{package}-0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[docrobust.plugins]\n{package} = {package}\n")
    return site


def test_an_installed_entry_point_is_loaded_at_start_up(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(installed_plugin(tmp_path / "site", "mylosses", "installed-margin-atl")))
    code, out, _ = run_main(["losses", "list"], capsys)
    assert code == 0 and "installed-margin-atl" in out
    assert LOSSES.source("installed-margin-atl") == "mylosses"
    [plugin] = [p for p in load_entry_points() if p.source == "mylosses"]
    assert plugin.fingerprint.startswith("mylosses==0.3:")


@pytest.mark.slow
def test_an_installed_plugin_is_checked_trained_and_rerun_when_upgraded(tiny_encoder_dir, data_dir, tmp_path,  # noqa: F811
                                                                       monkeypatch, capsys):
    site = installed_plugin(tmp_path / "site", "eplosses", "ep-margin-atl")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))  # the fresh processes of plan_statuses
    load_entry_points()
    bad = write_toml(tmp_path / "bad", bench_toml(tiny_encoder_dir, models=("atlop",), losses=("ep-margin-atl",),
                                                  noise=("clean",)) + "[loss_options.ep-margin-atl]\nmargin = -2\n")
    code, _, err = run_main(["--data-dir", str(data_dir), "bench", "check", str(bad)], capsys)
    assert code == 2 and "loss_options.ep-margin-atl.margin: must be >= 0, got -2" in err, err
    toml = write_toml(tmp_path / "ok", bench_toml(tiny_encoder_dir, models=("atlop",), losses=("atl", "ep-margin-atl"),
                                                  noise=("clean",), extra="[execution]\ngpus_per_run = 0\n"))
    summary = run_bench(load_config(toml, None, data_dir), tmp_path / "results", quiet=True, report=False)
    assert {r["status"] for r in read_rows(summary.results_dir)} == {"done"}
    assert plan_statuses(toml, summary.results_dir, data_dir) == {"atlop__atl__clean__s0": "done",
                                                                 "atlop__ep-margin-atl__clean__s0": "done"}
    installed_plugin(site, "eplosses", "ep-margin-atl", version="0.4")  # pip install -U
    assert plan_statuses(toml, summary.results_dir, data_dir) == {"atlop__atl__clean__s0": "done",
                                                                 "atlop__ep-margin-atl__clean__s0": "stale"}


def matrix_with_plugins(encoder: Path, backend: str) -> str:
    """The tiny matrix with the example loss and noise model, for a bench.toml in a folder beside `plugins/`."""
    return bench_toml(encoder, models=("atlop",), losses=("atl", "margin-atl"), noise=("clean", "fn-entity:0.3"),
                      extra=backend) + textwrap.dedent("""
        [plugins]
        modules = ["../plugins/margin_atl.py", "../plugins/fn_entity.py"]
        """)


def plan_statuses(toml: Path, results: Path, data_dir: Path) -> dict[str, str]:
    """`docrobust bench plan` in a fresh process (which loads the plugins as they are now): cell -> status."""
    done = subprocess.run([sys.executable, "-c", "from docrobust.bench.cli import main; main()", "--data-dir",
                           str(data_dir), "bench", "plan", str(toml), "--out", str(results)],
                          capture_output=True, text=True, check=True)
    return dict(line.split()[:2] for line in done.stdout.splitlines()[1:] if "__" in line.split()[0])


@pytest.mark.slow
def test_plugin_cells_train_on_loky_workers_and_rerun_when_the_plugin_changes(plugins, tiny_encoder_dir, data_dir,  # noqa: F811
                                                                              tmp_path):
    toml = write_toml(plugins.parent / "loky", matrix_with_plugins(  # relative paths: beside the plugins
        tiny_encoder_dir, "[execution]\nn_jobs = 2\ngpus_per_run = 0\n"))
    cfg = load_config(toml, None, data_dir)
    summary = run_bench(cfg, tmp_path / "results", quiet=True, report=False)
    rows = {r["cell_id"]: r for r in read_rows(summary.results_dir)}
    assert len(rows) == 4 and {r["status"] for r in rows.values()} == {"done"}, rows
    assert plan_statuses(toml, summary.results_dir, data_dir) == dict.fromkeys(rows, "done")
    (plugins / "margin_atl.py").write_text((plugins / "margin_atl.py").read_text() + "# edited\n")
    statuses = plan_statuses(toml, summary.results_dir, data_dir)
    assert statuses == {c.cell_id: "stale" if c.loss == "margin-atl" else "done" for c in cfg.cells()}  # rerun by `run`


@pytest.mark.slow
def test_plugin_cells_train_on_a_dask_cluster(plugins, tiny_encoder_dir, data_dir, tmp_path):  # noqa: F811
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1, resources={"GPU": 1},
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40,
                                  local_directory=str(tmp_path / "dask")) as cluster:
        backend = f'[execution]\nbackend = "dask"\nscheduler = "{cluster.scheduler_address}"\ngpus_per_run = 1\n'
        cfg = load_config(write_toml(plugins.parent / "dask", matrix_with_plugins(tiny_encoder_dir, backend)),
                          None, data_dir)
        summary = run_bench(cfg, tmp_path / "results", quiet=True, report=False)
    rows = read_rows(summary.results_dir)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}, rows
    assert NOISE_MODELS.source("fn-entity").endswith("fn_entity.py")


def test_a_model_plugin_trains_through_our_trainer_and_feature_store(tiny_encoder_dir, tmp_path, capsys):  # noqa: F811
    """A model registered by a plugin is built by name by `train`, on stored encoder inputs (freeze_encoder)."""
    plugin = tmp_path / "my_model.py"
    plugin.write_text(textwrap.dedent('''
        from docrobust.models.atlop import ATLOP
        from docrobust.models.registry import register_model

        @register_model("half-atlop")
        class HalfATLOP(ATLOP):
            """ATLOP with its logits halved."""
            def head(self, inputs):
                return super().head(inputs) / 2
        '''))
    (tmp_path / "docs.json").write_text(json.dumps(make_corpus(6, ("P1", "P2"), seed=3)))
    code, out, err = run_main(["train", "--plugin", str(plugin), "--model", "half-atlop", "--train",
                              str(tmp_path / "docs.json"), "--dev", str(tmp_path / "docs.json"), "--relations", "infer",
                              "--encoder", str(tiny_encoder_dir), "--freeze-encoder", "--epochs", "1", "--max-len",
                              "128", "--model-option", "emb_size=32", "--model-option", "block_size=8", "--out",
                              str(tmp_path / "run"), "--quiet"], capsys)
    assert code == 0 and "best epoch 1 of 1" in out, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["model"] == "half-atlop"


def test_a_figure_plugin_is_drawn_in_its_own_section_of_the_report(tmp_path):
    """In a process of its own: a figure registered here would be drawn in every later report of this session."""
    from synthetic import write_synthetic_results

    plugin = tmp_path / "my_figure.py"
    plugin.write_text(textwrap.dedent('''
        from matplotlib.figure import Figure
        from docrobust.reports.plots import figure

        @figure("mean_f1_by_loss", "Mean test F1 over every cell of each loss, in %.")
        def mean_f1_by_loss(summary):
            means = summary.groupby("loss")["f1_mean"].mean() * 100
            fig = Figure(figsize=(4, 2))
            fig.subplots().bar(means.index, means.to_numpy())
            return fig
        '''))
    results = write_synthetic_results(tmp_path / "results", models=("m",), losses=("atl", "cmm"),
                                      noise={"fn-uniform": (0.2,)}, seeds=(0,), n_docs=5)
    done = subprocess.run([sys.executable, "-c", "from docrobust.bench.cli import main; main()", "report",
                           str(results), "--plugin", str(plugin), "--out", str(tmp_path / "r.html")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    section = html[html.index("Figures from plugins"):]
    assert "Mean test F1 over every cell of each loss, in %." in section and "data:image/png;base64," in section
