"""Checks against the data, before any work starts: the data set loads, the columns, values,
firm and pools the config names exist in it."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from acakit.data import DATASETS, Dataset, check_params, load
from acakit.engine.config.errors import ConfigError
from acakit.engine.config.experiment import CellSpec, spec_hash
from acakit.engine.config.specs import ColumnsSignal, DatasetSpec, signal_kind


def data_stamp(spec: Any) -> list[Any]:
    """What a data set's cached values depend on beyond its spec: for a loader reading a file
    (a ``path`` parameter, e.g. the CSV loader), the file's absolute path, size and modification
    time, so an edited file, or the same relative path from another folder, is never served
    another file's cached data, split or clean firm."""
    path = (spec.params or {}).get("path")
    if not isinstance(path, str):
        return []
    p = Path(path).expanduser().resolve()
    try:
        st = p.stat()
    except OSError:
        return [str(p)]
    return [str(p), st.st_size, st.st_mtime_ns]


@lru_cache(maxsize=8)
def _load_cached(name: str, params_json: str, stamp: tuple[Any, ...] = ()) -> Dataset:
    return load(name, **json.loads(params_json))


def loader_error(e: BaseException) -> ConfigError:
    """A data loader's exception as one line naming the field (``dataset.params`` unless the
    message names one): a loader given parameters of the wrong kind raises whatever numpy or
    pandas raise."""
    text = str(e).strip()
    msg = text.splitlines()[0] if text else type(e).__name__
    if isinstance(e, ImportError):
        return ConfigError(f"dataset.name: {msg}")
    return ConfigError(msg if re.match(r"^[a-z_]+(\.[a-z_]+)*: ", msg) else f"dataset.params: {msg}")


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Load (and memoise in this process) the data set of a spec.

    Raises
    ------
    ConfigError
        One line naming the field if the loader refuses its parameters.
    """
    try:
        return _load_cached(spec.name, json.dumps(spec.params, sort_keys=True),
                            tuple(data_stamp(spec)))
    except ConfigError:
        raise
    except Exception as e:  # a loader's own error about its parameters
        from acakit.registry import DATASETS_REGISTRY as reg

        if (spec.name in reg and not reg.is_builtin(spec.name)
                and not str(e).startswith("dataset.")):  # say which plugin failed
            text = str(e).strip().splitlines()
            raise ConfigError(f"dataset.name: {spec.name!r} ({reg.origin(spec.name).label()}) "
                              f"failed to load: {type(e).__name__}"
                              + (f": {text[0]}" if text else "")) from None
        raise loader_error(e) from None


def check_cells_against_data(cells: list[CellSpec]) -> None:
    """Check what only the data can tell: classes, columns, signal kind, group columns.

    Loads each distinct data set once; raises :class:`ConfigError` naming the field.
    """
    from acakit.firms import check_firm_fits, check_firm_params

    seen: set[str] = set()
    for cell in cells:
        key = spec_hash([cell.dataset.model_dump(mode="json"), cell.collective.model_dump(
            mode="json", exclude={"alpha", "count"}), cell.firm.model_dump(mode="json")])
        if key in seen:
            continue
        seen.add(key)
        try:
            if DATASETS.is_builtin(cell.dataset.name):  # a plugin's: checked by data.load
                check_params("dataset", cell.dataset.name, DATASETS[cell.dataset.name][0],
                             cell.dataset.params)
            ds = load_dataset(cell.dataset)
        except ValueError as e:
            raise ConfigError(str(e).splitlines()[0]) from None
        c = cell.collective
        if c.target is not None:
            try:
                ds.class_index(c.target)
            except ValueError as e:
                raise ConfigError(f"collective.target: {e}") from None
        kind = signal_kind(c.signal.type)
        if kind != ds.kind:
            from acakit.registry import SIGNALS

            allowed = [t for t in SIGNALS if signal_kind(t) == ds.kind]
            raise ConfigError(f"collective.signal.type: {c.signal.type!r} does not fit "
                              f"{ds.kind} data ({ds.name}); allowed: {', '.join(allowed)}")
        if isinstance(c.signal, ColumnsSignal):
            missing = [k for k in c.signal.values if k not in ds.X.columns]
            if missing:
                raise ConfigError(f"collective.signal.values: column {missing[0]!r} is not in "
                                  f"{ds.name}; columns: {', '.join(map(str, ds.X.columns))}")
        if isinstance(c.eligibility, dict) and "class" in c.eligibility:
            try:
                ds.class_index(c.eligibility["class"])
            except ValueError as e:
                raise ConfigError(f"collective.eligibility.class: {e}") from None
        if isinstance(c.eligibility, dict) and "group" in c.eligibility:
            cols = set(ds.sensitive.columns if ds.sensitive is not None else [])
            cols |= set(ds.X.columns) if ds.kind == "tabular" else set()
            for col in dict(c.eligibility["group"]):
                if col not in cols:
                    raise ConfigError(f"collective.eligibility.group: column {col!r} is not in "
                                      f"{ds.name}; allowed: {', '.join(sorted(map(str, cols)))}")
        try:
            check_firm_fits(cell.firm.name, ds)
            check_firm_params(cell.firm.name, ds, cell.firm.params, cell.firm.featurizer)
            if cell.firm.defense is not None:
                from acakit.firms import make_firm

                defended = make_firm(cell.firm.name, ds, cell.firm.params, cell.firm.featurizer,
                                     defense=cell.firm.defense)
                _try_callable_defense(defended, ds)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    _check_pools(cells)


def _try_callable_defense(firm: Any, ds: Dataset, n: int = 50) -> None:
    """Call a user's defense function on the first ``n`` rows before any work: one that raises
    or returns anything but one keep flag or weight in [0, 1] per row is refused here, not in
    every cell."""
    import numpy as np

    from acakit.firms.defenses import CallableDefense

    defense = getattr(firm, "defense", None)
    if not isinstance(defense, CallableDefense):
        return
    head = ds.take(np.arange(min(n, len(ds))))
    try:
        defense.weights(head.X, np.asarray(head.y), lambda: None)
    except Exception as e:  # the user's function: any failure is a bad config
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if not msg.startswith("firm.defense"):
            msg = f"firm.defense.params.function: {defense.function} fails on the data ({msg})"
        raise ConfigError(msg) from None


def split_checked(ds: Dataset, test_size: float, seed: int) -> tuple[Dataset, Dataset]:
    """The train/test split of a cell, or a one-line ConfigError if the data cannot be split
    (too few rows, a class with a single row)."""
    from acakit.data.base import train_test_split

    try:
        return train_test_split(ds, test_size, seed=seed)
    except ValueError as e:
        raise ConfigError(f"dataset: {ds.name} ({len(ds)} rows) cannot be split with test_size "
                          f"{test_size} ({str(e).splitlines()[0]})") from None


def _check_pools(cells: list[CellSpec]) -> None:
    """Every cell's collective fits in its eligible pool (on the cell's own training split)."""
    from acakit.engine.collectives import build_collective

    pools: dict[str, tuple[int, int, Any]] = {}
    for cell in cells:
        c = cell.collective
        key = spec_hash([cell.dataset.model_dump(mode="json"),
                         c.model_dump(mode="json", exclude={"alpha", "count"}), cell.seed])
        if key not in pools:
            train, _ = split_checked(load_dataset(cell.dataset), cell.dataset.test_size, cell.seed)
            try:
                col = build_collective(cell, train)
            except ValueError as e:  # e.g. a perturbed signal that does not fit the signal
                msg = str(e).splitlines()[0]
                where = ("collective.noise.perturb." if c.noise is not None and c.noise.perturb
                         is not None and msg.split(":")[0] in c.noise.perturb.params()
                         else "collective: ")
                raise ConfigError(where + msg) from None
            n_eligible = int(col.eligible(train).sum())
            pools[key] = (n_eligible, len(train), col)
            if n_eligible == 0 and isinstance(c.eligibility, dict) and "group" in c.eligibility:
                raise ConfigError(f"collective.eligibility.group: no training row has "
                                  f"{c.eligibility['group']!r} ({cell.dataset.name}, seed {cell.seed})")
        n_eligible, n_train, _ = pools[key]
        need = c.count if c.count is not None else int(round(float(c.alpha or 0.0) * n_train))
        if need > n_eligible:
            field = "count" if c.count is not None else "alpha"
            value = c.count if c.count is not None else c.alpha
            raise ConfigError(f"collective.{field}: {value} needs {need} members, but only "
                              f"{n_eligible} of the {n_train} training rows are eligible "
                              f"(eligibility {c.eligibility!r}, seed {cell.seed})")
