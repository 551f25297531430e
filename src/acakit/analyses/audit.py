"""The audit's tables and figures: functions of its results table and its theory estimates.

:func:`acakit.audit.audit` runs the batteries; what it reports is computed here:

- :func:`estimate_batteries`: Δ, ξ (κ) of each battery's signal on the training split and the
  planner's critical mass (:mod:`acakit.theory`);
- :func:`audit_curves`: one row per (battery, α) over seeds, from
  :func:`acakit.analyses.curves.summarize`, with both success conventions and the accuracy cost;
- :func:`audit_summary`: one row per battery (theory and measured critical masses, the value at
  α = 0 beside the value at the largest α, the largest cost);
- :func:`trivial_reasons`: why the clean firm is trivial (:func:`acakit.metrics.trivial_firm`);
- :func:`run_fairness_battery` and :func:`relabelings_needed`: the minority relabeling battery;
- :func:`audit_figures`: the planting, erasure and accuracy-cost figures as PNG bytes, drawn
  with :mod:`acakit.analyses.style`;
- :func:`format_cell`: how a number of these tables is printed (terminal and report alike).
"""

from __future__ import annotations

import io
import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit.analyses.style import note, place_legend, tight_layout

#: Δ and ξ are estimated on at most this many training rows (a cross-fitted model per signal).
ESTIMATE_ROWS = 10_000


def trivial_reasons(results: pd.DataFrame, ds: Any, firm: str, seeds: Sequence[int],
                     test_size: float) -> list[str]:
    """Why the clean firm f0 is trivial on each seed's split (``acakit.metrics.trivial_firm``).

    The engine's rows carry the verdict (``trivial_firm``, computed on f0's test predictions);
    where they do not, f0 is fitted once more per seed on the same split.

    Parameters
    ----------
    results : pandas.DataFrame
        The batteries' rows (``seed``, ``trivial_firm``).
    ds : acakit.data.Dataset
        The audited data.
    firm : str
        The firm's name or dotted path.
    seeds : sequence of int
    test_size : float

    Returns
    -------
    list of str
        One reason per seed where f0 is trivial (``seed k: ...`` with several seeds).
    """
    import re

    from acakit.metrics import trivial_firm

    classes = [str(c) for c in ds.classes]

    def named(reason: str) -> str:  # the engine's predictions are class indices: name the class
        m = re.search(r"one class \((\d+)\)", reason)
        if m and int(m.group(1)) < len(classes):
            reason = reason[:m.start(1)] + classes[int(m.group(1))] + reason[m.end(1):]
        return reason

    out = []
    for seed in seeds:
        rows = results[results["seed"] == seed] if "seed" in results else results.iloc[:0]
        if "trivial_firm" in rows and rows["trivial_firm"].notna().any():
            reason = named(str(rows["trivial_firm"].dropna().iloc[0]))
        else:
            from acakit.data.base import train_test_split
            from acakit.firms import make_firm

            train, test = train_test_split(ds, test_size, seed=seed)
            f0 = make_firm(firm, ds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f0.fit(train.X, train.y)
            names = np.asarray(classes)
            reason = trivial_firm(names[np.asarray(f0.predict(test.X))], names[np.asarray(test.y)])
        if reason and reason != "nan":
            out.append(f"seed {seed}: {reason}" if len(seeds) > 1 else reason)
    return out


def estimate_batteries(configs: dict[str, dict[str, Any]], cells: dict[str, Any], ds: Any,
                       test_size: float, seed: int, success: float, progress: bool = False,
                       console: Any = None) -> tuple[dict[str, dict[str, Any]], int]:
    """:func:`battery_theory` of every battery, on the training split of ``seed`` (a seeded
    sample of at most :data:`ESTIMATE_ROWS` rows of it).

    Parameters
    ----------
    configs : dict
        Battery name -> config.
    cells : dict
        Battery name -> one of its cells (its feature map is built from it).
    ds : acakit.data.Dataset
    test_size : float
    seed : int
        The split's seed.
    success : float
        Target success S*.
    progress : bool, default=False
        A progress bar on ``console``.
    console : rich.console.Console, optional

    Returns
    -------
    estimates : dict
        Battery name -> :func:`battery_theory`.
    n_train : int
        Rows of the training split.
    """
    from rich.progress import Progress

    from acakit.data.base import train_test_split
    from acakit.engine.single import build_feature_map

    train, _ = train_test_split(ds, test_size, seed=seed)
    sample = train
    if len(train) > ESTIMATE_ROWS:
        sample = train.take(np.random.RandomState(0).choice(len(train), ESTIMATE_ROWS, replace=False))
    estimates: dict[str, dict[str, Any]] = {}
    with Progress(console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task("estimating Δ, ξ", total=len(configs))
        for name, raw in configs.items():
            g = build_feature_map(cells[name], train)
            estimates[name] = battery_theory(raw, sample, g, success, len(train))
            bar.advance(task)
    return estimates, len(train)


def battery_theory(raw: dict[str, Any], train: Any, g: Any, success: float,
                   n_train: int) -> dict[str, Any]:
    """Δ, ξ (κ) estimates (on ``train``) and the planner's critical mass for one battery.

    Parameters
    ----------
    raw : dict
        The battery's config (:func:`acakit.engine.audit_configs.battery_configs`).
    train : acakit.data.Dataset
        Rows to estimate on.
    g : callable
        The battery's feature map.
    success : float
        Target success S*.
    n_train : int
        Training rows of the firm (the planner's head counts).

    Returns
    -------
    dict
        ``strategy, gap, signal_mass, kappa, critical_mass, critical_count, plan, note`` (and the
        estimates' intervals and method for planting).
    """
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


def audit_curves(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (battery, requested α) over seeds: both success conventions, erasure success,
    accuracy and its cost.

    Parameters
    ----------
    results : pandas.DataFrame
        The batteries' rows, with a ``battery`` column.

    Returns
    -------
    pandas.DataFrame
        ``battery, alpha_requested, alpha, n_members, seeds, success, success_lo, success_hi,
        interval, success_all, erasure_success(_lo, _hi), accuracy, clean_accuracy,
        accuracy_drop_pp`` (those present), each from
        :func:`acakit.analyses.curves.summarize`.
    """
    from acakit.analyses.curves import summarize

    parts = []
    for battery, r in results.groupby("battery", sort=False):
        r = r.assign(variant=battery)
        metrics = ["success", "success_all"] if r["success"].notna().any() else []
        base = summarize(r, "erasure_success")
        for m in metrics:
            s = summarize(r, m)
            # one row per requested α (sizes that draw the same members share a realised α)
            keep = ["alpha_requested", m, f"{m}_lo", f"{m}_hi"] + (
                ["interval"] if m == "success" else [])
            base = base.drop(columns="interval", errors="ignore") if m == "success" else base
            base = base.merge(s[[c for c in keep if c in s.columns]], on="alpha_requested",
                              how="left", validate="one_to_one")
        base.insert(0, "battery", battery)
        parts.append(base.drop(columns="variant"))
    out = pd.concat(parts, ignore_index=True)
    out["accuracy_drop_pp"] = 100 * (out["clean_accuracy"] - out["accuracy"])
    cols = ["battery", "alpha_requested", "alpha", "n_members", "seeds", "success", "success_lo",
            "success_hi",
            "interval", "success_all", "erasure_success", "erasure_success_lo",
            "erasure_success_hi", "accuracy", "clean_accuracy",
            "accuracy_drop_pp"]
    return out[[c for c in cols if c in out.columns]]


def _first_alpha(c: pd.DataFrame, metric: str, success: float) -> float:
    """Least α of the grid reaching ``success``: 0 when the firm does it without a collective."""
    if metric not in c:
        return math.nan
    hit = c[c[metric] >= success]
    return float(hit["alpha"].min()) if len(hit) else math.inf


def _at_zero(c: pd.DataFrame, metric: str) -> float:
    """The metric without a collective (the α = 0 row; NaN when the grid has none)."""
    row = c[c["alpha"] == 0]
    return float(row[metric].iloc[0]) if len(row) and metric in row else math.nan


def _count_at(c: pd.DataFrame, alpha: float) -> float:
    if not np.isfinite(alpha):
        return alpha
    return float(c.loc[np.isclose(c["alpha"], alpha), "n_members"].iloc[0])


def audit_summary(configs: dict[str, dict[str, Any]], est: dict[str, dict[str, Any]],
                  curves: pd.DataFrame, success: float) -> pd.DataFrame:
    """One row per battery: its signal, the estimates, theory and measured critical masses.

    Parameters
    ----------
    configs : dict
        Battery name -> config.
    est : dict
        Battery name -> :func:`battery_theory`.
    curves : pandas.DataFrame
        :func:`audit_curves`.
    success : float
        Target success S*.

    Returns
    -------
    pandas.DataFrame
        ``battery, signal, gap Δ, signal mass ξ, kappa κ, theory α* (bound), theory head count,
        measured α (all test points), measured head count, measured α (non-target points),
        success at α = 0 (no collective), success at largest α, largest α, max accuracy cost
        (pp), theory note``; a measured α is 0 when the firm reaches S* without a collective.
    """
    rows = []
    for name, raw in configs.items():
        c = curves[curves["battery"] == name].sort_values("alpha")
        e = est[name]
        strategy = raw["collective"]["strategy"]
        metric = "erasure_success" if strategy == "erase" else "success_all"
        top = c.iloc[-1]
        note = e["note"]
        zero = _at_zero(c, metric)
        if zero >= success:
            note = (f"already {zero:.3g} without a collective (α = 0): the firm does this on its own, "
                    "the measured α says nothing about what a collective achieves"
                    + (f"; {note}" if note else ""))
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
            "success at α = 0 (no collective)": zero,
            "success at largest α": float(top[metric]),
            "largest α": float(top["alpha"]),
            "max accuracy cost (pp)": float(c["accuracy_drop_pp"].max()),
            "theory note": note,
        })
    return pd.DataFrame(rows)


def run_fairness_battery(cfg: dict[str, Any], jobs: int,
                         progress: bool) -> tuple[pd.DataFrame, dict[str, Any], bytes]:
    """Run a minority relabeling battery and read its Pareto table and figure.

    Parameters
    ----------
    cfg : dict
        :func:`acakit.engine.audit_configs.fairness_config`.
    jobs : int
        Worker processes.
    progress : bool

    Returns
    -------
    table : pandas.DataFrame
        The Pareto table.
    summary : dict
        :func:`relabelings_needed` (to halve the gap), with ``quarter`` (to cut it by a quarter).
    png : bytes
        The Pareto figure.

    Raises
    ------
    acakit.engine.config.ConfigError
        A config the engine refuses.
    """
    from acakit.analyses.fairness import run_config

    with tempfile.TemporaryDirectory(prefix="acakit-audit-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_config(cfg, jobs=jobs, out_dir=tmp, progress=progress)
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

    from acakit.analyses.style import run_checks

    buf = io.BytesIO()
    tight_layout(fig)
    run_checks(fig, "audit")  # the tests check every figure's layout
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_planting(curves: pd.DataFrame, est: dict[str, dict[str, Any]],
                  configs: dict[str, dict[str, Any]], trivial: Sequence[str] = ()) -> bytes:
    """Planting success vs α per battery with its plug-in bound (dashed), as PNG bytes; the
    trivial-firm warning is drawn on it when ``trivial`` names one."""
    from acakit.analyses.curves import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = [n for n, raw in configs.items() if raw["collective"]["strategy"] != "erase"]
    top = float(curves["alpha"].max()) or 0.01
    grid = np.linspace(0, top, 300)[1:]
    above = []
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
        with np.errstate(invalid="ignore"):
            at = est[name]["plan"].bound(c["alpha"].to_numpy())
        if np.any(np.nan_to_num(at, nan=-1) > c["success_hi"].to_numpy() + 1e-9):
            above.append(name)
    ax.plot([], [], "k--", lw=1, label="plug-in bound, Bayes-optimal firm (same colour)")
    ax.plot([], [], "kx:", label=f"success on non-target points (band: its {band_text(curves)})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("collective size α (% of the training set)")
    ax.set_ylabel("success: Pr[f(g(x)) = target]")
    ax.set_title("Planting: measured success (all test points, o) vs plug-in bound (--)")
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="x-small")
    lines = ["--: a plug-in lower bound for a Bayes-optimal firm (ε = 0), P0 estimated from this "
             "data; not a bound on the firm trained here."]
    if above:
        lines.append(f"It lies above the measured band for {', '.join(above)}: that is the "
                     "trained firm's suboptimality, not a failure of the bound.")
    note(fig, " ".join(lines))
    if trivial:  # the warning of the terminal and the report, on the figure too
        fig.text(0.01, 1.0, "trivial firm (predicts one class on clean data): "
                 + "; ".join(t.replace("$", r"\$") for t in trivial), ha="left",
                 va="bottom", color="red",
                 fontsize="x-small", fontweight="bold", wrap=True)
    return _png(fig)


def band_text(curves: pd.DataFrame) -> str:
    """How the success bands were made: ``95% CI, t over 2 seeds ...`` (the summary's method)."""
    methods = (list(dict.fromkeys(curves["interval"].dropna().astype(str)))
               if "interval" in curves else [])
    return "95% CI" + (f", {'; '.join(methods)}" if methods else "")


def plot_metric(curves: pd.DataFrame, metric: str, ylabel: str, only: list[str]) -> bytes:
    """``metric`` vs α for the batteries ``only``, with its band where it has one (PNG bytes)."""
    from acakit.analyses.curves import _pyplot, band_label

    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(8, 4))
    banded = []
    for name in only:
        c = curves[curves["battery"] == name].sort_values("alpha")
        if metric in c:
            line, = ax.plot(100 * c["alpha"], c[metric], "o-", label=name)
            if f"{metric}_lo" in c and c[f"{metric}_lo"].notna().any():
                ax.fill_between(100 * c["alpha"], c[f"{metric}_lo"], c[f"{metric}_hi"],
                                color=line.get_color(), alpha=0.2)
                banded.append(c)
    ax.set_xlabel("collective size α (% of the training set)")
    band = f"\n(band: {band_label(pd.concat(banded))})" if banded else ""
    ax.set_ylabel(ylabel + band, fontsize="small" if band else None)
    if "success" in metric:  # a share: drawn on its whole range, not zoomed to a cliff
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="x-small")
    return _png(fig)


def audit_figures(curves: pd.DataFrame, est: dict[str, dict[str, Any]],
                  configs: dict[str, dict[str, Any]], trivial: Sequence[str] = ()) -> dict[str, bytes]:
    """The planting, erasure and accuracy-cost figures (name -> PNG bytes)."""
    return {"planting": plot_planting(curves, est, configs, trivial),
            "erasure": plot_metric(curves, "erasure_success", "erasure success  Pr[f(g(x)) = f0(x)]",
                                   only=[n for n in configs if n.startswith("erase")]),
            "accuracy": plot_metric(curves, "accuracy_drop_pp",
                                    "clean-accuracy cost (percentage points)", only=list(configs))}


def format_cell(v: Any, col: str = "") -> str:
    """A table cell as the terminal and the report print it: ``–`` for none, words for an
    infinite or zero critical mass, 3 significant digits in an α column and 4 elsewhere.

    Examples
    --------
    >>> format_cell(0.0, "theory α* (bound)"), format_cell(float("inf"), "measured α"), format_cell(0.12345)
    ('any α > 0', 'not reached', '0.1235')
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        if math.isinf(v):
            if v < 0:
                return "−∞"
            return "∞" if col.startswith("kappa") else "out of reach" if col.startswith(
                "theory") else "not reached"
        if col.startswith("theory α") and v == 0:
            return "any α > 0"  # ξ = 0 or ideal erasure: the bound holds for every collective
        return f"{v:.3g}" if " α" in col else f"{v:.4g}"
    return str(v)

