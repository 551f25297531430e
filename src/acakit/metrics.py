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
from typing import Any

import numpy as np
from scipy.stats import binomtest


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


def evaluate(
    firm: Any,
    clean_firm: Any,
    X_test: Any,
    y_test: np.ndarray,
    feature_map: Any,
    targets: Iterable[int],
    confidence: float = 0.95,
    clean_pred: np.ndarray | None = None,
) -> dict[str, float]:
    """All metrics of one cell.

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

    Returns
    -------
    dict
    """
    y_test = np.asarray(y_test)
    gx = feature_map(X_test)
    pred_signal = np.asarray(firm.predict(gx))
    pred_clean_x = np.asarray(firm.predict(X_test))
    f0 = np.asarray(clean_firm.predict(X_test)) if clean_pred is None else clean_pred
    out: dict[str, float] = {}
    tset = set(targets)
    if tset:
        out |= planting_success(pred_signal, y_test, tset, confidence)
    out |= rate(pred_signal == f0, "erasure_success", confidence)
    out |= rate(pred_clean_x == y_test, "accuracy", confidence)
    out["clean_accuracy"] = float(np.mean(f0 == y_test))
    out["accuracy_drop"] = out["clean_accuracy"] - out["accuracy"]
    return out
