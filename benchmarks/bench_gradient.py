"""Cost of an adaptive collective in gradient descent, and the synthetic sweep's wall time.

1. Adult (31,655 training rows, 102 one-hot/standardised features), logistic regression by
   full-batch gradient descent, ``--steps`` steps (default 500): the firm alone
   (``GradientDescentFirm.fit`` on the base rows) against the same steps with an adaptive
   collective of α = 5% asked every step (``gradient_control``, flip the sign of
   ``hours_per_week``; and ``gradient_neutralize``, hold ``age`` at 0). Both are run alternately
   ``--repeats`` times in this one process; the ratio of the best times is printed (the machine
   is shared, best-of-n is the least noisy estimate).
2. ``examples/gradient_control_synthetic.yaml`` (60 cells of about 25 ms) through ``acakit
   run``'s engine serially and with 2 loky workers (a fresh cache, no store), the pool cold
   (started by the run) and warm (reused): wall times and their ratios to the serial run.

Prints one line per measurement: ``what=... ratio=... a_s=... b_s=...``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import fresh_cache

HERE = Path(__file__).resolve().parent


def adult_ratio(steps: int, repeats: int) -> None:
    from acakit.engine.gradient import GradDataSpec, prepared
    from acakit.firms.gradient import GradientDescentFirm
    from acakit.steering import GradientControl, GradientNeutralize, resolve_goal

    d = prepared(GradDataSpec(name="adult").model_dump_json(), 0)
    n = len(d.y_train)
    m = int(0.05 * n)
    rng = np.random.RandomState(0)
    mem = np.zeros(n, bool)
    mem[rng.choice(n, m, replace=False)] = True
    Xm, ym, Xb, yb = d.X_train[mem], d.y_train[mem], d.X_train[~mem], d.y_train[~mem]

    def firm() -> GradientDescentFirm:
        return GradientDescentFirm(loss="logistic", lr=1.0, steps=steps)

    clean = firm().fit(Xb, yb)
    model = clean.model_
    ts = resolve_goal({"type": "flip_sign", "feature": "hours_per_week"}, None, clean.theta_,
                      model, d.feature_names)
    age = d.feature_names.index("num__age")
    strategies = {
        "gradient_control": lambda: GradientControl(theta_star=ts),
        "gradient_neutralize": lambda: GradientNeutralize(coordinates=[age]),
    }
    for name, make in strategies.items():
        bare, steered = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            firm().fit(Xb, yb)
            bare.append(time.perf_counter() - t)
            s = make().bind(model, Xm, ym, Xb, yb, m / n)
            t = time.perf_counter()
            firm().fit_steered(Xb, yb, s, m / n)
            steered.append(time.perf_counter() - t)
        print(f"what=adult_{steps}_steps_{name}_vs_none ratio={min(steered) / min(bare):.2f} "
              f"a_s={min(steered):.2f} b_s={min(bare):.2f}", flush=True)


def sweep_ratio() -> None:
    from acakit.engine import execute

    cfg = str(HERE.parent / "examples" / "gradient_control_synthetic.yaml")
    times = {}
    for key, jobs in (("serial", 1), ("loky2_cold", 2), ("loky2_warm", 2)):
        fresh_cache()  # a cold cache each time; the warm pool is the one the cold run started
        t = time.perf_counter()
        run = execute(cfg, jobs=jobs, progress=False, store=False,
                      out_dir=Path(fresh_cache()) / "out")
        times[key] = time.perf_counter() - t
        assert len(run.results) == 60
    for key in ("loky2_cold", "loky2_warm"):
        print(f"what=synthetic_60_cells_{key}_vs_serial ratio={times[key] / times['serial']:.2f} "
              f"a_s={times[key]:.1f} b_s={times['serial']:.1f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    adult_ratio(a.steps, a.repeats)
    sweep_ratio()


if __name__ == "__main__":
    main()
