"""Lazy attributes of a package (PEP 562), so importing it does not import its submodules.

``acakit.fairness`` and ``acakit.multi`` re-export names from submodules that pull in
scikit-learn, pandas and fairlearn. The CLI imports both packages to register its commands;
loading those names on first use keeps ``acakit --help`` and one-line config errors fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, names: Mapping[str, str], namespace: dict[str, Any],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package`` resolving ``names`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (for the error message).
    names : mapping
        Attribute name -> module that defines it.
    namespace : dict
        The package's ``globals()``; a resolved attribute is stored there, so it is looked up
        once.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
