"""``acakit fairness ...`` commands: run one analysis of a fairness config.

Each command runs the config on the engine exactly as ``acakit run`` does (every core by
default, a result store that a rerun resumes, the same runners and cache), with the analysis
list overridden, and prints the table of that analysis:
``acakit fairness alpha examples/fairness_compas_alpha.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from acakit.cli import (
    AddressOpt,
    CacheOpt,
    JobsOpt,
    MaxCellsOpt,
    OutOpt,
    QuietOpt,
    RetryOpt,
    RunnerOpt,
    StoreOpt,
)

fairness_app = typer.Typer(
    name="fairness",
    help="Minority collective action for fairness: relabeling analyses and baselines.",
    no_args_is_help=True,
)

ConfigArg = Annotated[Path, typer.Argument(help="Fairness config (experiment: fairness).")]


def _run(config: Path, analysis: str | None, jobs: int | None, out: Path | None, quiet: bool,
         store: Path | None, runner: str | None, address: str | None, cache: bool,
         retry_failed: bool, max_cells: str | None = None) -> None:
    """One analysis of a fairness config on the engine, with ``acakit run``'s defaults: every
    core, a store (resume), the same runners; then the table the analysis is named for."""
    from acakit.cli import _run as run_config_file
    from acakit.cli import fail, integer_option
    from acakit.engine.config import ConfigError, read_config

    try:
        raw: dict[str, Any] = read_config(config)
    except ConfigError as e:
        raise fail(str(e)) from None
    if raw.get("experiment", "fairness") != "fairness":
        raise fail(f"experiment: {raw.get('experiment')!r} is not a fairness config (use acakit run)")
    raw = {"experiment": "fairness"} | raw
    if analysis is not None:
        raw["analyses"] = [analysis]
    run_config_file(raw, jobs, out, quiet, store=store if store is not None else True,
                    runner=runner, address=address, cache=None if cache else False,
                    retry_failed=retry_failed, max_cells=integer_option(max_cells))


def _command(analysis: str | None, doc: str) -> Any:
    def command(config: ConfigArg, jobs: JobsOpt = None, out: OutOpt = None,
                quiet: QuietOpt = False, store: StoreOpt = None, runner: RunnerOpt = None,
                address: AddressOpt = None, cache: CacheOpt = True,
                retry_failed: RetryOpt = False, max_cells: MaxCellsOpt = None) -> None:
        _run(config, analysis, jobs, out, quiet, store, runner, address, cache, retry_failed,
             max_cells)

    command.__doc__ = doc
    return command


fairness_app.command("run")(_command(None, "Run every analysis the config asks for."))
fairness_app.command("alpha")(_command(
    "alpha", "Best unfairness vs α (relabel.alphas), per method, and where it saturates."))
fairness_app.command("pareto")(_command(
    "pareto", "Pareto frontier of error vs unfairness over budgets, with firm-side baselines."))
fairness_app.command("efficiency")(_command(
    "efficiency", "Unfairness vs number of label flips, per method (random included)."))
fairness_app.command("sample-size")(_command(
    "sample_size", "Sensitivity to the majority sample size m (relabel.sample_sizes)."))


def register(app: typer.Typer) -> None:
    """Add the ``fairness`` command group to the ``acakit`` app."""
    app.add_typer(fairness_app, name="fairness")
