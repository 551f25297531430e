"""The sweep's progress: a live bar (cells done, failed, cached; an ETA that counts each new
context's first cell at what first cells cost) or, when quiet, log lines."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from acakit.engine.runners.base import CellOutcome, log


def workers_label(runner: str, workers: int, address: str | None) -> str:
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
