"""Filters that drop outliers of the features or of the firm's representation:
isolation forest, local outlier factor, spectral signatures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from acakit.firms.defenses.base import Defense, _check_frac, _dense


class IsolationForestDefense(Defense):
    """Drop feature outliers found by scikit-learn's ``IsolationForest``.

    Parameters
    ----------
    contamination : float or "auto", default=0.01
        Share of rows flagged as outliers.
    n_estimators : int, default=100
    random_state : int, default=0

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((50, 2)) + np.random.default_rng(0).normal(size=(50, 2)), [[9, 9]]]
    >>> w = IsolationForestDefense(contamination=0.02).weights(X, np.zeros(51), lambda: X)
    >>> bool(w[-1] == 0)
    True
    """

    def __init__(self, contamination: float | str = 0.01, n_estimators: int = 100,
                 random_state: int = 0) -> None:
        _check_frac("contamination", contamination, allow_auto=True)
        self.contamination = contamination
        self.n_estimators = int(n_estimators)
        self.random_state = random_state

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=self.n_estimators, contamination=self.contamination,
                                 random_state=self.random_state)
        return (forest.fit_predict(represent()) == 1).astype(float)


class LOFDefense(Defense):
    """Drop feature outliers found by scikit-learn's ``LocalOutlierFactor``.

    Parameters
    ----------
    contamination : float or "auto", default=0.01
    n_neighbors : int, default=20
    """

    def __init__(self, contamination: float | str = 0.01, n_neighbors: int = 20) -> None:
        _check_frac("contamination", contamination, allow_auto=True)
        self.contamination = contamination
        self.n_neighbors = int(n_neighbors)

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        from sklearn.neighbors import LocalOutlierFactor

        lof = LocalOutlierFactor(n_neighbors=self.n_neighbors, contamination=self.contamination)
        return (lof.fit_predict(represent()) == 1).astype(float)


class SpectralSignatures(Defense):
    """Spectral signatures (Tran, Li, Madry, NeurIPS 2018), a documented numpy SVD.

    For each class c, the representations R_c of its training rows are centred; every row's
    score is its squared projection on the top right singular vector of the centred matrix, and
    the ``multiplier * eps`` share of the class with the largest scores is dropped (the paper
    removes 1.5 ε, ε an upper bound on the poisoned share). The representation is the firm's
    embedding when it has one (``embed``, e.g. the MiniLM firm), else its featurizer's output.

    Parameters
    ----------
    eps : float, default=0.05
        Upper bound on the share of poisoned rows in a class.
    multiplier : float, default=1.5
    max_features : int, default=2000
        Sparse representations (TF-IDF) are reduced to their ``max_features`` most frequent
        columns before the SVD.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> R = rng.normal(size=(200, 5)); R[:10, 0] += 6
    >>> w = SpectralSignatures(eps=0.05).weights(R, np.zeros(200), lambda: R)
    >>> int((w[:10] == 0).sum())
    10
    """

    def __init__(self, eps: float = 0.05, multiplier: float = 1.5, max_features: int = 2000) -> None:
        _check_frac("eps", eps)
        self.eps = float(eps)
        self.multiplier = float(multiplier)
        self.max_features = int(max_features)

    def scores(self, R: Any, y: np.ndarray) -> np.ndarray:
        """The outlier score of every row within its class."""
        if hasattr(R, "toarray") and R.shape[1] > self.max_features:
            mass = np.asarray(abs(R).sum(axis=0)).ravel()
            R = R[:, np.argsort(-mass)[: self.max_features]]
        R = _dense(R)
        y = np.asarray(y)
        out = np.zeros(len(y))
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            if len(rows) < 3:
                continue
            M = R[rows] - R[rows].mean(axis=0)
            _, _, vt = np.linalg.svd(M, full_matrices=False)
            out[rows] = (M @ vt[0]) ** 2
        return out

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        s = self.scores(represent(), y)
        keep = np.ones(len(y))
        y = np.asarray(y)
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            k = int(np.floor(self.multiplier * self.eps * len(rows)))
            if k > 0:
                keep[rows[np.argsort(-s[rows], kind="stable")[:k]]] = 0.0
        return keep
