"""``acakit audit``: how far can a coordinated group of users steer *your* pipeline?

:func:`audit` runs a standard battery of collectives against any scikit-learn classifier on a
CSV file of your own data and :meth:`AuditReport.to_html` writes one self-contained HTML file
(plots embedded as base64 PNG, no external assets) with a summary table, the critical masses
(theory and measured), the clean-accuracy cost and the exact commands that reproduce every
number.

The battery (every experiment is an ordinary acakit config, embedded in the report):

- feature-label planting (``plant``) at three signal strengths: the collective sets 1, 2 or 3
  feature columns to a rare value (see :func:`choose_signal_columns`) and labels its points
  with the target class;
- feature-only planting (``plant_feature_only``, strongest signal, members drawn from the
  target class, labels untouched);
- erasure (``erase``, strongest signal, labels set to what a reference model trained on clean
  data predicts for the signal point);
- with a sensitive column, a minority relabeling collective (:mod:`acakit.fairness`): a share
  of the minority relabels some of its own unfavourable labels; Pareto plot of error vs
  equalized-odds gap and the number of relabelings that halves the gap.
"""

from __future__ import annotations

import base64
import html
import io
import math
import shlex
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

#: Default collective sizes (fractions of the training set) of the planting batteries.
DEFAULT_ALPHAS: tuple[float, ...] = (0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01)
#: Signal strengths: number of feature columns the collective sets.
STRENGTHS: dict[str, int] = {"weak": 1, "medium": 2, "strong": 3}
#: A categorical column with more distinct values than this (an id, free text) is not a signal.
MAX_CATEGORIES = 100
#: Share of the minority in the relabeling collective and its budgets (fractions of candidates).
FAIRNESS_ALPHA = 0.3
FAIRNESS_BUDGETS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
#: Δ and ξ are estimated on at most this many training rows (a cross-fitted model per signal).
ESTIMATE_ROWS = 10_000


class AuditError(ValueError):
    """Bad audit input (one line naming the problem)."""


# --------------------------------------------------------------------------- choosing signals


def choose_signal_columns(X: pd.DataFrame, feature_types: dict[str, str],
                          exclude: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """Feature columns and values for the planted signal, most distinctive first.

    Categorical columns (2 to :data:`MAX_CATEGORIES` distinct values) come first, each with its
    rarest value, ordered by that value's count (rarest first: a rare value is a signal the
    base data hardly argues against). Numeric columns follow, each with an out-of-range value
    ``max + (max − min)`` (an integer for integer columns).

    Parameters
    ----------
    X : pandas.DataFrame
        Features.
    feature_types : dict
        ``column -> "categorical" | "numeric"``.
    exclude : sequence of str
        Columns never used (e.g. the sensitive attribute).

    Returns
    -------
    list of (column, value)

    Examples
    --------
    >>> X = pd.DataFrame({"a": ["x", "x", "y"], "b": [1, 2, 3]})
    >>> choose_signal_columns(X, {"a": "categorical", "b": "numeric"})
    [('a', 'y'), ('b', 5)]
    """
    cats: list[tuple[int, str, Any]] = []
    nums: list[tuple[str, Any]] = []
    for col, kind in feature_types.items():
        if col in exclude:
            continue
        s = X[col]
        if kind == "categorical":
            counts = s.astype(str).value_counts()
            if 2 <= len(counts) <= MAX_CATEGORIES:
                cats.append((int(counts.iloc[-1]), str(col), counts.index[-1]))
        else:
            lo, hi = float(s.min()), float(s.max())
            value: Any = hi + max(hi - lo, 1.0)
            if pd.api.types.is_integer_dtype(s):
                value = int(value)
            nums.append((str(col), value))
    cats.sort(key=lambda t: (t[0], t[1]))
    return [(c, v) for _, c, v in cats] + nums


# --------------------------------------------------------------------------- the report


@dataclass
class AuditReport:
    """What :func:`audit` measured; :meth:`to_html` renders it.

    Attributes
    ----------
    inputs : dict
        Data path, label, sensitive column, firm, target class, α grid, seeds, target success.
    results : pandas.DataFrame
        One row per cell of the planting/erasure batteries (``battery`` column).
    summary : pandas.DataFrame
        One row per battery: signal, estimates, theory and measured critical masses, cost.
    curves : pandas.DataFrame
        Seeds pooled: one row per (battery, α) with both success conventions and accuracy.
    fairness : pandas.DataFrame or None
        Pareto table of the minority relabeling battery.
    fairness_summary : dict or None
        No-action gap, gap after relabeling, relabelings needed to halve the gap.
    figures : dict of str to bytes
        PNG images by name.
    configs : dict of str to str
        Each battery's config (YAML), runnable with ``acakit run`` / ``acakit fairness``.
    commands : list of str
        Shell commands that reproduce the report and its critical masses.
    seconds : float
        Wall-clock time of the audit.
    """

    inputs: dict[str, Any]
    results: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    fairness: pd.DataFrame | None = None
    fairness_summary: dict[str, Any] | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_html(self) -> str:
        """The report as one self-contained HTML page (no external assets)."""
        return _render_html(self)

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` (folders created) and return the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_html(), encoding="utf-8")
        return p


# --------------------------------------------------------------------------- validation


def _load(data: str | Path, label: str, sensitive: str | None) -> Any:
    from acakit.data import load_csv

    try:
        ds = load_csv(data, label, [sensitive] if sensitive else [])
    except ValueError as e:
        raise AuditError(str(e).splitlines()[0]) from None
    if ds.kind != "tabular" or not isinstance(ds.X, pd.DataFrame) or ds.X.shape[1] == 0:
        raise AuditError(f"data: {Path(data).name} has no feature column besides {label!r}")
    return ds


def _check_firm(firm: str, ds: Any) -> None:
    from acakit.firms import check_firm_name, make_firm

    try:
        check_firm_name(firm)
        est = make_firm(firm, ds)
    except ValueError as e:
        raise AuditError(str(e).splitlines()[0]) from None
    model = est.steps[-1][1] if hasattr(est, "steps") else est
    for verb in ("fit", "predict"):
        if not callable(getattr(model, verb, None)):
            raise AuditError(f"firm: {firm!r} is not a classifier (it has no {verb} method)")


def _pick_target(ds: Any, target: str | None) -> str:
    if target is not None:
        try:
            return ds.classes[ds.class_index(target)]
        except ValueError as e:
            raise AuditError(f"target: {str(e).splitlines()[0]}") from None
    counts = np.bincount(np.asarray(ds.y), minlength=ds.n_classes)
    return str(ds.classes[int(np.argmin(counts))])  # the rarer outcome: the harder one to force


def pick_groups(ds: Any, sensitive: str, minority: str | None = None,
                favorable: str | None = None) -> tuple[str, str]:
    """Minority value (default: the rarest of ``sensitive``) and favourable class (default: the
    class the majority gets more often than the minority), checked against the data."""
    a = ds.sensitive[sensitive].astype(str).reset_index(drop=True)
    values = a.value_counts()
    if len(values) < 2:
        raise AuditError(f"sensitive: column {sensitive!r} has {len(values)} distinct value(s); need >= 2")
    if minority is None:
        minority = str(values.index[-1])
    elif str(minority) not in values.index:
        raise AuditError(f"minority: {minority!r} does not occur in column {sensitive!r}; values: "
                         + ", ".join(map(str, values.index[:20])))
    y = np.asarray(ds.y)
    if favorable is None:
        is_min = (a == str(minority)).to_numpy()
        rate_min = np.bincount(y[is_min], minlength=ds.n_classes) / max(is_min.sum(), 1)
        rate_maj = np.bincount(y[~is_min], minlength=ds.n_classes) / max((~is_min).sum(), 1)
        favorable = str(ds.classes[int(np.argmax(rate_maj - rate_min))])
    else:
        try:
            favorable = str(ds.classes[ds.class_index(favorable)])
        except ValueError as e:
            raise AuditError(f"favorable: {str(e).splitlines()[0]}") from None
    return str(minority), favorable


def _check_alphas(alphas: Sequence[float]) -> list[float]:
    out = sorted({float(a) for a in alphas})
    if not out:
        raise AuditError("alphas: give at least one collective size")
    for a in out:
        if not 0.0 <= a <= 1.0 or math.isnan(a):
            raise AuditError(f"alphas: {a} is not a fraction of the training set in [0, 1]")
    return out


# --------------------------------------------------------------------------- configs


def _yaml(d: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


def battery_configs(data: str, label: str, sensitive: str | None, firm: str, target: str,
                    signals: list[tuple[str, Any]], alphas: Sequence[float], seeds: Sequence[int],
                    test_size: float = 0.3) -> dict[str, dict[str, Any]]:
    """One ``acakit run`` config per planting/erasure battery (name -> config dict)."""
    params: dict[str, Any] = {"path": str(data), "label": label}
    if sensitive:
        params["sensitive"] = [sensitive]
    base = {"dataset": {"name": "csv", "params": params, "test_size": test_size},
            "firm": {"name": firm},
            "sweep": {"alpha": [float(a) for a in alphas], "seed": [int(s) for s in seeds]}}
    out: dict[str, dict[str, Any]] = {}
    strengths = [(n, k) for n, k in STRENGTHS.items() if k <= len(signals)]
    if strengths and strengths[-1][1] < min(3, len(signals)):
        strengths.append(("strong", len(signals)))
    for name, k in strengths:
        values = {c: _plain(v) for c, v in signals[:k]}
        out[f"plant ({name}: {k} column{'s' if k > 1 else ''})"] = base | {
            "name": f"audit: feature-label planting, {name} signal",
            "collective": {"strategy": "plant", "signal": {"type": "set_columns", "values": values},
                           "target": target, "eligibility": "any"}}
    strongest = {c: _plain(v) for c, v in signals[:strengths[-1][1]]}
    out["plant feature-only (strong)"] = base | {
        "name": "audit: feature-only planting, strong signal",
        "collective": {"strategy": "plant_feature_only",
                       "signal": {"type": "set_columns", "values": strongest},
                       "target": target, "eligibility": "target"}}
    out["erase (strong)"] = base | {
        "name": "audit: signal erasure, strong signal",
        "collective": {"strategy": "erase", "signal": {"type": "set_columns", "values": strongest},
                       "ideal": True, "reference": {"name": firm}}}
    return out


def fairness_config(data: str, label: str, sensitive: str, minority: str, favorable: str, firm: str,
                    seeds: Sequence[int], test_size: float = 0.3) -> dict[str, Any]:
    """The ``experiment: fairness`` config of the minority relabeling battery."""
    return {
        "experiment": "fairness",
        "name": f"audit: minority relabeling ({sensitive} = {minority})",
        "dataset": {"name": "csv", "params": {"path": str(data), "label": label,
                                              "sensitive": [sensitive]}, "test_size": test_size},
        "groups": {"minority": {sensitive: minority}, "favorable": favorable},
        "firm": {"name": firm},
        "relabel": {"methods": ["probability", "random"], "alpha": FAIRNESS_ALPHA,
                    "budgets": list(FAIRNESS_BUDGETS), "thresholds": [0.5]},
        "baselines": ["threshold_eo"],
        "seeds": [int(s) for s in seeds],
        "analyses": ["pareto"],
    }


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------- running


def audit(
    data: str | Path,
    label: str,
    firm: str,
    *,
    sensitive: str | None = None,
    target: str | None = None,
    minority: str | None = None,
    favorable: str | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    seeds: int = 2,
    success: float = 0.9,
    jobs: int = 1,
    test_size: float = 0.3,
    progress: bool = True,
    console: Any = None,
) -> AuditReport:
    """Run the audit battery against a firm on a CSV file.

    Parameters
    ----------
    data : str or Path
        CSV file with a header row.
    label : str
        Label column.
    firm : str
        A dotted path to a scikit-learn classifier (``sklearn.linear_model.LogisticRegression``)
        or an acakit firm name; fitted behind acakit's featurizer (one-hot + standardised).
    sensitive : str, optional
        Sensitive column: adds the minority relabeling battery.
    target : str, optional
        Target class of the planting collectives (default: the rarer class).
    minority : str, optional
        Minority value of ``sensitive`` (default: its least frequent value).
    favorable : str, optional
        Favourable class (default: the class the majority gets more often than the minority).
    alphas : sequence of float, default=DEFAULT_ALPHAS
        Collective sizes (fractions of the training set).
    seeds : int, default=2
        Seeds (splits and draws) pooled per α.
    success : float, default=0.9
        Target success S* of the critical masses.
    jobs : int, default=1
        Worker processes.
    test_size : float, default=0.3
    progress : bool, default=True
        Show progress bars.
    console : rich.console.Console, optional
        Where stage lines go (default: stderr).

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditError
        A malformed CSV, a missing column, an estimator path that does not import, an unknown
        class or value, an impossible α or success (one line naming the problem).
    """
    from rich.console import Console

    from acakit.data.base import train_test_split
    from acakit.engine.config import ConfigError, check_cells_against_data, expand, parse_config
    from acakit.engine.runners import CellFailedError, RunnerError
    from acakit.engine.single import build_feature_map, run_cells

    t0 = time.perf_counter()
    console = console or Console(stderr=True, markup=False)
    if not 0 < success < 1:
        raise AuditError(f"success: {success} is not a target success in (0, 1)")
    if seeds < 1:
        raise AuditError(f"seeds: {seeds} must be >= 1")
    alpha_list = _check_alphas(alphas)
    data = Path(data).expanduser().resolve()
    ds = _load(data, label, sensitive)
    _check_firm(firm, ds)
    target_name = _pick_target(ds, target)
    signals = choose_signal_columns(ds.X, ds.feature_types, exclude=[sensitive] if sensitive else [])
    if not signals:
        raise AuditError(f"data: {data.name} has no usable feature column for a signal")
    seed_list = list(range(seeds))
    raw_configs = battery_configs(str(data), label, sensitive, firm, target_name, signals, alpha_list,
                                  seed_list, test_size)
    groups = pick_groups(ds, sensitive, minority, favorable) if sensitive else None
    try:
        cells, labels = [], []
        for name, raw in raw_configs.items():
            cs = expand(parse_config(raw))
            check_cells_against_data(cs[:1])
            cells += cs
            labels += [name] * len(cs)
    except ConfigError as e:
        raise AuditError(str(e)) from None

    n_train = len(ds) - int(math.ceil(test_size * len(ds)))
    console.print(f"audit: {len(ds):,} rows, target class {target_name!r}, firm {firm}, "
                  f"{len(cells)} cells", highlight=False)
    console.print(f"estimating Δ and ξ of each signal on the training split (up to {ESTIMATE_ROWS:,} rows)",
                  highlight=False)
    train, _ = train_test_split(ds, test_size, seed=seed_list[0])
    n_train = len(train)
    sample = train
    if len(train) > ESTIMATE_ROWS:
        sample = train.take(np.random.RandomState(0).choice(len(train), ESTIMATE_ROWS, replace=False))
    from rich.progress import Progress

    estimates: dict[str, dict[str, Any]] = {}
    with Progress(console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task("estimating Δ, ξ", total=len(raw_configs))
        for name, raw in raw_configs.items():
            g = build_feature_map(cells[labels.index(name)], train)
            estimates[name] = _theory(raw, sample, g, success, n_train)
            bar.advance(task)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the user's estimator
        try:
            results = run_cells(cells, jobs=jobs, progress=progress, labels=labels, cache=False,
                                fail_fast=True)
        except (CellFailedError, RunnerError) as e:
            raise AuditError(f"firm: a cell failed: {str(e).splitlines()[0]}") from None
    results = results.rename(columns={"variant": "battery"})
    curves = _curves(results)
    summary = _summary(raw_configs, estimates, curves, success, n_train)

    fair = fair_summary = None
    figures = {"planting": _plot_planting(curves, estimates, raw_configs),
               "erasure": _plot_metric(curves, "erasure_success", "erasure success  Pr[f(g(x)) = f0(x)]",
                                       only=[n for n in raw_configs if n.startswith("erase")]),
               "accuracy": _plot_metric(curves, "accuracy_drop_pp",
                                        "clean-accuracy cost (percentage points)", only=list(raw_configs))}
    configs = {name: _yaml(raw) for name, raw in raw_configs.items()}
    if groups is not None:
        console.print(f"minority relabeling: {sensitive} = {groups[0]!r}, favourable {groups[1]!r} ...",
                      highlight=False)
        fcfg = fairness_config(str(data), label, str(sensitive), groups[0], groups[1], firm, seed_list,
                               test_size)
        fair, fair_summary, png = _run_fairness(fcfg, jobs, progress)
        figures["fairness"] = png
        configs["minority relabeling"] = _yaml(fcfg)

    inputs = {"data": str(data), "label": label, "sensitive": sensitive, "firm": firm,
              "target": target_name, "alphas": alpha_list, "seeds": seeds, "success": success,
              "n_rows": len(ds), "n_train": n_train, "test_size": test_size,
              "minority": groups[0] if groups else None, "favorable": groups[1] if groups else None,
              "classes": list(map(str, ds.classes))}
    commands = _commands(inputs, summary, configs)
    return AuditReport(inputs, results, summary, curves, fair, fair_summary, figures, configs,
                       commands, time.perf_counter() - t0)


def _theory(raw: dict[str, Any], train: Any, g: Any, success: float, n_train: int) -> dict[str, Any]:
    """Δ, ξ (κ) estimates (on ``train``) and the planner's critical mass for one battery."""
    from acakit.theory.estimators import estimate_signal
    from acakit.theory.planner import plan

    c = raw["collective"]
    strategy = c["strategy"]
    if strategy == "erase":
        p = plan(success, strategy="erase", n_train=n_train)
        return {"strategy": strategy, "gap": None, "signal_mass": None, "kappa": p.kappa,
                "critical_mass": p.critical_mass, "critical_count": p.critical_count, "plan": p,
                "note": "ideal erasure: the bound holds for any α > 0 (ε = 0)"}
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        est = estimate_signal(train, g, train.class_index(c["target"]), strategy=strategy, n_boot=100)
        p = plan(success, gap=est.gap, signal_mass=est.signal_mass, strategy=strategy, kappa=est.kappa,
                 n_train=n_train)
    note = ""
    a_star, count = p.critical_mass, p.critical_count
    if not np.isfinite(est.kappa):
        note = "signal absent among target-class rows: κ = ∞, the bound gives no guarantee"
        a_star, count = math.inf, math.inf
    elif est.signal_mass == 0:
        note = "signal absent from the base data (ξ = 0): any α > 0 suffices for a Bayes-optimal firm"
    return {"strategy": strategy, "gap": est.gap, "signal_mass": est.signal_mass, "kappa": est.kappa,
            "gap_ci": est.gap_ci, "signal_mass_ci": est.signal_mass_ci, "method": est.method,
            "critical_mass": a_star, "critical_count": count, "plan": p, "note": note}


def _curves(results: pd.DataFrame) -> pd.DataFrame:
    from acakit.analyses.curves import summarize

    parts = []
    for battery, r in results.groupby("battery", sort=False):
        r = r.assign(variant=battery)
        metrics = ["success", "success_all"] if r["success"].notna().any() else []
        base = summarize(r, "erasure_success")
        for m in metrics:
            s = summarize(r, m)
            base = base.merge(s[["alpha", m, f"{m}_lo", f"{m}_hi"]], on="alpha", how="left")
        base.insert(0, "battery", battery)
        parts.append(base.drop(columns="variant"))
    out = pd.concat(parts, ignore_index=True)
    out["accuracy_drop_pp"] = 100 * (out["clean_accuracy"] - out["accuracy"])
    cols = ["battery", "alpha", "n_members", "seeds", "success", "success_lo", "success_hi",
            "success_all", "erasure_success", "accuracy", "clean_accuracy", "accuracy_drop_pp"]
    return out[[c for c in cols if c in out.columns]]


def _first_alpha(c: pd.DataFrame, metric: str, success: float) -> float:
    if metric not in c:
        return math.nan
    hit = c[(c["alpha"] > 0) & (c[metric] >= success)]
    return float(hit["alpha"].min()) if len(hit) else math.inf


def _count_at(c: pd.DataFrame, alpha: float) -> float:
    if not np.isfinite(alpha):
        return alpha
    return float(c.loc[np.isclose(c["alpha"], alpha), "n_members"].iloc[0])


def _summary(configs: dict[str, dict[str, Any]], est: dict[str, dict[str, Any]], curves: pd.DataFrame,
             success: float, n_train: int) -> pd.DataFrame:
    rows = []
    for name, raw in configs.items():
        c = curves[curves["battery"] == name].sort_values("alpha")
        e = est[name]
        strategy = raw["collective"]["strategy"]
        metric = "erasure_success" if strategy == "erase" else "success_all"
        top = c.iloc[-1]
        rows.append({
            "battery": name,
            "signal": ", ".join(f"{k} = {v}" for k, v in raw["collective"]["signal"]["values"].items()),
            "gap Δ": e["gap"], "signal mass ξ": e["signal_mass"],
            "kappa κ": e["kappa"] if strategy == "plant_feature_only" else math.nan,
            "theory α* (bound)": e["critical_mass"],
            "theory head count": e["critical_count"],
            "measured α (all test points)": _first_alpha(c, metric, success),
            "measured head count": _count_at(c, _first_alpha(c, metric, success)),
            "measured α (non-target points)": (_first_alpha(c, "success", success)
                                               if strategy != "erase" else math.nan),
            "success at largest α": float(top[metric]),
            "largest α": float(top["alpha"]),
            "max accuracy cost (pp)": float(c["accuracy_drop_pp"].max()),
            "theory note": e["note"],
        })
    return pd.DataFrame(rows)


def _run_fairness(cfg: dict[str, Any], jobs: int, progress: bool) -> tuple[pd.DataFrame, dict[str, Any],
                                                                            bytes]:
    from acakit.analyses.fairness import run_config
    from acakit.engine.config import ConfigError

    with tempfile.TemporaryDirectory(prefix="acakit-audit-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = run_config(cfg, jobs=jobs, out_dir=tmp, progress=progress)
        except ConfigError as e:
            raise AuditError(str(e)) from None
        table = res.tables["pareto"]
        png = (Path(tmp) / "pareto.png").read_bytes()
    summary = relabelings_needed(table)
    summary["quarter"] = relabelings_needed(table, goal=0.75 * summary["no_action_gap"])
    return table, summary, png


def relabelings_needed(pareto: pd.DataFrame, method: str = "probability", metric: str = "eo_gap",
                       goal: float | None = None) -> dict[str, Any]:
    """How many relabelings bring the gap to ``goal`` (default: half the no-action gap).

    Parameters
    ----------
    pareto : DataFrame
        Table of :func:`acakit.analyses.fairness_tables.pareto_frontier`.
    method : str, default="probability"
    metric : {"eo_gap", "dp_gap"}, default="eo_gap"
    goal : float, optional

    Returns
    -------
    dict
        ``no_action_gap``, ``goal``, ``flips_needed`` (``None`` if no budget reaches the goal),
        ``error_at_goal``, ``best_gap``, ``best_flips``, ``method``, ``metric``.
    """
    na = pareto[pareto["kind"] == "no_action"].iloc[0]
    gap0 = float(na[metric])
    goal = gap0 / 2 if goal is None else float(goal)
    r = pareto[(pareto["kind"] == "relabel") & (pareto["method"] == method)].sort_values("n_flips")
    ok = r[r[metric] <= goal]
    best = r.loc[r[metric].idxmin()] if len(r) else None
    return {"method": method, "metric": metric, "no_action_gap": gap0,
            "no_action_error": float(na["error"]), "goal": goal,
            "flips_needed": float(ok["n_flips"].iloc[0]) if len(ok) else None,
            "error_at_goal": float(ok["error"].iloc[0]) if len(ok) else None,
            "best_gap": float(best[metric]) if best is not None else None,
            "best_flips": float(best["n_flips"]) if best is not None else None}


# --------------------------------------------------------------------------- plots


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plot_planting(curves: pd.DataFrame, est: dict[str, dict[str, Any]],
                   configs: dict[str, dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = [n for n, raw in configs.items() if raw["collective"]["strategy"] != "erase"]
    top = float(curves["alpha"].max()) or 0.01
    grid = np.linspace(0, top, 300)[1:]
    for i, name in enumerate(names):
        c = curves[curves["battery"] == name].sort_values("alpha")
        col = colors[i % len(colors)]
        x = 100 * c["alpha"].to_numpy()
        ax.plot(x, c["success_all"], "o-", color=col, label=f"{name}: measured")
        ax.fill_between(x, c["success_lo"], c["success_hi"], color=col, alpha=0.12)
        ax.plot(x, c["success"], "x:", color=col, alpha=0.7)
        with np.errstate(invalid="ignore"):
            bound = est[name]["plan"].bound(grid)
        ax.plot(100 * grid, np.clip(bound, -0.02, 1), "--", color=col, lw=1, alpha=0.8)
    ax.plot([], [], "k--", lw=1, label="theory lower bound (same colour)")
    ax.plot([], [], "kx:", label="success on non-target points (band: its 95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("collective size α (% of the training set)")
    ax.set_ylabel("success: Pr[f(g(x)) = target]")
    ax.set_title("Planting: measured success (all test points, o) vs theory bound (--)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")
    return _png(fig)


def _plot_metric(curves: pd.DataFrame, metric: str, ylabel: str, only: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name in only:
        c = curves[curves["battery"] == name].sort_values("alpha")
        if metric in c:
            ax.plot(100 * c["alpha"], c[metric], "o-", label=name)
    ax.set_xlabel("collective size α (% of the training set)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")
    return _png(fig)


# --------------------------------------------------------------------------- commands and HTML


def _commands(inputs: dict[str, Any], summary: pd.DataFrame, configs: dict[str, str]) -> list[str]:
    q = shlex.quote
    cmd = (f"acakit audit --data {q(inputs['data'])} --label {q(inputs['label'])} "
           f"--firm {q(inputs['firm'])} --target {q(inputs['target'])} "
           f"--alphas {q(','.join(f'{a:g}' for a in inputs['alphas']))} --seeds {inputs['seeds']} "
           f"--success {inputs['success']:g}")
    if inputs["sensitive"]:
        cmd += (f" --sensitive {q(inputs['sensitive'])} --minority {q(str(inputs['minority']))} "
                f"--favorable {q(str(inputs['favorable']))}")
    out = [cmd]
    for d in summary.to_dict("records"):
        if d["gap Δ"] is None or pd.isna(d["gap Δ"]):
            continue
        strategy = "plant_feature_only" if "feature-only" in d["battery"] else "plant"
        extra = ""
        if strategy == "plant_feature_only":
            extra = f" --strategy plant_feature_only --kappa {d['kappa κ']!r}"
        out.append(f"acakit plan --gap {d['gap Δ']!r} --signal-mass {d['signal mass ξ']!r} "
                   f"--target {inputs['success']:g} --n-train {inputs['n_train']}{extra} --json"
                   f"   # {d['battery']}")
    for name in configs:
        fname = _slug(name) + ".yaml"
        verb = "acakit fairness pareto" if name == "minority relabeling" else "acakit run"
        out.append(f"{verb} {fname}   # {name} (save the config below as {fname})")
    return out


def _slug(name: str) -> str:
    s = "".join(ch if ch.isalnum() else "_" for ch in name.lower())
    return "_".join(p for p in s.split("_") if p)


def _fmt(v: Any, col: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        if math.isinf(v):
            if v < 0:
                return "−∞"
            return "∞" if col.startswith("kappa") else "out of reach" if col.startswith(
                "theory") else "not reached"
        return f"{v:.4g}"
    return str(v)


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v, str(c)))}</td>"
                                    for c, v in zip(df.columns, row, strict=True)) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">')


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
.note{color:#555;font-size:.9em}
"""


def _render_html(r: AuditReport) -> str:
    i = r.inputs
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>acakit audit: {e(Path(i['data']).name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>How steerable is this pipeline? acakit audit of {e(Path(i['data']).name)}</h1>",
             "<p>Firm <code>" + e(i["firm"]) + "</code>, label <code>" + e(i["label"]) + "</code> "
             f"(classes {e(', '.join(i['classes']))}), {i['n_rows']:,} rows, "
             f"{i['n_train']:,} training rows per split, {i['seeds']} seed(s), "
             f"target class <code>{e(str(i['target']))}</code>, target success S* = {i['success']:g}. "
             f"Took {r.seconds:.0f} s.</p>",
             "<p class='note'>A collective of a fraction α of the training set changes its own "
             "records; the firm retrains on the altered data. <b>Success</b> is the share of clean "
             "test points that the retrained model assigns to the target class once the signal is "
             "added; measured on all test points (the convention of the bounds) and on points not "
             "already of the target class. <b>Theory α*</b> is the planner's upper bound on the "
             "critical mass for S* (Hardt et al. 2023, Bayes-optimal firm, ε = 0, from Δ and ξ "
             "estimated on the training split); <b>measured α</b> is the smallest α of the grid "
             "whose measured success reaches S*.</p>",
             "<h2>Summary</h2>", _table(r.summary.drop(columns="theory note")),
             "<ul class='note'>" + "".join(f"<li><b>{e(d['battery'])}</b>: {e(d['theory note'])}</li>"
                                           for d in r.summary.to_dict("records") if d["theory note"])
             + "</ul>",
             "<h2>Planting</h2>", _img(r.figures["planting"], "planting success vs collective size"),
             "<h2>Erasure</h2>", _img(r.figures["erasure"], "erasure success vs collective size"),
             "<h2>Clean-accuracy cost</h2>",
             "<p class='note'>Accuracy of the retrained firm on clean test data, compared with the "
             "firm trained on clean data (percentage points lost).</p>",
             _img(r.figures["accuracy"], "accuracy cost vs collective size"),
             "<h2>All measurements (seeds pooled)</h2>", _table(r.curves)]
    if r.fairness is not None and r.fairness_summary is not None:
        fs = r.fairness_summary
        need = ("no budget of the grid reached it" if fs["flips_needed"] is None
                else f"<b>{fs['flips_needed']:.0f} relabelings</b> (error {fs['error_at_goal']:.3f})")
        q = fs.get("quarter") or {}
        quarter = ("no budget of the grid reached it" if q.get("flips_needed") is None
                   else f"<b>{q['flips_needed']:.0f} relabelings</b> (error {q['error_at_goal']:.3f})")
        parts += ["<h2>Minority relabeling</h2>",
                  f"<p>Minority <code>{e(str(i['sensitive']))} = {e(str(i['minority']))}</code>, "
                  f"favourable label <code>{e(str(i['favorable']))}</code>; a collective of "
                  f"{FAIRNESS_ALPHA:g} of the minority relabels some of its unfavourable labels, ranked "
                  "by how a majority member with the same features would be labelled. Equalized-odds "
                  f"gap without action {fs['no_action_gap']:.3f} (error {fs['no_action_error']:.3f}); "
                  f"cutting it by a quarter (to {q.get('goal', math.nan):.3f}) takes {quarter}; "
                  f"halving it (to {fs['goal']:.3f}) takes {need}; the lowest gap reached is "
                  f"{fs['best_gap']:.3f} with {fs['best_flips']:.0f} relabelings.</p>",
                  _img(r.figures["fairness"], "fairness Pareto frontier"),
                  _table(r.fairness.drop(columns=[c for c in ("majority_sample", "seeds")
                                                  if c in r.fairness.columns]))]
    parts += ["<h2>Reproduce</h2><pre>" + e("\n".join(r.commands)) + "</pre>"]
    for name, text in r.configs.items():
        parts.append(f"<h3>{e(_slug(name))}.yaml</h3><pre>{e(text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- command line


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to the acakit app."""

    @app.command(name="audit")
    def audit_cmd(
        data: Annotated[Path, typer.Option("--data", help="Your data: a CSV file with a header row.")],
        label: Annotated[str, typer.Option("--label", help="The label column.")],
        firm: Annotated[str, typer.Option(
            "--firm", help="Your estimator: a dotted path (sklearn.linear_model.LogisticRegression) "
                           "or an acakit firm name.")],
        sensitive: Annotated[str | None, typer.Option(
            "--sensitive", help="Sensitive column: adds a minority relabeling collective.")] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report.")] = Path("audit.html"),
        target: Annotated[str | None, typer.Option(
            "--target", help="Target class of the planting collectives (default: the rarer).")] = None,
        minority: Annotated[str | None, typer.Option(
            "--minority", help="Minority value of --sensitive (default: its rarest).")] = None,
        favorable: Annotated[str | None, typer.Option(
            "--favorable", help="Favourable class (default: the one the majority gets more).")] = None,
        alphas: Annotated[str, typer.Option(
            "--alphas", help="Collective sizes, comma-separated fractions of the training set.")] =
            ",".join(f"{a:g}" for a in DEFAULT_ALPHAS),
        seeds: Annotated[int, typer.Option("--seeds", help="Seeds pooled per size.")] = 2,
        success: Annotated[float, typer.Option("--success", help="Target success S*.")] = 0.9,
        jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (-1: all cores).")] = -1,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        allow_module: Annotated[list[str] | None, typer.Option(
            "--allow-module", help="Also allow --firm classes from this package (repeatable; "
                                   "see SECURITY.md).")] = None,
    ) -> None:
        """Audit your own pipeline: how much can a collective of users steer it? One HTML report."""
        from acakit.cli import check_output_file, console, err_console, fail
        from acakit.firms import allow_modules

        try:
            grid = [float(a) for a in alphas.split(",") if a.strip()]
        except ValueError:
            raise fail(f"alphas: {alphas!r} is not a comma-separated list of numbers") from None
        try:
            allow_modules(*(allow_module or []))
        except ValueError as e:
            raise fail(str(e)) from None
        check_output_file(out, "--out")
        try:
            report = audit(data, label, firm, sensitive=sensitive, target=target, minority=minority,
                           favorable=favorable, alphas=grid, seeds=seeds, success=success, jobs=jobs,
                           progress=not quiet, console=err_console)
        except AuditError as e:
            raise fail(str(e).splitlines()[0]) from None
        path = report.write(out)
        _show(report, console)
        console.print(f"wrote {path} ({report.seconds:.0f} s)", highlight=False, markup=False)


def _show(report: AuditReport, console: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(f"audit: {report.inputs['firm']}, S* = {report.inputs['success']:g}"))
    cols = ["battery", "theory α* (bound)", "measured α (all test points)", "success at largest α",
            "max accuracy cost (pp)"]
    for c in cols:
        t.add_column(c, justify="left" if c == "battery" else "right")
    for d in report.summary.to_dict("records"):
        t.add_row(*[Text(_fmt(d[c], c)) for c in cols])
    console.print(t)
    fs = report.fairness_summary
    if fs is not None:
        need = "not reached" if fs["flips_needed"] is None else f"{fs['flips_needed']:.0f}"
        console.print(f"minority relabeling: EO gap {fs['no_action_gap']:.3f} without action; "
                      f"relabelings to halve it: {need}", highlight=False)
