"""Analyses of a fairness results table; each writes a CSV and a plot.

Every function takes the cell table of :func:`acakit.engine.fairness.run_fairness`,
averages over seeds and returns ``(table, files)``:

- :func:`unfairness_vs_alpha`: the best unfairness each method reaches (over budgets) vs α;
- :func:`pareto_frontier`: error vs unfairness over budgets at one α, Pareto-efficient points
  marked, firm-side baselines on the same axes;
- :func:`flip_efficiency`: unfairness vs number of flips, per method (random included);
- :func:`sample_size_sensitivity`: the same curves for each majority sample size m.

"Best over budgets" is chosen on the seed-averaged test curve: it is what the collective could
reach with the right budget, an optimistic (oracle) choice, stated as such in the plots.

Beside the gaps every table carries ``cf_success``, the paper's success measure
S(α) = P0[f(g(x)) = f(x)] (share of *all* test points whose prediction is unchanged when g sets
a minority point's sensitive attribute to the majority's; g leaves majority points as they are,
:mod:`acakit.fairness.counterfactual`), and ``cf_success_minority`` (the same share among
minority test points only; S = 1 − P(minority)·(1 − S_min)). Both are missing (shown as "-")
where the firm does not see the attribute, and in results stored before they existed. α is always the
collective's size as a **fraction of the minority**.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

from acakit._safe import write_atomic

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from acakit.analyses.style import place_legend, tight_layout  # noqa: E402

METRIC_LABELS = {"eo_gap": "equalized-odds gap (mean of TPR and FPR gaps)",
                 "dp_gap": "demographic-parity gap"}
_VALUES = ["error", "eo_gap", "dp_gap", "n_flips", "cf_success", "cf_success_minority"]
#: the axis label of the counterfactual success S(α) of Ben-Dov et al.
CF_LABEL = "counterfactual success S = P0[f(g(x)) = f(x)]"
#: the legend of the minority-only share S_min drawn beside S
CF_MIN_LABEL = "dotted: S_min, minority points only"
_METHOD_ORDER = ["probability", "label", "distance", "random"]


def _close(a: pd.Series, b: float) -> pd.Series:
    return pd.Series(np.isclose(a.astype(float), float(b)), index=a.index)


def budget_curves(results: pd.DataFrame, alpha: float | None = None, metric: str = "eo_gap",
                  majority_sample: str | None = None) -> pd.DataFrame:
    """Seed means of the relabeling rows, one row per (α, method, m, mode, budget/threshold).

    Parameters
    ----------
    results : DataFrame
        Cell table.
    alpha : float, optional
        Keep only this α.
    metric : str, default="eo_gap"
        Unfairness metric; its standard error over seeds is added as ``{metric}_sem``.
    majority_sample : str, optional
        Keep only this m (``"all"`` or a number as text).

    Returns
    -------
    DataFrame
    """
    r = results[results["kind"] == "relabel"]
    if alpha is not None:
        r = r[_close(r["alpha"], alpha)]
    if majority_sample is not None:
        r = r[r["majority_sample"].astype(str) == str(majority_sample)]
    keys = ["alpha", "method", "majority_sample", "mode", "budget", "threshold"]
    values = [v for v in [*_VALUES, "precision_ideal"] if v in r.columns]
    if r.empty:
        return pd.DataFrame(columns=[*keys, *values, f"{metric}_sem", "seeds"])
    out = _seed_means(r, keys, metric, values)
    out[f"{metric}_sem"] = r.groupby(keys, dropna=False, sort=False)[metric].sem().to_numpy()
    return out


#: per-group rates shown beside the gaps (a zero gap can hide a firm that selects nobody)
_GROUP_RATES = ["selection_minority", "selection_majority", "tpr_minority", "tpr_majority",
                "fpr_minority", "fpr_majority"]


def _seed_means(rows: pd.DataFrame, keys: list[str], metric: str,
                values: list[str] | None = None) -> pd.DataFrame:
    """Seed means per ``keys`` of the values and per-group rates, with ``{metric}_lo/_hi`` (an
    interval over seeds, :func:`acakit.analyses.curves.seed_estimate`, method in ``interval``)
    and ``trivial`` (the share of seeds whose predictions were trivial, see
    :func:`acakit.metrics.trivial_firm`)."""
    from acakit.analyses.curves import seed_estimate

    values = [v for v in [*(values or _VALUES), *_GROUP_RATES] if v in rows.columns]
    out = []
    for key, g in rows.groupby(keys, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        est = seed_estimate(g[metric], None)
        flags = (g["trivial_firm"].fillna("").astype(str) if "trivial_firm" in g
                 else pd.Series("", g.index))
        out.append(dict(zip(keys, key, strict=True)) | g[values].mean().to_dict()
                   | {f"{metric}_lo": est["lo"], f"{metric}_hi": est["hi"],
                      "interval": est["interval"] if est["seeds"] >= 2 else "1 seed: none",
                      "seeds": int(g["seed"].nunique()),
                      "trivial": float((flags != "").mean()),
                      "trivial_reason": next((f for f in flags if f), "")})
    return pd.DataFrame(out)


def _no_action(results: pd.DataFrame, metric: str = "eo_gap") -> dict[str, Any]:
    rows = results[results["kind"] == "no_action"]
    return _seed_means(rows.assign(_all=0), ["_all"], metric).drop(columns="_all").iloc[0].to_dict()


def _baselines(results: pd.DataFrame, metric: str = "eo_gap") -> pd.DataFrame:
    b = results[results["kind"] == "baseline"]
    if b.empty:
        return pd.DataFrame(columns=["method", *_VALUES])
    return _seed_means(b, ["method"], metric)


def _methods(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["method"]))
    return [m for m in _METHOD_ORDER if m in present] + [m for m in present if m not in _METHOD_ORDER]


def _save(fig: plt.Figure, base: Path) -> list[Path]:
    from acakit.analyses.curves import save_figure

    tight_layout(fig)
    written = save_figure(fig, base, ("png",))
    plt.close(fig)
    return written


def _write(table: pd.DataFrame, base: Path) -> Path:
    base.parent.mkdir(parents=True, exist_ok=True)
    path = base.with_suffix(".csv")
    write_atomic(path, lambda t: table.to_csv(t, index=False))
    return path


def pareto_mask(error: np.ndarray, unfairness: np.ndarray) -> np.ndarray:
    """Points not dominated by another (lower or equal error and unfairness, one strictly).

    Examples
    --------
    >>> pareto_mask(np.array([0.3, 0.32, 0.35]), np.array([0.2, 0.1, 0.15])).tolist()
    [True, True, False]
    """
    e = np.asarray(error, dtype=float)
    u = np.asarray(unfairness, dtype=float)
    dominated = ((e[None, :] <= e[:, None]) & (u[None, :] <= u[:, None])
                 & ((e[None, :] < e[:, None]) | (u[None, :] < u[:, None])))
    return ~dominated.any(axis=1)


def headline_table(results: pd.DataFrame, alpha: float, majority_sample: str = "all",
                   metric: str = "eo_gap") -> pd.DataFrame:
    """No action, each method's threshold points and best budget, and the baselines (seed means).

    Returns
    -------
    DataFrame
        Columns ``what``, ``setting``, ``n_flips``, ``error``, ``eo_gap``, ``dp_gap``,
        ``{metric}_lo``/``_hi`` (t-interval over seeds, ``interval`` names it), ``trivial``
        (share of seeds whose predictions were trivial) with ``trivial_reason``, and the
        per-group selection rate, TPR and FPR (``selection_minority`` ... ``fpr_majority``).
    """
    keep = [*_VALUES, f"{metric}_lo", f"{metric}_hi", "interval", "trivial", "trivial_reason",
            *_GROUP_RATES]

    def pick(d: Any) -> dict[str, Any]:
        return {k: d[k] for k in keep if k in d}

    rows = [{"what": "no action", "setting": "clean data"} | pick(_no_action(results, metric))
            | {"n_flips": 0.0}]
    curves = budget_curves(results, alpha, metric, majority_sample)
    for meth in _methods(curves) if not curves.empty else []:
        c = curves[curves["method"] == meth]
        for d in c[c["mode"] == "threshold"].to_dict("records"):
            rows.append({"what": meth, "setting": f"score > {d['threshold']:g}"} | pick(d))
        b = c[c["mode"] == "budget"]
        if not b.empty:
            d = b.loc[b[metric].idxmin()]
            rows.append({"what": meth, "setting": f"budget {d['budget']:g} (best {metric})"}
                        | pick(d))
    for d in _baselines(results, metric).to_dict("records"):
        rows.append({"what": f"firm: {d['method']}", "setting": "baseline"} | pick(d))
    return pd.DataFrame(rows)


def pareto_frontier(results: pd.DataFrame, path: str | Path, alpha: float, metric: str = "eo_gap",
                    majority_sample: str = "all", plot: bool = True,
                    title: str | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Error vs unfairness over budgets at one α, with the firm-side baselines.

    Parameters
    ----------
    results : DataFrame
        Cell table.
    path : str or Path
        Output path without suffix (``.csv`` and ``.png`` are written).
    alpha : float
        The collective's size (fraction of the minority).
    metric : {"eo_gap", "dp_gap"}, default="eo_gap"
    majority_sample : str, default="all"
    plot : bool, default=True
    title : str, optional

    Returns
    -------
    table : DataFrame
        Every point (methods over budgets and thresholds, baselines, no action) with a
        ``pareto`` column (efficient within its method).
    files : list of Path
    """
    base = Path(path)
    curves = budget_curves(results, alpha, metric, majority_sample)
    curves["pareto"] = False
    for meth in curves["method"].unique():
        idx = curves.index[curves["method"] == meth]
        curves.loc[idx, "pareto"] = pareto_mask(curves.loc[idx, "error"].to_numpy(),
                                                curves.loc[idx, metric].to_numpy())
    curves.insert(0, "kind", "relabel")
    bl = _baselines(results, metric)
    bl.insert(0, "kind", "baseline")
    na = pd.DataFrame([{"kind": "no_action", "method": "none"} | _no_action(results, metric)])
    table = pd.concat([curves, bl, na], ignore_index=True)
    files = [_write(table, base)]
    if plot:
        has_cf = "cf_success" in table and table["cf_success"].notna().any()
        fig, axes = plt.subplots(1, 2 if has_cf else 1, figsize=(13 if has_cf else 7, 5),
                                 squeeze=False)
        ax = axes[0, 0]
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, meth in enumerate(_methods(curves)):
            c = curves[curves["method"] == meth]
            col = colors[i % len(colors)]
            ax.scatter(c["error"], c[metric], color=col, alpha=0.35, s=18)
            front = c[c["pareto"]].sort_values("error")
            ax.plot(front["error"], front[metric], "o-", color=col, label=f"collective: {meth}")
        markers = ["s", "D", "^", "v", "P", "X", "o", "h", "<", ">", "p", "*"]
        for j, d in enumerate(bl.to_dict("records")):
            ax.scatter(d["error"], d[metric], marker=markers[j % len(markers)], s=70, color="k",
                       facecolors="none" if j % 2 else "k",
                       label=f"firm: {d['method']}" + (" (trivial: one class)"
                                                       if d.get("trivial", 0) > 0 else ""))
        ax.scatter(na["error"], na[metric], marker="*", s=180, color="crimson", label="no action")
        ax.set_xlabel("test error")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.set_title((title + "\n" if title else "") + f"Pareto frontier over budgets, α = {alpha:g} "
                     f"of the minority, m = {majority_sample}", fontsize="medium")
        ax.grid(alpha=0.3)
        place_legend(ax, fontsize="x-small")
        if has_cf:
            _cf_panel(axes[0, 1], curves, bl, na, metric, colors, markers)
        files += _save(fig, base)
    return table, files


def _cf_panel(ax: Any, curves: pd.DataFrame, bl: pd.DataFrame, na: pd.DataFrame, metric: str,
              colors: list[str], markers: list[str]) -> None:
    """Counterfactual success vs unfairness: each method's path over budgets, the baselines."""
    for i, meth in enumerate(_methods(curves)):
        c = curves[(curves["method"] == meth) & (curves["mode"] == "budget")].sort_values("budget")
        col = "k" if meth == "random" else colors[i % len(colors)]
        ax.plot(c[metric], c["cf_success"], "--" if meth == "random" else "-", marker="o",
                color=col, ms=4, alpha=0.8, label=f"collective: {meth}")
        if len(c):  # where each path ends: its largest budget
            ax.plot(c[metric].iloc[-1:], c["cf_success"].iloc[-1:], "x", ms=9, mew=2, color=col)
        if "cf_success_minority" in c:
            ax.plot(c[metric], c["cf_success_minority"], ":", marker=".", color=col, alpha=0.6,
                    label=CF_MIN_LABEL if i == 0 else None)
    for j, d in enumerate(bl.to_dict("records")):
        if pd.notna(d.get("cf_success", np.nan)):
            ax.scatter(d[metric], d["cf_success"], marker=markers[j % len(markers)], s=70,
                       color="k", facecolors="none" if j % 2 else "k", label=f"firm: {d['method']}")
    if "cf_success" in na:
        ax.scatter(na[metric], na["cf_success"], marker="*", s=180, color="crimson",
                   label="no action")
    missing = [d["method"] for d in bl.to_dict("records") if pd.isna(d.get("cf_success", np.nan))]
    ax.set_xlabel(METRIC_LABELS.get(metric, metric))
    ax.set_ylabel(CF_LABEL)
    ax.set_title("counterfactual success (g: attribute set to the majority's);\n"
                 "each line: a method's budgets, from no action (budget 0) to × (its largest)"
                 + (f"\nnot defined for {', '.join(missing)} (does not see it)" if missing else ""),
                 fontsize="medium")
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="x-small")


def flip_efficiency(results: pd.DataFrame, path: str | Path, alpha: float, metric: str = "eo_gap",
                    majority_sample: str = "all", plot: bool = True,
                    title: str | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Unfairness vs number of flips at one α, per method (random included).

    Returns
    -------
    table : DataFrame
        Budget-mode seed means per (method, budget): ``n_flips``, ``error``, the metric and its
        standard error.
    files : list of Path
    """
    base = Path(path)
    curves = budget_curves(results, alpha, metric, majority_sample)
    table = curves[curves["mode"] == "budget"].sort_values(["method", "budget"]).reset_index(drop=True)
    files = [_write(table, base)]
    if plot:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        # the same interval as the tables beside the figure (seed_estimate: 95% t over seeds)
        kinds = [k for k in table.get("interval", pd.Series(dtype=str)).dropna().unique() if k]
        bars = f"95% {kinds[0]}" if len(kinds) == 1 else "95% t over seeds"
        bars = "none, 1 seed" if "1 seed" in bars else bars
        for meth in _methods(table):
            c = table[table["method"] == meth].sort_values("n_flips")
            style = "k--" if meth == "random" else "o-"
            m = c[metric].to_numpy(dtype=float)
            err = np.vstack([m - c[f"{metric}_lo"].to_numpy(dtype=float),
                             c[f"{metric}_hi"].to_numpy(dtype=float) - m])
            ax.errorbar(c["n_flips"], m, yerr=np.nan_to_num(np.clip(err, 0, None)), fmt=style,
                        capsize=2, label=meth)
        ax.axhline(_no_action(results)[metric], color="crimson", lw=0.8, ls=":", label="no action")
        ax.set_xlabel("number of label flips (mean over seeds)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.set_title((title + "\n" if title else "") + f"label-flip efficiency, α = {alpha:g} of the "
                     f"minority, m = {majority_sample} (bars: {bars})", fontsize="medium")
        ax.grid(alpha=0.3)
        place_legend(ax, fontsize="small")
        files += _save(fig, base)
    return table, files


def unfairness_vs_alpha(results: pd.DataFrame, path: str | Path, metric: str = "eo_gap",
                        majority_sample: str = "all", plot: bool = True,
                        title: str | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Best unfairness over budgets vs α (fraction of the minority), per method.

    Returns
    -------
    table : DataFrame
        Per (α, method): the best budget, its ``n_flips``, ``error`` and unfairness.
    files : list of Path
    """
    base = Path(path)
    curves = budget_curves(results, None, metric, majority_sample)
    curves = curves[curves["mode"] == "budget"]
    best = curves.loc[curves.groupby(["alpha", "method"])[metric].idxmin()]
    table = best.sort_values(["method", "alpha"]).reset_index(drop=True)
    if "cf_success" in curves:
        # S(α) at full budget (every candidate flipped) and its best over the budgets that flip
        # something (budget 0 is the clean firm), per α
        full = curves[_close(curves["budget"], 1.0)].set_index(["alpha", "method"])["cf_success"]
        acting = curves[curves["n_flips"] > 0]
        top = acting.groupby(["alpha", "method"])["cf_success"].max()
        idx = pd.MultiIndex.from_frame(table[["alpha", "method"]])
        table["cf_success_full_budget"] = full.reindex(idx).to_numpy()
        table["cf_success_best"] = top.reindex(idx).to_numpy()
    files = [_write(table, base)]
    if plot:
        has_cf = "cf_success_best" in table and table["cf_success_best"].notna().any()
        fig, axes = plt.subplots(1, 2 if has_cf else 1, figsize=(12 if has_cf else 7, 4.5),
                                 squeeze=False)
        ax = axes[0, 0]
        for meth in _methods(table):
            c = table[table["method"] == meth]
            ax.plot(c["alpha"], c[metric], "k--" if meth == "random" else "o-", label=meth)
        ax.axhline(_no_action(results)[metric], color="crimson", lw=0.8, ls=":", label="no action")
        ax.set_xlabel("α (collective size as a fraction of the minority)")
        ax.set_ylabel(f"best {METRIC_LABELS.get(metric, metric)}\n(over budgets)")
        ax.set_title((title + "\n" if title else "") + "best unfairness over budgets vs α",
                     fontsize="medium")
        ax.grid(alpha=0.3)
        place_legend(ax, fontsize="small")
        if has_cf:
            ax = axes[0, 1]
            for meth in _methods(table):
                c = table[table["method"] == meth]
                ax.plot(c["alpha"], c["cf_success_best"], "k--" if meth == "random" else "o-",
                        label=meth)
            na = _no_action(results).get("cf_success", np.nan)
            if pd.notna(na):
                ax.axhline(na, color="crimson", lw=0.8, ls=":", label="no action")
            ax.set_xlabel("α (collective size as a fraction of the minority)")
            ax.set_ylabel("best " + CF_LABEL + "\n(over budgets that flip)")
            ax.set_title("counterfactual success vs collective size", fontsize="medium")
            ax.grid(alpha=0.3)
            place_legend(ax, fontsize="small")
        files += _save(fig, base)
    return table, files


#: Gap within this of a method's lowest best gap counts as saturated (:func:`saturation`).
SATURATION_TOLERANCE = 0.01


def saturation(table: pd.DataFrame, metric: str = "eo_gap",
               tolerance: float = SATURATION_TOLERANCE) -> pd.DataFrame:
    """Where each method's best unfairness stops improving with the collective's size.

    Parameters
    ----------
    table : DataFrame
        :func:`unfairness_vs_alpha`'s table (best ``metric`` over budgets per α and method).
    metric : str, default="eo_gap"
    tolerance : float, default=SATURATION_TOLERANCE
        A best gap within ``tolerance`` of the method's lowest counts as reached.

    Returns
    -------
    DataFrame
        Per method: ``lowest`` (its lowest best gap), ``alpha_lowest`` (where), and
        ``alpha_saturation``: the smallest α whose best gap is within ``tolerance`` of the
        lowest (beyond it a larger collective buys less than ``tolerance``), with the gap there.

    Examples
    --------
    >>> t = pd.DataFrame({"method": ["p"] * 4, "alpha": [0.1, 0.2, 0.3, 0.6],
    ...                   "eo_gap": [0.20, 0.09, 0.055, 0.05]})
    >>> saturation(t)[["method", "alpha_saturation", "alpha_lowest"]].to_dict("records")
    [{'method': 'p', 'alpha_saturation': 0.3, 'alpha_lowest': 0.6}]
    """
    rows = []
    for meth in _methods(table):
        c = table[table["method"] == meth].sort_values("alpha")
        c = c[c[metric].notna()]
        if c.empty:
            continue
        lowest = float(c[metric].min())
        reached = c[c[metric] <= lowest + tolerance].iloc[0]
        rows.append({"method": meth, "lowest": lowest,
                     "alpha_lowest": float(c.loc[c[metric].idxmin(), "alpha"]),
                     "alpha_saturation": float(reached["alpha"]),
                     f"{metric}_at_saturation": float(reached[metric]),
                     "tolerance": tolerance})
    return pd.DataFrame(rows)


def sample_size_sensitivity(results: pd.DataFrame, path: str | Path, alpha: float,
                            metric: str = "eo_gap", plot: bool = True,
                            title: str | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Unfairness vs flips for each majority sample size m (limited majority information).

    Returns
    -------
    table : DataFrame
        Budget-mode seed means per (method, m, budget) with a ``best`` flag on each
        (method, m)'s lowest unfairness.
    files : list of Path
    """
    base = Path(path)
    curves = budget_curves(results, alpha, metric, None)
    table = curves[curves["mode"] == "budget"].copy()
    table["best"] = False
    table.loc[table.groupby(["method", "majority_sample"])[metric].idxmin(), "best"] = True
    table = table.sort_values(["method", "majority_sample", "budget"]).reset_index(drop=True)
    files = [_write(table, base)]
    if plot:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        styles = ["-", "--", ":", "-."]
        sizes = sorted(table["majority_sample"].unique(), key=lambda s: (s == "all", len(s), s))
        for i, meth in enumerate(_methods(table)):
            for j, m in enumerate(sizes):
                c = table[(table["method"] == meth) & (table["majority_sample"] == m)]
                if c.empty:
                    continue
                c = c.sort_values("n_flips")
                ax.plot(c["n_flips"], c[metric], ls=styles[j % len(styles)], marker=".",
                        color="k" if meth == "random" else colors[i % len(colors)],
                        label=f"{meth}, majority sample m: {m}")
        ax.axhline(_no_action(results)[metric], color="crimson", lw=0.8, ls=":", label="no action")
        ax.set_xlabel("number of label flips (mean over seeds)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.set_title((title + "\n" if title else "")
                     + f"majority sample size m, α = {alpha:g} of the minority", fontsize="medium")
        ax.grid(alpha=0.3)
        place_legend(ax, fontsize="x-small", ncol=2)
        files += _save(fig, base)
    return table, files
