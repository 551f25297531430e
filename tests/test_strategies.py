"""Feature maps, strategies and collectives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acakit.collective import Collective
from acakit.firms import make_firm
from acakit.strategies import (
    AddShift,
    Erase,
    InsertTrigger,
    Plant,
    PlantFeatureOnly,
    SetColumns,
    StampPatch,
)


def test_insert_trigger_every_k_words_and_limits():
    text = " ".join(f"w{i}" for i in range(45))
    out = InsertTrigger(token="@", every=20)([text])[0].split()
    assert out.count("@") == 2 and out[20] == "@" and out[41] == "@"
    assert InsertTrigger(token="@", every=20, count=1)([text])[0].split().count("@") == 1
    # short texts still carry the trigger once
    assert InsertTrigger(token="@", every=20)(["a b"])[0] == "a b @"
    start = InsertTrigger(token="@", count=3, position="start")(["a b"])[0]
    assert start == "@ @ @ a b"
    rnd = InsertTrigger(token="@", count=4, position="random", seed=0)([text])[0].split()
    assert rnd.count("@") == 4 and len(rnd) == 49
    assert rnd == InsertTrigger(token="@", count=4, position="random", seed=0)([text])[0].split()


def test_insert_trigger_rejects_bad_parameters():
    with pytest.raises(ValueError, match="every"):
        InsertTrigger(every=0)
    with pytest.raises(ValueError, match="count: required"):
        InsertTrigger(position="start")


def test_set_columns_keeps_dtype_and_rejects_missing_columns():
    X = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    out = SetColumns({"a": "9", "b": "z"})(X)
    assert out["a"].tolist() == [9, 9] and out["a"].dtype == X["a"].dtype
    assert out["b"].tolist() == ["z", "z"]
    assert X["a"].tolist() == [1, 2]  # input untouched
    with pytest.raises(ValueError, match="not in the data"):
        SetColumns({"c": 1})(X)


def test_patch_and_shift():
    imgs = np.zeros((2, 64))
    out = StampPatch(size=2, value=16, row=6, col=6)(imgs).reshape(2, 8, 8)
    assert out[:, 6:, 6:].min() == 16 and out.sum() == 2 * 4 * 16
    with pytest.raises(ValueError, match="does not fit"):
        StampPatch(size=3, row=6)
    np.testing.assert_array_equal(AddShift([1, 2])(np.zeros((1, 2))), [[1, 2]])


def test_plant_and_feature_only():
    X = np.zeros((4, 2))
    y = np.array([0, 1, 2, 1])
    Xp, yp = Plant(AddShift(1.0), target=2).poison(X, y)
    assert yp.tolist() == [2, 2, 2, 2] and Xp.sum() == 8
    Xf, yf = PlantFeatureOnly(AddShift(1.0), target=1).poison(X, y)
    assert yf.tolist() == y.tolist()
    assert Xf[:, 0].tolist() == [0, 1, 0, 1]
    df = pd.DataFrame({"a": [0, 0, 0], "b": ["x", "x", "x"]})
    Xd, _ = PlantFeatureOnly(SetColumns({"b": "sig"}), target=1).poison(df, np.array([1, 0, 1]))
    assert Xd["b"].tolist() == ["sig", "x", "sig"]


def test_ideal_erasure_relabels_with_reference(ratings_split):
    train, _ = ratings_split
    g = SetColumns({"f0": 0, "f1": 0})
    ref = make_firm("empirical_bayes", train)
    er = Erase(g, ideal=True, reference=ref).fit(train)
    Xe, ye = er.poison(train.X.head(50), train.y[:50])
    expected = er.reference_.predict(g(train.X.head(50)))
    assert ye.tolist() == expected.tolist()
    assert (Xe["f0"] == 0).all()
    _, yplain = Erase(g, ideal=False).poison(train.X.head(5), train.y[:5])
    assert yplain.tolist() == train.y[:5].tolist()
    with pytest.raises(ValueError, match="reference"):
        Erase(g, ideal=True)


def test_collective_size_eligibility_and_seed(ratings_split):
    train, _ = ratings_split
    strat = Plant(SetColumns({"f4": 5}), target=2)
    c = Collective(strat, alpha=0.1, seed=3)
    altered, m = c.apply(train)
    assert m.sum() == round(0.1 * len(train))
    assert (altered.y[m] == 2).all() and (altered.X.loc[m, "f4"] == 5).all()
    np.testing.assert_array_equal(altered.y[~m], train.y[~m])
    assert (altered.X.loc[~m, "f4"] != 5).all()
    _, m2 = Collective(strat, alpha=0.1, seed=3).apply(train)
    np.testing.assert_array_equal(m, m2)
    _, m3 = Collective(strat, alpha=0.1, seed=4).apply(train)
    assert not np.array_equal(m, m3)
    _, mt = Collective(strat, count=30, eligibility="target").apply(train)
    assert mt.sum() == 30 and (train.y[mt] == 2).all()
    _, mc = Collective(strat, count=30, eligibility={"class": "rating_0"}).apply(train)
    assert (train.y[mc] == 0).all()
    _, mg = Collective(strat, count=30, eligibility={"group": {"f1": 2}}).apply(train)
    assert (train.X.loc[mg, "f1"] == 2).all()


def test_collective_errors(ratings_split):
    train, _ = ratings_split
    strat = Plant(SetColumns({"f4": 5}), target=2)
    with pytest.raises(ValueError, match="alpha: 1.5 is not a fraction"):
        Collective(strat, alpha=1.5)
    with pytest.raises(ValueError, match="exactly one of alpha and count"):
        Collective(strat)
    with pytest.raises(ValueError, match="only .* training rows are eligible"):
        Collective(strat, alpha=0.9, eligibility="target").apply(train)
    with pytest.raises(ValueError, match="column 'zz'"):
        Collective(strat, count=1, eligibility={"group": {"zz": 1}}).apply(train)
