"""The command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def acakit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    # a wide table whatever COLUMNS the caller's shell exports (a narrow one folds the labels)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"COLUMNS": "150"}
    return subprocess.run([sys.executable, "-m", "acakit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env=env)


def small_config(tmp_path: Path, **collective) -> Path:
    cfg = {
        "name": "small",
        "dataset": {"name": "product_ratings", "params": {"n_samples": 3000, "n_features": 4}},
        "firm": {"name": "empirical_bayes"},
        "collective": {"strategy": "plant", "target": "rating_1",
                       "signal": {"type": "set_columns", "values": {"f3": 9}}} | collective,
        "sweep": {"alpha": [0.0, 0.05], "seed": [0]},
        "output": {"dir": str(tmp_path / "out")},
    }
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_run_prints_table_and_writes_plot(tmp_path):
    r = acakit("run", str(small_config(tmp_path)), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "success" in r.stdout and "α (%)" in r.stdout
    for name in ("results.csv", "summary.csv", "success.png", "success.svg"):
        assert (tmp_path / "out" / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("collective", "field"),
    [({"alpha": 1.5}, "collective.alpha"), ({"target": "rating_7"}, "collective.target"),
     ({"eligibility": "everyone"}, "collective.eligibility")],
)
def test_bad_field_exits_nonzero_with_one_line(tmp_path, collective, field):
    r = acakit("run", str(small_config(tmp_path, **collective)))
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and field in lines[0], r.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_dataset_one_line(tmp_path):
    p = small_config(tmp_path)
    cfg = yaml.safe_load(p.read_text())
    cfg["dataset"]["name"] = "adlt"
    p.write_text(yaml.safe_dump(cfg))
    r = acakit("run", str(p))
    assert r.returncode != 0 and "dataset.name: 'adlt' is not one of adult" in r.stderr


@pytest.mark.parametrize("where, message", [("missing.yaml", "does not exist"),
                                             (".", "is not a regular file")])
def test_config_path_that_is_not_a_file_is_one_line(tmp_path, where, message):
    r = acakit("run", str(tmp_path / where))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "config: " in lines[0] and message in lines[0], r.stderr


def test_help_does_not_load_the_learning_stack():
    # acakit.fairness and acakit.multi load their submodules on first use: registering the
    # commands (every `acakit ...` call, --help included) must not import scikit-learn & co.
    code = ("import sys, acakit.cli as c; c._register_plugins(); "
            "print(sorted(m for m in ('sklearn', 'scipy', 'fairlearn', 'torch') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    # the exported names mean what they meant with eager imports, whatever was imported first:
    # `simulate` is the function, also after the module acakit.multi.simulate was loaded by
    # another submodule (the import system then binds the module on the package)
    code = ("import sys, types, acakit.multi.estimate, acakit.multi as m, acakit.fairness as f; "
            "from acakit.multi import *; "
            "assert simulate is m.simulate is sys.modules['acakit.multi.simulate'].simulate; "
            "bad = [f'{p.__name__}.{n}' for p in (m, f) for n in p.__all__ "
            "       if isinstance(getattr(p, n), types.ModuleType) "
            "       or getattr(p, n) is not getattr(sys.modules[p._LAZY[n]], n)]; "
            "assert not bad, bad; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "ok", r.stdout + r.stderr


def test_help_everywhere():
    for cmd in ([], ["run"], ["quickstart"], ["datasets"]):
        r = acakit(*cmd, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout


def test_flags_show_no_bool_metavar_and_the_patch_survives_another_typer(monkeypatch):
    r = acakit("run", "--help")
    assert r.returncode == 0 and "--quiet" in r.stdout and "<bool>" not in r.stdout
    # A typer without the hook the patch wraps (the GPU machine's 0.27) must still import acakit.
    import typer.core

    from acakit import cli

    older = type("TyperOption", (), {})
    monkeypatch.setattr(typer.core, "TyperOption", older)
    cli._no_flag_metavar()  # nothing to patch: returns, no AttributeError
    assert not hasattr(older, "display_type_rich")


def test_datasets_lists_bundled_data():
    r = acakit("datasets")
    assert r.returncode == 0
    for name in ("adult", "45,222", "compas", "6,172", "bbc_news", "2,225"):
        assert name in r.stdout


def test_examples_quickstart_is_the_packaged_quickstart():
    packaged = resources.files("acakit").joinpath("configs", "quickstart.yaml").read_text()
    assert (ROOT / "examples" / "quickstart.yaml").read_text() == packaged


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    r = acakit("quickstart", "--out", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "gradient_boosting" in r.stdout and "logistic_regression" in r.stdout
    assert (tmp_path / "success.png").stat().st_size > 10_000
    assert (tmp_path / "results.sqlite").is_file()  # the demo keeps its store
    r = acakit("quickstart", "--out", str(tmp_path), "--quiet")  # a rerun takes every cell from it
    assert r.returncode == 0 and "24 cells: 0 run now, 24 from the store" in r.stdout, r.stdout
    import pandas as pd

    from example_numbers import assert_example_numbers

    results = pd.read_csv(tmp_path / "results.csv")
    assert assert_example_numbers("quickstart", results) == len(results) == 24
