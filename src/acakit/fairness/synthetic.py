"""A synthetic minority/majority data set whose counterfactual is known exactly.

Both groups draw features x ~ N(mu_a, I); labels follow a logistic model,

    majority:  P(y = 1 | x) = sigmoid(w.x + b)
    minority:  P(y = 1 | x) = sigmoid(w.x + b - bias),

so the minority is held to a harsher rule. The counterfactual of a minority point, "what its
label would be had it been treated like the majority", has the known posterior
sigmoid(w.x + b), and the ideal relabeling (signal erasure with g = x_{A<-0}) is exactly
``y -> argmax_y' P_majority(y' | x)``. :func:`ideal_relabeling` computes it, so any method's
flips can be scored against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from acakit.data.base import Dataset


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def make_minority_synthetic(
    n_samples: int = 4000,
    minority_share: float = 0.3,
    n_features: int = 5,
    bias: float = 1.0,
    minority_shift: float = 0.5,
    intercept: float = -0.5,
    seed: int | None = 0,
) -> Dataset:
    """Generate the synthetic minority data set.

    Parameters
    ----------
    n_samples : int, default=4000
        Rows.
    minority_share : float, default=0.3
        Probability that a row belongs to the minority, in (0, 1).
    n_features : int, default=5
        Number of Gaussian features ``x0 .. x{d-1}``.
    bias : float, default=1.0
        How much harsher the minority's labelling rule is (logit shift, >= 0).
    minority_shift : float, default=0.5
        Shift of the minority's feature mean along ``x0`` (covariate shift).
    intercept : float, default=-0.5
        b of the majority's rule (negative: the favourable label is the rarer one). With the
        defaults about 30% of a collective's candidates are flipped by the ideal relabeling,
        which is also the precision of random flipping; a ratio to random above 2 is only
        possible when that share is below one half.
    seed : int or None, default=0

    Returns
    -------
    Dataset
        Tabular; features ``x0..`` plus the categorical column ``group`` (also the sensitive
        attribute); classes ``["negative", "positive"]`` (1 = favourable). ``meta`` holds
        ``weights``, ``intercept`` and ``bias`` (see :func:`counterfactual_proba`).

    Examples
    --------
    >>> ds = make_minority_synthetic(n_samples=100, seed=0)
    >>> sorted(ds.sensitive["group"].unique())
    ['majority', 'minority']
    """
    if n_samples < 2:
        raise ValueError(f"n_samples: {n_samples} must be >= 2")
    if not 0 < minority_share < 1:
        raise ValueError(f"minority_share: {minority_share} is not in (0, 1)")
    if n_features < 1:
        raise ValueError(f"n_features: {n_features} must be >= 1")
    if bias < 0:
        raise ValueError(f"bias: {bias} must be >= 0")
    rng = check_random_state(seed)
    w = rng.normal(size=n_features)
    w *= 1.5 / np.linalg.norm(w)
    minority = rng.random_sample(n_samples) < minority_share
    X = rng.normal(size=(n_samples, n_features))
    X[minority, 0] += minority_shift
    logit = X @ w + intercept - bias * minority
    y = (rng.random_sample(n_samples) < _sigmoid(logit)).astype(np.int64)
    cols = [f"x{i}" for i in range(n_features)]
    frame = pd.DataFrame(X, columns=cols)
    frame["group"] = np.where(minority, "minority", "majority").astype(object)
    types = {c: "numeric" for c in cols} | {"group": "categorical"}
    return Dataset(
        name="minority_synthetic", X=frame, y=y, classes=["negative", "positive"], kind="tabular",
        sensitive=frame[["group"]].copy(), feature_types=types,
        meta={"weights": w, "intercept": float(intercept), "bias": float(bias),
              "feature_columns": cols},
    )


def counterfactual_proba(dataset: Dataset, X: Any = None) -> np.ndarray:
    """P(y = 1 | x) under the majority's rule: the exact counterfactual posterior.

    Parameters
    ----------
    dataset : Dataset
        Made by :func:`make_minority_synthetic` (its ``meta`` is used; ``dataset.X`` is the
        default ``X``).
    X : DataFrame, optional
        Rows to evaluate (default: all rows of ``dataset``).

    Returns
    -------
    numpy.ndarray of float
    """
    meta = dataset.meta
    if "weights" not in meta:
        raise ValueError(f"dataset: {dataset.name} has no known counterfactual "
                         "(use make_minority_synthetic)")
    X = dataset.X if X is None else X
    Z = np.asarray(X[meta["feature_columns"]], dtype=float)
    return _sigmoid(Z @ meta["weights"] + meta["intercept"])


def ideal_relabeling(dataset: Dataset, rows: np.ndarray | None = None) -> np.ndarray:
    """Which rows the ideal relabeling flips: label 0 and ``argmax_y P_majority(y | x) = 1``.

    Parameters
    ----------
    dataset : Dataset
        Made by :func:`make_minority_synthetic`.
    rows : array of int, optional
        Positions to consider (e.g. a collective's members); default all.

    Returns
    -------
    numpy.ndarray of bool, one per considered row

    Examples
    --------
    >>> ds = make_minority_synthetic(n_samples=200, seed=0)
    >>> flip = ideal_relabeling(ds)
    >>> bool((ds.y[flip] == 0).all())
    True
    """
    rows = np.arange(len(dataset)) if rows is None else np.asarray(rows)
    p = counterfactual_proba(dataset)[rows]
    return (np.asarray(dataset.y)[rows] == 0) & (p > 0.5)


def flip_precision(dataset: Dataset, flipped: np.ndarray) -> float:
    """Share of flipped rows that the ideal relabeling also flips (NaN if nothing flipped)."""
    flipped = np.asarray(flipped)
    if not len(flipped):
        return float("nan")
    return float(ideal_relabeling(dataset, flipped).mean())
