"""Figures of the interaction studies of several collectives (:mod:`acakit.multi.analyses`):
heat maps over (α_1, α_2), success against label and mass entropy, and the bound-versus-measured
panels of a multi-collective run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit.analyses.curves import _pyplot
from acakit.analyses.style import place_legend
from acakit.multi.analyses import entropy_correlations


def _save(fig: Any, path: str | Path) -> list[Path]:
    """``<path>.png`` through acakit's one figure writer (cropped, layout-checked in tests)."""
    from acakit.analyses.curves import save_figure

    return save_figure(fig, Path(f"{path}.png"), ("png",), dpi=110)


def plot_heatmaps(grid: pd.DataFrame, path: str | Path, title: str = "") -> list[Path]:
    """Heat maps of collective 1's measured success (and its full-knowledge bound) over
    (α_1, α_2), one column per relation. Writes ``<path>.png``; returns the files."""
    rels = list(dict.fromkeys(grid["relation"])) if "relation" in grid else ["all"]
    # constrained layout keeps tick labels, titles and the colour bar apart
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(rels), figsize=(4.6 * len(rels), 8.4), squeeze=False,
                             layout="constrained")
    for k, rel in enumerate(rels):
        g = grid[grid["relation"] == rel] if "relation" in grid else grid
        for r, col in enumerate(("success", "bound_full")):
            piv = g.pivot_table(index="alpha2", columns="alpha1", values=col, aggfunc="mean")
            ax = axes[r, k]
            values = np.clip(piv.to_numpy(), 0, 1)
            im = ax.imshow(values, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
            for (i, j), v in np.ndenumerate(values):  # the number, legible on either end
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize="small",
                            color="black" if v > 0.6 else "white")
            ax.set_xticks(range(piv.shape[1]), [f"{v:.3g}" for v in piv.columns], rotation=45)
            ax.set_yticks(range(piv.shape[0]), [f"{v:.3g}" for v in piv.index])
            ax.set_xlabel("α₁")
            ax.set_ylabel("α₂")
            ax.set_title(f"{rel}: {'measured S₁' if col == 'success' else 'full-knowledge bound'}",
                         fontsize="medium")
    fig.colorbar(im, ax=axes, shrink=0.6,
                 label="collective 1's success S₁ (measured, mean over seeds) or its bound")
    fig.suptitle(title)
    from acakit.analyses.style import note

    note(fig, "full-knowledge bound: a plug-in lower bound for a Bayes-optimal firm (ε = 0) "
              "with P0 estimated from the data, not a bound on the firm trained here; measured S₁ "
              "below it is that firm's suboptimality, not a failure of the bound")
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_entropy(study: pd.DataFrame, path: str | Path, title: str = "") -> list[Path]:
    """Scatter of mean success against label entropy and size entropy, each panel titled with
    the Spearman ρ of :func:`entropy_correlations` (``<path>.png``)."""
    rho = entropy_correlations(study)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, col in zip(axes, ("label_entropy", "size_entropy"), strict=True):
        ax.set_title(f"Spearman ρ (size-weighted) = {rho[col]:.2f}, {len(study)} configurations",
                     fontsize="medium")
        ax.scatter(study[col], study["weighted_success"], label="size-weighted", alpha=0.8)
        ax.scatter(study[col], study["global_success"], label="all at once", marker="x", alpha=0.8)
        ax.set_xlabel(f"{col.replace('_', ' ')} (bits)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("success")
    place_legend(axes[0])
    fig.suptitle(title)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out


def plot_bounds_vs_measured(
    results: pd.DataFrame, x: str, path: str | Path, title: str = "", xlabel: str | None = None
) -> list[Path]:
    """One panel per collective: measured ``success_all`` (mean over seeds, with the interval
    the table beside it gives: :func:`acakit.analyses.curves.seed_estimate`) and the mean of
    each bound against ``x`` (a bound <= 0 is vacuous: drawn at the bottom edge). Writes
    ``<path>.png``."""
    from acakit.analyses.curves import band_label, seed_estimate

    names = list(dict.fromkeys(results["name"]))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.8), sharey=True,
                             squeeze=False)
    styles = {"bound_full": ("full (∞)", "-"), "bound_aggregate": ("aggregate (∞)", "--"),
              "bound_worst": ("worst case (∞)", ":"), "finite_full": ("full (finite, 1−δ)", "-."),
              "finite_worst": ("worst case (finite, 1−δ)", (0, (1, 3)))}
    for ax, name in zip(axes[0], names, strict=True):
        g = results[results["name"] == name].groupby(x)
        m = g.mean(numeric_only=True)
        est = pd.DataFrame([seed_estimate(d["success_all"], d["success_all_n"]
                                          if "success_all_n" in d else None) for _, d in g],
                           index=m.index)
        ax.fill_between(m.index, est["lo"], est["hi"], alpha=0.2,
                        label=f"measured: {band_label(est)}".replace(">=", "≥"))
        ax.plot(m.index, m["success_all"], "o-", color="k", label="measured (mean over seeds)")
        for col, (lab, ls) in styles.items():
            if col in m and m[col].notna().any():
                ax.plot(m.index, np.clip(m[col], -0.05, 1), linestyle=ls, label=lab)
        ax.set_title(name)
        ax.set_xlabel(xlabel or x)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("success (all test points)\nbounds <= 0: vacuous (at the bottom)",
                          fontsize="small")
    place_legend(axes[0, -1], fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out = _save(fig, path)
    plt.close(fig)
    return out
