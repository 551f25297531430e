"""Running one task: cells that share a context, made once, each cell's outcome sent back.

:func:`execute_task` is what every backend runs (in this process, a loky worker or a Ray
task); :func:`iter_task` is the same, one outcome at a time (the serial backend stores each as
soon as it exists); :func:`make_context_task` makes a context alone (Ray ships it to the cells).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback as tb
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from acakit.engine.runners.base import Cell, CellOutcome, cell_kind, error_line

_PDEATHSIG_SET = False


def _die_with_parent() -> None:
    """In a local worker process: ask Linux to kill this process when its parent (the sweep's
    driver) dies, so a SIGKILLed driver leaves no worker computing for nobody. A no-op elsewhere
    (the pool's own shutdown then ends the workers when the driver exits normally)."""
    global _PDEATHSIG_SET
    if _PDEATHSIG_SET or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        _PDEATHSIG_SET = True
    except Exception:  # pragma: no cover  (no libc: nothing to do)
        pass
    if os.getppid() == 1:  # the driver died before the signal was armed
        os._exit(1)


def node_name() -> str:
    """The machine this process runs on: ``host/node-ip`` in a Ray worker (the address its Ray
    node was started with, which tells apart nodes that share a host name), else the host name."""
    host = socket.gethostname()
    ray = sys.modules.get("ray")  # only if this process already uses Ray
    if ray is not None:
        try:
            if ray.is_initialized():
                ip = ray._private.worker.global_worker.node_ip_address
                if ip:
                    return f"{host}/{ip}"
        except Exception:  # pragma: no cover  (a Ray without these internals: the host name)
            pass
    return host


@dataclass
class ContextFailure:
    """What a context task returns when making the context raised (every cell of it fails)."""

    error: str
    traceback: str


def _set_up_process(cache_root: str | None, cache_enabled: bool, allowed_modules: str | None,
                    plugins: dict[str, dict[str, Any]] | None, worker: bool = False) -> None:
    """The driver's cache, extra allowed firm modules and Python plugins, in this process; in
    a local ``worker`` also :func:`_quiet_worker` (after the cache, before the rest)."""
    from acakit.engine import cache as _cache

    _cache.configure(cache_root, cache_enabled)
    if worker:
        _quiet_worker()
    if allowed_modules is not None:
        from acakit.firms import ALLOW_MODULES_ENV

        os.environ[ALLOW_MODULES_ENV] = allowed_modules
    if plugins:
        from acakit.registry import install

        install(plugins)


def make_context_task(
    cell: Cell,
    cache_root: str | None = None,
    cache_enabled: bool = True,
    allowed_modules: str | None = None,
    plugins: dict[str, dict[str, Any]] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Make the context of ``cell`` (run as a Ray task; its result goes to the object store).

    Parameters
    ----------
    cell : Cell
        Any cell of the group (cells with one :func:`context_key` share the context).
    cache_root : str, optional
    cache_enabled : bool, default=True
    allowed_modules : str, optional
        As in :func:`execute_task`.
    plugins : dict, optional
        As in :func:`execute_task`.

    Returns
    -------
    context : object or ContextFailure
        The kind's context, or what making it raised.
    info : dict
        ``bytes`` (size of the pickled context: what one transfer moves), ``node`` (where it
        was made) and ``seconds``.
    """
    import pickle

    _set_up_process(cache_root, cache_enabled, allowed_modules, plugins)
    t0 = time.perf_counter()
    ctx: Any
    try:
        ctx = cell_kind(cell).make_context(cell)
    except Exception as e:
        ctx = ContextFailure(error_line(e), tb.format_exc())
    seconds = time.perf_counter() - t0
    try:
        nbytes = len(pickle.dumps(ctx, protocol=5))
    except Exception:  # not picklable by pickle (Ray's cloudpickle may still manage)
        nbytes = -1
    return ctx, {"bytes": nbytes, "node": node_name(), "seconds": seconds}


def _in_main_thread() -> bool:
    """Whether this is the main thread (the only one that may set signal handlers)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def _quiet_worker() -> None:
    """In a local worker: tied to the driver's life, its warnings and Ctrl-C left to the driver."""
    _die_with_parent()
    # the driver has shown the data's warnings once; a worker repeating them (with a source
    # line) is noise. Fit warnings are still recorded per cell (recording_warnings).
    import signal
    import warnings

    warnings.filterwarnings("ignore")
    # Ctrl-C reaches the whole process group: the driver answers it (what is stored, how to
    # finish) and shuts the pool down; a worker printing its own traceback would bury that
    if _in_main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def iter_task(
    cells: Sequence[Cell],
    cache_root: str | None = None,
    cache_enabled: bool = True,
    fail_fast: bool = False,
    allowed_modules: str | None = None,
    driver_pid: int | None = None,
    context: Any = None,
    plugins: dict[str, dict[str, Any]] | None = None,
) -> Iterator[CellOutcome]:
    """:func:`execute_task` one outcome at a time, each yielded as soon as it exists.

    Parameters are those of :func:`execute_task` (but ``emit`` and ``gpu``).

    Yields
    ------
    CellOutcome
        One per cell run, in order.
    """
    _set_up_process(cache_root, cache_enabled, allowed_modules, plugins,
                    worker=driver_pid is not None and driver_pid != os.getpid())
    kind = cell_kind(cells[0]) if cells else None
    worker = f"{socket.gethostname()}:{os.getpid()}"
    node = node_name()
    t0, start = time.perf_counter(), time.time()
    failure: ContextFailure | None = context if isinstance(context, ContextFailure) else None
    ctx = context
    if context is None:
        try:
            ctx = kind.make_context(cells[0])
        except Exception as e:
            failure = ContextFailure(error_line(e), tb.format_exc())
    if failure is not None:  # the whole chunk fails with the same cause
        for c in cells:
            yield CellOutcome(c.cell_id, None, failure.error, failure.traceback, start, 0.0,
                              worker, node)
            if fail_fast:
                return
        return
    yield from _run_cells(kind, cells, ctx, fail_fast, worker, node, t0)


def _run_cells(kind: Any, cells: Sequence[Cell], ctx: Any, fail_fast: bool, worker: str,
               node: str, t0: float) -> Iterator[CellOutcome]:
    """Each cell on the made context; the first cell's time counts from ``t0`` (the context's
    making included)."""
    for cell in cells:
        started = time.time()
        try:
            row = kind.run_cell(cell, ctx)
        except Exception as e:
            yield CellOutcome(cell.cell_id, None, error_line(e), tb.format_exc(), started,
                              time.perf_counter() - t0, worker, node)
            t0 = time.perf_counter()
            if fail_fast:
                return
            continue
        yield CellOutcome(cell.cell_id, row, None, None, started, time.perf_counter() - t0,
                          worker, node)
        t0 = time.perf_counter()


def execute_task(
    cells: Sequence[Cell],
    cache_root: str | None = None,
    cache_enabled: bool = True,
    fail_fast: bool = False,
    emit: Callable[[CellOutcome], None] | None = None,
    allowed_modules: str | None = None,
    driver_pid: int | None = None,
    context: Any = None,
    gpu: int | None = None,
    plugins: dict[str, dict[str, Any]] | None = None,
) -> list[CellOutcome]:
    """Run cells sharing one context; never raises for a failing cell.

    Parameters
    ----------
    cells : sequence of Cell
        Cells of one kind with the same :func:`context_key`.
    cache_root : str, optional
        Cache folder to use in this process (see :mod:`acakit.engine.cache`).
    cache_enabled : bool, default=True
    fail_fast : bool, default=False
        Stop at the first failing cell (the rest of the chunk is not run).
    emit : callable, optional
        Called with each outcome as soon as it exists.
    allowed_modules : str, optional
        The driver's extra allowed firm modules (``$ACAKIT_ALLOW_MODULES``), set in this worker
        (a reused worker may have started before ``--allow-module`` was given).
    driver_pid : int, optional
        The driver's pid: in a local worker (another pid) the worker is tied to the driver's
        life (:func:`_die_with_parent`).
    context : object, optional
        The cells' context, made elsewhere (:func:`make_context_task`; a :class:`ContextFailure`
        fails every cell); by default it is made here.
    gpu : int, optional
        The CUDA device the scheduler gave these cells (made the current device while they run,
        so firms with ``device: auto`` train there); None leaves the device alone.
    plugins : dict, optional
        The driver's Python plugin objects, ``{kind: {name: object}}``
        (:func:`acakit.registry.session_plugins`), added to this worker's registries before
        any cell is built; installed plugins a worker finds itself.

    Returns
    -------
    list of CellOutcome
        One per cell run, in order.
    """
    if gpu is not None:
        from acakit.firms.device import on_gpu

        with on_gpu(gpu):
            return execute_task(cells, cache_root, cache_enabled, fail_fast, emit, allowed_modules,
                                driver_pid, context, plugins=plugins)
    out: list[CellOutcome] = []
    for o in iter_task(cells, cache_root, cache_enabled, fail_fast, allowed_modules, driver_pid,
                       context, plugins):
        out.append(o)
        if emit is not None:
            emit(o)
    return out
