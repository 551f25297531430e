"""Multi-collective bounds: M = 1 reductions (exact), tier ordering, validity over 20 seeds on
product ratings + empirical Bayes, and the conflicting-targets trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from acakit.collective import Collective
from acakit.data import make_product_ratings, train_test_split
from acakit.firms import EmpiricalBayesClassifier
from acakit.metrics import evaluate
from acakit.multi.bounds import (
    PointInputs,
    adversarial_loss,
    aggregate_bound,
    finite_tier_bounds,
    full_knowledge_bound,
    multi_planting_bound,
    tier_bounds,
    worst_case_bound,
)
from acakit.multi.estimate import finite_bounds_for, population_inputs, simulation_bounds
from acakit.multi.simulate import MemberCollective, simulate
from acakit.strategies import Plant, SetColumns
from acakit.theory import planting_bound, success_bound
from acakit.theory.estimators import finite_bound_from_sample, signal_set_size

DELTA = 0.05


# --------------------------------------------------------------------------- M = 1 reductions


@pytest.mark.parametrize("eps", [0.0, 0.01])
def test_number_tiers_equal_planting_bound_for_one_collective(eps):
    a = np.linspace(0.0, 1.0, 101)
    single = planting_bound(a, 0.3, 0.02, eps)
    assert np.array_equal(multi_planting_bound(a, 0.0, 0.3, 0.02, 0.0, eps), single)
    assert np.array_equal(full_knowledge_bound(a, 0.0, 0.3, 0.02, 0.0, eps), single)
    assert np.array_equal(aggregate_bound(a, 0.0, 0.3, 0.02, eps), single)
    assert np.array_equal(worst_case_bound(a, 0.0, 0.3, 0.02, eps), single)


def _one(ds, target, alpha=0.1, g=None):
    g = g or SetColumns({"f0": 0, "f1": 0, "f2": 0})
    return [MemberCollective(Collective(Plant(g, target), alpha=alpha), "only")]


@pytest.mark.parametrize("eps", [0.0, 0.001])
def test_point_tiers_reduce_to_single_collective(eps):
    ds = make_product_ratings(n_samples=20000, n_features=4, seed=3)
    p = population_inputs(ds.X, ds.y, _one(ds, 1), [0.1], 0)
    b = tier_bounds(p, eps)
    single_sum = float(success_bound(0.1, p.gap.sum(), eps))
    assert b["full_sum"] == b["aggregate_sum"] == b["worst_sum"] == single_sum
    covered = float(p.mass[0.1 * p.mass - 0.9 * p.gap > eps / (1 - eps)].sum())
    assert b["full_covered"] == b["aggregate_covered"] == b["worst_covered"] == covered
    assert b["full"] == b["aggregate"] == b["worst"] == max(single_sum, covered)


def test_simulation_and_finite_bound_reduce_to_single_collective():
    ds = make_product_ratings(n_samples=20000, n_features=4, seed=1)
    train, test = train_test_split(ds, 0.3, seed=1)
    g = SetColumns({"f0": 0, "f1": 0, "f2": 0})
    cs = _one(ds, 2, alpha=0.3, g=g)
    r = simulate(train, test, cs, EmpiricalBayesClassifier(), seed=5)
    # the single-collective pipeline with the same seed
    altered, members = Collective(Plant(g, 2), alpha=0.3, seed=5).apply(train)
    firm = EmpiricalBayesClassifier().fit(altered.X, altered.y)
    m = evaluate(firm, firm, test.X, test.y, g, {2})
    assert np.array_equal(members, r.owner == 0)
    for k in ("success", "success_all", "success_lo", "success_all_hi"):
        assert r.per_collective[k].iloc[0] == m[k]
    assert r.overall["accuracy"] == m["accuracy"]
    fb = finite_bounds_for(r, train, cs, 0, n_test=len(test), delta=DELTA)
    single = finite_bound_from_sample(train.X[members], train.y[members], g, 2, n_train=len(train),
                                      n_test=len(test), delta=DELTA,
                                      n_signal_points=signal_set_size(train, g), n_classes=3)
    assert fb.full == fb.aggregate == fb.worst == single.bound
    assert single.bound > 0.5  # a non-trivial case


def test_finite_tiers_with_no_others_equal_gauthier_bound_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(50):
        P = int(rng.integers(1, 8))
        w = rng.dirichlet(np.ones(P))
        gap = rng.uniform(0, 0.05, P)
        b = finite_tier_bounds(w, w, gap, n=int(rng.integers(500, 6000)), n_train=14000,
                               n_test=6000, n_signal_points=P, n_classes=3,
                               epsilon=float(rng.choice([0.0, 0.001])))
        assert b.full == b.aggregate == b.worst == b.single.bound


# --------------------------------------------------------------------------- ordering


def test_adversarial_loss_is_an_upper_bound_on_integral_allocations():
    rng = np.random.default_rng(1)
    for _ in range(200):
        s, w = rng.uniform(0.01, 0.2, 5), rng.dirichlet(np.ones(5))
        budget = float(rng.uniform(0, 0.5))
        # brute force over subsets the adversary can afford
        best = max(w[list(S)].sum() for k in range(6) for S in __import__("itertools").combinations(
            range(5), k) if s[list(S)].sum() <= budget) if budget > 0 else 0.0
        assert adversarial_loss(s, w, budget) >= best - 1e-12


def test_tiers_are_ordered_on_random_consistent_inputs():
    rng = np.random.default_rng(2)
    for _ in range(300):
        P = int(rng.integers(1, 10))
        a = float(rng.uniform(0.01, 0.4))
        B = float(rng.uniform(0, 1 - a))
        w = rng.dirichlet(np.ones(P))
        D = rng.uniform(0, 0.02, P)
        C = rng.dirichlet(np.ones(P)) * rng.uniform(0, B)
        Al = rng.uniform(0, 0.01, P)
        K = float(min(B, C.sum() + rng.uniform(0, B)))
        p = PointInputs(a, B, K, w, D, C, Al)
        b = tier_bounds(p, float(rng.choice([0.0, 0.001])))
        assert b["worst"] <= b["aggregate"] + 1e-12 <= b["full"] + 2e-12


# --------------------------------------------------------------------------- validity (20 seeds)


def _validity_runs() -> pd.DataFrame:
    rows = []
    for seed in range(20):
        kw = dict(n_features=4, n_values=3, n_classes=3, n_informative=2, purity=0.8, seed=seed)
        ds = make_product_ratings(n_samples=60000, **kw)
        ref = make_product_ratings(n_samples=200000, **kw)  # same P0 (same seed: same table)
        assigned = int(ds.meta["posterior_table"][0, 0].argmax())
        t1, t2 = (assigned + 1) % 3, (assigned + 2) % 3  # both fight the base data
        train, test = train_test_split(ds, 0.3, seed=seed)
        cs = [MemberCollective(Collective(Plant(SetColumns({"f0": 0, "f1": 0, "f2": 0}), t1),
                                          alpha=0.3), "big"),
              MemberCollective(Collective(Plant(SetColumns({"f0": 0, "f1": 0, "f3": 0}), t2),
                                          alpha=0.12), "rival"),
              MemberCollective(Collective(Plant(SetColumns({"f0": 0, "f2": 0, "f3": 0}), t1),
                                          alpha=0.08), "ally")]
        r = simulate(train, test, cs, EmpiricalBayesClassifier(), seed=seed)
        b = simulation_bounds(r, train, test, cs, reference=ref, delta=DELTA)
        rows.append(r.per_collective.merge(b, on="name").assign(seed=seed))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def runs():
    return _validity_runs()


def test_validity_each_tier_holds_in_1_minus_delta_of_seeds(runs):
    assert runs["seed"].nunique() >= 20
    for tier in ("worst", "aggregate", "full"):
        # finite-sample tiers bound the measured test success with probability >= 1 − δ
        held = (runs[f"finite_{tier}"] <= runs["success_all"]).groupby(runs["name"]).mean()
        assert (held >= 1 - DELTA).all(), (tier, held)
        # infinite-data tiers bound the population success, covered by its 95% Wilson interval
        held = (runs[f"bound_{tier}"] <= runs["success_all_hi"]).groupby(runs["name"]).mean()
        assert (held >= 1 - DELTA).all(), (tier, held)


def test_validity_tiers_ordered_and_informative(runs):
    for kind in ("bound", "finite"):
        assert (runs[f"{kind}_worst"] <= runs[f"{kind}_aggregate"] + 1e-12).all()
        assert (runs[f"{kind}_aggregate"] <= runs[f"{kind}_full"] + 1e-12).all()
    big = runs[runs["name"] == "big"]
    assert (big["finite_full"] > 0.9).all() and (big["finite_aggregate"] > 0.6).all()
    assert (big["finite_worst"] < big["finite_aggregate"]).all()  # knowledge pays
    rival = runs[runs["name"] == "rival"]  # loses the shared point (0,0,0,0) to the larger one
    assert rival["success_all"].between(0.62, 0.71).all()
    assert (rival["bound_full"] > 0.6).all() and (rival["bound_aggregate"] <= 0).all()
    ally = runs[runs["name"] == "ally"]  # aligned mass only the full tier sees
    assert (ally["finite_full"] > ally["finite_aggregate"]).all()


# --------------------------------------------------------------------------- trend


def conflicting_trend(seeds=range(3), alphas2=(0.0, 0.02, 0.04, 0.06, 0.08, 0.1)) -> pd.DataFrame:
    """Collective 1 (α = 0.05) vs a growing collective 2, same signal, conflicting targets."""
    rows = []
    g = SetColumns({"f0": 0, "f1": 0, "f2": 0})
    for seed in seeds:
        ds = make_product_ratings(n_samples=20000, n_features=4, seed=seed)
        train, test = train_test_split(ds, 0.3, seed=seed)
        for a2 in alphas2:
            cs = [MemberCollective(Collective(Plant(g, 1), alpha=0.05), "small"),
                  MemberCollective(Collective(Plant(g, 2), alpha=a2), "large")]
            r = simulate(train, test, cs, EmpiricalBayesClassifier(), seed=seed)
            b = simulation_bounds(r, train, test, cs, finite=False)
            rows.append({"seed": seed, "alpha2": a2, "success": r.per_collective["success_all"][0],
                         "full": b["bound_full"][0], "worst": b["bound_worst"][0]})
    return pd.DataFrame(rows)


def test_smaller_collective_drops_as_conflicting_one_grows_and_full_bound_tracks():
    df = conflicting_trend().groupby("alpha2").mean()
    s, full = df["success"].to_numpy(), df["full"].to_numpy()
    assert s[0] > 0.95 and s[-1] < 0.05  # from winning to losing
    assert (np.diff(s) <= 0.02).all()  # non-increasing (up to noise)
    assert (np.diff(full) <= 1e-12).all()
    assert spearmanr(df.index, s).statistic < -0.8
    assert spearmanr(s, full).statistic > 0.8  # the bound tracks the measured success
    assert (full <= s + 0.02).all() and np.abs(full - s).mean() < 0.2


def test_tiers_with_less_knowledge_never_certify_more_with_a_negative_gap():
    """With Gauthier et al.'s signed gap, more base rows help y*: the aggregate and worst tiers
    must take the smallest slack over the base-row counts they cannot rule out (this case gave
    aggregate 0.743 against full -0.257 when they assumed the most base rows)."""
    from acakit.multi.bounds import finite_tier_bounds

    kw = dict(n=40, n_train=20000, n_signal_points=3, n_classes=3)
    mass, margin, gap = [0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [-0.55, -0.2, 0.05]
    worst = finite_tier_bounds(mass, margin, gap, others_count=9000,
                               others_count_range=(0, 18000), **kw).worst
    for others in range(0, 18001, 1000):
        b = finite_tier_bounds(mass, margin, gap, others_count=others, **kw)
        assert b.aggregate <= b.full + 1e-12
        assert worst <= b.full + 1e-12, others
    b = finite_tier_bounds([1.0], [1.0], [-0.55], others_count=18000,
                           others_count_range=(0, 18000), n=40, n_train=20000,
                           n_signal_points=1, n_classes=3)
    assert b.aggregate <= b.full and b.worst <= b.full
