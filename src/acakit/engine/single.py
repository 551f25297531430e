"""Experiments: one cell = (dataset, collective, firm, seed) -> a dict of metrics; sweeps of cells.

Everything here is deterministic given the cell spec: the split, the draw of members and the
firm's own randomness are all seeded from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from acakit.collective import outcome_counts
from acakit.data.base import Dataset, train_test_split
from acakit.engine.collectives import (  # re-exported: importable from here as before
    CachedErase as CachedErase,
)
from acakit.engine.collectives import build_collective as build_collective
from acakit.engine.collectives import build_feature_map as build_feature_map
from acakit.engine.collectives import build_noise as build_noise
from acakit.engine.collectives import build_strategy as build_strategy
from acakit.engine.config import (
    CellSpec,
    data_stamp,
    load_dataset,
)
from acakit.firms import fit_recording_warnings, make_firm
from acakit.firms.defenses import defense_columns
from acakit.firms.device import fitted_device
from acakit.metrics import evaluate
from acakit.registry import blame, provenance


@dataclass
class Context:
    """What cells sharing (dataset, firm, seed) have in common: split and clean firm f0."""

    train: Dataset
    test: Dataset
    clean_firm: Any
    clean_pred: np.ndarray
    clean_fit_seconds: float
    clean_fit_warnings: str = ""


def cached_dataset(spec: Any) -> Dataset:
    """The data set of a spec, from this process's memory, the on-disk cache, or its loader."""
    from acakit.engine.cache import get_cache

    return get_cache().memoize("dataset", [spec.name, spec.params, *data_stamp(spec)],
                               lambda: load_dataset(spec), memory=True)


@lru_cache(maxsize=4)
def _split(dataset_json: str, seed: int, stamp: tuple[Any, ...] = ()) -> tuple[Dataset, Dataset]:
    from acakit.engine.config import DatasetSpec

    spec = DatasetSpec.model_validate_json(dataset_json)
    return train_test_split(cached_dataset(spec), spec.test_size, seed=seed)


def make_context(cell: CellSpec) -> Context:
    """Load the data, split it with the cell's seed and fit the clean firm f0.

    The data set comes from the cache (:mod:`acakit.engine.cache`), the split is kept in memory, and
    the fitted f0 with its test predictions is cached per (dataset, firm, seed).
    """
    from acakit.engine.cache import get_cache

    train, test = _split(cell.dataset.model_dump_json(), cell.seed, tuple(data_stamp(cell.dataset)))

    def fit_clean() -> tuple[Any, np.ndarray, float, str]:
        ds = cached_dataset(cell.dataset)
        firm = make_firm(cell.firm.name, ds, cell.firm.params, cell.firm.featurizer,
                         defense=cell.firm.defense)
        defense = None if cell.firm.defense is None else cell.firm.defense.name
        with blame("firms", cell.firm.name, "in fit"), blame("defenses", defense, "in fit"):
            fit_s, warned = fit_recording_warnings(firm, train.X, train.y)
        return firm, np.asarray(firm.predict(test.X)), fit_s, warned

    firm, pred, fit_s, warned = get_cache().memoize("clean_firm", [context_key(cell)], fit_clean)
    return Context(train, test, firm, pred, fit_s, warned)


def context_key(cell: CellSpec) -> str:
    """Cells with equal keys share a :class:`Context`."""
    from acakit.engine.config import spec_hash

    return spec_hash([cell.dataset.model_dump(mode="json"), cell.firm.model_dump(mode="json"),
                      cell.seed, *data_stamp(cell.dataset)])


def run_cell(cell: CellSpec, context: Context | None = None) -> dict[str, Any]:
    """Run one cell and return its row of results.

    Parameters
    ----------
    cell : CellSpec
        The cell.
    context : Context, optional
        Shared split and clean firm (computed if not given).

    Returns
    -------
    dict
        The cell's id and parameters (``dataset``, ``firm``, ``strategy``, ``alpha``,
        ``n_members``, ``seed``), every metric of :func:`acakit.metrics.evaluate`, and timings.
    """
    t_start = time.perf_counter()
    ctx = context or make_context(cell)
    c = cell.collective
    with blame("strategies", c.strategy, "applying the collective"), \
            blame("signals", c.signal.type, "applying the collective"):
        collective = build_collective(cell, ctx.train)
        altered, members = collective.apply(ctx.train)
    n_members = int(members.sum())
    if n_members == 0:
        firm, fit_s, warned = ctx.clean_firm, 0.0, ctx.clean_fit_warnings
    else:
        firm = make_firm(cell.firm.name, ctx.train, cell.firm.params, cell.firm.featurizer,
                         defense=cell.firm.defense)
        defense = None if cell.firm.defense is None else cell.firm.defense.name
        with blame("firms", cell.firm.name, "in fit"), blame("defenses", defense, "in fit"):
            fit_s, warned = fit_recording_warnings(firm, altered.X, altered.y)
    strategy = collective.strategy
    metrics = evaluate(firm, ctx.clean_firm, ctx.test.X, ctx.test.y, strategy.feature_map,
                       strategy.targets(), cell.confidence, clean_pred=ctx.clean_pred,
                       metrics=[(m.name, m.params) for m in cell.metrics])
    row: dict[str, Any] = {
        "cell_id": cell.cell_id,
        "dataset": cell.dataset.name,
        "firm": cell.firm.name,
        "strategy": cell.collective.strategy,
        "target": cell.collective.target,
        "alpha": n_members / len(ctx.train),
        "alpha_requested": cell.collective.alpha,
        "n_members": n_members,
        "n_train": len(ctx.train),
        "seed": cell.seed,
    }
    row |= metrics
    if cell.collective.noise is not None:  # what the members did (columns only with noise)
        row |= outcome_counts(collective.outcome_)
    if cell.collective.camouflage > 0:
        row["n_camouflaged"] = int(collective.camouflaged_.sum())
    if cell.firm.defense is not None:
        row |= defense_columns(cell.firm.defense, firm, members)
    row["fit_seconds"] = fit_s
    row["device"] = fitted_device(firm)
    row["fit_warnings"] = warned
    made_by = cell_plugins(cell)
    if made_by:  # which installed plugin (distribution, version) or Python object made the row
        row["plugins"] = made_by
    row["cell_seconds"] = time.perf_counter() - t_start
    return row


def cell_plugins(cell: CellSpec) -> str:
    """The pieces of a cell that are not built in, with their origin (see
    :func:`acakit.registry.provenance`); ``""`` when every piece is acakit's own."""
    d = cell.firm.defense
    return provenance({"datasets": cell.dataset.name, "firms": cell.firm.name,
                       "defenses": None if d is None else d.name,
                       "strategies": cell.collective.strategy,
                       "signals": cell.collective.signal.type,
                       "metrics": [m.name for m in cell.metrics]})


def run_cells(
    cells: Sequence[CellSpec],
    jobs: int | None = 1,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    labels: Sequence[str] | None = None,
    *,
    runner: str | None = None,
    address: str | None = None,
    store: Any = None,
    fail_fast: bool = False,
    retry_failed: bool = False,
    cache: bool | str | None = None,
) -> pd.DataFrame:
    """Run cells, serially (``jobs=1``), on local processes (joblib/loky) or on Ray.

    Cells sharing (dataset, firm, seed) share one context (split and clean firm), computed once
    and cached on disk (see :mod:`acakit.engine.cache`). See :func:`acakit.engine.runners.run_sweep` for the
    runners, the store and failure handling.

    Parameters
    ----------
    cells : sequence of CellSpec
    jobs : int or None, default=1
        Number of workers; ``-1`` or None uses all cores.
    progress : bool, default=True
        Show a rich progress bar (else log lines).
    on_result : callable, optional
        Called with each new row as soon as its cell finishes.
    labels : sequence of str, optional
        A variant label per cell (stored in a ``variant`` column).
    runner : {"serial", "loky", "ray"}, optional
        Default: serial for one job, loky otherwise.
    address : str, optional
        Ray cluster address (``"auto"``, ``"HOST:PORT"``).
    store : ResultStore, str or Path, optional
        Result store: finished cells are skipped, new ones written as they finish.
    fail_fast : bool, default=False
        Raise at the first failing cell; otherwise failures are logged (and stored) and left out
        of the returned rows.
    retry_failed : bool, default=False
        Run again cells the store holds as failed.
    cache : bool or str, optional
        On-disk cache folder, on (True) or off (False); None follows ``$ACAKIT_CACHE``.

    Returns
    -------
    pandas.DataFrame
        One row per successful cell, in the order of ``cells``; ``attrs["failures"]`` lists
        ``(cell_id, error)`` of failed cells and ``attrs["cached"]`` counts cells taken from
        the store.
    """
    from acakit.engine.runners import run_sweep

    run = run_sweep(cells, runner=runner, jobs=jobs, address=address, store=store,
                    fail_fast=fail_fast, retry_failed=retry_failed, progress=progress, cache=cache,
                    labels=labels, on_result=on_result)
    return _frame(cells, run)


def _frame(cells: Sequence[CellSpec], run: Any) -> pd.DataFrame:
    from acakit.engine.results import results_frame

    df = results_frame(list(cells), run.rows)
    df.attrs["failures"] = [(o.cell_id, o.error) for o in run.failures]
    df.attrs["cached"] = run.n_cached
    return df


# ----------------------------------------------------------------------------- the kind's API
def parse_config(raw: Any) -> Any:
    """Validate a single-collective config dict (see :func:`acakit.engine.config.parse_config`)."""
    from acakit.engine.config import parse_config as _parse

    return _parse(raw)


def count_cells(cfg: Any) -> list[tuple[str, int]]:
    """The sweep's axes and lengths (see :func:`acakit.engine.config.count_cells`)."""
    from acakit.engine.config import count_cells as _count

    return _count(cfg)


def expand(cfg: Any) -> list[CellSpec]:
    """The cells of a single-collective config (see :func:`acakit.engine.config.expand`)."""
    from acakit.engine.config import expand as _expand

    return _expand(cfg)


def check(cfg: Any, cells: list[CellSpec]) -> None:
    """The validation pass against the data (see :func:`acakit.engine.config.check_cells_against_data`)."""
    from acakit.engine.config import ConfigError, check_cells_against_data, load_dataset

    seen: set[str] = set()
    for cell in cells:  # the perturbed signal fits the signal (a column of it, keep <= its size)
        c = cell.collective
        key = c.model_dump_json(include={"signal", "noise"}) + cell.dataset.model_dump_json()
        if c.noise is None or c.noise.perturb is None or key in seen:
            continue
        seen.add(key)
        try:
            fm = build_feature_map(cell, load_dataset(cell.dataset))
        except Exception:  # a bad signal or data set: check_cells_against_data names it
            break
        try:
            c.noise.to_noise(fm)
        except (ValueError, KeyError, IndexError) as e:
            msg = str(e).strip("'\"") or type(e).__name__
            msg = msg if msg.startswith("perturb") else f"perturb: {msg}"
            raise ConfigError(f"collective.noise.{msg}") from None
    check_cells_against_data(cells)


