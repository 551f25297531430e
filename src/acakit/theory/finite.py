"""Finite-sample success bounds a collective computes from its own sample (Gauthier et al. 2025).

Source: Gauthier, Bach, Jordan, "Statistical Collusion by Collectives on Learning Platforms",
ICML 2025, arXiv 2502.04879, Section 3 (signal planting and unplanting) and Appendix B
(Algorithm 1). Setting: the firm trains on ``N`` points, ``n`` of them from the collective; the
collective's members are an i.i.d. sample ``D(n)`` from P0 before they act, the other ``N − n``
points an independent i.i.d. sample; success is measured on ``N_test`` fresh test points as
``Ŝ = mean_i 1{f(g(x_i)) ∈ Y*}`` (all test points: acakit's ``success_all``). The signal set
``X̃ = {g(x)}`` is finite with ``#X̃`` points and there are ``#Y`` classes.

Per signal point x̃ the collective observes, from its own sample:

- ``mass``   ŵ(x̃) = share of its members with ``g(x) = x̃`` (where its test mass comes from);
- ``margin`` μ̂(x̃) = what its own reported points add to the count of y* over the best other
  class at x̃, divided by n (feature-label: ŵ(x̃); feature-only: the share of members with
  ``y = y*, g(x) = x̃`` minus the largest share of unchanged members at ``x = x̃`` of another
  class; unplanting: ŵ(x̃));
- ``gap``    Δ̂(x̃) = ``max_y P̂(x̃, y) − P̂(x̃, y*)``: the joint empirical gap of the *base*
  data at x̃ (unplanting: ``P̂(x̃, y⁻) − P̂(x̃, y')``, which may be negative).

Theorem (paper's Theorem for the feature-label strategy; the other two follow the same proof).
With ``R(k) = sqrt(log(1/δ̃) / (2k))``, ``α = n / N``, ``c = ε/(1−ε)`` and a range constant
``r`` (1 when μ̂ is a frequency, 2 when it is a difference of frequencies), let

    slack(x̃) = α (μ̂(x̃) − 2 r R(n)) − (1 − α) (Δ̂(x̃) + 2 R(n) + 2 R(N − n)) − c.

Then with probability at least 1 − δ, an ε-suboptimal firm's success satisfies

    Ŝ >= Σ_x̃ ŵ(x̃) 1{slack(x̃) > 0} − R(n) − R(N_test),

where ``δ̃ = δ / (number of concentration events)``; for feature-label planting that number is
``2 + 2 #X̃ + 2 #X̃ #Y`` (the paper's δ̃). Proof outline (so the bound can be audited): two
events for the test sample and for ``ŵ(B)`` on a fixed set B, two per point for μ̂, and one per
(point, class) for each of D(n) and the non-members. On their intersection, every x̃ with
positive slack lies in the deterministic set ``B = {α (μ − r R(n)) − (1−α)(Δ + 2R(N−n)) > c}``,
every point of B is predicted y* by the firm, and ``P0(g ∈ B) >= ŵ(B) − R(n)``.

Without a test set (``n_test=None``) the bound is on the population success
``Pr_{x~P0}[f(g(x)) ∈ Y*]`` and the ``R(N_test)`` term is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from acakit.theory.bounds import check_inputs, hoeffding_radius, suboptimality_mass

FiniteStrategy = Literal["plant", "plant_feature_only", "unplant"]
FINITE_STRATEGIES: tuple[str, ...] = ("plant", "plant_feature_only", "unplant")


def n_events(strategy: str, n_signal_points: float, n_classes: int) -> float:
    """Number of concentration events in the union bound (δ̃ = δ / this).

    Parameters
    ----------
    strategy : {"plant", "plant_feature_only", "unplant"}
    n_signal_points : float
        ``#X̃`` (a float: it may be astronomically large, e.g. ``3**16``).
    n_classes : int
        ``#Y``.

    Returns
    -------
    float
        ``2 + 2#X̃ + 2#X̃#Y`` (feature-label, Gauthier et al. Algorithm 1),
        ``2 + 2#X̃(#Y−1) + 2#X̃#Y`` (feature-only: the margin is checked against each other
        class), ``2 + 6#X̃`` (unplanting: two classes per point in each sample).

    Examples
    --------
    >>> n_events("plant", 3, 3)
    26.0
    """
    K, Y = float(n_signal_points), float(n_classes)
    if strategy == "plant":
        return 2 + 2 * K + 2 * K * Y
    if strategy == "plant_feature_only":
        return 2 + 2 * K * (Y - 1) + 2 * K * Y
    if strategy == "unplant":
        return 2 + 6 * K
    raise ValueError(f"strategy: {strategy!r} is not one of {', '.join(FINITE_STRATEGIES)}")


@dataclass(frozen=True)
class FiniteSampleBound:
    """A finite-sample bound and every intermediate quantity behind it.

    Attributes
    ----------
    bound : float
        Lower bound on the success, holding with probability >= 1 − delta.
    strategy : str
    n, n_train, n_test : int
        Collective size, training-set size N, test-set size (``None``: population success).
    alpha : float
        n / N.
    delta : float
        Failure probability δ.
    n_events : float
        Events in the union bound.
    delta_tilde : float
        δ̃ = δ / n_events.
    radius_n, radius_rest, radius_test : float
        R(δ̃, n), R(δ̃, N − n), R(δ̃, N_test) (0 without a test set).
    epsilon : float
    covered_mass : float
        Σ ŵ over points with positive slack (the bound before the two R terms).
    points : pandas.DataFrame
        One row per observed signal point: ``mass``, ``margin``, ``gap``, ``slack``,
        ``planted`` (slack > 0), plus any ``key`` columns the estimator added.
    """

    bound: float
    strategy: str
    n: int
    n_train: int
    n_test: int | None
    alpha: float
    delta: float
    n_events: float
    delta_tilde: float
    radius_n: float
    radius_rest: float
    radius_test: float
    epsilon: float
    covered_mass: float
    points: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Every scalar (not the per-point table) as a JSON-ready dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "points"}
        out["n_points"] = len(self.points)
        out["n_planted_points"] = int(self.points["planted"].sum()) if len(self.points) else 0
        return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def finite_sample_bound(
    mass: ArrayLike,
    margin: ArrayLike,
    gap: ArrayLike,
    n: int,
    n_train: int,
    n_test: int | None = None,
    delta: float = 0.05,
    epsilon: float = 0.0,
    n_signal_points: float | None = None,
    n_classes: int = 2,
    strategy: FiniteStrategy = "plant",
    points: pd.DataFrame | None = None,
) -> FiniteSampleBound:
    """Finite-sample lower bound on success from per-signal-point statistics (see module doc).

    Parameters
    ----------
    mass : array-like of shape (P,)
        ŵ(x̃) for each observed signal point (sums to 1 over all points of the sample).
    margin : array-like of shape (P,)
        μ̂(x̃) (feature-label and unplanting: equal to ``mass``).
    gap : array-like of shape (P,)
        Δ̂(x̃), joint empirical base gap at x̃ (>= 0, or any sign for unplanting).
    n : int
        Collective size (members), >= 1.
    n_train : int
        Training-set size N > n.
    n_test : int or None
        Test-set size; ``None`` bounds the population success.
    delta : float, default=0.05
        Failure probability δ in (0, 1).
    epsilon : float, default=0
        Suboptimality ε of the firm on its (empirical) training distribution.
    n_signal_points : float, optional
        ``#X̃``, the size of the *whole* signal set fixed before sampling (not just the observed
        points); defaults to the number of observed points, which is only right when every
        signal point is observed.
    n_classes : int, default=2
        ``#Y``.
    strategy : {"plant", "plant_feature_only", "unplant"}
    points : DataFrame, optional
        Extra per-point columns (e.g. keys) to keep in the result.

    Returns
    -------
    FiniteSampleBound

    Examples
    --------
    >>> b = finite_sample_bound([1.0], [1.0], [0.0], n=2000, n_train=14000, n_test=6000,
    ...                         n_signal_points=1, n_classes=3)
    >>> round(b.bound, 3), round(b.delta_tilde, 4)
    (0.943, 0.005)
    """
    w = np.asarray(mass, dtype=np.float64)
    mu = np.asarray(margin, dtype=np.float64)
    gp = np.asarray(gap, dtype=np.float64)
    if not (w.shape == mu.shape == gp.shape) or w.ndim != 1:
        raise ValueError("mass, margin and gap must be 1-d arrays of the same length")
    if strategy not in FINITE_STRATEGIES:
        raise ValueError(f"strategy: {strategy!r} is not one of {', '.join(FINITE_STRATEGIES)}")
    if not 1 <= n < n_train:
        raise ValueError(f"n: the collective size {n} must be in [1, N) with N = {n_train}")
    if n_test is not None and n_test < 1:
        raise ValueError(f"n_test: {n_test} must be >= 1")
    if not 0 < delta < 1:
        raise ValueError(f"delta (δ): {delta} is not in (0, 1)")
    if n_classes < 2:
        raise ValueError(f"n_classes: {n_classes} must be >= 2")
    check_inputs(epsilon=epsilon)
    if ((w < 0) | (w > 1)).any() or w.sum() > 1 + 1e-9:
        raise ValueError("mass: per-point masses must be in [0, 1] and sum to at most 1")
    if strategy != "unplant" and (gp < -1e-12).any():
        raise ValueError("gap (Δ): per-point gaps max_y P(x, y) − P(x, y*) must be >= 0")
    K = float(len(w) if n_signal_points is None else n_signal_points)
    if K < len(w):
        raise ValueError(f"n_signal_points: {K:g} is fewer than the {len(w)} observed signal points")
    n_ev = n_events(strategy, max(K, 1.0), n_classes)
    dt = delta / n_ev
    r_n = float(hoeffding_radius(dt, n))
    r_rest = float(hoeffding_radius(dt, n_train - n))
    r_test = 0.0 if n_test is None else float(hoeffding_radius(dt, n_test))
    alpha = n / n_train
    r = 2.0 if strategy == "plant_feature_only" else 1.0
    c = float(suboptimality_mass(epsilon))
    slack = alpha * (mu - 2 * r * r_n) - (1 - alpha) * (gp + 2 * r_n + 2 * r_rest) - c
    planted = slack > 0
    covered = float(w[planted].sum())
    table = pd.DataFrame({"mass": w, "margin": mu, "gap": gp, "slack": slack, "planted": planted})
    if points is not None:
        table = pd.concat([points.reset_index(drop=True), table], axis=1)
    return FiniteSampleBound(
        bound=covered - r_n - r_test,
        strategy=strategy,
        n=int(n),
        n_train=int(n_train),
        n_test=None if n_test is None else int(n_test),
        alpha=alpha,
        delta=float(delta),
        n_events=n_ev,
        delta_tilde=dt,
        radius_n=r_n,
        radius_rest=r_rest,
        radius_test=r_test,
        epsilon=float(epsilon),
        covered_mass=covered,
        points=table,
    )


def plugin_finite_bound(
    n: ArrayLike,
    n_train: int,
    gap: float,
    signal_mass: float,
    n_test: int | None = None,
    delta: float = 0.05,
    epsilon: float = 0.0,
    n_signal_points: int = 1,
    n_classes: int = 2,
) -> np.ndarray:
    """Planning version of the finite-sample bound, from numbers only, vectorised over n.

    What :func:`finite_sample_bound` returns if the collective's sample reproduces the stated
    quantities exactly: ``n_signal_points`` equally likely signal points (mass ``1/#X̃`` each)
    whose joint base gaps add up to ``Δ ξ`` (``Δξ/#X̃`` each). It is a forecast of the
    guarantee the collective will be able to certify, not itself a guarantee.

    Returns
    -------
    numpy.ndarray
        One value per n (``-inf`` where n is not in [1, N)).

    Examples
    --------
    >>> plugin_finite_bound([10, 3000], 14000, 0.3, 0.001, n_classes=3).round(3).tolist()
    [-0.515, 0.97]
    """
    check_inputs(gap=gap, signal_mass=signal_mass, epsilon=epsilon)
    nn = np.atleast_1d(np.asarray(n, dtype=np.float64))
    K = int(n_signal_points)
    if K < 1:
        raise ValueError(f"n_signal_points: {K} must be >= 1")
    dt = delta / n_events("plant", K, n_classes)
    out = np.full(nn.shape, -np.inf)
    ok = (nn >= 1) & (nn < n_train)
    r_n = hoeffding_radius(dt, nn[ok])
    r_rest = hoeffding_radius(dt, n_train - nn[ok])
    r_test = 0.0 if n_test is None else float(hoeffding_radius(dt, n_test))
    a = nn[ok] / n_train
    slack = a * (1.0 / K - 2 * r_n) - (1 - a) * (gap * signal_mass / K + 2 * r_n + 2 * r_rest)
    slack -= float(suboptimality_mass(epsilon))
    out[ok] = np.where(slack > 0, 1.0, 0.0) - r_n - r_test
    return out
