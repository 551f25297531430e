"""Firm-side fairness baselines on the same data and model as the collective.

What the firm could do itself, to compare with what the minority's collective achieves:

- ``exp_grad_eo`` / ``exp_grad_dp``: fairlearn ``ExponentiatedGradient`` with ``EqualizedOdds``
  / ``DemographicParity`` constraints around the firm's model;
- ``threshold_eo``: fairlearn ``ThresholdOptimizer`` (equalized-odds post-processing, uses
  the group at prediction time);
- ``reweighing``: AIF360 ``Reweighing`` instance weights, then the firm's model;
- ``massaging``: Kamiran & Calders (2012) label massaging: a ranker (the firm's model on the
  clean data) promotes the M highest-ranked unfavourable minority points and demotes the M
  lowest-ranked favourable majority points, M = disc * |min| * |maj| / n chosen to equalise the
  favourable rates; then the firm trains on the massaged labels. Neither fairlearn nor AIF360
  ships it, so it is written here.
- ``none``: the firm's model, unchanged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import clone

from acakit.data.base import Dataset
from acakit.fairness.groups import GroupSpec
from acakit.firms import make_firm

#: baseline name -> description
BASELINES: dict[str, str] = {
    "none": "the firm's model on clean data",
    "exp_grad_eo": "fairlearn ExponentiatedGradient, EqualizedOdds",
    "exp_grad_dp": "fairlearn ExponentiatedGradient, DemographicParity",
    "threshold_eo": "fairlearn ThresholdOptimizer, equalized_odds",
    "reweighing": "AIF360 Reweighing + the firm's model",
    "massaging": "Kamiran-Calders label massaging + the firm's model",
}


def _import_reweighing() -> Any:
    """Import AIF360 quietly (it logs warnings about optional extras on import)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from aif360.algorithms.preprocessing import Reweighing
            from aif360.datasets import BinaryLabelDataset
    finally:
        root.setLevel(level)
    return Reweighing, BinaryLabelDataset


def reweighing_weights(y_fav: np.ndarray, minority: np.ndarray) -> np.ndarray:
    """AIF360 ``Reweighing`` instance weights for labels (1 = favourable) and a minority mask.

    Examples
    --------
    >>> import numpy as np
    >>> w = reweighing_weights(np.array([1, 0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 1, 0], bool))
    >>> np.round(w, 2).tolist()
    [0.75, 1.5, 0.75, 0.75, 1.5, 0.75]
    """
    import pandas as pd

    Reweighing, BinaryLabelDataset = _import_reweighing()
    df = pd.DataFrame({"minority": np.asarray(minority, dtype=float),
                       "label": np.asarray(y_fav, dtype=float)})
    bld = BinaryLabelDataset(df=df, label_names=["label"], protected_attribute_names=["minority"],
                             favorable_label=1.0, unfavorable_label=0.0)
    rw = Reweighing(unprivileged_groups=[{"minority": 1.0}], privileged_groups=[{"minority": 0.0}])
    return np.asarray(rw.fit_transform(bld).instance_weights, dtype=float)


def massage_labels(y_fav: np.ndarray, minority: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Kamiran-Calders massaging of 0/1 labels given ranker scores P(favourable | x).

    Parameters
    ----------
    y_fav : array of {0, 1}
        Labels, 1 = favourable.
    minority : array of bool
        Minority mask (everyone else is the majority).
    scores : array of float
        Ranker's probability of the favourable label.

    Returns
    -------
    y_massaged : ndarray
    M : int
        Number of promotions (= number of demotions).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 1, 1, 0, 1, 0, 0, 0]); a = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    >>> s = np.array([.9, .8, .4, .1, .9, .7, .2, .1])
    >>> massage_labels(y, a, s)
    (array([1, 1, 0, 0, 1, 1, 0, 0]), 1)
    """
    y = np.asarray(y_fav).copy()
    a = np.asarray(minority, dtype=bool)
    n, n_min, n_maj = len(y), int(a.sum()), int((~a).sum())
    disc = y[~a].mean() - y[a].mean()
    m = max(0, int(round(disc * n_min * n_maj / n)))
    promote = np.flatnonzero(a & (y == 0))
    demote = np.flatnonzero(~a & (y == 1))
    m = min(m, len(promote), len(demote))
    if m:
        y[promote[np.argsort(-scores[promote], kind="stable")[:m]]] = 1
        y[demote[np.argsort(scores[demote], kind="stable")[:m]]] = 0
    return y, m


class FirmBaseline:
    """A firm-side fairness intervention wrapped around the firm's model.

    Parameters
    ----------
    method : str
        One of :data:`BASELINES`.
    groups : GroupSpec
        Minority, majority, favourable label.
    firm : str, mapping or estimator, default="logistic_regression"
        The firm's model (see :func:`acakit.firms.make_firm`).
    firm_params : mapping, optional
    eps : float, default=0.01
        Allowed constraint violation of ExponentiatedGradient.
    seed : int or None, default=0
        Seeds ThresholdOptimizer's randomised predictions.

    Examples
    --------
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=400, seed=0)
    >>> b = FirmBaseline("reweighing", GroupSpec({"group": "minority"})).fit(ds)
    >>> b.predict(ds).shape
    (400,)
    """

    def __init__(self, method: str, groups: GroupSpec, firm: Any = "logistic_regression",
                 firm_params: Mapping[str, Any] | None = None, eps: float = 0.01,
                 seed: int | None = 0) -> None:
        self.method = method
        self.groups = groups
        self.firm = firm
        self.firm_params = firm_params
        self.eps = eps
        self.seed = seed

    def _model(self, train: Dataset) -> Any:
        return make_firm(self.firm, train, self.firm_params)

    def fit(self, train: Dataset) -> FirmBaseline:
        """Fit on clean training data; returns ``self``."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="fairlearn")  # pandas deprecation noise
            return self._fit(train)

    def _fit(self, train: Dataset) -> FirmBaseline:
        if self.method not in BASELINES:
            raise ValueError(f"baselines: {self.method!r} is not one of {', '.join(BASELINES)}")
        self.groups.validate(train)
        fav = self.groups.favorable_code(train)
        y = (np.asarray(train.y) == fav).astype(np.int64)
        minority = self.groups.minority_mask(train)
        sens = self.groups.indicator(train)
        model = self._model(train)
        self.info_: dict[str, Any] = {}
        if self.method == "none":
            self.model_ = model.fit(train.X, y)
        elif self.method in ("exp_grad_eo", "exp_grad_dp"):
            from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient

            constraint = EqualizedOdds() if self.method == "exp_grad_eo" else DemographicParity()
            name = _sample_weight_name(model)
            self.model_ = ExponentiatedGradient(model, constraint, eps=self.eps,
                                                sample_weight_name=name)
            self.model_.fit(train.X, y, sensitive_features=sens)
        elif self.method == "threshold_eo":
            from fairlearn.postprocessing import ThresholdOptimizer

            self.model_ = ThresholdOptimizer(estimator=model, constraints="equalized_odds",
                                             predict_method="predict_proba")
            self.model_.fit(train.X, y, sensitive_features=sens)
        elif self.method == "reweighing":
            w = reweighing_weights(y, minority)
            self.model_ = model.fit(train.X, y, **{_sample_weight_name(model): w})
        else:  # massaging
            ranker = clone(model).fit(train.X, y)
            scores = ranker.predict_proba(train.X)[:, list(ranker.classes_).index(1)]
            y_m, m = massage_labels(y, minority, scores)
            self.info_["n_flips"] = 2 * m
            self.model_ = model.fit(train.X, y_m)
        return self

    def predict(self, test: Dataset) -> np.ndarray:
        """Predicted labels on a data set, 1 = favourable."""
        if self.method == "threshold_eo":
            return np.asarray(self.model_.predict(test.X, sensitive_features=self.groups.indicator(test),
                                                  random_state=self.seed))
        if self.method in ("exp_grad_eo", "exp_grad_dp"):
            return np.asarray(self.model_.predict(test.X, random_state=self.seed))
        return np.asarray(self.model_.predict(test.X))


def _sample_weight_name(model: Any) -> str:
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return f"{model.steps[-1][0]}__sample_weight"
    return "sample_weight"
