"""``acakit multi-bound``, ``acakit multi-heatmap``, ``acakit multi-entropy``: multi-collective
bounds from numbers and interaction analyses of a ``experiment: multi`` config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from acakit._safe import write_atomic


def _load(config: Path) -> tuple[Any, Any]:
    from acakit.engine.config import read_config
    from acakit.engine.multi import check_against_data, parse_multi_config

    cfg = parse_multi_config(read_config(config))
    return cfg, check_against_data(cfg)


def multi_bound(
    alpha: Annotated[float, typer.Option("--alpha", help="α_i: your collective's size.")],
    gap: Annotated[float, typer.Option("--gap", help="Δ_i of your signal.")],
    signal_mass: Annotated[float, typer.Option("--signal-mass", help="ξ_i of your signal.")],
    others: Annotated[float | None, typer.Option(
        "--others", help="B: the others' total size (default 0, or at least --conflict).")] = None,
    others_max: Annotated[float | None, typer.Option(
        "--others-max", help="Upper end of a range [--others, --others-max] for B.")] = None,
    conflict: Annotated[float | None, typer.Option(
        "--conflict", help="K: conflicting mass on your signal set (aggregator).")] = None,
    net_conflict: Annotated[float | None, typer.Option(
        "--net-conflict", help="Σ[C − A]_+: net conflicting mass (full knowledge).")] = None,
    epsilon: Annotated[float, typer.Option("--epsilon", help="ε: suboptimality of the firm.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Success bounds of one of several collectives in the three knowledge tiers."""
    from rich.table import Table

    from acakit.cli import console, fail
    from acakit.multi.bounds import aggregate_bound, full_knowledge_bound, worst_case_bound

    given = others is not None or others_max is not None
    low = 0.0 if others is None else others
    high = low if others_max is None else others_max
    if high < low:
        raise fail(f"--others-max: {high:g} is below --others {low:g}; give a range low <= high")
    for name, mass in (("--conflict", conflict), ("--net-conflict", net_conflict)):
        if given and mass is not None and mass > high + 1e-12:
            raise fail(f"{name}: {mass:g} is more than the others' total size ({high:g}); the "
                       "conflicting mass is part of the others' size")
    others = low
    try:
        rng = (low, high)
        out: dict[str, float | None] = {
            "worst": float(worst_case_bound(alpha, rng, gap, signal_mass, epsilon))}
        out["aggregate"] = None if conflict is None else float(
            aggregate_bound(alpha, conflict, gap, signal_mass, epsilon, others_min=others))
        out["full"] = None if net_conflict is None else float(
            full_knowledge_bound(alpha, others, gap, signal_mass, net_conflict, epsilon))
    except ValueError as e:
        raise fail(str(e)) from None
    if as_json:
        print(json.dumps(out))
        return
    table = Table(title=f"bounds on the success of a collective of size {alpha:g}")
    table.add_column("tier")
    table.add_column("knows")
    table.add_column("bound", justify="right")
    from acakit.analyses.tables import bound_text

    knows = {"worst": "others' total size", "aggregate": "conflicting mass K",
             "full": "sizes, signals, targets"}
    missing = {"aggregate": "needs --conflict", "full": "needs --net-conflict"}
    for k, v in out.items():
        table.add_row(k, knows[k], missing[k] if v is None else bound_text(v, 4))
    console.print(table)
    console.print(f"lower bounds on success for a firm that is ε-optimal on the mixture "
                  f"(ε = {epsilon:g}{'; ε = 0: Bayes-optimal' if epsilon == 0 else ''}); "
                  "vacuous: the bound is <= 0 and says nothing", highlight=False)


def multi_heatmap(
    config: Annotated[Path, typer.Argument(help="A multi config with at least 2 collectives.")],
    alphas: Annotated[str, typer.Option(help="Comma-separated grid of sizes for α1 and α2.")]
        = "0.01,0.02,0.04,0.06,0.08",
    seed: Annotated[int, typer.Option(help="Seed of the split and draws.")] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: results/<config name>_heatmap).")] = None,
) -> None:
    """Heat maps of collective 1's success over (α1, α2): aligned vs conflicting second."""
    from acakit.analyses.multi_plots import plot_heatmaps
    from acakit.cli import console, fail, write_error
    from acakit.data.base import train_test_split
    from acakit.engine import check_writable
    from acakit.engine.config import ConfigError
    from acakit.engine.multi import members_at
    from acakit.firms import make_firm
    from acakit.multi.analyses import aligned_vs_conflicting

    out = out or Path("results") / f"{config.stem}_heatmap"  # two configs never share a folder
    try:
        grid = [float(a) for a in alphas.split(",") if a.strip()]
        if not grid or any(not 0 <= a <= 0.5 for a in grid):
            raise ValueError("--alphas: give sizes in [0, 0.5], comma-separated")
        check_writable(out, "--out")  # before the work, not after it
        cfg, ds = _load(config)
        if len(cfg.collectives) < 2:
            raise ValueError("config: multi-heatmap needs at least 2 collectives")
        train, test = train_test_split(ds, cfg.dataset.test_size, seed=seed)
        first, second = members_at(cfg, train, seed)[:2]
        if first.planted_label is None or second.planted_label is None:
            raise ValueError("collectives: the first two must plant a target")
        other = second.planted_label if second.planted_label != first.planted_label else \
            (first.planted_label + 1) % train.n_classes
        firm = make_firm(cfg.firm.name, ds, cfg.firm.params, cfg.firm.featurizer)
        df = aligned_vs_conflicting(train, test, first, second.strategy.feature_map,
                                    first.planted_label, other, grid, grid, firm, seed)
    except (ConfigError, ValueError) as e:
        raise fail(str(e)) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "heatmap.csv", lambda t: df.to_csv(t, index=False))
        files = [out / "heatmap.csv", *plot_heatmaps(df, out / "heatmap", title=cfg.name)]
    except OSError as e:  # a full disk, a folder made read-only meanwhile: one line
        raise fail(write_error(e, out)) from None
    piv = df.groupby("relation")["success"].mean()
    console.print(f"mean success of {first.name}: aligned {piv.get('aligned', float('nan')):.3f}, "
                  f"conflicting {piv.get('conflicting', float('nan')):.3f}", highlight=False)
    for f in files:
        console.print(f"wrote {f}")


def multi_entropy(
    config: Annotated[Path, typer.Argument(help="A multi config (its signals are reused).")],
    total_alpha: Annotated[float, typer.Option(help="Σ α_i, fixed.")] = 0.2,
    n_configs: Annotated[int, typer.Option(help="Random configurations.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: results/<config name>_entropy).")] = None,
) -> None:
    """Success against label entropy and size entropy at a fixed total size."""
    from acakit.analyses.multi_plots import plot_entropy
    from acakit.cli import console, fail
    from acakit.collective import Collective
    from acakit.data.base import train_test_split
    from acakit.engine.config import ConfigError
    from acakit.engine.multi import members_at
    from acakit.firms import make_firm
    from acakit.multi.analyses import entropy_correlations, entropy_study
    from acakit.multi.simulate import MemberCollective
    from acakit.strategies import Plant

    out = out or Path("results") / f"{config.stem}_entropy"
    try:
        if not 0 < total_alpha <= 1 or n_configs < 2:
            raise ValueError("--total-alpha must be in (0, 1] and --n-configs >= 2")
        cfg, ds = _load(config)
        train, test = train_test_split(ds, cfg.dataset.test_size, seed=seed)
        members = members_at(cfg, train, seed)
        labels = sorted({m.planted_label for m in members if m.planted_label is not None})
        if len(labels) < 2:
            raise ValueError("collectives: give at least two different targets to vary")
        signals = [m.strategy.feature_map for m in members]

        def make(k: int, t: int) -> MemberCollective:
            return MemberCollective(Collective(Plant(signals[k], t), alpha=0.0), f"c{k}")

        firm = make_firm(cfg.firm.name, ds, cfg.firm.params, cfg.firm.featurizer)
        df = entropy_study(train, test, make, len(members), labels, total_alpha, firm,
                           n_configs, seed)
    except (ConfigError, ValueError) as e:
        raise fail(str(e)) from None
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "entropy.csv", lambda t: df.to_csv(t, index=False))
    files = [out / "entropy.csv", *plot_entropy(df, out / "entropy", title=cfg.name)]
    rho = entropy_correlations(df)
    rl, rs = rho["label_entropy"], rho["size_entropy"]
    console.print(f"Spearman ρ of size-weighted success with label entropy {rl:.2f}, "
                  f"with size entropy {rs:.2f} ({len(df)} configurations)", highlight=False)
    for f in files:
        console.print(f"wrote {f}")


def register(app: typer.Typer) -> None:
    """Add the multi-collective commands to the acakit app."""
    app.command("multi-bound")(multi_bound)
    app.command("multi-heatmap")(multi_heatmap)
    app.command("multi-entropy")(multi_entropy)
