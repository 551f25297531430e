"""acakit's serial runner vs a bare loop doing the same fits and predictions, for each kind.

``--kind collective``: 60 cells: Adult, logistic regression and gradient boosting, 6 α values, 5
seeds. The bare loop splits, draws members, alters their rows, fits, and predicts on clean and
signal test data with scikit-learn/numpy directly (the estimators are built by ``make_firm`` so
both fit the identical pipeline). acakit runs through ``run_config`` with a fresh result store
and a cold cache, so its time includes validation, the store, the cache writes and the progress
logic. Both are run alternately ``--repeats`` times; the ratio of the best times is printed (the
machine is shared, best-of-n is the least noisy estimate).

``--kind multi``: 36 cells (two conflicting collectives on 20,000 product ratings, logistic
regression, 6 sizes x 6 seeds); the bare loop splits, fits the clean firm once per seed and
calls ``acakit.multi.simulate`` and the alignment measures directly (no engine: no validation,
store, cache, runner). ``--kind fairness``: 69 cells (COMPAS, 3 relabeling methods x 6 budgets
plus thresholds, 2 baselines, 3 seeds); the bare loop calls ``plan_relabeling``, ``make_firm``,
``fairness_metrics`` and ``FirmBaseline`` directly. ``--kind all`` runs the three.

One line per kind: ``kind=... overhead_ratio=... values=... acakit_s=... bare_s=... same=...``
(``values``: success or gap values compared, one per collective and cell).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _common import ADULT_SIGNAL, adult_config, fairness_config, fresh_cache, multi_config
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
    from acakit.analyses.single import run_config

    fresh_cache()
    with tempfile.TemporaryDirectory() as d:
        res = run_config(adult_config(ALPHAS, SEEDS, FIRMS), out_dir=d, progress=False,
                         store=f"{d}/results.sqlite")
    return res.results["success"].tolist()


MULTI_SEEDS = [0, 1, 2, 3, 4, 5]
FAIR_SEEDS = [0, 1, 2]


def bare_multi() -> list[float]:
    from acakit.data import load, train_test_split
    from acakit.engine.multi import build_members, expand, parse_config
    from acakit.firms import make_firm
    from acakit.multi.measures import alignment_measures, signal_overlap
    from acakit.multi.simulate import simulate

    cfg = parse_config(multi_config(MULTI_SEEDS))
    ds = load("product_ratings", **cfg.dataset.params)
    out = []
    for seed in MULTI_SEEDS:
        train, test = train_test_split(ds, cfg.dataset.test_size, seed=seed)
        clean = make_firm("logistic_regression", ds).fit(train.X, train.y)
        clean.predict(test.X)
        for cell in (c for c in expand(cfg) if c.seed == seed):
            members = build_members(cell, train)
            r = simulate(train, test, members, make_firm("logistic_regression", ds), cell.overlap,
                         seed, clean_firm=clean)
            per = r.per_collective
            ov = signal_overlap(test.X, [m.strategy.feature_map for m in members])
            alignment_measures(per["alpha"], [m.target_set for m in members],
                               [m.planted_label for m in members], ov, per["name"])
            out += per["success_all"].tolist()
    return out


def bare_fairness() -> list[float]:
    from acakit.data import load, train_test_split
    from acakit.fairness.baselines import FirmBaseline
    from acakit.fairness.groups import GroupSpec
    from acakit.fairness.metrics import fairness_metrics
    from acakit.fairness.relabel import plan_relabeling
    from acakit.firms import make_firm

    cfg = fairness_config(FAIR_SEEDS)
    g = cfg["groups"]
    groups = GroupSpec(g["minority"], g["majority"], g["favorable"])
    ds = groups.prepare(load("compas"))
    r = cfg["relabel"]
    out = []
    for seed in FAIR_SEEDS:
        train, test = train_test_split(ds, 0.3, seed=seed)
        fav = groups.favorable_code(train)
        y_test = (np.asarray(test.y) == fav).astype(np.int64)
        a_test = groups.indicator(test)

        def fit_eval(y: np.ndarray, train=train, test=test, fav=fav, y_test=y_test,
                     a_test=a_test) -> float:
            firm = make_firm("logistic_regression", train).fit(train.X, (y == fav).astype(np.int64))
            return fairness_metrics(y_test, firm.predict(test.X), a_test)["eo_gap"]

        clean = fit_eval(np.asarray(train.y))
        out.append(clean)
        for method in r["methods"]:
            plan = plan_relabeling(train, groups, r["alpha"], method, seed=seed)
            settings = [{"budget": b} for b in r["budgets"]]
            settings += [{"threshold": t} for t in r["thresholds"]] if method != "random" else []
            for s in settings:
                flipped = plan.flipped(**s)
                if len(flipped) == 0:
                    out.append(clean)
                    continue
                y = plan.y.copy()
                y[flipped] = plan.favorable
                out.append(fit_eval(y))
        for name in cfg["baselines"]:
            b = FirmBaseline(name, groups, "logistic_regression", {}, eps=0.01, seed=seed).fit(train)
            out.append(fairness_metrics(y_test, b.predict(test), a_test)["eo_gap"])
    return out


def acakit_kind(kind: str) -> list[float]:
    from acakit.analyses import run_experiment

    fresh_cache()
    cfg = multi_config(MULTI_SEEDS) if kind == "multi" else fairness_config(FAIR_SEEDS)
    with tempfile.TemporaryDirectory() as d:
        res = run_experiment(cfg, out_dir=d, progress=False, store=f"{d}/results.sqlite")
    return res.results["success_all" if kind == "multi" else "eo_gap"].tolist()


RUNS = {
    "collective": (bare_loop, acakit_run),
    "multi": (bare_multi, lambda: acakit_kind("multi")),
    "fairness": (bare_fairness, lambda: acakit_kind("fairness")),
}


def measure(kind: str, repeats: int) -> None:
    bare_fn, aca_fn = RUNS[kind]
    t_bare, t_aca = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare = bare_fn()
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        aca = aca_fn()
        t_aca.append(time.perf_counter() - t0)
        print(f"{kind}: bare {t_bare[-1]:.1f}s  acakit {t_aca[-1]:.1f}s", flush=True)
    same = len(bare) == len(aca) and np.allclose(sorted(bare), sorted(aca))
    print(f"kind={kind} overhead_ratio={min(t_aca) / min(t_bare):.3f} values={len(aca)} "
          f"acakit_s={min(t_aca):.1f} bare_s={min(t_bare):.1f} same={same}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--kind", choices=[*RUNS, "all"], default="all")
    args = ap.parse_args()
    import acakit.engine.fairness  # noqa: F401
    import acakit.engine.multi  # noqa: F401
    import acakit.engine.single  # noqa: F401  (imports are not what we measure)
    from acakit.data import load

    load("adult")
    load("compas")
    for kind in RUNS if args.kind == "all" else [args.kind]:
        measure(kind, args.repeats)


if __name__ == "__main__":
    main()
