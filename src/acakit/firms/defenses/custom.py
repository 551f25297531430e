"""A user's defense: a function ``f(X, y, **params) -> keep mask or weights`` named by an
allowed dotted path."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from acakit.firms.defenses.base import Defense


def keep_all(X: Any, y: Any) -> np.ndarray:
    """A defense function that keeps every row (the template of a user callable).

    A callable defense takes the training features and labels (and its ``params``) and returns
    a boolean keep mask or one weight per row in [0, 1].
    """
    return np.ones(len(y), dtype=bool)


def import_function(path: str) -> Callable[..., Any]:
    """Import the defense function ``package.module.name`` of a config, if it is allowed.

    The same trust model as :func:`acakit.firms.import_object`: only dotted names under an
    allowed module (:func:`acakit.firms.allowed_modules`) are imported.

    Raises
    ------
    ValueError
        One line naming the path.
    """
    from acakit.firms.trust import import_allowed

    where = "firm.defense.params.function"
    obj = import_allowed(path, where, "is not a dotted path to a function (package.module.f)")
    if inspect.isclass(obj) or not callable(obj):
        raise ValueError(f"{where}: {path!r} is not a function f(X, y) -> keep mask or weights")
    return obj  # type: ignore[no-any-return]


class CallableDefense(Defense):
    """A user function ``f(X, y, **kwargs) -> keep mask or weights`` named by a dotted path.

    Parameters
    ----------
    function : str
        Dotted path under an allowed module (see :func:`import_function`).
    **kwargs
        Passed to the function.
    """

    def __init__(self, function: str = "acakit.firms.defenses.keep_all", **kwargs: Any) -> None:
        self._fn = import_function(function)
        self.function = function
        self.kwargs = kwargs

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"function": self.function, **self.kwargs}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_fn"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fn = import_function(self.function)

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        w = np.asarray(self._fn(X, y, **self.kwargs))
        if w.shape != (len(y),):
            raise ValueError(f"firm.defense: {self.function} returned shape {w.shape}, expected "
                             f"({len(y)},)")
        w = w.astype(float)
        if not np.all((w >= 0) & (w <= 1)):
            raise ValueError(f"firm.defense: {self.function} returned weights outside [0, 1]")
        return w
