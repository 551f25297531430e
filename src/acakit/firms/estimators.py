"""The plain scikit-learn firms by name: factories of bare estimators (no featurizer).

Kept apart from :data:`acakit.firms.FIRMS` (which adds the text, neural and theory firms) so that
a firm built on another one (:class:`acakit.firms.neural.JTTClassifier`'s base) reads this table
without importing the package that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

#: name -> (factory of the bare estimator, needs a featurizer, description)
SKLEARN_FIRMS: dict[str, tuple[Callable[..., Any], bool, str]] = {
    "logistic_regression": (
        lambda **p: LogisticRegression(**({"max_iter": 1000} | p)),
        True,
        "L2 logistic regression",
    ),
    "linear_svm": (lambda **p: LinearSVC(**p), True, "linear support vector machine"),
    "gradient_boosting": (
        lambda **p: HistGradientBoostingClassifier(**({"random_state": 0} | p)),
        True,
        "histogram gradient boosting",
    ),
    "random_forest": (
        lambda **p: RandomForestClassifier(**({"n_estimators": 100, "random_state": 0} | p)),
        True,
        "random forest",
    ),
    "mlp": (
        lambda **p: MLPClassifier(**({"hidden_layer_sizes": (64,), "max_iter": 300,
                                      "random_state": 0} | p)),
        True,
        "multi-layer perceptron",
    ),
}
