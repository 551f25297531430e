"""Fairness experiments: configs with ``experiment: fairness``, run end to end.

One *task* is one seed: split the data, then for every (α, method, m) needed by the requested
analyses draw the collective and rank its candidates once, and for every budget (fraction of
the candidates) or threshold retrain the firm on the relabeled data and measure it on the clean
test split. The firm-side baselines are fitted on the same split. Rows go into one table from
which :mod:`acakit.fairness.analyses` draws its plots and CSVs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from pydantic import Field, ValidationError, field_validator, model_validator
from threadpoolctl import threadpool_limits

from acakit.config import ConfigError, FirmSpec, OutputSpec, _Model, format_validation_error
from acakit.data.base import Dataset, train_test_split
from acakit.experiment import fit_recording_warnings, recording_warnings, show_fit_warnings
from acakit.fairness.baselines import BASELINES, FirmBaseline
from acakit.fairness.groups import GroupSpec, check_alpha
from acakit.fairness.metrics import fairness_metrics
from acakit.fairness.relabel import RelabelPlan, check_majority_sample, plan_relabeling
from acakit.fairness.scorers import SCORERS
from acakit.fairness.synthetic import flip_precision, make_minority_synthetic
from acakit.firms import make_firm

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
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
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
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    analyses: list[Literal["alpha", "pareto", "efficiency", "sample_size"]] = Field(
        default_factory=lambda: ["pareto", "efficiency"], min_length=1)
    output: OutputSpec = Field(default_factory=lambda: OutputSpec(dir="results/fairness"))

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, v: list[str]) -> list[str]:
        for b in v:
            if b not in BASELINES:
                raise ValueError(f"{b!r} is not one of {', '.join(BASELINES)}")
        return v

    @model_validator(mode="after")
    def _needs(self) -> FairnessConfig:
        if "sample_size" in self.analyses and not self.relabel.sample_sizes:
            raise ValueError("relabel.sample_sizes: empty, but analysis sample_size needs it")
        return self


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
        groups = cfg.groups.build()
        ds = groups.prepare(ds)
    except ValueError as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    if ds.kind != "tabular":
        raise ConfigError(f"dataset: {ds.name} is {ds.kind} data; minority relabeling needs "
                          "tabular data with sensitive attributes")
    return ds


# --------------------------------------------------------------------------- running


@dataclass
class Job:
    """What one seed's task computes: the (α, method, m) plans and baselines."""

    plans: list[tuple[float, str, int | str]]
    budgets: list[float]
    thresholds: list[float]
    baselines: list[str]


def make_job(cfg: FairnessConfig) -> Job:
    """The union of the cells the requested analyses need."""
    r = cfg.relabel
    keys: list[tuple[float, str, int | str]] = []

    def add(a: float, meth: str, m: int | str) -> None:
        if (a, meth, m) not in keys:
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


def _evaluate(firm: Any, test: Dataset, y_test: np.ndarray, groups: GroupSpec,
              group_test: np.ndarray, attrs: pd.DataFrame) -> dict[str, float]:
    return fairness_metrics(y_test, np.asarray(firm.predict(test.X)), group_test,
                            attrs if attrs.shape[1] >= 2 else None)


def run_seed(cfg: FairnessConfig, ds: Dataset, seed: int, job: Job) -> list[dict[str, Any]]:
    """Run every cell of one seed; returns its rows."""
    with threadpool_limits(1):
        return _run_seed(cfg, ds, seed, job)


def _run_seed(cfg: FairnessConfig, ds: Dataset, seed: int, job: Job) -> list[dict[str, Any]]:
    groups = cfg.groups.build()
    train, test = train_test_split(ds, cfg.dataset.test_size, seed=seed)
    fav = groups.favorable_code(train)
    y_test = (np.asarray(test.y) == fav).astype(np.int64)
    group_test = groups.indicator(test)
    attrs = groups.attributes(test)
    synthetic = "weights" in ds.meta
    firm_spec = cfg.firm
    base = {"dataset": cfg.dataset.name, "firm": firm_spec.name, "seed": seed,
            "n_train": len(train), "n_minority": int(groups.minority_mask(train).sum())}
    rows: list[dict[str, Any]] = []

    def fit_eval(y_train: np.ndarray) -> tuple[dict[str, Any], float]:
        firm = make_firm(firm_spec.name, train, firm_spec.params, firm_spec.featurizer)
        fit_s, warned = fit_recording_warnings(firm, train.X, (y_train == fav).astype(np.int64))
        metrics = _evaluate(firm, test, y_test, groups, group_test, attrs)
        return metrics | {"fit_warnings": warned}, fit_s

    clean, clean_s = fit_eval(np.asarray(train.y))
    rows.append(base | {"kind": "no_action", "method": "none", "alpha": 0.0, "n_flips": 0}
                | clean | {"fit_seconds": clean_s})
    for alpha, method, m in job.plans:
        t0 = time.perf_counter()
        plan = plan_relabeling(train, groups, alpha, method, majority_sample=m, k=cfg.relabel.k,
                               seed=seed)
        score_s = time.perf_counter() - t0
        settings: list[tuple[str, float]] = [("budget", b) for b in job.budgets]
        if method in ("probability", "label"):
            settings += [("threshold", t) for t in job.thresholds]
        for mode, value in settings:
            flipped = (plan.flipped(budget=value) if mode == "budget"
                       else plan.flipped(threshold=value))
            if len(flipped) == 0:
                metrics, fit_s = clean, 0.0
            else:
                y_new = plan.y.copy()
                y_new[flipped] = plan.favorable
                metrics, fit_s = fit_eval(y_new)
            row = base | _plan_row(plan, alpha, method, m) | {
                "kind": "relabel", "mode": mode,
                "budget": value if mode == "budget" else np.nan,
                "threshold": value if mode == "threshold" else np.nan,
                "n_flips": len(flipped),
            } | metrics | {"fit_seconds": fit_s, "score_seconds": score_s}
            if synthetic:
                row["precision_ideal"] = flip_precision(train, flipped)
                row["n_ideal_candidates"] = int(_ideal_count(train, plan))
            rows.append(row)
    for name in job.baselines:
        t0 = time.perf_counter()
        with recording_warnings() as rec:
            b = FirmBaseline(name, groups, firm_spec.name, firm_spec.params, eps=cfg.eps,
                             seed=seed).fit(train)
        metrics = fairness_metrics(y_test, b.predict(test), group_test,
                                   attrs if attrs.shape[1] >= 2 else None)
        rows.append(base | {"kind": "baseline", "method": name, "alpha": np.nan,
                            "n_flips": b.info_.get("n_flips", np.nan)} | metrics
                    | {"fit_seconds": time.perf_counter() - t0, "fit_warnings": rec.text})
    return rows


def _plan_row(plan: RelabelPlan, alpha: float, method: str, m: int | str) -> dict[str, Any]:
    return {"alpha": alpha, "method": method, "majority_sample": str(m),
            "n_members": len(plan.members), "n_candidates": plan.n_candidates,
            "n_majority_known": plan.n_majority_known}


def _ideal_count(train: Dataset, plan: RelabelPlan) -> int:
    from acakit.fairness.synthetic import ideal_relabeling

    return int(ideal_relabeling(train, plan.candidates).sum())


def run_fairness(
    cfg: FairnessConfig | dict[str, Any],
    jobs: int = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Run a fairness config's cells (all seeds) and return one row per cell.

    Parameters
    ----------
    cfg : FairnessConfig or dict
    jobs : int, default=1
        Worker processes over seeds (``-1``: all cores).
    progress : bool, default=False
        Show a progress bar over seeds.

    Returns
    -------
    pandas.DataFrame
        Columns: ``kind`` (``no_action``, ``relabel``, ``baseline``), ``method``, ``alpha``,
        ``majority_sample``, ``mode`` (``budget``/``threshold``), ``budget``, ``threshold``,
        ``n_flips``, ``seed``, the metrics of :func:`acakit.fairness.metrics.fairness_metrics`,
        and on synthetic data ``precision_ideal``.
    """
    if isinstance(cfg, dict):
        cfg = parse_fairness_config(cfg)
    ds = check_against_data(cfg)
    job = make_job(cfg)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    rows: list[dict[str, Any]] = []
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not progress) as bar:
        task = bar.add_task("seeds", total=len(cfg.seeds))
        if jobs == 1 or len(cfg.seeds) == 1:
            for s in cfg.seeds:
                rows += run_seed(cfg, ds, s, job)
                bar.advance(task)
        else:
            par = Parallel(n_jobs=jobs, return_as="generator")
            for res in par(delayed(run_seed)(cfg, ds, s, job) for s in cfg.seeds):
                rows += res
                bar.advance(task)
    return pd.DataFrame(rows)


@dataclass
class FairnessResult:
    """What :func:`run_config` produced: the cell table, the analysis tables, the files."""

    results: pd.DataFrame
    config: FairnessConfig
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def headline(self) -> pd.DataFrame:
        """Seed means at the main α and m: no action, each method's threshold point and best
        budget, and the baselines."""
        from acakit.fairness.analyses import headline_table

        return headline_table(self.results, self.config.relabel.alpha,
                              str(self.config.relabel.majority_sample), self.config.unfairness)

    def show(self, console: Any) -> None:
        """Print the headline table and the files written on a rich console."""
        from rich.table import Table

        c = self.config
        table = Table(title=f"{c.name}: α = {c.relabel.alpha} of the minority, "
                            f"{len(c.seeds)} seed(s), mean over seeds")
        for col in ("what", "setting", "flips", "error", "EO gap", "DP gap"):
            table.add_column(col, justify="left" if col in ("what", "setting") else "right")
        for d in self.headline().to_dict("records"):
            table.add_row(str(d["what"]), str(d["setting"]),
                          "-" if pd.isna(d["n_flips"]) else f"{d['n_flips']:.0f}",
                          f"{d['error']:.3f}", f"{d['eo_gap']:.3f}", f"{d['dp_gap']:.3f}")
        console.print(table)
        show_fit_warnings(console, self.results)
        for f in self.files:
            console.print(f"wrote {f}")
        console.print(f"took {self.seconds:.1f} s")


def run_config(
    raw: dict[str, Any] | FairnessConfig,
    jobs: int = 1,
    out_dir: str | None = None,
    progress: bool = True,
    analyses: list[str] | None = None,
) -> FairnessResult:
    """Run a fairness config end to end: validate, run, write CSVs and plots.

    Parameters
    ----------
    raw : dict or FairnessConfig
        The config (``experiment: fairness``).
    jobs : int, default=1
        Worker processes over seeds.
    out_dir : str, optional
        Output folder (default: the config's ``output.dir``).
    progress : bool, default=True
    analyses : list of str, optional
        Override the config's analyses.

    Returns
    -------
    FairnessResult
        ``results.csv`` plus, per analysis, a plot (PNG) and a CSV.

    Raises
    ------
    acakit.config.ConfigError
        One-line message if the config does not fit the data.
    """
    from acakit.fairness import analyses as an

    t0 = time.perf_counter()
    cfg = raw if isinstance(raw, FairnessConfig) else parse_fairness_config(raw)
    if analyses is not None:
        bad = [a for a in analyses if a not in ANALYSES]
        if bad:
            raise ConfigError(f"analyses: {bad[0]!r} is not one of {', '.join(ANALYSES)}")
        cfg = cfg.model_copy(update={"analyses": list(analyses)})
    results = run_fairness(cfg, jobs=jobs, progress=progress)
    out = Path(out_dir or cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "results.csv"]
    results.to_csv(files[0], index=False)
    tables: dict[str, pd.DataFrame] = {}
    r = cfg.relabel
    metric = cfg.unfairness
    plot = cfg.output.plot
    for a in cfg.analyses:
        if a == "alpha":
            tables[a], f = an.unfairness_vs_alpha(results, out / "unfairness_vs_alpha", metric,
                                                  str(r.majority_sample), plot=plot, title=cfg.name)
        elif a == "pareto":
            tables[a], f = an.pareto_frontier(results, out / "pareto", r.alpha, metric,
                                              str(r.majority_sample), plot=plot, title=cfg.name)
        elif a == "efficiency":
            tables[a], f = an.flip_efficiency(results, out / "flip_efficiency", r.alpha, metric,
                                              str(r.majority_sample), plot=plot, title=cfg.name)
        else:
            tables[a], f = an.sample_size_sensitivity(results, out / "sample_size", r.alpha, metric,
                                                      plot=plot, title=cfg.name)
        files += f
    return FairnessResult(results, cfg, tables, files, time.perf_counter() - t0)
