"""Success bounds for one of M feature-label planting collectives, in three knowledge tiers.

Setting (see ``docs/multiple_collectives.md`` for the derivations). Collective ``i`` plants
``(g_i(x), y*_i)`` with size ``α_i``; the others have total size ``B = Σ_{j≠i} α_j``; the firm
learns from ``P = Σ_j α_j P*_j + (1 − α_i − B) P0`` and is ε-suboptimal on it (``c = ε/(1−ε)``,
as in :mod:`acakit.theory.bounds`). Success is ``S_i = Pr_{x~P0}[f(g_i(x)) ∈ Y*_i]`` (all test
points, acakit's ``success_all``). Per signal point ``x̃ ∈ X*_i``:

- ``w(x̃) = P*_i(x̃)``: i's signal law (its success mass there);
- ``D(x̃) = max_y P0(x̃, y) − P0(x̃, y*_i) >= 0``: the joint base gap (``Σ D <= Δ_i ξ_i``);
- ``C(x̃) = max_{y ∉ Y*_i} Σ_{j≠i: y*_j = y} α_j P*_j(x̃)``: the largest conflicting planted mass;
- ``A(x̃) = Σ_{j≠i: y*_j = y*_i} α_j P*_j(x̃)``: the aligned planted mass;
- ``K = Σ_{j≠i: y*_j ∉ Y*_i} α_j P*_j(X*_i) >= Σ C(x̃)``: the conflicting mass on ``X*_i``.

The firm predicts a class of ``Y*_i`` at ``x̃`` whenever the margin of ``y*_i`` over every class
outside ``Y*_i``, ``m(x̃) = α_i w + A − (1 − α_i − B) D − C``, exceeds ``c``. Two lower bounds
follow (both proved in the guide), and each tier reports the larger:

- *sum form* (Hardt et al.'s argument): ``α_i (1 − S_i) <= Σ_x̃ [(1−α_i−B) D + C − A]_+ + c``;
- *covered form* (Gauthier et al.'s argument, infinite data): ``S_i >= Σ_x̃ w 1{m(x̃) > c}``.

The tiers differ in what i knows about the others:

1. **full**: ``B`` and every ``C(x̃), A(x̃)``;
2. **aggregate**: only ``K`` (published by a trusted aggregator); since ``B >= K``, the base
   weight is at most ``1 − α_i − K``, and an adversary may spread ``K`` over i's signal points
   to spoil as much of ``w`` as possible (a fractional knapsack, :func:`adversarial_loss`);
3. **worst case**: only ``B`` (or a range ``[B_lo, B_hi]``): base weight ``1 − α_i − B_lo``,
   and all of ``B_hi`` may conflict on ``X*_i``.

Each tier's information is implied by the next one's, and the bounds are ordered
``worst <= aggregate <= full`` for consistent inputs (``B_lo <= B <= B_hi``, ``ΣC <= K <= B``).
With ``M = 1`` (``B = K = C = A = 0``) every tier is the single-collective bound: the sum form
is :func:`acakit.theory.bounds.success_bound` (hence :func:`~acakit.theory.planting_bound`
from numbers) and the finite-sample form is
:func:`acakit.theory.finite.finite_sample_bound`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from acakit.theory.bounds import check_inputs, hoeffding_radius, suboptimality_mass, success_bound
from acakit.theory.finite import FiniteSampleBound, FiniteStrategy, finite_sample_bound

FloatArray = NDArray[np.float64]
TIERS: tuple[str, ...] = ("worst", "aggregate", "full")

__all__ = [
    "TIERS",
    "MultiFiniteBound",
    "PointInputs",
    "adversarial_loss",
    "aggregate_bound",
    "finite_tier_bounds",
    "full_knowledge_bound",
    "multi_planting_bound",
    "others_range",
    "tier_bounds",
    "worst_case_bound",
]


def _arr(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def others_range(others_alpha: float | tuple[float, float] | ArrayLike) -> tuple[float, float]:
    """``(B_lo, B_hi)`` from a known total size of the others or a range for it.

    Examples
    --------
    >>> others_range(0.1), others_range((0.05, 0.2))
    ((0.1, 0.1), (0.05, 0.2))
    """
    b = np.atleast_1d(_arr(others_alpha))
    if b.size == 1:
        lo = hi = float(b[0])
    elif b.size == 2:
        lo, hi = float(b[0]), float(b[1])
    else:
        raise ValueError("others_alpha: give the others' total size or a (low, high) range")
    if not 0 <= lo <= hi <= 1:
        raise ValueError(f"others_alpha: range ({lo:g}, {hi:g}) must satisfy 0 <= low <= high <= 1")
    return lo, hi


# --------------------------------------------------------------------------- from numbers


def multi_planting_bound(
    alpha: ArrayLike,
    others_alpha: ArrayLike,
    gap: ArrayLike,
    signal_mass: ArrayLike,
    conflict: ArrayLike = 0.0,
    epsilon: ArrayLike = 0.0,
) -> FloatArray:
    """``S_i >= 1 − ((1 − α_i − B) Δξ + K + ε/(1−ε)) / α_i`` (sum form, from numbers).

    The sum-form bound of the module docstring with ``Σ D <= Δξ`` and a conflict term ``K``
    bounding ``Σ_x̃ [C(x̃) − A(x̃)]_+``. It is computed as
    :func:`acakit.theory.bounds.success_bound` with leak
    ``Δξ (1 − α_i − B)/(1 − α_i) + K/(1 − α_i)``, so ``B = K = 0`` gives
    :func:`acakit.theory.planting_bound` exactly.

    Parameters
    ----------
    alpha : array-like
        ``α_i`` in [0, 1].
    others_alpha : array-like
        ``B``: total size of the others assumed for the base weight, ``α_i + B <= 1``.
    gap, signal_mass : array-like
        Δ_i and ξ_i of i's signal (or ``gap = Σ D / ξ``; only the product enters).
    conflict : array-like, default=0
        ``K >= 0``.
    epsilon : array-like, default=0

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> from acakit.theory import planting_bound
    >>> bool(multi_planting_bound(0.01, 0.0, 0.3, 0.001) == planting_bound(0.01, 0.3, 0.001))
    True
    >>> multi_planting_bound(0.1, 0.05, 0.3, 0.01, conflict=0.02).round(4).tolist()
    0.7745
    """
    check_inputs(alpha=alpha, gap=gap, signal_mass=signal_mass, epsilon=epsilon)
    a, B, K = np.broadcast_arrays(_arr(alpha), _arr(others_alpha), _arr(conflict))
    if (B < 0).any() or (K < 0).any():
        raise ValueError("others_alpha, conflict: masses of other collectives must be >= 0")
    if (a + B > 1 + 1e-12).any():
        raise ValueError("collectives: sizes sum to more than 1 (alpha + others_alpha > 1)")
    rest = 1.0 - a
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(rest > 0, np.maximum(rest - B, 0.0) / rest, 0.0)
        extra = np.where(rest > 0, K / rest, 0.0)
    return success_bound(a, _arr(gap) * _arr(signal_mass) * ratio + extra, epsilon)


def full_knowledge_bound(
    alpha: ArrayLike, others_alpha: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike,
    net_conflict: ArrayLike = 0.0, epsilon: ArrayLike = 0.0,
) -> FloatArray:
    """Tier 1 from numbers: ``B`` known and ``K = Σ_x̃ [C(x̃) − A(x̃)]_+`` (net conflicting mass).

    Examples
    --------
    >>> full_knowledge_bound(0.1, 0.1, 0.3, 0.01, net_conflict=0.0).round(4).tolist()
    0.976
    """
    return multi_planting_bound(alpha, others_alpha, gap, signal_mass, net_conflict, epsilon)


def aggregate_bound(
    alpha: ArrayLike, conflict_mass: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike,
    epsilon: ArrayLike = 0.0, others_min: ArrayLike = 0.0,
) -> FloatArray:
    """Tier 2 from numbers: the aggregator's ``K``; base weight ``1 − α_i − max(K, B_lo)``.

    Examples
    --------
    >>> aggregate_bound(0.1, 0.02, 0.3, 0.01).round(4).tolist()
    0.7736
    """
    B = np.maximum(_arr(conflict_mass), _arr(others_min))
    return multi_planting_bound(alpha, B, gap, signal_mass, conflict_mass, epsilon)


def worst_case_bound(
    alpha: ArrayLike, others_alpha: float | tuple[float, float], gap: ArrayLike,
    signal_mass: ArrayLike, epsilon: ArrayLike = 0.0,
) -> FloatArray:
    """Tier 3 from numbers: ``B ∈ [B_lo, B_hi]``; ``1 − ((1−α_i−B_lo) Δξ + B_hi + c)/α_i``.

    Examples
    --------
    >>> worst_case_bound(0.1, 0.02, 0.3, 0.01).round(4).tolist()
    0.7736
    >>> bool(worst_case_bound(0.1, 0.2, 0.3, 0.01) < 0)  # a larger adversary can win
    True
    """
    lo, hi = others_range(others_alpha)
    return multi_planting_bound(alpha, lo, gap, signal_mass, hi, epsilon)


def noisy_tier_bounds(
    alpha: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike, *, p_drop: float = 0.0,
    p_signal: float = 0.0, p_label: float = 0.0, n_classes: int = 2,
    others_alpha: float = 0.0, others_range: tuple[float, float] | None = None,
    net_conflict: float = 0.0, conflict_mass: float = 0.0, epsilon: ArrayLike = 0.0,
) -> dict[str, FloatArray]:
    """The three tiers from numbers for a collective with coordination noise.

    The noisy members are extra components of the mixture (``docs/multiple_collectives.md``,
    "Bounds with noise"): the acting members, ``α a`` with ``a = 1 − p_drop − p_signal −
    p_label``, are the collective bounded; dropped members are base rows; perturbed members
    (``α p_signal``, label y*) are others that never conflict (their aligned mass is not
    counted: conservative); mislabelled members (``α p_label``, uniform over the ``K − 1``
    other classes) are others whose mass all lies on X*: ``α p_label / (K − 1)`` of net
    conflict in the full tier (the largest class's share), ``α p_label`` of budget in the
    aggregate and worst-case tiers. With zero noise the numbers are exactly those of
    :func:`full_knowledge_bound`, :func:`aggregate_bound` and :func:`worst_case_bound`.

    Parameters
    ----------
    alpha, gap, signal_mass : array-like
        The collective's size α, Δ and ξ.
    p_drop, p_signal, p_label : float, default=0
        The noise (expected shares; a mixed feature-only share is not covered).
    n_classes : int, default=2
        Number of classes K (the wrong labels' spread).
    others_alpha : float, default=0
        Total size of the other collectives (full tier).
    others_range : (float, float), optional
        Their size range for the worst case (default: ``others_alpha`` exactly).
    net_conflict, conflict_mass : float, default=0
        The other collectives' net conflicting mass (full tier) and conflicting mass K on X*
        (aggregate tier).
    epsilon : array-like, default=0

    Returns
    -------
    dict
        ``full``, ``aggregate``, ``worst``.

    Examples
    --------
    >>> b = noisy_tier_bounds(0.1, 0.3, 0.01, p_drop=0.2, n_classes=3)
    >>> round(float(b["full"]), 4), bool(b["full"] < full_knowledge_bound(0.1, 0.0, 0.3, 0.01))
    (0.9655, True)
    >>> b0 = noisy_tier_bounds(0.1, 0.3, 0.01)
    >>> bool(b0["full"] == full_knowledge_bound(0.1, 0.0, 0.3, 0.01))
    True
    """
    for k, v in {"p_drop": p_drop, "p_signal": p_signal, "p_label": p_label}.items():
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"noise.{k}: {v} is not a probability in [0, 1]")
    if p_drop + p_signal + p_label > 1 + 1e-12:
        raise ValueError("noise: the probabilities sum to more than 1")
    if p_label > 0 and n_classes < 2:
        raise ValueError(f"n_classes: {n_classes}; a wrong label needs at least 2 classes")
    a = _arr(alpha)
    acting = a * (1.0 - p_drop - p_signal - p_label)
    noisy = a * (p_signal + p_label)
    wrong = a * p_label
    lo, hi = (others_alpha, others_alpha) if others_range is None else others_range
    return {
        "full": full_knowledge_bound(acting, others_alpha + noisy, gap, signal_mass,
                                     net_conflict + wrong / max(n_classes - 1, 1), epsilon),
        "aggregate": aggregate_bound(acting, conflict_mass + wrong, gap, signal_mass, epsilon,
                                     others_min=lo + noisy),
        # worst_case_bound with the range shifted by the noisy mass (vectorised over α)
        "worst": multi_planting_bound(acting, lo + noisy, gap, signal_mass, hi + noisy, epsilon),
    }


# --------------------------------------------------------------------------- per signal point


def adversarial_loss(slack: ArrayLike, mass: ArrayLike, budget: float) -> float:
    """Most success mass a conflicting budget can spoil: fractional knapsack over signal points.

    A point with slack ``s > 0`` (margin left after the base data and ``c``) is spoiled by a
    conflicting mass ``>= s`` placed on it; the adversary maximises the spoiled ``Σ mass`` with
    ``Σ s <= budget``. The fractional relaxation (greedy by ``s / mass``) is an upper bound on
    any allocation, so subtracting it keeps a lower bound valid.

    Examples
    --------
    >>> adversarial_loss([0.1, 0.2, -1.0], [0.5, 0.5, 0.1], budget=0.2)
    0.75
    >>> adversarial_loss([0.1], [0.5], budget=0.0)
    0.0
    """
    s, w = _arr(slack), _arr(mass)
    ok = (s > 0) & (w > 0)
    s, w = s[ok], w[ok]
    if budget <= 0 or s.size == 0:
        return 0.0
    order = np.argsort(s / w, kind="stable")
    s, w = s[order], w[order]
    cost = np.cumsum(s)
    k = int(np.searchsorted(cost, budget, side="right"))
    lost = float(w[:k].sum())
    if k < s.size:
        lost += float(w[k]) * (budget - (float(cost[k - 1]) if k else 0.0)) / float(s[k])
    return float(min(lost, float(w.sum())))


@dataclass(frozen=True)
class PointInputs:
    """What collective i's infinite-data bounds need, per point of its signal set.

    Attributes
    ----------
    alpha : float
        ``α_i``.
    others_alpha : float
        ``B``, the others' total size (what the full tier knows; the worst-case tier uses
        :attr:`others_range`).
    conflict_total : float
        ``K``, the conflicting mass on ``X*_i`` (what the aggregator publishes).
    mass, gap, conflict, aligned : numpy.ndarray
        ``w(x̃)``, ``D(x̃)``, ``C(x̃)``, ``A(x̃)`` for each point (same length).
    others_lo, others_hi : float or None
        Range for ``B`` known to the worst-case tier (default ``B`` itself).
    keys : numpy.ndarray or None
        Point identifiers (row hashes).
    """

    alpha: float
    others_alpha: float
    conflict_total: float
    mass: np.ndarray
    gap: np.ndarray
    conflict: np.ndarray
    aligned: np.ndarray
    others_lo: float | None = None
    others_hi: float | None = None
    keys: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.mass)
        if not len(self.gap) == len(self.conflict) == len(self.aligned) == n:
            raise ValueError("mass, gap, conflict and aligned must have one value per signal point")
        if (np.asarray(self.gap) < -1e-12).any():
            raise ValueError("gap (D): per-point joint gaps must be >= 0")
        if self.alpha + self.others_alpha > 1 + 1e-9:
            raise ValueError(f"collectives: sizes sum to {self.alpha + self.others_alpha:.4g} > 1")

    @property
    def others_range(self) -> tuple[float, float]:
        """``(B_lo, B_hi)`` of the worst-case tier."""
        lo = self.others_alpha if self.others_lo is None else self.others_lo
        hi = self.others_alpha if self.others_hi is None else self.others_hi
        return others_range((lo, hi))


def _sum_form(alpha: float, base: float, gap: np.ndarray, net: np.ndarray, epsilon: float) -> float:
    """``success_bound(α, Σ [D (base/(1−α)) + net/(1−α)]_+, ε)``: ``(1−α) ×`` that leak is
    ``Σ [base·D + net]_+``; with ``base = 1 − α`` and ``net = 0`` it is ``success_bound(α, ΣD)``."""
    rest = 1.0 - alpha
    if rest > 0:
        leak = float(np.maximum(gap * (base / rest) + net / rest, 0.0).sum())
    else:
        leak = 0.0
    return float(success_bound(alpha, leak, epsilon))


def tier_bounds(inputs: PointInputs, epsilon: float = 0.0) -> dict[str, float]:
    """Infinite-data bounds of the three tiers (and their two forms) for one collective.

    Parameters
    ----------
    inputs : PointInputs
    epsilon : float, default=0
        Suboptimality of the firm.

    Returns
    -------
    dict
        ``full``, ``aggregate``, ``worst`` (each the larger of its two forms) and
        ``<tier>_sum``, ``<tier>_covered``; ``gap_mass`` (``Σ D``).

    Examples
    --------
    >>> p = PointInputs(alpha=0.1, others_alpha=0.0, conflict_total=0.0, mass=np.array([1.0]),
    ...                 gap=np.array([0.01]), conflict=np.zeros(1), aligned=np.zeros(1))
    >>> from acakit.theory import success_bound
    >>> b = tier_bounds(p)
    >>> b["full_sum"] == b["worst_sum"] == float(success_bound(0.1, 0.01))
    True
    """
    check_inputs(alpha=inputs.alpha, epsilon=epsilon)
    a = float(inputs.alpha)
    w, D = _arr(inputs.mass), _arr(inputs.gap)
    C, Al = _arr(inputs.conflict), _arr(inputs.aligned)
    c = float(suboptimality_mass(epsilon))
    B, K = float(inputs.others_alpha), float(inputs.conflict_total)
    lo, hi = inputs.others_range
    out: dict[str, float] = {"gap_mass": float(D.sum())}
    # full knowledge: B and the per-point C, A
    base = 1.0 - a - B
    out["full_sum"] = _sum_form(a, base, D, C - Al, epsilon)
    margin = a * w + Al - base * D - C
    out["full_covered"] = float(w[margin > c].sum())
    # aggregate: K only; the base weight is at most 1 − α − max(K, B_lo)
    for tier, b_eff, budget in (("aggregate", max(K, lo), K), ("worst", lo, hi)):
        base_t = max(1.0 - a - b_eff, 0.0)
        out[f"{tier}_sum"] = _sum_form(a, base_t, D, np.full_like(D, budget / max(len(D), 1)),
                                       epsilon) if len(D) else float(success_bound(a, 0.0, epsilon))
        slack = a * w - base_t * D - c
        out[f"{tier}_covered"] = float(w[slack > 0].sum()) - adversarial_loss(slack, w, budget)
    for t in TIERS:
        out[t] = max(out[f"{t}_sum"], out[f"{t}_covered"])
    return out


# --------------------------------------------------------------------------- finite sample


@dataclass(frozen=True)
class MultiFiniteBound:
    """Finite-sample bounds of the three tiers for one collective.

    Attributes
    ----------
    full, aggregate, worst : float
        Lower bounds on the test success, each holding with probability >= 1 − δ.
    single : FiniteSampleBound
        The single-collective bound of the same sample (radii, δ̃, per-point table).
    others_count, conflict_count : int
        ``B N`` and ``K N`` (rows of the others; conflicting rows on ``X*_i``).
    points : pandas.DataFrame
        Per point: ``mass, margin, gap, conflict, aligned`` and each tier's slack.
    """

    full: float
    aggregate: float
    worst: float
    single: FiniteSampleBound = field(repr=False)
    others_count: int
    conflict_count: int
    points: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The three bounds and the radii as a flat dict (keys prefixed ``finite_``)."""
        s = self.single
        return {"finite_full": self.full, "finite_aggregate": self.aggregate,
                "finite_worst": self.worst, "finite_single": s.bound, "delta": s.delta,
                "delta_tilde": s.delta_tilde, "radius_n": s.radius_n, "radius_test": s.radius_test}


def _check_counts(Bc: int, Kc: int, lo_c: int, hi_c: int, n: int, n_train: int) -> None:
    """Refuse row counts of the others that cannot be (one line each)."""
    if Bc < 0 or Kc < 0:
        raise ValueError("others_count, conflict_count: row counts must be >= 0")
    if Kc > Bc:
        raise ValueError(f"conflict_count: {Kc} exceeds the others' rows ({Bc})")
    if not lo_c <= Bc <= hi_c:
        raise ValueError(f"others_count_range: ({lo_c}, {hi_c}) must contain others_count {Bc}")
    if n + hi_c >= n_train:
        raise ValueError(f"collectives: {n} + {hi_c} rows leave no base data in N = {n_train}")


def _smallest_slack(slack_at: Any, a: np.ndarray, dt: float, lo_b: float, hi_b: float) -> np.ndarray:
    """The smallest slack over base sizes N_b in [lo_b, hi_b] (``a`` = Δ̂ + 2R(n) per point).

    The base term (N_b/N)(Δ̂ + 2R(n)) + (2/N) sqrt(N_b log(1/δ̃)/2) is concave in N_b: it grows
    with N_b when Δ̂ + 2R(n) >= 0, else it peaks at N_b* = log(1/δ̃) / (2 (Δ̂ + 2R(n))^2), so a
    signed gap (Gauthier et al.) is checked at both ends and at N_b* clipped inside.
    """
    lo_b, hi_b = float(lo_b), float(hi_b)
    with np.errstate(divide="ignore"):
        star = np.where(a < 0, math.log(1 / dt) / (2 * a ** 2), hi_b)
    candidates = [np.full_like(a, lo_b), np.full_like(a, hi_b), np.clip(star, lo_b, hi_b)]
    return np.min([slack_at(nb) for nb in candidates], axis=0)


def finite_tier_bounds(
    mass: ArrayLike,
    margin: ArrayLike,
    gap: ArrayLike,
    n: int,
    n_train: int,
    *,
    conflict: ArrayLike | None = None,
    aligned: ArrayLike | None = None,
    others_count: int = 0,
    conflict_count: int = 0,
    others_count_range: tuple[int, int] | None = None,
    n_test: int | None = None,
    delta: float = 0.05,
    epsilon: float = 0.0,
    n_signal_points: float | None = None,
    n_classes: int = 2,
    strategy: FiniteStrategy = "plant",
) -> MultiFiniteBound:
    """Finite-sample bounds (Gauthier et al.'s theorem with other collectives) in three tiers.

    Training set of ``N`` rows: i's ``n`` members, the others' ``B N`` rows (whatever they
    report, counted exactly), and ``N_b = N − n − B N`` base rows, i.i.d. from P0 and
    independent of i's sample. Conditionally on the others' rows, the events of
    :func:`acakit.theory.finite.finite_sample_bound` (same δ̃, with ``R(N_b)`` for the base
    sample) give per point the slack

        ``α (μ̂ − 2rR(n)) − (N_b/N)(Δ̂ + 2R(n) + 2R(N_b)) − c + A(x̃) − C(x̃)``

    (``C, A``: the others' conflicting / aligned report counts at ``x̃`` over N). The full tier
    uses it as is; the aggregate tier knows only ``N − n − B_hi N <= N_b <= N − n − max(K N,
    B_lo N)`` and the worst case ``N − n − B_hi N <= N_b <= N − n − B_lo N``: each takes the
    smallest slack over its range (with a negative gap Δ̂ the base term is not monotone in
    ``N_b``: more base rows then help y*), the aggregate tier lets an adversary spread ``K``
    (:func:`adversarial_loss`) and the worst case a budget ``B_hi``. Each bound is the covered mass minus
    ``R(n) + R(N_test)``.

    Parameters
    ----------
    mass, margin, gap : array-like
        Per observed signal point, from i's own sample
        (:func:`acakit.theory.estimators.collective_statistics`).
    n, n_train : int
        i's size and N.
    conflict, aligned : array-like, optional
        ``C(x̃)`` and ``A(x̃)`` as fractions of N (full tier; default 0).
    others_count : int, default=0
        ``B N``.
    conflict_count : int, default=0
        ``K N``: the others' rows in ``X*_i`` with a label outside ``Y*_i``.
    others_count_range : (int, int), optional
        ``(B_lo N, B_hi N)`` for the worst-case tier (default: ``B N`` both).
    n_test, delta, epsilon, n_signal_points, n_classes, strategy :
        As in :func:`acakit.theory.finite.finite_sample_bound`.

    Returns
    -------
    MultiFiniteBound

    Examples
    --------
    >>> b = finite_tier_bounds([1.0], [1.0], [0.0], n=2000, n_train=14000, n_test=6000,
    ...                        n_signal_points=1, n_classes=3)
    >>> b.full == b.aggregate == b.worst == b.single.bound
    True
    """
    w = _arr(mass)
    single = finite_sample_bound(w, margin, gap, n=n, n_train=n_train, n_test=n_test, delta=delta,
                                 epsilon=epsilon, n_signal_points=n_signal_points,
                                 n_classes=n_classes, strategy=strategy)
    C = np.zeros_like(w) if conflict is None else _arr(conflict)
    Al = np.zeros_like(w) if aligned is None else _arr(aligned)
    Bc, Kc = int(others_count), int(conflict_count)
    lo_c, hi_c = (Bc, Bc) if others_count_range is None else map(int, others_count_range)
    _check_counts(Bc, Kc, lo_c, hi_c, n, n_train)
    mu, gp = _arr(margin), _arr(gap)
    r = 2.0 if strategy == "plant_feature_only" else 1.0
    alpha = n / n_train
    c = float(suboptimality_mass(epsilon))
    dt, r_n, r_test = single.delta_tilde, single.radius_n, single.radius_test

    def slack_at(n_base: np.ndarray) -> np.ndarray:
        # the expression of finite_sample_bound with N − n replaced by N_b (per point)
        beta = n_base / n_train
        r_b = hoeffding_radius(dt, n_base)
        return alpha * (mu - 2 * r * r_n) - beta * (gp + 2 * r_n + 2 * r_b) - c

    s_full = slack_at(np.full_like(gp, float(n_train - n - Bc))) + Al - C
    s_agg = _smallest_slack(slack_at, gp + 2 * r_n, dt, n_train - n - hi_c, n_train - n - max(Kc, lo_c))
    s_worst = _smallest_slack(slack_at, gp + 2 * r_n, dt, n_train - n - hi_c, n_train - n - lo_c)
    full = float(w[s_full > 0].sum()) - r_n - r_test
    agg = float(w[s_agg > 0].sum()) - adversarial_loss(s_agg, w, Kc / n_train) - r_n - r_test
    worst = float(w[s_worst > 0].sum()) - adversarial_loss(s_worst, w, hi_c / n_train) - r_n - r_test
    table = single.points.assign(conflict=C, aligned=Al, slack_full=s_full, slack_aggregate=s_agg,
                                 slack_worst=s_worst)
    return MultiFiniteBound(full, agg, worst, single, Bc, Kc, table)
