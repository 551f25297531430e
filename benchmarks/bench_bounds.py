"""Speed of the theory: finite-sample planting bound on 10^6 categorical rows, 10^4 α values.

Prints a few lines and, last, ``key=value`` pairs:

- ``finite_20n_s``: seconds for the finite-sample feature-label planting bound of a collective on
  a 10^6-row data set (18 categorical features, 4 classes) at 20 collective sizes n (each: draw
  the members, count their signal points, compute the bound), plus the one-off ``#X̃``;
- ``alpha_1e4_ms``: milliseconds to evaluate the infinite-data bound at 10^4 values of α;
- ``critical_1e4_ms``: the same for the critical mass at 10^4 targets.
"""

from __future__ import annotations

import time

import numpy as np

from acakit.data import make_product_ratings
from acakit.data.base import take_rows
from acakit.strategies import SetColumns
from acakit.theory import planting_bound, planting_critical_mass
from acakit.theory.estimators import finite_bound_from_sample, signal_set_size


def main() -> None:
    ds = make_product_ratings(n_samples=1_000_000, n_features=18, n_values=3, n_classes=4,
                              n_informative=3, purity=0.7, seed=0)
    g = SetColumns({f"f{j}": 0 for j in range(16)})  # 2 free columns: #X̃ = 3^2 = 9
    target = 1
    N = len(ds)
    sizes = np.unique(np.geomspace(1_000, 300_000, 20).astype(int))
    rng = np.random.RandomState(0)
    t0 = time.perf_counter()
    k = signal_set_size(ds, g)
    y = np.asarray(ds.y)
    results = []
    for n in sizes:  # 20 collective sizes
        idx = rng.choice(N, size=int(n), replace=False)
        b = finite_bound_from_sample(take_rows(ds.X, idx), y[idx], g, target, n_train=N,
                                     n_test=300_000, delta=0.05, n_signal_points=k, n_classes=4)
        results.append(b)
    finite_s = time.perf_counter() - t0
    for b in [*results[:: max(1, len(results) // 4)], results[-1]]:
        print(f"n={b.n:>7,}  alpha={b.alpha:.4f}  bound={b.bound:+.4f}  delta_tilde={b.delta_tilde:.2e}  "
              f"planted={int(b.points['planted'].sum())}/{len(b.points)}")

    alphas = np.linspace(0, 1, 10_000)
    planting_bound(alphas, 0.3, 0.001)
    reps = 50
    t0 = time.perf_counter()
    for _ in range(reps):
        planting_bound(alphas, 0.3, 0.001, 0.01)
    alpha_ms = 1e3 * (time.perf_counter() - t0) / reps
    targets = np.linspace(-1, 0.99, 10_000)
    t0 = time.perf_counter()
    for _ in range(reps):
        planting_critical_mass(targets, 0.3, 0.001, 0.01)
    crit_ms = 1e3 * (time.perf_counter() - t0) / reps
    print(f"rows={N} features=18 classes=4 signal_points={k:.0f} n_values={len(sizes)} "
          f"finite_20n_s={finite_s:.3f} alpha_1e4_ms={alpha_ms:.3f} critical_1e4_ms={crit_ms:.3f} "
          f"finite_ok={finite_s < 10} alpha_ok={alpha_ms < 10}")


if __name__ == "__main__":
    main()
