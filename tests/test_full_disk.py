"""A disk that fills: the run or the audit ends in one line naming the file, and a store keeps
every cell written before.

No tmpfs can be mounted here, so the disk "fills" through ``RLIMIT_FSIZE``: the command runs in
a child process whose files cannot grow past a limit (Python ignores SIGXFSZ, so a write past it
fails with EFBIG, which SQLite reports as "disk I/O error"), as a real full disk fails a write
with ENOSPC ("database or disk is full").
"""

from __future__ import annotations

import os
import re
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SWEEP = ("dataset: {name: product_ratings, params: {n_samples: 300, n_features: 4}}\n"
         "firm: {name: empirical_bayes}\n"
         "collective: {signal: {type: set_columns, values: {f3: 9}}, target: rating_1}\n"
         "sweep: {alpha: [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09], "
         "seed: [0, 1, 2, 3, 4, 5]}\n")  # 60 cells, each a few ms


def _acakit(args: list[str], tmp_path: Path, max_bytes: int | None) -> subprocess.CompletedProcess[str]:
    """``python -m acakit ARGS`` whose files cannot grow past ``max_bytes`` (None: no limit)."""

    def limit() -> None:  # in the child, before exec
        if max_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    env = {**os.environ, "ACAKIT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "acakit", *args], capture_output=True, text=True,
                          env=env, preexec_fn=limit, timeout=300, cwd=tmp_path)


def _one_error(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.returncode == 2 and len(errors) == 1, (res.returncode, res.stderr[-3000:])
    return errors[0]


def test_a_store_whose_disk_fills_midway_keeps_every_cell_written_before(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(SWEEP)
    store = tmp_path / "out" / "results.sqlite"
    res = _acakit(["run", str(cfg), "-o", "out", "-j", "1", "--no-cache"], tmp_path, 200_000)
    err = _one_error(res)
    kept = re.fullmatch(r"error: store: cannot write 'out/results\.sqlite' \(disk I/O error\); "
                        r"the (\d+) cell\(s\) finished before are kept in it", err)
    assert kept, err  # the store's own message, not masked by the manifest written at the end
    n = int(kept.group(1))
    assert 0 < n < 60, n  # the disk filled midway

    from acakit.engine import load_run

    run = load_run(store)  # read back with no limit: every cell the message counted, all ok
    assert len(run.results) == n and run.info.completeness.ok == n
    with sqlite3.connect(store) as c:
        assert c.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert c.execute("SELECT COUNT(*) FROM cells WHERE status = 'ok'").fetchone()[0] == n

    res = _acakit(["run", str(cfg), "-o", "out", "-j", "1", "--no-cache"], tmp_path, None)
    assert res.returncode == 0, res.stderr[-3000:]  # the rerun adds the rest, none twice
    assert f"{60 - n} run now, {n} from the store" in res.stdout, res.stdout[-2000:]


def test_a_store_that_cannot_be_created_on_a_full_disk_says_so(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(SWEEP)
    res = _acakit(["run", str(cfg), "-o", "out", "-j", "1", "--no-cache"], tmp_path, 8192)
    err = _one_error(res)  # not "is not a usable SQLite database": the disk, not the file
    assert err == "error: store: cannot write 'out/results.sqlite' (disk I/O error)", err


def test_audit_onto_a_full_disk_is_one_line_naming_the_file(tmp_path):
    out = tmp_path / "audit" / "report.html"
    res = _acakit(["audit", "--data", str(EXAMPLES / "data" / "loans.csv"), "--label", "approved",
                   "--drop", "applicant_id,notes", "--firm", "sklearn.linear_model.LogisticRegression",
                   "-o", str(out), "--seeds", "1", "--alphas", "0.05,0.1", "-j", "1", "-q"],
                  tmp_path, 60_000)  # the report (figures inside) is larger than that
    err = _one_error(res)
    assert err == f"error: cannot write {str(out)!r} (File too large)", err
    assert not out.exists() and not any(out.parent.iterdir())  # no half-written report left


def test_a_full_disk_under_the_cache_turns_the_cache_off_and_every_cell_runs(tmp_path):
    """The data set's cache entry (20,000 rows) cannot be written: every cell failed with a bare
    "OSError: [Errno 27] File too large" before; now one warning names the entry and the run
    goes on without the cache."""
    cfg = tmp_path / "big.yaml"
    cfg.write_text(SWEEP.replace("n_samples: 300", "n_samples: 20000").replace(
        "alpha: [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09], "
        "seed: [0, 1, 2, 3, 4, 5]", "alpha: [0.0, 0.05], seed: [0]"))
    res = _acakit(["run", str(cfg), "-o", "out", "-j", "1"], tmp_path, 150_000)
    assert res.returncode == 0, res.stderr[-3000:]
    said = [ln for ln in res.stderr.splitlines() if "cache" in ln]
    assert len(said) == 1 and said[0].startswith(
        f"warning: cache: cannot write {tmp_path / 'cache'}/") and "File too large" in said[0], said

    from acakit.engine import load_run

    assert load_run(tmp_path / "out" / "results.sqlite").info.completeness.ok == 2
