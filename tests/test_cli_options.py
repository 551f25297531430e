"""Numeric options of acakit run are refused like their config and environment twins: exit 2,
one error line naming the option, nothing created (no typer usage box)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import run_cli

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"


@pytest.mark.parametrize(("args", "message"), [
    (["--gpus", "0"], "error: --gpus: 0 is not an integer >= 1"),
    (["--cells-per-gpu", "0"], "error: --cells-per-gpu: 0 is not an integer >= 1"),
    (["--max-cells", "abc"], "error: --max-cells: 'abc' is not an integer >= 1"),
    (["--gpus", "two"], "error: --gpus: 'two' is not an integer >= 1"),
])
def test_bad_numeric_options_are_one_line(args, message, tmp_path):
    r = run_cli("run", str(QUICKSTART), "-o", str(tmp_path / "out"), *args)
    err = r.stderr.strip()
    assert r.exit_code == 2 and err.startswith(message) and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_fairness_commands_take_the_sweep_budget(tmp_path):
    toy = QUICKSTART.parent / "fairness_toy.yaml"
    r = run_cli("fairness", "run", str(toy), "--max-cells", "2", "-o", str(tmp_path / "out"))
    err = r.stderr.strip()
    assert r.exit_code == 2 and "more than the limit of 2" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_plugin_commands_are_registered_once():
    from acakit.cli import _register_plugins, app

    _register_plugins()
    n = len(app.registered_commands) + len(app.registered_groups)
    _register_plugins()
    assert len(app.registered_commands) + len(app.registered_groups) == n


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_more_gpus_than_torch_sees_is_refused_on_every_local_runner(jobs, tmp_path):
    pytest.importorskip("torch")
    from acakit.firms.device import cuda_device_count

    n = cuda_device_count()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {name: gaussian_mixture, params: {n_samples: 200}}\n"
                   "firm: {name: torch_mlp}\n"
                   "collective: {strategy: plant, target: class_1, "
                   "signal: {type: shift, shift: [0, 0, 0, 0, 5.0]}}\n"
                   "sweep: {alpha: [0.1]}\n")
    r = run_cli("run", str(cfg), "-o", str(tmp_path / "out"), "-j", jobs, "--gpus", str(n + 1))
    err = r.stderr.strip()
    assert r.exit_code == 2 and err == (f"error: gpus: {n + 1} asked for, but torch sees {n} "
                                        "CUDA device(s)"), err


def test_multi_heatmap_output_problems_are_one_line(tmp_path, monkeypatch):
    import errno

    import pandas as pd

    cfg = QUICKSTART.parent / "two_collectives.yaml"
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    r = run_cli("multi-heatmap", str(cfg), "--alphas", "0.01,0.02", "-o", str(blocker))
    err = r.stderr.strip()
    assert r.exit_code == 2 and err.startswith("error: --out: ") and "is a file" in err, err

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(a[0]) if a else None)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    r = run_cli("multi-heatmap", str(cfg), "--alphas", "0.01,0.02", "-o", str(tmp_path / "o"))
    err = r.stderr.strip()
    assert r.exit_code == 2 and "No space left on device" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("what", ["wide", "big_cell"])
def test_hostile_csvs_are_refused_in_one_line_by_run_and_audit(what, tmp_path, monkeypatch):
    monkeypatch.setenv("ACAKIT_MAX_COLUMNS", "50")
    data = tmp_path / "d.csv"
    if what == "wide":  # 60 columns against a limit of 50
        data.write_text(",".join(f"c{i}" for i in range(59)) + ",y\n"
                        + "\n".join(",".join(["1"] * 59) + f",{i % 2}" for i in range(10)) + "\n")
        message = "data: d.csv has 60 columns, more than the 50 acakit reads"
    else:  # a 2 MB cell in row 3
        rows = [f"a{i},{i % 2}" for i in range(10)]
        rows[1] = "x" * 2_000_000 + ",1"
        data.write_text("c0,y\n" + "\n".join(rows) + "\n")
        message = "data: d.csv has a cell larger than 1,000,000 bytes (row 3)"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dataset: {{name: csv, params: {{path: {data}, label: y}}}}\n"
                   "collective: {strategy: plant, target: '1', "
                   "signal: {type: set_columns, values: {c0: '9'}}}\nsweep: {alpha: [0.1]}\n")
    for args in (["run", str(cfg), "-o", str(tmp_path / "out")],
                 ["audit", "--data", str(data), "--label", "y", "--firm",
                  "sklearn.linear_model.LogisticRegression", "-o", str(tmp_path / "audit")]):
        r = run_cli(*args)
        err = r.stderr.strip()
        assert r.exit_code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "audit").exists()


@pytest.mark.parametrize("server", ["http", "silent"])
def test_address_of_something_other_than_ray_is_refused_within_the_timeout(server, tmp_path):
    import http.server
    import socket
    import threading
    import time

    if server == "http":
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # the server's own log is not acakit's stderr
                pass

        srv = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
        port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    else:  # accepts, never says a word
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
    t0 = time.perf_counter()
    try:
        r = run_cli("run", str(QUICKSTART), "-o", str(tmp_path / "out"), "--address",
                    f"127.0.0.1:{port}", "--connect-timeout", "1")
    finally:
        if server == "http":
            srv.shutdown()
        srv.server_close() if server == "http" else srv.close()
    err = r.stderr.strip()
    assert r.exit_code == 2 and len(err.splitlines()) == 1, err
    assert ("not as a Ray cluster" in err) if server == "http" else ("answered within 1 s" in err)
    assert time.perf_counter() - t0 < 6
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_quiet_prints_each_warning_once(tmp_path, jobs):
    """With -q, acakit's log lines go to stderr through the root logger; a log warning (here the
    cache's, for a short key) was printed there as well as by the ``warning:`` handler. With
    -j 2 each worker task found the key too and printed the warning again (6 times here)."""
    import os
    import subprocess
    import sys

    (tmp_path / "conf").mkdir()
    key = tmp_path / "conf" / "cache.key"
    key.write_bytes(b"short")
    key.chmod(0o600)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {name: product_ratings, params: {n_samples: 300, n_features: 4}}\n"
                   "firm: {name: empirical_bayes}\n"
                   "collective: {signal: {type: set_columns, values: {f3: 9}}, target: rating_1}\n"
                   "sweep: {alpha: [0.0, 0.05, 0.1], seed: [0, 1]}\n")
    env = {**os.environ, "ACAKIT_CONFIG_DIR": str(tmp_path / "conf"),
           "ACAKIT_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "acakit", "run", str(cfg), "-o", str(tmp_path / "out"),
                        "-q", "-j", jobs], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stderr.splitlines()
    said = [ln for ln in lines if "shorter than 32" in ln]
    assert len(said) == 1 and said[0].startswith("warning: cache: the key "), r.stderr
    assert any("6 cells to run" in ln for ln in lines), r.stderr  # -q's log lines still there


def test_multi_heatmap_writes_under_the_configs_own_name(tmp_path, monkeypatch):
    """Without -o, two configs' heat maps go to two folders named after them (the second no
    longer overwrites the first)."""
    import shutil
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"
    for name in ("two_collectives", "smart_city_m2"):
        shutil.copy(examples / f"{name}.yaml", tmp_path / f"{name}.yaml")
    monkeypatch.chdir(tmp_path)
    for name in ("two_collectives", "smart_city_m2"):
        r = run_cli("multi-heatmap", f"{name}.yaml", "--alphas", "0.02,0.04")
        assert r.exit_code == 0, r.output
        assert (tmp_path / "results" / f"{name}_heatmap" / "heatmap.csv").is_file()
    assert not (tmp_path / "results" / "multi_heatmap").exists()
