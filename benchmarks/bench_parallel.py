"""1 worker vs 2 workers on the same sweep, for each experiment kind, and Ray (local) vs loky.

Sweeps (``--kind``, default all): ``collective``: Adult, logistic regression, 4 α values, 4
seeds (16 cells); ``multi``: two conflicting collectives on 20,000 product ratings, 6 sizes x 6
seeds (36 cells); ``fairness``: COMPAS relabeling, 3 methods, 2 baselines, 3 seeds (69 cells).
Each configuration starts with a cold cache and a fresh store; each runs ``--repeats`` times and
the fastest run counts. "1 worker" is the serial runner with BLAS/OpenMP limited to one thread,
so the ratio measures process parallelism (loky gives each of its workers cores / workers
threads). By default the pools are warmed first (workers started, acakit imported, Adult loaded)
so the ratio measures steady-state throughput (and each kind's sweep runs once, untimed,
serially and on the pool, so that its modules are imported in every process: importing
acakit.multi takes 1.1 s); ``--cold`` includes the start-up, which dominates sweeps this short.

One line per kind: ``kind=... parallel_speedup=... ray_vs_loky=... cells=... serial_s=... loky2_s=...
ray2_s=...`` (Ray is timed for the collective sweep only, unless ``--ray-all``).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import adult_config, fairness_config, fresh_cache, multi_config

CONFIGS = {
    "collective": lambda: adult_config([0.0, 0.0005, 0.001, 0.002], [0, 1, 2, 3],
                                       ["logistic_regression"]),
    "multi": lambda: multi_config([0, 1, 2, 3, 4, 5]),
    "fairness": lambda: fairness_config([0, 1, 2]),
}


def timed(kind: str, **kw) -> tuple[float, int]:
    from acakit.analyses import run_experiment

    fresh_cache()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_experiment(CONFIGS[kind](), out_dir=d, progress=False, store=f"{d}/s.sqlite", **kw)
        return time.perf_counter() - t0, res.run.n_run


def best(kind: str, repeats: int, **kw) -> tuple[float, int]:
    runs = [timed(kind, **kw) for _ in range(repeats)]
    return min(t for t, _ in runs), runs[0][1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=[*CONFIGS, "all"], default="all")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--ray-all", action="store_true", help="time Ray for every kind")
    ap.add_argument("--cold", action="store_true", help="include worker start-up")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each configuration; the fastest counts (as timeit does)")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from acakit.data import load

    load("adult")
    load("compas")
    if not args.cold:
        from joblib import Parallel, delayed

        Parallel(n_jobs=2, backend="loky")(delayed(load)(n) for n in ("adult", "compas") * 2)
    kinds = list(CONFIGS) if args.kind == "all" else [args.kind]
    for kind in kinds:
        if not args.cold:  # one untimed run each way: the kind's modules imported everywhere
            timed(kind, jobs=2, runner="loky")
            with threadpool_limits(1):
                timed(kind, jobs=1)
        with threadpool_limits(1):
            serial, n = best(kind, args.repeats, jobs=1)
        loky, _ = best(kind, args.repeats, jobs=2, runner="loky")
        ray_s = float("nan")
        if not args.no_ray and (kind == "collective" or args.ray_all):
            try:
                import ray

                if not args.cold and not ray.is_initialized():
                    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                    ray.get([ray.remote(load).remote("adult") for _ in range(4)])
                ray_s, _ = best(kind, args.repeats, jobs=2, runner="ray")
            except ImportError:
                pass
        print(f"{kind}: serial {serial:.1f}s loky(2) {loky:.1f}s ray(2) {ray_s:.1f}s", flush=True)
        print(f"kind={kind} parallel_speedup={serial / loky:.2f} ray_vs_loky={ray_s / loky:.2f} "
              f"cells={n} serial_s={serial:.1f} loky2_s={loky:.1f} ray2_s={ray_s:.1f}", flush=True)


if __name__ == "__main__":
    main()
