"""The result store: round trip, export, and refusing bad files without losing results."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from acakit.analyses.single import run_config
from acakit.engine.config import ConfigError
from acakit.engine.store import APPLICATION_ID, ResultStore, StoreError, export, load, summary


def small_config(**sweep) -> dict:
    return {
        "name": "small",
        "dataset": {"name": "product_ratings", "params": {"n_samples": 2000, "n_features": 4}},
        "firm": {"name": "empirical_bayes"},
        "collective": {"strategy": "plant", "target": "rating_1",
                       "signal": {"type": "set_columns", "values": {"f3": 9}}},
        "sweep": {"alpha": [0.0, 0.05], "seed": [0, 1]} | sweep,
        "output": {"plot": False},
    }


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    from acakit.engine import cache

    monkeypatch.setenv("ACAKIT_CACHE_DIR", str(tmp_path / "cache"))
    cache.configure(tmp_path / "cache", True)


def test_record_and_load_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as st:
        st.record("a", {"seed": 0, "dataset": {"name": "d"}}, {"cell_id": "a", "success": 0.5, "n": 3},
                  variant="v1", seconds=1.5)
        st.record("b", {"seed": 1}, error="ValueError: bad", traceback="Traceback ...\nValueError: bad")
        assert st.finished() == {"a": "ok", "b": "failed"}
        assert st.counts() == {"ok": 1, "failed": 1}
        assert st._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # a retried cell replaces its failed row: still one row per cell, attempts counted
        st.record("b", {"seed": 1}, {"cell_id": "b", "success": 1.0})
        assert len(st) == 2
    df = load(path)
    assert list(df["cell_id"]) == ["a", "b"]
    assert df.set_index("cell_id").loc["b", "attempts"] == 2
    assert df.set_index("cell_id").loc["a", "variant"] == "v1"
    assert df.set_index("cell_id").loc["a", "dataset"] == "d"
    assert set(df["status"]) == {"ok"} and df["error"].isna().all()
    assert (df["acakit_version"] != "").all()


def test_export_csv_and_parquet(tmp_path):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as st:
        st.record("a", {"seed": 0}, {"cell_id": "a", "success": 0.25, "target": 1})
        st.record("b", {"seed": 1}, {"cell_id": "b", "success": 0.75, "target": "x"})
        st.record("c", {"seed": 2}, error="E: boom", traceback="tb")
    csv = export(path, tmp_path / "out" / "r.csv")
    assert pd.read_csv(csv)["success"].tolist()[:2] == [0.25, 0.75]
    pytest.importorskip("pyarrow", reason="Parquet export needs pyarrow")
    pq = pd.read_parquet(export(path, tmp_path / "r.parquet"))
    assert len(pq) == 3 and pq["status"].tolist().count("failed") == 1
    with pytest.raises(StoreError, match="must end in .csv or .parquet"):
        export(path, tmp_path / "r.xlsx")
    s = summary(path)
    assert int(s["cells"].sum()) == 3 and int(s["failed"].sum()) == 1


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(("store:", "sweep:"))
    return msg


def test_corrupt_file_is_refused_and_untouched(tmp_path):
    bad = tmp_path / "results.sqlite"
    bad.write_bytes(b"this is not a database, but my notes\n" * 10)
    before = bad.read_bytes()
    with pytest.raises(StoreError) as e:
        ResultStore(bad)
    assert "not an SQLite database" in _one_line(e)
    with pytest.raises(StoreError):
        run_config(small_config(), out_dir=str(tmp_path), progress=False, store=bad)
    assert bad.read_bytes() == before
    assert not (tmp_path / "results.csv").exists()


def test_truncated_store_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as st:
        st.record("a", {"seed": 0}, {"cell_id": "a", "success": 1.0})
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\x00garbage" * 50)  # header intact, pages destroyed
    with pytest.raises(StoreError) as e:
        ResultStore(path)
    _one_line(e)


def test_foreign_sqlite_is_refused_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE accounts (name TEXT, balance REAL)")
    con.execute("INSERT INTO accounts VALUES ('ann', 10.0)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as e:
        ResultStore(path)
    assert "another application" in _one_line(e) and "accounts" in str(e.value)
    with pytest.raises(StoreError):
        load(path)
    assert path.read_bytes() == before
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID
    assert con.execute("SELECT * FROM accounts").fetchall() == [("ann", 10.0)]


def test_unwritable_paths(tmp_path):
    afile = tmp_path / "plain.txt"
    afile.write_text("x")
    with pytest.raises(StoreError) as e:
        ResultStore(afile / "s.sqlite")  # a folder that is a file: unwritable even for root
    _one_line(e)
    with pytest.raises(StoreError, match="is a folder"):
        ResultStore(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        load(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    ResultStore(path).close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version=99")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer acakit"):
        ResultStore(path)


def test_zero_cell_grid_keeps_existing_results(tmp_path):
    store = tmp_path / "results.sqlite"
    first = run_config(small_config(), out_dir=str(tmp_path), progress=False, store=store)
    assert len(first.results) == 4 and first.n_run == 4
    before = load(store)
    with pytest.raises(ConfigError) as e:
        run_config(small_config(seed=[]), out_dir=str(tmp_path), progress=False, store=store)
    assert "0 cells" in str(e.value) and "\n" not in str(e.value)
    after = load(store)
    pd.testing.assert_frame_equal(before, after)


def test_output_store_in_config_and_resume(tmp_path):
    cfg = small_config()
    cfg["output"]["store"] = "sweep.sqlite"
    a = run_config(cfg, out_dir=str(tmp_path), progress=False)
    assert a.store == tmp_path / "sweep.sqlite" and a.n_run == 4
    b = run_config(cfg, out_dir=str(tmp_path), progress=False)
    assert b.n_run == 0 and b.n_cached == 4
    cols = [c for c in a.results if not c.endswith("seconds")]
    pd.testing.assert_frame_equal(a.results[cols], b.results[cols])
    # default for the API: no store unless asked
    c = run_config(small_config(), out_dir=str(tmp_path / "c"), progress=False)
    assert c.store is None and not list((tmp_path / "c").glob("*.sqlite"))


def acakit(*args: str, cwd: Path, env_cache: Path) -> subprocess.CompletedProcess:
    import os

    env = os.environ | {"ACAKIT_CACHE_DIR": str(env_cache)}
    return subprocess.run([sys.executable, "-m", "acakit", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=env)


def test_cli_errors_are_one_line_and_results_command(tmp_path):
    cfg = small_config()
    cfg["output"]["dir"] = str(tmp_path / "out")
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a store")
    r = acakit("run", str(p), "--store", str(bad), "-j", "1", cwd=tmp_path, env_cache=tmp_path / "c")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "not an SQLite database" in lines[0], r.stderr
    assert bad.read_text() == "not a store"
    r = acakit("run", str(p), "-j", "1", "--quiet", cwd=tmp_path, env_cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert "4 cells: 4 run now, 0 from the store" in r.stdout
    store = tmp_path / "out" / "results.sqlite"
    r = acakit("results", str(store), "--export", str(tmp_path / "all.csv"), cwd=tmp_path,
               env_cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert "4 cells, 4 ok, 0 failed" in r.stdout and len(pd.read_csv(tmp_path / "all.csv")) == 4
    r = acakit("results", str(bad), cwd=tmp_path, env_cache=tmp_path / "c")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def _beside(store: Path) -> list[str]:
    return sorted(p.name for p in store.parent.iterdir() if p.name.startswith(store.name))


def test_a_finished_run_leaves_only_its_store_and_reading_it_changes_nothing(tmp_path):
    """A run that writes its store checkpoints it when it ends, normally, on an error or on
    Ctrl-C: no ``-wal``, ``-shm`` or ``.lock`` stays beside it, and the file rests in rollback
    mode, so reading it later (CLI or Python) creates no side file and changes no byte."""
    from acakit.engine import load_run
    from acakit.engine.config import expand, parse_config
    from acakit.engine.runners import run_sweep

    cfg = small_config()
    cfg["output"]["dir"] = str(tmp_path / "out")
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    r = acakit("run", str(p), "-j", "1", "--quiet", cwd=tmp_path, env_cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    store = tmp_path / "out" / "results.sqlite"
    assert _beside(store) == ["results.sqlite"]
    before = store.read_bytes()
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    con.close()
    r = acakit("results", str(store), cwd=tmp_path, env_cache=tmp_path / "c")
    assert r.returncode == 0 and "4 cells, 4 ok" in r.stdout, r.stderr
    assert len(load_run(store).results) == 4 and len(load(store)) == 4
    assert _beside(store) == ["results.sqlite"] and store.read_bytes() == before

    # a rerun that resumes writes again (WAL while it writes) and leaves the folder as clean
    more = small_config(alpha=[0.0, 0.05, 0.1])
    cells = expand(parse_config(more))
    assert run_sweep(cells, store=store, progress=False).n_run == 2
    assert _beside(store) == ["results.sqlite"]

    # Ctrl-C in the middle of a sweep: the finished cells are kept, the side files are not
    def stop(row):
        raise KeyboardInterrupt

    other = tmp_path / "stopped.sqlite"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cells, store=other, progress=False, on_result=stop)
    assert _beside(other) == ["stopped.sqlite"]
    with ResultStore(other, readonly=True) as st:
        assert len(st) == 1

    # an error that ends the run: the store it held (locked, written) is closed all the same
    held = tmp_path / "held.sqlite"
    with pytest.raises(RuntimeError, match="out of luck"):
        with ResultStore(held, exclusive=True) as st:
            st.record("x", {"seed": 0}, {"cell_id": "x", "success": 1.0})
            assert {"held.sqlite-wal", "held.sqlite.lock"} <= set(_beside(held))  # while writing
            raise RuntimeError("out of luck")
    assert _beside(held) == ["held.sqlite"]


def test_a_read_only_open_of_an_old_wal_store_changes_no_byte(tmp_path):
    """A store an older acakit left in WAL mode is read without switching it (byte for byte)."""
    path = tmp_path / "old.sqlite"
    with ResultStore(path) as st:
        st.record("a", {"seed": 0}, {"cell_id": "a", "success": 0.5})
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")  # as acakit left its stores before
    con.close()
    before = path.read_bytes()
    with ResultStore(path, readonly=True) as st:
        assert st.finished() == {"a": "ok"}
    assert path.read_bytes() == before
