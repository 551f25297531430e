"""The sweep loop: resolve the options, skip what the store holds, run the rest on a backend,
store each outcome as it comes back."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from acakit.engine.runners.base import (
    Backend,
    Cell,
    CellFailedError,
    CellOutcome,
    RunnerError,
    RunSettings,
    context_key,
    error_line,
    interrupted,
)
from acakit.engine.runners.planning import (
    CELLS_PER_GPU,
    check_runner_options,
    local_gpus,
    plan_tasks,
    resolve_jobs,
)
from acakit.engine.runners.progress import _Progress, workers_label
from acakit.engine.runners.ray_backend import _report_transfer, check_cluster

#: A runner's name -> ``"module:Class"`` of its :class:`~acakit.engine.runners.base.Backend`
#: (imported only when used, so Ray and joblib load only for the runners that need them).
BACKENDS: dict[str, str] = {
    "serial": "acakit.engine.runners.serial_backend:SerialBackend",
    "loky": "acakit.engine.runners.loky_backend:LokyBackend",
    "ray": "acakit.engine.runners.ray_backend:RayBackend",
}


@dataclass
class SweepRun:
    """What :func:`run_sweep` produced.

    Attributes
    ----------
    rows : dict
        ``cell_id -> row`` of every cell that succeeded (now or in an earlier run).
    failures : list of CellOutcome
        Cells that failed (now, or earlier and not retried).
    n_run, n_cached : int
        Cells run now; cells taken from the store.
    seconds : float
        Wall time.
    store : Path or None
        The store written.
    transfer : dict
        Ray only: what shipping the contexts cost. ``contexts`` (made once each, by a Ray task),
        ``cells``, ``nodes`` (that ran cells), ``context_bytes`` (their pickled sizes, summed),
        ``shipped_bytes`` (each context's size times the nodes other than its maker that used
        it: what the object store moved), ``per_cell_bytes`` (what shipping the context with
        every cell would have moved) and ``context_seconds``. Also kept in the store's meta
        table under ``ray_transfer`` (JSON).
    gpu : dict
        Only when some cells trained on a GPU: ``gpus`` used, ``gpu_tasks``; on loky ``slots``
        (GPU tasks allowed at once) and ``max_gpu_tasks`` (the most that ran at once); on Ray
        ``num_gpus_per_task``.
    """

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[CellOutcome] = field(default_factory=list)
    n_run: int = 0
    n_cached: int = 0
    seconds: float = 0.0
    store: Path | None = None
    transfer: dict[str, Any] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        """Number of failed cells."""
        return len(self.failures)


def make_backend(settings: RunSettings) -> Backend:
    """The backend of ``settings.runner`` (:data:`BACKENDS`)."""
    module, _, name = BACKENDS[settings.runner].partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls(settings)


def resolve_settings(cells: Sequence[Cell], runner: str | None, jobs: int | None,
                     address: str | None, cache: bool | str | Path | None, fail_fast: bool,
                     gpus: int | None, cells_per_gpu: int,
                     connect_timeout: float | None) -> RunSettings:
    """Check the options (one line each, before anything is created), set up the cache and say
    what every task is given (:func:`~acakit.engine.runners.task.execute_task`'s options).

    Raises
    ------
    RunnerError
        A bad runner, job count, GPU option or cluster address; plugins that cannot travel.
    """
    from acakit.engine import cache as _cache

    runner = check_cluster(runner, address, connect_timeout)
    workers = resolve_jobs(jobs)
    runner = runner or ("serial" if workers == 1 else "loky")
    check_runner_options(runner, jobs, cells_per_gpu, gpus)
    if runner == "serial":
        workers = 1
    if runner == "serial" and gpus is not None:  # refused as loky refuses it, not ignored
        local_gpus(cells, gpus)
    n_gpus = local_gpus(cells, gpus) if runner == "loky" else 0
    if isinstance(cache, str | Path):
        c = _cache.configure(cache, True)
    else:
        c = _cache.configure(None, cache)
    if c.enabled and runner != "serial":  # its key checked here: a key it cannot use is one
        c.check_key()  # warning, and the workers are told the cache is off (each warned before)
    from acakit.firms import ALLOW_MODULES_ENV

    opts = {"cache_root": str(c.root), "cache_enabled": c.enabled, "fail_fast": fail_fast,
            "allowed_modules": os.environ.get(ALLOW_MODULES_ENV, ""), "driver_pid": os.getpid()}
    from acakit.registry import check_shippable, session_plugins

    shipped = session_plugins()
    if shipped and runner != "serial":  # Python objects travel with each task (cloudpickle)
        try:
            check_shippable(shipped, runner)
        except ValueError as e:
            raise RunnerError(str(e)) from None
        opts["plugins"] = shipped
    return RunSettings(runner, workers, opts, address, gpus, n_gpus, cells_per_gpu,
                       connect_timeout)


def _unique(cells: Sequence[Cell], labels: Sequence[str] | None) -> tuple[list[Cell], dict[str, str]]:
    """The cells without repeats (by ``cell_id``, first kept) and each one's variant label."""
    label_of: dict[str, str] = {}
    uniq: list[Cell] = []
    for i, cell in enumerate(cells):
        cid = cell.cell_id
        if cid not in label_of:
            label_of[cid] = labels[i] if labels is not None else cell.variant
            uniq.append(cell)
    return uniq, label_of


def _resume(st: Any, cells: Sequence[Cell], labels: Sequence[str] | None, retry_failed: bool,
            result: SweepRun) -> tuple[list[Cell], dict[str, str]]:
    """Take from the store what it holds of this sweep (into ``result``): the cells left to run
    (without repeats) and each cell's variant label."""
    uniq, label_of = _unique(cells, labels)
    if st is None:
        return uniq, label_of
    done = st.finished(label_of)
    skip = {k for k, v in done.items() if v == "ok" or not retry_failed}
    for row in st.rows(skip, status="ok"):  # labelled as this sweep labels the cell
        row["variant"] = label_of.get(row["cell_id"], row.get("variant"))
        result.rows[row["cell_id"]] = row
    for rec in st.records(skip, status="failed"):
        result.failures.append(CellOutcome(rec["cell_id"], None, rec["error"], rec["traceback"],
                                           rec["started_at"] or 0.0, rec["seconds"] or 0.0,
                                           rec["worker"] or ""))
    result.n_cached = len(skip)
    return [c for c in uniq if c.cell_id not in skip], label_of


class _Recorder:
    """The driver's answer to each outcome: label it, store it, count it, advance the bar."""

    def __init__(self, todo: Sequence[Cell], label_of: dict[str, str], st: Any, result: SweepRun,
                 bar: _Progress, fail_fast: bool,
                 on_result: Callable[[dict[str, Any]], None] | None) -> None:
        self.spec_of = {c.cell_id: c for c in todo}
        self.label_of, self.st, self.result, self.bar = label_of, st, result, bar
        self.fail_fast, self.on_result = fail_fast, on_result
        self.stop: list[CellOutcome] = []

    def __call__(self, o: CellOutcome) -> None:
        cell = self.spec_of[o.cell_id]
        variant = self.label_of[o.cell_id]
        if o.row is not None:
            o.row["variant"] = variant
            o.row.setdefault("cell_id", o.cell_id)
        if self.st is not None:
            self.st.record(o.cell_id, cell.model_dump(mode="json"), o.row, error=o.error,
                           traceback=o.traceback, variant=variant, started_at=o.started_at,
                           seconds=o.seconds, worker=o.worker, node=o.node or None)
        self.result.n_run += 1
        if o.ok:
            assert o.row is not None
            self.result.rows[o.cell_id] = o.row
            if self.on_result is not None:
                self.on_result(o.row)
        else:
            self.result.failures.append(o)
            if self.fail_fast:
                self.stop.append(o)
        self.bar.advance(o)


def _run_tasks(todo: Sequence[Cell], settings: RunSettings, split: bool,
               record: _Recorder) -> None:
    """Plan ``todo`` into tasks and run them on the backend, each outcome to ``record``; stop
    after the batch that holds a failure under ``fail_fast``."""
    tasks = plan_tasks(todo, settings.workers, split=split)
    backend_settings = settings
    if settings.runner == "loky" and (settings.workers == 1 or len(tasks) <= 1):
        tasks = plan_tasks(todo, 1)  # one task, or one worker: no pool to start
        backend_settings = replace(settings, runner="serial")
    if not tasks:
        return
    backend = make_backend(backend_settings)
    try:
        backend.submit(todo, tasks)
        for outcomes in backend.results():
            for o in outcomes:
                record(o)
            if record.stop:
                break
    finally:
        backend.close()


def run_sweep(cells: Sequence[Cell], *, runner: str | None = None, jobs: int | None = 1,
              address: str | None = None, store: Any = None, fail_fast: bool = False,
              retry_failed: bool = False, progress: bool = True,
              cache: bool | str | Path | None = None, labels: Sequence[str] | None = None,
              on_result: Callable[[dict[str, Any]], None] | None = None, gpus: int | None = None,
              cells_per_gpu: int = CELLS_PER_GPU,
              connect_timeout: float | None = None) -> SweepRun:
    """Run cells on a runner, skipping those already in the store, storing each as it finishes.

    Parameters
    ----------
    cells : sequence of Cell
        The sweep (duplicates, by ``cell_id``, run once).
    runner : {"serial", "loky", "ray"}, optional
        Default: ``serial`` for one job, else ``loky``.
    jobs : int or None, default=1
        Workers (``None``/``-1``: all cores). For Ray without ``address``: the local cluster's CPUs.
    address : str, optional
        Ray cluster (``"auto"``, ``"HOST:PORT"``): implies Ray, checked to answer before any cell.
    store : ResultStore, str or Path, optional
        Where finished cells are written (and read back on a rerun).
    fail_fast, retry_failed : bool, default=False
        Stop at the first failing cell (stored; :class:`CellFailedError`); run again the cells
        the store holds as failed (else they are skipped).
    progress : bool, default=True
        Live bar; otherwise log lines on the ``acakit.engine.runners`` logger.
    cache : bool, str or Path, optional
        On-disk cache: a folder, True (default folder), False (off); None: ``$ACAKIT_CACHE``.
    labels, on_result : optional
        Variant label per cell (stored, and in each row's ``variant``); called with each new row.
    gpus, cells_per_gpu, connect_timeout : optional
        GPUs for cells whose firm trains on one (default: all seen) and GPU cells per GPU at
        once (:class:`~acakit.engine.runners.base.RunSettings`); seconds to wait for ``address``.

    Returns
    -------
    SweepRun

    Raises
    ------
    RunnerError, CellFailedError, acakit.engine.store.StoreError
        A bad option or an unreachable Ray; a failed cell under ``fail_fast``; a bad store.
    """
    from acakit.engine.store import ResultStore

    t_start = time.perf_counter()
    settings = resolve_settings(cells, runner, jobs, address, cache, fail_fast, gpus, cells_per_gpu,
                                connect_timeout)
    own_store = store is not None and not isinstance(store, ResultStore)
    st: ResultStore | None = ResultStore(store) if own_store else store
    result = SweepRun(store=None if st is None else st.path, transfer=settings.transfer, gpu=settings.gpu)
    try:
        todo, label_of = _resume(st, cells, labels, retry_failed, result)
        _run_and_record(todo, settings, st, result, label_of, progress, on_result)
    finally:
        if own_store and st is not None:
            st.close()
    result.seconds = time.perf_counter() - t_start
    return result


def _run_and_record(todo: list[Cell], settings: RunSettings, st: Any, result: SweepRun,
                    label_of: dict[str, str], progress: bool,
                    on_result: Callable[[dict[str, Any]], None] | None) -> None:
    """Run ``todo`` under a progress bar, recording each outcome; one line for what went wrong.

    Raises
    ------
    RunnerError
        Anything but a Ctrl-C, a runner or a store error, as one line (``runner NAME: ...``).
    CellFailedError
        A cell failed under ``fail_fast``.
    """
    from acakit.engine.store import StoreError

    runner, workers = settings.runner, settings.workers
    bar = _Progress(len(todo), result.n_cached, result.n_failed, progress,
                    f"cells ({runner}{workers_label(runner, workers, settings.address)})",
                    context_of={c.cell_id: context_key(c) for c in todo}, workers=workers)
    record = _Recorder(todo, label_of, st, result, bar, bool(settings.opts["fail_fast"]),
                       on_result)
    try:
        _run_tasks(todo, settings, bool(settings.opts["cache_enabled"]), record)
    except (KeyboardInterrupt, RunnerError, StoreError):
        raise
    except Exception as e:
        if interrupted(e):  # Ctrl-C inside a library that wrapped it (pydantic does)
            raise KeyboardInterrupt from e
        raise RunnerError(f"runner {runner}: {error_line(e)}; finished cells are in the store") from e
    finally:
        bar.close()
        if result.transfer:
            _report_transfer(result.transfer, st)
    if record.stop:
        o = record.stop[0]
        raise CellFailedError(f"cell {o.cell_id} ({label_of[o.cell_id]}) failed: {o.error} "
                              f"[--fail-fast; {len(result.rows)} finished cells kept]")
