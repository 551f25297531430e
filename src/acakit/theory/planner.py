"""The planner: "how many of us do we need?" from numbers, from a data set, or from a config.

:func:`plan` returns a :class:`Plan`: the critical mass (fraction and head count), the bound
curve over a grid of sizes (infinite-data and, with a confidence δ and a training-set size,
finite-sample), the estimates it used, and, when asked to simulate a config, the measured curve.
``Plan.show`` prints a table, ``Plan.overlays`` gives the bound curves that
:func:`acakit.analyses.planning.plot_plan` draws (over the measured curve when simulated), and
``Plan.to_dict`` is JSON-ready.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from acakit.theory import bounds as B
from acakit.theory.finite import plugin_finite_bound

STRATEGY_NAMES: tuple[str, ...] = ("plant", "plant_feature_only", "unplant", "erase")


@dataclass
class Plan:
    """What :func:`plan` found. Attributes are plain numbers and tables.

    Attributes
    ----------
    strategy : str
    target : float
        Target success S*.
    gap, signal_mass, epsilon, kappa : float
        Δ, ξ, ε, κ used by the bound.
    critical_mass : float
        Least α with infinite-data bound >= S* (``inf``: out of reach).
    n_train : int or None
    critical_count : float or None
        ``ceil(α* N)`` with ``--n-train`` N.
    delta : float or None
        Failure probability of the finite-sample bound.
    finite_critical_count : float or None
        Least n on the grid whose finite-sample bound reaches S* (``inf`` if none).
    table : pandas.DataFrame
        ``alpha, count, bound`` and, with δ and N, ``finite_bound`` (plus ``measured`` columns
        when simulated).
    source : str
        ``"numbers"``, ``"dataset"`` or the config path.
    estimate : dict or None
        The data estimates (with intervals) when planning from data.
    results : DataFrame or None
        Raw simulation rows (``acakit.engine.execute``) when simulated.
    run : object or None
        How the simulation's cells came about when simulated (``acakit.engine.RunInfo``: run
        now, taken from the store, failed; printed by :meth:`show`).
    """

    strategy: str
    target: float
    gap: float
    signal_mass: float
    epsilon: float
    kappa: float
    critical_mass: float
    n_train: int | None
    critical_count: float | None
    delta: float | None
    finite_critical_count: float | None
    table: pd.DataFrame
    source: str = "numbers"
    n_test: int | None = None
    estimate: dict[str, Any] | None = None
    results: pd.DataFrame | None = field(default=None, repr=False)
    finite_details: list[dict[str, Any]] = field(default_factory=list, repr=False)
    run: Any = field(default=None, repr=False)

    def bound(self, alpha: Any) -> np.ndarray:
        """The infinite-data bound of this plan's strategy at α (vectorised)."""
        return _bound(self.strategy, alpha, self.gap, self.signal_mass, self.epsilon, self.kappa)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``inf`` becomes ``null``)."""
        out: dict[str, Any] = {
            "strategy": self.strategy, "target": self.target, "gap": self.gap,
            "signal_mass": self.signal_mass, "epsilon": self.epsilon, "kappa": self.kappa,
            "critical_mass": self.critical_mass, "source": self.source,
        }
        if self.n_train is not None:
            out |= {"n_train": self.n_train, "critical_count": self.critical_count}
        if self.delta is not None:
            out |= {"delta": self.delta, "finite_critical_count": self.finite_critical_count,
                    "n_test": self.n_test}
        if self.estimate is not None:
            out["estimate"] = self.estimate
        out["curve"] = self.table.to_dict("records")
        if self.finite_details:
            out["finite_details"] = self.finite_details
        if self.run is not None:
            out["simulation"] = {"cells_run": self.run.n_run, "cells_from_store": self.run.n_cached,
                                 "cells_failed": len(self.run.failures),
                                 "store": None if self.run.store is None else str(self.run.store)}
        return _jsonable(out)

    def overlays(self) -> list[Any]:
        """Drawers ``f(ax, alphas)`` for :func:`acakit.analyses.curves.plot_success` (x axis in %)."""
        def infinite(ax: Any, alphas: np.ndarray) -> None:
            hi = max(float(np.max(alphas)) if len(alphas) else 0.0, 1.5 * _finite_or(self.critical_mass))
            grid = np.linspace(0, hi or 0.01, 400)[1:]
            ax.plot(100 * grid, np.clip(self.bound(grid), -0.02, 1), "k--", lw=1.2,
                    label=f"infinite-data bound ({self.strategy})")
            if np.isfinite(self.critical_mass):
                ax.axvline(100 * self.critical_mass, color="k", ls=":", lw=0.8,
                           label=f"critical mass α*: {100 * self.critical_mass:.3g}% "
                                 f"(target S*: {self.target:g})")
            ax.legend(loc="best", fontsize="small")

        drawers = [infinite]
        if "finite_bound" in self.table:
            def finite(ax: Any, alphas: np.ndarray) -> None:
                t = self.table.sort_values("alpha")
                ax.plot(100 * t["alpha"], np.clip(t["finite_bound"], -0.02, 1), "s-.", color="C3",
                        ms=3, lw=1, label=f"finite-sample bound (δ: {self.delta:g})")
                ax.legend(loc="best", fontsize="small")
            drawers.append(finite)
        return drawers

    def show(self, console: Any) -> None:
        """Print the summary and the curve as rich tables."""
        from rich.table import Table

        head = Table(title=f"plan: {self.strategy}, target success S* = {self.target:g}")
        head.add_column("quantity")
        head.add_column("value", justify="right")
        rows = [("gap Δ", f"{self.gap:.4g}"), ("signal mass ξ", f"{self.signal_mass:.4g}"),
                ("suboptimality ε", f"{self.epsilon:g}"), ("critical mass α*", _pct(self.critical_mass))]
        if self.kappa != 1.0:
            rows.insert(3, ("distortion κ", f"{self.kappa:.4g}"))
        if self.n_train is not None:
            rows += [("training set N", f"{self.n_train:,}"),
                     ("critical count ⌈α* N⌉", _count(self.critical_count))]
        if self.delta is not None:
            rows.append((f"finite-sample count (δ = {self.delta:g})", _count(self.finite_critical_count)))
        for r in rows:
            head.add_row(*r)
        console.print(head)
        curve = Table(title="bound curve")
        for col in self.table.columns:
            curve.add_column(col, justify="right")
        for rec in self.table.to_dict("records"):
            curve.add_row(*[_fmt(rec[c], c) for c in self.table.columns])
        console.print(curve)
        if self.run is not None:
            self.run.show(console)


def _pct(a: float) -> str:
    return "out of reach (> 100%)" if not np.isfinite(a) else f"{a:.6g} ({100 * a:.4g}%)"


def _count(c: float | None) -> str:
    return "-" if c is None else ("out of reach" if not np.isfinite(c) else f"{int(c):,}")


def _fmt(v: Any, col: str) -> str:
    if isinstance(v, float):
        if col == "count":
            return f"{v:,.0f}" if np.isfinite(v) else "-"
        return "-inf" if v == -np.inf else f"{v:.4g}"
    return str(v)


def _finite_or(x: float, default: float = 0.0) -> float:
    return x if np.isfinite(x) else default


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _bound(strategy: str, alpha: Any, gap: float, xi: float, eps: float, kappa: float) -> np.ndarray:
    if strategy == "plant":
        return B.planting_bound(alpha, gap, xi, eps)
    if strategy == "plant_feature_only":
        return B.feature_only_bound(alpha, gap, xi, eps, kappa)
    if strategy == "unplant":
        return B.unplanting_bound(alpha, gap, xi, eps)
    return B.erasing_bound(alpha, eps, kappa)


def _critical(strategy: str, target: float, gap: float, xi: float, eps: float, kappa: float) -> float:
    if strategy == "plant":
        return float(B.planting_critical_mass(target, gap, xi, eps))
    if strategy == "plant_feature_only":
        return float(B.feature_only_critical_mass(target, gap, xi, eps, kappa))
    if strategy == "unplant":
        return float(B.unplanting_critical_mass(target, gap, xi, eps))
    return float(B.erasing_critical_mass(target, eps, kappa))


def _default_alphas(a_star: float) -> np.ndarray:
    top = min(1.0, 3 * a_star) if np.isfinite(a_star) and a_star > 0 else 0.2
    return np.unique(np.r_[np.linspace(0, top, 11), [a_star] if 0 < a_star <= 1 else []])


def validate_plan_inputs(
    target: float, gap: float | None, signal_mass: float | None, epsilon: float, kappa: float,
    n_train: int | None, n_test: int | None, delta: float | None, strategy: str,
    n_signal_points: int, n_classes: int,
) -> None:
    """Every check :func:`plan` makes before doing any work (``ValueError``, one line)."""
    if strategy not in STRATEGY_NAMES:
        raise ValueError(f"strategy: {strategy!r} is not one of {', '.join(STRATEGY_NAMES)}")
    B.check_inputs(gap=gap, signal_mass=signal_mass, epsilon=epsilon, target=target, kappa=kappa,
                   allow_negative_gap=strategy == "unplant")
    if n_train is not None and n_train < 2:
        raise ValueError(f"n_train: {n_train} must be >= 2")
    if n_test is not None and n_test < 1:
        raise ValueError(f"n_test: {n_test} must be >= 1")
    if delta is not None:
        if not 0 < delta < 0.5:
            raise ValueError(f"confidence (δ): {delta} is not a failure probability in (0, 0.5) "
                             "(e.g. 0.05 for 95% confidence)")
        if strategy != "plant":
            raise ValueError("confidence (δ): the finite-sample planner from numbers covers "
                             "feature-label planting only; plan from data for other strategies")
    if n_signal_points < 1:
        raise ValueError(f"n_signal_points: {n_signal_points} must be >= 1")
    if n_classes < 2:
        raise ValueError(f"n_classes: {n_classes} must be >= 2")


def plan(
    target: float = 0.9,
    *,
    gap: float | None = None,
    signal_mass: float | None = None,
    epsilon: float = 0.0,
    strategy: str = "plant",
    kappa: float = 1.0,
    n_train: int | None = None,
    n_test: int | None = None,
    delta: float | None = None,
    n_signal_points: int = 1,
    n_classes: int = 2,
    alphas: Any = None,
    dataset: Any = None,
    feature_map: Any = None,
    target_class: Any = None,
    n_boot: int = 200,
    seed: int = 0,
) -> Plan:
    """Critical mass, bound curve and (optionally) finite-sample head count for a collective.

    Two ways in: give the numbers ``gap`` (Δ), ``signal_mass`` (ξ) directly; or give a clean
    ``dataset`` (a sample of P0), the signal ``feature_map`` and ``target_class``, and Δ, ξ
    (and κ) are estimated (:func:`acakit.theory.estimators.estimate_signal`) and, with ``delta``,
    the finite-sample bound is the one a collective of each size would certify from a sample of
    ``dataset`` (:func:`acakit.theory.estimators.finite_bound_from_sample`). From numbers with
    ``delta``, the finite-sample column is the plug-in forecast
    (:func:`acakit.theory.finite.plugin_finite_bound`). See
    :func:`acakit.analyses.planning.plan_config` to plan from an experiment config (and simulate
    it).

    Parameters
    ----------
    target : float, default=0.9
        Target success S* (< 1 when ε > 0).
    gap, signal_mass : float, optional
        Δ and ξ (required without a dataset).
    epsilon : float, default=0
        Suboptimality ε of the firm.
    strategy : {"plant", "plant_feature_only", "unplant", "erase"}, default="plant"
    kappa : float, default=1
        Distortion κ (feature-only planting and erasing).
    n_train : int, optional
        Training-set size N, for head counts (default with a dataset: its length).
    n_test : int, optional
        Test-set size for the finite-sample bound (None: population success).
    delta : float, optional
        Failure probability δ of the finite-sample bound (None: no finite-sample column).
    n_signal_points : int, default=1
        ``#X̃`` for the plug-in finite-sample forecast from numbers.
    n_classes : int, default=2
        ``#Y`` for the finite-sample bound from numbers.
    alphas : array-like, optional
        Grid of α for the curve (default: 0 .. 3 α*).
    dataset, feature_map, target_class :
        Plan from data.
    n_boot : int, default=200
        Bootstrap replicates for the estimates' intervals.
    seed : int, default=0

    Returns
    -------
    Plan

    Examples
    --------
    >>> p = plan(0.9, gap=0.3, signal_mass=0.001, n_train=100_000)
    >>> round(p.critical_mass, 6), p.critical_count
    (0.002991, 300.0)
    """
    validate_plan_inputs(target, gap, signal_mass, epsilon, kappa, n_train, n_test, delta, strategy,
                         n_signal_points, n_classes)
    estimate = None
    source = "numbers"
    if dataset is not None:
        est = _estimate_from_data(dataset, feature_map, target_class, strategy, n_boot, seed)
        gap = est.gap if gap is None else gap
        signal_mass = est.signal_mass if signal_mass is None else signal_mass
        kappa = est.kappa if strategy == "plant_feature_only" else kappa
        n_train = len(dataset) if n_train is None else n_train
        estimate = est.to_dict()
        source = "dataset"
    elif strategy != "erase" and (gap is None or signal_mass is None):
        raise ValueError("gap (Δ) and signal_mass (ξ) are required when planning from numbers")
    gap = 0.0 if gap is None else float(gap)
    signal_mass = 0.0 if signal_mass is None else float(signal_mass)
    a_star = _critical(strategy, target, gap, signal_mass, epsilon, kappa)
    count = None
    finite_count = None
    details: list[dict[str, Any]] = []
    y_star = 0 if dataset is None or target_class is None else dataset.class_index(target_class)
    if n_train is not None:
        count = float(B.critical_count(a_star, n_train))
        if delta is not None:
            finite_count = _finite_count(dataset, feature_map, y_star, strategy, target, n_train,
                                         n_test, delta, epsilon, gap, signal_mass, n_signal_points,
                                         n_classes, seed)
    grid = _alpha_grid(a_star, alphas, n_train, finite_count)
    table = pd.DataFrame({"alpha": grid, "bound": _bound(strategy, grid, gap, signal_mass, epsilon, kappa)})
    if n_train is not None:
        table.insert(1, "count", np.round(grid * n_train))
        if delta is not None:
            table["finite_bound"], details = _finite_column(
                dataset, feature_map, y_star, strategy, table["count"], n_train, n_test, delta,
                epsilon, gap, signal_mass, n_signal_points, n_classes, seed)
    return Plan(strategy=strategy, target=float(target), gap=gap, signal_mass=signal_mass,
                epsilon=float(epsilon), kappa=float(kappa), critical_mass=a_star, n_train=n_train,
                critical_count=count, delta=delta, finite_critical_count=finite_count, table=table,
                source=source, n_test=n_test, estimate=estimate, finite_details=details)


def _alpha_grid(a_star: float, alphas: Any, n_train: int | None, finite_count: float | None
                ) -> np.ndarray:
    """The α grid of a plan's curve: the given one, else 0 .. 3 α* with the finite-sample
    critical size added."""
    grid = _default_alphas(a_star) if alphas is None else np.asarray(alphas, dtype=np.float64)
    if alphas is None and n_train is not None and finite_count is not None and np.isfinite(finite_count):
        grid = np.unique(np.r_[grid, finite_count / n_train])
    B.check_inputs(alpha=grid)
    return grid


def _estimate_from_data(dataset: Any, feature_map: Any, target_class: Any, strategy: str,
                        n_boot: int, seed: int) -> Any:
    """Δ, ξ (κ) estimated on ``dataset`` (:func:`acakit.theory.estimators.estimate_signal`)."""
    if feature_map is None or (target_class is None and strategy != "erase"):
        raise ValueError("plan from data needs feature_map and target_class")
    from acakit.theory.estimators import estimate_signal

    return estimate_signal(dataset, feature_map, dataset.class_index(target_class or 0),
                           strategy=strategy, n_boot=n_boot, seed=seed)


def _finite_column(dataset: Any, feature_map: Any, y_star: int, strategy: str, counts: Any,
                   n_train: int, n_test: int | None, delta: float, epsilon: float, gap: float,
                   signal_mass: float, n_signal_points: int, n_classes: int, seed: int
                   ) -> tuple[Any, list[dict[str, Any]]]:
    """The finite-sample bound at each head count: computed on a sample of the data when
    planning from data (with its details), else the plug-in forecast from the numbers."""
    if dataset is not None:
        return _finite_from_data(dataset, feature_map, y_star, strategy, counts, n_train, n_test,
                                 delta, epsilon, seed)
    return plugin_finite_bound(counts, n_train, gap, signal_mass, n_test, delta, epsilon,
                               n_signal_points, n_classes), []


def _sample_bound(dataset: Any, g: Any, y_star: int, strategy: str, n: int, n_train: int,
                  n_test: int | None, delta: float, epsilon: float, seed: int) -> Any:
    from acakit.theory.estimators import finite_bound_from_sample, signal_set_size

    if strategy not in ("plant", "plant_feature_only"):
        raise ValueError(f"confidence (δ): no finite-sample bound for strategy {strategy!r} from data")
    rng = np.random.RandomState(seed)
    idx = rng.choice(len(dataset), size=n, replace=False)
    from acakit.data.base import take_rows

    return finite_bound_from_sample(
        take_rows(dataset.X, idx), np.asarray(dataset.y)[idx], g, y_star, n_train, n_test,
        delta=delta, epsilon=epsilon, n_signal_points=signal_set_size(dataset, g),
        n_classes=dataset.n_classes, strategy=strategy)


def _finite_from_data(dataset: Any, g: Any, y_star: int, strategy: str, counts: Any, n_train: int,
                      n_test: int | None, delta: float, epsilon: float,
                      seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    out, details = [], []
    for n in np.asarray(counts, dtype=int):  # one bound per grid size (20-ish), not per row
        if not 1 <= n < min(n_train, len(dataset) + 1):
            out.append(-np.inf)
            continue
        b = _sample_bound(dataset, g, y_star, strategy, int(n), n_train, n_test, delta, epsilon, seed)
        out.append(b.bound)
        details.append(b.to_dict())
    return np.asarray(out), details


def _finite_count(dataset: Any, g: Any, y_star: int, strategy: str, target: float, n_train: int,
                  n_test: int | None, delta: float, epsilon: float, gap: float, xi: float,
                  n_signal_points: int, n_classes: int, seed: int) -> float:
    """Least n (bisection over n, the bound being monotone in expectation) reaching the target."""
    top = n_train - 1 if dataset is None else min(n_train - 1, len(dataset))

    def f(n: int) -> float:
        if dataset is None:
            return float(plugin_finite_bound(n, n_train, gap, xi, n_test, delta, epsilon,
                                             n_signal_points, n_classes)[0])
        return _sample_bound(dataset, g, y_star, strategy, n, n_train, n_test, delta, epsilon,
                             seed).bound

    if top < 1 or f(top) < target:
        return math.inf
    lo, hi = 0, top  # f(hi) >= target
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f(mid) >= target:
            hi = mid
        else:
            lo = mid
    return float(hi)
