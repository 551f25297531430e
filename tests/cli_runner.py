"""One helper for tests that drive the ``acakit`` command line in-process."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from acakit.cli import _register_plugins, app


def run_cli(*args: str) -> Any:
    """``acakit ARGS`` through typer's test runner (the store and report commands registered
    first, as ``main`` does); returns the click ``Result``."""
    if not any(c.name == "report" or getattr(c.callback, "__name__", "") == "report"
               for c in app.registered_commands):
        _register_plugins()
    return CliRunner().invoke(app, list(args))
