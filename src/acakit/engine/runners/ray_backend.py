"""The ``ray`` backend: tasks on a Ray cluster, or on a local one started for the sweep.

Each context (split, clean firm) is made once by a Ray task and reaches the cell tasks through
Ray's object store (once per node that uses it, not once per cell); a task lost with its node
(a worker host that died) is run again by Ray elsewhere. Ray is imported only here, and only
when this backend runs. See ``docs/cluster.md``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback as tb
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from acakit.engine.runners.base import (
    Cell,
    CellOutcome,
    IteratorBackend,
    RunnerError,
    TaskIter,
    context_key,
    error_line,
    log,
)
from acakit.engine.runners.planning import CELLS_PER_GPU, cell_wants_gpu, plan_tasks
from acakit.engine.runners.task import execute_task, make_context_task

#: Times Ray runs a task again after a system failure (its worker process or its node died);
#: a cell that raises is not retried (it is stored as failed).
RAY_MAX_RETRIES = 3
#: Ray tasks are planned for this many workers per CPU of the cluster (:func:`plan_tasks`):
#: chunks of at most ``ceil(n / (3 * 4 * CPUs))`` cells.
RAY_TASKS_PER_CPU = 4


#: Seconds to wait for a Ray cluster at ``--address`` to answer before giving up in one line.
CONNECT_TIMEOUT = 2.0



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
    raise RunnerError(f"runner ray: cannot reach {shown} ({error_line(error)}{hint})")


def _flush_stderr() -> None:
    """Flush ``sys.stderr`` (a console's or a test runner's) before file descriptor 2 moves."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # pragma: no cover  (closed or absent)
        pass


def _ray_start(jobs: int, address: str | None, connect_timeout: float | None) -> tuple[Any, bool]:
    """Ray, connected to ``address`` or to a local cluster of ``jobs`` CPUs started now (True:
    started here, to be shut down at the end); as it is when this process already uses one."""
    try:
        import ray
    except ImportError:
        raise RunnerError("runner ray: Ray is not installed (pip install 'acakit[ray]')") from None
    if ray.is_initialized():
        return ray, False
    kw: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False,
                          "log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        _ray_connect(ray, address, kw, connect_timeout)
    else:
        try:
            ray.init(num_cpus=jobs, **kw)
        except Exception as e:
            raise RunnerError(f"runner ray: cannot start a local cluster ({error_line(e)})") from None
    return ray, True


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
    ray, started = _ray_start(jobs, address, connect_timeout)
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
                outcomes = [CellOutcome(cells[i].cell_id, None, error_line(e), trace, time.time(),
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
            log.warning("ray: could not account for the contexts shipped (%s)", error_line(e))
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
            log.warning("ray: could not keep the transfer figures in the store (%s)", error_line(e))


class RayBackend(IteratorBackend):
    """Context tasks, then cell tasks, on Ray (:func:`_ray`); fills the shipping figures."""

    def submit(self, cells: Sequence[Cell], tasks: list[list[int]]) -> None:
        """Connect (or start a local cluster) and queue the tasks as :meth:`results` is read.

        Ray plans its own, finer tasks for the cluster's CPUs: ``tasks`` is not used."""
        s = self.settings
        self._it = _ray(cells, s.opts, s.workers, s.address, s.transfer, s.gpus, s.cells_per_gpu,
                        s.gpu, s.connect_timeout)
