"""A real (rehearsed) cluster: Ray across two network namespaces, a worker host killed.

The cluster test runs ``benchmarks/bench_cluster.py --quick`` (root and iproute2 needed; it
is skipped with the reason otherwise) and checks its last line: cells ran on both hosts for
the single, multi and fairness configs, contexts were shipped once per node rather than once
per cell, and the run whose worker host was SIGKILLed lost and duplicated no cell. The
speed-up is not checked here (the quick sweep is too short; run the script itself for it).
The two small tests check the store's ``node`` column without Ray.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _no_netns() -> str | None:
    """Why the namespace cluster cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (it creates network namespaces and a veth pair)"
    for tool in ("ip", "taskset"):
        if shutil.which(tool) is None:
            return f"needs {tool!r} (iproute2 / util-linux)"
    res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if res.returncode != 0:
        return f"`ip netns` is unavailable here: {res.stderr.strip()[:200]}"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'acakit[ray]')"
    return None


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time under pytest -n
def test_two_hosts_and_a_killed_worker() -> None:
    reason = _no_netns()
    if reason:
        pytest.skip(reason)
    res = subprocess.run([sys.executable, "bench_cluster.py", "--quick"], cwd=BENCH,
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    last = res.stdout.strip().splitlines()[-1]
    got = dict(kv.split("=", 1) for kv in last.split())
    assert got["nodes"] == "2", last  # the collective sweep ran on both hosts
    assert got["multi_nodes"] == "2" and got["fairness_nodes"] == "2", last
    assert int(got["shipped_bytes"]) < int(got["per_cell_bytes"]), last
    assert got["kill_lost"] == "0" and got["kill_duplicated"] == "0", last
    assert got["complete"] == "True", last
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "acakit-ch" not in listed and "acakit-cw" not in listed  # cleaned up


def test_store_keeps_the_node(tmp_path: Path) -> None:
    from acakit.engine.store import ResultStore, load

    path = tmp_path / "s.sqlite"
    with ResultStore(path) as st:
        st.record("c1", {"seed": 0}, row={"success": 1.0}, node="host-a/10.0.0.1")
        st.record("c2", {"seed": 1}, row={"success": 0.5})  # default: this host's name
    df = load(path).set_index("cell_id")
    assert df.loc["c1", "node"] == "host-a/10.0.0.1"
    assert df.loc["c2", "node"] == __import__("socket").gethostname()


def test_old_store_gets_a_node_column(tmp_path: Path) -> None:
    from acakit.engine.store import ResultStore, load

    path = tmp_path / "old.sqlite"
    with ResultStore(path) as st:
        st.record("c1", {"seed": 0}, row={"success": 1.0})
    con = sqlite3.connect(path)  # make it a store written before the column existed
    con.execute("ALTER TABLE cells DROP COLUMN node")
    con.commit()
    con.close()
    assert "node" in load(path).columns  # read-only: the column is None, nothing is changed
    assert load(path)["node"].isna().all()
    with ResultStore(path) as st:  # opened for writing: the column is added
        st.record("c2", {"seed": 1}, row={"success": 0.5}, node="n2")
    df = load(path).set_index("cell_id")
    assert df.loc["c2", "node"] == "n2" and df["node"].isna().sum() == 1
