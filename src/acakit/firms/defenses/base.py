"""The base class of every defense, and the checks the built-ins share."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np


class Defense:
    """Base class of a defense: ``weights(X, y, represent)`` or ``fit``/``transform``.

    A filter returns one weight per training row in [0, 1] (0 drops the row); a transform
    (``acts = "transform"``) rewrites the data and keeps every row. ``represent()`` gives the
    numeric representation of the training rows (the firm's featurizer or its embeddings),
    computed only if the defense asks for it.
    """

    acts: str = "filter"
    #: Kinds of data the defense can read (``None``: any).
    kinds: tuple[str, ...] | None = None

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        """Weights of the training rows (filters); transforms keep every row."""
        return np.ones(len(y))

    def fit(self, X: Any, y: np.ndarray) -> Defense:
        """Learn what the transform needs (transforms only)."""
        return self

    def transform(self, X: Any) -> Any:
        """The data as the firm sees it (identity for filters)."""
        return X

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor parameters (for labels, ``repr`` and scikit-learn's ``clone``)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _dense(R: Any) -> np.ndarray:
    return np.asarray(R.toarray() if hasattr(R, "toarray") else R, dtype=float)


def _check_frac(name: str, v: float | str, allow_auto: bool = False) -> None:
    if allow_auto and v == "auto":
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < float(v) < 0.5:
        raise ValueError(f"{name}: {v!r} is not a fraction in (0, 0.5)"
                         + (" or 'auto'" if allow_auto else ""))
