"""Success of a collective and the firm's cost, each with a binomial confidence interval.

Conventions (both reported, clearly named):

- ``success`` : Pr[f(g(x)) in Y*] over test points whose true label is **not** in Y*
  (Hardt et al.'s measure: the signal, not the base rate, moves the prediction);
- ``success_all`` : the same over all test points;
- ``erasure_success`` : Pr[f(g(x)) = f0(x)] with f0 the firm trained without the collective;
- ``accuracy`` and ``accuracy_drop`` : clean test accuracy and its drop versus f0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest

from acakit.registry import METRICS


def binomial_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (scipy's ``binomtest``).

    Returns ``(nan, nan)`` when ``n == 0``.

    Examples
    --------
    >>> lo, hi = binomial_ci(50, 100)
    >>> round(lo, 3), round(hi, 3)
    (0.404, 0.596)
    """
    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def rate(hits: np.ndarray, name: str, confidence: float = 0.95) -> dict[str, float]:
    """Mean of a boolean array with its count and Wilson interval, as ``name*`` keys."""
    hits = np.asarray(hits, dtype=bool)
    k, n = int(hits.sum()), int(hits.size)
    lo, hi = binomial_ci(k, n, confidence)
    return {
        name: k / n if n else float("nan"),
        f"{name}_lo": lo,
        f"{name}_hi": hi,
        f"{name}_n": n,
    }


def planting_success(
    y_pred_signal: np.ndarray,
    y_true: np.ndarray,
    targets: Iterable[int],
    confidence: float = 0.95,
) -> dict[str, float]:
    """Success of a planting collective from the firm's predictions on g(x_test).

    Parameters
    ----------
    y_pred_signal : array of int
        f(g(x)) for each test point.
    y_true : array of int
        True labels of the test points.
    targets : iterable of int
        The target set Y*.
    confidence : float, default=0.95

    Returns
    -------
    dict
        ``success`` (on points with y not in Y*) and ``success_all`` (all points), each with
        ``_lo``, ``_hi`` and ``_n``.
    """
    tset = np.array(sorted(set(targets)))
    hit = np.isin(y_pred_signal, tset)
    off_target = ~np.isin(y_true, tset)
    return rate(hit[off_target], "success", confidence) | rate(hit, "success_all", confidence)


@dataclass
class CellResult:
    """What a metric of a single-collective cell sees (built once per cell by :func:`evaluate`).

    A metric registered in :data:`acakit.registry.METRICS` is a function
    ``metric(result: CellResult, **params) -> float | dict[str, float]``; a float becomes the
    column named like the metric, a dict's keys become columns.

    Attributes
    ----------
    firm, clean_firm : fitted estimators
        Trained on the altered data, and on the clean data (f0).
    X_test, y_test :
        Fresh test data.
    feature_map : callable
        The collective's signal g.
    targets : set of int
        The target set Y* (empty for erasure).
    pred_signal, pred, clean_pred : ndarray
        ``firm.predict(g(X_test))``, ``firm.predict(X_test)``, ``clean_firm.predict(X_test)``.
    confidence : float
    """

    firm: Any
    clean_firm: Any
    X_test: Any
    y_test: np.ndarray
    feature_map: Any
    targets: set[int]
    pred_signal: np.ndarray
    pred: np.ndarray
    clean_pred: np.ndarray
    confidence: float = 0.95


def _success(r: CellResult) -> dict[str, Any]:
    """Pr[f(g(x)) in Y*] on test points outside Y* (and over all points), with Wilson intervals."""
    return planting_success(r.pred_signal, r.y_test, r.targets, r.confidence) if r.targets else {}


def _erasure_success(r: CellResult) -> dict[str, Any]:
    """Pr[f(g(x)) = f0(x)]: the signal changes nothing the clean firm would have said."""
    return rate(r.pred_signal == r.clean_pred, "erasure_success", r.confidence)


def _accuracy(r: CellResult) -> dict[str, Any]:
    """Clean test accuracy of the firm and of f0, the drop, and whether f0 is trivial."""
    out = rate(r.pred == r.y_test, "accuracy", r.confidence)
    out["clean_accuracy"] = float(np.mean(r.clean_pred == r.y_test))
    out["trivial_firm"] = trivial_firm(r.clean_pred, r.y_test)
    out["accuracy_drop"] = out["clean_accuracy"] - out["accuracy"]
    return out


def metric_columns(name: str, value: Any) -> dict[str, Any]:
    """The columns of one metric's value: a number under the metric's name, a dict as is.

    Raises
    ------
    TypeError
        Neither a number nor a dict of numbers (named in the message).
    """
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"metric {name!r} returned {type(value).__name__}, not a number or a "
                        "dict of numbers")
    return {name: float(value)}


def evaluate(
    firm: Any,
    clean_firm: Any,
    X_test: Any,
    y_test: np.ndarray,
    feature_map: Any,
    targets: Iterable[int],
    confidence: float = 0.95,
    clean_pred: np.ndarray | None = None,
    metrics: Iterable[tuple[str, dict[str, Any]]] = (),
) -> dict[str, Any]:
    """All metrics of one cell: the built-in ones of :data:`acakit.registry.METRICS`, then
    ``metrics``.

    Parameters
    ----------
    firm : fitted estimator
        Trained on the altered data.
    clean_firm : fitted estimator
        Trained on the clean data (f0).
    X_test, y_test :
        Fresh test data.
    feature_map : callable
        The collective's signal g.
    targets : iterable of int
        The target set (empty for erasure: only erasure metrics are reported then).
    confidence : float, default=0.95
    clean_pred : array, optional
        ``clean_firm.predict(X_test)`` if already computed.
    metrics : iterable of (name, params)
        Further metrics by registry name (plugins or Python objects), each called as
        ``metric(CellResult, **params)``.

    Returns
    -------
    dict
        Rates with their intervals, ``accuracy``, ``clean_accuracy``, ``accuracy_drop`` and
        ``trivial_firm`` (why the clean firm f0 is trivial, see :func:`trivial_firm`, or ``""``),
        then each further metric's columns (:func:`metric_columns`).

    Raises
    ------
    RuntimeError
        A further metric raised or returned something else than numbers; the message names it
        (and the plugin's distribution where it comes from one), so a stored failure says which.
    """
    y_test = np.asarray(y_test)
    gx = feature_map(X_test)
    f0 = np.asarray(clean_firm.predict(X_test)) if clean_pred is None else clean_pred
    result = CellResult(firm, clean_firm, X_test, y_test, feature_map, set(targets),
                        np.asarray(firm.predict(gx)), np.asarray(firm.predict(X_test)),
                        np.asarray(f0), confidence)
    out: dict[str, Any] = {}
    for name in METRICS.builtins():
        out |= METRICS[name](result)
    for name, params in metrics:
        try:
            out |= metric_columns(name, METRICS[name](result, **params))
        except Exception as e:
            where = METRICS.origin(name).label() if name in METRICS else "unknown"
            raise RuntimeError(f"metric {name!r} ({where}) failed: {type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''}") from e
    return out


METRICS.register("success", _success)
METRICS.register("erasure_success", _erasure_success)
METRICS.register("accuracy", _accuracy)


#: a firm whose clean predictions are one class on at least this share of test points is trivial
TRIVIAL_SHARE = 0.99


def trivial_firm(y_pred: ArrayLike, y_true: ArrayLike | None = None,
                 share: float = TRIVIAL_SHARE) -> str:
    """Why a firm's predictions are trivial, or ``""`` when they are not.

    A firm is flagged when one class takes at least ``share`` of its predictions, or (given the
    true labels) when its accuracy does not beat always predicting the majority class. Numbers
    measured on such a firm (success, fairness gaps, erasure) say little about the collective.

    Parameters
    ----------
    y_pred : array-like
        The firm's predictions on clean test points.
    y_true : array-like, optional
        True labels of the same points.
    share : float, default=0.99

    Returns
    -------
    str
        A one-line reason naming the numbers, or ``""``.

    Examples
    --------
    >>> trivial_firm([0] * 995 + [1] * 5)
    'predicts one class (0) on 99.5% of test points'
    >>> trivial_firm([0, 1, 1, 0], [0, 1, 1, 0])
    ''
    """
    pred = np.asarray(y_pred)
    if pred.size == 0:
        return ""
    values, counts = np.unique(pred, return_counts=True)
    top = int(np.argmax(counts))
    if counts[top] / pred.size >= share:
        return (f"predicts one class ({values[top]}) on {100 * counts[top] / pred.size:.1f}% "
                "of test points")
    if y_true is not None:
        true = np.asarray(y_true)
        _, true_counts = np.unique(true, return_counts=True)
        base = float(true_counts.max() / true.size)
        acc = float(np.mean(pred == true))
        if acc <= base:
            return (f"accuracy {acc:.3f} does not beat the majority-class rate {base:.3f}")
    return ""


def seed_interval(values: ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-seed values with a Student-t interval over seeds.

    Each seed redraws what a user cares about (who joins, the split, training), so the spread
    between seeds is the randomness the interval must cover. With fewer than two finite values
    the interval is ``(nan, nan)``: callers fall back to a within-run interval and say so.

    Parameters
    ----------
    values : array-like
        One value per seed (NaN values are ignored).
    confidence : float, default=0.95

    Returns
    -------
    mean, low, high : float
        ``mean ± t_{k−1} s / sqrt(k)`` with k finite values, clipped to ``[0, 1]`` only by the
        caller (the interval itself is not clipped).

    Examples
    --------
    >>> m, lo, hi = seed_interval([0.115, 0.189, 0.281])
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (0.195, -0.012, 0.402)
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


#: how a one-seed interval is named in tables and plot legends
WITHIN_RUN_METHOD = "Wilson, within-run only (1 seed)"


def interval_method(seeds: int, pooled: bool = True) -> str:
    """The name of a summary interval over ``seeds`` seeds, as tables and legends print it.

    ``pooled``: the t-interval was widened to the Wilson interval of the pooled test counts
    (False where no counts were given: the t-interval alone).

    Examples
    --------
    >>> interval_method(5)
    't over 5 seeds (>= pooled Wilson)'
    >>> interval_method(5, pooled=False)
    't over 5 seeds'
    >>> interval_method(1)
    'Wilson, within-run only (1 seed)'
    """
    if seeds < 2:
        return WITHIN_RUN_METHOD
    return f"t over {seeds} seeds" + (" (>= pooled Wilson)" if pooled else "")


def normalized_distance(thetas: ArrayLike, theta_start: ArrayLike,
                        theta_star: ArrayLike) -> np.ndarray:
    """``||θ_t − θ*|| / ||θ_0 − θ*||`` for each row θ_t of ``thetas`` (the parametric settings'
    success: 0 when the collective's θ* is reached, 1 where the firm started).

    Examples
    --------
    >>> normalized_distance([[2.0, 0.0], [1.0, 0.0]], [2.0, 0.0], [0.0, 0.0]).tolist()
    [1.0, 0.5]
    """
    T = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
    star = np.asarray(theta_star, dtype=np.float64).ravel()
    d0 = float(np.linalg.norm(np.asarray(theta_start, dtype=np.float64).ravel() - star))
    if d0 == 0:
        raise ValueError("θ* equals the starting point θ_0: the normalised distance is undefined")
    return np.linalg.norm(T - star, axis=1) / d0


def decision_success(pred: ArrayLike, clean_pred: ArrayLike, star_pred: ArrayLike) -> float:
    """Share of the test points whose decision the collective wanted changed (θ*'s decision
    differs from the clean model's) that now get θ*'s decision; ``nan`` if there is none.

    Examples
    --------
    >>> decision_success([1, 1, 0], [0, 0, 0], [1, 0, 0])
    1.0
    """
    pred, clean, star = (np.asarray(a) for a in (pred, clean_pred, star_pred))
    wanted = clean != star
    return float(np.mean(pred[wanted] == star[wanted])) if wanted.any() else float("nan")
