"""The finite-sample planting gap is Gauthier et al.'s ``max_{y≠y*} P̂(x̃, y) − P̂(x̃, y*)``
(negative where y* already leads), and the union-bound counts δ̃ = δ / n_events.

Every expected number below is computed by hand from the theorem's formula (module docstring of
:mod:`acakit.theory.finite`) with ``R(k) = sqrt(log(1/δ̃) / (2k))`` written out, not by calling
acakit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from acakit.collective import Collective
from acakit.data import make_product_ratings, train_test_split
from acakit.firms import make_firm
from acakit.metrics import evaluate
from acakit.strategies import Plant, SetColumns
from acakit.theory.estimators import collective_statistics, finite_bound_from_sample
from acakit.theory.finite import finite_sample_bound, n_events


def R(delta_tilde: float, k: int) -> float:
    """Hoeffding radius, written out (the formula of acakit.theory.bounds.hoeffding_radius)."""
    return math.sqrt(math.log(1.0 / delta_tilde) / (2.0 * k))


def test_hand_computed_bound_with_negative_gaps():
    # Feature-label planting, #X̃ = 3 signal points, #Y = 3 classes. At the first two points y*
    # already leads the collective's clean data (joint gaps -0.45 and -0.2); at the third it
    # trails by 0.03. n = 2000 members of N = 20,000, N_test = 8000, δ = 0.05, ε = 0.
    w = [0.6, 0.3, 0.1]
    gaps = [-0.45, -0.2, 0.03]
    n, N, n_test, delta = 2000, 20000, 8000, 0.05
    b = finite_sample_bound(w, w, gaps, n=n, n_train=N, n_test=n_test, delta=delta,
                            n_signal_points=3, n_classes=3)

    events = 2 + 2 * 3 + 2 * 3 * 3  # Gauthier et al., Algorithm 1: 26
    dt = delta / events
    r_n, r_rest, r_test = R(dt, 2000), R(dt, 18000), R(dt, 8000)
    alpha = 2000 / 20000
    slack = [alpha * (0.6 - 2 * r_n) - (1 - alpha) * (-0.45 + 2 * r_n + 2 * r_rest),
             alpha * (0.3 - 2 * r_n) - (1 - alpha) * (-0.20 + 2 * r_n + 2 * r_rest),
             alpha * (0.1 - 2 * r_n) - (1 - alpha) * (0.03 + 2 * r_n + 2 * r_rest)]
    assert slack[0] > 0 and slack[1] > 0 and slack[2] < 0
    expected = (0.6 + 0.3) - r_n - r_test  # covered mass minus R(n) and R(N_test)

    assert b.n_events == events and b.delta_tilde == dt
    assert abs(b.radius_n - r_n) <= 1e-15 and abs(b.radius_rest - r_rest) <= 1e-15
    assert abs(b.radius_test - r_test) <= 1e-15
    np.testing.assert_allclose(b.points["slack"], slack, rtol=0, atol=1e-12)
    assert b.points["planted"].tolist() == [True, True, False]
    assert abs(b.bound - expected) <= 1e-12
    assert round(b.bound, 4) == 0.8407

    # the old convention (max over *all* y, i.e. the gap clipped at 0) plants nothing here
    old_slack = [alpha * (m - 2 * r_n) - (1 - alpha) * (max(g, 0.0) + 2 * r_n + 2 * r_rest)
                 for m, g in zip(w, gaps, strict=True)]
    assert all(s < 0 for s in old_slack)
    old = finite_sample_bound(w, w, np.maximum(gaps, 0.0), n=n, n_train=N, n_test=n_test,
                              delta=delta, n_signal_points=3, n_classes=3)
    assert abs(old.bound - (0.0 - r_n - r_test)) <= 1e-12  # -0.0593
    assert b.bound - old.bound == pytest.approx(0.9, abs=1e-12)


def test_hand_computed_feature_only_bound_with_a_negative_gap():
    # acakit's feature-only: r = 2 and δ̃ = δ / (2 + 2#X̃(#Y−1) + 2#X̃#Y); one point, 3 classes.
    n, N, delta = 4000, 10000, 0.1
    b = finite_sample_bound([0.5], [0.4], [-0.3], n=n, n_train=N, delta=delta,
                            n_signal_points=1, n_classes=3, strategy="plant_feature_only")
    events = 2 + 2 * 1 * 2 + 2 * 1 * 3  # 12
    dt = delta / events
    r_n, r_rest = R(dt, 4000), R(dt, 6000)
    slack = 0.4 * (0.4 - 2 * 2 * r_n) - 0.6 * (-0.3 + 2 * r_n + 2 * r_rest)
    assert b.n_events == events and slack > 0
    assert abs(float(b.points["slack"].iloc[0]) - slack) <= 1e-12
    assert abs(b.bound - (0.5 - r_n)) <= 1e-12  # no test set: no R(N_test)
    clipped = 0.4 * (0.4 - 4 * r_n) - 0.6 * (0.0 + 2 * r_n + 2 * r_rest)
    assert clipped < slack


# a tiny hand-made sample: SetColumns({"a": 0}) maps (a, b) to (0, b); target y* = 1
TINY_X = pd.DataFrame({"a": [0, 0, 0, 1, 1, 0, 0], "b": [0, 0, 0, 0, 1, 1, 0]})
TINY_Y = np.array([1, 1, 0, 1, 0, 0, 2])
# g(x) = (0, 0): rows 0, 1, 2, 3, 6 (mass 5/7); originals at (0, 0): rows 0, 1, 2, 6 with labels
#   1, 1, 0, 2 -> P̂(x̃, 1) = 2/7, P̂(x̃, 0) = P̂(x̃, 2) = 1/7: gap = 1/7 − 2/7 = −1/7 (was 0)
# g(x) = (0, 1): rows 4, 5 (mass 2/7); originals at (0, 1): row 5, label 0: gap = 1/7 − 0 = 1/7
# feature-only margin: y* members mapped to (0, 0): rows 0, 1, 3 -> 3/7, minus 1/7 -> 2/7;
#   to (0, 1): none -> 0 − 1/7 = −1/7


def _by_b(stats: pd.DataFrame) -> pd.DataFrame:
    return stats.sort_values("mass", ascending=False).reset_index(drop=True)


def test_estimator_gap_is_negative_where_the_target_already_wins():
    g = SetColumns({"a": 0})
    s = _by_b(collective_statistics(TINY_X, TINY_Y, g, target=1))
    np.testing.assert_allclose(s["mass"], [5 / 7, 2 / 7], rtol=0, atol=1e-15)
    np.testing.assert_allclose(s["gap"], [-1 / 7, 1 / 7], rtol=0, atol=1e-15)
    fo = _by_b(collective_statistics(TINY_X, TINY_Y, g, target=1, strategy="plant_feature_only"))
    np.testing.assert_allclose(fo["gap"], [-1 / 7, 1 / 7], rtol=0, atol=1e-15)
    np.testing.assert_allclose(fo["margin"], [2 / 7, -1 / 7], rtol=0, atol=1e-15)
    # a tie between y* and another class is gap 0 under either convention
    tie = collective_statistics(TINY_X.iloc[[0, 2]], TINY_Y[[0, 2]], g, target=1)
    assert tie["gap"].tolist() == [0.0]
    # a target absent from the sample: the gap is the best other class's share
    none = collective_statistics(TINY_X.iloc[[2]], TINY_Y[[2]], g, target=3)
    assert none["gap"].tolist() == [1.0]


def test_bound_from_a_hand_made_sample_with_a_negative_gap():
    # the tiny sample repeated 300 times: n = 2100 members of N = 21,000, N_test = 7000
    X = pd.concat([TINY_X] * 300, ignore_index=True)
    y = np.tile(TINY_Y, 300)
    b = finite_bound_from_sample(X, y, SetColumns({"a": 0}), 1, n_train=21000, n_test=7000,
                                 delta=0.05, n_signal_points=2, n_classes=3)
    pts = _by_b(b.points)
    np.testing.assert_allclose(pts["gap"], [-1 / 7, 1 / 7], rtol=0, atol=1e-12)
    dt = 0.05 / (2 + 2 * 2 + 2 * 2 * 3)
    r_n, r_rest, r_test = R(dt, 2100), R(dt, 18900), R(dt, 7000)
    s00 = 0.1 * (5 / 7 - 2 * r_n) - 0.9 * (-1 / 7 + 2 * r_n + 2 * r_rest)
    s01 = 0.1 * (2 / 7 - 2 * r_n) - 0.9 * (1 / 7 + 2 * r_n + 2 * r_rest)
    np.testing.assert_allclose(pts["slack"], [s00, s01], rtol=0, atol=1e-12)
    assert s00 > 0 > s01
    assert abs(b.bound - (5 / 7 - r_n - r_test)) <= 1e-12  # 0.6563
    # with the gap clipped at 0 the point (0, 0) is not certified
    assert 0.1 * (5 / 7 - 2 * r_n) - 0.9 * (2 * r_n + 2 * r_rest) < 0


def test_event_counts():
    for K in (1.0, 3.0, 3.0**16):
        for Y in (2, 3, 5):
            paper = 2 + 2 * K * Y + 2 * K  # Gauthier et al.'s δ̃ (feature-label and their FO)
            assert n_events("plant", K, Y) == paper
            fo = n_events("plant_feature_only", K, Y)
            assert fo == 2 + 2 * K * (Y - 1) + 2 * K * Y
            # acakit's μ̂ needs at least #Y events per point (#Y − 1 below, one above)
            assert fo >= 2 + K * Y + 2 * K * Y
            assert (fo == paper) if Y == 2 else (fo > paper)
            assert n_events("unplant", K, Y) == 2 + 6 * K


@pytest.mark.parametrize("strategy", ["plant", "plant_feature_only", "unplant"])
def test_gap_values_checked(strategy):
    ok = finite_sample_bound([0.5], [0.5], [-1.0], n=10, n_train=100, strategy=strategy)
    assert ok.points["gap"].tolist() == [-1.0]
    for bad, match in ((np.nan, "gap"), (np.inf, "gap"), (-1.5, "gap"), (1.5, "gap")):
        with pytest.raises(ValueError, match=match):
            finite_sample_bound([0.5], [0.5], [bad], n=10, n_train=100, strategy=strategy)
    with pytest.raises(ValueError, match="margin"):
        finite_sample_bound([0.5], [np.nan], [0.0], n=10, n_train=100, strategy=strategy)
    with pytest.raises(ValueError, match="mass"):
        finite_sample_bound([np.nan], [0.5], [0.0], n=10, n_train=100, strategy=strategy)


def test_negative_gap_bound_holds_in_simulation():
    # Product ratings on (f0, f1), signal f0 = 0: 3 signal points (0, f1) of base mass 1/9 each.
    # y* is the class the base data assign to (0, 0), so at some signal points y* already leads
    # (joint gap ≈ −0.7/9) and at the others it fights. The bound with the signed gap must stay
    # below the measured success, and is where the clipped gap certifies (almost) nothing.
    g = SetColumns({"f0": 0})
    rows = []
    for seed in range(8):
        ds = make_product_ratings(n_samples=20000, n_features=2, n_values=3, n_classes=3,
                                  n_informative=2, purity=0.8, seed=seed)
        target = int(ds.meta["posterior_table"][0, 0].argmax())
        train, test = train_test_split(ds, 0.3, seed=seed)
        clean = make_firm("empirical_bayes", train).fit(train.X, train.y)
        n = 2800
        altered, members = Collective(Plant(g, target), count=n, seed=seed).apply(train)
        fb = finite_bound_from_sample(train.X[members], train.y[members], g, target,
                                      n_train=len(train), n_test=len(test), n_signal_points=3,
                                      n_classes=3)
        pts = fb.points
        old = finite_sample_bound(pts["mass"], pts["margin"], np.maximum(pts["gap"], 0.0), n=n,
                                  n_train=len(train), n_test=len(test), n_signal_points=3,
                                  n_classes=3)
        firm = make_firm("empirical_bayes", train).fit(altered.X, altered.y)
        m = evaluate(firm, clean, test.X, test.y, g, {target})
        rows.append((fb.bound, old.bound, m["success_all"], bool((pts["gap"] < 0).any())))
    new, old, success, negative = (np.array(c) for c in zip(*rows, strict=True))
    assert negative.all()
    assert (new <= success).all()
    assert (new >= old).all() and (new - old > 0.3).mean() >= 0.5
