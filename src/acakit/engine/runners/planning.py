"""Planning a sweep: workers, the runner's options, tasks (cells grouped by context, cut into
chunks), and the GPU slots of the local scheduler."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from acakit.engine.runners.base import RUNNERS, Cell, RunnerError, context_key

#: GPU cells that share one GPU at a time by default (``--cells-per-gpu``): a fine-tuning cell
#: leaves a GPU idle between its steps while it prepares batches on the CPU.
CELLS_PER_GPU = 2


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


def cell_wants_gpu(cell: Any, n_cuda: int) -> bool:
    """Whether a cell's firm trains on a GPU when ``n_cuda`` CUDA devices are visible
    (:func:`acakit.firms.device.firm_wants_gpu` of its ``firm``)."""
    from acakit.firms.device import firm_wants_gpu

    firm = getattr(cell, "firm", None)
    if firm is None or n_cuda <= 0:
        return False
    return firm_wants_gpu(str(getattr(firm, "name", "")), getattr(firm, "params", None) or {},
                          n_cuda)


def local_gpus(cells: Sequence[Cell], gpus: int | None) -> int:
    """GPUs the loky scheduler gives GPU cells: ``gpus`` (checked against what torch sees) or
    every visible one; 0 when no cell's firm could train on a GPU (torch is then not imported).

    Raises
    ------
    RunnerError
        More GPUs asked for than torch sees.
    """
    from acakit.firms.device import cuda_device_count

    if not any(cell_wants_gpu(c, 1) for c in cells):
        return 0
    seen = cuda_device_count()
    if gpus is not None and gpus > seen:
        raise RunnerError(f"gpus: {gpus} asked for, but torch sees {seen} CUDA device(s)")
    return seen if gpus is None else gpus


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
