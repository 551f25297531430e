"""Infinite-data success bounds and critical masses (Hardt et al., ICML 2023), vectorised over α.

Every bound here has the same shape. With ``c = ε / (1 − ε)`` (the mass an ε-suboptimal firm
may move, see below), a *leak* ``L >= 0`` (base-data mass that argues against the collective)
and a *distortion* ``κ >= 1``,

    S(α) >= 1 − κ · ((1 − α) · L + c) / α          for 0 < α <= 1,

and ``−inf`` at α = 0 (no collective, no guarantee). It is non-decreasing in α, at most 1, and
its critical mass (the least α with bound >= S*) is

    α*(S*) = κ · (L + c) / (1 − S* + κ · L).

:func:`success_bound` and :func:`critical_mass` are that one formula; the strategy functions
below only say what ``L``, ``c`` and ``κ`` are for each theorem.

ε-suboptimality (Hardt et al. 2023, Section 3; restated as Definition 3.1 of Gauthier, Bach,
Jordan 2025 "following Hardt et al."): ``f`` is ε-suboptimal on a set X' under ``P_α`` if
there is a ``P'`` with ``TV(P', P_α) <= ε`` and ``f(x) ∈ argmax_y P'(x, y)`` for all x ∈ X';
``ε = 0`` is the Bayes-optimal firm. (The mixture ``P' = (1 − ε) P_α + ε Q`` used in acakit's
proof sketches is one such ``P'``.)

Provenance (audited against the paper, see ``docs/theory.md``): only
:func:`planting_bound` / :func:`planting_critical_mass` state the paper's theorem. The
feature-only, erasing, unplanting and gradient-control functions are acakit's derivations: the
paper's exact statements for them could not be retrieved, so they are not the paper's theorems.

All functions are pure functions of numbers: scalars or numpy arrays that broadcast together.
Inputs are checked once (:func:`check_inputs`) and impossible values raise ``ValueError`` with a
one-line message naming the quantity.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

__all__ = [
    "check_inputs",
    "critical_count",
    "critical_mass",
    "erasing_bound",
    "erasing_critical_mass",
    "feature_only_bound",
    "feature_only_critical_mass",
    "gradient_control_critical_mass",
    "gradient_control_feasible",
    "hoeffding_radius",
    "planting_bound",
    "planting_critical_mass",
    "suboptimality_mass",
    "success_bound",
    "unplanting_bound",
    "unplanting_critical_mass",
]


# --------------------------------------------------------------------------- checks


def _arr(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def check_inputs(
    *,
    alpha: ArrayLike | None = None,
    gap: ArrayLike | None = None,
    signal_mass: ArrayLike | None = None,
    epsilon: ArrayLike | None = None,
    target: ArrayLike | None = None,
    kappa: ArrayLike | None = None,
    allow_negative_gap: bool = False,
) -> None:
    """Raise ``ValueError`` (one line, naming the quantity) if an input is impossible.

    Parameters
    ----------
    alpha : array-like, optional
        Collective sizes; must lie in [0, 1].
    gap : array-like, optional
        Δ; must be in [0, 1] (or [−1, 1] when ``allow_negative_gap``).
    signal_mass : array-like, optional
        ξ; must be in [0, 1].
    epsilon : array-like, optional
        Suboptimality ε; must be in [0, 1).
    target : array-like, optional
        Target success S*; must be <= 1, and < 1 where ε > 0 (an ε-suboptimal firm may always
        spoil a mass ε / (1 − ε) > 0 of signal points).
    kappa : array-like, optional
        Distortion κ; must be >= 1.
    allow_negative_gap : bool, default=False

    Examples
    --------
    >>> check_inputs(gap=-0.1)
    Traceback (most recent call last):
    ...
    ValueError: gap (Δ): -0.1 is negative; Δ = max_y P0(y|x) − P0(y*|x) >= 0
    """
    def first(x: ArrayLike | None, cond: np.ndarray) -> float:
        a = np.broadcast_to(_arr(x), cond.shape)
        return float(a[cond].ravel()[0])

    for name, val in (("alpha (α)", alpha), ("gap (Δ)", gap), ("signal_mass (ξ)", signal_mass),
                      ("epsilon (ε)", epsilon), ("target (S*)", target), ("kappa (κ)", kappa)):
        if val is not None and np.isnan(_arr(val)).any():
            raise ValueError(f"{name}: nan is not a number")
    if alpha is not None:
        a = _arr(alpha)
        if ((a < 0) | (a > 1)).any():
            raise ValueError(f"alpha (α): {first(a, (a < 0) | (a > 1))} is not a fraction in [0, 1]")
    if gap is not None:
        g = _arr(gap)
        lo = -1.0 if allow_negative_gap else 0.0
        if (g < lo).any():
            raise ValueError(f"gap (Δ): {first(g, g < lo)} is negative; "
                             "Δ = max_y P0(y|x) − P0(y*|x) >= 0")
        if (g > 1).any():
            raise ValueError(f"gap (Δ): {first(g, g > 1)} > 1; Δ is a difference of probabilities")
    if signal_mass is not None:
        s = _arr(signal_mass)
        if ((s < 0) | (s > 1)).any():
            raise ValueError(f"signal_mass (ξ): {first(s, (s < 0) | (s > 1))} is not a probability "
                             "in [0, 1]")
    if epsilon is not None:
        e = _arr(epsilon)
        if ((e < 0) | (e >= 1)).any():
            raise ValueError(f"epsilon (ε): {first(e, (e < 0) | (e >= 1))} is not in [0, 1)")
    if kappa is not None:
        k = _arr(kappa)
        if (k < 1).any():
            raise ValueError(f"kappa (κ): {first(k, k < 1)} < 1; κ is a sup of density ratios >= 1")
    if target is not None:
        t = _arr(target)
        if (t > 1).any():
            raise ValueError(f"target (S*): {first(t, t > 1)} > 1; success is a probability")
        if epsilon is not None:
            e, tt = np.broadcast_arrays(_arr(epsilon), t)
            if ((tt >= 1) & (e > 0)).any():
                raise ValueError("target (S*): success 1 is out of reach with ε > 0 (the firm may "
                                 "spoil a mass ε/(1−ε)); ask for a target below 1")


# --------------------------------------------------------------------------- the one formula


def suboptimality_mass(epsilon: ArrayLike) -> FloatArray:
    """``c = ε / (1 − ε)``: the training mass an ε-suboptimal firm may re-weigh against a point.

    Examples
    --------
    >>> float(suboptimality_mass(0.5))
    1.0
    """
    e = _arr(epsilon)
    return e / (1.0 - e)


def success_bound(
    alpha: ArrayLike, leak: ArrayLike, epsilon: ArrayLike = 0.0, kappa: ArrayLike = 1.0
) -> FloatArray:
    """The generic lower bound ``1 − κ ((1 − α) L + ε/(1−ε)) / α`` (``−inf`` at α = 0).

    Parameters
    ----------
    alpha : array-like
        Collective size(s) as a fraction of the training set, in [0, 1].
    leak : array-like
        ``L >= 0``, e.g. Δ·ξ for feature-label planting.
    epsilon : array-like, default=0
        Suboptimality of the firm, in [0, 1).
    kappa : array-like, default=1
        Distortion factor >= 1.

    Returns
    -------
    numpy.ndarray
        The bound, broadcast over the inputs; values in [−inf, 1].
    """
    a, L, c, k = np.broadcast_arrays(_arr(alpha), _arr(leak), suboptimality_mass(epsilon), _arr(kappa))
    out = np.full(a.shape, -np.inf)
    pos = a > 0
    with np.errstate(over="ignore"):
            out[pos] = 1.0 - k[pos] * ((1.0 - a[pos]) * L[pos] + c[pos]) / a[pos]
    return np.minimum(out, 1.0)


def critical_mass(
    target: ArrayLike, leak: ArrayLike, epsilon: ArrayLike = 0.0, kappa: ArrayLike = 1.0
) -> FloatArray:
    """Least α with ``success_bound(α) >= target``: ``κ (L + c) / (1 − S* + κ L)``.

    Returns ``inf`` where no α in (0, 1] reaches the target, and ``0`` where the bound is 1 for
    every α > 0 (``L = c = 0``: any positive collective suffices).

    Parameters
    ----------
    target : array-like
        Target success S* <= 1 (< 1 if ε > 0).
    leak, epsilon, kappa : array-like
        As in :func:`success_bound`.

    Returns
    -------
    numpy.ndarray
    """
    t, L, c, k = np.broadcast_arrays(_arr(target), _arr(leak), suboptimality_mass(epsilon), _arr(kappa))
    num = k * (L + c)
    den = 1.0 - t + k * L
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(num == 0, 0.0, num / den)
    a = np.where((num > 0) & (den <= 0), np.inf, a)
    return np.where(a > 1.0, np.inf, a)


def critical_count(alpha_star: ArrayLike, n_train: int) -> NDArray[np.float64]:
    """Head count for a critical mass: the least n with ``n / N >= α*`` (``inf`` if none).

    The bound is stated for α = n / N, so ``ceil(α* N)`` members suffice.

    Examples
    --------
    >>> critical_count(0.0025, 10_000).tolist()
    25.0
    """
    a = _arr(alpha_star)
    if n_train < 1:
        raise ValueError(f"n_train: {n_train} must be >= 1")
    with np.errstate(invalid="ignore"):  # round first: 0.0025 * 10_000 = 25.000000000000004
        n = np.ceil(np.round(a * n_train, 9))
    return np.where(np.isfinite(a) & (n <= n_train), np.maximum(n, 0.0), np.inf)


# --------------------------------------------------------------------------- theorems


def planting_bound(
    alpha: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike, epsilon: ArrayLike = 0.0
) -> FloatArray:
    """Feature-label signal planting: ``S(α) >= 1 − ((1−α)/α) Δ ξ − ε / ((1−ε) α)``.

    Theorem (Hardt, Mazumdar, Mendler-Dünner, Zrnic, ICML 2023, arXiv 2302.04262, Section 3,
    "planting a signal", feature-label strategy ``h(x, y) = (g(x), y*)``; the theorem number
    could not be confirmed from the stored copy of the paper, so none is given). Let
    ``X* = {g(x) : x ∈ X}`` be the signal set, ``ξ = P0(X*)`` its base mass and
    ``Δ = max_{x ∈ X*} [max_y P0(y|x) − P0(y*|x)]``. If the firm is ε-suboptimal on
    ``P_α = α P* + (1−α) P0``, the success ``S(α) = Pr_{x~P0}[f(g(x)) = y*]`` (over *all* test
    points: acakit's ``success_all``) satisfies the bound above.

    Proof sketch (kept so the bound can be audited): at x ∈ X* the margin of y* under P_α is at
    least ``α P*(x) − (1−α) Δ P0(x)``; an unplanted point either has margin <= 0 or was
    flipped by P', and flipped margins sum to at most ε/(1−ε). Summing over unplanted points
    gives ``α (1 − S) <= (1−α) Δ ξ + ε/(1−ε)``.

    Parameters
    ----------
    alpha : array-like
        Collective size(s) α in [0, 1].
    gap : array-like
        Δ in [0, 1].
    signal_mass : array-like
        ξ in [0, 1].
    epsilon : array-like, default=0
        ε in [0, 1).

    Returns
    -------
    numpy.ndarray
        Lower bounds in [−inf, 1] (``−inf`` at α = 0).

    Examples
    --------
    >>> planting_bound([0.0, 0.001, 0.01], gap=0.3, signal_mass=0.001).round(4).tolist()
    [-inf, 0.7003, 0.9703]
    """
    check_inputs(alpha=alpha, gap=gap, signal_mass=signal_mass, epsilon=epsilon)
    return success_bound(alpha, _arr(gap) * _arr(signal_mass), epsilon)


def planting_critical_mass(
    target: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike, epsilon: ArrayLike = 0.0
) -> FloatArray:
    """Critical mass of feature-label planting: ``α* = (Δξ + ε/(1−ε)) / (1 − S* + Δξ)``.

    Inverts :func:`planting_bound` (Hardt et al. 2023, Section 3; with ε = 0 this is their
    ``α* <= Δξ / (1 − S* + Δξ)``). ``inf`` if no α <= 1 reaches S*.

    Examples
    --------
    >>> round(float(planting_critical_mass(0.9, gap=0.3, signal_mass=0.001)), 8)
    0.00299103
    """
    check_inputs(gap=gap, signal_mass=signal_mass, epsilon=epsilon, target=target)
    return critical_mass(target, _arr(gap) * _arr(signal_mass), epsilon)


def feature_only_bound(
    alpha: ArrayLike,
    gap: ArrayLike,
    signal_mass: ArrayLike,
    epsilon: ArrayLike = 0.0,
    kappa: ArrayLike = 1.0,
) -> FloatArray:
    """Feature-only planting: ``S(α) >= 1 − κ ((1−α) Δ ξ + ε/(1−ε)) / α``.

    Setting (after Hardt et al. 2023, Section 3, feature-only strategy ``h(x, y) = (g(x), y)``,
    collective drawn from the target class, ``eligibility="target"``): every member has
    ``y = y*`` and reports ``g(x)``, so ``P*`` is the law ``Q`` of ``g(X)`` given ``Y = y*``,
    while success is measured on the law ``P0∘g⁻¹`` of ``g(X)`` over all test points. With
    ``κ = sup_x P0(g(X) = x) / Q(x)`` (the distortion between the two; ``κ = 1`` when g
    overwrites every feature that carries information about y, so ``g(X)`` is independent of
    Y), the proof of :func:`planting_bound` applied under Q and transported to ``P0∘g⁻¹`` gives
    the bound.

    This is acakit's derivation, not the paper's theorem: the paper's feature-only statement
    could not be retrieved, so neither its constant nor its parametrisation is checked. Note
    the setting differs: in the paper the feature-only strategy is played by a collective drawn
    from the whole population, in which only members with ``y = y*`` replace ``x`` by ``g(x)``
    (as Gauthier, Bach, Jordan 2025 describe it before their Definition 3.4); here α counts
    target-class members only. The derivation is in ``docs/theory.md``.

    Parameters
    ----------
    alpha, gap, signal_mass, epsilon :
        As in :func:`planting_bound`.
    kappa : array-like, default=1
        Distortion κ >= 1.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> feature_only_bound(0.01, 0.3, 0.001, kappa=2.0).round(4).tolist()
    0.9406
    """
    check_inputs(alpha=alpha, gap=gap, signal_mass=signal_mass, epsilon=epsilon, kappa=kappa)
    return success_bound(alpha, _arr(gap) * _arr(signal_mass), epsilon, kappa)


def feature_only_critical_mass(
    target: ArrayLike,
    gap: ArrayLike,
    signal_mass: ArrayLike,
    epsilon: ArrayLike = 0.0,
    kappa: ArrayLike = 1.0,
) -> FloatArray:
    """Critical mass of feature-only planting: ``κ (Δξ + c) / (1 − S* + κ Δξ)``.

    Inverts :func:`feature_only_bound`; α is the collective's share of the *whole* training
    set (all members from class y*).
    """
    check_inputs(gap=gap, signal_mass=signal_mass, epsilon=epsilon, target=target, kappa=kappa)
    return critical_mass(target, _arr(gap) * _arr(signal_mass), epsilon, kappa)


def unplanting_bound(
    alpha: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike, epsilon: ArrayLike = 0.0
) -> FloatArray:
    """Signal unplanting to a replacement label y': ``S(α) >= 1 − ((1−α)/α) Δ⁻ ξ − c/α``.

    The collective wants ``f(g(x)) != y⁻`` and reports ``(g(x), y')`` for a fixed ``y' != y⁻``
    (Gauthier, Bach, Jordan, ICML 2025, arXiv 2502.04879, Section 3, "signal unplanting").
    ``f(x) != y⁻`` holds wherever y' beats y⁻, so the proof of :func:`planting_bound` applies
    with the pairwise gap ``Δ⁻ = max_{x ∈ X*} [P0(y⁻|x) − P0(y'|x)]`` (which may be negative:
    y' already beats y⁻ on the signal set; it is clipped at 0, where the bound is ``1 − c/α``).

    This is acakit's derivation, not a theorem of Hardt et al. 2023 (which has no unplanting).
    Gauthier et al. state only finite-sample unplanting bounds; for the naive strategy they
    reduce it to planting y', i.e. :func:`planting_bound` with the gap of y' against *every*
    label, ``max_y P0(y|x) − P0(y'|x)``. The pairwise gap Δ⁻ (<= that gap) is acakit's step.
    """
    check_inputs(alpha=alpha, gap=gap, signal_mass=signal_mass, epsilon=epsilon,
                 allow_negative_gap=True)
    return success_bound(alpha, np.maximum(_arr(gap), 0.0) * _arr(signal_mass), epsilon)


def unplanting_critical_mass(
    target: ArrayLike, gap: ArrayLike, signal_mass: ArrayLike, epsilon: ArrayLike = 0.0
) -> FloatArray:
    """Inverse of :func:`unplanting_bound` (Δ⁻ may be negative; clipped at 0)."""
    check_inputs(gap=gap, signal_mass=signal_mass, epsilon=epsilon, target=target,
                 allow_negative_gap=True)
    return critical_mass(target, np.maximum(_arr(gap), 0.0) * _arr(signal_mass), epsilon)


def erasing_bound(alpha: ArrayLike, epsilon: ArrayLike = 0.0, kappa: ArrayLike = 1.0) -> FloatArray:
    """Ideal signal erasing (acakit's variant): ``S(α) >= 1 − κ ε / ((1−ε) α)``.

    Setting (after Hardt et al. 2023, Section 3, "signal erasing"): members report
    ``(g(x), ŷ(g(x)))`` with ``ŷ(x) = argmax_y P0(y|x)`` (acakit's ``Erase(ideal=True)``);
    success is ``Pr_{x~P0}[f(g(x)) = ŷ(g(x))]``: on signal points the firm answers as if the
    signal carried no information beyond P0. At every signal point the collective's label is
    already the base argmax, so the margin under P_α is at least ``α P*(x)``; only the
    ε-suboptimality can spoil points, at most a P*-mass ``ε / ((1−ε) α)`` (times κ when the
    collective's signal law differs from the test's). With ε = 0 the bound is 1 for every
    α > 0.

    This is acakit's derivation, not the paper's theorem: the paper's erasing statement could
    not be retrieved. Its success notion also differs: the paper measures erasure as agreement
    ``Pr_{x~P0}[f(g(x)) = f(x)]`` (as Gauthier, Bach, Jordan 2025 restate it before their
    Definition 3.8, where members keep x and relabel, ``h(x, y) = (x, y*_{g(x)})``), whereas
    the success here is agreement with the *base* argmax ``ŷ(g(x))``, which a Bayes-optimal
    firm already meets without any collective. Do not read this as the paper's erasing guarantee.
    """
    check_inputs(alpha=alpha, epsilon=epsilon, kappa=kappa)
    return success_bound(alpha, 0.0, epsilon, kappa)


def erasing_critical_mass(
    target: ArrayLike, epsilon: ArrayLike = 0.0, kappa: ArrayLike = 1.0
) -> FloatArray:
    """Inverse of :func:`erasing_bound`: ``α* = κ ε / ((1−ε)(1 − S*))``."""
    check_inputs(epsilon=epsilon, target=target, kappa=kappa)
    return critical_mass(target, 0.0, epsilon, kappa)


# --------------------------------------------------------------------------- gradient control


def gradient_control_feasible(
    alpha: ArrayLike,
    base_gradient_norm: ArrayLike,
    member_gradient_norm: ArrayLike,
    pull: ArrayLike = 0.0,
) -> NDArray[np.bool_]:
    """Whether a collective of size α can impose any update direction of norm ``pull``.

    Gradient control (setting of Hardt et al. 2023, Section 5, gradient-based learning; the
    feasibility condition below is acakit's derivation, not the paper's theorem, whose exact
    statement could not be retrieved): the firm runs
    (stochastic) gradient descent on ``P_α``, whose gradient is
    ``α v + (1−α) ∇L0(θ)`` where ``v`` is the average gradient of the collective's reported
    points. If every reportable point has gradient norm at most ``C`` (``member_gradient_norm``)
    and the base gradient norm along the way is at most ``B`` (``base_gradient_norm``), the
    collective can make the mixture gradient equal any target ``d`` with ``||d|| <= pull`` iff
    it can choose ``v = (d − (1−α) ∇L0) / α`` with ``||v|| <= C``, which is guaranteed when
    ``α C >= (1−α) B + pull``. Driving θ to the collective's θ* needs ``pull > 0``.

    Returns
    -------
    numpy.ndarray of bool
    """
    a, B, C, p = np.broadcast_arrays(_arr(alpha), _arr(base_gradient_norm),
                                     _arr(member_gradient_norm), _arr(pull))
    if (B < 0).any() or (C < 0).any() or (p < 0).any():
        raise ValueError("gradient norms and pull must be >= 0")
    return a * C >= (1.0 - a) * B + p


def gradient_control_critical_mass(
    base_gradient_norm: ArrayLike, member_gradient_norm: ArrayLike, pull: ArrayLike = 0.0
) -> FloatArray:
    """Least α with :func:`gradient_control_feasible`: ``α* = (B + pull) / (B + C)``.

    ``inf`` when ``B + pull > B + C`` (the collective's points are too weak for any α <= 1).

    Examples
    --------
    >>> float(gradient_control_critical_mass(1.0, 9.0))
    0.1
    """
    B, C, p = np.broadcast_arrays(_arr(base_gradient_norm), _arr(member_gradient_norm), _arr(pull))
    if (B < 0).any() or (C < 0).any() or (p < 0).any():
        raise ValueError("gradient norms and pull must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(B + p == 0, 0.0, (B + p) / (B + C))
    return np.where(a > 1.0, np.inf, a)


def hoeffding_radius(delta: float, k: ArrayLike) -> FloatArray:
    """``R(δ, k) = sqrt(log(1/δ) / (2k))``: one-sided Hoeffding deviation of a mean of k draws.

    ``inf`` for ``k = 0``.

    Examples
    --------
    >>> round(float(hoeffding_radius(0.05, 1000)), 5)
    0.0387
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta (δ): {delta} is not in (0, 1)")
    kk = _arr(k)
    with np.errstate(divide="ignore"):
        return np.sqrt(math.log(1.0 / delta) / (2.0 * kk))
