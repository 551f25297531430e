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


# ----------------------------------------------------------------------------- ray.init's deadline
TINY = ("dataset: {name: product_ratings, params: {n_samples: 400, n_features: 4}}\n"
        "firm: {name: empirical_bayes}\n"
        "collective: {signal: {type: set_columns, values: {f3: 9}}, target: rating_1}\n"
        "sweep: {alpha: [0.0, 0.05], seed: [0]}\n")


def _acakit(args: list[str], env: dict[str, str] | None = None,
            timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m acakit ARGS`` in a child process (Ray's C++ side writes to file descriptor 2,
    which only a child's stderr shows), and its wall time."""
    import time

    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "acakit", *args], capture_output=True, text=True,
                         timeout=timeout, env=env)
    return res, time.perf_counter() - t0


def _fake_gcs() -> tuple[object, int]:
    """A server that answers gRPC's HTTP/2 preface with a SETTINGS frame, as Ray's GCS does, and
    then never serves a call: ``ray.init`` alone retries it for minutes."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def serve(conn: socket.socket) -> None:
        try:
            conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            while conn.recv(65536):
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:  # closed by the test
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_a_gcs_that_never_serves_ends_in_one_line_within_the_timeout(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY)
    # the same command refused at once (nothing listens on port 1): what starting Python and
    # reading the config cost on this machine, which the deadline does not cover
    closed, start = _acakit(["run", str(cfg), "-o", str(tmp_path / "out"), "--address",
                             "127.0.0.1:1", "--connect-timeout", "1"], timeout=60)
    assert closed.returncode == 2, closed.stderr[-3000:]
    srv, port = _fake_gcs()
    try:
        res, seconds = _acakit(["run", str(cfg), "-o", str(tmp_path / "out"), "--address",
                                f"127.0.0.1:{port}", "--connect-timeout", "1"], timeout=60)
    finally:
        srv.close()  # type: ignore[attr-defined]
    err = res.stderr.strip()
    assert res.returncode == 2, res.stderr[-3000:]
    assert err.startswith("error: runner ray: the Ray cluster at '127.0.0.1:") and len(
        err.splitlines()) == 1, err[-3000:]  # no Ray log line ("[2026-... W ...] rpc_client.h")
    assert "within 1 s" in err and res.stdout == "", res.stdout
    assert seconds - start < 1 + 5, (seconds, start)  # ray.init alone retried for minutes
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time under pytest -n
def test_a_real_cluster_is_reached_within_the_deadline(tmp_path: Path) -> None:
    """ray.init, run in a thread under --connect-timeout, still connects to a real cluster (a
    head started by another driver) and runs every cell there, no Ray log line printed."""
    pytest.importorskip("ray")
    import secrets

    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [sys.executable, "-c", "import ray, sys, time\n"
         "ctx = ray.init(num_cpus=2, include_dashboard=False)\n"
         "print(ctx.address_info['gcs_address'], flush=True)\n"
         "sys.stdin.read()\n"  # until the test closes stdin; then ray.shutdown at exit
         ], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env)
    try:
        assert head.stdout is not None
        address = head.stdout.readline().strip()
        assert address, "the head did not start"
        cfg = tmp_path / "c.yaml"
        cfg.write_text(TINY)
        res, _ = _acakit(["run", str(cfg), "-o", str(tmp_path / "out"), "--address", address,
                          "--connect-timeout", "10", "-q"], env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        assert "SIGTERM handler" not in res.stderr and "worker.py" not in res.stderr, res.stderr
        from acakit.engine import load_run

        run = load_run(tmp_path / "out" / "results.sqlite")
        assert len(run.results) == 2 and run.info.completeness.ok == 2
    finally:
        assert head.stdin is not None
        head.stdin.close()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover
            head.kill()
            head.wait()
