"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from acakit.data import make_product_ratings, train_test_split

# Property tests draw the same examples on every run (CI must not fail on a draw that an earlier
# run did not make); explore with new draws by `pytest --hypothesis-profile=explore`.
settings.register_profile("acakit", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("acakit")


# One terminal width for every test, whatever the shell exports and whichever test first
# imports the CLI (its console reads COLUMNS once): tables are not folded, in any order, in any
# pytest-xdist worker.
os.environ["COLUMNS"] = "150"


import acakit.cli  # noqa: E402  (after COLUMNS: its console reads it once)

_add_plugin_commands = acakit.cli._register_plugins


def _register_plugins_once() -> None:
    """``acakit.cli._register_plugins`` for the test session: the plugins' commands added once.

    ``acakit`` calls it once per process (``main``); tests call it before the command lines they
    invoke, and each call adds the plugins' commands again (3 commands, then 12, 21, ...):
    hundreds of copies made every later ``CliRunner.invoke`` build them all (0.4 s, not 0.05 s).
    """
    if not _register_plugins_once.done:
        _add_plugin_commands()
        _register_plugins_once.done = True


_register_plugins_once.done = False
acakit.cli._register_plugins = _register_plugins_once  # the test modules import it after this

ROOT = Path(__file__).resolve().parents[1]
#: What a test may read by a path relative to the checkout (linked into its working folder).
_LINKED = ("examples", "docs", "benchmarks", "src", "README.md", "SECURITY.md", "pyproject.toml")


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path_factory, monkeypatch):
    """Every test runs in a fresh folder (the checkout's files it reads linked into it), so a
    run with a relative output folder (``results/...``, the default) never writes into the
    checkout: ``pytest`` in a checkout leaves a user's ``results/`` untouched."""
    work = tmp_path_factory.mktemp("cwd")
    for name in _LINKED:
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name)
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(scope="session", autouse=True)
def _fresh_acakit_cache(tmp_path_factory):
    """One empty on-disk cache per test session (inherited by worker processes).

    Without it the tests would share ``./.acakit-cache`` with earlier runs, and a test that
    counts what gets computed (e.g. texts encoded) would pass once and fail on the next run.
    """
    from acakit.engine.cache import CACHE_DIR_ENV, CONFIG_DIR_ENV, configure

    root = tmp_path_factory.mktemp("acakit-cache")
    old = {k: os.environ.get(k) for k in (CACHE_DIR_ENV, CONFIG_DIR_ENV)}
    os.environ[CACHE_DIR_ENV] = str(root)
    os.environ[CONFIG_DIR_ENV] = str(tmp_path_factory.mktemp("acakit-config"))  # the cache key
    configure(root)
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    configure()


@pytest.fixture(scope="session", autouse=True)
def _cli_command_built_once():
    """typer's ``CliRunner.invoke`` builds the click command from the Typer app on every call:
    about 90 ms for acakit's commands (every command's signature and type hints), more than most
    refused command lines take. Build it once per app and set of registered commands (a plugin
    registered later gives a new one); the command itself is the one ``acakit`` runs."""
    import typer.testing
    from typer.main import get_command

    built: dict = {}

    def commands(app) -> tuple:
        return (id(app.registered_callback),
                tuple(id(c.callback) for c in app.registered_commands),
                tuple((g.name, id(g.typer_instance), commands(g.typer_instance))
                      for g in app.registered_groups if g.typer_instance is not None))

    def cached(app):
        key = (id(app), commands(app))
        if key not in built:
            built[key] = (app, get_command(app))  # the app kept alive: its id is not reused
        return built[key][1]

    mp = pytest.MonkeyPatch()
    mp.setattr(typer.testing, "_get_command", cached)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def ratings():
    """A small product-ratings data set with few cells (empirical Bayes learns it well)."""
    return make_product_ratings(n_samples=6000, n_features=5, n_values=3, n_classes=3, seed=0)


@pytest.fixture(scope="session")
def ratings_split(ratings):
    return train_test_split(ratings, 0.3, seed=0)
