"""Finite-sample success bounds a collective computes from its own sample (Gauthier et al. 2025).

Source: Gauthier, Bach, Jordan, "Statistical Collusion by Collectives on Learning Platforms",
ICML 2025, arXiv 2502.04879, Section 3 (signal planting and unplanting) and Appendix B
(Algorithm 1; the authors' code, github.com/GauthierE/statistical-collusion, ``src/utils.py``).
Setting: the firm trains on ``N`` points, ``n`` of them from the collective; the collective's
members are an i.i.d. sample ``D(n)`` from P0 before they act, the other ``N − n`` points an
independent i.i.d. sample ``D(N − n)``; success is measured on ``N_test`` fresh test points as
``Ŝ = mean_i 1{f(g(x_i)) ∈ Y*}`` (all test points: acakit's ``success_all``). The signal set
``X̃ = {g(x)}`` is finite with ``#X̃`` points and there are ``#Y`` classes.

Per signal point x̃ the collective observes, from its own sample (``P̂_S(x̃, y)``: share of the
rows of S with ``x = x̃`` and label y):

- ``mass``   ŵ(x̃) = share of its members with ``g(x) = x̃`` (where its test mass comes from);
- ``margin`` μ̂(x̃) = what its own reported points add to the count of y* over the best other
  class at x̃, divided by n (feature-label: ŵ(x̃); feature-only: the share of members with
  ``y = y*, g(x) = x̃`` minus the largest share of unchanged members at ``x = x̃`` of another
  class; unplanting: ŵ(x̃));
- ``gap``    Δ̂(x̃) = ``max_{y ≠ y*} P̂_n(x̃, y) − P̂_n(x̃, y*)``: the joint empirical gap of the
  *base* data at x̃, Gauthier et al.'s convention. It is **negative** where y* already leads
  the members' clean data at x̃ (it lies in [−1, 1]); unplanting: ``P̂_n(x̃, y⁻) − P̂_n(x̃, y')``,
  also of either sign.

Theorem (the paper's theorem for the feature-label strategy; feature-only and unplanting are
acakit's adaptations of its proof, see ``docs/theory.md``). With ``R(k) = sqrt(log(1/δ̃)/(2k))``
(:func:`~acakit.theory.bounds.hoeffding_radius`), ``α = n / N``, ``c = ε/(1−ε)`` and a range
constant ``r`` (1 when μ̂ is a frequency, 2 when it is a difference of frequencies), let

    slack(x̃) = α (μ̂(x̃) − 2 r R(n)) − (1 − α) (Δ̂(x̃) + 2 R(n) + 2 R(N − n)) − c.

Then with probability at least 1 − δ, an ε-suboptimal firm's success satisfies

    Ŝ >= Σ_x̃ ŵ(x̃) 1{slack(x̃) > 0} − R(n) − R(N_test),

where ``δ̃ = δ / n_events`` (:func:`n_events`; feature-label: ``2 + 2 #X̃ + 2 #X̃ #Y``, the
paper's δ̃).

Proof (so that the bound can be audited; nothing in it uses the sign of a gap). Write
``G(P)(x̃) = max_{y ≠ y*} P(x̃, y) − P(x̃, y*)``, so ``Δ̂ = G(P̂_n)``, ``Δ = G(P0)`` and
``Δ_rest = G(P̂_{N−n})``. G is 1-Lipschitz in each class: if ``P(x̃, y) <= Q(x̃, y) + a`` for
all ``y ≠ y*`` and ``Q(x̃, y*) <= P(x̃, y*) + b`` then ``G(P) <= G(Q) + a + b``, whatever the signs.

1. *The firm's margin.* At x̃ the training count of y* minus that of a class ``y ≠ y*``, over N,
   is ``α μ̂_y(x̃) + (1 − α)(P̂_{N−n}(x̃, y*) − P̂_{N−n}(x̃, y))``, where ``μ̂_y`` is what the
   members add (feature-label: ŵ(x̃) for every y, since every member reports y*). Its minimum
   over ``y ≠ y*`` is at least ``α μ̂(x̃) − (1 − α) Δ_rest(x̃)`` (for feature-label, equal to it),
   and an ε-suboptimal firm predicts y* at x̃ when that exceeds c. Because the max in G runs
   over ``y ≠ y*``, this is exactly the condition that y* beats every other class; where y*
   already leads the base data, ``Δ_rest < 0`` and the base data help. A gap clipped at 0
   (``max`` over *all* y) gives a valid but looser condition that throws that help away.
2. *A deterministic set.* Let μ be the population value of μ̂ (feature-label:
   ``P0(g(X) = x̃)``) and ``B = {x̃ : α (μ − r R(n)) − (1 − α)(Δ + 2 R(N − n)) > c}``, fixed
   before sampling. (i) If ``μ̂ <= μ + r R(n)`` and ``Δ <= Δ̂ + 2 R(n)``, every x̃ with
   positive slack is in B. (ii) If ``μ̂ >= μ − r R(n)`` and ``Δ_rest <= Δ + 2 R(N − n)``, the
   margin of step 1 exceeds c on B, so the firm predicts y* on all of B.
3. *Mass.* ``Ŝ >= (test share of g(x) ∈ B) >= P0(g(X) ∈ B) − R(N_test)
   >= ŵ(B) − R(n) − R(N_test) >= Σ_{slack > 0} ŵ − R(n) − R(N_test)``.

Each inequality used is a one-sided Hoeffding event of probability at most δ̃ (a mean of k
variables in [0, 1] deviates by ``R(k)``; one of variables in [−1, 1] by ``2 R(k)``, hence r = 2
for differences): two for step 3; for μ̂ one or more per point and direction (step 2 (i) and
(ii)); for ``Δ <= Δ̂ + 2R(n)`` one per (point, class) of D(n) (the other classes from below, y*
from above) and for ``Δ_rest <= Δ + 2R(N − n)`` one per (point, class) of D(N − n).
:func:`n_events` counts them per strategy.

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

    Every event is a one-sided Hoeffding inequality of probability at most δ̃ (see the proof in
    the module docstring). Two are common to all strategies: the test share of ``g(x) ∈ B`` and
    ``ŵ(B)`` for the fixed set B. The base gap needs one per (point, class) in each of the
    members' clean sample D(n) (``Δ <= Δ̂ + 2R(n)``) and the non-members D(N − n)
    (``Δ_rest <= Δ + 2R(N − n)``): ``2 #X̃ #Y``. The margin μ̂ needs, per point, one event for
    each direction of each frequency or difference it is made of:

    - ``"plant"`` (feature-label; Gauthier et al., Algorithm 1): μ̂ = ŵ(x̃) is one frequency,
      two events per point: ``2 + 2#X̃ + 2#X̃#Y``.
    - ``"plant_feature_only"`` (acakit's count): acakit's strategy leaves members of classes
      other than y* unchanged, so they may sit at x̃ with their own label and μ̂ =
      ``min_{y ≠ y*} μ̂_y``, ``μ̂_y`` = (share of members with ``y = y*, g(x) = x̃``) − (share
      with ``x = x̃`` and label y), a mean of variables in {−1, 0, 1} (range 2, hence r = 2).
      acakit takes both directions for each of the ``#Y − 1`` classes:
      ``2 + 2#X̃(#Y−1) + 2#X̃#Y``. The paper's feature-only count ``2 + 2#X̃#Y + 2#X̃`` is that
      of its own strategy, in which members of the other classes move to a fixed point outside
      X̃, so its μ̂ is a single frequency (r = 1, two events per point). It is tighter than
      acakit's for ``#Y >= 3`` but does not cover acakit's μ̂, which needs at least ``#Y``
      events per point (``#Y − 1`` differences from below, step 2 (ii), and at least one from
      above, step 2 (i)); for ``#Y = 2`` the two counts are equal (``2 + 6#X̃``). (Step 2 (i)
      only needs the class attaining ``min_y μ_y``, which would give ``2 + 3#X̃#Y``; acakit
      keeps the larger count, which is valid, only looser.)
    - ``"unplant"`` (acakit's adaptation; the paper's count for its unplanting bound): two
      events per point for ŵ and two classes (y⁻, y') per point in each sample:
      ``2 + 6#X̃``.

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
        The number of events for ``strategy``, as above.

    Examples
    --------
    >>> n_events("plant", 3, 3)
    26.0
    >>> n_events("plant_feature_only", 3, 3), n_events("plant_feature_only", 3, 2)
    (32.0, 20.0)
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
        One row per observed signal point: ``mass``, ``margin``, ``gap`` (signed, see the
        module docstring), ``slack``, ``planted`` (slack > 0), plus any ``key`` columns the
        estimator added.
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


def _check_finite_inputs(w: np.ndarray, mu: np.ndarray, gp: np.ndarray, strategy: str, n: int,
                         n_train: int, n_test: int | None, delta: float, n_classes: int,
                         epsilon: float) -> None:
    """Refuse inputs of :func:`finite_sample_bound` outside their domain (one line each)."""
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
    for name, v in (("mass", w), ("margin", mu), ("gap (Δ)", gp)):
        if not np.isfinite(v).all():
            raise ValueError(f"{name}: per-point values must be finite numbers")
    if (np.abs(mu) > 1 + 1e-12).any():
        raise ValueError("margin (μ): per-point margins are differences of shares, in [−1, 1]")
    if (np.abs(gp) > 1 + 1e-12).any():
        raise ValueError("gap (Δ): per-point gaps max_{y≠y*} P(x, y) − P(x, y*) are in [−1, 1]")


def _signal_points(w: np.ndarray, n_signal_points: float | None) -> float:
    """#X̃, the signal points the bound's union covers: the observed ones unless more are given."""
    K = float(len(w) if n_signal_points is None else n_signal_points)
    if K < len(w):
        raise ValueError(f"n_signal_points: {K:g} is fewer than the {len(w)} observed signal points")
    return K


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
        μ̂(x̃) (feature-label and unplanting: equal to ``mass``), in [−1, 1].
    gap : array-like of shape (P,)
        Δ̂(x̃) = ``max_{y ≠ y*} P̂(x̃, y) − P̂(x̃, y*)``, the joint empirical base gap at x̃ (for
        unplanting ``P̂(x̃, y⁻) − P̂(x̃, y')``), in [−1, 1]; negative where y* (y') already
        leads at x̃, which the bound credits (see the module docstring).
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

    A point where y* already leads the base data (negative gap) is planted by a smaller
    collective than the clipped gap 0 would allow:

    >>> [finite_sample_bound([1.0], [1.0], [g], n=300, n_train=14000, n_signal_points=1,
    ...                      n_classes=3).points["planted"].item() for g in (-0.2, 0.0)]
    [True, False]
    """
    w = np.asarray(mass, dtype=np.float64)
    mu = np.asarray(margin, dtype=np.float64)
    gp = np.asarray(gap, dtype=np.float64)
    _check_finite_inputs(w, mu, gp, strategy, n, n_train, n_test, delta, n_classes, epsilon)
    n_ev = n_events(strategy, max(_signal_points(w, n_signal_points), 1.0), n_classes)
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
    guarantee the collective will be able to certify, not itself a guarantee. The per-point
    gaps here are ``>= 0`` (Δ of the infinite-data bounds, a max over all y), so the forecast
    never credits points where y* already leads; the bound from a sample
    (:func:`finite_sample_bound`) does.

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
