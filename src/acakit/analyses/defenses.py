"""Defenses against collective action: per-defense tables and plots from a results table.

A defended firm is one more firm in a sweep (``grid: {firm.defense: [...]}``), so a results
table of single-collective cells holds, per variant, the collective's success and the
defense's columns (``defense``, ``defense_precision``, ``defense_recall``,
``defense_honest_dropped``; see :func:`acakit.firms.defenses.detection_metrics`). This module
turns them into

* :func:`defense_table`: one row per (variant, α): success, clean accuracy, detection and price;
* :func:`defense_summary`: one row per variant: critical mass for a target success, the firm's
  price (clean accuracy of its clean model, honest rows dropped), mean precision and recall;
* :func:`effective_alpha` and :func:`transported_success`: the share a filter leaves to the
  collective and the no-defense curve read at it (acakit's derivation, see ``docs/defenses.md``);
* :func:`plot_detection` and :func:`plot_defended_success`.

Nothing is fitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit._safe import write_atomic
from acakit.analyses.style import alpha_axis, line_styles, place_legend, short_label, tight_layout

DETECTION = ("defense_precision", "defense_recall", "defense_honest_dropped", "defense_flagged")


def has_defenses(results: pd.DataFrame) -> bool:
    """Whether any cell of the table was run by a defended firm."""
    return "defense" in results.columns and results["defense"].notna().any()


def _with_defense(results: pd.DataFrame) -> pd.DataFrame:
    df = results.copy()
    if "variant" not in df:
        df["variant"] = "base"
    if "defense" not in df:
        df["defense"] = "none"
    df["defense"] = df["defense"].fillna("none")
    for c in DETECTION:
        if c not in df:
            df[c] = np.nan
    return df


def effective_alpha(alpha: Any, r: Any, q: Any) -> np.ndarray:
    """The collective's share of the signal-set mass after a filter, as an equivalent α.

    A filter that removes a share ``r`` of the collective and a share ``q`` of the honest
    points of the signal set leaves member mass α(1 − r) against honest mass (1 − α)(1 − q);
    the α with the same ratio is α(1 − r) / (α(1 − r) + (1 − α)(1 − q)).

    Examples
    --------
    >>> float(effective_alpha(0.01, 0.0, 0.0))
    0.01
    >>> round(float(effective_alpha(0.01, 0.5, 0.0)), 5)
    0.00503
    """
    a, r, q = (np.asarray(v, dtype=float) for v in (alpha, r, q))
    kept = a * (1 - r)
    den = kept + (1 - a) * (1 - q)
    return np.divide(kept, den, out=np.zeros(np.broadcast(kept, den).shape), where=den > 0)


def defended_critical_mass(delta_xi: Any, target_success: Any, r: Any = 0.0, q: Any = 0.0) -> Any:
    """Hardt et al.'s critical-mass bound (ε = 0) moved by a filter with recall r and honest
    signal-set drop share q: α* ≤ (1 − q)Δξ / ((1 − q)Δξ + (1 − S*)(1 − r)).

    With r = q = 0 it is the undefended α* ≤ Δξ / (Δξ + 1 − S*) (acakit's derivation, see
    ``docs/defenses.md``; r → 1 makes every α too small).

    Examples
    --------
    >>> round(float(defended_critical_mass(0.01, 0.9)), 4)
    0.0909
    >>> round(float(defended_critical_mass(0.01, 0.9, r=0.5)), 4)
    0.1667
    """
    dx, s, r, q = (np.asarray(v, dtype=float) for v in (delta_xi, target_success, r, q))
    num = (1 - q) * dx
    den = num + (1 - s) * (1 - r)
    return np.divide(num, den, out=np.ones(np.broadcast(num, den).shape), where=den > 0)


def defense_table(results: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """One row per (variant, requested α): means over seeds of success, accuracy and detection.

    Columns: ``variant, defense, alpha, n_members, seeds, <metric>, accuracy, clean_accuracy,
    defense_precision, defense_recall, defense_honest_dropped, defense_flagged``.
    """
    from acakit.analyses.curves import main_metric

    metric = metric or main_metric(results)
    df = _with_defense(results)
    size = "alpha_requested" if "alpha_requested" in df and df["alpha_requested"].notna().all() \
        else "n_members"
    cols = [metric, "accuracy", "clean_accuracy", *DETECTION]
    rows = []
    for (variant, _s), g in df.groupby(["variant", size], sort=False):
        d: dict[str, Any] = {"variant": variant, "defense": g["defense"].iloc[0],
                             "alpha": float(g["alpha"].mean()),
                             "n_members": float(g["n_members"].mean()), "seeds": len(g)}
        for c in cols:
            d[c] = float(g[c].mean()) if c in g and g[c].notna().any() else float("nan")
        rows.append(d)
    return pd.DataFrame(rows).sort_values(["variant", "alpha"], kind="stable").reset_index(drop=True)


def critical_alpha(alphas: Any, success: Any, target: float) -> float:
    """The smallest measured α whose success reaches ``target`` (NaN if none does)."""
    a = np.asarray(alphas, dtype=float)
    s = np.asarray(success, dtype=float)
    order = np.argsort(a)
    hit = a[order][s[order] >= target]
    return float(hit[0]) if len(hit) else float("nan")


def defense_summary(results: pd.DataFrame, target_success: float = 0.5,
                    metric: str | None = None) -> pd.DataFrame:
    """One row per variant: critical mass, price and detection of its defense.

    Columns: ``variant, defense, critical_alpha`` (smallest measured α with mean success ≥
    ``target_success``), ``critical_members``, ``max_success``, ``clean_accuracy`` (the
    defended firm on clean data), ``accuracy_at_max_alpha``, ``honest_dropped`` (mean share of
    honest training rows dropped), ``precision`` and ``recall`` (means over the cells with a
    collective).
    """
    from acakit.analyses.curves import main_metric

    metric = metric or main_metric(results)
    table = defense_table(results, metric)
    rows = []
    for variant, g in table.groupby("variant", sort=False):
        g = g.sort_values("alpha")
        acting = g[g["n_members"] > 0]
        a_star = critical_alpha(g["alpha"], g[metric], target_success)
        at = g.loc[g["alpha"] == a_star, "n_members"]
        rows.append({
            "variant": variant,
            "defense": g["defense"].iloc[0],
            f"critical_alpha@{target_success:g}": a_star,
            "critical_members": float(at.iloc[0]) if len(at) else float("nan"),
            f"max_{metric}": float(g[metric].max()),
            "clean_accuracy": float(g["clean_accuracy"].mean()),
            "accuracy_at_max_alpha": float(g["accuracy"].iloc[-1]),
            "honest_dropped": float(g["defense_honest_dropped"].mean()),
            "precision": float(acting["defense_precision"].mean()) if len(acting) else np.nan,
            "recall": float(acting["defense_recall"].mean()) if len(acting) else np.nan,
        })
    return pd.DataFrame(rows)


def transported_success(table: pd.DataFrame, metric: str, variant: str,
                        reference: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``reference`` (undefended) success curve read at the defended variant's α_eff.

    α_eff = :func:`effective_alpha` (α, r, q) with r the measured recall and q the measured
    share of honest rows dropped at each α (q stands in for the honest signal-set share, which
    is not measured). Returns ``(alpha, predicted success)``; empty for a transform defense
    (no recall).
    """
    d = table[(table["variant"] == variant) & table["defense_recall"].notna()].sort_values("alpha")
    ref = table[table["variant"] == reference].sort_values("alpha")
    if d.empty or ref.empty:
        return np.array([]), np.array([])
    a_eff = effective_alpha(d["alpha"], d["defense_recall"], d["defense_honest_dropped"].fillna(0))
    return d["alpha"].to_numpy(), np.interp(a_eff, ref["alpha"].to_numpy(), ref[metric].to_numpy())


def _short_labels(table: pd.DataFrame) -> dict[str, str]:
    """Variant -> legend label: what varies, in words (:func:`acakit.analyses.labels.legend_map`)."""
    from acakit.analyses.labels import legend_map

    return legend_map(table["variant"])


def plot_defended_success(results: pd.DataFrame, path: str | Path, title: str | None = None,
                          metric: str | None = None,
                          formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Success vs α, one line per defense, with the theory's transported curves (dashed).

    The dashed line of a filter is the undefended curve read at α_eff(α, r, q)
    (:func:`transported_success`): what the derivation of ``docs/defenses.md`` predicts if the
    filter only changed the mass ratio on the signal set.
    """
    from acakit.analyses.curves import _pyplot, main_metric, save_figure

    metric = metric or main_metric(results)
    table = defense_table(results, metric)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    refs = table.loc[table["defense"] == "none", "variant"].unique()
    short = _short_labels(table)
    styles = line_styles(table["variant"].nunique(), colors)
    for i, (variant, g) in enumerate(table.groupby("variant", sort=False)):
        c, marker = styles[i]
        g = g.sort_values("alpha")
        # curves that coincide (a defense that changes nothing) stay visible: each later line
        # has smaller, alternately hollow markers and a thinner line than the one under it
        ax.plot(100 * g["alpha"], g[metric], "-", marker=marker, color=c,
                ms=max(3.0, 8.0 - 1.5 * i), mfc="none" if i % 2 else c, lw=max(0.8, 2.2 - 0.4 * i),
                label=short_label(short[str(variant)]))
        if len(refs) and g["defense"].iloc[0] != "none":
            a, s = transported_success(table, metric, variant, refs[0])
            if len(a):
                ax.plot(100 * a, s, "--", color=c, alpha=0.8)
    ax.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (dashed: undefended curve at α_eff)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    tight_layout(fig)
    place_legend(ax, fontsize="small")
    alpha_axis(ax, 100 * table["alpha"].to_numpy())
    out = save_figure(fig, path, formats)
    plt.close(fig)
    return out


def plot_detection(results: pd.DataFrame, path: str | Path, title: str | None = None,
                   formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Detection vs α per defense: recall (solid), precision (dashed), honest rows dropped
    (dotted). Transform defenses (no row dropped) and undefended variants have no lines."""
    from acakit.analyses.curves import _pyplot, save_figure

    table = defense_table(results)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    short = _short_labels(table)
    styles = line_styles(table["variant"].nunique(), colors)
    for i, (variant, g) in enumerate(table.groupby("variant", sort=False)):
        g = g[g["n_members"] > 0].sort_values("alpha")
        if g["defense_recall"].notna().sum() == 0:
            continue
        c, marker = styles[i]
        x = 100 * g["alpha"]
        # one legend entry per variant (its colour); the line style names the measure
        ax.plot(x, g["defense_recall"], "-", marker=marker, color=c,
                label=short_label(short[str(variant)]))
        ax.plot(x, g["defense_precision"], "--", marker=marker, mfc="none", color=c)
        ax.plot(x, g["defense_honest_dropped"], ":", color=c)
    ax.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel("share: recall of members (solid), precision (dashed),\n"
                  "honest rows dropped (dotted)", fontsize="small")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    tight_layout(fig)
    place_legend(ax, fontsize="x-small")
    alpha_axis(ax, 100 * table["alpha"].to_numpy())  # after the layout: labels thinned in place
    out = save_figure(fig, path, formats)
    plt.close(fig)
    return out


def analyze_defenses(results: pd.DataFrame, out: str | Path, title: str | None = None,
                     plot: bool = True, target_success: float = 0.5) -> list[Path]:
    """Write ``defenses.csv`` (per variant and α), ``defense_summary.csv`` (per variant) and,
    with ``plot``, ``defense_success.png/.svg`` and ``defense_detection.png/.svg``."""
    out = Path(out)
    files = [out / "defenses.csv", out / "defense_summary.csv"]
    write_atomic(files[0], lambda t: defense_table(results).to_csv(t, index=False))
    write_atomic(files[1], lambda t: defense_summary(results, target_success).to_csv(t, index=False))
    if plot:
        files += plot_defended_success(results, out / "defense_success", title=title)
        files += plot_detection(results, out / "defense_detection", title=title)
    return files


# ------------------------------------------------------------------ minority relabeling
def fairness_defense_table(results: pd.DataFrame, alpha: float, metric: str = "eo_gap",
                           majority_sample: str = "all") -> pd.DataFrame:
    """One row per (defense, method, budget) at one α of a fairness results table.

    Seed means of the unfairness ``metric`` (with its interval over seeds), the error, the
    counterfactual success ``cf_success``, the number of flips and the defense's detection of
    the relabeled rows (``defense_recall``: the share of flipped rows it dropped;
    ``defense_honest_dropped``: the share of the other rows). ``method`` ``"none"`` is the no
    action row of each defense (budget 0). ``gap_cut`` is the share of that defense's
    no-action unfairness the relabeling removed.
    """
    from acakit.analyses.fairness_tables import _close, _seed_means

    df = results.copy()
    if "defense" not in df:
        df["defense"] = "none"
    acting = df[(df["kind"] == "relabel") & _close(df["alpha"], alpha)
                & (df["mode"] == "budget")]
    if "majority_sample" in acting:
        acting = acting[acting["majority_sample"].astype(str) == str(majority_sample)]
    none = df[df["kind"] == "no_action"].assign(method="none", budget=0.0)
    rows = pd.concat([none, acting], ignore_index=True)
    values = ["error", "eo_gap", "dp_gap", "n_flips", "cf_success",
              *[c for c in DETECTION if c in rows]]
    values = [v for v in values if v in rows]
    if rows.empty:
        return pd.DataFrame(columns=["defense", "method", "budget", *values])
    table = _seed_means(rows, ["defense", "method", "budget"], metric, values)
    base = table[table["method"] == "none"].set_index("defense")[metric]
    table["gap_cut"] = 1.0 - table[metric] / table["defense"].map(base)
    return table.sort_values(["defense", "method", "budget"], kind="stable").reset_index(drop=True)


def plot_fairness_defenses(table: pd.DataFrame, path: str | Path, metric: str = "eo_gap",
                           title: str | None = None,
                           formats: Sequence[str] = ("png",)) -> list[Path]:
    """Unfairness (left) and the defense's recall of the relabeled rows (right) vs the number
    of flips: one line per (defense, method); dotted: each defense's no-action unfairness."""
    from acakit.analyses.curves import _pyplot, save_figure
    from acakit.analyses.labels import display_name

    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, g) in enumerate(table.groupby("defense", sort=False)):
        c = colors[i % len(colors)]
        defense = display_name(name)
        for j, (method, h) in enumerate(g[g["method"] != "none"].groupby("method", sort=False)):
            h = h.sort_values("n_flips")
            style = ["o-", "s--", "^-.", "x:"][j % 4]
            ax.plot(h["n_flips"], h[metric], style, color=c, label=f"{defense}: {method}")
            if "defense_recall" in h and h["defense_recall"].notna().any():
                bx.plot(h["n_flips"], h["defense_recall"], style, color=c,
                        label=f"{defense}: {method}")
        na = g.loc[g["method"] == "none", metric]
        if len(na):
            ax.axhline(float(na.iloc[0]), color=c, ls=":", lw=0.8, label=f"{defense}: no action")
    ax.set_xlabel("number of label flips (mean over seeds)")
    ax.set_ylabel(metric.replace("_", " "))
    bx.set_xlabel("number of label flips (mean over seeds)")
    bx.set_ylabel("defense recall (share of the flipped rows dropped)")
    bx.set_ylim(-0.02, 1.02)
    for a in (ax, bx):
        a.grid(alpha=0.3)
        place_legend(a, fontsize="x-small")
    if title:
        fig.suptitle(title + " (means over seeds)", fontsize="medium")
    tight_layout(fig)
    out = save_figure(fig, path, formats)
    plt.close(fig)
    return out
