"""The ``gradient`` experiment kind: Hardt et al.'s risk-minimization and gradient settings.

A cell = (data, gradient firm, steering collective of size α, seed): split the data with the
seed, featurise it, fit the clean model θ0 (cached), draw the members, resolve θ*, then

- ``steer_minimizer``: the collective solves for its reports once; the firm fits on the altered
  data (an ordinary fit: the static path);
- ``gradient_control`` / ``gradient_neutralize``: the firm runs
  :meth:`~acakit.firms.gradient.GradientDescentFirm.fit_steered`, asking the collective for its
  reports every ``knowledge.every`` steps.

The row holds the normalised distance ``||θ_T − θ*|| / ||θ_0 − θ*||``, whether it converged,
the goal's coordinates, the decisions that changed, clean accuracy, acakit's critical masses
(:func:`acakit.steering.critical_masses`) and the distance along the trajectory.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from acakit.engine.config import (
    CellBase,
    ConfigError,
    DatasetSpec,
    Labels,
    OutputSpec,
    _Model,
    _set_path,
    check_fractions,
    check_seeds,
    format_validation_error,
    grid_label,
    spec_hash,
)

#: Data sets of the gradient kind besides every classification data set of acakit.data.
REGRESSION_DATA = ("linear_regression",)
STRATEGIES = ("gradient_control", "gradient_neutralize", "steer_minimizer")


class GradDataSpec(DatasetSpec):
    """``linear_regression`` (synthetic, for least squares) or any acakit data set."""

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from acakit.data import DATASETS

        if v not in DATASETS and v not in REGRESSION_DATA:
            raise ValueError(f"{v!r} is not one of {', '.join([*REGRESSION_DATA, *DATASETS])}")
        return v


class GradFirmSpec(_Model):
    """The gradient firm's parameters (:class:`~acakit.firms.gradient.GradientDescentFirm`);
    ``init: clean`` starts from the clean model θ0 (a deployed model that keeps training)."""

    loss: Literal["logistic", "softmax", "squared"] = "logistic"
    l2: float = Field(0.0, ge=0)
    lr: float = Field(0.5, gt=0)
    steps: int = Field(500, ge=1, le=1_000_000)
    batch_size: int | None = Field(None, ge=1)
    fit_intercept: bool = True
    init: Literal["zeros", "clean"] = "zeros"
    record_every: int = Field(10, ge=1)

    @property
    def name(self) -> str:
        """The firm's name in tables."""
        return f"gd_{self.loss}" + ("" if self.batch_size is None else f"_sgd{self.batch_size}")


class FeasibleSpec(_Model):
    """:class:`acakit.steering.FeasibleSet` in a config."""

    features: Literal["own", "ball"] = "own"
    radius: float = Field(1.0, gt=0)
    labels: tuple[float, float] | None = None
    edit: float = Field(0.0, ge=0)


class KnowledgeSpec(_Model):
    """:class:`acakit.steering.Knowledge` in a config."""

    sample: int | None = Field(None, ge=1)
    every: int = Field(1, ge=1)


class GoalSpec(_Model):
    """θ* from a goal on the clean model (see :func:`acakit.steering.resolve_goal`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["set_weight", "flip_sign", "signal_to_class", "zero"]
    feature: str | int | None = None
    value: float | None = None
    cls: int | None = Field(None, alias="class")
    share: float = Field(0.99, gt=0, lt=1)

    @model_validator(mode="after")
    def _needs(self) -> GoalSpec:
        if self.type != "zero" and self.feature is None:
            raise ValueError(f"feature: goal {self.type} needs a feature")
        if self.type in ("set_weight", "signal_to_class") and self.value is None:
            raise ValueError(f"value: goal {self.type} needs a value")
        if self.type == "signal_to_class" and self.cls is None:
            raise ValueError("class: goal signal_to_class needs the class (an index)")
        return self


class SteeringSpec(_Model):
    """The collective: strategy, size, θ* (or goal, or the coordinates it holds), what it may
    report and what it knows."""

    strategy: Literal["gradient_control", "gradient_neutralize", "steer_minimizer"]
    alpha: float | None = None
    theta_star: list[float] | None = None
    goal: GoalSpec | None = None
    coordinates: list[str | int] = Field(default_factory=list)
    feasible: FeasibleSpec = Field(default_factory=FeasibleSpec)
    knowledge: KnowledgeSpec = Field(default_factory=KnowledgeSpec)

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float | None) -> float | None:
        if v is not None and not 0 <= v < 1:
            raise ValueError(f"{v} is not a fraction in [0, 1)")
        return v

    @model_validator(mode="after")
    def _target(self) -> SteeringSpec:
        if self.strategy == "gradient_neutralize":
            if not self.coordinates:
                raise ValueError("coordinates: gradient_neutralize needs the features it holds")
        elif (self.theta_star is None) == (self.goal is None):
            raise ValueError(f"theta_star: {self.strategy} needs exactly one of theta_star, goal")
        return self


class GradSweep(_Model):
    """α values, seeds and any other parameter by dotted path."""

    alpha: list[float] | None = None
    seed: list[int] = Field(default_factory=lambda: [0])
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("alpha")
    @classmethod
    def _alphas(cls, v: list[float] | None) -> list[float] | None:
        v = check_fractions(v)
        if v is not None and any(a >= 1 for a in v):
            raise ValueError("α = 1 leaves the firm no base data; use values below 1")
        return v

    @field_validator("seed", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        return check_seeds(v)


class GradientConfig(_Model):
    """An ``experiment: gradient`` config."""

    name: str = "gradient"
    experiment: Literal["gradient"] = "gradient"
    dataset: GradDataSpec
    firm: GradFirmSpec = Field(default_factory=GradFirmSpec)
    collective: SteeringSpec
    sweep: GradSweep = Field(default_factory=GradSweep)
    tolerance: float = Field(0.01, gt=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    output: OutputSpec = Field(default_factory=OutputSpec)
    labels: Labels = Field(default_factory=dict)
    """Legend words for names, grid values or grid points (``acakit.engine.config.Labels``)."""


class GradientCellSpec(CellBase):
    """One cell of a gradient sweep."""

    kind: ClassVar[str] = "gradient"
    dataset: GradDataSpec
    firm: GradFirmSpec
    collective: SteeringSpec
    seed: int
    tolerance: float = 0.01


# ----------------------------------------------------------------------------- the kind's API
def parse_config(raw: Any) -> GradientConfig:
    """Validate a gradient config dict (one-line :class:`ConfigError` naming the field)."""
    try:
        return GradientConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e)) from None


def count_cells(cfg: GradientConfig) -> list[tuple[str, int]]:
    """The sweep's axes and their lengths."""
    axes = [(f"sweep.grid.{k}", len(v)) for k, v in cfg.sweep.grid.items()]
    if cfg.sweep.alpha is not None:
        axes.append(("sweep.alpha", len(cfg.sweep.alpha)))
    return [*axes, ("sweep.seed", len(cfg.sweep.seed))]


def expand(cfg: GradientConfig) -> list[GradientCellSpec]:
    """The cells: grid x α x seeds."""
    base = cfg.model_dump(mode="json", by_alias=True, include={"dataset", "firm", "collective"})
    keys = list(cfg.sweep.grid)
    for k in keys:
        if k.split(".")[0] not in ("dataset", "firm", "collective"):
            raise ConfigError(f"sweep.grid: {k!r} must start with dataset., firm. or collective.")
        if not cfg.sweep.grid[k]:
            raise ConfigError(f"sweep.grid.{k}: empty list, the sweep would have 0 cells")
    if cfg.sweep.alpha is not None and cfg.collective.alpha is not None:
        raise ConfigError("collective.alpha: sweep.alpha sets the sizes and would override it; "
                          "give the sizes in one place")
    alphas = cfg.sweep.alpha if cfg.sweep.alpha is not None else [cfg.collective.alpha]
    if alphas == [None]:
        raise ConfigError("collective.alpha: give collective.alpha or sweep.alpha")
    cells = []
    for combo in itertools.product(*(cfg.sweep.grid[k] for k in keys)):
        for a in alphas:
            for seed in cfg.sweep.seed:
                d = copy.deepcopy(base)
                for k, v in zip(keys, combo, strict=True):
                    _set_path(d, k, v)
                d["collective"]["alpha"] = a
                d |= {"seed": seed, "tolerance": cfg.tolerance}
                try:
                    cell = GradientCellSpec.model_validate(d)
                except ValidationError as e:
                    where = ", ".join(f"{k}={v!r}" for k, v in zip(keys, combo, strict=True))
                    raise ConfigError(format_validation_error(e)
                                      + (f" [grid: {where}]" if where else "")) from None
                cell._variant = grid_label(keys, combo)
                cells.append(cell)
    if not cells:
        raise ConfigError("sweep: the grid expands to 0 cells (an empty alpha or seed list)")
    return cells


def check(cfg: GradientConfig, cells: list[GradientCellSpec]) -> None:
    """Before any work: the data loads, the firm fits its labels, the feasible set fits the
    firm, θ* (or the goal, or the held coordinates) fits the model. One line naming the field."""
    from acakit.steering import feature_index, resolve_goal

    seen: set[str] = set()
    for cell in cells:
        key = spec_hash([cell.dataset.model_dump(mode="json"), cell.firm.model_dump(mode="json"),
                         cell.collective.model_dump(mode="json", exclude={"alpha"})])
        if key in seen:
            continue
        seen.add(key)
        data = prepared(cell.dataset.model_dump_json(), cell.seed)
        model = data.model(cell.firm)
        try:
            if cell.firm.loss == "squared" and data.classes is not None:
                raise ValueError("firm.loss: 'squared' is for regression data (linear_regression); "
                                 f"{cell.dataset.name} has classes: use logistic or softmax")
            if cell.firm.loss != "squared" and data.classes is None:
                raise ValueError(f"firm.loss: {cell.dataset.name} is regression data; use squared")
            feasible(cell).check(model)
            c = cell.collective
            if c.strategy == "gradient_neutralize":
                coordinates(cell, data, model)
            elif c.goal is not None and c.goal.type in ("flip_sign", "signal_to_class"):
                # θ* comes from θ0, fitted in the cell: the feature's name is checked now
                feature_index(c.goal.feature, data.feature_names)
            else:
                goal = None if c.goal is None else c.goal.model_dump(by_alias=True)
                ts = resolve_goal(goal, c.theta_star, np.zeros(model.shape), model,
                                  data.feature_names)
                if cell.firm.init == "zeros" and np.allclose(ts, 0.0):
                    field = "goal" if goal is not None else "theta_star"
                    raise ValueError(f"collective.{field}: θ* is the firm's starting point "
                                     "θ_0 = 0, so there is nothing to steer (set firm.init: "
                                     "clean, or another goal)")
        except ValueError as e:
            raise ConfigError(str(e)) from None


def feasible(cell: GradientCellSpec) -> Any:
    """The :class:`~acakit.steering.FeasibleSet` of a cell."""
    from acakit.steering import FeasibleSet

    f = cell.collective.feasible
    return FeasibleSet(f.features, f.radius, f.labels, f.edit)


def coordinates(cell: GradientCellSpec, data: Prepared, model: Any) -> list[int]:
    """The flat θ indices a neutralizing collective holds (every class's weight for softmax)."""
    from acakit.steering import feature_index

    out = []
    for name in cell.collective.coordinates:
        j = feature_index(name, data.feature_names)
        out += [j * model.n_outputs + c for c in range(model.n_outputs)]
    return out


@dataclass
class Prepared:
    """A split, featurised data set: train and test matrices, labels, feature names."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    classes: list[str] | None

    def model(self, firm: GradFirmSpec) -> Any:
        """The :class:`~acakit.firms.gradient.LinearLoss` of a firm spec on this data."""
        from acakit.firms.gradient import LinearLoss

        k = len(self.classes) if firm.loss == "softmax" and self.classes else 1
        return LinearLoss(firm.loss, self.X_train.shape[1], k, firm.fit_intercept, firm.l2)


@lru_cache(maxsize=8)
def prepared(dataset_json: str, seed: int) -> Prepared:
    """Load, split (seeded) and featurise a data set (the featuriser is fitted on train)."""
    from acakit.data import load
    from acakit.data.base import train_test_split
    from acakit.data.synthetic import make_linear_regression

    spec = GradDataSpec.model_validate_json(dataset_json)
    if spec.name == "linear_regression":
        try:
            X, y, _ = make_linear_regression(**spec.params)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"dataset.params: {e}") from None
        rng = np.random.RandomState(seed)
        order = rng.permutation(len(y))
        n_test = int(round(spec.test_size * len(y)))
        te, tr = order[:n_test], order[n_test:]
        names = [f"x{j}" for j in range(X.shape[1])]
        return Prepared(X[tr], y[tr], X[te], y[te], names, None)
    from acakit.engine.config import loader_error
    from acakit.firms import featurizer

    try:
        ds = load(spec.name, **spec.params)
    except Exception as e:
        raise loader_error(e) from None
    if ds.kind == "text":
        raise ConfigError(f"dataset.name: {spec.name} is text; the gradient firms take tabular, "
                          "vector or image data")
    train, test = train_test_split(ds, spec.test_size, seed=seed)
    feat = featurizer(ds).fit(train.X)
    try:
        names = [str(n) for n in feat.get_feature_names_out()]
    except Exception:
        names = [f"x{j}" for j in range(np.asarray(feat.transform(train.X[:1])).shape[1])]
    Xtr = np.asarray(feat.transform(train.X), dtype=np.float64)
    Xte = np.asarray(feat.transform(test.X), dtype=np.float64)
    return Prepared(Xtr, np.asarray(train.y), Xte, np.asarray(test.y), names, list(ds.classes))


@dataclass
class GradContext:
    """What cells sharing (data, firm, seed) have in common: the data and the clean model θ0."""

    data: Prepared
    theta_clean: np.ndarray
    clean_pred: np.ndarray


def _firm(spec: GradFirmSpec, init: Any = "zeros", seed: int = 0) -> Any:
    from acakit.firms.gradient import GradientDescentFirm

    return GradientDescentFirm(loss=spec.loss, l2=spec.l2, lr=spec.lr, steps=spec.steps,
                               batch_size=spec.batch_size, fit_intercept=spec.fit_intercept,
                               init=init, record_every=spec.record_every, seed=seed)


def context_key(cell: GradientCellSpec) -> str:
    """Cells with the same data, firm and seed share the clean model."""
    return spec_hash([cell.dataset.model_dump(mode="json"), cell.firm.model_dump(mode="json"),
                      cell.seed])


def make_context(cell: GradientCellSpec) -> GradContext:
    """The prepared data and the clean model θ0 (the firm on clean data, from θ = 0), cached."""
    from acakit.engine.cache import get_cache

    data = prepared(cell.dataset.model_dump_json(), cell.seed)

    def fit_clean() -> tuple[np.ndarray, np.ndarray]:
        f = _firm(cell.firm, seed=cell.seed).fit(data.X_train, data.y_train)
        return f.theta_, np.asarray(f.predict(data.X_test))

    theta, pred = get_cache().memoize("gradient_clean", [context_key(cell)], fit_clean)
    return GradContext(data, theta, pred)


def run_cell(cell: GradientCellSpec, ctx: GradContext | None = None) -> dict[str, Any]:
    """Run one cell (see the module's docstring) and return its row."""
    from acakit.steering import (
        STEERING,
        Knowledge,
        critical_masses,
        resolve_goal,
        steer_critical_mass,
    )

    t0 = time.perf_counter()
    ctx = ctx or make_context(cell)
    d, c = ctx.data, cell.collective
    model = d.model(cell.firm)
    n = len(d.y_train)
    rng = np.random.RandomState(cell.seed)
    m = int(round(float(c.alpha) * n))
    members = np.zeros(n, bool)
    members[rng.choice(n, m, replace=False)] = True
    Xm, ym, Xb, yb = d.X_train[members], d.y_train[members], d.X_train[~members], d.y_train[~members]
    alpha = m / n
    theta0 = ctx.theta_clean
    start = theta0.ravel() if cell.firm.init == "clean" else "zeros"
    fs = feasible(cell)
    know = Knowledge(c.knowledge.sample, c.knowledge.every)
    row: dict[str, Any] = {"cell_id": cell.cell_id, "dataset": cell.dataset.name,
                           "firm": cell.firm.name, "strategy": c.strategy, "alpha": alpha,
                           "alpha_requested": c.alpha, "n_members": m, "n_train": n,
                           "seed": cell.seed, "every": know.every,
                           "knowledge": "exact" if know.sample is None else f"sample {know.sample}"}
    firm = _firm(cell.firm, start, cell.seed)
    theta_init = np.zeros(model.shape) if cell.firm.init == "zeros" else theta0
    J = coordinates(cell, d, model) if c.strategy == "gradient_neutralize" else []
    if c.strategy == "gradient_neutralize":
        strat = STEERING[c.strategy](feasible=fs, knowledge=know, seed=cell.seed, coordinates=J,
                                     held=theta_init.ravel()[J])
        theta_star = None
    else:
        goal = None if c.goal is None else c.goal.model_dump(by_alias=True)
        theta_star = resolve_goal(goal, c.theta_star, theta0, model, d.feature_names, Xb)
        if np.allclose(theta_star, theta_init):
            raise ValueError("collective.goal: θ* equals the firm's starting point θ_0; there is "
                             "nothing to steer")
        strat = STEERING[c.strategy](feasible=fs, knowledge=know, seed=cell.seed,
                                     theta_star=theta_star)
        row |= critical_masses(model, theta_star, theta_init, Xb, yb, Xm, fs)
        if m and fs.features == "own":  # exact for the members' soft labels: an LP
            row["alpha_star_steer"] = steer_critical_mass(model, theta_star, Xb, yb, Xm, fs)
    strat.bind(model, Xm, ym, Xb, yb, alpha)
    t_fit = time.perf_counter()
    if m == 0:
        firm.fit(Xb, yb)
    elif c.strategy == "steer_minimizer":
        Xr, yr = strat.solve()
        row["residual"] = strat.residual_
        firm.fit(np.vstack([Xb, Xr]), np.concatenate([yb, yr]))
    else:
        firm.fit_steered(Xb, yb, strat, alpha)
    row["target"] = describe_target(c)
    row["fit_seconds"] = time.perf_counter() - t_fit
    row |= steering_metrics(firm, theta_init, theta_star, d, ctx.clean_pred, cell, model)
    if c.strategy == "gradient_neutralize":
        held = theta_init.ravel()[J]
        drift = np.abs(firm.trajectory_[:, J] - held).max()
        row |= {"max_drift": float(drift), "held_value": float(held[0]),
                "goal_value": float(firm.theta_.ravel()[J[0]]),
                "converged": bool(drift <= cell.tolerance)}
    row["cell_seconds"] = time.perf_counter() - t0
    return row


def describe_target(c: SteeringSpec) -> str:
    """What the collective wants, in words: ``hold age``, ``flip sign of hours_per_week``,
    ``θ* = 0``, ``set x0 = 1.5``, ``θ* given``."""
    if c.strategy == "gradient_neutralize":
        return "hold " + ", ".join(str(x) for x in c.coordinates)
    g = c.goal
    if g is None:
        return "θ* given"
    if g.type == "zero":
        return "θ* = 0"
    if g.type == "flip_sign":
        return f"flip sign of {g.feature}"
    if g.type == "signal_to_class":
        return f"{g.feature} = {g.value:g} -> class {g.cls}"
    return f"set {g.feature} = {g.value:g}"


def steering_metrics(firm: Any, theta_init: np.ndarray, theta_star: np.ndarray | None,
                     d: Prepared, clean_pred: np.ndarray, cell: GradientCellSpec,
                     model: Any) -> dict[str, Any]:
    """Distance, convergence, goal coordinate, decisions, accuracy and the trajectory."""
    from acakit.metrics import decision_success, normalized_distance

    out: dict[str, Any] = {}
    traj = firm.trajectory_
    pred = np.asarray(firm.predict(d.X_test))
    if d.classes is None:
        out["test_mse"] = float(np.mean((pred - d.y_test) ** 2))
        out["test_mse_clean"] = float(np.mean((clean_pred - d.y_test) ** 2))
    else:
        out["accuracy"] = float(np.mean(pred == d.y_test))
        out["accuracy_clean"] = float(np.mean(clean_pred == d.y_test))
        out["accuracy_drop"] = out["accuracy_clean"] - out["accuracy"]
    if theta_star is not None:
        dist = normalized_distance(traj, theta_init.ravel(), theta_star.ravel())
        out["distance"] = float(dist[-1])
        out["distance_abs"] = float(np.linalg.norm(traj[-1] - theta_star.ravel()))
        out["converged"] = bool(dist[-1] <= cell.tolerance)
        out["distance_path"] = json.dumps([round(float(x), 6) for x in dist])
        if theta_star.size <= 50:
            out["theta_star"] = json.dumps(np.round(theta_star.ravel(), 6).tolist())
        goal = cell.collective.goal
        if goal is not None and goal.feature is not None:
            from acakit.steering import feature_index

            j = feature_index(goal.feature, d.feature_names) * model.n_outputs
            out["goal_value"] = float(firm.theta_.ravel()[j])
            out["goal_target"] = float(theta_star.ravel()[j])
        if d.classes is not None:
            star_pred = np.asarray(d.X_test @ theta_star[:-1] + theta_star[-1]
                                   if cell.firm.fit_intercept else d.X_test @ theta_star)
            star_cls = (star_pred[:, 0] > 0).astype(int) if star_pred.shape[1] == 1 \
                else star_pred.argmax(1)
            out["decision_success"] = decision_success(pred, clean_pred, star_cls)
    out["steps_path"] = json.dumps([int(s) for s in firm.trajectory_steps_])
    if traj.shape[1] <= 50:
        out["theta_path"] = json.dumps(np.round(traj, 6).tolist())
    return out
