"""acakit's serial runner vs a bare scikit-learn loop doing the same fits and predictions.

60 cells: Adult, logistic regression and gradient boosting, 6 α values, 5 seeds. The bare loop
splits, draws members, alters their rows, fits, and predicts on clean and signal test data with
scikit-learn/numpy directly (the estimators are built by ``make_firm`` so both fit the identical
pipeline). acakit runs through ``run_config`` with a fresh result store and a cold cache, so its
time includes validation, the store, the cache writes and the progress logic. Both are run
alternately ``--repeats`` times; the ratio of the best times is printed (the machine is shared,
best-of-n is the least noisy estimate).

Last line: ``overhead_ratio=... cells=60 acakit_s=... bare_s=...``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _common import ADULT_SIGNAL, adult_config, fresh_cache
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

ALPHAS = [0.0, 0.0002, 0.0004, 0.0006, 0.001, 0.002]
SEEDS = [0, 1, 2, 3, 4]
FIRMS = ["logistic_regression", "gradient_boosting"]


def bare_loop() -> list[float]:
    from acakit.data import load
    from acakit.firms import make_firm

    ds = load("adult")
    target = ds.class_index(">50K")
    out = []
    for firm_name in FIRMS:
        for seed in SEEDS:
            idx = np.arange(len(ds))
            tr, te = train_test_split(idx, test_size=0.3, random_state=check_random_state(seed),
                                      stratify=ds.y)
            tr, te = np.sort(tr), np.sort(te)
            Xtr, ytr = ds.X.iloc[tr].reset_index(drop=True), ds.y[tr]
            Xte, yte = ds.X.iloc[te].reset_index(drop=True), ds.y[te]
            gXte = Xte.copy()
            for col, v in ADULT_SIGNAL.items():
                gXte[col] = v
            f0 = make_firm(firm_name, ds).fit(Xtr, ytr)
            f0.predict(Xte)
            for alpha in ALPHAS:
                n = int(round(alpha * len(tr)))
                firm = f0
                if n:
                    members = check_random_state(seed).choice(len(tr), size=n, replace=False)
                    X, y = Xtr.copy(), ytr.copy()
                    for col, v in ADULT_SIGNAL.items():
                        X.loc[members, col] = v
                    y[members] = target
                    firm = make_firm(firm_name, ds).fit(X, y)
                hit = firm.predict(gXte) == target
                firm.predict(Xte)
                out.append(float(hit[yte != target].mean()))
    return out


def acakit_run() -> list[float]:
    from acakit.experiment import run_config

    fresh_cache()
    with tempfile.TemporaryDirectory() as d:
        res = run_config(adult_config(ALPHAS, SEEDS, FIRMS), out_dir=d, progress=False,
                         store=f"{d}/results.sqlite")
    return res.results["success"].tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    import acakit.experiment  # noqa: F401  (imports are not what we measure)
    from acakit.data import load

    load("adult")
    t_bare, t_aca = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        bare = bare_loop()
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        aca = acakit_run()
        t_aca.append(time.perf_counter() - t0)
        print(f"bare {t_bare[-1]:.1f}s  acakit {t_aca[-1]:.1f}s", flush=True)
    same = len(bare) == len(aca) == 60 and np.allclose(sorted(bare), sorted(aca))
    print(f"overhead_ratio={min(t_aca) / min(t_bare):.3f} cells=60 acakit_s={min(t_aca):.1f} "
          f"bare_s={min(t_bare):.1f} same_success={same}")


if __name__ == "__main__":
    main()
