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
    jobs: int | None = None,
    n_boot: int = 200,
    progress: bool = False,
) -> Plan:
    """Plan from an experiment config (the ``acakit run`` format), optionally simulating it.

    The config's data set is split with its first seed; Δ, ξ (κ) are estimated on the training
    part; N and the test size come from the split; the α grid is the sweep's. With ``simulate``
    the config runs through the engine as ``acakit run`` runs it (:func:`acakit.engine.execute`:
    ``jobs`` workers, default every core, and the config's store, ``output.store`` or
    ``<output.dir>/results.sqlite``, so cells a run or an earlier plan finished are read, not
    refitted) and the plan's table gets the measured values per firm (variant) at every requested
    α, one row each (:func:`measured_table`; ``success_all``, the convention the bounds are
    about), next to that α's bounds; ``plan.run`` says how many cells ran and how many came from
    the store.

    Raises
    ------
    acakit.engine.config.ConfigError
        Invalid config (one line naming the field).
    ValueError
        Impossible planning inputs.
    """
    from acakit.data.base import train_test_split
    from acakit.engine.config import load_config, load_dataset
    from acakit.engine.single import build_feature_map

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
        from acakit.engine import execute

        run = execute(path, jobs=jobs, progress=progress, store=True)
        results, p.run = run.results, run.info
        p.results = results
        requested = {x.cell_id: (x.collective.alpha if x.collective.alpha is not None
                                 else x.collective.count / len(train)) for x in cells}
        p.table = p.table.merge(measured_table(results, requested), on="alpha", how="left")
    return p


def measured_table(results: pd.DataFrame, requested: dict[str, float]) -> pd.DataFrame:
    """The simulation's measured values: one row per (variant, requested α).

    Each group is summarised by :func:`acakit.analyses.curves.summarize` (the table
    ``acakit run`` prints), so every row holds the numbers of that firm at that size, never an
    average over firms, and is keyed by the *requested* α (the plan's grid) rather than the
    realised one (``members / N``, which differs from it by rounding and eligibility).

    Parameters
    ----------
    results : DataFrame
        Rows of :func:`acakit.engine.single.run_cells` (with ``cell_id`` and ``variant``).
    requested : dict of str to float
        ``cell_id -> α`` as on the plan's grid.

    Returns
    -------
    DataFrame
        ``alpha`` (requested), ``firm``, ``variant`` (when it says more than the firm's name),
        ``measured_<metric>``, ``measured_lo``, ``measured_hi``, ``measured_members`` (mean
        realised head count) and ``interval`` (the interval's method, as
        :func:`~acakit.analyses.curves.summarize` names it; ``seeds`` where it names none);
        ``<metric>`` is ``success_all`` for planting (the convention of the bounds), else
        ``erasure_success``.
    """
    from acakit.analyses.curves import summarize

    planted = "success_all" in results and results["success_all"].notna().any()
    metric = "success_all" if planted else "erasure_success"
    if results.empty:  # every cell failed: nothing measured
        return pd.DataFrame(columns=["alpha", "firm", f"measured_{metric}", "measured_lo",
                                     "measured_hi"]).astype({"alpha": float})
    df = results.copy()
    if "variant" not in df:
        df["variant"] = "base"
    df["_requested"] = df["cell_id"].map(requested)
    rows = []
    for (variant, alpha), g in df.groupby(["variant", "_requested"], sort=True):
        # one summary row per group: summarize groups by alpha_requested, set it to the key
        s = summarize(g.assign(alpha_requested=alpha), metric).iloc[0]
        row = {"alpha": float(alpha), "firm": ", ".join(dict.fromkeys(map(str, g["firm"]))),
               "variant": str(variant), f"measured_{metric}": float(s[metric]),
               "measured_lo": float(s[f"{metric}_lo"]), "measured_hi": float(s[f"{metric}_hi"])}
        row["measured_members"] = float(s["n_members"])
        # the interval's method names the seeds ("t over 2 seeds"); without it, say how many
        row |= {"interval": str(s["interval"])} if "interval" in s.index else {"seeds": int(s["seeds"])}
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out) and out.groupby("variant")["firm"].nunique().le(1).all() and (
            out.groupby("firm")["variant"].nunique().le(1).all()):
        out = out.drop(columns="variant")  # one variant per firm: the firm's name says it all
    return out


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
    from acakit.analyses.curves import save_figure

    out = save_figure(fig, path, ("png",))
    plt.close(fig)
    return out

