"""A researcher's own strategy, firm, data set and metric for acakit (docs/extending.md).

Everything here uses acakit's public API; ``tests/test_extending.py`` runs each piece, and
``custom_firm.yaml`` names :class:`ShrunkLogisticRegression` from a config (run it with
``--allow-module my_extensions`` and this folder on ``PYTHONPATH``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from acakit.data.base import Dataset
from acakit.strategies import Strategy


# --------------------------------------------------------------------------- a feature map g
class ScaleColumn:
    """g(x): multiply one numeric column by ``factor`` (a signal of chosen strength)."""

    kind = "tabular"

    def __init__(self, column: str, factor: float) -> None:
        self.column = column
        self.factor = float(factor)

    def __call__(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        out[self.column] = out[self.column] * self.factor
        return out


# --------------------------------------------------------------------------- a strategy h = (g, label rule)
class PlantIfUnsure(Strategy):
    """Plant g(x) and label y* only where the member's own label is not already y*; members
    of the target class report their data unchanged (a label rule of one's own)."""

    name = "plant_if_unsure"

    def __init__(self, feature_map: Any, target: int) -> None:
        self.feature_map = feature_map
        self.target = int(target)

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        y = np.asarray(y)
        act = y != self.target
        Xg = self.feature_map(X)
        X_new = X.copy()
        X_new.loc[act] = Xg.loc[act]
        return X_new, np.where(act, self.target, y).astype(np.int64)


# --------------------------------------------------------------------------- a firm
class ShrunkLogisticRegression(ClassifierMixin, BaseEstimator):
    """A scikit-learn compatible firm: logistic regression with a fixed strong L2 penalty.

    Any class with ``fit``, ``predict`` and ``get_params`` is a firm; acakit puts its
    featurizer (one-hot, scaling) in front of it.
    """

    def __init__(self, C: float = 0.1) -> None:
        self.C = C

    def fit(self, X: Any, y: np.ndarray) -> ShrunkLogisticRegression:
        self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(X)


# --------------------------------------------------------------------------- a data set
def make_loans(n: int = 3000, seed: int = 0) -> Dataset:
    """A small synthetic loan data set as an acakit :class:`~acakit.data.base.Dataset`."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.4, n)
    amount = rng.uniform(1e3, 4e4, n)
    region = rng.choice(["north", "south", "east"], n)
    logit = 1.5 * (np.log(income) - 10.5) / 0.4 - (amount - 2e4) / 1e4
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X = pd.DataFrame({"income": income, "amount": amount, "region": region})
    return Dataset(name="loans", X=X, y=y, classes=["rejected", "approved"], kind="tabular",
                   feature_types={"income": "numeric", "amount": "numeric",
                                  "region": "categorical"})


# --------------------------------------------------------------------------- a metric
def signal_lift(firm: Any, clean_firm: Any, X_test: Any, feature_map: Any, target: int) -> float:
    """How much the collective taught the firm: the share of test points that the firm
    classifies as ``target`` once the signal g is on them, minus that share for the firm
    trained on clean data."""
    gx = feature_map(X_test)
    return float(np.mean(firm.predict(gx) == target) - np.mean(clean_firm.predict(gx) == target))
