"""The examples in the core modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "acakit.data.base", "acakit.data.synthetic", "acakit.data", "acakit.strategies",
    "acakit.collective", "acakit.firms", "acakit.metrics",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
