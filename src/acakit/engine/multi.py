"""Multi-collective experiments: configs with ``experiment: multi``, run end to end.

A config names a data set, a firm, an overlap policy and M collectives (each with a name,
strategy, signal, target or target set, size and eligibility), optionally a sweep of one
collective's size, seeds, bound settings and an efficacy-loss switch. For every (size, seed)
the collectives act together, the firm is refit, and one row per collective is written:
sizes, success (both conventions), the firm's accuracy, global success, the alignment and
heterogeneity measures, the three tiers' bounds (infinite-data plug-in and finite-sample) and,
if asked, the efficacy loss. Rows go to ``results.csv`` and to the result store
(``results.sqlite``, one record per collective and cell); plots: bounds against the measured
success along the sweep.

Example::

    name: two_collectives
    experiment: multi
    dataset: {name: product_ratings, params: {n_samples: 20000, n_features: 4}}
    firm: {name: empirical_bayes}
    overlap: disallow
    collectives:
      - {name: small, signal: {type: set_columns, values: {f0: 0, f1: 0, f2: 0}},
         target: rating_1, alpha: 0.05}
      - {name: large, signal: {type: set_columns, values: {f0: 0, f1: 0, f2: 0}},
         target: rating_2, alpha: 0.02}
    sweep: {collective: large, alpha: [0.0, 0.02, 0.04, 0.06, 0.08], seed: [0, 1, 2]}
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from acakit.data.base import Dataset
from acakit.engine.config import (
    CellBase,
    CellSpec,
    CollectiveSpec,
    ConfigError,
    DatasetSpec,
    FirmSpec,
    Labels,
    OutputSpec,
    _Model,
    check_cells_against_data,
    check_fractions,
    check_seeds,
    format_validation_error,
    load_dataset,
)
from acakit.engine.single import Context
from acakit.firms import join_warnings
from acakit.metrics import trivial_firm


class MultiSweep(_Model):
    """Vary one collective's size (optional) over seeds, and any other field on a grid.

    ``grid`` maps a dotted path to the list of its values; every combination is a cell. A path
    starts with a collective's name (``big.alpha``, ``big.noise``, ``big.noise.p_drop``,
    ``big.signal.token``) or with ``firm`` (``firm.featurizer``, ``firm.params.C``).
    """

    collective: str | None = None
    alpha: list[float] | None = None
    seed: list[int] = Field(default_factory=lambda: [0], min_length=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"{k}: empty list, the sweep would have 0 cells")
            if "." not in k and k != "firm":
                raise ValueError(f"{k!r} is not a dotted path <collective>.<field> or firm[.<field>]")
        return v

    @field_validator("seed", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        return check_seeds(v)

    @field_validator("alpha")
    @classmethod
    def _alphas(cls, v: list[float] | None) -> list[float] | None:
        check_fractions(v)
        if v is not None and not v:
            raise ValueError("empty list, the sweep would have 0 cells")
        return v


class BoundsSpec(_Model):
    """Bound settings: failure probability δ, firm suboptimality ε, the others' size range
    known to the worst-case tier, whether to compute the finite-sample tiers."""

    compute: bool = True
    delta: float = Field(0.05, gt=0, lt=1)
    epsilon: float = Field(0.0, ge=0, lt=1)
    others_range: tuple[float, float] | None = None
    finite: bool = True


class MultiConfig(_Model):
    """A multi-collective experiment."""

    name: str = "multi"
    experiment: Literal["multi"] = "multi"
    dataset: DatasetSpec
    firm: FirmSpec = Field(default_factory=lambda: FirmSpec(name="empirical_bayes"))
    overlap: Literal["disallow", "first", "random"] = "disallow"
    collectives: list[CollectiveSpec] = Field(min_length=1)
    sweep: MultiSweep = Field(default_factory=MultiSweep)
    bounds: BoundsSpec = Field(default_factory=BoundsSpec)
    efficacy_loss: bool = False
    confidence: float = Field(0.95, gt=0, lt=1)
    output: OutputSpec = Field(default_factory=lambda: OutputSpec(dir="results/multi"))
    labels: Labels = Field(default_factory=dict)
    """Legend words for names, grid values or grid points (``acakit.engine.config.Labels``)."""

    @model_validator(mode="after")
    def _consistent(self) -> MultiConfig:
        for k, c in enumerate(self.collectives):
            if c.name is None:
                raise ValueError(f"collectives.{k}.name: required (each collective is named)")
            if (c.alpha is None) == (c.count is None):
                raise ValueError(f"collectives.{c.name}: give exactly one of alpha and count")
        names = [c.name for c in self.collectives]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"collectives: name {n!r} is used twice")
        s = self.sweep
        if (s.collective is None) != (s.alpha is None):
            raise ValueError("sweep: give both collective and alpha, or neither")
        if s.collective is not None and s.collective not in names:
            raise ValueError(f"sweep.collective: {s.collective!r} is not one of {', '.join(names)}")
        for k in s.grid:
            head = k.split(".", 1)[0]
            if head != "firm" and head not in names:
                raise ValueError(f"sweep.grid.{k}: {head!r} is not firm or one of "
                                 f"{', '.join(names)}")
            if s.collective is not None and k == f"{s.collective}.alpha":
                raise ValueError(f"sweep.grid.{k}: the size of {s.collective} is already swept "
                                 "by sweep.alpha")
        r = self.bounds.others_range
        if r is not None and not 0 <= r[0] <= r[1] <= 1:
            raise ValueError(f"bounds.others_range: [{r[0]}, {r[1]}] is not a range [low, high] "
                             "with 0 <= low <= high <= 1")
        return self


class MultiCellSpec(CellBase):
    """One multi-collective cell: the collectives (sizes resolved) acting together at a seed."""

    kind: ClassVar[str] = "multi"
    dataset: DatasetSpec
    firm: FirmSpec
    overlap: Literal["disallow", "first", "random"] = "disallow"
    collectives: list[CollectiveSpec]
    sweep_collective: str | None = None
    sweep_alpha: float | None = None
    bounds: BoundsSpec = Field(default_factory=BoundsSpec)
    efficacy_loss: bool = False
    seed: int
    confidence: float = 0.95


def _precheck(raw: dict[str, Any]) -> None:
    """Clear one-line errors for an empty signal set or target set before pydantic's."""
    items = raw.get("collectives")
    for k, c in enumerate(items if isinstance(items, list) else []):
        if not isinstance(c, dict):
            continue
        who = f"collectives.{c.get('name', k)}"
        sig = c.get("signal")
        if isinstance(sig, dict) and sig.get("type") == "set_columns" and not sig.get("values"):
            raise ConfigError(f"{who}.signal: the signal set is empty (no column to set)")
        if isinstance(sig, dict) and sig.get("type") == "trigger" and sig.get("token") == "":
            raise ConfigError(f"{who}.signal: the signal set is empty (empty trigger token)")
        if "targets" in c and c["targets"] is not None and len(c["targets"]) == 0:
            raise ConfigError(f"{who}.targets: the target set is empty")


def parse_multi_config(raw: dict[str, Any]) -> MultiConfig:
    """Validate a multi config dict (no data loaded); one-line :class:`ConfigError`."""
    _precheck(raw)
    try:
        cfg = MultiConfig.model_validate(dict(raw))
    except ValidationError as e:
        msg = format_validation_error(e).removeprefix("config: ")
        parts = msg.split(".", 2)  # collectives.<k>.field -> collectives.<name>.field
        if parts[0] == "collectives" and len(parts) > 1 and parts[1].split(":")[0].isdigit():
            k = int(parts[1].split(":")[0])
            items = raw.get("collectives") or []
            name = items[k].get("name", k) if k < len(items) and isinstance(items[k], dict) else k
            msg = f"collectives.{name}" + msg[len(f"collectives.{k}"):]
        raise ConfigError(msg) from None
    return cfg


def _size_grid(cfg: MultiConfig) -> list[float | None]:
    return list(cfg.sweep.alpha) if cfg.sweep.alpha is not None else [None]


def _alphas_at(cfg: MultiConfig, value: float | None, n_train: int) -> list[float]:
    out = []
    for c in cfg.collectives:
        if value is not None and c.name == cfg.sweep.collective:
            out.append(float(value))
        else:
            out.append(float(c.alpha) if c.alpha is not None else float(c.count or 0) / n_train)
    return out


def check_against_data(cfg: MultiConfig) -> Dataset:
    """Check targets, signal columns and kinds, eligibility and firm against the data, and
    that sizes sum to at most 1 at every sweep value. Returns the data set."""
    try:
        ds = load_dataset(cfg.dataset)
    except ValueError as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    for c in cfg.collectives:
        cell = CellSpec(dataset=cfg.dataset, firm=cfg.firm, collective=c, seed=0)
        try:
            check_cells_against_data([cell])
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(f"collectives.{c.name}." + msg.removeprefix("collective.")
                              if msg.startswith("collective.") else msg) from None
        for t in c.targets or []:
            try:
                ds.class_index(t)
            except ValueError as e:
                raise ConfigError(f"collectives.{c.name}.targets: {e}") from None
    n_train = len(ds) - int(np.ceil(cfg.dataset.test_size * len(ds)))
    for v in _size_grid(cfg):
        total = sum(_alphas_at(cfg, v, n_train))
        if total > 1 + 1e-12:
            at = f" at sweep alpha {v}" if v is not None else ""
            raise ConfigError(f"collectives: sizes sum to {total:.4g} > 1{at}; the collectives "
                              "cannot all fit in the training set")
    return ds


def parse_config(raw: dict[str, Any]) -> MultiConfig:
    """The kind's parser (:func:`parse_multi_config`)."""
    return parse_multi_config(raw)


def _set_path(d: dict[str, Any], path: list[str], value: Any) -> None:
    for k in path[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"sweep.grid: {'.'.join(path)} goes inside a value that is not a "
                              "mapping")
    d[path[-1]] = value


def _grid_points(cfg: MultiConfig) -> list[dict[str, Any]]:
    keys = list(cfg.sweep.grid)
    return [dict(zip(keys, vals, strict=True))
            for vals in itertools.product(*(cfg.sweep.grid[k] for k in keys))]


def _apply_grid(cfg: MultiConfig, point: dict[str, Any]) -> tuple[FirmSpec, list[CollectiveSpec]]:
    """The firm and collectives of ``cfg`` with the grid values of ``point`` set (validated)."""
    if not point:
        return cfg.firm, list(cfg.collectives)
    firm = cfg.firm.model_dump()
    raw = {str(c.name): c.model_dump() for c in cfg.collectives}
    for k, v in point.items():
        parts = k.split(".")
        if parts[0] == "firm":
            if len(parts) == 1:
                firm = dict(v)
            else:
                _set_path(firm, parts[1:], v)
        else:
            if parts[1:] == ["alpha"]:
                raw[parts[0]]["count"] = None
            if parts[1:] == ["count"]:
                raw[parts[0]]["alpha"] = None
            _set_path(raw[parts[0]], parts[1:], v)
    try:
        return (FirmSpec.model_validate(firm),
                [CollectiveSpec.model_validate(raw[str(c.name)]) for c in cfg.collectives])
    except ValidationError as e:
        raise ConfigError(f"sweep.grid {point}: " + format_validation_error(e)
                          .removeprefix("config: ")) from None


def _label(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return str(v)


def count_cells(cfg: MultiConfig) -> list[tuple[str, int]]:
    """The sweep's axes and their lengths (their product: the cells :func:`expand` makes)."""
    axes = [(f"sweep.grid.{k}", len(v)) for k, v in cfg.sweep.grid.items()]
    if cfg.sweep.alpha is not None:
        axes.append(("sweep.alpha", len(cfg.sweep.alpha)))
    return [*axes, ("sweep.seed", len(cfg.sweep.seed))]


def expand(cfg: MultiConfig) -> list[MultiCellSpec]:
    """The cells of a multi config: one per (sweep value, grid point, seed), the swept size
    and the grid values resolved."""
    cells = []
    for value in _size_grid(cfg):
        for point in _grid_points(cfg):
            firm, base = _apply_grid(cfg, point)
            members = [c if value is None or c.name != cfg.sweep.collective
                       else c.model_copy(update={"alpha": float(value), "count": None})
                       for c in base]
            for seed in cfg.sweep.seed:
                cell = MultiCellSpec(dataset=cfg.dataset, firm=firm, overlap=cfg.overlap,
                                     collectives=members, sweep_collective=cfg.sweep.collective,
                                     sweep_alpha=value, bounds=cfg.bounds,
                                     efficacy_loss=cfg.efficacy_loss, seed=seed,
                                     confidence=cfg.confidence)
                labels = ([] if value is None else [f"{cfg.sweep.collective}={value:g}"]) + [
                    f"{k}={_label(v)}" for k, v in point.items()]
                cell._variant = ", ".join(labels) if labels else "base"
                cells.append(cell)
    return cells


def check(cfg: MultiConfig, cells: list[MultiCellSpec]) -> None:
    """The validation pass against the data (:func:`check_against_data`), at every grid
    point. Each member's collective is built there, its noise included, so a perturbed signal
    that does not fit its signal is refused with the member's name."""
    check_against_data(cfg)
    for k, point in enumerate(_grid_points(cfg)):
        firm, members = _apply_grid(cfg, point)
        if k > 0:
            check_against_data(cfg.model_copy(update={"firm": firm, "collectives": members}))


def build_members(cell: MultiCellSpec, train: Dataset) -> list[Any]:
    """The :class:`~acakit.multi.simulate.MemberCollective` list of one cell."""
    from acakit.engine.collectives import build_collective
    from acakit.multi.simulate import MemberCollective

    out = []
    for c in cell.collectives:
        one = CellSpec(dataset=cell.dataset, firm=cell.firm, collective=c, seed=cell.seed)
        targets = None if c.targets is None else {train.class_index(t) for t in c.targets}
        out.append(MemberCollective(build_collective(one, train), str(c.name), targets))
    return out


def members_at(cfg: MultiConfig, train: Dataset, seed: int) -> list[Any]:
    """The collectives of ``cfg`` at their configured sizes and ``seed``."""
    cell = MultiCellSpec(dataset=cfg.dataset, firm=cfg.firm, overlap=cfg.overlap,
                         collectives=cfg.collectives, seed=seed)
    return build_members(cell, train)


def context_key(cell: MultiCellSpec) -> str:
    """Cells of the same (dataset, firm, seed) share the split and the clean firm."""
    from acakit.engine.single import context_key as _key

    return _key(cell)


def make_context(cell: MultiCellSpec) -> Context:
    """Split and clean firm f0, shared with single-collective cells of the same data and firm."""
    from acakit.engine.single import make_context as _make

    return _make(cell)


def run_cell(cell: MultiCellSpec, ctx: Context | None = None) -> dict[str, Any]:
    """One (size, seed) cell: simulate, measure, bound; one sub-row per collective."""
    from acakit.firms import make_firm
    from acakit.firms.device import fitted_device
    from acakit.multi.analyses import efficacy_loss
    from acakit.multi.estimate import simulation_bounds
    from acakit.multi.measures import alignment_measures, signal_overlap
    from acakit.multi.simulate import simulate

    t0 = time.perf_counter()
    ctx = ctx or make_context(cell)
    train, test = ctx.train, ctx.test
    members = build_members(cell, train)
    firm = make_firm(cell.firm.name, train, cell.firm.params, cell.firm.featurizer,
                     defense=cell.firm.defense)
    r = simulate(train, test, members, firm, cell.overlap, cell.seed, clean_firm=ctx.clean_firm,
                 confidence=cell.confidence)
    per = _records(r.per_collective)
    overlap = signal_overlap(test.X, [m.strategy.feature_map for m in members])
    meas, summary = alignment_measures(r.per_collective["alpha"], [m.target_set for m in members],
                                       [m.planted_label for m in members], overlap,
                                       r.per_collective["name"])
    _join(per, meas)
    b = cell.bounds
    if b.compute:
        bd = simulation_bounds(r, train, test, members, delta=b.delta, epsilon=b.epsilon,
                               others_range=b.others_range, finite=b.finite)
        _join(per, bd.drop(columns=[c for c in ("others_alpha",) if c in bd]), missing=np.nan)
    if cell.efficacy_loss:
        eff = efficacy_loss(train, test, members, firm, cell.overlap, cell.seed,
                            together=r.per_collective)
        _join(per, eff[["name", "success_alone", "efficacy_loss", "constructiveness"]])
    row: dict[str, Any] = {"cell_id": cell.cell_id}
    row |= {k: _plain(v) for k, v in (r.overall | summary).items()}
    if cell.firm.defense is not None:  # detection of all members, then of each collective
        from acakit.firms.defenses import defense_columns

        row |= defense_columns(cell.firm.defense, r.firm, r.owner >= 0)
        for i, sub in enumerate(per):
            d = defense_columns(cell.firm.defense, r.firm, r.owner == i)
            sub["defense_recall"] = d["defense_recall"]
            sub["defense_precision"] = d["defense_precision"]
    row |= {
        "fit_warnings": join_warnings(ctx.clean_fit_warnings, r.overall["fit_warnings"]),
        "trivial_firm": trivial_firm(ctx.clean_pred, test.y),
        "device": fitted_device(r.firm),
        "seed": cell.seed,
        "sweep_alpha": np.nan if cell.sweep_alpha is None else cell.sweep_alpha,
        "sweep_collective": cell.sweep_collective or "",
        "dataset": cell.dataset.name, "firm": cell.firm.name, "overlap": cell.overlap,
        "rows": per,
        "cell_seconds": time.perf_counter() - t0,
    }
    return row


def _records(df: Any) -> list[dict[str, Any]]:
    """The rows of a small frame as dicts of plain Python values (``DataFrame.to_dict`` costs
    milliseconds per call on arrow-backed string columns; this is column-wise)."""
    cols = [str(c) for c in df.columns]
    return [dict(zip(cols, vals, strict=True))
            for vals in zip(*(df[c].tolist() for c in df.columns), strict=True)]


def _join(rows: list[dict[str, Any]], other: Any, missing: Any = None) -> None:
    """Add ``other``'s columns to the rows of the same ``name`` (in place). A row that ``other``
    lacks gets ``missing`` in each new column; with ``missing=None`` every row must be there."""
    by_name = {d["name"]: d for d in _records(other)}
    new = [str(c) for c in other.columns if c != "name"]
    for d in rows:
        extra = by_name.get(d["name"])
        if extra is None:
            if missing is None:
                raise KeyError(f"collective {d['name']!r} has no row in {new}")
            extra = dict.fromkeys(new, missing)
        d.update({k: extra[k] for k in new})


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


