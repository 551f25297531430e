"""Interaction analyses of several collectives: heat maps over (α_1, α_2), success against
label and mass entropy, the efficacy loss each collective suffers from the others, and the
bound-versus-measured plots.

Efficacy loss (Karan et al., FAccT 2025): ``1 − S_i(with the others) / S_i(alone)``, where
"alone" reruns the same split and firm with ``i`` only, drawing its members with the seed
it had in the joint run (the same rows under the ``first`` and ``random`` policies; under
``disallow`` a later collective draws from the whole pool instead of what was left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

from acakit.analyses.style import place_legend  # noqa: E402
from acakit.collective import Collective  # noqa: E402
from acakit.data.base import Dataset  # noqa: E402
from acakit.multi.estimate import simulation_bounds  # noqa: E402
from acakit.multi.measures import label_entropy, size_entropy  # noqa: E402
from acakit.multi.simulate import MemberCollective, OverlapPolicy, simulate  # noqa: E402
from acakit.strategies import Plant  # noqa: E402


def efficacy_loss(
    train: Dataset,
    test: Dataset,
    collectives: Sequence[MemberCollective],
    firm: Any,
    overlap: OverlapPolicy = "disallow",
    seed: int = 0,
    together: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Success of each collective alone and with the others, and the relative loss.

    Parameters
    ----------
    train, test : Dataset
    collectives : sequence of MemberCollective
    firm : estimator
    overlap : {"disallow", "first", "random"}
    seed : int
    together : DataFrame, optional
        ``per_collective`` of the joint run, if already computed.

    Returns
    -------
    pandas.DataFrame
        ``name, success_alone, success_together, efficacy_loss`` (``success_all`` convention;
        NaN loss where the collective fails alone) and ``constructiveness``, one number for the
        whole set of collectives (the same on every row):

            constructiveness = Σ_k (S_k(together) − S_k(alone)) / Σ_k S_k(alone),

        which is minus the mean efficacy loss weighted by the success alone: −1 when together
        every collective loses all it had alone, 0 when acting together changes nothing in
        total, > 0 when the collectives help each other (NaN when all fail alone). For two
        collectives it is their pairwise constructiveness score.
    """
    if together is None:
        together = simulate(train, test, collectives, firm, overlap, seed).per_collective
    alone = []
    for i, c in enumerate(collectives):
        # collective i draws with seed + 7919 i in the joint run
        solo = MemberCollective(Collective(c.strategy, c.collective.alpha, c.collective.count,
                                           c.collective.eligibility, noise=c.collective.noise),
                                c.name, c.targets)
        r = simulate(train, test, [solo], firm, overlap, seed + 7919 * i)
        alone.append(r.per_collective["success_all"].iloc[0] if "success_all" in r.per_collective
                     else np.nan)
    s_alone = np.asarray(alone, dtype=float)
    s_with = together["success_all"].to_numpy(dtype=float) if "success_all" in together else \
        np.full(len(collectives), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.where(s_alone > 0, 1.0 - s_with / s_alone, np.nan)
    ok = ~np.isnan(s_alone) & ~np.isnan(s_with)
    total = float(s_alone[ok].sum())
    constructive = (float((s_with[ok] - s_alone[ok]).sum()) / total) if total > 0 else np.nan
    return pd.DataFrame({"name": [c.name for c in collectives], "success_alone": s_alone,
                         "success_together": s_with, "efficacy_loss": loss,
                         "constructiveness": constructive})


def pair_heatmap(
    train: Dataset,
    test: Dataset,
    first: MemberCollective,
    second: MemberCollective,
    alphas1: Sequence[float],
    alphas2: Sequence[float],
    firm: Any,
    seed: int = 0,
    overlap: OverlapPolicy = "disallow",
) -> pd.DataFrame:
    """Success of collective 1 (measured and full-knowledge bound) over a grid of (α_1, α_2).

    Parameters
    ----------
    train, test : Dataset
    first, second : MemberCollective
        Their sizes are replaced by the grid values.
    alphas1, alphas2 : sequence of float
    firm : estimator
    seed : int
    overlap : {"disallow", "first", "random"}

    Returns
    -------
    pandas.DataFrame
        ``alpha1, alpha2, success`` (collective 1, ``success_all``), ``bound_full``,
        ``success2``.
    """
    rows = []
    for a1 in alphas1:
        for a2 in alphas2:
            cs = [_resized(first, a1), _resized(second, a2)]
            r = simulate(train, test, cs, firm, overlap, seed)
            b = simulation_bounds(r, train, test, cs, finite=False)
            rows.append({"alpha1": a1, "alpha2": a2,
                         "success": float(r.per_collective["success_all"].iloc[0]),
                         "success2": float(r.per_collective["success_all"].iloc[1]),
                         "bound_full": float(b["bound_full"].iloc[0]) if "bound_full" in b else np.nan})
    return pd.DataFrame(rows)


def _resized(c: MemberCollective, alpha: float) -> MemberCollective:
    return MemberCollective(Collective(c.strategy, alpha=alpha, eligibility=c.collective.eligibility,
                                       noise=c.collective.noise), c.name, c.targets)


def aligned_vs_conflicting(
    train: Dataset,
    test: Dataset,
    first: MemberCollective,
    second_signal: Any,
    aligned_target: int,
    conflicting_target: int,
    alphas1: Sequence[float],
    alphas2: Sequence[float],
    firm: Any,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`pair_heatmap` twice: a second collective with the first one's target (aligned)
    and with another target (conflicting), both with ``second_signal``.

    Returns
    -------
    pandas.DataFrame
        The two grids stacked, with a ``relation`` column (``aligned`` / ``conflicting``).
    """
    out = []
    for rel, t in (("aligned", aligned_target), ("conflicting", conflicting_target)):
        second = MemberCollective(Collective(Plant(second_signal, t), alpha=0.0), "second")
        out.append(pair_heatmap(train, test, first, second, alphas1, alphas2, firm, seed)
                   .assign(relation=rel))
    return pd.concat(out, ignore_index=True)


def _save(fig: Any, path: str | Path) -> list[Path]:
    """``<path>.png`` through acakit's one figure writer (cropped, layout-checked in tests)."""
    from acakit.analyses.curves import save_figure

    return save_figure(fig, Path(f"{path}.png"), ("png",), dpi=110)


def plot_heatmaps(grid: pd.DataFrame, path: str | Path, title: str = "") -> list[Path]:
    """Heat maps of collective 1's measured success (and its full-knowledge bound) over
    (α_1, α_2), one column per relation. Writes ``<path>.png``; returns the files."""
    rels = list(dict.fromkeys(grid["relation"])) if "relation" in grid else ["all"]
    # constrained layout keeps tick labels, titles and the colour bar apart
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


def entropy_study(
    train: Dataset,
    test: Dataset,
    make_member: Callable[[int, int], MemberCollective],
    n_collectives: int,
    labels: Sequence[int],
    total_alpha: float,
    firm: Any,
    n_configs: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Success against label entropy and mass entropy at a fixed total size.

    Draws ``n_configs`` configurations of ``n_collectives`` collectives: sizes from a
    Dirichlet with a random concentration (from one dominant collective to equal sizes)
    scaled to ``total_alpha``, targets drawn from ``labels`` with a random number of distinct
    labels (from all aligned to all different).

    Parameters
    ----------
    train, test : Dataset
    make_member : callable
        ``make_member(k, target)`` -> the k-th collective (size is set here).
    n_collectives : int
    labels : sequence of int
        Candidate target classes.
    total_alpha : float
        Σ α_i, fixed.
    firm : estimator
    n_configs : int, default=20
    seed : int, default=0

    Returns
    -------
    pandas.DataFrame
        One row per configuration: ``label_entropy``, ``size_entropy``, ``mean_success``,
        ``weighted_success``, ``global_success``, ``min_success``.
    """
    rng = check_random_state(seed)
    rows = []
    for k in range(n_configs):
        conc = 10 ** rng.uniform(-1, 1.5)
        sizes = rng.dirichlet(np.full(n_collectives, conc)) * total_alpha
        n_lab = rng.randint(1, min(len(labels), n_collectives) + 1)
        pool = rng.choice(labels, size=n_lab, replace=False)
        targets = rng.choice(pool, size=n_collectives)
        cs = [_resized(make_member(j, int(targets[j])), float(sizes[j])) for j in range(n_collectives)]
        r = simulate(train, test, cs, firm, "disallow", seed + k)
        s = r.per_collective["success_all"].to_numpy()
        rows.append({"config": k, "label_entropy": label_entropy(sizes, [{int(t)} for t in targets]),
                     "size_entropy": size_entropy(sizes), "mean_success": float(s.mean()),
                     "weighted_success": r.overall["weighted_success"],
                     "global_success": r.overall["global_success"], "min_success": float(s.min())})
    return pd.DataFrame(rows)


def entropy_correlations(study: pd.DataFrame) -> dict[str, float]:
    """Spearman ρ of the size-weighted success with each entropy of an :func:`entropy_study`
    (``{"label_entropy": ρ, "size_entropy": ρ}``; NaN where an entropy does not vary)."""
    from scipy.stats import spearmanr

    out = {}
    for col in ("label_entropy", "size_entropy"):
        x = study[col].to_numpy(dtype=float)
        out[col] = (float(spearmanr(x, study["weighted_success"]).statistic)
                    if len(x) > 1 and np.ptp(x) > 0 else float("nan"))
    return out


def plot_entropy(study: pd.DataFrame, path: str | Path, title: str = "") -> list[Path]:
    """Scatter of mean success against label entropy and size entropy, each panel titled with
    the Spearman ρ of :func:`entropy_correlations` (``<path>.png``)."""
    rho = entropy_correlations(study)
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
                        label=f"measured: {band_label(est)}")
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
