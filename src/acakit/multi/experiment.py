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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from acakit.config import (
    CellSpec,
    CollectiveSpec,
    ConfigError,
    DatasetSpec,
    FirmSpec,
    OutputSpec,
    Signal,
    _Model,
    check_cells_against_data,
    format_validation_error,
    load_dataset,
    spec_hash,
)
from acakit.data.base import Dataset, train_test_split
from acakit.experiment import fit_recording_warnings, join_warnings, show_fit_warnings


class MemberSpec(_Model):
    """One collective of a multi-collective config."""

    name: str = Field(min_length=1)
    strategy: Literal["plant", "plant_feature_only", "erase"] = "plant"
    signal: Signal
    target: str | int | None = None
    targets: list[str | int] | None = None
    eligibility: str | dict[str, Any] = "any"
    alpha: float | None = None
    count: int | None = Field(None, ge=0)
    ideal: bool = True
    reference: FirmSpec = Field(default_factory=FirmSpec)

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"{v} is not a fraction in [0, 1]")
        return v

    @model_validator(mode="after")
    def _sizes_and_targets(self) -> MemberSpec:
        if (self.alpha is None) == (self.count is None):
            raise ValueError("give exactly one of alpha and count")
        if self.strategy != "erase" and self.target is None:
            raise ValueError(f"target: required for strategy {self.strategy!r}")
        if self.targets is not None and not self.targets:
            raise ValueError("targets: the target set is empty")
        return self

    def collective_spec(self, alpha: float | None = None) -> CollectiveSpec:
        """The single-collective spec of this member (size overridden by ``alpha``)."""
        d = self.model_dump(exclude={"name", "targets"})
        if alpha is not None:
            d["alpha"], d["count"] = alpha, None
        return CollectiveSpec.model_validate(d)


class MultiSweep(_Model):
    """Vary one collective's size (optional) over seeds."""

    collective: str | None = None
    alpha: list[float] | None = None
    seed: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("alpha")
    @classmethod
    def _alphas(cls, v: list[float] | None) -> list[float] | None:
        for a in v or []:
            if not 0.0 <= a <= 1.0:
                raise ValueError(f"{a} is not a fraction in [0, 1]")
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
    collectives: list[MemberSpec] = Field(min_length=1)
    sweep: MultiSweep = Field(default_factory=MultiSweep)
    bounds: BoundsSpec = Field(default_factory=BoundsSpec)
    efficacy_loss: bool = False
    confidence: float = Field(0.95, gt=0, lt=1)
    output: OutputSpec = Field(default_factory=lambda: OutputSpec(dir="results/multi"))

    @model_validator(mode="after")
    def _consistent(self) -> MultiConfig:
        names = [c.name for c in self.collectives]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"collectives: name {n!r} is used twice")
        s = self.sweep
        if (s.collective is None) != (s.alpha is None):
            raise ValueError("sweep: give both collective and alpha, or neither")
        if s.collective is not None and s.collective not in names:
            raise ValueError(f"sweep.collective: {s.collective!r} is not one of {', '.join(names)}")
        return self


def _precheck(raw: dict[str, Any]) -> None:
    """Clear one-line errors for an empty signal set or target set before pydantic's."""
    for k, c in enumerate(raw.get("collectives") or []):
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
        cell = CellSpec(dataset=cfg.dataset, firm=cfg.firm, collective=c.collective_spec(), seed=0)
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


def build_members(cfg: MultiConfig, train: Dataset, value: float | None, seed: int) -> list[Any]:
    """The :class:`~acakit.multi.simulate.MemberCollective` list of one cell."""
    from acakit.collective import Collective
    from acakit.experiment import build_strategy
    from acakit.multi.simulate import MemberCollective

    out = []
    alphas = _alphas_at(cfg, value, len(train))
    for c, a in zip(cfg.collectives, alphas, strict=True):
        spec = c.collective_spec(a if (value is not None and c.name == cfg.sweep.collective)
                                 else None)
        cell = CellSpec(dataset=cfg.dataset, firm=cfg.firm, collective=spec, seed=seed)
        strategy = build_strategy(cell, train)
        targets = None if c.targets is None else {train.class_index(t) for t in c.targets}
        out.append(MemberCollective(Collective(strategy, alpha=spec.alpha, count=spec.count,
                                               eligibility=spec.eligibility), c.name, targets))
    return out


def run_cell(cfg: MultiConfig, ds: Dataset, value: float | None, seed: int) -> pd.DataFrame:
    """One (size, seed) cell: simulate, measure, bound; one row per collective."""
    from acakit.firms import make_firm
    from acakit.multi.analyses import efficacy_loss
    from acakit.multi.estimate import simulation_bounds
    from acakit.multi.measures import alignment_measures, signal_overlap
    from acakit.multi.simulate import simulate

    t0 = time.perf_counter()
    train, test = train_test_split(ds, cfg.dataset.test_size, seed=seed)
    members = build_members(cfg, train, value, seed)
    firm = make_firm(cfg.firm.name, ds, cfg.firm.params, cfg.firm.featurizer)
    clean = make_firm(cfg.firm.name, ds, cfg.firm.params, cfg.firm.featurizer)
    _, clean_warned = fit_recording_warnings(clean, train.X, train.y)
    r = simulate(train, test, members, firm, cfg.overlap, seed, clean_firm=clean,
                 confidence=cfg.confidence)
    per = r.per_collective.copy()
    overlap = signal_overlap(test.X, [m.strategy.feature_map for m in members])
    meas, summary = alignment_measures(per["alpha"], [m.target_set for m in members],
                                       [m.planted_label for m in members], overlap, per["name"])
    per = per.merge(meas, on="name")
    if cfg.bounds.compute:
        b = simulation_bounds(r, train, test, members, delta=cfg.bounds.delta,
                              epsilon=cfg.bounds.epsilon, others_range=cfg.bounds.others_range,
                              finite=cfg.bounds.finite)
        per = per.merge(b.drop(columns=[c for c in ("others_alpha",) if c in b]), on="name",
                        how="left")
    if cfg.efficacy_loss:
        eff = efficacy_loss(train, test, members, firm, cfg.overlap, seed, together=r.per_collective)
        per = per.merge(eff[["name", "success_alone", "efficacy_loss"]], on="name")
    for k, v in (r.overall | summary).items():
        per[k] = v
    per["fit_warnings"] = join_warnings(clean_warned, r.overall["fit_warnings"])
    per["seed"] = seed
    per["sweep_alpha"] = np.nan if value is None else value
    per["sweep_collective"] = cfg.sweep.collective or ""
    per["dataset"] = cfg.dataset.name
    per["firm"] = cfg.firm.name
    per["overlap"] = cfg.overlap
    per["cell_seconds"] = time.perf_counter() - t0
    return per


@dataclass
class MultiRunResult:
    """What :func:`run_config` produced."""

    results: pd.DataFrame
    config: MultiConfig
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    store: Path | None = None

    def summary(self) -> pd.DataFrame:
        """Seeds pooled: mean per (sweep value, collective)."""
        cols = [c for c in ("alpha", "success_all", "bound_worst", "bound_aggregate", "bound_full",
                            "finite_full", "efficacy_loss", "accuracy", "global_success")
                if c in self.results]
        df = self.results.copy()
        df["sweep_alpha"] = df["sweep_alpha"].fillna(-1.0)
        out = df.groupby(["sweep_alpha", "name"], sort=False)[cols].mean().reset_index()
        out["sweep_alpha"] = out["sweep_alpha"].replace(-1.0, np.nan)
        return out

    def show(self, console: Any) -> None:
        """Print the seeds-pooled table and the files written."""
        from rich.table import Table

        s = self.summary()
        sweep = self.config.sweep.collective
        table = Table(title=f"{self.config.name}: {len(self.config.collectives)} collectives, "
                            f"{self.results['seed'].nunique()} seeds (success over all test points)")
        heads = (["α " + sweep] if sweep else []) + ["collective", "α", "success", "worst", "aggregate",
                                                     "full", "finite full", "efficacy loss", "accuracy"]
        for h in heads:
            table.add_column(h, justify="left" if h == "collective" else "right", no_wrap=True)

        def f(d: dict[str, Any], k: str) -> str:
            v = d.get(k, np.nan)
            return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v + 0.0:.3f}"

        for d in s.to_dict("records"):
            row = ([f"{d['sweep_alpha']:.3g}"] if sweep else []) + [
                str(d["name"]), f"{d['alpha']:.3g}", f(d, "success_all"), f(d, "bound_worst"),
                f(d, "bound_aggregate"), f(d, "bound_full"), f(d, "finite_full"),
                f(d, "efficacy_loss"), f(d, "accuracy")]
            table.add_row(*row)
        console.print(table)
        # one row per collective and cell: count each (sweep value, seed) cell once
        show_fit_warnings(console, self.results.drop_duplicates(["sweep_alpha", "seed"]))
        m = self.results.iloc[-1]
        console.print("last cell: " + f"label entropy {m['label_entropy']:.2f} bits, size entropy "
                      f"{m['size_entropy']:.2f} bits, mean Jaccard {m['mean_jaccard']:.2f}, "
                      f"mean signal overlap {m['mean_overlap']:.2f}", highlight=False)
        if self.store is not None:
            console.print(f"store {self.store}", highlight=False)
        for p in self.files:
            console.print(f"wrote {p}")
        console.print(f"took {self.seconds:.1f} s")


def run_config(
    raw: dict[str, Any] | MultiConfig,
    jobs: int | None = 1,
    out_dir: str | None = None,
    progress: bool = True,
    store: Any = None,
) -> MultiRunResult:
    """Run a multi-collective config end to end: validate, run, store, write CSV and plots.

    Parameters
    ----------
    raw : dict or MultiConfig
        The config (``experiment: multi``).
    jobs : int or None, default=1
        Worker processes over cells (joblib); None or -1: all cores.
    out_dir : str, optional
        Output folder (default: ``output.dir``).
    progress : bool, default=True
        Print one line per finished cell.
    store : str, Path, bool or None
        Result store: a path, True/None for ``output.store`` or ``<out>/results.sqlite``, False
        for none. One record per (cell, collective).

    Returns
    -------
    MultiRunResult

    Raises
    ------
    acakit.config.ConfigError
        One line: a target that is not a class, an empty signal or target set, sizes summing
        to more than 1, an unknown collective in the sweep, columns not in the data...
    """
    from joblib import Parallel, delayed

    from acakit.multi.analyses import plot_bounds_vs_measured
    from acakit.store import ResultStore

    t0 = time.perf_counter()
    cfg = raw if isinstance(raw, MultiConfig) else parse_multi_config(raw)
    ds = check_against_data(cfg)
    out = Path(out_dir or cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    store_path: Path | None = None
    if store is not False:
        store_path = Path(store) if store not in (None, True) else (
            out / (cfg.output.store or "results.sqlite"))
    cells = [(v, s) for v in _size_grid(cfg) for s in cfg.sweep.seed]
    jobs = 1 if jobs is None and len(cells) == 1 else jobs
    frames = Parallel(n_jobs=jobs or -1)(delayed(run_cell)(cfg, ds, v, s) for v, s in cells) \
        if (jobs or -1) != 1 else [_logged(run_cell(cfg, ds, v, s), progress, k, len(cells))
                                   for k, (v, s) in enumerate(cells)]
    results = pd.concat(frames, ignore_index=True)
    files = [out / "results.csv"]
    results.to_csv(files[0], index=False)
    if store_path is not None:
        base = cfg.model_dump(mode="json", exclude={"output", "sweep"})
        specs = {c.name: c.model_dump(mode="json") for c in cfg.collectives}
        with ResultStore(store_path) as st:
            for rec in results.to_dict("records"):
                member = dict(specs[rec["name"]])
                if rec["name"] == cfg.sweep.collective:  # the requested size of this cell
                    member |= {"alpha": rec["sweep_alpha"], "count": None}
                spec = base | {"seed": rec["seed"], "sweep_alpha": rec["sweep_alpha"],
                               "sweep_collective": rec["sweep_collective"], "collective": member}
                row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
                st.record(spec_hash(spec), spec, row, variant=f"{rec['name']}", seconds=rec["cell_seconds"])
    if cfg.output.plot and cfg.sweep.collective is not None and "bound_full" in results:
        files += plot_bounds_vs_measured(results, "sweep_alpha", out / "bounds_vs_measured",
                                         title=cfg.name, xlabel=f"α of {cfg.sweep.collective}")
    return MultiRunResult(results, cfg, files, time.perf_counter() - t0, store_path)


def _logged(df: pd.DataFrame, progress: bool, k: int, n: int) -> pd.DataFrame:
    if progress:
        v = df["sweep_alpha"].iloc[0]
        print(f"cell {k + 1}/{n}: seed {df['seed'].iloc[0]}"
              + ("" if np.isnan(v) else f", α = {v:.3g}") + f" ({df['cell_seconds'].iloc[0]:.1f} s)")
    return df
