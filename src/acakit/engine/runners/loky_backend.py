"""The ``loky`` backend: tasks on local worker processes (joblib's loky pool), results back as
each task finishes; with GPU cells, a scheduler that keeps at most the GPU slots busy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acakit.engine.runners.base import Cell, IteratorBackend, RunnerError, TaskIter
from acakit.engine.runners.planning import cell_wants_gpu, gpu_slots, next_task_kind
from acakit.engine.runners.task import execute_task


class LokyBackend(IteratorBackend):
    """``workers`` local processes; GPU tasks limited to :func:`gpu_slots` at once."""

    def submit(self, cells: Sequence[Cell], tasks: list[list[int]]) -> None:
        """Queue the tasks on the pool (GPU tasks through :func:`_loky_gpu_iter`)."""
        s = self.settings
        on_gpu = [cell_wants_gpu(cells[idx[0]], s.n_gpus) for idx in tasks]
        if any(on_gpu):
            self._it = _loky_gpu_iter(cells, tasks, s.opts, s.workers, on_gpu, s.n_gpus,
                                      s.cells_per_gpu, s.gpu)
        else:
            self._it = _loky_iter(cells, tasks, s.opts, s.workers)


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
