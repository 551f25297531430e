"""``acakit fairness ...`` commands: run one analysis of a fairness config.

Each command is one call of :func:`acakit.analyses.fairness.run_config` with the analysis
list overridden: ``acakit fairness pareto examples/fairness_compas.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

fairness_app = typer.Typer(
    name="fairness",
    help="Minority collective action for fairness: relabeling analyses and baselines.",
    no_args_is_help=True,
)

ConfigArg = Annotated[Path, typer.Argument(help="Fairness config (experiment: fairness).")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", help="Worker processes over seeds.")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: output.dir).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _run(config: Path, analysis: str | None, jobs: int, out: Path | None, quiet: bool) -> None:
    from acakit.analyses.fairness import run_config
    from acakit.cli import console, fail
    from acakit.engine.config import ConfigError, read_config

    try:
        raw: dict[str, Any] = read_config(config)
        if raw.get("experiment", "fairness") != "fairness":
            raise ConfigError(f"experiment: {raw.get('experiment')!r} is not a fairness config "
                              "(use acakit run)")
        raw = {"experiment": "fairness"} | raw
        result = run_config(raw, jobs=jobs, out_dir=None if out is None else str(out),
                            progress=not quiet, analyses=None if analysis is None else [analysis])
    except ConfigError as e:
        raise fail(str(e)) from None
    result.show(console)


@fairness_app.command("run")
def run_all(config: ConfigArg, jobs: JobsOpt = 1, out: OutOpt = None, quiet: QuietOpt = False) -> None:
    """Run every analysis the config asks for."""
    _run(config, None, jobs, out, quiet)


@fairness_app.command("alpha")
def alpha(config: ConfigArg, jobs: JobsOpt = 1, out: OutOpt = None, quiet: QuietOpt = False) -> None:
    """Best unfairness vs α (relabel.alphas), per method."""
    _run(config, "alpha", jobs, out, quiet)


@fairness_app.command("pareto")
def pareto(config: ConfigArg, jobs: JobsOpt = 1, out: OutOpt = None, quiet: QuietOpt = False) -> None:
    """Pareto frontier of error vs unfairness over budgets, with firm-side baselines."""
    _run(config, "pareto", jobs, out, quiet)


@fairness_app.command("efficiency")
def efficiency(config: ConfigArg, jobs: JobsOpt = 1, out: OutOpt = None,
               quiet: QuietOpt = False) -> None:
    """Unfairness vs number of label flips, per method (random included)."""
    _run(config, "efficiency", jobs, out, quiet)


@fairness_app.command("sample-size")
def sample_size(config: ConfigArg, jobs: JobsOpt = 1, out: OutOpt = None,
                quiet: QuietOpt = False) -> None:
    """Sensitivity to the majority sample size m (relabel.sample_sizes)."""
    _run(config, "sample_size", jobs, out, quiet)


def register(app: typer.Typer) -> None:
    """Add the ``fairness`` command group to the ``acakit`` app."""
    app.add_typer(fairness_app, name="fairness")
