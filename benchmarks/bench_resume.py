"""Kill a sweep at ~50% with SIGKILL, resume it, check no cell is lost or duplicated.

One sweep per experiment kind (``--kind``, default all), each run as ``acakit run --jobs 2`` in
a subprocess: ``collective``: Adult, logistic regression, 10 α x 4 seeds = 40 cells; ``multi``:
two conflicting collectives on product ratings, 6 sizes x 6 seeds = 36 cells; ``fairness``:
COMPAS relabeling, 69 cells. Prints the time of a full run, of the killed run up to the kill, of
the resume, and the time saved by resuming instead of rerunning everything. ``duplicated``
counts cells stored twice or written a second time (``attempts`` > 1).

One line per kind: ``kind=... lost=0 duplicated=0 cells=... killed_at=... full_s=... resume_s=...
saved_s=...``
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

CFG = {
    "name": "resume",
    "dataset": {"name": "adult"},
    "firm": {"name": "logistic_regression"},
    "collective": {"strategy": "plant", "target": ">50K",
                   "signal": {"type": "set_columns",
                              "values": {"native_country": "Holand-Netherlands",
                                         "occupation": "Armed-Forces"}}},
    "sweep": {"alpha": [round(0.0002 * i, 4) for i in range(10)], "seed": [0, 1, 2, 3]},
    "output": {"plot": False},
}


def count(store: Path) -> int:
    try:
        con = sqlite3.connect(store, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def resume_kind(kind: str, cfg: dict, root: Path) -> None:
    """Full run, then a run killed with SIGKILL at ~50 % of its cells and its resume."""
    from acakit.engine import prepare

    n = len(prepare(cfg)[2])
    root.mkdir(parents=True)
    cfgp = root / "cfg.yaml"
    cfgp.write_text(yaml.safe_dump(cfg | {"output": {"plot": False, "dir": str(root / "out")}}))
    store = root / "out" / "results.sqlite"

    def cmd(store_path: Path, cache: str) -> tuple[list[str], dict]:
        env = os.environ | {"ACAKIT_CACHE_DIR": str(root / cache)}
        return ([sys.executable, "-m", "acakit", "run", str(cfgp), "--jobs", "2", "--quiet",
                 "--store", str(store_path)], env)

    c, env = cmd(root / "full.sqlite", "cache-full")
    t0 = time.perf_counter()
    subprocess.run(c, env=env, check=True, capture_output=True)
    full = time.perf_counter() - t0

    c, env = cmd(store, "cache-killed")
    t0 = time.perf_counter()
    p = subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    while count(store) < n // 2 and p.poll() is None:
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    killed_s = time.perf_counter() - t0
    killed_at = count(store)
    t0 = time.perf_counter()
    r = subprocess.run(c, env=env, check=True, capture_output=True, text=True)
    resume = time.perf_counter() - t0
    recomputed = "" if f"{n - killed_at} run now, {killed_at} from the store" in r.stdout else \
        " (the rerun did not skip exactly the stored cells!)"
    con = sqlite3.connect(store)
    ids = [r[0] for r in con.execute("SELECT cell_id FROM cells WHERE status='ok'")]
    attempts = con.execute("SELECT MAX(attempts) FROM cells").fetchone()[0]
    full_ids = {r[0] for r in sqlite3.connect(root / "full.sqlite").execute("SELECT cell_id FROM cells")}
    lost = len(full_ids - set(ids))
    dup = len(ids) - len(set(ids)) + (attempts - 1)
    print(f"{kind}: full {full:.1f}s; killed after {killed_s:.1f}s at {killed_at}/{n} cells; "
          f"resume {resume:.1f}s{recomputed}", flush=True)
    print(f"kind={kind} lost={lost} duplicated={dup} cells={len(set(ids))} killed_at={killed_at} "
          f"full_s={full:.1f} resume_s={resume:.1f} saved_s={full - resume:.1f}", flush=True)


def main() -> None:
    import argparse

    from _common import fairness_config, multi_config

    configs = {"collective": CFG, "multi": multi_config([0, 1, 2, 3, 4, 5]),
               "fairness": fairness_config([0, 1, 2])}
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=[*configs, "all"], default="all")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="acakit-bench-resume-"))
    for kind in configs if args.kind == "all" else [args.kind]:
        resume_kind(kind, configs[kind], root / kind)


if __name__ == "__main__":
    main()
