"""The :class:`Dataset` type shared by every part of acakit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split as _sk_split
from sklearn.utils import check_random_state

Kind = Literal["tabular", "text", "image", "vector"]
KINDS: tuple[str, ...] = ("tabular", "text", "image", "vector")

Features = pd.DataFrame | np.ndarray


@dataclass(frozen=True)
class Dataset:
    """A labelled data set as a firm would see it.

    Parameters
    ----------
    name : str
        Short name, used in reports.
    X : pandas.DataFrame or numpy.ndarray
        Features. Tabular data is a DataFrame (categorical columns of dtype ``object`` or
        ``category``); text is a 1-d object array of ``str``; images are a 2-d array of
        flattened pixels (see ``image_shape``); vectors are a 2-d float array.
    y : numpy.ndarray
        Integer class codes in ``0 .. len(classes) - 1``.
    classes : list of str
        Human-readable name of each class code.
    kind : {"tabular", "text", "image", "vector"}
        What the features are; firms and feature maps dispatch on it.
    sensitive : pandas.DataFrame or None
        Sensitive attributes, one column each, aligned with ``X``. Not given to firms unless
        they are also among the features.
    feature_types : dict of str to {"categorical", "numeric"}
        For tabular data, the type of each column.
    image_shape : tuple of int or None
        For images, the (height, width) of one image.
    meta : dict
        Anything else a loader or generator wants to keep (e.g. the exact posterior table of a
        synthetic generator).

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset("toy", np.zeros((4, 2)), np.array([0, 1, 0, 1]), ["a", "b"], "vector")
    >>> len(ds), ds.n_classes
    (4, 2)
    """

    name: str
    X: Any
    y: np.ndarray
    classes: list[str]
    kind: Kind
    sensitive: pd.DataFrame | None = None
    feature_types: dict[str, str] = field(default_factory=dict)
    image_shape: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        n = len(self.y)
        if _n_rows(self.X) != n:
            raise ValueError(f"X has {_n_rows(self.X)} rows but y has {n}")
        if self.sensitive is not None and len(self.sensitive) != n:
            raise ValueError(f"sensitive has {len(self.sensitive)} rows but y has {n}")
        y = np.asarray(self.y)
        if n and (y.min() < 0 or y.max() >= len(self.classes)):
            raise ValueError("y must hold class codes in 0 .. len(classes) - 1")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def class_index(self, label: str | int) -> int:
        """Return the class code of ``label`` (a class name or a code).

        Raises
        ------
        ValueError
            If ``label`` is not a class of this data set; the message lists the classes.
        """
        if isinstance(label, bool):
            label = int(label)
        if isinstance(label, str) and label in self.classes:
            return self.classes.index(label)
        if isinstance(label, int | np.integer) and 0 <= int(label) < self.n_classes:
            return int(label)
        if isinstance(label, str) and label.lstrip("-").isdigit():
            return self.class_index(int(label))
        raise ValueError(
            f"{label!r} is not a class of {self.name}; allowed: "
            + ", ".join(f"{i}={c}" for i, c in enumerate(self.classes))
        )

    def take(self, index: np.ndarray | Sequence[int]) -> Dataset:
        """Return the rows at ``index`` (integer positions) as a new Dataset."""
        idx = np.asarray(index, dtype=np.intp)
        return replace(
            self,
            X=take_rows(self.X, idx),
            y=np.asarray(self.y)[idx],
            sensitive=None if self.sensitive is None else self.sensitive.iloc[idx].reset_index(
                drop=True
            ),
        )

    def with_data(self, X: Any, y: np.ndarray) -> Dataset:
        """Return a copy with new features and labels (same rows, same metadata)."""
        return replace(self, X=X, y=np.asarray(y))

    def class_counts(self) -> pd.Series:
        """Number of rows per class name."""
        counts = np.bincount(np.asarray(self.y), minlength=self.n_classes)
        return pd.Series(counts, index=self.classes, name="count")


def _n_rows(X: Any) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def take_rows(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a feature container (DataFrame, ndarray or list), positionally."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx].reset_index(drop=True)
    if isinstance(X, np.ndarray):
        return X[idx]
    return np.asarray(X, dtype=object)[idx]


def copy_features(X: Any) -> Any:
    """A copy of a feature container that can be modified in place."""
    if isinstance(X, pd.DataFrame):
        return X.copy()
    return np.array(X, copy=True)


def train_test_split(
    dataset: Dataset, test_size: float = 0.3, seed: int | None = 0, stratify: bool = True
) -> tuple[Dataset, Dataset]:
    """Split a data set into a training and a test part.

    Parameters
    ----------
    dataset : Dataset
        The data to split.
    test_size : float, default=0.3
        Fraction of rows that go to the test part, in (0, 1).
    seed : int or None, default=0
        Seed of the split.
    stratify : bool, default=True
        Keep class proportions equal in both parts.

    Returns
    -------
    train, test : Dataset
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size: {test_size} is not in (0, 1)")
    idx = np.arange(len(dataset))
    counts = np.bincount(dataset.y, minlength=dataset.n_classes)
    strat = dataset.y if stratify and counts[counts > 0].min() >= 2 else None
    rs = check_random_state(seed)
    tr, te = _sk_split(idx, test_size=test_size, random_state=rs, stratify=strat)
    return dataset.take(np.sort(tr)), dataset.take(np.sort(te))
