"""Firms and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from acakit.firms import EmpiricalBayesClassifier, check_firm_name, make_firm
from acakit.metrics import binomial_ci, evaluate, planting_success


def test_empirical_bayes_matches_groupby(ratings_split):
    train, test = ratings_split
    f = EmpiricalBayesClassifier().fit(train.X, train.y)
    # brute force: most frequent label per distinct row (ties -> smallest code)
    df = train.X.copy()
    df["y"] = train.y
    cols = list(train.X.columns)
    counts = df.groupby(cols + ["y"]).size().unstack(fill_value=0)
    expected = counts.to_numpy().argmax(axis=1)
    keys = counts.index.to_frame(index=False)
    np.testing.assert_array_equal(f.predict(keys[cols]), counts.columns.to_numpy()[expected])
    # unseen cells fall back to the most frequent class
    unseen = test.X.head(3).copy()
    unseen["f0"] = 99
    assert (f.predict(unseen) == np.bincount(train.y).argmax()).all()
    np.testing.assert_allclose(f.predict_proba(test.X).sum(axis=1), 1.0)


TABULAR_FIRMS = ["logistic_regression", "linear_svm", "gradient_boosting", "random_forest", "mlp"]


@pytest.mark.parametrize("name", TABULAR_FIRMS)
def test_every_named_firm_fits_tabular(name, ratings_split):
    train, test = ratings_split
    f = make_firm(name, train).fit(train.X.head(600), train.y[:600])
    assert (f.predict(test.X) == test.y).mean() > 0.45  # far above 1/3 chance


def test_dotted_path_firm_and_errors(ratings_split):
    train, _ = ratings_split
    f = make_firm("sklearn.tree.DecisionTreeClassifier", train, {"max_depth": 3})
    assert isinstance(f, Pipeline) and f.named_steps["model"].max_depth == 3
    with pytest.raises(ValueError, match="cannot import 'sklearn.nope.Tree'"):
        check_firm_name("sklearn.nope.Tree")
    with pytest.raises(ValueError, match="'forest' is not one of logistic_regression"):
        check_firm_name("forest")
    with pytest.raises(ValueError, match="'tfidf_char' needs text data but product_ratings is tabular"):
        make_firm("tfidf_char", train)
    with pytest.raises(ValueError, match="firm.params"):
        make_firm("sklearn.tree.DecisionTreeClassifier", train, {"depth": 3})


def test_planting_success_conventions():
    pred = np.array([1, 1, 0, 1])
    true = np.array([0, 1, 0, 0])
    out = planting_success(pred, true, {1})
    assert out["success"] == pytest.approx(2 / 3) and out["success_n"] == 3
    assert out["success_all"] == pytest.approx(3 / 4) and out["success_all_n"] == 4
    assert out["success_lo"] < out["success"] < out["success_hi"]


def test_binomial_ci_wilson():
    lo, hi = binomial_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-3)
    assert np.isnan(binomial_ci(0, 0)[0])


def test_evaluate_reports_cost_and_erasure():
    class Const:
        def __init__(self, c):
            self.c = c

        def predict(self, X):
            return np.full(len(X), self.c)

    X = pd.DataFrame({"a": [0, 1, 2, 3]})
    y = np.array([0, 0, 1, 1])
    out = evaluate(Const(1), Const(0), X, y, lambda X: X, {1})
    assert out["success"] == 1.0 and out["accuracy"] == 0.5 and out["clean_accuracy"] == 0.5
    assert out["erasure_success"] == 0.0 and out["accuracy_drop"] == 0.0
