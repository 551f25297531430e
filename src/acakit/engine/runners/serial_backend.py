"""The ``serial`` backend: every task in this process, each cell handed back as it finishes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from acakit.engine.runners.base import Backend, Cell, CellOutcome
from acakit.engine.runners.task import iter_task


class SerialBackend(Backend):
    """Tasks one after the other in this process; a batch is one cell (stored at once)."""

    def submit(self, cells: Sequence[Cell], tasks: list[list[int]]) -> None:
        """Keep the tasks; they run as :meth:`results` is read."""
        self._cells, self._tasks = cells, tasks

    def results(self) -> Iterator[list[CellOutcome]]:
        """Each cell's outcome as soon as it exists."""
        for idx in self._tasks:
            for o in iter_task([self._cells[i] for i in idx], **self.settings.opts):
                yield [o]
