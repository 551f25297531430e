"""1 worker vs 2 workers on the same sweep, and Ray (local) vs loky.

Sweep: Adult, logistic regression, 4 α values, 4 seeds (16 cells). Each configuration starts
with a cold cache and a fresh store; each runs ``--repeats`` times and the fastest run counts.
"1 worker" is the serial runner with BLAS/OpenMP limited to one thread, so the ratio measures
process parallelism (loky gives each of its workers cores / workers threads). By default the
pools are warmed first (workers started, acakit imported, Adult loaded) so the ratio measures
steady-state throughput; ``--cold`` includes the start-up, which dominates sweeps this short.

Last line: ``parallel_speedup=... ray_vs_loky=... cells=16 serial_s=... loky2_s=... ray2_s=...``
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import adult_config, fresh_cache


def timed(**kw) -> float:
    from acakit.experiment import run_config

    fresh_cache()
    cfg = adult_config([0.0, 0.0005, 0.001, 0.002], [0, 1, 2, 3], ["logistic_regression"])
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        run_config(cfg, out_dir=d, progress=False, store=f"{d}/s.sqlite", **kw)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--cold", action="store_true", help="include worker start-up")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each configuration; the fastest counts (as timeit does)")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from acakit.data import load

    load("adult")
    if not args.cold:
        from joblib import Parallel, delayed

        Parallel(n_jobs=2, backend="loky")(delayed(load)("adult") for _ in range(4))
    with threadpool_limits(1):
        serial = min(timed(jobs=1) for _ in range(args.repeats))
    loky = min(timed(jobs=2, runner="loky") for _ in range(args.repeats))
    ray_s = float("nan")
    if not args.no_ray:
        try:
            import ray  # noqa: F401

            if not args.cold:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                ray.get([ray.remote(load).remote("adult") for _ in range(4)])
            ray_s = min(timed(jobs=2, runner="ray") for _ in range(args.repeats))
        except ImportError:
            pass
    print(f"serial {serial:.1f}s loky(2) {loky:.1f}s ray(2) {ray_s:.1f}s")
    print(f"parallel_speedup={serial / loky:.2f} ray_vs_loky={ray_s / loky:.2f} cells=16 "
          f"serial_s={serial:.1f} loky2_s={loky:.1f} ray2_s={ray_s:.1f}")


if __name__ == "__main__":
    main()
