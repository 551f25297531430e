"""Cost of one sweep cell as the training set grows (synthetic Gaussian mixture).

For n = 10^3 ... 10^max_exp rows, one cell (logistic regression, α = 1%) runs through
``run_config`` with a store; the overhead is the cell's wall time minus the firm's two fits
(clean and altered, timed inside): data generation, split, drawing and altering members,
predictions, metrics, validation and the store. Prints the log-log slope (scaling
exponent) of the overhead and of the fits; the goal is an overhead exponent no larger than the
fit's.

Last line: ``overhead_exponent=... fit_exponent=... max_rows=...``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _common import fresh_cache


def one(n: int) -> tuple[float, float]:
    from acakit.analyses.single import run_config

    fresh_cache()
    cfg = {
        "dataset": {"name": "gaussian_mixture", "params": {"n_samples": n, "n_features": 10}},
        "firm": {"name": "logistic_regression"},
        "collective": {"strategy": "plant", "target": "class_1", "signal": {"type": "shift", "shift": 3.0}},
        "sweep": {"alpha": [0.01], "seed": [0]},
        "output": {"plot": False},
    }
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_config(cfg, out_dir=d, progress=False, store=f"{d}/s.sqlite")
        total = time.perf_counter() - t0
    row = res.results.iloc[0]
    fits = float(row["fit_seconds"]) * 2  # clean and altered fit (same size)
    return total, fits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-exp", type=int, default=6)
    args = ap.parse_args()
    ns = [10 ** k for k in range(3, args.max_exp + 1)]
    over, fit = [], []
    one(1000)  # warm-up: first-call imports are not a per-cell cost
    for n in ns:
        total, fits = one(n)
        over.append(max(total - fits, 1e-6))
        fit.append(fits)
        print(f"n={n:>8} cell {total:.2f}s fits {fits:.2f}s overhead {over[-1]:.2f}s", flush=True)
    lx = np.log10(ns)
    e_over = np.polyfit(lx, np.log10(over), 1)[0]
    e_fit = np.polyfit(lx, np.log10(fit), 1)[0]
    print(f"overhead_exponent={e_over:.2f} fit_exponent={e_fit:.2f} max_rows={ns[-1]}")


if __name__ == "__main__":
    main()
