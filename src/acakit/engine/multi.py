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
    """Vary one collective's size (optional) over seeds."""

    collective: str | None = None
    alpha: list[float] | None = None
    seed: list[int] = Field(default_factory=lambda: [0], min_length=1)

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


def expand(cfg: MultiConfig) -> list[MultiCellSpec]:
    """The cells of a multi config: one per (sweep value, seed), the swept size resolved."""
    cells = []
    for value in _size_grid(cfg):
        members = [c if value is None or c.name != cfg.sweep.collective
                   else c.model_copy(update={"alpha": float(value), "count": None})
                   for c in cfg.collectives]
        for seed in cfg.sweep.seed:
            cell = MultiCellSpec(dataset=cfg.dataset, firm=cfg.firm, overlap=cfg.overlap,
                                 collectives=members, sweep_collective=cfg.sweep.collective,
                                 sweep_alpha=value, bounds=cfg.bounds,
                                 efficacy_loss=cfg.efficacy_loss, seed=seed,
                                 confidence=cfg.confidence)
            cell._variant = "base" if value is None else f"{cfg.sweep.collective}={value:g}"
            cells.append(cell)
    return cells


def check(cfg: MultiConfig, cells: list[MultiCellSpec]) -> None:
    """The validation pass against the data (:func:`check_against_data`)."""
    check_against_data(cfg)


def build_members(cell: MultiCellSpec, train: Dataset) -> list[Any]:
    """The :class:`~acakit.multi.simulate.MemberCollective` list of one cell."""
    from acakit.collective import Collective
    from acakit.engine.single import build_strategy
    from acakit.multi.simulate import MemberCollective

    out = []
    for c in cell.collectives:
        one = CellSpec(dataset=cell.dataset, firm=cell.firm, collective=c, seed=cell.seed)
        strategy = build_strategy(one, train)
        targets = None if c.targets is None else {train.class_index(t) for t in c.targets}
        out.append(MemberCollective(Collective(strategy, alpha=c.alpha, count=c.count,
                                               eligibility=c.eligibility), str(c.name), targets))
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
    from acakit.multi.analyses import efficacy_loss
    from acakit.multi.estimate import simulation_bounds
    from acakit.multi.measures import alignment_measures, signal_overlap
    from acakit.multi.simulate import simulate

    t0 = time.perf_counter()
    ctx = ctx or make_context(cell)
    train, test = ctx.train, ctx.test
    members = build_members(cell, train)
    firm = make_firm(cell.firm.name, train, cell.firm.params, cell.firm.featurizer)
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
        _join(per, eff[["name", "success_alone", "efficacy_loss"]])
    row: dict[str, Any] = {"cell_id": cell.cell_id}
    row |= {k: _plain(v) for k, v in (r.overall | summary).items()}
    row |= {
        "fit_warnings": join_warnings(ctx.clean_fit_warnings, r.overall["fit_warnings"]),
        "trivial_firm": trivial_firm(ctx.clean_pred, test.y),
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


