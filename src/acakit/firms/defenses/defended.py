"""The defended firm: :class:`DefendedClassifier` sanitises its training data with a defense
built by :func:`make_defense`, then fits the firm it wraps."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from acakit.firms.defenses.base import Defense
from acakit.firms.defenses.labels import ConfidentLearning
from acakit.registry import DEFENSES_REGISTRY as DEFENSES


def make_defense(name: str, params: Mapping[str, Any] | None = None) -> Defense:
    """Build a defense from its name and parameters.

    Raises
    ------
    ValueError
        ``firm.defense.name: ...`` or ``firm.defense.params: ...`` (one line).

    Examples
    --------
    >>> make_defense("min_df", {"min_df": 3})
    MinDF(min_df=3, token_pattern='\\\\w+|[^\\\\w\\\\s]', rare_value='__rare__')
    """
    if name not in DEFENSES:
        raise ValueError(f"firm.defense.name: {name!r} is not one of none, {', '.join(DEFENSES)}")
    if not DEFENSES.is_builtin(name):
        from acakit.registry import params_problem

        problem = params_problem(DEFENSES.object(name), dict(params or {}))
        if problem:
            raise ValueError(f"firm.defense.params.{problem}")
    try:
        from acakit.firms.trust import check_sizes

        check_sizes(params, "firm.defense.params")
        return DEFENSES[name][0](**dict(params or {}))
    except TypeError as e:
        raise ValueError(f"firm.defense.params: {e}") from None
    except ValueError as e:
        msg = str(e).splitlines()[0]
        raise ValueError(msg if msg.startswith("firm.") else f"firm.defense.params.{msg}") from None


def _fit_params_for_weights(est: Any, w: np.ndarray) -> dict[str, Any]:
    if isinstance(est, Pipeline):
        return {f"{est.steps[-1][0]}__sample_weight": w}
    return {"sample_weight": w}


class DefendedClassifier(ClassifierMixin, BaseEstimator):
    """A firm that sanitises its training data with a defense before it fits.

    Parameters
    ----------
    estimator : estimator or str
        The firm (a classifier or pipeline; cloned at fit), or the name of a bare firm of
        :data:`acakit.firms.FIRMS` (built without a featurizer: the wrapper is then itself the
        ``model`` step of a firm pipeline, see below).
    defense : Defense or mapping
        A filter (rows with weight 0 are dropped; fractional weights go to the estimator's
        ``sample_weight``) or a transform (applied at fit and prediction time).
    representation : transformer, optional
        What filters that need numbers read (cloned and fitted on the training rows) when the
        firm has no ``embed`` and is not a pipeline starting with a featurizer.

    Notes
    -----
    Named by its dotted path with JSON parameters, the wrapper works in configs whose engine
    does not pass ``defense`` to :func:`acakit.firms.make_firm` (e.g. ``experiment:
    fairness``): ``firm: {name: acakit.firms.defenses.DefendedClassifier, params: {estimator:
    logistic_regression, defense: {name: confident_learning}}}``; :func:`acakit.firms.make_firm`
    puts the data's featurizer in front of it, so the defense reads featurized rows.

    Attributes
    ----------
    weights_ : numpy.ndarray
        The defense's weight of every training row (1 for a transform).
    keep_mask_ : numpy.ndarray of bool
        ``weights_ > 0``.
    estimator_ : estimator
        The fitted firm.
    defense_seconds_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from acakit.firms.defenses import Duplicates
    >>> X = np.r_[np.zeros((30, 1)), np.ones((30, 1))]; y = np.r_[np.zeros(30), np.ones(30)]
    >>> f = DefendedClassifier(LogisticRegression(), Duplicates()).fit(X, y)
    >>> int(f.keep_mask_.sum())
    2
    """

    def __init__(self, estimator: Any = None, defense: Defense | Mapping[str, Any] | None = None,
                 representation: Any = None) -> None:
        self.estimator = estimator
        self.defense = defense
        self.representation = representation

    def _estimator(self) -> Any:
        if not isinstance(self.estimator, str):
            return self.estimator
        from acakit.registry import FIRMS_REGISTRY as FIRMS

        if self.estimator not in FIRMS:
            raise ValueError(f"firm.params.estimator: {self.estimator!r} is not one of "
                             f"{', '.join(FIRMS)}")
        return FIRMS[self.estimator][0]()

    def _represent(self, X: Any) -> Callable[[], Any]:
        est = self._estimator()

        def compute() -> Any:
            if hasattr(est, "embed"):
                return est.embed(X)
            if isinstance(est, Pipeline) and len(est.steps) > 1 and hasattr(est.steps[0][1],
                                                                            "transform"):
                return clone(est.steps[0][1]).fit_transform(X)
            if self.representation is not None:
                return clone(self.representation).fit_transform(X)
            return X

        return compute

    def fit(self, X: Any, y: Any) -> DefendedClassifier:
        import time

        if self.defense is None:
            raise ValueError("DefendedClassifier: no defense given")
        y = np.asarray(y)
        t0 = time.perf_counter()
        if isinstance(self.defense, Mapping):
            d = dict(self.defense)
            self.defense_ = make_defense(str(d.get("name")), d.get("params"))
        else:
            self.defense_ = copy.deepcopy(self.defense)
        if self.defense_.acts == "transform":
            self.defense_.fit(X, y)
            X = self.defense_.transform(X)
            w = np.ones(len(y))
        else:
            if isinstance(self.defense_, ConfidentLearning):
                self.defense_._firm = self._estimator()
            w = np.asarray(self.defense_.weights(X, y, self._represent(X)), dtype=float)
            if isinstance(self.defense_, ConfidentLearning):
                self.defense_._firm = None
        keep = w > 0
        if keep.sum() == 0 or len(np.unique(y[keep])) < len(np.unique(y)):
            keep = np.ones(len(y), dtype=bool)  # never leave a class (or the data) empty
        self.defense_seconds_ = time.perf_counter() - t0
        self.weights_ = np.where(keep, w, 0.0) if keep.sum() < len(y) else w
        self.keep_mask_ = keep
        self.estimator_ = clone(self._estimator())
        Xk = X.iloc[keep] if isinstance(X, pd.DataFrame) else (
            [t for t, k in zip(X, keep, strict=True) if k] if isinstance(X, list) else
            np.asarray(X)[keep] if not hasattr(X, "tocsr") else X[keep])
        wk = w[keep]
        if np.all(wk == 1.0):
            self.estimator_.fit(Xk, y[keep])
        else:
            self.estimator_.fit(Xk, y[keep], **_fit_params_for_weights(self.estimator_, wk))
        self.classes_ = getattr(self.estimator_, "classes_", np.unique(y))
        return self

    def _seen(self, X: Any) -> Any:
        check_is_fitted(self, "estimator_")
        return self.defense_.transform(X) if self.defense_.acts == "transform" else X

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the fitted firm (after the defense's transform)."""
        return np.asarray(self.estimator_.predict(self._seen(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the fitted firm, if it has them."""
        return np.asarray(self.estimator_.predict_proba(self._seen(X)))

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision scores of the fitted firm, if it has them."""
        return np.asarray(self.estimator_.decision_function(self._seen(X)))

    def embed(self, X: Any) -> np.ndarray:
        """The firm's embeddings (only for firms that have ``embed``)."""
        return np.asarray(self.estimator_.embed(self._seen(X)))
