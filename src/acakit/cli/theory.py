"""``acakit plan`` and ``acakit bound``: the theory on the command line (one API call each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer


def plan(
    config: Annotated[Path | None, typer.Argument(
        help="Experiment config to plan from (estimates Δ, ξ on its data).")] = None,
    gap: Annotated[float | None, typer.Option(
        "--gap", help="Δ: base-data gap on the signal set.")] = None,
    signal_mass: Annotated[float | None, typer.Option(
        "--signal-mass", help="ξ: base mass of the signal set.")] = None,
    epsilon: Annotated[float, typer.Option("--epsilon", help="ε: suboptimality of the firm.")] = 0.0,
    target: Annotated[float, typer.Option("--target", help="Target success S*.")] = 0.9,
    n_train: Annotated[int | None, typer.Option(
        "--n-train", help="Training-set size N (head counts).")] = None,
    n_test: Annotated[int | None, typer.Option("--n-test", help="Test-set size (finite bound).")] = None,
    confidence: Annotated[float | None, typer.Option(
        "--confidence", help="δ, failure probability of the finite-sample bound (e.g. 0.05).")] = None,
    strategy: Annotated[str, typer.Option(
        help="plant, plant_feature_only, unplant or erase (numbers only).")] = "plant",
    kappa: Annotated[float, typer.Option("--kappa", help="κ: distortion (feature-only).")] = 1.0,
    n_signal_points: Annotated[int, typer.Option(help="#X̃ for the finite-sample forecast.")] = 1,
    n_classes: Annotated[int, typer.Option(help="#Y for the finite-sample forecast.")] = 2,
    simulate: Annotated[bool, typer.Option(
        help="Also run the config as `acakit run` does (its store: finished cells are read, "
             "not refitted): measured success per firm (variant) beside each α's bound.")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="Worker processes for --simulate (default: every core).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write the figure here (png; with --simulate by default <output.dir>/plan.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How many of us do we need? Critical mass and bound curve, from numbers or a config."""
    from acakit.analyses.planning import plan_config
    from acakit.cli import check_output_file, console, fail
    from acakit.engine.config import ConfigError
    from acakit.theory.planner import plan as make_plan
    from acakit.theory.planner import validate_plan_inputs

    if plot is None and simulate and config is not None:
        # bound and measured curve on one plot, by default beside the config's outputs
        from acakit.engine.config import read_config

        try:
            out_dir = (read_config(config).get("output") or {}).get("dir") or "results"
        except ConfigError as e:
            raise fail(str(e)) from None
        plot = Path(str(out_dir)) / "plan.png"
    if plot is not None:  # before any work (a simulation can take minutes)
        check_output_file(plot.with_suffix(".png") if plot.suffix == "" else plot, "--plot")
    try:
        if config is not None:
            if gap is not None or signal_mass is not None:
                raise ValueError("give a config or --gap/--signal-mass, not both")
            validate_plan_inputs(target, None, None, epsilon, kappa, None, None, confidence,
                                 "plant", 1, 2)
            result = plan_config(config, target, epsilon=epsilon, delta=confidence,
                                 simulate=simulate, jobs=jobs, progress=not as_json)
        else:
            if simulate:
                raise ValueError("--simulate needs a config")
            if strategy != "erase" and (gap is None or signal_mass is None):
                raise ValueError("give --gap and --signal-mass (or a config to estimate them)")
            result = make_plan(target, gap=gap, signal_mass=signal_mass, epsilon=epsilon,
                               strategy=strategy, kappa=kappa, n_train=n_train, n_test=n_test,
                               delta=confidence, n_signal_points=n_signal_points,
                               n_classes=n_classes)
    except ConfigError as e:
        raise fail(str(e)) from None
    except ValueError as e:
        raise fail(str(e).splitlines()[0]) from None
    from acakit.analyses.planning import plot_plan

    files = plot_plan(result, plot) if plot is not None else []
    if as_json:
        typer.echo(json.dumps(result.to_dict() | ({"files": [str(f) for f in files]} if files else {})))
        return
    result.show(console)
    if epsilon == 0 and strategy != "erase":
        console.print("note: ε = 0 assumes a Bayes-optimal firm; a real learner is ε-suboptimal and "
                      "every bound loses a term of order ε/α: pass --epsilon to see what that costs.")
    for f in files:
        console.print(f"wrote {f}")


def bound(
    alpha: Annotated[list[float], typer.Option("--alpha", "-a", help="Collective size(s) α.")],
    gap: Annotated[float, typer.Option("--gap", help="Δ.")] = 0.0,
    signal_mass: Annotated[float, typer.Option("--signal-mass", help="ξ.")] = 0.0,
    epsilon: Annotated[float, typer.Option("--epsilon", help="ε.")] = 0.0,
    strategy: Annotated[str, typer.Option(help="plant, plant_feature_only, unplant or erase.")] = "plant",
    kappa: Annotated[float, typer.Option("--kappa", help="κ.")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Evaluate an infinite-data success bound at the given collective sizes."""
    from acakit.cli import console, fail
    from acakit.theory.planner import STRATEGY_NAMES, _bound

    try:
        if strategy not in STRATEGY_NAMES:
            raise ValueError(f"strategy: {strategy!r} is not one of {', '.join(STRATEGY_NAMES)}")
        values = _bound(strategy, np.asarray(alpha), gap, signal_mass, epsilon, kappa)
    except ValueError as e:
        raise fail(str(e)) from None
    rows = [{"alpha": a, "bound": None if v == -np.inf else float(v)} for a, v in zip(alpha, values,
                                                                                       strict=True)]
    if as_json:
        typer.echo(json.dumps({"strategy": strategy, "gap": gap, "signal_mass": signal_mass,
                               "epsilon": epsilon, "bounds": rows}))
        return
    from rich.table import Table

    table = Table(title=f"{strategy} success bound (Δ={gap:g}, ξ={signal_mass:g}, ε={epsilon:g})")
    table.add_column("α", justify="right")
    table.add_column("lower bound on success", justify="right")
    for r in rows:
        table.add_row(f"{r['alpha']:g}", "-inf" if r["bound"] is None else f"{r['bound']:.4f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``plan`` and ``bound`` commands to the acakit app."""
    app.command()(plan)
    app.command()(bound)
