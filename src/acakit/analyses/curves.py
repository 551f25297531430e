"""Tables and plots of sweep results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from acakit.metrics import binomial_ci

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported on first use (a sweep without plots never pays)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def main_metric(results: pd.DataFrame) -> str:
    """``"success"`` for planting sweeps, ``"erasure_success"`` when only erasure was run."""
    if "success" in results and results["success"].notna().any():
        return "success"
    return "erasure_success"


def summarize(
    results: pd.DataFrame, metric: str | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """Pool seeds: one row per (variant, requested α) with the pooled rate and its Wilson CI.

    Parameters
    ----------
    results : DataFrame
        Rows from :func:`acakit.engine.single.run_cells`.
    metric : str, optional
        A rate metric with ``_n`` counts (default: :func:`main_metric`).
    confidence : float, default=0.95

    Returns
    -------
    DataFrame
        Columns ``variant, alpha, n_members, seeds, <metric>, <metric>_lo, <metric>_hi,
        accuracy, clean_accuracy``.
    """
    metric = metric or main_metric(results)
    df = results.copy()
    if "variant" not in df:
        df["variant"] = "base"
    size_col = "alpha_requested" if df["alpha_requested"].notna().all() else "n_members"
    df["_k"] = np.rint(df[metric] * df[f"{metric}_n"])
    rows = []
    for (variant, _size), g in df.groupby(["variant", size_col], sort=True):
        k, n = int(g["_k"].sum()), int(g[f"{metric}_n"].sum())
        lo, hi = binomial_ci(k, n, confidence)
        rows.append({
            "variant": variant,
            "alpha": float(g["alpha"].mean()),
            "n_members": float(g["n_members"].mean()),
            "seeds": len(g),
            metric: k / n if n else np.nan,
            f"{metric}_lo": lo,
            f"{metric}_hi": hi,
            "accuracy": float(g["accuracy"].mean()),
            "clean_accuracy": float(g["clean_accuracy"].mean()),
        })
    return pd.DataFrame(rows)


#: An overlay: given the axis, the α grid (fractions), draw something on it (e.g. a bound).
Overlay = Callable[["Axes", np.ndarray], None]


def plot_success(
    results: pd.DataFrame,
    path: str | Path,
    title: str | None = None,
    metric: str | None = None,
    overlays: Sequence[Overlay] = (),
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Success vs α with confidence bands, and the firm's clean accuracy on a second axis.

    Parameters
    ----------
    results : DataFrame
        Rows from :func:`acakit.engine.single.run_cells`.
    path : str or Path
        Output path without (or with) a suffix; one file per format is written.
    title : str, optional
    metric : str, optional
        Rate to plot (default: :func:`main_metric`).
    overlays : sequence of callables
        Extra drawers ``f(ax, alphas)``, e.g. theory bounds.
    formats : sequence of str, default=("png", "svg")

    Returns
    -------
    list of Path
        The files written.
    """
    metric = metric or main_metric(results)
    summary = summarize(results, metric)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax2 = ax.twinx()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (variant, g) in enumerate(summary.groupby("variant", sort=False)):
        g = g.sort_values("alpha")
        c = colors[i % len(colors)]
        x = 100 * g["alpha"].to_numpy()
        ax.plot(x, g[metric], "o-", color=c, label=str(variant))
        ax.fill_between(x, g[f"{metric}_lo"], g[f"{metric}_hi"], color=c, alpha=0.2)
        ax2.plot(x, g["accuracy"], ":", color=c, alpha=0.8)
    alphas = np.sort(summary["alpha"].unique())
    for overlay in overlays:
        overlay(ax, alphas)
    positive = alphas[alphas > 0]
    if len(positive) and positive.max() / positive.min() > 20:
        ax.set_xscale("symlog", linthresh=100 * positive.min())
        ax2.set_xscale("symlog", linthresh=100 * positive.min())
    ax.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (band: {95}% Wilson CI, seeds pooled)")
    ax2.set_ylabel("firm accuracy on clean test data (dotted)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    base = Path(path)
    base = base.with_suffix("") if base.suffix in (".png", ".svg", ".pdf") else base
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        out = base.with_suffix(f".{fmt}")
        fig.savefig(out, dpi=130)
        written.append(out)
    plt.close(fig)
    return written
