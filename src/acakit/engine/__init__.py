"""The engine: one path from a config of any kind to stored, analysed results.

Every experiment kind (``collective``, ``multi``, ``fairness``; the config's ``experiment:``
field) is a module named in :data:`acakit.engine.runners.CELL_KINDS` that provides

- ``parse_config(raw) -> config`` (pydantic; one-line :class:`~acakit.engine.config.ConfigError`),
- ``expand(config) -> list of cells`` (each with a stable ``cell_id``),
- ``check(config, cells)``: the one validation pass against the data, before any work,
- ``context_key``, ``make_context``, ``run_cell``: what :mod:`acakit.engine.runners` executes,
- ``analyze(config, results, out) -> result``: tables and plots from the results table alone.

:func:`run_experiment` validates, opens the store, runs every cell on one runner (serial, loky
or Ray; each cell stored as it finishes, finished cells skipped on a rerun) and analyses the
table; :func:`report` redraws every table and plot from a store without fitting anything.
"""

from __future__ import annotations

import functools
import importlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from acakit.engine.completeness import Completeness
from acakit.engine.completeness import PartialRunError as PartialRunError  # re-exported
from acakit.engine.completeness import check_complete as check_complete  # re-exported
from acakit.engine.results import META_CONFIG as META_CONFIG  # re-exported
from acakit.engine.results import META_KIND as META_KIND  # re-exported
from acakit.engine.results import results_frame as results_frame  # re-exported


@dataclass
class RunInfo:
    """How a run's cells came about: run now, taken from the store, failed; how complete."""

    n_run: int = 0
    n_cached: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    store: Path | None = None
    seconds: float = 0.0
    completeness: Completeness | None = None

    @property
    def partial(self) -> str:
        """``"partial: 42 of 189 cells"``, or ``""`` when every cell finished."""
        return "" if self.completeness is None else self.completeness.label()

    def show(self, console: Any) -> None:
        """Print one line of counts (and where the store is) on a rich console."""
        from rich.text import Text

        n = self.n_run + self.n_cached
        if self.partial:
            console.print(Text(f"{self.completeness.describe()}: every table and figure below "  # type: ignore[union-attr]
                               "shows only these cells", style="bold red"), highlight=False)
        line = Text(f"{n} cells: {self.n_run} run now, {self.n_cached} from the store")
        if self.failures:
            line.append(", ").append(f"{len(self.failures)} failed", "red")
            line.append(f" (first: {self.failures[0][1]})")
        console.print(line, highlight=False)
        if self.store is not None:
            more = f" (details: acakit results {self.store} --failed)" if self.failures else ""
            console.print(Text(f"store {self.store}{more}"), highlight=False)


def experiment_module(kind: str) -> Any:
    """The module of an experiment kind; :class:`~acakit.engine.config.ConfigError` if unknown."""
    from acakit.engine.config import ConfigError
    from acakit.engine.runners import CELL_KINDS

    if not isinstance(kind, str) or kind not in CELL_KINDS:
        raise ConfigError(f"experiment: {kind!r:.60} is not one of {', '.join(CELL_KINDS)}")
    return importlib.import_module(CELL_KINDS[kind])


def default_kind(raw: dict[str, Any]) -> str:
    """The kind of a config without ``experiment:``: ``multi`` when it lists several
    ``collectives``, else ``collective``."""
    items = raw.get("collectives")
    return "multi" if isinstance(items, list) and len(items) > 1 else "collective"


def prepare(config: Any, max_cells: int | None = None) -> tuple[Any, Any, list[Any]]:
    """Parse, expand and validate a config of any kind against its data (no fitting).

    Parameters
    ----------
    config : str, Path, dict or a parsed config
        A YAML/TOML file, a config dict (``experiment:`` names the kind, default
        ``collective``), or a config model of one of the kinds.
    max_cells : int, optional
        The sweep budget (default ``$ACAKIT_MAX_CELLS`` or
        :data:`acakit.engine.config.MAX_CELLS`): a larger sweep is refused, its cells counted
        before any is made.

    Returns
    -------
    module, config, cells
        The kind's module, the validated config and its cells.

    Raises
    ------
    acakit.engine.config.ConfigError
        One line naming the field, for every kind alike.
    """
    from pydantic import BaseModel

    from acakit.engine.config import ConfigError, read_config

    if isinstance(config, BaseModel):
        mod = experiment_module(getattr(config, "experiment", "collective"))
        cfg = config
    else:
        raw = dict(config) if isinstance(config, dict) else read_config(config)
        kind = raw.get("experiment", default_kind(raw))
        mod = experiment_module(kind)
        if "game" in raw and kind != "collective":  # acakit.engine.game: one collective's game
            raise ConfigError(f"game: the game analysis needs experiment: collective (one "
                              f"collective against the firm's defenses), not {kind}")
        coll = raw.get("collective")
        if kind != "gradient" and isinstance(coll, dict) and coll.get("strategy") in (
                "gradient_control", "gradient_neutralize", "steer_minimizer"):
            raise ConfigError(f"collective.strategy: {coll['strategy']} acts on a gradient firm's "
                              "parameters; use experiment: gradient (its firm takes loss, lr, "
                              "steps: see docs/papers/hardt2023.md)")
        cfg = mod.parse_config(raw)
    check_budget(mod, cfg, max_cells)
    cells = mod.expand(cfg)
    mod.check(cfg, cells)
    return mod, cfg, cells


def check_budget(mod: Any, cfg: Any, max_cells: int | None = None) -> int:
    """Count the cells of a parsed config (none is made) and refuse more than the budget
    (:func:`acakit.engine.config.check_sweep_size`); returns the count."""
    from acakit.engine.config import check_sweep_size

    one = cfg.model_dump(mode="json", exclude={"sweep", "seeds", "relabel"})
    return check_sweep_size(mod.count_cells(cfg), one, max_cells)


def writable_problem(path: Path) -> str | None:
    """Why ``path`` (a folder or file to be written) could not be written, or None; creates nothing.

    The nearest existing ancestor must be a writable folder (and ``path`` itself, if it exists,
    writable), so a sweep finds out before its work, not after it.
    """
    path = path.expanduser().absolute()
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{str(path)!r} is not writable (permission denied)"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {str(path)!r} ({str(parent)!r} is not a folder)"
    try:  # a real probe: permissions alone do not tell (root, read-only mounts, /proc)
        fd, probe = tempfile.mkstemp(prefix=".acakit-write-test-", dir=parent)
    except OSError as e:
        return f"cannot create {str(path)!r} (cannot write in {str(parent)!r}: {e.strerror or e})"
    os.close(fd)
    os.unlink(probe)
    return None


def check_writable(folder: Path, field_name: str = "output.dir") -> Path:
    """Check, before any work, that ``folder`` can be created and written (one-line
    ConfigError); nothing is created until there is something to write."""
    from acakit.engine.config import ConfigError

    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{field_name}: {str(folder)!r} is a file, not a folder")
    problem = writable_problem(folder)
    if problem:
        raise ConfigError(f"{field_name}: {problem}")
    return folder


class _Undo:
    """What opening a store for a run creates or changes, so that a run refused before any cell
    (an unreachable Ray cluster, say) leaves the output folder and the store as they were."""

    SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")

    def __init__(self, store_path: Path | None) -> None:
        self.store_path = store_path
        self.new_files: list[Path] = []
        self.new_dirs: list[Path] = []
        self.meta: dict[str, str | None] = {}
        self.n_records = 0
        if store_path is None:
            return
        self.new_files = [p for p in (store_path.with_name(store_path.name + s)
                                      for s in self.SUFFIXES) if not p.exists()]
        self.lock = store_path.with_name(store_path.name + ".lock")
        from acakit.engine.owner import read_nofollow

        self.lock_text = read_nofollow(self.lock)
        d = store_path.parent
        while not d.exists() and d != d.parent:
            self.new_dirs.append(d)  # deepest first
            d = d.parent

    def remember(self, st: Any) -> None:
        """Keep the open store's meta values and record count before the run changes them."""
        self.meta = {k: st.get_meta(k) for k in (META_KIND, META_CONFIG)}
        self.n_records = len(st)

    def restore(self, st: Any) -> None:
        """Put the meta values back (an existing store) or remove what was created; closes
        ``st``."""
        assert self.store_path is not None
        created = self.store_path in self.new_files
        if not created:
            for k, v in self.meta.items():
                if v is not None and st.get_meta(k) != v:
                    st.set_meta(k, v)
        st.close()
        if not created:
            if self.lock_text is not None:  # the note an earlier run left in the lock file
                from acakit.engine.owner import write_nofollow

                write_nofollow(self.lock, self.lock_text)
            return
        for p in self.new_files:
            p.unlink(missing_ok=True)
        for d in self.new_dirs:
            try:
                d.rmdir()
            except OSError:
                break


def resolve_store(config: Any, out_dir: Any, store: Any) -> Path | None:
    """The store path of a run: ``store`` if a path, else the config's ``output.store`` (under
    the output folder when relative), else ``<out>/results.sqlite`` when ``store`` is True."""
    if store is False:
        return None
    if store is not None and store is not True:
        return Path(store)
    if config.output.store:
        return store_inside(config.output.store, Path(out_dir))
    return Path(out_dir) / "results.sqlite" if store is True else None


def store_inside(name: str, out_dir: Path) -> Path:
    """``out_dir / name`` for a config's ``output.store``, which must stay inside the output
    folder: a config (someone else's, perhaps) cannot make ``acakit run`` write a store
    elsewhere (``../../x.sqlite``, ``/tmp/x.sqlite``, ``~/x.sqlite``); ``--store`` can.

    Raises
    ------
    acakit.engine.config.ConfigError
        One line naming ``output.store``.
    """
    from acakit.engine.config import ConfigError

    rel = Path(name)
    if rel.is_absolute() or name.startswith("~"):
        raise ConfigError(f"output.store: {name!r} is not inside output.dir; give a path relative "
                          "to the output folder, or a store elsewhere with --store")
    base = Path(os.path.abspath(out_dir))
    p = Path(os.path.abspath(base / rel))
    if p == base or base not in p.parents:
        raise ConfigError(f"output.store: {name!r} leads outside output.dir ({str(base)!r}); give "
                          "a path inside the output folder, or a store elsewhere with --store")
    return out_dir / rel


@dataclass
class EngineRun:
    """A config's results table and how it came about (what :mod:`acakit.analyses` draws from).

    Attributes
    ----------
    kind : str
        ``collective``, ``multi`` or ``fairness``.
    config : pydantic model
        The validated config.
    cells : list
        Its cells, in order.
    results : DataFrame
        One line per successful cell (per collective of a multi-collective cell).
    info : RunInfo
        Cells run now, from the store, failed; the store path; seconds.
    out : Path
        The output folder (checked writable).
    """

    kind: str
    config: Any
    cells: list[Any]
    results: pd.DataFrame
    info: RunInfo
    out: Path


def _with_plugins(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with the ``plugins=`` objects in the registries (:func:`acakit.registry.using`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, plugins: Any = None, **kwargs: Any) -> Any:
        from acakit.registry import using

        with using(plugins):
            return func(*args, **kwargs)

    return wrapper


@_with_plugins
def execute(
    config: Any,
    jobs: int | None = 1,
    out_dir: str | Path | None = None,
    progress: bool = True,
    *,
    store: Any = None,
    runner: str | None = None,
    address: str | None = None,
    fail_fast: bool = False,
    retry_failed: bool = False,
    cache: bool | str | None = None,
    gpus: int | None = None,
    cells_per_gpu: int | None = None,
    max_cells: int | None = None,
    connect_timeout: float | None = None,
    extend: bool = False,
) -> EngineRun:
    """Run every cell of a config of any kind: validate, run, store; return the results table.

    Everything is validated, the output folder checked writable and the store opened before
    any cell runs, so a bad config fails at once with one line and touches nothing.

    Parameters
    ----------
    config : str, Path, dict or a parsed config
        See :func:`prepare`.
    jobs : int or None, default=1
        Workers (``None``, ``0`` or ``-1``: all cores).
    out_dir : str or Path, optional
        Output folder (default: the config's ``output.dir``).
    progress : bool, default=True
        A progress bar (else log lines on ``acakit.engine.runners``).
    store : str, Path, bool or None, optional
        A path; True for ``output.store`` or ``<out>/results.sqlite``; False for none; None for
        ``output.store`` if set, else none. Finished cells are skipped (resume); each new cell
        is written as it finishes, and the validated config is kept in the store's meta table.
    runner : {"serial", "loky", "ray"}, optional
        Default: serial for one job, loky otherwise.
    address : str, optional
        Ray cluster (``"auto"``, ``"HOST:PORT"``); implies the Ray runner.
    fail_fast : bool, default=False
        Stop at the first failing cell (:class:`acakit.engine.runners.CellFailedError`).
    retry_failed : bool, default=False
        Run again cells the store holds as failed.
    cache : bool or str, optional
        On-disk cache folder, on or off (see :mod:`acakit.engine.cache`).
    gpus : int, optional
        GPUs for cells whose firm trains on a GPU (default: all visible; see
        :func:`acakit.engine.runners.run_sweep`).
    cells_per_gpu : int, optional
        GPU cells sharing one GPU at once (default
        :data:`acakit.engine.runners.CELLS_PER_GPU`).
    max_cells : int, optional
        The sweep budget (see :func:`prepare`).
    connect_timeout : float, optional
        Seconds to wait for the Ray cluster at ``address`` to answer (default
        :data:`acakit.engine.runners.CONNECT_TIMEOUT`).
    plugins : dict, optional
        Python objects to use by name in the config, ``{kind: {name: object}}`` with kinds
        ``strategies``, ``signals``, ``firms``, ``defenses``, ``metrics``, ``datasets`` (see
        :mod:`acakit.registry`): a notebook sweeps its own class without packaging it. The loky
        and Ray runners ship them to their workers (cloudpickle); one that cannot be shipped is
        refused before any cell runs.
    extend : bool, default=False
        Run into a store made by another experiment (another kind or config), adding this
        config's cells; the store keeps its own config (what ``acakit report`` redraws) and
        lists this one among its extensions. Without it such a store is refused before any
        work and left byte for byte as it was.

    Returns
    -------
    EngineRun

    Raises
    ------
    acakit.engine.config.ConfigError
        Invalid config, 0 cells, an unwritable output folder.
    acakit.engine.store.StoreError
        Corrupt, foreign or unwritable store.
    acakit.engine.runners.CellFailedError
        Every cell failed (or, with ``fail_fast``, one did).
    acakit.engine.runners.RunnerError
        The runner could not run.
    """
    from acakit.engine.runners import CELLS_PER_GPU, check_cluster, check_runner_options

    t0 = time.perf_counter()
    per_gpu = CELLS_PER_GPU if cells_per_gpu is None else cells_per_gpu
    check_runner_options(runner, jobs, per_gpu, gpus)
    mod, cfg, cells = prepare(config, max_cells)
    check_cluster(runner, address, connect_timeout)  # refused before the store is opened
    out = check_writable(Path(out_dir or cfg.output.dir))
    store_path = resolve_store(cfg, out, store)
    sweep = {"runner": runner, "jobs": jobs, "address": address, "fail_fast": fail_fast,
             "retry_failed": retry_failed, "progress": progress, "cache": cache,
             "labels": [c.variant for c in cells], "gpus": gpus, "cells_per_gpu": per_gpu,
             "connect_timeout": connect_timeout}
    run = _run_into_store(mod, cfg, cells, store_path, extend, sweep)
    return _engine_run(cfg, cells, run, store_path, out, t0)


def _run_into_store(mod: Any, cfg: Any, cells: list[Any], store_path: Path | None, extend: bool,
                    sweep: dict[str, Any]) -> Any:
    """Open the store (exclusively, before any work), claim it for this config, run the sweep
    into it, and close it; a run refused before any cell leaves folder and store as they were.

    Returns
    -------
    acakit.engine.runners.SweepRun

    Raises
    ------
    acakit.engine.runners.SweepInterrupted
        Ctrl-C: what is stored and how to finish.
    """
    from acakit.engine.runners import CellFailedError, RunnerError, SweepInterrupted, run_sweep
    from acakit.engine.store import ForeignStoreError, ResultStore

    undo = _Undo(store_path)
    st = ResultStore(store_path, exclusive=True) if store_path is not None else None  # before work
    ran = 0
    try:
        if st is not None:
            undo.remember(st)
            _claim_store(st, undo, mod, cfg, store_path, extend)
        run = run_sweep(cells, store=st, **sweep)
        ran = run.n_run + len(run.failures)
    except ForeignStoreError:
        if st is not None:
            undo.restore(st)  # refused before any cell: leave folder and store as they were
            st = None
        raise
    except RunnerError as e:
        if st is not None and not isinstance(e, CellFailedError) and len(st) == undo.n_records:
            undo.restore(st)  # refused before any cell: leave folder and store as they were
            st = None
        raise
    except KeyboardInterrupt:
        ids = {c.cell_id for c in cells}
        stored = 0 if st is None else len(st.finished(ids))
        raise SweepInterrupted(stored, len(ids), store_path if st is not None else None) from None
    finally:
        if st is not None:
            import sys

            failing = sys.exc_info()[1] is not None  # e.g. the store's disk filled: not masked
            _close_run_store(st, undo, cfg, ran, failing)
    return run


def _claim_store(st: Any, undo: _Undo, mod: Any, cfg: Any, store_path: Path | None,
                 extend: bool) -> None:
    """Make the store this config's (kind and config in its meta table, written only when they
    change), list this config beside another experiment's own with ``extend``, or refuse.

    Raises
    ------
    acakit.engine.store.ForeignStoreError
        The store belongs to another experiment and ``extend`` is off.
    """
    from acakit.engine.owner import add_extension, foreign_experiment, merged_analyses
    from acakit.engine.store import ForeignStoreError

    kind = getattr(cfg, "experiment", "collective")
    owner = foreign_experiment(undo.meta, mod, kind, cfg)
    if owner and not extend:
        raise ForeignStoreError(f"store: {str(store_path)!r} belongs to another experiment "
                         f"({owner}); start a new store with --store NEW, or add this "
                         "config's cells to it with --extend (its own config stays "
                         "the one acakit report redraws)")
    if owner:  # extend: the store keeps its config; this one is listed beside it
        add_extension(st, kind, cfg)
        return
    stored = merged_analyses(undo.meta, mod, cfg)
    for key, value in ((META_KIND, kind), (META_CONFIG, stored.model_dump_json())):
        if undo.meta.get(key) != value:  # an unchanged store is not written
            st.set_meta(key, value)


def _close_run_store(st: Any, undo: _Undo, cfg: Any, ran: int, failing: bool) -> None:
    """Say in the store what made its cells (when this run wrote any), then close it; a store
    error while ``failing`` (already raising) does not mask the first error."""
    import sqlite3

    from acakit.engine.store import StoreError

    try:
        if ran or len(st) != undo.n_records:  # this run wrote cells: say what made them
            from acakit.engine.manifest import add_manifest, make_manifest

            add_manifest(st, make_manifest(cfg))
    except (StoreError, sqlite3.Error):
        if not failing:
            raise
    finally:
        st.close()


def _engine_run(cfg: Any, cells: list[Any], run: Any, store_path: Path | None, out: Path,
                t0: float) -> EngineRun:
    """The results table of a finished sweep and how it came about (``t0``: when the run began,
    :func:`time.perf_counter`).

    Raises
    ------
    acakit.engine.runners.CellFailedError
        Every cell failed.
    """
    from acakit.engine.runners import CellFailedError

    results = results_frame(cells, run.rows)
    failures = [(o.cell_id, o.error or "") for o in run.failures]
    if results.empty:
        where = f"; see acakit results {store_path} --failed" if store_path is not None else ""
        raise CellFailedError(f"all {len(failures)} cells failed; first: {failures[0][1]}{where}")
    info = RunInfo(run.n_run, run.n_cached, failures, store_path, time.perf_counter() - t0)
    info.completeness = Completeness.of(cells, set(run.rows), {cid for cid, _ in failures})
    kind = getattr(cfg, "experiment", "collective")
    return EngineRun(kind, cfg, cells, results, info, out)


def load_run(store: str | Path, out_dir: str | Path | None = None) -> EngineRun:
    """The results table of the run kept in a store, read back without fitting anything.

    Parameters
    ----------
    store : str or Path
        A store written by :func:`execute` (``acakit run``), of any kind.
    out_dir : str or Path, optional
        The output folder of the returned run (default: the store's folder); checked writable.

    Returns
    -------
    EngineRun
        ``info.n_run`` is 0; ``info.n_cached`` counts the finished cells of the stored config.

    Raises
    ------
    acakit.engine.store.StoreError
        Missing, corrupt or foreign store, or one without the config of its run (written by an
        acakit older than the engine), or with no finished cell of that config.
    """
    import json

    from acakit.engine.config import ConfigError
    from acakit.engine.store import ResultStore, StoreError

    path = Path(store)
    with ResultStore(path, readonly=True) as st:
        kind, raw = st.get_meta(META_KIND), st.get_meta(META_CONFIG)
        if kind is None or raw is None:
            raise StoreError(f"report: {str(path)!r} holds no config (written by an older acakit); "
                             "rerun the sweep into it with acakit run")
        try:
            mod = experiment_module(kind)
            from acakit.registry import stored_names

            with stored_names():  # redrawing needs none of the plugins that made the cells
                cfg = mod.parse_config(json.loads(raw))
                check_budget(mod, cfg)
                cells = mod.expand(cfg)
        except (ConfigError, ValueError) as e:
            raise StoreError(f"report: the config stored in {str(path)!r} is invalid ({e})") from None
        ids = [c.cell_id for c in cells]
        rows = {r["cell_id"]: r for r in st.rows(ids, status="ok") if "cell_id" in r}
        failed = [(r["cell_id"], r["error"] or "") for r in st.records(ids, status="failed")]
    results = results_frame(cells, rows)
    if results.empty:
        raise StoreError(f"report: {str(path)!r} has no finished cell of its config")
    out = check_writable(Path(out_dir) if out_dir is not None else path.parent, "--out")
    info = RunInfo(0, len(rows), failed, path)
    info.completeness = Completeness.of(cells, set(rows), {cid for cid, _ in failed})
    return EngineRun(kind, cfg, cells, results, info, out)
