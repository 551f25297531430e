"""What every part of the runners shares: the cell protocol, the cell kinds, the outcome of a cell,
the errors, and the interface a backend implements (:class:`Backend`)."""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("acakit.engine.runners")


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


def cell_kind(cell: Any) -> Any:
    """The module that runs ``cell`` (by its ``kind``; see :data:`CELL_KINDS`)."""
    return importlib.import_module(CELL_KINDS[getattr(cell, "kind", "collective")])


def context_key(cell: Any) -> str:
    """Cells with equal keys share one context (computed once per task, cached on disk)."""
    return f"{getattr(cell, 'kind', 'collective')}:{cell_kind(cell).context_key(cell)}"


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


def error_line(exc: BaseException) -> str:
    """``"ExceptionType: first line of the message"``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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


#: What a backend's generators yield: the task's cell indices and the task's outcomes.
TaskIter = Iterator[tuple[list[int], list[CellOutcome]]]


@dataclass
class RunSettings:
    """What a sweep's backend needs to know, resolved once by the sweep loop.

    Attributes
    ----------
    runner : str
        The runner's name (a key of :data:`acakit.engine.runners.sweep.BACKENDS`).
    workers : int
        Workers (processes, or the local Ray cluster's CPUs).
    opts : dict
        Keyword arguments of :func:`~acakit.engine.runners.task.execute_task` for every task.
    address : str, optional
        A Ray cluster's address.
    gpus : int, optional
        GPUs asked for (``--gpus``).
    n_gpus : int
        GPUs the local scheduler gives GPU cells (0: none, or not loky).
    cells_per_gpu : int
        GPU cells sharing one GPU at once: on loky at most ``n_gpus * cells_per_gpu`` GPU tasks
        run while the other workers take CPU cells; on Ray each GPU task asks for
        ``num_gpus = 1 / cells_per_gpu``.
    connect_timeout : float, optional
        Seconds to wait for the cluster at ``address``.
    transfer, gpu : dict
        Filled by the backend (Ray's shipping figures; the GPU scheduling figures): the
        ``transfer`` and ``gpu`` of the sweep's :class:`~acakit.engine.runners.sweep.SweepRun`.
    """

    runner: str
    workers: int
    opts: dict[str, Any]
    address: str | None = None
    gpus: int | None = None
    n_gpus: int = 0
    cells_per_gpu: int = 2
    connect_timeout: float | None = None
    transfer: dict[str, Any] = field(default_factory=dict)
    gpu: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Where a sweep's tasks run: submitted once, their outcomes read as they finish, closed.

    A task is a list of cell indices sharing one context
    (:func:`~acakit.engine.runners.planning.plan_tasks`); running it is
    :func:`~acakit.engine.runners.task.execute_task` (or
    :func:`~acakit.engine.runners.task.iter_task`) wherever the backend runs things. The driver
    alone writes the store: a backend only hands outcomes back.

    Parameters
    ----------
    settings : RunSettings
        The sweep's resolved options (workers, task options, GPUs, a cluster's address).
    """

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings

    @abstractmethod
    def submit(self, cells: Sequence[Cell], tasks: list[list[int]]) -> None:
        """Start running ``tasks`` (lists of indices into ``cells``)."""

    @abstractmethod
    def results(self) -> Iterator[list[CellOutcome]]:
        """The outcomes, a batch at a time, as they finish (the driver stores each batch before
        asking for the next, and may stop asking: then :meth:`close` is called)."""

    def close(self) -> None:  # noqa: B027  (nothing to release by default)
        """Cancel what has not run and release the workers (called once, also on an error)."""


class IteratorBackend(Backend):
    """A backend whose :meth:`submit` makes one generator of ``(task, outcomes)`` pairs
    (``self._it``): :meth:`results` reads it, :meth:`close` closes it (its ``finally`` then
    cancels what is left and releases the workers)."""

    _it: TaskIter | None = None

    def results(self) -> Iterator[list[CellOutcome]]:
        """Each task's outcomes as it finishes."""
        assert self._it is not None, "submit() first"
        for _, outcomes in self._it:
            yield outcomes

    def close(self) -> None:
        """Close the generator (cancelling the tasks left)."""
        if self._it is not None:
            self._it.close()

