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

The modules, one concern each:

- :mod:`~acakit.engine.runners.base`: the cell protocol, the cell kinds, :class:`CellOutcome`,
  the errors, and :class:`Backend` (the interface every backend implements);
- :mod:`~acakit.engine.runners.task`: running one task (:func:`execute_task`);
- :mod:`~acakit.engine.runners.planning`: workers, tasks (:func:`plan_tasks`), GPU slots;
- :mod:`~acakit.engine.runners.progress`: the bar and its ETA;
- :mod:`~acakit.engine.runners.serial_backend`, :mod:`~acakit.engine.runners.loky_backend`,
  :mod:`~acakit.engine.runners.ray_backend`: the backends;
- :mod:`~acakit.engine.runners.sweep`: the sweep loop (:func:`run_sweep`).

Adding a backend (say Dask) is one new module, ``dask_backend.py``, with a subclass of
:class:`Backend`: ``submit(cells, tasks)`` starts the tasks (each task a list of indices into
``cells``; run one with ``execute_task([cells[i] for i in idx], **self.settings.opts)``),
``results()`` yields each task's list of :class:`CellOutcome` as it finishes, and ``close()``
cancels what is left and releases the workers (or subclass :class:`IteratorBackend` and set
``self._it`` in ``submit`` to a generator of ``(task, outcomes)`` pairs whose ``finally``
cleans up, as the loky and Ray backends do). Then name it in
:data:`~acakit.engine.runners.sweep.BACKENDS` (``"dask": "acakit.engine.runners.dask_backend:
DaskBackend"``) and in :data:`RUNNERS`; the sweep loop, the store, resuming, ``fail_fast`` and
the progress bar need nothing else.

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

from acakit.engine.runners.base import (
    CELL_KINDS,
    RUNNERS,
    Backend,
    Cell,
    CellFailedError,
    CellOutcome,
    IteratorBackend,
    RunnerError,
    RunSettings,
    SweepInterrupted,
    TaskIter,
    cell_kind,
    context_key,
    interrupted,
    log,
)
from acakit.engine.runners.loky_backend import LokyBackend, _loky_gpu_iter, _loky_iter
from acakit.engine.runners.planning import (
    CELLS_PER_GPU,
    cell_wants_gpu,
    check_runner_options,
    gpu_slots,
    n_cores,
    next_task_kind,
    plan_tasks,
    resolve_jobs,
)
from acakit.engine.runners.progress import _Progress, eta_seconds
from acakit.engine.runners.ray_backend import (
    CONNECT_TIMEOUT,
    RAY_MAX_RETRIES,
    RAY_TASKS_PER_CPU,
    RayBackend,
    check_address,
    check_cluster,
)
from acakit.engine.runners.serial_backend import SerialBackend
from acakit.engine.runners.sweep import BACKENDS, SweepRun, make_backend, run_sweep
from acakit.engine.runners.task import (
    ContextFailure,
    execute_task,
    iter_task,
    make_context_task,
    node_name,
)

__all__ = [
    "BACKENDS", "CELLS_PER_GPU", "CELL_KINDS", "CONNECT_TIMEOUT", "RAY_MAX_RETRIES",
    "RAY_TASKS_PER_CPU", "RUNNERS", "Backend", "Cell", "CellFailedError", "CellOutcome",
    "ContextFailure", "IteratorBackend", "LokyBackend", "RayBackend", "RunSettings", "RunnerError",
    "SerialBackend",
    "SweepInterrupted", "SweepRun", "TaskIter", "_Progress", "_loky_gpu_iter", "_loky_iter",
    "cell_kind", "cell_wants_gpu", "check_address", "check_cluster", "check_runner_options",
    "context_key", "eta_seconds", "execute_task", "gpu_slots", "interrupted", "iter_task", "log",
    "make_backend", "make_context_task", "n_cores", "next_task_kind", "node_name", "plan_tasks",
    "resolve_jobs", "run_sweep",
]
