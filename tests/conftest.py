"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

# Under `pytest -n N` each worker gets its share of the cores for BLAS, OpenMP and torch (2
# workers on 2 cores: 1 thread each), set before numpy, scikit-learn or torch load their thread
# pools; the processes a test starts inherit it. With a thread per core in every worker the
# threads outnumber the cores and wait for each other.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _THREADS)

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from acakit.data import make_product_ratings, train_test_split  # noqa: E402

# Property tests draw the same examples on every run (CI must not fail on a draw that an earlier
# run did not make); explore with new draws by `pytest --hypothesis-profile=explore`.
settings.register_profile("acakit", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("acakit")


# One terminal width for every test, whatever the shell exports and whichever test first
# imports the CLI (its console reads COLUMNS once): tables are not folded, in any order, in any
# pytest-xdist worker.
os.environ["COLUMNS"] = "150"


import acakit.cli  # noqa: E402,F401  (after COLUMNS: its console reads it once)

# acakit.cli._register_plugins adds the plugins' commands once, however often the tests call it
# (each call used to add them again: hundreds of copies made every later CliRunner.invoke build
# them all, 0.4 s instead of 0.05 s); tests/test_cli.py checks it.


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """``xdist_group`` for pytest 9: ``--dist loadgroup`` (pyproject.toml) sends the tests of one
    group to one worker by adding ``@group`` to their node ids, which pytest-xdist 3.8 sets on the
    attribute pytest 8 read (``item._nodeid``); pytest 9 reads ``item._id``, so every group was
    split between the workers (two Ray clusters at once, test_audit's audits made on both). Set the
    id where pytest reads it; nothing changes where pytest-xdist's own suffix took effect."""
    if not getattr(config.option, "loadgroup", False):  # set in pytest-xdist's workers
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and item.nodeid.rfind("@") <= item.nodeid.rfind("]") and hasattr(item, "_id"):
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


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
def _worker_threads():
    """The thread pools loaded before this file (if any) get the worker's share too."""
    if _WORKERS <= 1:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(int(os.environ["OMP_NUM_THREADS"])):
        yield


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
