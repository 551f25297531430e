"""Plan from an experiment config: the theory's bounds on the config's data, and optionally
the measured curve of its sweep (run through the engine) on the same table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from acakit.theory import bounds as B
from acakit.theory.planner import Plan, plan


def plan_config(
    path: str | Path,
    target: float = 0.9,
    *,
    epsilon: float = 0.0,
    delta: float | None = None,
    simulate: bool = False,
    jobs: int = 1,
    n_boot: int = 200,
) -> Plan:
    """Plan from an experiment config (the ``acakit run`` format), optionally simulating it.

    The config's data set is split with its first seed; Δ, ξ (κ) are estimated on the training
    part; N and the test size come from the split; the α grid is the sweep's. With ``simulate``
    every cell of the config runs (:func:`acakit.engine.single.run_cells`) and the plan carries the
    measured rows (plotted as ``success_all``, the convention the bounds are about).

    Raises
    ------
    acakit.engine.config.ConfigError
        Invalid config (one line naming the field).
    ValueError
        Impossible planning inputs.
    """
    from acakit.data.base import train_test_split
    from acakit.engine.config import load_config, load_dataset
    from acakit.engine.single import build_feature_map, run_cells

    B.check_inputs(epsilon=epsilon, target=target)
    cfg, cells = load_config(path)
    cell = cells[0]
    ds = load_dataset(cell.dataset)
    train, test = train_test_split(ds, cell.dataset.test_size, seed=cell.seed)
    g = build_feature_map(cell, train)
    c = cell.collective
    strategy = c.strategy
    y_star = ds.class_index(c.target) if c.target is not None else None
    sizes = sorted({(x.collective.alpha if x.collective.alpha is not None
                     else x.collective.count / len(train)) for x in cells})
    p = plan(target, epsilon=epsilon, strategy=strategy, dataset=train, feature_map=g,
             target_class=y_star, n_test=len(test), delta=delta, alphas=sizes, n_boot=n_boot,
             seed=cell.seed)
    p.source = str(path)
    if simulate:
        results = run_cells(cells, jobs=jobs, progress=False, labels=[x.variant for x in cells])
        p.results = results
        metric = "success_all" if "success_all" in results else "erasure_success"
        from acakit.analyses.curves import summarize

        summ = summarize(results, metric).groupby("alpha")[[metric, f"{metric}_lo", f"{metric}_hi"]]
        meas = summ.mean().reset_index()
        p.table = pd.merge_asof(p.table.sort_values("alpha"), meas.sort_values("alpha"), on="alpha",
                                direction="nearest", tolerance=1e-9)
        p.table = p.table.rename(columns={metric: f"measured_{metric}", f"{metric}_lo": "measured_lo",
                                          f"{metric}_hi": "measured_hi"})
    return p


def plot_plan(plan: Plan, path: str | Path, title: str | None = None) -> list[Path]:
    """Write a plan's figure: the measured curve (if simulated) with the bounds as overlays, or
    the bound curves alone.

    Parameters
    ----------
    plan : Plan
    path : str or Path
        File stem (``.png`` is added; with a measured curve also ``.svg``).
    title : str, optional

    Returns
    -------
    list of Path
        The files written.
    """
    title = title or f"{plan.strategy}: success bound vs collective size"
    if plan.results is not None:
        from acakit.analyses.curves import plot_success

        return plot_success(plan.results, path, title=title, metric="success_all"
                            if "success_all" in plan.results else None, overlays=plan.overlays())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for draw in plan.overlays():
        draw(ax, plan.table["alpha"].to_numpy())
    ax.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel("lower bound on success")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    base = Path(path)
    base = base.with_suffix("") if base.suffix in (".png", ".svg", ".pdf") else base
    base.parent.mkdir(parents=True, exist_ok=True)
    out = [base.with_suffix(".png")]
    fig.savefig(out[0], dpi=130)
    plt.close(fig)
    return out

