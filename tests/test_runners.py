"""Runners, resume, failure handling and the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from acakit.analyses.single import run_config
from acakit.engine import cache as cache_mod
from acakit.engine.config import expand, parse_config
from acakit.engine.runners import CellFailedError, RunnerError, plan_tasks, run_sweep
from acakit.engine.single import make_context, run_cells
from acakit.engine.store import load

METRICS = ["cell_id", "seed", "n_members", "success", "success_n", "erasure_success", "accuracy"]

SLOW_FIRM = textwrap.dedent('''
    """Test firms: slow (sleeps in fit) and failing on demand."""
    import os
    import time

    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.dummy import DummyClassifier


    class Slow(ClassifierMixin, BaseEstimator):
        def __init__(self, delay=0.2, fail=False, fail_if_exists=""):
            self.delay = delay
            self.fail = fail
            self.fail_if_exists = fail_if_exists

        def fit(self, X, y):
            time.sleep(self.delay)
            if self.fail or (self.fail_if_exists and os.path.exists(self.fail_if_exists)):
                raise RuntimeError("asked to fail")
            self.model_ = DummyClassifier(strategy="most_frequent").fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)
''')


def ratings(**sweep) -> dict:
    return {
        "name": "small",
        "dataset": {"name": "product_ratings", "params": {"n_samples": 2000, "n_features": 4}},
        "firm": {"name": "empirical_bayes"},
        "collective": {"strategy": "plant", "target": "rating_1",
                       "signal": {"type": "set_columns", "values": {"f3": 9}}},
        "sweep": {"alpha": [0.0, 0.02, 0.05], "seed": [0, 1]} | sweep,
        "output": {"plot": False},
    }


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACAKIT_CACHE_DIR", str(tmp_path / "cache"))
    cache_mod.configure(tmp_path / "cache", True)


@pytest.fixture
def slow_firm(tmp_path, monkeypatch):
    (tmp_path / "slowfirm.py").write_text(SLOW_FIRM)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ACAKIT_ALLOW_MODULES", "slowfirm")  # a test firm: allowed explicitly
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # new workers see this PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return "slowfirm.Slow"


def test_plan_tasks_cover_every_cell_once():
    cells = expand(parse_config(ratings(seed=[0, 1, 2], alpha=[0.0, 0.01, 0.02, 0.03, 0.04])))
    for workers in (1, 2, 4):
        tasks = plan_tasks(cells, workers)
        flat = sorted(i for t in tasks for i in t)
        assert flat == list(range(len(cells)))
        from acakit.engine.single import context_key

        assert all(len({context_key(cells[i]) for i in t}) == 1 for t in tasks)
    assert len(plan_tasks(cells, 1)) == 3  # one task per (dataset, firm, seed)
    assert len(plan_tasks(cells, 2)) >= 6  # cut so two workers stay busy
    assert plan_tasks([], 1) == plan_tasks([], 2) == []  # nothing left to run


def test_loky_equals_serial_and_resume_skips(tmp_path):
    cells = expand(parse_config(ratings()))
    a = run_cells(cells, jobs=1, progress=False)
    store = tmp_path / "s.sqlite"
    b = run_cells(cells, jobs=2, progress=False, store=store)
    pd.testing.assert_frame_equal(a[METRICS], b[METRICS])
    assert len(load(store)) == len(cells)
    for jobs in (1, 2):  # a finished sweep reruns as a no-op, with one worker or several
        run = run_sweep(cells, jobs=jobs, progress=False, store=store)
        assert run.n_run == 0 and run.n_cached == len(cells) and not run.failures
    # a partial store: only the missing cells run
    part = tmp_path / "part.sqlite"
    run_sweep(cells[:2], progress=False, store=part)
    run = run_sweep(cells, progress=False, store=part)
    assert run.n_run == len(cells) - 2 and run.n_cached == 2 and len(load(part)) == len(cells)


def test_failing_cell_is_stored_and_sweep_goes_on(tmp_path, slow_firm):
    cfg = ratings()
    cfg["firm"] = {"name": slow_firm, "params": {"delay": 0.0}}
    cfg["sweep"]["grid"] = {"firm.params.fail": [False, True]}
    store = tmp_path / "s.sqlite"
    res = run_config(cfg, out_dir=str(tmp_path), progress=False, store=store)
    assert len(res.results) == 6 and len(res.failures) == 6
    df = load(store)
    failed = df[df["status"] == "failed"]
    assert len(df) == 12 and len(failed) == 6
    assert failed["error"].str.contains("RuntimeError: asked to fail").all()
    assert failed["traceback"].str.contains("Traceback").all()
    assert (failed["variant"] == "fail=True").all()
    with pytest.raises(CellFailedError, match="asked to fail"):
        run_config(cfg, out_dir=str(tmp_path / "ff"), progress=False,
                   store=tmp_path / "ff.sqlite", fail_fast=True)
    ff = load(tmp_path / "ff.sqlite")
    assert (ff["status"] == "failed").sum() == 1 and len(ff) < 12


def test_retry_failed(tmp_path, slow_firm):
    flag = tmp_path / "fail.flag"
    flag.write_text("")
    cfg = ratings()
    cfg["firm"] = {"name": slow_firm, "params": {"delay": 0.0, "fail_if_exists": str(flag)}}
    store = tmp_path / "s.sqlite"
    with pytest.raises(RunnerError, match="all 6 cells failed"):
        run_config(cfg, out_dir=str(tmp_path), progress=False, store=store)
    flag.unlink()
    with pytest.raises(RunnerError):  # failed cells are skipped unless retried
        run_config(cfg, out_dir=str(tmp_path), progress=False, store=store)
    res = run_config(cfg, out_dir=str(tmp_path), progress=False, store=store, retry_failed=True)
    assert res.n_run == 6 and not res.failures
    df = load(store)
    assert (df["status"] == "ok").all() and (df["attempts"] == 2).all()


def test_context_is_cached_on_disk(tmp_path, monkeypatch):
    cell = expand(parse_config(ratings()))[0]
    c = cache_mod.configure(tmp_path / "ctx", True)
    a = make_context(cell)
    assert c.misses >= 1
    import acakit.firms as firms

    def boom(*args, **kwargs):
        raise AssertionError("clean firm refit although cached")

    monkeypatch.setattr(firms, "make_firm", boom)
    monkeypatch.setattr("acakit.engine.single.make_firm", boom)
    c2 = cache_mod.configure(tmp_path / "ctx2", True)  # a fresh process-like cache object ...
    c3 = cache_mod.configure(tmp_path / "ctx", True)  # ... pointing at the same folder
    assert c3 is not c2
    b = make_context(cell)
    assert (a.clean_pred == b.clean_pred).all() and c3.hits >= 1


def test_cache_corrupt_file_is_a_miss_and_concurrent_compute_once(tmp_path):
    c = cache_mod.Cache(tmp_path)
    assert c.memoize("t", ["k"], lambda: [1, 2]) == [1, 2]
    key = c.key(["k"])
    c.path("t", key).write_bytes(b"\x80\x05truncated")
    assert c.memoize("t", ["k"], lambda: [3]) == [3]
    # two processes asking for the same key at once: computed once, both get it
    script = textwrap.dedent(f"""
        import sys, time
        from acakit.engine.cache import Cache
        c = Cache({str(tmp_path / 'shared')!r})
        def compute():
            with open({str(tmp_path / 'calls.txt')!r}, "a") as f:
                f.write("x")
            time.sleep(1.0)
            return 42
        print(c.memoize("t", ["shared"], compute))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["42", "42"]
    assert (tmp_path / "calls.txt").read_text() == "x"
    assert not list((tmp_path / "shared").rglob("*.tmp"))


def _count(store: Path) -> int:
    import sqlite3

    if not store.exists():
        return 0
    try:
        con = sqlite3.connect(store, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_keeps_every_cell_once(tmp_path, slow_firm):
    cfg = ratings(alpha=[round(0.005 * i, 3) for i in range(12)], seed=[0, 1])
    cfg["firm"] = {"name": slow_firm, "params": {"delay": 0.4}}
    cfg["output"]["dir"] = str(tmp_path / "out")
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    n = len(expand(parse_config(cfg)))
    assert n == 24
    store = tmp_path / "out" / "results.sqlite"
    env = os.environ | {"ACAKIT_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "acakit", "run", str(p), "--jobs", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 180
    while _count(store) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, no clean-up
    proc.wait(timeout=30)
    killed_at = _count(store)
    assert 0 < killed_at < n, f"kill did not land mid-sweep ({killed_at}/{n})"
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{n - killed_at} run now, {killed_at} from the store" in r.stdout
    df = load(store)
    assert len(df) == n and df["cell_id"].is_unique and (df["status"] == "ok").all()
    assert set(df["cell_id"]) == {c.cell_id for c in expand(parse_config(cfg))}


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time under pytest -n
def test_ray_runner_matches_serial(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'acakit[ray]')")
    cells = expand(parse_config(ratings()))
    serial = run_cells(cells, jobs=1, progress=False)
    store = tmp_path / "ray.sqlite"
    ray_rows = run_cells(cells, jobs=2, runner="ray", progress=False, store=store)
    pd.testing.assert_frame_equal(serial[METRICS], ray_rows[METRICS])
    assert len(load(store)) == len(cells)
    workers = set(load(store)["worker"])
    assert all(w.split(":")[1] != str(os.getpid()) for w in workers)  # ran in Ray workers


def test_unknown_runner_and_unreachable_ray():
    cells = expand(parse_config(ratings()))
    with pytest.raises(RunnerError, match="runner: 'dask' is not one of"):
        run_sweep(cells, runner="dask", progress=False)


def test_exit_codes_say_whether_cells_failed(tmp_path, slow_firm):
    """0: every cell ok; 1: some (or all) cells failed, stored; 2: bad input."""
    from typer.testing import CliRunner

    from acakit.cli import _register_plugins, app

    _register_plugins()
    cfg = ratings(alpha=[0.0, 0.05], seed=[0])
    cfg["firm"] = {"name": slow_firm, "params": {"delay": 0.0}}
    cfg["sweep"]["grid"] = {"firm.params.fail": [False, True]}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(app, ["run", str(p), "-o", str(tmp_path / "some"), "-j", "1", "-q"])
    assert r.exit_code == 1 and "2 failed" in r.stdout
    cfg["sweep"]["grid"] = {"firm.params.fail": [True]}
    p.write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(app, ["run", str(p), "-o", str(tmp_path / "all"), "-j", "1", "-q"])
    assert r.exit_code == 1 and "all 2 cells failed" in r.stderr
    cfg["sweep"]["grid"] = {"firm.params.fail": [False]}
    p.write_text(yaml.safe_dump(cfg))
    r = CliRunner().invoke(app, ["run", str(p), "-o", str(tmp_path / "none"), "-j", "1", "-q"])
    assert r.exit_code == 0, r.output


def test_a_ctrl_c_wrapped_by_a_library_is_still_a_ctrl_c():
    """Ctrl-C landing inside a pydantic serializer comes out as PydanticSerializationError; the
    runner must treat it as the interrupt it is (resume message, exit 130), not as a runner
    failure (seen once in CI on the fairness Ctrl-C test)."""
    from pydantic import BaseModel, model_serializer

    from acakit.engine.runners import interrupted

    class Spec(BaseModel):
        x: int = 1

        @model_serializer(mode="wrap")
        def _dump(self, handler):
            raise KeyboardInterrupt

    try:
        Spec().model_dump()
    except Exception as e:
        assert interrupted(e)
    else:
        raise AssertionError("the serializer did not raise")
    assert not interrupted(ValueError("x"))


def test_a_backend_is_one_class_behind_the_backend_interface(tmp_path, monkeypatch):
    """What a third backend (Dask, say) would be: one :class:`Backend` subclass named in
    ``BACKENDS``. This one runs the tasks in this process, last first; the sweep loop stores
    and labels every outcome as the built-in backends' (same rows as serial, resume works)."""
    import sys
    import types

    from acakit.engine.runners import BACKENDS, Backend, execute_task

    submitted: list[list[int]] = []

    class LastFirst(Backend):
        def submit(self, cells, tasks):
            submitted.extend(tasks)
            self.chunks = [[cells[i] for i in idx] for idx in reversed(tasks)]

        def results(self):
            for chunk in self.chunks:
                yield execute_task(chunk, **self.settings.opts)

    mod = types.ModuleType("lastfirst_backend")
    mod.LastFirst = LastFirst
    monkeypatch.setitem(sys.modules, "lastfirst_backend", mod)
    monkeypatch.setitem(BACKENDS, "loky", "lastfirst_backend:LastFirst")
    cells = expand(parse_config(ratings()))
    serial = run_sweep(cells, runner="serial", progress=False, cache=False)
    store = tmp_path / "s.sqlite"
    run = run_sweep(cells, runner="loky", jobs=2, progress=False, cache=False, store=store)
    assert len(submitted) > 1 and sorted(i for idx in submitted for i in idx) == list(range(len(cells)))
    assert run.n_run == len(cells) and not run.failures
    for cid, row in serial.rows.items():
        assert {k: row[k] for k in METRICS} == {k: run.rows[cid][k] for k in METRICS}
    assert run_sweep(cells, runner="loky", jobs=2, progress=False, store=store).n_run == 0
