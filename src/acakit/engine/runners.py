"""Runners: where a sweep's cells run (this process, local processes, a Ray cluster).

Every runner executes the same task function, :func:`execute_task`, on a chunk of cells that
share a context (data set, firm, seed); the outcome of each cell (its row, or its error and
traceback) flows back to the driver, which alone writes the result store, one transaction per
cell. A cell that raises is recorded as failed and the sweep goes on (``fail_fast`` stops it).

- ``serial``: in this process, each cell stored as soon as it finishes.
- ``loky``: ``jobs`` local worker processes (joblib/loky); results come back as each chunk
  finishes (unordered) and chunks are small enough to keep every worker busy.
- ``ray``: tasks on a Ray cluster (``address="auto"`` or ``"HOST:PORT"``), or on a local one
  started for the sweep (``num_cpus=jobs``) when no address is given. Each context (split, clean
  firm) is made once by a Ray task and reaches the cell tasks through Ray's object store (once
  per node that uses it, not once per cell); a task lost with its node (a worker host that died)
  is run again by Ray elsewhere. See ``docs/cluster.md``.

Examples
--------
>>> from acakit.engine.config import expand, parse_config
>>> cfg = parse_config({
...     "dataset": {"name": "product_ratings", "params": {"n_samples": 2000, "n_features": 4}},
...     "firm": {"name": "empirical_bayes"},
...     "collective": {"signal": {"type": "set_columns", "values": {"f3": 9}}, "target": "rating_1"},
...     "sweep": {"alpha": [0.0, 0.05], "seed": [0]}})
>>> run = run_sweep(expand(cfg), runner="serial", progress=False, cache=False)
>>> len(run.rows), run.n_failed, run.n_cached
(2, 0, 0)
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
import traceback as tb
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Cell(Protocol):
    """What a runner needs of a cell (``CellSpec``, ``MultiCellSpec``, ``FairnessCellSpec``)."""

    kind: str

    @property
    def cell_id(self) -> str: ...  # noqa: D102

    @property
    def variant(self) -> str: ...  # noqa: D102

    def model_dump(self, *, mode: str = "json") -> dict[str, Any]: ...  # noqa: D102


#: The runners :func:`run_sweep` knows.
RUNNERS: tuple[str, ...] = ("serial", "loky", "ray")

#: A cell's ``kind`` -> the module that runs cells of that kind. Each such module has
#: ``context_key(cell) -> str`` (cells with equal keys share one context: split, clean firm),
#: ``make_context(cell)`` and ``run_cell(cell, context) -> dict`` (the cell's result row; a row
#: with a ``rows`` list holds one sub-row per collective or setting, see
#: :func:`acakit.engine.store.expand_rows`). One runner, one store and one cache serve every kind.
CELL_KINDS: dict[str, str] = {
    "collective": "acakit.engine.single",
    "multi": "acakit.engine.multi",
    "fairness": "acakit.engine.fairness",
    "gradient": "acakit.engine.gradient",
}


def check_runner_options(runner: str | None, jobs: int | None = 1,
                         cells_per_gpu: int | None = None, gpus: int | None = None) -> None:
    """Refuse a bad runner, job count or GPU option in one line, before anything is created.

    Raises
    ------
    RunnerError
        Naming the option and the allowed values.
    """
    if runner is not None and runner not in RUNNERS:
        raise RunnerError(f"runner: {runner!r} is not one of {', '.join(RUNNERS)}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int)):
        raise RunnerError(f"jobs: {jobs!r} is not an integer")
    for name, v in (("--gpus", gpus), ("--cells-per-gpu", cells_per_gpu)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            hint = " (to train on the CPU, set firm.params.device: cpu)" if name == "--gpus" else ""
            raise RunnerError(f"{name}: {v!r} is not an integer >= 1{hint}")


def cell_kind(cell: Any) -> Any:
    """The module that runs ``cell`` (by its ``kind``; see :data:`CELL_KINDS`)."""
    import importlib

    return importlib.import_module(CELL_KINDS[getattr(cell, "kind", "collective")])


def context_key(cell: Any) -> str:
    """Cells with equal keys share one context (computed once per task, cached on disk)."""
    return f"{getattr(cell, 'kind', 'collective')}:{cell_kind(cell).context_key(cell)}"

log = logging.getLogger("acakit.engine.runners")


class RunnerError(RuntimeError):
    """A sweep could not run or was stopped; the message is one line."""


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C (SIGINT): still a ``KeyboardInterrupt``, carrying what was kept.

    Attributes
    ----------
    stored : int
        Cells of the sweep the store holds (finished now or earlier; failed ones included).
    total : int
        Cells of the sweep.
    store : Path or None
        The store (None: the run kept none, and nothing was kept).
    """

    def __init__(self, stored: int, total: int, store: Path | None) -> None:
        self.stored, self.total, self.store = stored, total, store
        super().__init__(self.message())

    def message(self, command: str | None = None) -> str:
        """One line: what is stored and how to finish."""
        if self.store is None:
            return (f"interrupted: no store was kept, {self.stored} of {self.total} cells lost; "
                    "run with a store to resume")
        rerun = f"rerun `{command}`" if command else "run it again"
        return (f"interrupted: {self.stored} of {self.total} cells stored in {self.store}; "
                f"{rerun} to finish the other {self.total - self.stored} (stored cells are "
                "skipped)")


class CellFailedError(RunnerError):
    """A cell failed and ``fail_fast`` stopped the sweep."""


@dataclass
class CellOutcome:
    """What running one cell produced, as sent back to the driver.

    Attributes
    ----------
    cell_id : str
    row : dict or None
        The result row (None if the cell failed).
    error : str or None
        ``"ExceptionType: message"`` (first line) of a failure.
    traceback : str or None
        The full traceback of a failure.
    started_at : float
        Epoch seconds.
    seconds : float
        Wall time of the cell (the shared context is counted in the first cell of a chunk).
    worker : str
        ``host:pid`` of the process that ran it.
    node : str
        The machine that ran it: the host name, or ``host/node-ip`` in a Ray worker.
    """

    cell_id: str
    row: dict[str, Any] | None
    error: str | None = None
    traceback: str | None = None
    started_at: float = 0.0
    seconds: float = 0.0
    worker: str = ""
    node: str = ""

    @property
    def ok(self) -> bool:
        """True if the cell produced a row."""
        return self.error is None


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

    from acakit.engine import cache as _cache

    _cache.configure(cache_root, cache_enabled)
    if allowed_modules is not None:
        from acakit.firms import ALLOW_MODULES_ENV

        os.environ[ALLOW_MODULES_ENV] = allowed_modules
    if plugins:
        from acakit.registry import install

        install(plugins)
    t0 = time.perf_counter()
    ctx: Any
    try:
        ctx = cell_kind(cell).make_context(cell)
    except Exception as e:
        ctx = ContextFailure(_error_line(e), tb.format_exc())
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


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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
        Called with each outcome as soon as it exists (the serial runner stores it there).
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
    from acakit.engine import cache as _cache

    _cache.configure(cache_root, cache_enabled)
    if driver_pid is not None and driver_pid != os.getpid():
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
    if allowed_modules is not None:
        from acakit.firms import ALLOW_MODULES_ENV

        os.environ[ALLOW_MODULES_ENV] = allowed_modules
    if plugins:
        from acakit.registry import install

        install(plugins)
    kind = cell_kind(cells[0]) if cells else None
    worker = f"{socket.gethostname()}:{os.getpid()}"
    node = node_name()
    out: list[CellOutcome] = []

    def push(o: CellOutcome) -> None:
        out.append(o)
        if emit is not None:
            emit(o)

    t0, start = time.perf_counter(), time.time()
    failure: ContextFailure | None = context if isinstance(context, ContextFailure) else None
    ctx = context
    if context is None:
        try:
            ctx = kind.make_context(cells[0])
        except Exception as e:
            failure = ContextFailure(_error_line(e), tb.format_exc())
    if failure is not None:  # the whole chunk fails with the same cause
        for c in cells:
            push(CellOutcome(c.cell_id, None, failure.error, failure.traceback, start, 0.0, worker,
                             node))
            if fail_fast:
                break
        return out
    for cell in cells:
        started = time.time()
        try:
            row = kind.run_cell(cell, ctx)
        except Exception as e:
            push(CellOutcome(cell.cell_id, None, _error_line(e), tb.format_exc(), started,
                             time.perf_counter() - t0, worker, node))
            t0 = time.perf_counter()
            if fail_fast:
                break
            continue
        push(CellOutcome(cell.cell_id, row, None, None, started, time.perf_counter() - t0, worker,
                         node))
        t0 = time.perf_counter()
    return out


# ----------------------------------------------------------------------------- planning
def n_cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def resolve_jobs(jobs: int | None) -> int:
    """``None``, ``0`` or ``-1`` -> all cores; ``-k`` -> all but k-1 (joblib's convention)."""
    if jobs is None or jobs == 0:
        return n_cores()
    if jobs < 0:
        return max(1, n_cores() + 1 + jobs)
    return jobs


#: GPU cells that share one GPU at a time by default (``--cells-per-gpu``): a fine-tuning cell
#: leaves a GPU idle between its steps while it prepares batches on the CPU.
CELLS_PER_GPU = 2


def cell_wants_gpu(cell: Any, n_cuda: int) -> bool:
    """Whether a cell's firm trains on a GPU when ``n_cuda`` CUDA devices are visible
    (:func:`acakit.firms.device.firm_wants_gpu` of its ``firm``)."""
    from acakit.firms.device import firm_wants_gpu

    firm = getattr(cell, "firm", None)
    if firm is None or n_cuda <= 0:
        return False
    return firm_wants_gpu(str(getattr(firm, "name", "")), getattr(firm, "params", None) or {},
                          n_cuda)


def gpu_slots(n_gpus: int, cells_per_gpu: int, workers: int) -> int:
    """How many GPU tasks may run at once: ``n_gpus * cells_per_gpu``, at most ``workers``.

    Examples
    --------
    >>> gpu_slots(1, 2, 16), gpu_slots(4, 2, 6), gpu_slots(0, 2, 16)
    (2, 6, 0)
    """
    if n_gpus < 0 or cells_per_gpu < 1 or workers < 1:
        raise ValueError(f"gpus: {n_gpus}, cells per GPU: {cells_per_gpu}, workers: {workers} "
                         "(need gpus >= 0, cells per GPU >= 1, workers >= 1)")
    return min(n_gpus * cells_per_gpu, workers)


def next_task_kind(pending_gpu: int, pending_cpu: int, running_gpu: int, running: int,
                   slots: int, workers: int) -> str | None:
    """The scheduling rule of GPU and CPU tasks on one pool of ``workers`` processes.

    A free worker takes a GPU task while fewer than ``slots`` GPU tasks run (so the GPUs are
    never oversubscribed and never idle while GPU work waits), else a CPU task (so the other
    workers stay busy); ``None``: nothing to start now.

    Examples
    --------
    >>> next_task_kind(pending_gpu=5, pending_cpu=5, running_gpu=2, running=2, slots=2, workers=4)
    'cpu'
    >>> next_task_kind(5, 5, running_gpu=1, running=4, slots=2, workers=4) is None
    True
    >>> next_task_kind(5, 0, running_gpu=2, running=2, slots=2, workers=4) is None
    True
    """
    if running >= workers:
        return None
    if pending_gpu and running_gpu < slots:
        return "gpu"
    if pending_cpu:
        return "cpu"
    return None


def plan_tasks(cells: Sequence[Cell], workers: int, split: bool = True) -> list[list[int]]:
    """Group cell indices by context, then cut groups into chunks so ``workers`` stay busy.

    With one worker a task is a whole group (the context is built once). With more, groups are
    cut into chunks of at most ``ceil(n / (3 * workers))`` cells (when ``split``: the context is
    then shared through the on-disk cache), and chunks are interleaved (first chunk of every
    group, then the second ...) so a later chunk usually finds its context already cached.

    Returns
    -------
    list of list of int
        Indices into ``cells``, one list per task.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        groups[context_key(c)].append(i)
    if workers <= 1 or not split:
        return list(groups.values())
    size = max(1, math.ceil(len(cells) / (3 * workers)))
    chunked: list[list[list[int]]] = []
    for idx in groups.values():
        k = math.ceil(len(idx) / size)
        step = math.ceil(len(idx) / k)
        chunked.append([idx[j:j + step] for j in range(0, len(idx), step)])
    tasks: list[list[int]] = []
    for r in range(max((len(ch) for ch in chunked), default=0)):  # no cells: no tasks
        tasks += [ch[r] for ch in chunked if r < len(ch)]
    return tasks


# ----------------------------------------------------------------------------- progress
def _workers_label(runner: str, workers: int, address: str | None) -> str:
    """``", 2 workers"``; a Ray cluster's size is known only once connected (its CPUs)."""
    if runner == "serial":
        return ""
    if runner == "ray" and address:
        return f" at {address}, the cluster's CPUs"
    return f", {workers} workers"


def eta_seconds(first: Sequence[float], other: Sequence[float], contexts_left: int,
                cells_left: int, workers: int) -> float | None:
    """Seconds left: the cells still to run, each new context's first cell costing what first
    cells have cost so far (it builds the split and fits the clean firm), the others what the
    others have; spread over ``workers``. None before any cell finished.

    Examples
    --------
    >>> eta_seconds([30.0], [2.0, 2.0], contexts_left=3, cells_left=10, workers=2)
    52.0
    >>> eta_seconds([], [], 1, 5, 1) is None
    True
    """
    if not first and not other:
        return None
    f = float(np.mean(first)) if first else float(np.mean(other))
    c = float(np.mean(other)) if other else f
    contexts_left = min(contexts_left, cells_left)
    return (contexts_left * f + (cells_left - contexts_left) * c) / max(workers, 1)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class _Progress:
    """A rich bar (cells done / failed / cached, ETA) or, when quiet, log lines.

    The ETA counts what is left by kind (:func:`eta_seconds`): the first cell of each context
    costs the context (split, clean firm) too, so a sweep of many contexts is not estimated
    from its cheap later cells.
    """

    def __init__(self, total: int, cached: int, failed: int, enabled: bool, label: str,
                 context_of: dict[str, str] | None = None, workers: int = 1) -> None:
        self.total, self.cached, self.failed, self.done = total, cached, failed, 0
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self._next_log = 0.1
        self._bar: Any = None
        self.context_of = context_of or {}
        self.workers = workers
        self._contexts_left = set(self.context_of.values())
        self._first: list[float] = []
        self._other: list[float] = []
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failed [red]{task.fields[failed]}[/] cached {task.fields[cached]}"),
                TimeElapsedColumn(), TextColumn("eta {task.fields[eta]}"), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, failed=failed, cached=cached,
                                            eta=_clock(None))
        else:
            log.info("%s: %d cells to run, %d cached in the store (%d of them failed)",
                     label, total, cached, failed)

    def eta(self) -> float | None:
        """Seconds left (:func:`eta_seconds`); without context keys, elapsed time per cell."""
        left = self.total - self.done
        if not self.context_of:
            el = time.perf_counter() - self.t0
            return el / self.done * left if self.done else None
        return eta_seconds(self._first, self._other, len(self._contexts_left), left, self.workers)

    def advance(self, outcome: CellOutcome) -> None:
        self.done += 1
        key = self.context_of.get(outcome.cell_id)
        if key is not None:
            (self._first if key in self._contexts_left else self._other).append(outcome.seconds)
            self._contexts_left.discard(key)
        if not outcome.ok:
            self.failed += 1
            log.warning("cell %s failed: %s", outcome.cell_id, outcome.error)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed, eta=_clock(self.eta()))
        elif self.total and self.done / self.total >= self._next_log - 1e-9:
            el = time.perf_counter() - self.t0
            eta = self.eta() or 0.0
            log.info("%d/%d cells done, %d failed, %d cached, %.0fs elapsed, eta %.0fs",
                     self.done, self.total, self.failed, self.cached, el, eta)
            while self._next_log <= self.done / self.total + 1e-9:
                self._next_log += 0.1

    def close(self) -> None:
        if self._bar is not None:
            if self.total and not self.done:  # none ran (Ray unreachable, ...): no bar above the error
                self._bar.live.transient = True
                self._bar.live.stop()  # Progress.stop would add a blank line on a file or pipe
            else:
                self._bar.stop()


# ----------------------------------------------------------------------------- executors
TaskIter = Iterator[tuple[list[int], list[CellOutcome]]]


def _serial(cells: Sequence[Cell], tasks: list[list[int]], opts: dict[str, Any],
            on_outcome: Callable[[CellOutcome], None]) -> None:
    for idx in tasks:
        execute_task([cells[i] for i in idx], emit=on_outcome, **opts)


#: Times Ray runs a task again after a system failure (its worker process or its node died);
#: a cell that raises is not retried (it is stored as failed).
RAY_MAX_RETRIES = 3
#: Ray tasks are planned for this many workers per CPU of the cluster (:func:`plan_tasks`):
#: chunks of at most ``ceil(n / (3 * 4 * CPUs))`` cells.
RAY_TASKS_PER_CPU = 4


#: Seconds to wait for a Ray cluster at ``--address`` to answer before giving up in one line.
CONNECT_TIMEOUT = 2.0


def interrupted(error: BaseException) -> bool:
    """Whether ``error`` is a Ctrl-C in disguise: a ``KeyboardInterrupt`` among its causes (a
    pydantic serializer interrupted mid-dump raises ``PydanticSerializationError`` from it)."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def check_cluster(runner: str | None, address: str | None,
                  timeout: float | None = None) -> str | None:
    """The runner of a run given ``--address``: Ray (``--address`` implies it; another
    ``--runner`` is refused) once :func:`check_address` found the cluster; ``runner`` as it is
    without an address.

    Raises
    ------
    RunnerError
        One line naming ``--address``.
    """
    if address is None:
        return runner
    if runner not in (None, "ray"):
        raise RunnerError(f"--address: a Ray cluster's address needs --runner ray (or no "
                          f"--runner), not --runner {runner!r:.20}")
    check_address(address, timeout)
    return "ray"


def check_address(address: str, timeout: float | None = None) -> None:
    """Check that a Ray cluster at ``address`` answers, within ``timeout`` seconds.

    ``auto`` (the cluster started on this machine) is left to Ray, which answers at once when
    there is none. ``HOST:PORT`` (or ``ray://HOST:PORT``) must be a host that resolves and a
    port in 1..65535 that accepts a connection within the timeout; otherwise one line names the
    address, instead of Ray retrying for minutes.

    Raises
    ------
    RunnerError
        ``--address: ...``, naming the address and what went wrong.
    """
    import socket

    from acakit._safe import visible

    wait = CONNECT_TIMEOUT if timeout is None else timeout
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 < wait <= 3600:
        raise RunnerError(f"--connect-timeout: {wait!r} is not a number of seconds in (0, 3600]")
    if not isinstance(address, str) or not address.strip():
        raise RunnerError(f"--address: {address!r} is not a Ray address (auto or HOST:PORT)")
    if address == "auto":
        return
    shown = visible(address)[:100]
    rest = address.removeprefix("ray://")
    host, sep, port_text = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit():
        raise RunnerError(f"--address: {shown!r} is not a Ray address (auto or HOST:PORT)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise RunnerError(f"--address: {shown!r}: port {port} is not in 1..65535")
    try:
        with socket.create_connection((host, port), timeout=wait) as conn:
            conn.settimeout(wait)
            if not _speaks_http2(conn):  # Ray's GCS and client server are gRPC (HTTP/2)
                raise RunnerError(f"--address: {shown!r} answers, but not as a Ray cluster (no "
                                  "gRPC server there: another service on that port?)")
    except socket.gaierror:
        raise RunnerError(f"--address: no Ray cluster at {shown!r} (unknown host "
                          f"{visible(host)!r})") from None
    except TimeoutError:
        raise RunnerError(f"--address: no Ray cluster at {shown!r} answered within {wait:g} s "
                          "(raise --connect-timeout for a slow network)") from None
    except OSError as e:
        raise RunnerError(f"--address: no Ray cluster at {shown!r} ({e.strerror or e})") from None


def _speaks_http2(conn: Any) -> bool:
    """Whether the server on ``conn`` answers the HTTP/2 client preface with a SETTINGS frame, as
    every gRPC server (Ray's GCS, its client server) does; an HTTP/1 server answers otherwise or
    closes. Raises ``TimeoutError`` when it says nothing within the socket's timeout."""
    conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    head = b""
    while len(head) < 9:
        chunk = conn.recv(9 - len(head))
        if not chunk:
            return False
        head += chunk
    return head[3] == 0x04  # the frame type of SETTINGS


def _ray_connect(ray: Any, address: str, kw: dict[str, Any], timeout: float | None = None) -> None:
    """``ray.init(address=address, **kw)`` within ``timeout`` seconds (default
    :data:`CONNECT_TIMEOUT`), Ray's own log lines kept off the terminal.

    A server that answers gRPC's preface (:func:`check_address`) but never serves Ray's GCS
    keeps ``ray.init`` retrying for minutes, printing C++ log lines to file descriptor 2 every
    few seconds. So ``ray.init`` runs in a daemon thread (its GCS client waits in C++, the GIL
    released) while this thread waits at most ``timeout``; meanwhile descriptor 2 points at a
    temporary file and Python's logging is off (Ray's own logger writes to ``sys.stderr``), both
    put back when init returns or the deadline passes. On a failure the captured lines go to the
    debug log and one line names the address.

    Raises
    ------
    RunnerError
        ``runner ray: ...``, naming the address: init failed, or did not finish in time.
    """
    import tempfile
    import threading

    from acakit._safe import visible

    wait = CONNECT_TIMEOUT if timeout is None else timeout
    outcome: list[BaseException | None] = []

    def init() -> None:
        try:
            ray.init(address=address, **kw)
        except BaseException as e:  # noqa: BLE001  (handed to the waiting thread)
            outcome.append(e)
        else:
            outcome.append(None)

    with tempfile.TemporaryFile() as sink:
        _flush_stderr()
        saved = os.dup(2)
        muted = logging.root.manager.disable
        try:
            os.dup2(sink.fileno(), 2)
            # Ray's Python warnings ("SIGTERM handler is not set ...") reach the terminal through
            # sys.stderr, which a progress bar may have wrapped: none is logged meanwhile
            logging.disable(logging.CRITICAL)
            thread = threading.Thread(target=init, name="acakit-ray-init", daemon=True)
            thread.start()
            thread.join(wait)
        finally:
            logging.disable(muted)
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        captured = sink.read(1 << 20).decode("utf-8", "replace")
    shown = visible(address)[:100]
    if outcome and outcome[0] is None:
        return
    if captured.strip():
        log.debug("ray.init(address=%r) printed:\n%s", shown, visible(captured, keep_newlines=True))
    if "InvalidAuthToken" in captured or "Unauthenticated" in captured:
        hint = ("; the cluster refused this driver's token: set RAY_AUTH_MODE=token and "
                "RAY_AUTH_TOKEN as on its head node (docs/cluster.md)")
    else:
        hint = ""
    if not outcome:
        raise RunnerError(f"runner ray: the Ray cluster at {shown!r} did not accept this driver "
                          f"within {wait:g} s (raise --connect-timeout for a slow cluster{hint})")
    error = outcome[0]
    assert error is not None
    if isinstance(error, KeyboardInterrupt):
        raise error
    raise RunnerError(f"runner ray: cannot reach {shown} ({_error_line(error)}{hint})")


def _flush_stderr() -> None:
    """Flush ``sys.stderr`` (a console's or a test runner's) before file descriptor 2 moves."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # pragma: no cover  (closed or absent)
        pass


def _ray(cells: Sequence[Cell], opts: dict[str, Any], jobs: int, address: str | None,
         stats: dict[str, Any], gpus: int | None = None,
         cells_per_gpu: int = CELLS_PER_GPU, gpu_stats: dict[str, Any] | None = None,
         connect_timeout: float | None = None) -> TaskIter:
    """Run ``cells`` on Ray: one context task per context key, then the cell tasks.

    The cells are planned into tasks for the cluster's CPUs (:func:`plan_tasks`, with
    :data:`RAY_TASKS_PER_CPU` workers per CPU). Each context
    is made once by a task whose result stays in Ray's object store; the cell tasks of that
    context take it as an argument, so Ray moves it once to each node that runs one of them
    (not once per cell). A task whose worker or node died is retried by Ray
    (:data:`RAY_MAX_RETRIES`), on another node if its own is gone; a context lost with its node
    is made again from its lineage. ``stats`` is filled, at the end, with what was shipped (see
    :func:`run_sweep`).

    Where the cluster has GPUs, the tasks of cells whose firm trains on a GPU (and their context
    tasks, which fit the clean firm) ask for ``num_gpus = 1 / cells_per_gpu``, so Ray shares
    each GPU among that many tasks and sets ``CUDA_VISIBLE_DEVICES`` in each; ``gpus`` caps
    the GPUs counted (default: all of the cluster's). With an ``address``, ``ray.init`` runs
    under the ``connect_timeout`` deadline, its log lines off the terminal (:func:`_ray_connect`).
    """
    try:
        import ray
    except ImportError:
        raise RunnerError("runner ray: Ray is not installed (pip install 'acakit[ray]')") from None
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False,
                              "log_to_driver": False, "logging_level": logging.WARNING}
        if address:
            _ray_connect(ray, address, kw, connect_timeout)
        else:
            try:
                ray.init(num_cpus=jobs, **kw)
            except Exception as e:
                raise RunnerError(f"runner ray: cannot start a local cluster ({_error_line(e)})") from None
        started = True
    workers = max(jobs, int(ray.cluster_resources().get("CPU", 1))) if address else jobs
    # finer tasks than loky's (a task no longer rebuilds its context, it gets it from the object
    # store): better balance across nodes, and less to redo when a node dies
    tasks = plan_tasks(cells, RAY_TASKS_PER_CPU * workers)
    ctx_opts = {k: opts[k] for k in ("cache_root", "cache_enabled", "allowed_modules", "plugins")
                if k in opts}
    make_ctx = ray.remote(num_cpus=1, num_returns=2, max_retries=RAY_MAX_RETRIES)(make_context_task)
    remote = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES)(execute_task)
    cluster_gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus is not None:
        cluster_gpus = min(cluster_gpus, gpus)
    gpu_share = 1.0 / cells_per_gpu
    make_ctx_gpu = make_ctx.options(num_gpus=gpu_share)
    remote_gpu = remote.options(num_gpus=gpu_share)
    on_gpu = [cell_wants_gpu(cells[idx[0]], cluster_gpus) for idx in tasks]
    ctx_ref: dict[str, Any] = {}
    info_ref: dict[str, Any] = {}
    left: dict[str, int] = defaultdict(int)  # tasks of each context not finished yet
    key_of: list[str] = []
    for t, idx in enumerate(tasks):
        key = context_key(cells[idx[0]])
        if key not in ctx_ref:
            ctx_ref[key], info_ref[key] = (make_ctx_gpu if on_gpu[t] else make_ctx).remote(
                cells[idx[0]], **ctx_opts)
        left[key] += 1
        key_of.append(key)
    pending = {(remote_gpu if on_gpu[t] else remote).remote(
        [cells[i] for i in idx], context=ctx_ref[key_of[t]], **opts): t
        for t, idx in enumerate(tasks)}
    if gpu_stats is not None and any(on_gpu):
        gpu_stats.update(gpus=cluster_gpus, num_gpus_per_task=gpu_share,
                         gpu_tasks=int(sum(on_gpu)))
    n_cells: dict[str, int] = defaultdict(int)
    nodes_of: dict[str, set[str]] = defaultdict(set)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            t = pending.pop(ref)
            idx, key = tasks[t], key_of[t]
            try:
                outcomes = ray.get(ref)
            except Exception as e:  # failed beyond Ray's retries: every cell of the task failed
                trace = "".join(tb.format_exception(e))
                outcomes = [CellOutcome(cells[i].cell_id, None, _error_line(e), trace, time.time(),
                                        0.0, "ray", "ray") for i in idx]
            n_cells[key] += len(idx)
            nodes_of[key].update(o.node for o in outcomes if o.node and o.node != "ray")
            left[key] -= 1
            if not left[key]:  # the context's last task: the object store may free it
                ctx_ref.pop(key, None)
            yield idx, outcomes
    finally:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # pragma: no cover
                pass
        ctx_ref.clear()
        try:
            stats.update(_transfer_stats(ray, info_ref, n_cells, nodes_of))
        except Exception as e:  # pragma: no cover  (stats only; never fail the sweep for them)
            log.warning("ray: could not account for the contexts shipped (%s)", _error_line(e))
        if started:
            ray.shutdown()


def _transfer_stats(ray: Any, info_ref: dict[str, Any], n_cells: dict[str, int],
                    nodes_of: dict[str, set[str]]) -> dict[str, Any]:
    """What the contexts cost to ship: as done (once per node using one) and per cell."""
    keys = [k for k in info_ref if n_cells.get(k)]
    infos = dict(zip(keys, ray.get([info_ref[k] for k in keys], timeout=60), strict=True)) if keys else {}
    nbytes = {k: max(0, int(v["bytes"])) for k, v in infos.items()}
    shipped = sum(nbytes[k] * len(nodes_of[k] - {infos[k]["node"]}) for k in keys)
    return {
        "contexts": len(keys),
        "cells": sum(n_cells[k] for k in keys),
        "nodes": sorted(set().union(*nodes_of.values()) if nodes_of else set()),
        "context_bytes": sum(nbytes.values()),
        "shipped_bytes": shipped,
        "per_cell_bytes": sum(nbytes[k] * n_cells[k] for k in keys),
        "context_seconds": round(sum(float(v["seconds"]) for v in infos.values()), 3),
    }


# ----------------------------------------------------------------------------- the sweep
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


def run_sweep(
    cells: Sequence[Cell],
    *,
    runner: str | None = None,
    jobs: int | None = 1,
    address: str | None = None,
    store: Any = None,
    fail_fast: bool = False,
    retry_failed: bool = False,
    progress: bool = True,
    cache: bool | str | Path | None = None,
    labels: Sequence[str] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    gpus: int | None = None,
    cells_per_gpu: int = CELLS_PER_GPU,
    connect_timeout: float | None = None,
) -> SweepRun:
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
        Ray cluster address (``"auto"`` or ``"HOST:PORT"``); implies ``runner="ray"``, and
        another runner with an address is refused. Checked to answer before any cell runs.
    store : ResultStore, str or Path, optional
        Where finished cells are written (and read back on a rerun).
    fail_fast : bool, default=False
        Stop at the first failing cell (after storing it) and raise :class:`CellFailedError`.
    retry_failed : bool, default=False
        Run again the cells the store holds as failed (else they are skipped).
    progress : bool, default=True
        Live bar; otherwise log lines on the ``acakit.engine.runners`` logger.
    cache : bool, str or Path, optional
        On-disk cache: a folder, True (default folder) or False (off); None follows
        ``$ACAKIT_CACHE``.
    labels : sequence of str, optional
        Variant label per cell (stored, and put in each row's ``variant``).
    on_result : callable, optional
        Called with each new successful row.
    gpus : int, optional
        GPUs the cells whose firm trains on a GPU may use (default: every GPU torch sees; on
        Ray: the cluster's). Only loky and Ray schedule; serial runs one cell at a time.
    cells_per_gpu : int, default=CELLS_PER_GPU
        GPU cells that share one GPU at once: on loky at most ``gpus * cells_per_gpu`` GPU
        tasks run while the other workers take CPU cells; on Ray each GPU task asks for
        ``num_gpus = 1 / cells_per_gpu``.
    connect_timeout : float, optional
        Seconds to wait for the cluster at ``address`` (default :data:`CONNECT_TIMEOUT`).

    Returns
    -------
    SweepRun

    Raises
    ------
    RunnerError
        Unknown runner, Ray missing or unreachable, a worker pool that broke down.
    CellFailedError
        A cell failed and ``fail_fast`` is set.
    acakit.engine.store.StoreError
        The store is unusable (checked before any cell runs).
    """
    from acakit.engine import cache as _cache
    from acakit.engine.store import ResultStore, StoreError

    t_start = time.perf_counter()
    runner = check_cluster(runner, address, connect_timeout)
    workers = resolve_jobs(jobs)
    runner = runner or ("serial" if workers == 1 else "loky")
    check_runner_options(runner, jobs, cells_per_gpu, gpus)
    if runner == "serial":
        workers = 1
    if runner == "serial" and gpus is not None:  # refused as loky refuses it, not ignored
        _local_gpus(cells, gpus)
    n_gpus = _local_gpus(cells, gpus) if runner == "loky" else 0
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

    own_store = store is not None and not isinstance(store, ResultStore)
    st: ResultStore | None = ResultStore(store) if own_store else store
    label_of = {}
    uniq: list[Cell] = []
    for i, cell in enumerate(cells):
        cid = cell.cell_id
        if cid not in label_of:
            label_of[cid] = labels[i] if labels is not None else cell.variant
            uniq.append(cell)
    result = SweepRun(store=None if st is None else st.path)
    try:
        todo = uniq
        if st is not None:
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
            todo = [c for c in uniq if c.cell_id not in skip]
        spec_of = {c.cell_id: c for c in todo}
        bar = _Progress(len(todo), result.n_cached, result.n_failed, progress,
                        f"cells ({runner}{_workers_label(runner, workers, address)})",
                        context_of={c.cell_id: context_key(c) for c in todo}, workers=workers)
        stop: list[CellOutcome] = []

        def handle(o: CellOutcome) -> None:
            cell = spec_of[o.cell_id]
            variant = label_of[o.cell_id]
            if o.row is not None:
                o.row["variant"] = variant
                o.row.setdefault("cell_id", o.cell_id)
            if st is not None:
                st.record(o.cell_id, cell.model_dump(mode="json"), o.row, error=o.error,
                          traceback=o.traceback, variant=variant, started_at=o.started_at,
                          seconds=o.seconds, worker=o.worker, node=o.node or None)
            result.n_run += 1
            if o.ok:
                assert o.row is not None
                result.rows[o.cell_id] = o.row
                if on_result is not None:
                    on_result(o.row)
            else:
                result.failures.append(o)
                if fail_fast:
                    stop.append(o)
            bar.advance(o)

        try:
            tasks = plan_tasks(todo, workers, split=c.enabled)
            if runner == "serial" or (runner == "loky" and (workers == 1 or len(tasks) <= 1)):
                if runner == "loky":
                    tasks = plan_tasks(todo, 1)
                for idx in tasks:
                    execute_task([todo[i] for i in idx], emit=handle, **opts)
                    if stop:
                        break
            elif tasks:
                on_gpu = [cell_wants_gpu(todo[idx[0]], n_gpus) for idx in tasks]
                it: TaskIter
                if runner == "loky" and any(on_gpu):
                    it = _loky_gpu_iter(todo, tasks, opts, workers, on_gpu, n_gpus, cells_per_gpu,
                                        result.gpu)
                elif runner == "loky":
                    it = _loky_iter(todo, tasks, opts, workers)
                else:
                    it = _ray(todo, opts, workers, address, result.transfer, gpus, cells_per_gpu,
                              result.gpu, connect_timeout)
                try:
                    for _, outcomes in it:
                        for o in outcomes:
                            handle(o)
                        if stop:
                            break
                finally:
                    close = getattr(it, "close", None)
                    if close is not None:
                        close()
        except (KeyboardInterrupt, RunnerError, StoreError):
            raise
        except Exception as e:
            if interrupted(e):  # Ctrl-C inside a library that wrapped it (pydantic does)
                raise KeyboardInterrupt from e
            raise RunnerError(f"runner {runner}: {_error_line(e)}; finished cells are in the store") from e
        finally:
            bar.close()
            if result.transfer:
                _report_transfer(result.transfer, st)
        if stop:
            o = stop[0]
            raise CellFailedError(f"cell {o.cell_id} ({label_of[o.cell_id]}) failed: {o.error} "
                                  f"[--fail-fast; {len(result.rows)} finished cells kept]")
    finally:
        if own_store and st is not None:
            st.close()
    result.seconds = time.perf_counter() - t_start
    return result


def _local_gpus(cells: Sequence[Cell], gpus: int | None) -> int:
    """GPUs the loky scheduler gives GPU cells: ``gpus`` (checked against what torch sees) or
    every visible one; 0 when no cell's firm could train on a GPU (torch is then not imported).
    """
    from acakit.firms.device import cuda_device_count

    if not any(cell_wants_gpu(c, 1) for c in cells):
        return 0
    seen = cuda_device_count()
    if gpus is not None and gpus > seen:
        raise RunnerError(f"gpus: {gpus} asked for, but torch sees {seen} CUDA device(s)")
    return seen if gpus is None else gpus


def _report_transfer(transfer: dict[str, Any], st: Any) -> None:
    """Log what the Ray contexts cost to ship and keep it in the store's meta table."""
    import json

    log.info("ray: %d contexts for %d cells on %d nodes; made once each (%d bytes), shipped %d "
             "bytes through the object store (per cell it would be %d bytes)",
             transfer["contexts"], transfer["cells"], len(transfer["nodes"]),
             transfer["context_bytes"], transfer["shipped_bytes"], transfer["per_cell_bytes"])
    if st is not None:
        try:
            st.set_meta("ray_transfer", json.dumps(transfer, sort_keys=True))
        except Exception as e:  # the store's own errors surface on the next record
            log.warning("ray: could not keep the transfer figures in the store (%s)", _error_line(e))


def _loky_gpu_iter(cells: Sequence[Cell], tasks: list[list[int]], opts: dict[str, Any],
                   jobs: int, on_gpu: Sequence[bool], n_gpus: int, cells_per_gpu: int,
                   stats: dict[str, Any] | None = None) -> TaskIter:
    """Run tasks on ``jobs`` loky workers, at most :func:`gpu_slots` GPU tasks at once.

    Each running GPU task holds a slot; slot ``k`` is CUDA device ``k % n_gpus`` (made current
    in the worker, :func:`execute_task`'s ``gpu``). Free workers take GPU tasks while a slot is
    free, CPU tasks otherwise (:func:`next_task_kind`). ``stats`` gets ``max_gpu_tasks``, the
    most GPU tasks that ran at once.
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.executor import get_memmapping_executor

    slots = gpu_slots(n_gpus, cells_per_gpu, jobs)
    gpu_q = [t for t in range(len(tasks)) if on_gpu[t]]
    if gpu_q and slots == 0:
        raise RunnerError("runner loky: GPU cells but no GPU to run them on")
    cpu_q = [t for t in range(len(tasks)) if not on_gpu[t]]
    free_slots = list(range(slots))
    # joblib's own reusable pool (the one Parallel uses): a plain loky pool made first would be
    # reused by joblib later and break it (no temporary-folder manager)
    executor = get_memmapping_executor(jobs)
    running: dict[Any, tuple[int, int | None]] = {}
    most = 0
    try:
        while gpu_q or cpu_q or running:
            while True:
                n_gpu = sum(1 for _, slot in running.values() if slot is not None)
                kind = next_task_kind(len(gpu_q), len(cpu_q), n_gpu, len(running), slots, jobs)
                if kind is None:
                    break
                t = (gpu_q if kind == "gpu" else cpu_q).pop(0)
                slot = free_slots.pop(0) if kind == "gpu" else None
                gpu = None if slot is None else slot % max(n_gpus, 1)
                fut = executor.submit(execute_task, [cells[i] for i in tasks[t]], gpu=gpu, **opts)
                running[fut] = (t, slot)
                most = max(most, n_gpu + (kind == "gpu"))
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                t, slot = running.pop(fut)
                if slot is not None:
                    free_slots.append(slot)
                    free_slots.sort()
                yield tasks[t], fut.result()
    finally:
        for fut in running:
            fut.cancel()
        if stats is not None:
            stats.update(gpus=n_gpus, slots=slots, gpu_tasks=sum(on_gpu), max_gpu_tasks=most)


def _loky_iter(cells: Sequence[Cell], tasks: list[list[int]], opts: dict[str, Any],
               jobs: int) -> TaskIter:
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered", batch_size=1)
    results = par(delayed(execute_task)([cells[i] for i in idx], **opts) for idx in tasks)
    try:
        for outcomes in results:
            yield [], outcomes
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
