"""What a reader sees and keeps: refused runs leave everything as it was, tests never write into
the checkout, Ctrl-C says what is stored and how to finish."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from acakit.cli import _register_plugins, app

_register_plugins()

ROOT = Path(__file__).resolve().parents[1]
RAT = {"name": "product_ratings", "params": {"n_samples": 800, "n_features": 4}}


def _config(path: Path, out: str, **extra: object) -> Path:
    cfg = {"name": "reader", "dataset": RAT, "firm": {"name": "empirical_bayes"},
           "collective": {"strategy": "plant", "target": "rating_1",
                          "signal": {"type": "set_columns", "values": {"f3": 9}}},
           "sweep": {"alpha": [0.0, 0.05], "seed": [0]}, "output": {"dir": out}} | extra
    path.write_text(json.dumps(cfg))
    return path


def _run_cli(path: Path, cfg: dict, columns: int | None = None):
    """``acakit run -j 1`` on ``cfg`` written to ``path``: the result (exit 0 asserted) and its
    stdout on one line."""
    path.write_text(json.dumps(cfg))
    r = CliRunner().invoke(app, ["run", str(path), "-j", "1"],
                           env=None if columns is None else {"COLUMNS": str(columns)})
    assert r.exit_code == 0, r.output
    return r, " ".join(r.stdout.split())


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("opts", [["--runner", "dask"], ["--runner", "ray", "--address", "foo:bar"],
                                  ["--jobs", "2", "--address", "127.0.0.1:0"]])
def test_a_refused_run_leaves_folder_and_store_exactly_as_they_were(tmp_path, opts):
    cfg = _config(tmp_path / "c.json", str(tmp_path / "out"))
    r = CliRunner().invoke(app, ["run", str(cfg), "-j", "1"])
    assert r.exit_code == 0, r.stderr
    before = _snapshot(tmp_path / "out")
    assert "results.sqlite" in before
    r = CliRunner().invoke(app, ["run", str(cfg), *opts])
    assert r.exit_code == 2 and r.stderr.startswith("error: "), r.stderr
    assert _snapshot(tmp_path / "out") == before  # byte for byte, the store included
    fresh = _config(tmp_path / "d.json", str(tmp_path / "new" / "deeper"))
    r = CliRunner().invoke(app, ["run", str(fresh), *opts])
    assert r.exit_code == 2, r.stderr
    assert not (tmp_path / "new").exists()  # nothing created


def test_a_relative_output_folder_is_inside_the_tests_folder_not_the_checkout():
    """The suite's conftest runs every test in a folder of its own: ``pytest`` run in a checkout
    whose ``results/`` holds a user's stores leaves them untouched."""
    assert Path.cwd().resolve() != ROOT
    before = sorted(p.name for p in (ROOT / "results").glob("*")) if (ROOT / "results").exists() else []
    cfg = _config(Path("c.json"), "results/reader_relative")
    r = CliRunner().invoke(app, ["run", str(cfg), "-j", "1"])
    assert r.exit_code == 0, r.stderr
    assert (Path.cwd() / "results" / "reader_relative" / "results.sqlite").is_file()
    after = sorted(p.name for p in (ROOT / "results").glob("*")) if (ROOT / "results").exists() else []
    assert after == before and "reader_relative" not in after


def _stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=1) as c:
            return int(c.execute("SELECT COUNT(*) FROM cells").fetchone()[0])
    except sqlite3.Error:
        return 0


def _ctrl_c_once_stored(args: list[str], store: Path, n: int,
                        timeout: float = 180) -> tuple[int, str]:
    """Start ``acakit ARGS`` in a process group of its own, send SIGINT to the whole group (what
    Ctrl-C in a terminal does) once ``store`` holds ``n`` cells; its exit code and stderr."""
    p = subprocess.Popen([sys.executable, "-m", "acakit", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.time()
    while _stored(store) < n and time.time() - t0 < timeout and p.poll() is None:
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


@pytest.mark.slow
def test_ctrl_c_says_what_is_stored_and_how_to_finish(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C in a terminal does) mid-sweep: one line
    naming the stored count and the command that finishes; the rerun runs only the rest."""
    cfg = {"name": "interrupted", "dataset": {"name": "digits", "test_size": 0.3},
           "firm": {"name": "torch_mlp", "params": {"epochs": 30}},
           "collective": {"strategy": "plant", "target": 0,
                          "signal": {"type": "patch", "value": 16, "size": 2}},
           "sweep": {"alpha": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], "seed": [0, 1, 2]},
           "output": {"dir": str(tmp_path / "out")}}
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(cfg))
    store = tmp_path / "out" / "results.sqlite"
    code, err = _ctrl_c_once_stored(["run", str(path), "-j", "2"], store, 2)
    assert code == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    m = re.fullmatch(r"interrupted: (\d+) of 18 cells stored in (.+); rerun `acakit run (.+)` "
                     r"to finish the other (\d+) \(stored cells are skipped\)", lines[0])
    assert m, lines[0]
    n = int(m.group(1))
    assert 2 <= n < 18 and int(m.group(4)) == 18 - n and n == _stored(store)
    r = subprocess.run([sys.executable, "-m", "acakit", "run", *shlex.split(m.group(3)), "-q"],
                       capture_output=True, text=True)  # the command the line names
    assert r.returncode == 0, r.stderr
    assert f"18 cells: {18 - n} run now, {n} from the store" in r.stdout


FAIRNESS_ALPHA = {
    "name": "COMPAS: unfairness vs collective size (small)", "experiment": "fairness",
    "dataset": {"name": "compas", "test_size": 0.3},
    "groups": {"minority": {"race": "African-American"}, "majority": {"race": "Caucasian"},
               "favorable": "no_recid"},
    "firm": {"name": "logistic_regression"},
    "relabel": {"methods": ["probability", "label", "random"],
                "alphas": [0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0],
                "budgets": [0.0, 0.25, 0.5, 0.75, 1.0], "thresholds": []},
    "baselines": [], "seeds": [0, 1, 2], "analyses": ["pareto"],
}


@pytest.mark.slow
def test_fairness_alpha_resumes_after_ctrl_c_and_prints_the_saturation(tmp_path):
    """``acakit fairness alpha`` keeps a store like ``acakit run``: killed halfway (SIGINT to the
    process group) and rerun, it recomputes no finished cell and prints where the best gap
    saturates."""
    path = tmp_path / "alpha.json"
    path.write_text(json.dumps(FAIRNESS_ALPHA | {"output": {"dir": str(tmp_path / "out")}}))
    store = tmp_path / "out" / "results.sqlite"
    code, err = _ctrl_c_once_stored(["fairness", "alpha", str(path), "-j", "2"], store, 10)
    assert code == 130, err
    n = _stored(store)
    assert f"interrupted: {n} of " in err and "acakit fairness alpha" in err, err
    r = subprocess.run([sys.executable, "-m", "acakit", "fairness", "alpha", str(path), "-j", "2"],
                       capture_output=True, text=True, env=dict(os.environ, COLUMNS="100"))
    assert r.returncode == 0, r.stderr
    m = re.search(r"(\d+) cells: (\d+) run now, (\d+) from the store", r.stdout)
    assert m and int(m.group(3)) == n and int(m.group(2)) == int(m.group(1)) - n, r.stdout
    flat = " ".join(r.stdout.split())  # the table's title may wrap
    assert "best eo_gap over budgets" in flat
    for meth in ("probability", "label", "random"):
        assert re.search(rf"{meth}: saturates at α = [\d.]+ \(eo_gap [\d.]+; lowest", flat)
    assert (tmp_path / "out" / "saturation.csv").is_file()


def test_multi_bound_says_vacuous_and_names_the_missing_input():
    r = CliRunner().invoke(app, ["multi-bound", "--alpha", "0.01", "--gap", "0.5",
                                 "--signal-mass", "0.001", "--others", "0.02",
                                 "--conflict", "0.002"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    rows = {ln.split("│")[1].strip(): ln.split("│")[3].strip() for ln in r.stdout.splitlines()
            if ln.startswith("│")}
    assert rows["worst"] == "vacuous"  # a negative lower bound is printed as what it means
    assert rows["aggregate"] == "0.7515"
    assert rows["full"] == "needs --net-conflict"
    assert "Bayes-optimal" in r.stdout and "-1.0" not in r.stdout


def test_multi_table_names_what_its_bounds_hold_for(tmp_path):
    cfg = {"name": "two collectives", "experiment": "multi", "dataset": RAT,
           "firm": {"name": "logistic_regression"},
           "collectives": [{"name": "a", "signal": {"type": "set_columns", "values": {"f3": 9}},
                            "target": "rating_1", "alpha": 0.03},
                           {"name": "b", "signal": {"type": "set_columns", "values": {"f3": 9}},
                            "target": "rating_2", "alpha": 0.02}],
           "sweep": {"collective": "b", "alpha": [0.0, 0.02], "seed": [0, 1]},
           "output": {"dir": str(tmp_path / "out")}}
    r, flat = _run_cli(tmp_path / "m.json", cfg, columns=120)
    assert "plug-in values for a firm that is ε-optimal on the mixture" in flat
    assert "holding with probability >= 0.95" in flat
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    if (res["bound_full"] <= 0).any() or (res["finite_full"] <= 0).any():
        assert "vacuous" in r.stdout
    assert not re.search(r"│[^│\n]*-0\.\d{3}", r.stdout)  # no negative bound printed as a number


def test_the_eta_counts_the_contexts_still_to_build():
    from acakit.engine.runners import CellOutcome, _Progress, eta_seconds

    # 4 contexts of 5 cells; a first cell costs 30 s (split + clean firm), the others 2 s
    context_of = {f"c{k}{i}": f"ctx{k}" for k in range(4) for i in range(5)}
    bar = _Progress(20, 0, 0, enabled=False, label="t", context_of=context_of, workers=1)
    bar.advance(CellOutcome("c00", {}, seconds=30.0))
    bar.advance(CellOutcome("c01", {}, seconds=2.0))
    # 18 cells left, 3 of them first cells of their contexts: 3 x 30 + 15 x 2
    assert bar.eta() == pytest.approx(120.0)
    assert (30.0 + 2.0) / 2 * 18 == 288.0  # what the mean seconds per cell so far would say
    for i in range(2, 5):
        bar.advance(CellOutcome(f"c0{i}", {}, seconds=2.0))
    assert bar.eta() == pytest.approx(3 * 30.0 + 12 * 2.0)
    assert eta_seconds([30.0], [2.0], contexts_left=3, cells_left=15, workers=2) == pytest.approx(57.0)


def test_the_app_warns_when_served_beyond_this_machine(monkeypatch):
    pytest.importorskip("streamlit")
    import typer

    import acakit.app.cli as app_cli

    def no_exec(*args, **kwargs):
        raise typer.Exit(0)

    monkeypatch.setattr(app_cli.os, "execve", no_exec)
    monkeypatch.setattr(app_cli.subprocess, "call", lambda *a, **k: 0)
    r = CliRunner().invoke(app, ["app", "--address", "0.0.0.0", "--port", "8765"])
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("warning: --address 0.0.0.0: the app is reachable from other")
    r = CliRunner().invoke(app, ["app", "--port", "8765"])
    assert r.exit_code == 0 and "warning" not in r.stderr


def test_a_config_name_with_escape_sequences_never_reaches_the_terminal_raw(tmp_path):
    """The name becomes the figure's title; matplotlib warns about the control characters it
    cannot draw: every line printed (table, warnings) shows them as visible text."""
    cfg = _config(tmp_path / "c.json", str(tmp_path / "out"))
    raw = json.loads(cfg.read_text())
    raw["name"] = "evil \x1b[31mred\x1b[0m \x07bell"
    r, flat = _run_cli(cfg, raw)
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    assert "\\x1b[31mred" in flat


def test_an_all_trivial_fairness_table_warns_in_one_grouped_line(tmp_path):
    cfg = {"name": "trivial fairness", "experiment": "fairness",
           "dataset": {"name": "minority_synthetic", "params": {"n_samples": 600}},
           "groups": {"minority": {"group": "minority"}, "favorable": "positive"},
           "firm": {"name": "sklearn.dummy.DummyClassifier"},
           "relabel": {"methods": ["probability", "random"], "alpha": 0.5,
                       "budgets": [0.0, 0.5, 1.0]},
           "baselines": [], "seeds": [0], "analyses": ["pareto"],
           "output": {"dir": str(tmp_path / "out")}}
    r, flat = _run_cli(tmp_path / "f.json", cfg, columns=200)
    assert flat.count("warning: trivial predictions") == 1, r.stdout
    assert re.search(r"trivial predictions \(one class, or no better than the majority rate\) "
                     r"in (\d+) of \1 rows", flat), flat
