"""Lazy attributes of a package (PEP 562), so importing it does not import its submodules.

``acakit.fairness`` and ``acakit.multi`` re-export names from submodules that pull in
scikit-learn, pandas and fairlearn. The CLI imports both packages to register its commands;
loading those names on first use keeps ``acakit --help`` and one-line config errors fast.

A package opts in with two lines at the end of its ``__init__``::

    _LAZY = {"simulate": "acakit.multi.simulate", ...}   # name -> module that defines it
    sys.modules[__name__].__class__ = LazyPackage
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyPackage(ModuleType):
    """A package whose ``_LAZY`` names (name -> defining module) are imported on first use.

    A name that is also its module's name (``acakit.multi.simulate``, the function, defined in
    the module ``acakit.multi.simulate``) keeps meaning the name: when the import system binds
    the submodule on the package, the package binds the submodule's attribute of that name
    instead, as ``from acakit.multi.simulate import simulate`` in an eager ``__init__`` did.
    """

    def _lazy(self) -> dict[str, str]:
        return self.__dict__.get("_LAZY", {})

    def __getattr__(self, name: str) -> Any:
        module = self._lazy().get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        super().__setattr__(name, value)  # resolved once
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and self._lazy().get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | set(self._lazy()))
