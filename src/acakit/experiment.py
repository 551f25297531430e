"""Experiments: one cell = (dataset, collective, firm, seed) -> a dict of metrics; sweeps of cells.

Everything here is deterministic given the cell spec: the split, the draw of members and the
firm's own randomness are all seeded from it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from acakit.collective import Collective
from acakit.config import CellSpec, ColumnsSignal, PatchSignal, ShiftSignal, load_dataset
from acakit.data.base import Dataset, train_test_split
from acakit.firms import make_firm
from acakit.metrics import evaluate
from acakit.strategies import (
    AddShift,
    Erase,
    FeatureMap,
    InsertTrigger,
    Plant,
    PlantFeatureOnly,
    SetColumns,
    StampPatch,
    Strategy,
)


def build_feature_map(cell: CellSpec, dataset: Dataset) -> FeatureMap:
    """The feature map g of a cell's collective."""
    s = cell.collective.signal
    if isinstance(s, ColumnsSignal):
        return SetColumns(dict(s.values))
    if isinstance(s, PatchSignal):
        shape = dataset.image_shape or (8, 8)
        return StampPatch(image_shape=shape, size=s.size, value=s.value, row=s.row, col=s.col)
    if isinstance(s, ShiftSignal):
        return AddShift(s.shift)
    return InsertTrigger(token=s.token, every=s.every, count=s.count, position=s.position,
                         seed=cell.seed)


def build_strategy(cell: CellSpec, dataset: Dataset) -> Strategy:
    """The strategy of a cell's collective (target resolved against the data's classes)."""
    c = cell.collective
    g = build_feature_map(cell, dataset)
    if c.strategy == "erase":
        ref = make_firm(c.reference.name, dataset, c.reference.params, c.reference.featurizer)
        return Erase(g, ideal=c.ideal, reference=ref)
    target = dataset.class_index(c.target)  # type: ignore[arg-type]
    return (Plant if c.strategy == "plant" else PlantFeatureOnly)(g, target)


def build_collective(cell: CellSpec, dataset: Dataset) -> Collective:
    """The collective of a cell."""
    c = cell.collective
    return Collective(build_strategy(cell, dataset), alpha=c.alpha, count=c.count,
                      eligibility=c.eligibility, seed=cell.seed)


@dataclass
class Context:
    """What cells sharing (dataset, firm, seed) have in common: split and clean firm f0."""

    train: Dataset
    test: Dataset
    clean_firm: Any
    clean_pred: np.ndarray
    clean_fit_seconds: float


def make_context(cell: CellSpec) -> Context:
    """Load the data, split it with the cell's seed and fit the clean firm f0."""
    ds = load_dataset(cell.dataset)
    train, test = train_test_split(ds, cell.dataset.test_size, seed=cell.seed)
    firm = make_firm(cell.firm.name, ds, cell.firm.params, cell.firm.featurizer)
    t0 = time.perf_counter()
    firm.fit(train.X, train.y)
    fit_s = time.perf_counter() - t0
    return Context(train, test, firm, np.asarray(firm.predict(test.X)), fit_s)


def context_key(cell: CellSpec) -> str:
    """Cells with equal keys share a :class:`Context`."""
    from acakit.config import spec_hash

    return spec_hash([cell.dataset.model_dump(mode="json"), cell.firm.model_dump(mode="json"),
                      cell.seed])


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
    collective = build_collective(cell, ctx.train)
    altered, members = collective.apply(ctx.train)
    n_members = int(members.sum())
    if n_members == 0:
        firm, fit_s = ctx.clean_firm, 0.0
    else:
        firm = make_firm(cell.firm.name, ctx.train, cell.firm.params, cell.firm.featurizer)
        t0 = time.perf_counter()
        firm.fit(altered.X, altered.y)
        fit_s = time.perf_counter() - t0
    strategy = collective.strategy
    metrics = evaluate(firm, ctx.clean_firm, ctx.test.X, ctx.test.y, strategy.feature_map,
                       strategy.targets(), cell.confidence, clean_pred=ctx.clean_pred)
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
    row["fit_seconds"] = fit_s
    row["cell_seconds"] = time.perf_counter() - t_start
    return row


def _run_group(cells: Sequence[CellSpec]) -> list[dict[str, Any]]:
    ctx = make_context(cells[0])
    return [run_cell(c, ctx) for c in cells]


def run_cells(
    cells: Sequence[CellSpec],
    jobs: int = 1,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run cells, serially (``jobs=1``) or on local processes (joblib/loky), with a progress bar.

    Cells sharing (dataset, firm, seed) run together in one task so the split and the clean firm
    are computed once per group.

    Parameters
    ----------
    cells : sequence of CellSpec
    jobs : int, default=1
        Number of worker processes; ``-1`` uses all cores.
    progress : bool, default=True
        Show a rich progress bar.
    on_result : callable, optional
        Called with each row as soon as its group finishes (e.g. to store it).
    labels : sequence of str, optional
        A variant label per cell (stored in a ``variant`` column).

    Returns
    -------
    pandas.DataFrame
        One row per cell, in the order of ``cells``.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cells):
        groups[context_key(c)].append(i)
    order = list(groups.values())
    rows: dict[int, dict[str, Any]] = {}

    def handle(idx: list[int], result: list[dict[str, Any]]) -> None:
        for i, r in zip(idx, result, strict=True):
            if labels is not None:
                r["variant"] = labels[i]
            rows[i] = r
            if on_result is not None:
                on_result(r)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), disable=not progress, transient=False) as bar:
        task = bar.add_task("cells", total=len(cells))
        if jobs == 1 or len(order) == 1:
            for idx in order:
                handle(idx, _run_group([cells[i] for i in idx]))
                bar.advance(task, len(idx))
        else:
            par = Parallel(n_jobs=jobs, return_as="generator")
            results = par(delayed(_run_group)([cells[i] for i in idx]) for idx in order)
            for idx, res in zip(order, results, strict=True):
                handle(idx, res)
                bar.advance(task, len(idx))
    return pd.DataFrame([rows[i] for i in range(len(cells))])


@dataclass
class SweepResult:
    """What :func:`run_config` produced."""

    results: pd.DataFrame
    summary: pd.DataFrame
    files: list[Any]
    title: str = "results"

    def show(self, console: Any) -> None:
        """Print the seeds-pooled summary table and the files written on a rich console."""
        from rich.table import Table

        from acakit.report import main_metric

        metric = main_metric(self.results)
        table = Table(title=f"{self.title}: {metric} vs collective size")
        for col in ("variant", "α (%)", "members", "seeds", metric, "95% CI", "accuracy"):
            table.add_column(col, justify="left" if col == "variant" else "right", no_wrap=True)
        for d in self.summary.to_dict("records"):
            table.add_row(
                str(d["variant"]), f"{100 * d['alpha']:.3g}", f"{d['n_members']:.0f}",
                str(d["seeds"]), f"{d[metric]:.3f}",
                f"{d[metric + '_lo']:.3f}-{d[metric + '_hi']:.3f}", f"{d['accuracy']:.3f}",
            )
        console.print(table)
        for f in self.files:
            console.print(f"wrote {f}")


#: value of a config's ``experiment:`` field -> "module:function" that runs such a config.
#: Each runner takes ``(raw_config_dict, jobs, out_dir, progress)`` and returns an object with
#: ``show(console)``.
EXPERIMENT_KINDS: dict[str, str] = {
    "collective": "acakit.experiment:run_config",
    "fairness": "acakit.fairness.experiment:run_config",
}


def run_file(
    path: Any, jobs: int = 1, out_dir: str | None = None, progress: bool = True
) -> Any:
    """Run any config file, dispatching on its ``experiment`` field (default ``collective``).

    Raises
    ------
    acakit.config.ConfigError
        If the file is unreadable, the experiment kind unknown, or the config invalid.
    """
    import importlib

    from acakit.config import ConfigError, read_config

    raw = read_config(path)
    kind = raw.get("experiment", "collective")
    if kind not in EXPERIMENT_KINDS:
        raise ConfigError(f"experiment: {kind!r} is not one of {', '.join(EXPERIMENT_KINDS)}")
    module, _, func = EXPERIMENT_KINDS[kind].partition(":")
    runner = getattr(importlib.import_module(module), func)
    return runner(raw, jobs=jobs, out_dir=out_dir, progress=progress)


def run_config(
    config: Any,
    jobs: int = 1,
    out_dir: str | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run a config end to end: validate, run every cell, write CSV tables and the plot.

    Parameters
    ----------
    config : str, Path, dict or ExperimentConfig
        A config file, a config dict, or a parsed config.
    jobs : int, default=1
        Worker processes (``-1``: all cores).
    out_dir : str, optional
        Output folder (default: the config's ``output.dir``).
    progress : bool, default=True

    Returns
    -------
    SweepResult
        ``results`` (one row per cell), ``summary`` (seeds pooled) and the files written
        (``results.csv``, ``summary.csv``, ``success.png``, ``success.svg``).
    """
    from pathlib import Path

    from acakit.config import (
        ExperimentConfig,
        check_cells_against_data,
        expand,
        load_config,
        parse_config,
    )
    from acakit.report import plot_success, summarize

    if isinstance(config, ExperimentConfig):
        cfg, cells = config, expand(config)
        check_cells_against_data(cells)
    elif isinstance(config, dict):
        cfg = parse_config(config)
        cells = expand(cfg)
        check_cells_against_data(cells)
    else:
        cfg, cells = load_config(config)
    out = Path(out_dir or cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = [c.variant for c in cells]
    results = run_cells(cells, jobs=jobs, progress=progress, labels=labels)
    summary = summarize(results, confidence=cfg.confidence)
    files: list[Any] = [out / "results.csv", out / "summary.csv"]
    results.to_csv(files[0], index=False)
    summary.to_csv(files[1], index=False)
    if cfg.output.plot:
        files += plot_success(results, out / "success", title=cfg.name)
    return SweepResult(results, summary, files, title=cfg.name)
