"""Fairness experiments: configs with ``experiment: fairness``, run end to end.

One *task* is one seed: split the data, then for every (α, method, m) needed by the requested
analyses draw the collective and rank its candidates once, and for every budget (fraction of
the candidates) or threshold retrain the firm on the relabeled data and measure it on the clean
test split. The firm-side baselines are fitted on the same split. Rows go into one table from
which :mod:`acakit.analyses.fairness_tables` draws its plots and CSVs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator
from threadpoolctl import threadpool_limits

from acakit.data.base import Dataset, train_test_split
from acakit.engine.config import (
    CellBase,
    ConfigError,
    DefenseSpec,
    FirmSpec,
    Labels,
    OutputSpec,
    _Model,
    check_seeds,
    format_validation_error,
    loader_error,
    split_checked,
)
from acakit.fairness.baselines import (
    BASELINES,
    DROPS_GROUP_COLUMNS,
    USES_GROUP_AT_PREDICTION,
    FirmBaseline,
    check_baseline,
)
from acakit.fairness.counterfactual import (
    Counterfactual,
    counterfactual_dataset,
    counterfactual_success,
)
from acakit.fairness.groups import GroupSpec, check_alpha
from acakit.fairness.metrics import fairness_metrics
from acakit.fairness.relabel import RelabelPlan, check_majority_sample, plan_relabeling
from acakit.fairness.scorers import SCORERS
from acakit.fairness.synthetic import flip_precision, make_minority_synthetic
from acakit.firms import fit_recording_warnings, make_firm, recording_warnings
from acakit.firms.device import fitted_device

ANALYSES = ("alpha", "pareto", "efficiency", "sample_size")
Method = Literal["probability", "label", "distance", "random"]

#: data sets of this package, besides :data:`acakit.data.DATASETS`
FAIRNESS_DATASETS = {"minority_synthetic": make_minority_synthetic}


def load_fairness_dataset(name: str, params: dict[str, Any] | None = None) -> Dataset:
    """Load a data set by name: ``minority_synthetic`` or any of :data:`acakit.data.DATASETS`.

    Raises
    ------
    ValueError
        One line naming an unknown data set or parameter.
    """
    from acakit.data import DATASETS, check_params, load

    params = dict(params or {})
    if name in FAIRNESS_DATASETS:
        check_params("dataset", name, FAIRNESS_DATASETS[name], params)
        return FAIRNESS_DATASETS[name](**params)
    if name not in DATASETS:
        raise ValueError(f"dataset.name: {name!r} is not one of "
                         f"{', '.join([*FAIRNESS_DATASETS, *DATASETS])}")
    return load(name, **params)


# --------------------------------------------------------------------------- config


class DataSpec(_Model):
    """Which data, loader parameters, test fraction."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    test_size: float = Field(0.3, gt=0, lt=1)


class GroupsSpec(_Model):
    """Minority, majority (default: everyone else) and favourable label."""

    minority: dict[str, Any] = Field(min_length=1)
    majority: dict[str, Any] | None = None
    favorable: str | int = 1

    def build(self) -> GroupSpec:
        """The :class:`GroupSpec`."""
        return GroupSpec(self.minority, self.majority, self.favorable)


def _fraction(v: float) -> float:
    try:
        return check_alpha(v, "")
    except ValueError as e:
        raise ValueError(str(e).removeprefix(": ")) from None


def _sample_size(m: Any) -> None:
    try:
        check_majority_sample(m)
    except ValueError as e:
        raise ValueError(str(e).removeprefix("majority_sample: ")) from None


class RelabelSpec(_Model):
    """The collective: methods, α values, budgets, thresholds, majority sample sizes."""

    methods: list[Method] = Field(default_factory=lambda: list(SCORERS), min_length=1)
    alpha: float = 0.3
    alphas: list[float] = Field(default_factory=lambda: [0.01, 0.05, 0.1, 0.2, 0.3, 0.4])
    budgets: list[float] = Field(
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], min_length=1)
    thresholds: list[float] = Field(default_factory=lambda: [0.5])
    majority_sample: int | Literal["all"] = "all"
    sample_sizes: list[int | Literal["all"]] = Field(default_factory=lambda: [10, 100, "all"])
    k: int = Field(10, ge=1)

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        return _fraction(v)

    @field_validator("alphas")
    @classmethod
    def _alphas(cls, v: list[float]) -> list[float]:
        return [_fraction(a) for a in v]

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, v: list[float]) -> list[float]:
        for b in v:
            if not 0.0 <= b <= 1.0:
                raise ValueError(f"{b} is not a fraction of the candidates in [0, 1]")
        return [float(b) for b in v]

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        for t in v:
            if not 0.0 <= t <= 1.0:  # NaN fails too
                raise ValueError(f"{t} is not a score threshold in [0, 1]")
        return [float(t) for t in v]

    @field_validator("majority_sample")
    @classmethod
    def _m(cls, v: int | str) -> int | str:
        _sample_size(v)
        return v

    @field_validator("sample_sizes")
    @classmethod
    def _ms(cls, v: list[int | str]) -> list[int | str]:
        for m in v:
            _sample_size(m)
        return v


class CounterfactualSpec(_Model):
    """The counterfactual g of the success S(α): which columns follow the sensitive attribute.

    ``follow`` maps a column to ``{old: new}`` (values not listed stay) or to one value given to
    every minority row, e.g. ``{relationship: {Wife: Husband}}`` on Adult. The group-defining
    columns themselves are always set to the majority's value.
    """

    follow: dict[str, Any] = Field(default_factory=dict)


class FairnessConfig(_Model):
    """A minority-collective fairness experiment."""

    name: str = "fairness"
    experiment: Literal["fairness"] = "fairness"
    dataset: DataSpec
    groups: GroupsSpec
    firm: FirmSpec = Field(default_factory=FirmSpec)
    relabel: RelabelSpec = Field(default_factory=RelabelSpec)
    baselines: list[str] = Field(default_factory=lambda: [b for b in BASELINES if b != "none"])
    eps: float = Field(0.01, gt=0)
    unfairness: Literal["eo_gap", "dp_gap"] = "eo_gap"
    counterfactual: CounterfactualSpec = Field(default_factory=CounterfactualSpec)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    defenses: list[DefenseSpec] = Field(default_factory=list)
    """Defenses to compare (``{name: none}`` is the undefended firm): every no-action and
    relabeling cell runs once more per defense, with the firm's ``defense`` set to it. The
    headline, Pareto and efficiency tables use ``firm`` as given; ``fairness_defenses.csv``
    (and its plot) compares them all: unfairness, counterfactual success, error and the
    defense's precision and recall at finding the relabeled rows."""

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        return check_seeds(v)
    analyses: list[Literal["alpha", "pareto", "efficiency", "sample_size"]] = Field(
        default_factory=lambda: ["pareto", "efficiency"], min_length=1)
    output: OutputSpec = Field(default_factory=lambda: OutputSpec(dir="results/fairness"))
    labels: Labels = Field(default_factory=dict)
    """Legend words for names, grid values or grid points (``acakit.engine.config.Labels``)."""

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, v: list[str]) -> list[str]:
        for b in v:
            check_baseline(b)
        return v

    @model_validator(mode="after")
    def _needs(self) -> FairnessConfig:
        if "sample_size" in self.analyses and not self.relabel.sample_sizes:
            raise ValueError("relabel.sample_sizes: empty, but analysis sample_size needs it")
        if self.baselines and (self.firm.defense is not None
                               or any(d.name != "none" for d in self.defenses)):
            raise ValueError("baselines: the firm-side baselines fit the undefended firm; with "
                             "a defense (firm.defense or defenses) give baselines: []")
        return self

    def firms(self) -> list[FirmSpec]:
        """``firm``, then ``firm`` with each other defense of :attr:`defenses` (no repeats)."""
        out = [self.firm]
        for d in self.defenses:
            f = self.firm.model_copy(update={"defense": None if d.name == "none" else d})
            if all(f.model_dump(mode="json") != g.model_dump(mode="json") for g in out):
                out.append(f)
        return out


def parse_fairness_config(raw: dict[str, Any]) -> FairnessConfig:
    """Validate a config dict (no data loaded); raises :class:`ConfigError` in one line."""
    try:
        return FairnessConfig.model_validate(dict(raw))
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


def check_against_data(cfg: FairnessConfig) -> Dataset:
    """Load the data and check the groups against it; returns the prepared data set.

    Raises
    ------
    ConfigError
        One line naming an unknown data set, a sensitive attribute not in the data, a
        minority/majority value that does not occur, a favourable class that is not a class, or
        a collective too small to have a member.
    """
    try:
        ds = load_fairness_dataset(cfg.dataset.name, cfg.dataset.params)
    except Exception as e:  # a loader's own error about its parameters
        raise loader_error(e) from None
    try:
        groups = cfg.groups.build()
        ds = groups.prepare(ds)
    except ValueError as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    if cfg.counterfactual.follow:
        try:
            counterfactual_dataset(ds, groups, cfg.counterfactual.follow)
        except (ValueError, TypeError) as e:
            raise ConfigError(str(e).splitlines()[0]) from None
    if ds.kind != "tabular":
        raise ConfigError(f"dataset: {ds.name} is {ds.kind} data; minority relabeling needs "
                          "tabular data with sensitive attributes")
    from acakit.firms import check_firm_params

    try:
        check_firm_params(cfg.firm.name, ds, cfg.firm.params, cfg.firm.featurizer)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    r = cfg.relabel
    asked = [("relabel.majority_sample", r.majority_sample)]
    if "sample_size" in cfg.analyses:
        asked += [("relabel.sample_sizes", m) for m in r.sample_sizes]
    sizes = [("relabel.alpha", r.alpha)]
    if "alpha" in cfg.analyses:
        sizes += [("relabel.alphas", a) for a in r.alphas]
    for seed in cfg.seeds:
        train, _ = split_checked(ds, cfg.dataset.test_size, seed)
        n_minor = int(groups.minority_mask(train).sum())
        for name, a in sizes:  # a collective of no one is no experiment: refuse, don't round up
            if a is not None and n_minor and round(a * n_minor) < 1:
                raise ConfigError(f"{name}: {a:g} of the {n_minor:,} minority rows of seed {seed}'s "
                                  f"training split is no member; give at least {1 / n_minor:.2g}")
        n_major = int(groups.majority_mask(train).sum())
        for name, m in asked:
            if m != "all" and int(m) > n_major:
                raise ConfigError(f"{name}: {m} majority rows asked for, but the training split of "
                                  f"seed {seed} has {n_major}; give at most {n_major} or 'all'")
    return ds


# --------------------------------------------------------------------------- cells


class FairnessAction(_Model):
    """What one fairness cell does: nothing, one relabeling setting, or one firm-side baseline."""

    kind: Literal["no_action", "relabel", "baseline"]
    method: str = "none"
    alpha: float | None = None
    majority_sample: int | Literal["all"] | None = None
    mode: Literal["budget", "threshold"] | None = None
    value: float | None = None

    def label(self) -> str:
        """``"relabel probability α=0.3 m=all budget=0.1"``, ``"baseline reweighing"``, ..."""
        if self.kind == "relabel":
            return (f"relabel {self.method} α={self.alpha:g} m={self.majority_sample} "
                    f"{self.mode}={self.value:g}")
        return self.kind if self.kind == "no_action" else f"baseline {self.method}"


class FairnessCellSpec(CellBase):
    """One fairness cell: (data, groups, firm, seed) and one action; one firm fit."""

    kind: ClassVar[str] = "fairness"
    dataset: DataSpec
    groups: GroupsSpec
    firm: FirmSpec
    eps: float = 0.01
    k: int = 10
    seed: int
    action: FairnessAction
    follow: dict[str, Any] | None = None

    @property
    def cell_id(self) -> str:
        """Stable hash of the spec; ``follow`` enters only when set, so the ids of cells made
        before the counterfactual success existed do not change."""
        from acakit.engine.config import spec_hash

        spec = self.model_dump(mode="json", exclude=None if self.follow else {"follow"})
        return spec_hash({"kind": self.kind} | spec)


@dataclass
class Job:
    """What one seed computes: the (α, method, m) plans, settings and baselines."""

    plans: list[tuple[float, str, int | str]]
    budgets: list[float]
    thresholds: list[float]
    baselines: list[str]


def make_job(cfg: FairnessConfig) -> Job:
    """The union of the settings the requested analyses need."""
    r = cfg.relabel
    keys: list[tuple[float, str, int | str]] = []
    seen: set[tuple[float, str, int | str]] = set()

    def add(a: float, meth: str, m: int | str) -> None:
        if (a, meth, m) not in seen:
            seen.add((a, meth, m))
            keys.append((a, meth, m))

    for meth in r.methods:
        if {"pareto", "efficiency"} & set(cfg.analyses):
            add(r.alpha, meth, r.majority_sample)
        if "alpha" in cfg.analyses:
            for a in r.alphas:
                add(a, meth, r.majority_sample)
        if "sample_size" in cfg.analyses:
            for m in r.sample_sizes if meth != "random" else [r.majority_sample]:
                add(r.alpha, meth, m)
    baselines = list(cfg.baselines) if "pareto" in cfg.analyses else []
    return Job(keys, list(r.budgets), list(r.thresholds), baselines)


def parse_config(raw: dict[str, Any]) -> FairnessConfig:
    """The kind's parser (:func:`parse_fairness_config`)."""
    return parse_fairness_config(raw)


def count_cells(cfg: FairnessConfig) -> list[tuple[str, int]]:
    """The config's axes and their lengths (their product: the cells :func:`expand` makes),
    without making a cell: seeds x (defenses x actions + baselines)."""
    job = make_job(cfg)
    n_actions = 1 + sum(len(job.budgets) + (len(job.thresholds) if method in ("probability", "label")
                                            else 0) for _, method, _ in job.plans)
    per_seed = len(cfg.firms()) * n_actions + len(job.baselines)
    return [("relabel settings", per_seed), ("seeds", len(cfg.seeds))]


def expand(cfg: FairnessConfig) -> list[FairnessCellSpec]:
    """The cells of a fairness config: per seed, no action, every relabeling setting the
    analyses need (each budget and threshold of each (α, method, m)), every baseline."""
    job = make_job(cfg)
    actions = [FairnessAction(kind="no_action")]
    for alpha, method, m in job.plans:
        settings: list[tuple[str, float]] = [("budget", b) for b in job.budgets]
        if method in ("probability", "label"):
            settings += [("threshold", t) for t in job.thresholds]
        actions += [FairnessAction(kind="relabel", method=method, alpha=alpha, majority_sample=m,
                                   mode=mode, value=value) for mode, value in settings]
    baselines = [FairnessAction(kind="baseline", method=b) for b in job.baselines]
    firms = cfg.firms()
    cells = []
    for seed in cfg.seeds:
        for i, firm in enumerate(firms):
            for act in actions + (baselines if i == 0 else []):
                cell = FairnessCellSpec(dataset=cfg.dataset, groups=cfg.groups, firm=firm,
                                        eps=cfg.eps, k=cfg.relabel.k, seed=seed, action=act,
                                        follow=dict(cfg.counterfactual.follow) or None)
                cell._variant = act.label() + (f" defense={defense_name(firm)}"
                                               if len(firms) > 1 else "")
                cells.append(cell)
    return cells


def defense_name(firm: FirmSpec) -> str:
    """The name of a firm's defense (``"none"`` without one)."""
    return "none" if firm.defense is None else firm.defense.name


def check(cfg: FairnessConfig, cells: list[FairnessCellSpec]) -> None:
    """The validation pass against the data (:func:`check_against_data`)."""
    check_against_data(cfg)


@lru_cache(maxsize=4)
def _prepared(dataset_json: str, groups_json: str) -> Dataset:
    data = DataSpec.model_validate_json(dataset_json)
    groups = GroupsSpec.model_validate_json(groups_json).build()
    return groups.prepare(load_fairness_dataset(data.name, data.params))


@dataclass
class FairnessContext:
    """What the cells of one (data, groups, firm, seed) share: split, test labels and groups,
    the clean firm's metrics, and the relabeling plans drawn so far."""

    train: Dataset
    test: Dataset
    groups: GroupSpec
    favorable: Any
    y_test: np.ndarray
    group_test: np.ndarray
    attrs: pd.DataFrame | None
    clean: dict[str, Any]
    clean_seconds: float
    cf: Counterfactual | None = None
    plans: dict[tuple[Any, ...], tuple[RelabelPlan, float]] = field(default_factory=dict)


def context_key(cell: FairnessCellSpec) -> str:
    """Cells with equal keys share a :class:`FairnessContext`."""
    from acakit.engine.config import data_stamp, spec_hash

    parts = [cell.dataset.model_dump(mode="json"), cell.groups.model_dump(mode="json"),
             cell.firm.model_dump(mode="json"), cell.seed, *data_stamp(cell.dataset)]
    return spec_hash(parts + ([cell.follow] if cell.follow else []))


def make_context(cell: FairnessCellSpec) -> FairnessContext:
    """Split the prepared data with the cell's seed and measure the clean firm (cached)."""
    from acakit.engine.cache import get_cache

    ds = _prepared(cell.dataset.model_dump_json(), cell.groups.model_dump_json())
    groups = cell.groups.build()
    train, test = train_test_split(ds, cell.dataset.test_size, seed=cell.seed)
    fav = groups.favorable_code(train)
    y_test = (np.asarray(test.y) == fav).astype(np.int64)
    group_test = groups.indicator(test)
    attrs = groups.attributes(test)
    attrs = attrs if attrs.shape[1] >= 2 else None
    ctx = FairnessContext(train, test, groups, fav, y_test, group_test, attrs, {}, 0.0)
    if isinstance(test.X, pd.DataFrame):
        ctx.cf = counterfactual_dataset(test, groups, cell.follow, reference=train)
    ctx.clean, ctx.clean_seconds = get_cache().memoize(
        "fairness_clean", [context_key(cell)], lambda: _fit_eval(cell, ctx, np.asarray(train.y)))
    return ctx


def _fit_eval(cell: FairnessCellSpec, ctx: FairnessContext, y_train: np.ndarray,
              flipped: np.ndarray | None = None) -> tuple[dict[str, Any], float]:
    f = cell.firm
    firm = make_firm(f.name, ctx.train, f.params, f.featurizer, defense=f.defense)
    fit_s, warned = fit_recording_warnings(firm, ctx.train.X,
                                           (y_train == ctx.favorable).astype(np.int64))
    pred = np.asarray(firm.predict(ctx.test.X))
    metrics = fairness_metrics(ctx.y_test, pred, ctx.group_test, ctx.attrs)
    if f.defense is not None:  # detection of the relabeled rows (none in the clean fit)
        from acakit.firms.defenses import defense_columns

        members = np.zeros(len(y_train), dtype=bool)
        if flipped is not None:
            members[flipped] = True
        metrics |= defense_columns(f.defense, firm, members)
    cf = ctx.cf
    sees = cf is not None and cf.changes_features
    pred_cf = np.asarray(firm.predict(cf.data.X)) if sees else None
    return metrics | _cf_columns(ctx, pred, pred_cf) | {"fit_warnings": warned,
                                                        "device": fitted_device(firm)}, fit_s


def _cf_columns(ctx: FairnessContext, pred: np.ndarray,
                pred_cf: np.ndarray | None) -> dict[str, Any]:
    """``cf_success`` (Ben-Dov et al.'s S: share of all test rows whose prediction g leaves
    unchanged), ``cf_success_minority`` (the same share among minority test rows) and
    ``cf_note`` (why they are missing: the firm does not see the attribute, S = 1 by
    construction)."""
    if ctx.cf is None:
        return {"cf_success": np.nan, "cf_success_minority": np.nan,
                "cf_note": "no counterfactual for non-tabular features"}
    if pred_cf is None:
        cols = ", ".join(ctx.groups.columns)
        return {"cf_success": np.nan, "cf_success_minority": np.nan,
                "cf_note": f"the firm does not see {cols} (S = 1 by construction)"}
    m = ctx.cf.minority
    return {"cf_success": counterfactual_success(pred, pred_cf, m),
            "cf_success_minority": counterfactual_success(pred, pred_cf, m, over="minority"),
            "cf_note": ""}


def run_cell(cell: FairnessCellSpec, ctx: FairnessContext | None = None) -> dict[str, Any]:
    """Run one fairness cell (one firm fit at most) and return its row."""
    with threadpool_limits(1):
        return _run_cell(cell, ctx or make_context(cell))


def _run_cell(cell: FairnessCellSpec, ctx: FairnessContext) -> dict[str, Any]:
    train, act, seed = ctx.train, cell.action, cell.seed
    base = {"cell_id": cell.cell_id, "dataset": cell.dataset.name, "firm": cell.firm.name,
            "seed": seed, "n_train": len(train), "defense": defense_name(cell.firm),
            "n_minority": int(ctx.groups.minority_mask(train).sum())}
    if act.kind == "no_action":
        return base | {"kind": "no_action", "method": "none", "alpha": 0.0, "n_flips": 0} \
            | ctx.clean | {"fit_seconds": ctx.clean_seconds}
    if act.kind == "baseline":
        t0 = time.perf_counter()
        with recording_warnings() as rec:
            b = FirmBaseline(act.method, ctx.groups, cell.firm.name, cell.firm.params, eps=cell.eps,
                             seed=seed).fit(train)
        pred = b.predict(ctx.test)
        metrics = fairness_metrics(ctx.y_test, pred, ctx.group_test, ctx.attrs)
        cf = ctx.cf
        sees = cf is not None and (act.method in USES_GROUP_AT_PREDICTION or (
            cf.changes_features and act.method not in DROPS_GROUP_COLUMNS))
        pred_cf = b.predict(cf.data) if sees and cf is not None else None
        metrics |= _cf_columns(ctx, pred, pred_cf)
        return base | {"kind": "baseline", "method": act.method, "alpha": np.nan,
                       "n_flips": b.info_.get("n_flips", np.nan)} | metrics \
            | {"fit_seconds": time.perf_counter() - t0, "fit_warnings": rec.text}
    assert act.alpha is not None and act.majority_sample is not None and act.value is not None
    key = (act.alpha, act.method, act.majority_sample)
    if key not in ctx.plans:
        t0 = time.perf_counter()
        plan = plan_relabeling(train, ctx.groups, act.alpha, act.method,
                               majority_sample=act.majority_sample, k=cell.k, seed=seed)
        ctx.plans[key] = plan, time.perf_counter() - t0
    plan, score_s = ctx.plans[key]
    flipped = (plan.flipped(budget=act.value) if act.mode == "budget"
               else plan.flipped(threshold=act.value))
    if len(flipped) == 0:
        metrics, fit_s = ctx.clean, 0.0
    else:
        y_new = plan.y.copy()
        y_new[flipped] = plan.favorable
        metrics, fit_s = _fit_eval(cell, ctx, y_new, flipped)
    row = base | _plan_row(plan, act.alpha, act.method, act.majority_sample) | {
        "kind": "relabel", "mode": act.mode,
        "budget": act.value if act.mode == "budget" else np.nan,
        "threshold": act.value if act.mode == "threshold" else np.nan,
        "n_flips": len(flipped),
    } | metrics | {"fit_seconds": fit_s, "score_seconds": score_s}
    if "weights" in train.meta:  # synthetic data with a known ideal relabeling
        row["precision_ideal"] = flip_precision(train, flipped)
        row["n_ideal_candidates"] = int(_ideal_count(train, plan))
    return row


def _plan_row(plan: RelabelPlan, alpha: float, method: str, m: int | str) -> dict[str, Any]:
    return {"alpha": alpha, "method": method, "majority_sample": str(m),
            "n_members": len(plan.members), "n_candidates": plan.n_candidates,
            "n_majority_known": plan.n_majority_known}


def _ideal_count(train: Dataset, plan: RelabelPlan) -> int:
    from acakit.fairness.synthetic import ideal_relabeling

    return int(ideal_relabeling(train, plan.candidates).sum())


def run_fairness(
    cfg: FairnessConfig | dict[str, Any],
    jobs: int | None = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Run a fairness config's cells (all seeds, no store) and return one row per cell.

    Parameters
    ----------
    cfg : FairnessConfig or dict
    jobs : int, default=1
        Workers (``-1``: all cores), as :func:`acakit.engine.runners.run_sweep`.
    progress : bool, default=False
        Show a progress bar over cells.

    Returns
    -------
    pandas.DataFrame
        Columns: ``kind`` (``no_action``, ``relabel``, ``baseline``), ``method``, ``alpha``,
        ``majority_sample``, ``mode`` (``budget``/``threshold``), ``budget``, ``threshold``,
        ``n_flips``, ``seed``, the metrics of :func:`acakit.fairness.metrics.fairness_metrics`,
        and on synthetic data ``precision_ideal``.
    """
    from acakit.engine import results_frame
    from acakit.engine.runners import run_sweep

    if isinstance(cfg, dict):
        cfg = parse_fairness_config(cfg)
    cells = expand(cfg)
    check(cfg, cells)
    run = run_sweep(cells, jobs=jobs, progress=progress, fail_fast=True)
    return results_frame(cells, run.rows)


