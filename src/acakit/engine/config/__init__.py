"""Experiment configs: pydantic models, grid expansion and validation before any work starts.

A config (YAML or TOML) describes one base cell (dataset, firm, collective, seed) and a sweep
over it. Every error names the field, the bad value and the allowed values in one line.

The package, one concern per module: :mod:`~acakit.engine.config.errors` (the one-line
:class:`ConfigError`), :mod:`~acakit.engine.config.specs` (data set, firm, defense, signal,
noise and collective models), :mod:`~acakit.engine.config.experiment` (the experiment config,
its cells and their ids), :mod:`~acakit.engine.config.loading` (reading and parsing a file),
:mod:`~acakit.engine.config.grid` (expanding the sweep into cells, the sweep's budget) and
:mod:`~acakit.engine.config.checks` (checks against the data). Every name is importable from
``acakit.engine.config``.
"""

from __future__ import annotations

from acakit.engine.config.checks import (
    check_cells_against_data,
    data_stamp,
    load_dataset,
    loader_error,
    split_checked,
)
from acakit.engine.config.errors import (
    ConfigError,
    format_validation_error,
)
from acakit.engine.config.experiment import (
    CellBase,
    CellSpec,
    ExperimentConfig,
    Labels,
    MetricSpec,
    OutputSpec,
    SweepSpec,
    spec_hash,
)
from acakit.engine.config.grid import (
    MAX_CELLS,
    MAX_CELLS_ENV,
    _set_path,
    check_sweep_size,
    count_cells,
    expand,
    grid_label,
    max_cells,
)
from acakit.engine.config.loading import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_NODES,
    load_config,
    parse_config,
    read_config,
)
from acakit.engine.config.specs import (
    MAX_SEED,
    CollectiveSpec,
    ColumnsSignal,
    DatasetSpec,
    DefenseSpec,
    FirmSpec,
    NoiseSpec,
    PatchSignal,
    PerturbSpec,
    PluginSignal,
    ShiftSignal,
    Signal,
    TriggerSignal,
    _Model,
    check_fractions,
    check_seeds,
    signal_kind,
)

__all__ = [
    "CellBase",
    "CellSpec",
    "CollectiveSpec",
    "ColumnsSignal",
    "ConfigError",
    "DatasetSpec",
    "DefenseSpec",
    "ExperimentConfig",
    "FirmSpec",
    "Labels",
    "MAX_CELLS",
    "MAX_CELLS_ENV",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_NODES",
    "MAX_SEED",
    "MetricSpec",
    "NoiseSpec",
    "OutputSpec",
    "PatchSignal",
    "PerturbSpec",
    "PluginSignal",
    "ShiftSignal",
    "Signal",
    "SweepSpec",
    "TriggerSignal",
    "_Model",
    "_set_path",
    "check_cells_against_data",
    "check_fractions",
    "check_seeds",
    "check_sweep_size",
    "count_cells",
    "data_stamp",
    "expand",
    "format_validation_error",
    "grid_label",
    "load_config",
    "load_dataset",
    "loader_error",
    "max_cells",
    "parse_config",
    "read_config",
    "signal_kind",
    "spec_hash",
    "split_checked",
]
