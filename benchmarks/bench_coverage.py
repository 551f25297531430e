"""Coverage of the summary interval over seeds: does a 95% interval from 5 seeds cover the truth?

The truth is the mean success over the randomness a user cares about (who joins the collective,
the train/test split, the firm's training), estimated from ``--truth-seeds`` independent seeds.
Then ``--reps`` disjoint groups of 5 other seeds each get the summary's interval
(:func:`acakit.analyses.curves.summarize`: a t-interval over the 5 per-seed rates, widened to the
pooled Wilson interval where that is wider); the script prints the share that covers the truth,
and, for comparison, the share covered by the old interval (one Wilson interval on the test
counts pooled over the seeds). Everything runs through the engine (``acakit.engine.execute``).

Setting: the synthetic two-class Gaussian mixture (3,000 rows, 5 features, overlap 1), a
feature-label planting collective at α = 1% (21 members) that shifts feature 4 by 3 and reports
class_1, a logistic-regression firm: success about 0.16 with a between-seed spread (sd about
0.03) larger than the test-set noise of one seed, the case the pooled interval gets wrong.

Usage::

    python benchmarks/bench_coverage.py            # 100 reps x 5 seeds, truth from 400 seeds
    python benchmarks/bench_coverage.py --reps 40  # quicker
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import numpy as np
from _common import fresh_cache

ALPHA = 0.01


def config(seeds: list[int]) -> dict:
    return {
        "name": "coverage",
        "dataset": {"name": "gaussian_mixture",
                    "params": {"n_samples": 3000, "n_features": 5, "overlap": 1.0}},
        "firm": {"name": "logistic_regression"},
        "collective": {"strategy": "plant", "target": "class_1",
                       "signal": {"type": "shift", "shift": [0, 0, 0, 0, 3.0]}},
        "sweep": {"alpha": [ALPHA], "seed": seeds},
        "output": {"plot": False},
    }


def run(seeds: list[int], jobs: int) -> Any:
    from acakit.engine import execute

    with tempfile.TemporaryDirectory() as d:
        return execute(config(seeds), jobs=jobs, out_dir=d, progress=False,
                       store=f"{d}/results.sqlite").results


def coverage(reps: int = 100, truth_seeds: int = 400, group: int = 5, jobs: int = 2,
             confidence: float = 0.95) -> dict[str, float]:
    """Run the experiment and return the coverage of the new and the old interval."""
    from acakit.analyses.curves import summarize
    from acakit.metrics import binomial_ci

    fresh_cache()
    truth_runs = run(list(range(100_000, 100_000 + truth_seeds)), jobs)
    truth = float(truth_runs["success"].mean())
    runs = run(list(range(reps * group)), jobs).sort_values("seed").reset_index(drop=True)
    hit_new = hit_old = 0
    widths = []
    for r in range(reps):
        part = runs[runs["seed"].between(r * group, (r + 1) * group - 1)]
        s = summarize(part, "success", confidence).iloc[0]
        hit_new += s["success_lo"] <= truth <= s["success_hi"]
        widths.append(s["success_hi"] - s["success_lo"])
        k = int(np.rint(part["success"] * part["success_n"]).sum())
        lo, hi = binomial_ci(k, int(part["success_n"].sum()), confidence)
        hit_old += lo <= truth <= hi
    return {"truth": truth, "truth_sd_between_seeds": float(truth_runs["success"].std(ddof=1)),
            "coverage": hit_new / reps, "coverage_pooled_wilson": hit_old / reps,
            "mean_width": float(np.mean(widths)), "reps": reps, "seeds_per_rep": group}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--truth-seeds", type=int, default=400)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    c = coverage(args.reps, args.truth_seeds, jobs=args.jobs)
    print(f"truth={c['truth']:.4f} (sd between seeds {c['truth_sd_between_seeds']:.4f}, "
          f"{args.truth_seeds} seeds)")
    print(f"coverage={c['coverage']:.3f} (t over 5 seeds, >= pooled Wilson; goal >= 0.90) "
          f"coverage_pooled_wilson={c['coverage_pooled_wilson']:.3f} "
          f"mean_width={c['mean_width']:.3f} reps={c['reps']} "
          f"seconds={time.perf_counter() - t0:.0f}")


if __name__ == "__main__":
    main()
