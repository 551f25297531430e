"""Plugins: one registry per kind, installed entry points, Python objects on every runner.

The worked package ``examples/plugin_package`` is really installed (pip, from its own
``pyproject.toml``) into a folder of its own, and the CLI runs with that folder on its path:
the entry points are found by :mod:`importlib.metadata` exactly as for a package installed in
the environment, and the environment of the test run is not changed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import acakit
from acakit.engine import execute, prepare
from acakit.engine.config import ConfigError
from acakit.engine.runners import RunnerError
from acakit.engine.store import load
from acakit.registry import REGISTRIES, PluginError, using
from acakit.strategies import Strategy

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "plugin_package"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """An environment whose Python sees the worked plugin package, installed by pip."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(PACKAGE)],
                   check=True, capture_output=True, timeout=300)
    cache = tmp_path_factory.mktemp("cache")
    return os.environ | {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
                         "ACAKIT_CACHE_DIR": str(cache), "COLUMNS": "200"}


def acakit_cli(env: dict, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "acakit", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _sweep(tmp_path: Path, **changes) -> Path:
    cfg = yaml.safe_load((PACKAGE / "sweep.yaml").read_text())
    cfg["output"] = {"dir": str(tmp_path / "out")}
    for path, value in changes.items():
        node = cfg
        *head, last = path.split(".")
        for k in head:
            node = node[k]
        node[last] = value
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.slow  # end to end: six acakit processes, about 22 s on 2 cores
def test_the_worked_package_runs_reruns_and_redraws_through_the_cli(plugin_env, tmp_path):
    listed = acakit_cli(plugin_env, "plugins")
    assert listed.returncode == 0, listed.stderr
    for name in ("label_budget", "signal_lift", "toy_loans", "acakit-example-plugin", "0.1.0"):
        assert name in listed.stdout

    cfg = _sweep(tmp_path)
    first = acakit_cli(plugin_env, "run", str(cfg), "-j", "2", "-q")
    assert first.returncode == 0, first.stderr
    store = tmp_path / "out" / "results.sqlite"
    df = load(store)
    n = 18  # 3 sizes x 3 seeds x 2 shares
    assert len(df) == n and (df["status"] == "ok").all()
    # the metric's column and the code that made every row
    assert df["signal_lift"].notna().all()
    assert df["plugins"].str.contains("strategies.label_budget=acakit-example-plugin 0.1.0").all()
    assert df["plugins"].str.contains("metrics.signal_lift=acakit-example-plugin 0.1.0").all()
    assert df["plugins"].str.contains("datasets.toy_loans=acakit-example-plugin 0.1.0").all()
    # relabelling every member plants the signal more than relabelling half of them
    by_share = df.groupby(df["variant"].str.contains("share=1"))["success"].mean()
    assert by_share[True] > by_share[False]

    again = acakit_cli(plugin_env, "run", str(cfg), "-j", "2", "-q")
    assert again.returncode == 0 and f"0 run now, {n} from the store" in again.stdout, again.stdout

    out = tmp_path / "redrawn"
    redrawn = acakit_cli(plugin_env, "report", str(store), "--out", str(out))
    assert redrawn.returncode == 0, redrawn.stderr
    assert "signal_lift" in redrawn.stdout
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"signal_lift", "signal_lift_lo", "signal_lift_hi"} <= set(metrics.columns)
    assert (out / "signal_lift.png").exists()
    # the redraw needs none of the plugin's code: the same report without it installed
    bare = os.environ | {"ACAKIT_CACHE_DIR": plugin_env["ACAKIT_CACHE_DIR"]}
    without = acakit_cli(bare, "report", str(store), "--out", str(tmp_path / "bare"))
    assert without.returncode == 0, without.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "bare" / "metrics.csv"), metrics)


def test_a_plugin_s_wrong_parameters_are_refused_before_any_cell(plugin_env, tmp_path):
    cfg = _sweep(tmp_path, **{"collective.strategy": {"name": "label_budget",
                                                      "params": {"share": 2}}})
    r = acakit_cli(plugin_env, "run", str(cfg))
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1, r.stderr
    assert err.startswith("error: collective.strategy_params.share:") and "1" in err, err
    assert not (tmp_path / "out").exists()  # nothing created

    cfg = _sweep(tmp_path, **{"collective.strategy": {"name": "label_budget",
                                                      "params": {"budget": 2}}})
    r = acakit_cli(plugin_env, "run", str(cfg))
    assert r.returncode == 2 and "collective.strategy_params.budget" in r.stderr, r.stderr


def test_a_name_no_plugin_provides_lists_what_is_available(plugin_env, tmp_path):
    cfg = _sweep(tmp_path, **{"collective.strategy": "nope"})
    r = acakit_cli(plugin_env, "run", str(cfg))
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1, r.stderr
    assert err.startswith("error: collective.strategy: 'nope' is not one of plant, "
                          "plant_feature_only, erase, label_budget"), err


@pytest.mark.parametrize("field,value", [
    ("collective.strategy", "acakit_example_plugin.LabelBudget"),
    ("collective.strategy", "os:system"),
    ("collective.signal", {"type": "builtins.eval", "params": {}}),
    ("dataset.name", "acakit_example_plugin.make_toy_loans"),
    ("metrics", ["subprocess.run"]),
])
def test_a_config_still_names_no_code(plugin_env, tmp_path, field, value):
    """Only registered names: a dotted path or module:attr is refused without importing it."""
    cfg = _sweep(tmp_path, **{field: value})
    r = acakit_cli(plugin_env, "run", str(cfg))
    assert r.returncode == 2 and "is not one of" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# ----------------------------------------------------------------------- Python objects
class EveryOther(Strategy):
    """Plant the signal on every member; give the target label to every ``every``-th."""

    def __init__(self, feature_map, target, every=2):
        self.feature_map, self.target, self.every = feature_map, int(target), every

    def poison(self, X, y):
        y = np.asarray(y).copy()
        y[:: self.every] = self.target
        return self.feature_map(X), y


class FailsOnSeed(EveryOther):
    """Raises when the collective has more than 30 members."""

    def poison(self, X, y):
        if len(y) > 30:
            raise ValueError("too many members for this test")
        return super().poison(X, y)


def moved(result, scale=1.0):
    """Share of non-target test points the signal sends to the target, times ``scale``."""
    keep = ~np.isin(result.y_test, sorted(result.targets))
    return scale * float(np.isin(result.pred_signal[keep], sorted(result.targets)).mean())


def _python_config(out: Path, strategy: str = "every_other") -> dict:
    return {"name": "py", "dataset": {"name": "gaussian_mixture", "params": {"n_samples": 400}},
            "collective": {"strategy": {"name": strategy, "params": {"every": 2}},
                           "signal": {"type": "shift", "shift": 3.0}, "target": 1},
            "metrics": [{"name": "moved", "params": {"scale": 2.0}}],
            "sweep": {"alpha": [0.02, 0.2], "seed": [0, 1]},
            "output": {"dir": str(out), "plot": False}}


def test_a_class_defined_here_sweeps_on_loky_as_serially(tmp_path):
    plugins = {"strategies": {"every_other": EveryOther}, "metrics": {"moved": moved}}
    serial = execute(_python_config(tmp_path / "s"), jobs=1, progress=False, store=False,
                     plugins=plugins).results
    loky = execute(_python_config(tmp_path / "l"), jobs=2, runner="loky", progress=False,
                   store=True, plugins=plugins).results
    cols = ["alpha", "seed", "success", "moved"]
    pd.testing.assert_frame_equal(serial[cols], loky[cols])
    assert np.allclose(loky["moved"], 2 * loky["success"])  # the metric's parameter was used
    assert loky["plugins"].str.contains("strategies.every_other=python:").all()
    # outside the call, the names are gone again
    assert "every_other" not in REGISTRIES["strategies"] and "moved" not in REGISTRIES["metrics"]


def test_a_plugin_that_raises_fails_its_cell_by_name_and_the_sweep_goes_on(tmp_path):
    plugins = {"strategies": {"fails": FailsOnSeed}, "metrics": {"moved": moved}}
    run = execute(_python_config(tmp_path, "fails"), jobs=2, runner="loky", progress=False,
                  store=True, plugins=plugins)
    assert len(run.results) == 2 and len(run.info.failures) == 2  # α = 0.2: 56 members
    r = subprocess.run([sys.executable, "-m", "acakit", "results", str(run.info.store),
                        "--failed"], capture_output=True, text=True, timeout=120,
                       env=os.environ | {"COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    assert "strategies 'fails' (python:test_plugins.FailsOnSeed) failed" in r.stdout
    assert "too many members for this test" in r.stdout


def test_an_object_that_cannot_be_shipped_is_refused_before_any_cell(tmp_path):
    lock = threading.Lock()

    def locked(result, scale=1.0):
        with lock:
            return 0.0

    plugins = {"strategies": {"every_other": EveryOther}, "metrics": {"moved": locked}}
    with pytest.raises(RunnerError, match=r"plugins\.metrics\.moved: .*cannot be shipped to the "
                                          r"loky workers.*jobs=1"):
        execute(_python_config(tmp_path), jobs=2, runner="loky", progress=False, store=True,
                plugins=plugins)
    assert not (tmp_path / "results.sqlite").exists() or load(tmp_path / "results.sqlite").empty
    # serially it runs: nothing needs shipping
    run = execute(_python_config(tmp_path / "serial"), jobs=1, progress=False, store=False,
                  plugins=plugins)
    assert (run.results["moved"] == 0.0).all()


def test_bad_plugin_arguments_are_one_line():
    with pytest.raises(PluginError, match=r"plugins: 'strategy' is not one of strategies"):
        with using({"strategy": {"x": EveryOther}}):
            pass
    with pytest.raises(PluginError, match=r"plugins.strategies.plant: a built-in has this name"):
        with using({"strategies": {"plant": EveryOther}}):
            pass
    with pytest.raises(PluginError, match=r"not a subclass of acakit.strategies.Strategy"):
        with using({"strategies": {"x": moved}}):
            pass
    with pytest.raises(PluginError, match=r"not a plain name"):
        with using({"metrics": {"os.system": moved}}):
            pass


def test_a_plugin_metric_with_wrong_parameters_is_refused_before_any_cell(tmp_path):
    cfg = _python_config(tmp_path)
    cfg["metrics"] = [{"name": "moved", "params": {"scal": 2.0}}]
    with pytest.raises(ConfigError, match=r"metrics\.0\.params\.scal: not a parameter \(allowed: "
                                          r"scale\)"):
        execute(cfg, progress=False, plugins={"strategies": {"every_other": EveryOther},
                                              "metrics": {"moved": moved}})
    assert not tmp_path.joinpath("results.sqlite").exists()


# ------------------------------------------------------------------------ one registry
def test_every_built_in_is_found_through_its_registry_and_nowhere_else():
    """The modules that own the built-ins expose the registry itself, and no module of the
    engine, the analyses or the CLI keeps a second table of those names."""
    import importlib
    import pkgutil

    from acakit.data import DATASETS
    from acakit.firms import FIRMS
    from acakit.firms.defenses import DEFENSES

    assert DATASETS is REGISTRIES["datasets"] and FIRMS is REGISTRIES["firms"]
    assert DEFENSES is REGISTRIES["defenses"]
    assert {"plant", "plant_feature_only", "erase"} <= set(REGISTRIES["strategies"].builtins())
    assert {"trigger", "set_columns", "patch", "shift"} <= set(REGISTRIES["signals"].builtins())
    assert {"success", "erasure_success", "accuracy"} <= set(REGISTRIES["metrics"].builtins())
    names = {kind: set(reg.builtins()) for kind, reg in REGISTRIES.items()}
    registries = {id(r) for r in REGISTRIES.values()}
    offenders = []
    for pkg in ("acakit.engine", "acakit.analyses", "acakit.cli"):
        mod = importlib.import_module(pkg)
        subs = [pkg] + [f"{pkg}.{m.name}" for m in pkgutil.iter_modules(mod.__path__)]
        for modname in subs:
            m = importlib.import_module(modname)
            for attr, value in vars(m).items():
                if id(value) in registries or not isinstance(value, dict | list | tuple | set
                                                             | frozenset):
                    continue
                keys = {k for k in value if isinstance(k, str)} if not isinstance(
                    value, str) else set()
                for kind, known in names.items():
                    if len(keys & known) >= 2:
                        offenders.append(f"{modname}.{attr} ({kind})")
    assert not offenders, offenders


def test_configs_without_plugins_keep_their_cell_ids():
    """Adding the plugin fields changed no id of an existing config (the fields are left out
    of the dump when empty): the id pinned here is the one acakit 56014f6, before the
    registries, gave this config (and the ids of the first 12 example configs were compared
    the same way when the registries came in)."""
    cfg = {"dataset": {"name": "gaussian_mixture", "params": {"n_samples": 200}},
           "collective": {"signal": {"type": "shift", "shift": 1.0}, "target": 1},
           "sweep": {"alpha": [0.1]}}
    (cell,) = prepare(cfg)[2]
    dumped = cell.model_dump(mode="json")
    assert "metrics" not in dumped and "strategy_params" not in dumped["collective"]
    assert cell.cell_id == "96c36b938ddc86bc"


@pytest.mark.slow
def test_the_worked_package_resumes_after_a_kill(plugin_env, tmp_path):
    cfg = _sweep(tmp_path, **{"firm": {"name": "random_forest",
                                       "params": {"n_estimators": 300}},
                              "sweep.alpha": [0.01, 0.02, 0.03, 0.05, 0.1]})
    store = tmp_path / "out" / "results.sqlite"
    cmd = [sys.executable, "-m", "acakit", "run", str(cfg), "-j", "2", "-q"]
    proc = subprocess.Popen(cmd, env=plugin_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    n = 30
    deadline = time.time() + 240

    def count() -> int:
        try:
            with sqlite3.connect(store, timeout=5) as con:
                return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        except sqlite3.Error:
            return 0

    while count() < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = count()
    assert 0 < killed_at < n
    again = acakit_cli(plugin_env, "run", str(cfg), "-j", "2", "-q")
    assert again.returncode == 0, again.stderr
    assert f"{n - killed_at} run now, {killed_at} from the store" in again.stdout, again.stdout
    df = load(store)
    assert len(df) == n and df["cell_id"].nunique() == n and (df["status"] == "ok").all()
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT MAX(attempts) FROM cells").fetchone()[0] == 1


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time under pytest -n
def test_the_worked_package_and_a_python_class_run_on_ray(plugin_env, tmp_path):
    pytest.importorskip("ray")
    cfg = _sweep(tmp_path)
    r = acakit_cli(plugin_env, "run", str(cfg), "--runner", "ray", "-j", "2", "-q")
    assert r.returncode == 0, r.stderr
    df = load(tmp_path / "out" / "results.sqlite")
    assert len(df) == 18 and df["signal_lift"].notna().all()
    assert df["plugins"].str.contains("acakit-example-plugin 0.1.0").all()
    plugins = {"strategies": {"every_other": EveryOther}, "metrics": {"moved": moved}}
    run = execute(_python_config(tmp_path / "py"), jobs=2, runner="ray", progress=False,
                  store=False, plugins=plugins)
    assert len(run.results) == 4 and np.allclose(run.results["moved"], 2 * run.results["success"])


def test_acakit_version_is_recorded_with_the_builtins():
    assert REGISTRIES["firms"].origin("logistic_regression").label() == f"acakit {acakit.__version__}"


def test_parameters_declared_the_scikit_learn_way_are_checked():
    """A plugin may declare its parameters as scikit-learn does (``_parameter_constraints``);
    the check uses scikit-learn's own validator."""
    from numbers import Real

    from sklearn.utils._param_validation import Interval

    from acakit.registry import params_problem

    class Scaled:
        _parameter_constraints = {"scale": [Interval(Real, 0, None, closed="neither")]}

        def __init__(self, scale=1.0):
            self.scale = scale

    assert params_problem(Scaled, {"scale": 2.0}) is None
    problem = params_problem(Scaled, {"scale": -1.0})
    assert problem is not None and "scale" in problem and "range" in problem
    assert params_problem(Scaled, {"size": 1}) == "size: not a parameter (allowed: scale)"


class BrokenFirm:
    """A firm whose fit raises (after a plugin's firm is built as factory(**params))."""

    def __init__(self, C=1.0):
        self.C = C

    def get_params(self, deep=True):
        return {"C": self.C}

    def set_params(self, **p):
        self.C = p.get("C", self.C)
        return self

    def fit(self, X, y):
        raise RuntimeError("the solver gave up")

    def predict(self, X):  # pragma: no cover - never fitted
        return np.zeros(len(X))


def test_a_plugin_firm_that_raises_in_fit_is_named_in_the_error(tmp_path):
    cfg = _python_config(tmp_path, strategy="plant")
    cfg["collective"]["strategy"] = "plant"
    cfg["metrics"] = []
    cfg["firm"] = {"name": "broken"}
    with pytest.raises(Exception, match=r"firms 'broken' \(python:test_plugins.BrokenFirm\) "
                                        r"failed in fit: RuntimeError: the solver gave up"):
        execute(cfg, progress=False, store=False, plugins={"firms": {"broken": BrokenFirm}})
