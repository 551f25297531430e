"""One engine for every kind of experiment: store, resume, report, runners, validation."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from acakit.analyses import report, run_experiment
from acakit.engine import cache as cache_mod
from acakit.engine import prepare
from acakit.engine.config import ConfigError
from acakit.engine.store import load

COUNTING_FIRM = textwrap.dedent('''
    """A test firm that logs every fit (one line per fit) and may sleep in it."""
    import time

    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.linear_model import LogisticRegression


    class Counting(ClassifierMixin, BaseEstimator):
        def __init__(self, log="", delay=0.0):
            self.log = log
            self.delay = delay

        def fit(self, X, y, sample_weight=None):
            time.sleep(self.delay)
            if self.log:
                with open(self.log, "a") as f:
                    f.write("fit\\n")
            self.model_ = LogisticRegression(max_iter=200).fit(X, y, sample_weight=sample_weight)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)

        def predict_proba(self, X):
            return self.model_.predict_proba(X)
''')

RATINGS = {"name": "product_ratings", "params": {"n_samples": 2000, "n_features": 4}}
SIGNAL = {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}


def configs(firm: dict) -> dict[str, dict]:
    """A small config of each kind, all with the same firm."""
    return {
        "collective": {
            "name": "single", "dataset": RATINGS, "firm": firm,
            "collective": {"strategy": "plant", "target": "rating_1", "signal": SIGNAL},
            "sweep": {"alpha": [0.0, 0.02, 0.05], "seed": [0, 1]},
        },
        "multi": {
            "name": "multi", "experiment": "multi", "dataset": RATINGS, "firm": firm,
            "collectives": [
                {"name": "a", "signal": SIGNAL, "target": "rating_1", "alpha": 0.03},
                {"name": "b", "signal": SIGNAL, "target": "rating_2", "alpha": 0.02},
            ],
            "sweep": {"collective": "b", "alpha": [0.0, 0.02, 0.05], "seed": [0, 1]},
        },
        "fairness": {
            "name": "fair", "experiment": "fairness",
            "dataset": {"name": "minority_synthetic", "params": {"n_samples": 1500}},
            "groups": {"minority": {"group": "minority"}, "favorable": "positive"},
            "firm": firm,
            "relabel": {"methods": ["probability", "random"], "alpha": 0.5,
                        "budgets": [0.0, 0.5, 1.0], "thresholds": [0.5]},
            "baselines": ["reweighing", "massaging"], "seeds": [0, 1],
            "analyses": ["pareto", "efficiency"],
        },
    }


KINDS = ["collective", "multi", "fairness"]
#: per kind: columns that identify a line of the results table, and metrics to compare
IDENTITY = {"collective": ["cell_id"], "multi": ["cell_id", "name"], "fairness": ["cell_id"]}
METRICS = {"collective": ["success", "accuracy", "n_members"],
           "multi": ["success_all", "accuracy", "alpha"],
           "fairness": ["error", "eo_gap", "dp_gap", "n_flips"]}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACAKIT_CACHE_DIR", str(tmp_path / "cache"))
    cache_mod.configure(tmp_path / "cache", True)


@pytest.fixture
def counting(tmp_path, monkeypatch):
    (tmp_path / "countingfirm.py").write_text(COUNTING_FIRM)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ACAKIT_ALLOW_MODULES", "countingfirm")  # a test firm: allowed explicitly
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # new workers see this PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    log = tmp_path / "fits.log"

    def fits() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    return {"name": "countingfirm.Counting", "params": {"log": str(log)}}, fits


def _sorted(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    cols = IDENTITY[kind] + METRICS[kind]
    return df[cols].sort_values(IDENTITY[kind]).reset_index(drop=True)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_stored_per_cell_and_a_rerun_fits_nothing(kind, tmp_path, counting):
    firm, fits = counting
    cfg = configs(firm)[kind]
    _, _, cells = prepare(cfg)
    out = tmp_path / "out"
    first = run_experiment(cfg, jobs=2, out_dir=out, progress=False, store=True)
    n_fits = fits()
    assert n_fits > 0 and first.n_run == len(cells) and first.n_cached == 0
    stored = load(out / "results.sqlite")
    assert stored["cell_id"].nunique() == len(cells) and (stored["status"] == "ok").all()
    assert set(stored["cell_id"]) == {c.cell_id for c in cells}
    again = run_experiment(cfg, jobs=2, out_dir=out, progress=False, store=True)
    assert again.n_run == 0 and again.n_cached == len(cells)
    assert fits() == n_fits  # nothing was fitted: not a cell, not a clean firm
    pd.testing.assert_frame_equal(_sorted(first.results, kind), _sorted(again.results, kind),
                                  check_dtype=False)


@pytest.mark.parametrize("kind", KINDS)
def test_report_redraws_every_file_from_the_store_alone(kind, tmp_path, counting):
    firm, fits = counting
    out = tmp_path / "out"
    run = run_experiment(configs(firm)[kind], jobs=1, out_dir=out, progress=False, store=True)
    written = sorted(Path(f).name for f in run.files)
    assert any(n.endswith(".png") for n in written)
    before = pd.read_csv(out / "results.csv")
    for f in run.files:
        Path(f).unlink()
    n_fits = fits()
    redone = report(out / "results.sqlite")
    assert fits() == n_fits  # report fits nothing
    assert sorted(Path(f).name for f in redone.files) == written
    assert all(Path(f).stat().st_size > 0 for f in redone.files)
    after = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(_sorted(before, kind), _sorted(after, kind), check_dtype=False)
    assert redone.n_run == 0 and redone.n_cached == run.n_run


def test_report_refuses_a_store_without_a_config(tmp_path):
    from acakit.engine.store import ResultStore, StoreError

    with ResultStore(tmp_path / "old.sqlite") as st:
        st.record("c1", {"seed": 0}, row={"success": 0.5})
    with pytest.raises(StoreError, match="holds no config"):
        report(tmp_path / "old.sqlite")


@pytest.mark.parametrize("kind", KINDS)
def test_unwritable_output_folder_is_refused_before_any_work(kind, tmp_path, counting):
    if os.geteuid() == 0:
        target = Path("/proc/acakit-out")  # not creatable, even for root
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "out"
    firm, fits = counting
    with pytest.raises(ConfigError, match="output.dir: cannot create|not writable"):
        run_experiment(configs(firm)[kind], out_dir=target, progress=False)
    assert fits() == 0


def test_multi_and_fairness_inputs_get_one_line_errors(counting):
    firm, _ = counting
    multi = configs(firm)["multi"]
    too_many = dict(multi, collectives=[dict(multi["collectives"][0], alpha=None, count=10**6),
                                        multi["collectives"][1]])
    with pytest.raises(ConfigError, match=r"collectives.a.count: 1000000 needs 1000000 members, but only"):
        prepare(too_many)
    with pytest.raises(ConfigError, match=r"bounds.others_range: \[0.5, 0.1\] is not a range"):
        prepare(dict(multi, bounds={"others_range": [0.5, 0.1]}))
    with pytest.raises(ConfigError, match="experiment: 'multiple' is not one of collective, multi, fairness"):
        prepare(dict(multi, experiment="multiple"))


def test_fairness_sweep_takes_the_store_option_from_the_cli(tmp_path, counting):
    from typer.testing import CliRunner

    from acakit.cli import _register_plugins, app

    firm, _ = counting
    p = tmp_path / "fair.yaml"
    p.write_text(yaml.safe_dump(configs(firm)["fairness"]))
    _register_plugins()
    store = tmp_path / "elsewhere.sqlite"
    r = CliRunner().invoke(app, ["run", str(p), "-o", str(tmp_path / "o"), "-j", "1", "-q",
                                 "--store", str(store)])
    assert r.exit_code == 0, r.output
    n = len(prepare(configs(firm)["fairness"])[2])
    assert f"{n} cells: {n} run now, 0 from the store" in r.output
    assert load(store)["cell_id"].nunique() == n


def _count(store: Path) -> int:
    try:
        con = sqlite3.connect(store, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _cli_sweep(tmp_path: Path, cfg: dict, jobs: int) -> tuple[list[str], dict, Path, list]:
    """``acakit run`` of ``cfg`` as a subprocess command: the command, its environment (its own
    cache), the store and the cells it should hold."""
    cfg["output"] = {"dir": str(tmp_path / "out"), "plot": False}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    env = os.environ | {"ACAKIT_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "acakit", "run", str(p), "--jobs", str(jobs), "--quiet"]
    return cmd, env, tmp_path / "out" / "results.sqlite", prepare(cfg)[2]


def _assert_every_cell_once(store: Path, cells: list) -> None:
    """The store holds every cell, ok, each written once (never run twice)."""
    df = load(store)
    assert df["cell_id"].nunique() == len(cells) and (df["status"] == "ok").all()
    assert set(df["cell_id"]) == {c.cell_id for c in cells}
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT MAX(attempts) FROM cells").fetchone()[0] == 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["multi", "fairness"])
def test_sigkill_halfway_then_resume_loses_and_repeats_nothing(kind, tmp_path, counting):
    firm, _ = counting
    firm = {"name": firm["name"], "params": {"delay": 0.3}}
    cmd, env, store, cells = _cli_sweep(tmp_path, configs(firm)[kind], jobs=2)
    n = len(cells)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 180
    while _count(store) < n // 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, no clean-up
    proc.wait(timeout=30)
    killed_at = _count(store)
    assert 0 < killed_at < n, f"kill did not land mid-sweep ({killed_at}/{n})"
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{n - killed_at} run now, {killed_at} from the store" in r.stdout
    _assert_every_cell_once(store, cells)


@pytest.mark.slow
def test_twenty_kills_at_random_moments_lose_and_repeat_nothing(tmp_path, counting):
    """SIGKILL at 20 random moments (seeded; some land while a cell is being written), each
    followed by a rerun: every finished cell survives, none is run twice, the last run
    completes the grid."""
    import random

    firm, _ = counting
    cfg = configs({"name": firm["name"], "params": {"delay": 0.1}})["collective"]
    cfg["sweep"] = {"alpha": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08],
                    "seed": list(range(10))}
    cmd, env, store, cells = _cli_sweep(tmp_path, cfg, jobs=2)
    n = len(cells)
    rng = random.Random(0)
    counts = []
    for _ in range(20):
        before = _count(store)
        if before == n:
            break
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120  # wait for this run's first new cell, then a random while
        while _count(store) == before and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        counts.append(_count(store))
        assert counts[-1] >= before  # nothing finished was lost
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(counts) >= 10, counts  # the kills landed mid-sweep many times
    _assert_every_cell_once(store, cells)


@pytest.mark.slow
def test_two_runs_writing_one_store_at_once_one_is_refused_nothing_is_lost(tmp_path, counting):
    firm, _ = counting
    cfg = configs({"name": firm["name"], "params": {"delay": 0.4}})["collective"]
    cfg["sweep"] = {"alpha": [0.0, 0.01, 0.02, 0.03, 0.05, 0.08], "seed": [0, 1, 2, 3]}
    cmd, env, store, cells = _cli_sweep(tmp_path, cfg, jobs=1)  # 24 cells of 0.4 s: ~10 s
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 120
    while _count(store) == 0 and time.time() < deadline and first.poll() is None:
        time.sleep(0.02)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    err = second.stderr.strip()
    assert second.returncode == 2 and "is in use by another acakit run" in err, err
    assert len(err.splitlines()) == 1
    _assert_every_cell_once(store, cells)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time under pytest -n
def test_ray_runner_runs_every_kind(tmp_path, counting):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'acakit[ray]')")
    firm, _ = counting
    firm = {"name": firm["name"], "params": {}}
    for kind, cfg in configs(firm).items():
        serial = run_experiment(cfg, jobs=1, out_dir=tmp_path / f"{kind}-serial", progress=False)
        ray = run_experiment(cfg, jobs=2, runner="ray", out_dir=tmp_path / kind, progress=False,
                             store=True)
        pd.testing.assert_frame_equal(_sorted(serial.results, kind), _sorted(ray.results, kind),
                                      check_dtype=False)
        workers = set(load(tmp_path / kind / "results.sqlite")["worker"])
        assert all(w.split(":")[1] != str(os.getpid()) for w in workers), kind  # in Ray workers


def test_damaged_store_rows_are_computed_again_with_a_warning(tmp_path, counting, caplog):
    firm, _ = counting
    cfg = configs(firm)["collective"]
    out = tmp_path / "out"
    run_experiment(cfg, jobs=1, out_dir=out, progress=False, store=True)
    store = out / "results.sqlite"
    with sqlite3.connect(store) as con:
        ids = [r[0] for r in con.execute("SELECT cell_id FROM cells ORDER BY cell_id")]
        con.execute("UPDATE cells SET result='{not json' WHERE cell_id=?", (ids[0],))
        con.execute("UPDATE cells SET result=NULL WHERE cell_id=?", (ids[1],))
    again = run_experiment(cfg, jobs=1, out_dir=out, progress=False, store=True)
    assert again.n_run == 2 and again.n_cached == len(ids) - 2
    assert "2 damaged row(s)" in caplog.text
    df = load(store)
    assert df["cell_id"].nunique() == len(ids) and (df["status"] == "ok").all()


def test_a_second_sweep_on_a_store_in_use_is_refused_in_one_line(tmp_path):
    from acakit.engine.store import ResultStore, StoreError

    store = tmp_path / "s.sqlite"
    with ResultStore(store, exclusive=True):
        with pytest.raises(StoreError, match=r"is in use by another acakit run \(pid \d+"):
            ResultStore(store, exclusive=True)
        with ResultStore(store, readonly=True) as ro:  # reading it is fine
            assert len(ro) == 0
    with ResultStore(store, exclusive=True):  # released on close
        pass


@pytest.mark.slow
def test_local_workers_end_soon_after_the_driver_is_killed(tmp_path, counting):
    firm, fits = counting
    cfg = configs({"name": firm["name"], "params": {"delay": 2.0, "log": firm["params"]["log"]}})[
        "collective"]
    cfg["sweep"]["seed"] = [0, 1, 2, 3]
    cfg["output"] = {"dir": str(tmp_path / "out"), "plot": False}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    env = os.environ | {"ACAKIT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "acakit", "run", str(p), "-j", "2", "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def children() -> set[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True)
        return {int(x) for x in out.stdout.split()}

    deadline = time.time() + 120
    while fits() < 2 and time.time() < deadline:  # a fit logs when it ends: both workers busy
        time.sleep(0.1)
    workers = children()
    assert len(workers) >= 2, "the workers never started"
    proc.kill()  # the driver only, not its process group
    proc.wait(timeout=30)
    deadline = time.time() + 10
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = {w for w in workers if os.path.exists(f"/proc/{w}")
                 and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]}
    assert not alive, f"workers {alive} outlived the driver by 10 s"


def test_collective_is_sugar_for_a_one_element_collectives_list():
    single = configs({"name": "logistic_regression"})["collective"]
    as_list = {k: v for k, v in single.items() if k != "collective"}
    as_list["collectives"] = [single["collective"]]
    mod_a, _, cells_a = prepare(single)
    mod_b, _, cells_b = prepare(as_list)
    assert mod_a is mod_b
    assert [c.cell_id for c in cells_a] == [c.cell_id for c in cells_b]
    both = dict(as_list, collective=single["collective"])
    with pytest.raises(ConfigError, match="either collective"):
        prepare(both)


def test_several_collectives_without_an_experiment_key_are_a_multi_config():
    multi = configs({"name": "logistic_regression"})["multi"]
    no_kind = {k: v for k, v in multi.items() if k != "experiment"}
    mod, cfg, cells = prepare(no_kind)
    assert mod.__name__ == "acakit.engine.multi"
    assert [c.cell_id for c in cells] == [c.cell_id for c in prepare(multi)[2]]
    with pytest.raises(ConfigError, match="exactly one collective.*experiment: multi"):
        prepare(dict(multi, experiment="collective"))


def test_an_edited_csv_is_read_again_not_served_from_the_cache(tmp_path, monkeypatch):
    """The cache keys a file-backed data set on the file's path, size and mtime: editing the
    CSV (or using the same relative path from another folder) never reuses the old data."""
    import numpy as np

    rng = np.random.default_rng(0)

    def write(n: int) -> None:
        x = rng.integers(0, 3, size=(n, 3))
        y = np.where(x[:, 0] + rng.integers(0, 2, n) > 1, "yes", "no")
        pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2].astype(str), "y": y}).to_csv(
            tmp_path / "d.csv", index=False)

    monkeypatch.chdir(tmp_path)
    cfg = {"dataset": {"name": "csv", "params": {"path": "d.csv", "label": "y"}},
           "firm": {"name": "logistic_regression"},
           "collective": {"strategy": "plant", "target": "yes",
                          "signal": {"type": "set_columns", "values": {"c": "2"}}},
           "sweep": {"alpha": [0.05], "seed": [0]}, "output": {"plot": False}}
    write(300)
    first = run_experiment(cfg, out_dir=tmp_path / "a", progress=False).results
    write(500)
    os.utime(tmp_path / "d.csv", ns=(time.time_ns(), time.time_ns() + 10**9))
    second = run_experiment(cfg, out_dir=tmp_path / "b", progress=False).results
    assert first["n_train"].iloc[0] < second["n_train"].iloc[0]
