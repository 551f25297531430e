"""Estimators of the quantities in the bounds (Δ, ξ, κ, per-point masses and gaps) from data.

Two routes, both vectorised (no Python loop over rows or feature combinations):

- **counting** (categorical tabular data): rows are hashed to cell keys, cells and classes are
  counted with ``np.unique``/``bincount`` (a vectorised group-by), and bootstrap confidence
  intervals resample the cell-by-class count table with one multinomial draw per replicate;
- **model** (continuous, text, image data): a calibrated reference classifier
  (``CalibratedClassifierCV``), cross-fitted (each row's P0(y | g(x)) comes from a model that
  never saw that row), gives the per-point gaps; row-bootstrap confidence intervals.

Signal set membership (is a base point already a signal point, ``x ∈ X*``?) is ``g(x) == x``
for idempotent feature maps (setting columns, stamping a patch); for a text trigger it is
"the trigger token occurs in the text".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state

from acakit.data.base import Dataset, take_rows
from acakit.strategies import InsertTrigger, SetColumns
from acakit.theory.finite import FiniteSampleBound, finite_sample_bound


def row_keys(X: Any) -> np.ndarray:
    """One uint64 key per row of a feature container (pandas' row hash; vectorised).

    Examples
    --------
    >>> import pandas as pd
    >>> k = row_keys(pd.DataFrame({"a": [1, 1, 2], "b": [0, 0, 0]}))
    >>> bool(k[0] == k[1]), bool(k[0] == k[2])
    (True, False)
    """
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X)
        frame = pd.DataFrame(arr.reshape(len(arr), -1) if arr.ndim != 1 else arr)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def in_signal_set(X: Any, feature_map: Any) -> np.ndarray:
    """Boolean mask: which rows already are signal points (``x ∈ X* = g(X)``).

    ``InsertTrigger``: the trigger token occurs in the text. Anything else: ``g(x) == x``
    (exact for idempotent maps such as ``SetColumns`` and ``StampPatch``).
    """
    if isinstance(feature_map, InsertTrigger):
        token = feature_map.token
        texts = pd.Series(np.asarray(X, dtype=object)).astype(str)
        return texts.str.split().apply(lambda words: token in words).to_numpy(dtype=bool) \
            if " " not in token else texts.str.contains(token, regex=False).to_numpy(dtype=bool)
    gx = feature_map(X)
    if isinstance(X, pd.DataFrame):
        return row_keys(gx) == row_keys(X)
    a, b = np.asarray(X, dtype=np.float64), np.asarray(gx, dtype=np.float64)
    return np.isclose(a, b).reshape(len(a), -1).all(axis=1)


def signal_set_size(dataset: Dataset, feature_map: Any) -> float:
    """``#X̃``: number of points ``g`` can produce, for categorical ``SetColumns`` signals.

    The feature space is taken as the product of the values each column takes in ``dataset``
    (so pass the whole data set the collective knows, not a small sample); the set columns are
    fixed, every other column ranges over its values.

    Raises
    ------
    ValueError
        For other feature maps or non-tabular data (give ``n_signal_points`` yourself).

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> ds = make_product_ratings(n_samples=500, n_features=4, n_values=3, seed=0)
    >>> signal_set_size(ds, SetColumns({"f0": 0, "f1": 0}))
    9.0
    """
    if not isinstance(feature_map, SetColumns) or not isinstance(dataset.X, pd.DataFrame):
        raise ValueError("n_signal_points: #X̃ is only computed for SetColumns on tabular data; "
                         "pass n_signal_points for other signals")
    free = [c for c in dataset.X.columns if c not in feature_map.values]
    nunique = dataset.X[free].nunique().to_numpy(dtype=np.float64)
    return float(np.prod(nunique)) if len(free) else 1.0


# --------------------------------------------------------------------------- infinite-data


@dataclass(frozen=True)
class SignalEstimate:
    """Estimates of the quantities of the infinite-data bounds, with bootstrap CIs.

    Attributes
    ----------
    gap : float
        Δ̂ = max over observed signal points of ``max_y P̂(y|x) − P̂(y*|x)``.
    signal_mass : float
        ξ̂ = share of base rows already in the signal set.
    gap_mass : float
        Σ over signal points of ``P̂(x) (max_y P̂(y|x) − P̂(y*|x))`` (<= Δ̂ ξ̂); the bounds hold
        with this in place of Δξ (it is what their proof sums).
    kappa : float
        κ̂ (feature-only distortion), 1 for other strategies or when not estimable.
    gap_ci, signal_mass_ci, gap_mass_ci : tuple of float
        Bootstrap percentile intervals at ``confidence``.
    method : {"count", "model"}
    n_rows : int
    confidence : float
    cells : DataFrame or None
        Counting route: one row per observed signal cell (``key``, ``count``, ``gap``).
    """

    gap: float
    signal_mass: float
    gap_mass: float
    kappa: float
    gap_ci: tuple[float, float]
    signal_mass_ci: tuple[float, float]
    gap_mass_ci: tuple[float, float]
    method: str
    n_rows: int
    confidence: float
    cells: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Scalars and intervals as a JSON-ready dict."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()
                if k != "cells"}


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = np.nanpercentile(samples, [50 * (1 - confidence), 50 * (1 + confidence)])
    return float(lo), float(hi)


def _is_categorical(dataset: Dataset) -> bool:
    return dataset.kind == "tabular" and all(
        t == "categorical" for t in dataset.feature_types.values()) and bool(dataset.feature_types)


def estimate_signal(
    dataset: Dataset,
    feature_map: Any,
    target: int,
    *,
    strategy: str = "plant",
    method: Literal["auto", "count", "model"] = "auto",
    reference: Any = "logistic_regression",
    n_boot: int = 200,
    confidence: float = 0.95,
    folds: int = 3,
    seed: int | None = 0,
) -> SignalEstimate:
    """Estimate Δ, ξ (and κ for feature-only planting) from base data.

    Parameters
    ----------
    dataset : Dataset
        Clean base data the collective can see (a sample of P0).
    feature_map : callable
        The signal g.
    target : int
        Target class code y*.
    strategy : str, default="plant"
        ``"plant_feature_only"`` also estimates κ = max_x P̂(g(X)=x) / P̂(g(X)=x | Y=y*).
    method : {"auto", "count", "model"}
        ``auto``: counting for all-categorical tabular data, the model otherwise.
    reference : str or estimator, default="logistic_regression"
        Reference classifier for the model route (a firm name or an estimator; calibrated and
        cross-fitted here).
    n_boot : int, default=200
        Bootstrap replicates (0: no intervals).
    confidence : float, default=0.95
    folds : int, default=3
        Cross-fitting folds (model route).
    seed : int or None, default=0

    Returns
    -------
    SignalEstimate

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> ds = make_product_ratings(n_samples=3000, n_features=3, n_values=2, n_classes=2,
    ...                           n_informative=1, purity=0.9, seed=0)
    >>> est = estimate_signal(ds, SetColumns({"f0": 0, "f1": 0, "f2": 0}), target=1, n_boot=0)
    >>> round(est.signal_mass, 2), est.method
    (0.12, 'count')
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: {confidence} is not in (0, 1)")
    target = dataset.class_index(target)
    if method == "auto":
        method = "count" if _is_categorical(dataset) else "model"
    rng = check_random_state(seed)
    if method == "count":
        est = _count_estimate(dataset, feature_map, target, n_boot, confidence, rng)
    elif method == "model":
        est = _model_estimate(dataset, feature_map, target, reference, n_boot, confidence, folds, rng)
    else:
        raise ValueError(f"method: {method!r} is not one of auto, count, model")
    kappa = 1.0
    if strategy == "plant_feature_only":
        kappa = _kappa(dataset, feature_map, target)
    return SignalEstimate(**est, kappa=kappa, method=method, n_rows=len(dataset),
                          confidence=confidence)


def _count_estimate(dataset: Dataset, g: Any, target: int, n_boot: int, confidence: float,
                    rng: np.random.RandomState) -> dict[str, Any]:
    N, K = len(dataset), dataset.n_classes
    y = np.asarray(dataset.y)
    inside = in_signal_set(dataset.X, g)
    keys = row_keys(dataset.X)[inside]
    cells, cell = np.unique(keys, return_inverse=True)
    counts = np.bincount(cell * K + y[inside], minlength=len(cells) * K).reshape(len(cells), K)

    def stats(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # c: (..., cells, K) counts; returns gap, signal_mass, gap_mass over the leading axes
        tot = c.sum(-1)
        diff = c.max(-1) - c[..., target]
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = np.where(tot > 0, diff / np.maximum(tot, 1), -np.inf)
        gap = np.maximum(cond.max(-1, initial=-np.inf), 0.0)
        return gap, tot.sum(-1) / N, diff.sum(-1) / N

    gap, xi, gm = (float(v) for v in stats(counts))
    cis = [(np.nan, np.nan)] * 3
    if n_boot > 0:
        p = np.append(counts.ravel(), N - counts.sum()) / N
        draws = rng.multinomial(N, p, size=n_boot)[:, :-1].reshape(n_boot, len(cells), K)
        cis = [_percentile_ci(s, confidence) for s in stats(draws)]
    table = pd.DataFrame({"key": cells, "count": counts.sum(1),
                          "gap": (counts.max(1) - counts[:, target]) / np.maximum(counts.sum(1), 1)})
    return {"gap": gap, "signal_mass": xi, "gap_mass": gm, "gap_ci": cis[0],
            "signal_mass_ci": cis[1], "gap_mass_ci": cis[2], "cells": table}


def _model_estimate(dataset: Dataset, g: Any, target: int, reference: Any, n_boot: int,
                    confidence: float, folds: int, rng: np.random.RandomState) -> dict[str, Any]:
    from acakit.firms import make_firm

    y = np.asarray(dataset.y)
    n = len(y)
    base = make_firm(reference, dataset) if isinstance(reference, str) else clone(reference)
    model = CalibratedClassifierCV(base, method="sigmoid", cv=3)
    gX = g(dataset.X)
    proba = np.zeros((n, dataset.n_classes))
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=rng.randint(2**31 - 1))
    for tr, te in skf.split(np.zeros(n), y):  # loop over folds (cross-fitting), not rows
        m = clone(model).fit(take_rows(dataset.X, tr), y[tr])
        p = m.predict_proba(take_rows(gX, te))
        proba[np.ix_(te, np.searchsorted(np.arange(dataset.n_classes), m.classes_))] = p
    gaps = proba.max(1) - proba[:, target]
    inside = in_signal_set(dataset.X, g).astype(np.float64)
    gap, xi = float(gaps.max()), float(inside.mean())
    gm = float(np.mean(inside * gaps))
    cis = [(np.nan, np.nan)] * 3
    if n_boot > 0:
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
        cis = [
            _percentile_ci(np.where(w > 0, gaps, -np.inf).max(1), confidence),
            _percentile_ci(w @ inside / n, confidence),
            _percentile_ci(w @ (inside * gaps) / n, confidence),
        ]
    return {"gap": gap, "signal_mass": xi, "gap_mass": gm, "gap_ci": cis[0],
            "signal_mass_ci": cis[1], "gap_mass_ci": cis[2], "cells": None}


def _kappa(dataset: Dataset, g: Any, target: int) -> float:
    """κ̂ = max over signal points of P̂(g(X) = x) / P̂(g(X) = x | Y = y*) (>= 1)."""
    y = np.asarray(dataset.y)
    keys = row_keys(g(dataset.X))
    u, inv = np.unique(keys, return_inverse=True)
    p_all = np.bincount(inv, minlength=len(u)) / len(y)
    is_t = y == target
    if not is_t.any():
        raise ValueError(f"target: class {target} has no rows; κ cannot be estimated")
    p_t = np.bincount(inv[is_t], minlength=len(u)) / is_t.sum()
    with np.errstate(divide="ignore"):
        ratio = np.where(p_t > 0, p_all / p_t, np.inf)
    return float(max(1.0, ratio.max()))


# --------------------------------------------------------------------------- finite-sample


def collective_statistics(
    X: Any,
    y: Any,
    feature_map: Any,
    target: int,
    strategy: str = "plant",
    avoid: int | None = None,
) -> pd.DataFrame:
    """Per-signal-point statistics of a collective's own sample (exact counting, vectorised).

    Parameters
    ----------
    X, y :
        The members' clean data (before they act), n rows.
    feature_map : callable
        The signal g.
    target : int
        y* (planting) or y' (unplanting: the label members report).
    strategy : {"plant", "plant_feature_only", "unplant"}
    avoid : int, optional
        y⁻ for unplanting (the label the collective wants the firm not to predict).

    Returns
    -------
    pandas.DataFrame
        One row per distinct ``g(x)`` in the sample: ``key``, ``mass`` ŵ, ``margin`` μ̂,
        ``gap`` Δ̂ (see :mod:`acakit.theory.finite`). For planting, Δ̂(x̃) =
        ``max_{y ≠ y*} P̂(x̃, y) − P̂(x̃, y*)`` over the members' original rows at ``x = x̃``
        (Gauthier et al.'s convention), negative where y* already leads there; for
        unplanting ``P̂(x̃, y⁻) − P̂(x̃, y')``. (The infinite-data estimates of
        :func:`estimate_signal` keep Hardt et al.'s ``max_y``, which is ``>= 0``.)

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [0, 0, 0, 1], "b": [0, 0, 0, 0]})
    >>> s = collective_statistics(X, [1, 1, 0, 1], SetColumns({"a": 0}), target=1)
    >>> s[["mass", "gap"]].to_numpy().tolist()  # at (0, 0): 1/4 of class 0, 2/4 of y* = 1
    [[1.0, -0.25]]
    """
    y = np.asarray(y)
    n = len(y)
    if n == 0:
        raise ValueError("the collective's sample is empty")
    if strategy == "unplant" and (avoid is None or avoid == target):
        raise ValueError("avoid: unplanting needs y⁻ (avoid) different from the reported label")
    n_cls = int(max(y.max(), target, -1 if avoid is None else avoid)) + 1
    gkeys = row_keys(feature_map(X))
    u, inv = np.unique(gkeys, return_inverse=True)
    mass = np.bincount(inv, minlength=len(u)) / n
    # joint counts of the members' *original* rows at each signal point
    xkeys = row_keys(X)
    pos = np.minimum(np.searchsorted(u, xkeys), len(u) - 1)
    hit = u[pos] == xkeys
    joint = np.bincount(pos[hit] * n_cls + y[hit], minlength=len(u) * n_cls).reshape(len(u), n_cls)
    joint = joint / n
    if strategy == "unplant":
        gap = joint[:, avoid] - joint[:, target]
        margin = mass
    else:
        # Gauthier et al.'s gap: the best *other* class against y*, negative where y* leads
        # (initial=0: a class absent from the sample has share 0)
        others = np.delete(joint, target, axis=1)
        best_other = others.max(1, initial=0.0)
        gap = best_other - joint[:, target]
        if strategy == "plant_feature_only":
            planted = np.bincount(inv[y == target], minlength=len(u)) / n
            margin = planted - best_other
        elif strategy == "plant":
            margin = mass
        else:
            raise ValueError(f"strategy: {strategy!r} is not one of plant, plant_feature_only, "
                             "unplant")
    return pd.DataFrame({"key": u, "mass": mass, "margin": margin, "gap": gap})


def finite_bound_from_sample(
    X: Any,
    y: Any,
    feature_map: Any,
    target: int,
    n_train: int,
    n_test: int | None = None,
    *,
    delta: float = 0.05,
    epsilon: float = 0.0,
    n_signal_points: float,
    n_classes: int,
    strategy: str = "plant",
    avoid: int | None = None,
) -> FiniteSampleBound:
    """The finite-sample bound a collective computes from its own clean sample ``(X, y)``.

    :func:`collective_statistics` then :func:`acakit.theory.finite.finite_sample_bound`; see
    there for the theorem (Gauthier, Bach, Jordan 2025, Section 3 and Algorithm 1).

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> ds = make_product_ratings(n_samples=20000, n_features=4, n_values=3, seed=0)
    >>> g = SetColumns({"f0": 0, "f1": 0, "f2": 0, "f3": 0})
    >>> b = finite_bound_from_sample(ds.X[:3000], ds.y[:3000], g, 1, n_train=14000,
    ...                              n_test=6000, n_signal_points=1, n_classes=3)
    >>> b.bound > 0.9, int(b.points["planted"].sum())
    (True, 1)
    """
    stats = collective_statistics(X, y, feature_map, target, strategy, avoid)
    return finite_sample_bound(
        stats["mass"], stats["margin"], stats["gap"], n=len(np.asarray(y)),
        n_train=n_train, n_test=n_test, delta=delta, epsilon=epsilon,
        n_signal_points=n_signal_points, n_classes=n_classes, strategy=strategy,  # type: ignore[arg-type]
        points=stats[["key"]],
    )
