"""Tables and plots of sweep results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from acakit._safe import write_atomic
from acakit.metrics import binomial_ci, interval_method, seed_interval

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


def seed_estimate(values: Any, counts: Any = None, confidence: float = 0.95) -> dict[str, Any]:
    """Mean of per-seed rates and its interval over seeds (one place for every summary).

    A Student-t interval over the per-seed values (:func:`acakit.metrics.seed_interval`),
    widened to the Wilson interval of the pooled counts where that is wider (given ``counts``,
    the test points behind each rate), clipped to [0, 1]. With one seed: the Wilson interval
    alone, named within-run only; without counts, NaN.

    Parameters
    ----------
    values : array-like
        One rate per seed.
    counts : array-like, optional
        The number of test points behind each rate.
    confidence : float, default=0.95

    Returns
    -------
    dict
        ``mean``, ``lo``, ``hi``, ``sd`` (between seeds; NaN with one seed), ``seeds`` and
        ``interval`` (the method's name, :func:`acakit.metrics.interval_method`).
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    seeds = int(ok.sum())
    mean, t_lo, t_hi = seed_interval(v, confidence)
    w_lo = w_hi = np.nan
    if counts is not None and seeds:
        n = np.asarray(counts, dtype=np.float64)[ok]
        k = int(np.rint(v[ok] * n).sum())
        w_lo, w_hi = binomial_ci(k, int(n.sum()), confidence)
    if seeds >= 2:
        lo = max(0.0, float(np.nanmin([t_lo, w_lo])))
        hi = min(1.0, float(np.nanmax([t_hi, w_hi])))
    else:
        lo, hi = w_lo, w_hi
    return {"mean": mean, "lo": lo, "hi": hi,
            "sd": float(np.std(v[ok], ddof=1)) if seeds >= 2 else np.nan,
            "seeds": seeds, "interval": interval_method(seeds, pooled=counts is not None)}


def _by_variant_and_size(results: pd.DataFrame) -> tuple[str, Any]:
    """The size column of a results table (``alpha_requested``, or ``n_members`` for counts)
    and its rows grouped by (variant, size): ``(variant, rows)`` pairs, sorted."""
    df = results.copy()
    if "variant" not in df:
        df["variant"] = "base"
    size_col = "alpha_requested" if df["alpha_requested"].notna().all() else "n_members"
    return size_col, ((v, g) for (v, _size), g in df.groupby(["variant", size_col], sort=True))


def _in_order(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows as a frame, by variant (natural order) then realised α."""
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    from acakit.analyses.style import natural_key

    order = sorted(range(len(out)), key=lambda i: (natural_key(str(out["variant"].iat[i])),
                                                   float(out["alpha"].iat[i])))
    return out.iloc[order].reset_index(drop=True)


def summarize(
    results: pd.DataFrame, metric: str | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """One row per (variant, requested α): the mean over seeds and an interval over seeds.

    Each seed redraws who joins, the split and the training, so the interval is built from
    the per-seed rates: a Student-t interval over seeds (:func:`acakit.metrics.seed_interval`),
    widened to the Wilson interval of the pooled test counts where that is wider (so seeds
    that happen to agree exactly, e.g. all at 1.0, still carry the test-set uncertainty),
    clipped to [0, 1]. With one seed only the Wilson interval exists and the ``interval``
    column says it is within-run only.

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
        Columns ``variant, alpha_requested, alpha, n_members, seeds, <metric>, <metric>_lo,
        <metric>_hi,
        <metric>_sd, interval, accuracy, clean_accuracy, trivial_firm, trivial_seeds``
        (``alpha``: the realised share, ``alpha_requested``: the grid's, NaN for counts):
        ``<metric>`` is the mean of the per-seed rates, ``<metric>_sd`` their standard
        deviation (NaN with one seed), ``interval`` the method of ``_lo``/``_hi``;
        ``trivial_firm`` says why the clean firm predicted (almost) one class in
        ``trivial_seeds`` of the seeds (``""``/0: it did not; see
        :func:`acakit.metrics.trivial_firm`), so the flag travels with the numbers.
    """
    metric = metric or main_metric(results)
    size_col, groups = _by_variant_and_size(results)
    rows = []
    for variant, g in groups:
        est = seed_estimate(g[metric], g[f"{metric}_n"] if f"{metric}_n" in g else None,
                            confidence)
        flags = (g["trivial_firm"].fillna("").astype(str) if "trivial_firm" in g
                 else pd.Series([""] * len(g)))
        rows.append({
            "variant": variant,
            "alpha_requested": float(g[size_col].iloc[0]) if size_col == "alpha_requested"
            else np.nan,
            "alpha": float(g["alpha"].mean()),
            "n_members": float(g["n_members"].mean()),
            "seeds": len(g),
            metric: est["mean"],
            f"{metric}_lo": est["lo"],
            f"{metric}_hi": est["hi"],
            f"{metric}_sd": est["sd"],
            "interval": est["interval"],
            "accuracy": float(g["accuracy"].mean()),
            "clean_accuracy": float(g["clean_accuracy"].mean()),
            "trivial_firm": next((f for f in flags if f), ""),
            "trivial_seeds": int((flags != "").sum()),
        })
    return _in_order(rows)


def band_label(summary: pd.DataFrame, confidence: float = 0.95) -> str:
    """How the bands of a :func:`summarize` table were made, for a legend or header."""
    methods = list(dict.fromkeys(summary["interval"])) if "interval" in summary else []
    pct = f"{100 * confidence:g}%"
    if len(methods) == 1:
        return f"{pct} {methods[0]}"
    return f"{pct} t over seeds (>= pooled Wilson); Wilson within-run where 1 seed"


def ci_header(summary: pd.DataFrame, confidence: float = 0.95) -> str:
    """A short table header naming the interval: ``95% CI (t, seeds)`` or ``(within-run)``."""
    seeds = summary["seeds"] if "seeds" in summary else pd.Series([1])
    kind = "t, seeds" if (seeds >= 2).all() else "within-run" if (seeds < 2).all() else "mixed"
    return f"{100 * confidence:g}% CI ({kind})"


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
    """Success vs α with confidence bands, and the firm's clean accuracy on a panel below.

    The bands are the intervals of the summary table (:func:`summarize`: t over seeds, at
    least the pooled Wilson interval), named on the axis. A variant whose clean firm was
    trivial (predicted one class) is drawn hatched, marked "(trivial firm)" in the legend and
    named in a footnote. Legends that would hide data go outside the axes
    (:mod:`acakit.analyses.style`).

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
    from acakit.analyses.style import (
        accuracy_limits,
        alpha_axis,
        line_styles,
        note,
        place_legend,
        short_label,
    )

    metric = metric or main_metric(results)
    summary = summarize(results, metric)
    plt = _pyplot()
    fig, (ax, ax2) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.6),
                                  gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
    from acakit.analyses.labels import legend_map

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    trivial = []
    short = legend_map(summary["variant"])
    styles = line_styles(summary["variant"].nunique(), colors)
    for i, (variant, g) in enumerate(summary.groupby("variant", sort=False)):
        g = g.sort_values("alpha")
        c, marker = styles[i]
        x = 100 * g["alpha"].to_numpy()
        flag = g["trivial_firm"].astype(str).str.len().gt(0).any() if "trivial_firm" in g else False
        label = short_label(short[str(variant)]) + (" (trivial firm)" if flag else "")
        ax.plot(x, g[metric], "-", marker=marker, color=c, label=label)
        ax.fill_between(x, g[f"{metric}_lo"], g[f"{metric}_hi"], color=c, alpha=0.2,
                        hatch="///" if flag else None, edgecolor=c if flag else None)
        ax2.plot(x, g["accuracy"], ":", marker=marker, color=c, ms=3)
        if flag:
            trivial.append(f"{short[str(variant)]}: {g['trivial_firm'].iloc[0]}")
    alphas = np.sort(summary["alpha"].unique())
    for overlay in overlays:
        overlay(ax, alphas)
    ax2.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel(f"{metric.replace('_', ' ')}\n(band: {band_label(summary)})", fontsize="small")
    ax2.set_ylabel("clean test\naccuracy", fontsize="small")
    ax2.set_ylim(*accuracy_limits(summary["accuracy"]))
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    place_legend(ax)
    fig.align_ylabels([ax, ax2])
    alpha_axis(ax2, 100 * alphas)  # shared with the success panel
    if trivial:
        note(fig, "hatched: the clean firm is trivial (predicts one class), success is not "
                  "meaningful there; " + "; ".join(trivial))
    written = save_figure(fig, path, formats)
    plt.close(fig)
    return written


def metric_columns_of(results: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The columns further metrics wrote: a metric's name, or the keys of a dict-valued metric
    that start with ``<name>_`` (numeric columns only)."""
    cols: list[str] = []
    for name in names:
        hits = [name] if name in results else [c for c in results.columns
                                                if c.startswith(f"{name}_")]
        cols += [c for c in hits if pd.api.types.is_numeric_dtype(results[c])]
    return cols


def summarize_values(results: pd.DataFrame, column: str, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (variant, α) of any numeric column: mean over seeds and a Student-t interval
    over seeds, **not** clipped (a further metric need not be a rate in [0, 1]); with one seed
    the interval is NaN and ``interval`` says so.

    Returns
    -------
    DataFrame
        ``variant, alpha, seeds, <column>, <column>_lo, <column>_hi, interval``, in the order
        of :func:`summarize`.
    """
    size_col, groups = _by_variant_and_size(results)
    rows = []
    for variant, g in groups:
        mean, lo, hi = seed_interval(g[column], confidence)
        k = int(np.isfinite(g[column].to_numpy(dtype=float)).sum())
        rows.append({"variant": variant, "alpha": float(g["alpha"].mean()), "seeds": k,
                     column: mean, f"{column}_lo": lo, f"{column}_hi": hi,
                     "interval": "t over seeds" if k >= 2 else "1 seed, no interval"})
    return _in_order(rows)


def plot_values(results: pd.DataFrame, column: str, path: str | Path, title: str | None = None,
                confidence: float = 0.95, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """A further metric vs α per variant, with its t band over seeds (:func:`summarize_values`);
    the axis is the metric's own range, not [0, 1]. Returns the files written."""
    from acakit.analyses.labels import legend_map
    from acakit.analyses.style import alpha_axis, line_styles, note, place_legend, short_label

    summary = summarize_values(results, column, confidence)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    short = legend_map(summary["variant"])
    styles = line_styles(len(short), plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for i, (variant, g) in enumerate(summary.groupby("variant", sort=False)):
        g = g.sort_values("alpha")
        c, marker = styles[i]
        x = 100 * g["alpha"].to_numpy()
        ax.plot(x, g[column], "-", marker=marker, color=c, label=short_label(short[str(variant)]))
        ax.fill_between(x, g[f"{column}_lo"], g[f"{column}_hi"], color=c, alpha=0.2)
    ax.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel(f"{column.replace('_', ' ')}\n(band: {100 * confidence:g}% t over seeds)",
                  fontsize="small")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    place_legend(ax)
    alpha_axis(ax, 100 * np.sort(summary["alpha"].unique()))
    if (summary["seeds"] < 2).any():
        note(fig, "1 seed at some points: no interval there")
    written = save_figure(fig, path, formats)
    plt.close(fig)
    return written


def save_figure(fig: Any, path: str | Path, formats: Sequence[str] = ("png",),
                dpi: int = 130) -> list[Path]:
    """Write ``fig`` once per format at ``path`` (a suffix .png/.svg/.pdf on ``path`` is
    dropped), creating the folder; returns the files written.

    Every figure acakit draws is written here: cropped to what is drawn
    (``bbox_inches="tight"``, so a legend outside the axes and a footnote are kept), and shown
    to the checks registered in :data:`acakit.analyses.style.FIGURE_CHECKS` (the tests check
    every figure's layout there).
    """
    from acakit.analyses.style import mark_run_notes, run_checks, styled_for_print

    formats = styled_for_print(fig, formats)
    mark_run_notes(fig)
    base = Path(path)
    base = base.with_suffix("") if base.suffix in (".png", ".svg", ".pdf") else base
    base.parent.mkdir(parents=True, exist_ok=True)
    run_checks(fig, base)
    written = []
    for fmt in formats:
        out = base.with_suffix(f".{fmt}")
        write_atomic(out, lambda t: fig.savefig(t, dpi=dpi, bbox_inches="tight"))
        written.append(out)
    return written
