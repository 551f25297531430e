"""Storing a firm's constructor parameters: what every firm's ``__init__`` does, written once."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any


def store_params(estimator: Any, values: Mapping[str, Any]) -> None:
    """Set every parameter of ``type(estimator).__init__`` from ``values`` (its ``locals()``).

    scikit-learn's convention: ``__init__`` stores its parameters unchanged, as attributes of
    the same names, and does nothing else.

    Examples
    --------
    >>> class Firm:
    ...     def __init__(self, C: float = 1.0, seed: int = 0) -> None:
    ...         store_params(self, locals())
    >>> vars(Firm(C=2.0))
    {'C': 2.0, 'seed': 0}
    """
    for name in inspect.signature(type(estimator).__init__).parameters:
        if name != "self":
            setattr(estimator, name, values[name])
