"""Expanding a config's sweep into cells: the grid, the cells' labels, and the sweep's budget."""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
from typing import Any

from pydantic import (
    ValidationError,
)

from acakit._safe import visible
from acakit.engine.config.errors import ConfigError, format_validation_error
from acakit.engine.config.experiment import CellSpec, ExperimentConfig


def _set_path(d: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``d[a][b][c] = value`` for ``dotted = "a.b.c"``; a dict value is merged, not replaced,
    so one grid entry can change several fields together (e.g. strategy and eligibility)."""
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        if k not in cur or not isinstance(cur[k], dict):
            cur[k] = {}
        cur = cur[k]
    last = keys[-1]
    if isinstance(value, dict) and isinstance(cur.get(last), dict):
        for k, v in value.items():
            _set_path(cur[last], k, v)
    else:
        cur[last] = value


def grid_label(keys: list[str], values: tuple[Any, ...]) -> str:
    """``"firm=logistic_regression, count=5"`` for grid keys and one combination of values."""
    parts = []
    for k, v in zip(keys, values, strict=True):
        path = k.split(".")
        short = path[-2] if path[-1] == "name" and len(path) > 1 else path[-1]
        if isinstance(v, dict):
            parts += [f"{a}={b}" for a, b in v.items()]
        else:
            parts.append(f"{short}={v}")
    return ", ".join(parts) or "base"


def expand(config: ExperimentConfig) -> list[CellSpec]:
    """Expand a config into its cells (grid x sizes x seeds), each validated.

    Raises
    ------
    ConfigError
        If a cell is invalid (the field is named with the grid values that produced it) or the
        grid expands to no cell.
    """
    base = config.model_dump(mode="json", include={"dataset", "firm", "collective", "confidence",
                                                   "metrics"})
    sweep = config.sweep
    grid_keys = list(sweep.grid)
    for k in grid_keys:
        if k.split(".")[0] not in ("dataset", "firm", "collective"):
            raise ConfigError(f"sweep.grid: {k!r} must start with dataset., firm. or collective.")
        if not sweep.grid[k]:
            raise ConfigError(f"sweep.grid.{k}: empty list, the sweep would have 0 cells")
        if k in ("collective.alpha", "collective.count") and (sweep.alpha or sweep.count):
            given = "sweep.alpha" if sweep.alpha is not None else "sweep.count"
            raise ConfigError(f"sweep.grid.{k}: the size is swept by {given}, which would override "
                              "this grid; give the sizes in one place")
    c = config.collective
    if (sweep.alpha is not None or sweep.count is not None) and (c.alpha is not None or
                                                                   c.count is not None):
        field = "alpha" if c.alpha is not None else "count"
        given = "sweep.alpha" if sweep.alpha is not None else "sweep.count"
        raise ConfigError(f"collective.{field}: {given} sets the sizes and would override it; "
                          "give the sizes in one place")
    if sweep.alpha is not None:
        sizes: list[tuple[str, Any]] = [("alpha", a) for a in sweep.alpha]
    elif sweep.count is not None:
        sizes = [("count", c) for c in sweep.count]
    else:
        sizes = [("alpha", c.alpha)] if c.alpha is not None else [("count", c.count)]
        if sizes[0][1] is None:
            raise ConfigError("collective.alpha: give collective.alpha/count or sweep.alpha/count")
    cells: list[CellSpec] = []
    for combo in itertools.product(*(sweep.grid[k] for k in grid_keys)):
        for size_key, size in sizes:
            for seed in sweep.seed:
                d = copy.deepcopy(base)
                for k, v in zip(grid_keys, combo, strict=True):
                    _set_path(d, k, v)
                d["collective"]["alpha"] = size if size_key == "alpha" else None
                d["collective"]["count"] = size if size_key == "count" else None
                d["seed"] = seed
                try:
                    cell = CellSpec.model_validate(d)
                except ValidationError as e:
                    where = ", ".join(f"{k}={v!r}" for k, v in zip(grid_keys, combo, strict=True))
                    msg = format_validation_error(e)
                    raise ConfigError(msg + (f" [grid: {where}]" if where else "")) from None
                cell._variant = grid_label(grid_keys, combo)
                cells.append(cell)
    if not cells:
        raise ConfigError("sweep: the grid expands to 0 cells (an empty alpha, count or seed list)")
    return cells


#: The most cells a sweep may expand to unless raised (``--max-cells``, ``$ACAKIT_MAX_CELLS``):
#: every example has a few hundred; a million cells would take gigabytes before the first ran.
MAX_CELLS = 50_000


#: Environment variable raising (or lowering) :data:`MAX_CELLS`.
MAX_CELLS_ENV = "ACAKIT_MAX_CELLS"


def max_cells(limit: int | None = None) -> int:
    """The sweep budget: ``limit`` if given, else ``$ACAKIT_MAX_CELLS``, else :data:`MAX_CELLS`.

    Raises
    ------
    ConfigError
        A limit that is not an integer >= 1.
    """
    name, value = "--max-cells", limit
    if value is None:
        name, value = MAX_CELLS_ENV, os.environ.get(MAX_CELLS_ENV, "").strip() or MAX_CELLS
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {visible(value)!r:.40} is not an integer >= 1") from None
    if n < 1:
        raise ConfigError(f"{name}: {n} is not an integer >= 1")
    return n


def check_sweep_size(axes: list[tuple[str, int]], per_cell: Any = None,
                     limit: int | None = None) -> int:
    """Refuse a sweep larger than the budget, counting its cells without making any.

    Parameters
    ----------
    axes : list of (str, int)
        The fields the grid multiplies and their lengths (``[("sweep.alpha", 1000),
        ("sweep.seed", 10000)]``); the cells are their product (an axis may be a count already
        multiplied out, e.g. a fairness config's actions).
    per_cell : object, optional
        One cell's spec (anything JSON-serialisable), to estimate the memory of the expansion.
    limit : int, optional
        See :func:`max_cells`.

    Returns
    -------
    int
        The number of cells.

    Raises
    ------
    ConfigError
        One line: how many cells, which fields, the limit and how to raise it.
    """
    n = math.prod(max(0, int(k)) for _, k in axes)
    cap = max_cells(limit)
    if n <= cap:
        return n
    size = ""
    if per_cell is not None:  # a validated cell holds its spec several times over (models, dicts)
        each = 8 * len(json.dumps(per_cell, default=str))
        size = f", about {_human_bytes(n * each)} in memory"
    parts = " x ".join(f"{name} ({k:,})" for name, k in axes if k != 1) or "the grid"
    raise ConfigError(f"sweep: {parts} is {n:,} cells{size}, more than the limit of {cap:,}; make "
                      f"the grid smaller or raise the limit (--max-cells N or {MAX_CELLS_ENV})")


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.0f} TB"  # pragma: no cover


def count_cells(config: ExperimentConfig) -> list[tuple[str, int]]:
    """The axes of a single-collective sweep and their lengths (their product is the number of
    cells :func:`expand` makes), worked out without making a cell."""
    sweep = config.sweep
    axes = [(f"sweep.grid.{k}", len(v)) for k, v in sweep.grid.items()]
    if sweep.alpha is not None:
        axes.append(("sweep.alpha", len(sweep.alpha)))
    elif sweep.count is not None:
        axes.append(("sweep.count", len(sweep.count)))
    axes.append(("sweep.seed", len(sweep.seed)))
    return axes
