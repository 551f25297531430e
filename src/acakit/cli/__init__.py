"""The ``acakit`` command line (typer + rich). Every command is one call of the Python API."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text


def _no_flag_metavar() -> None:
    """Help shows no ``<bool>`` beside an on/off flag (``--quiet``, ``--cache/--no-cache``): it
    takes no value, and ``--json true`` would read ``true`` as the next argument."""
    import typer.core

    original = getattr(typer.core.TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_acakit", False):
        return  # an older typer draws help otherwise: nothing to patch

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None
        return original(self, ctx)

    display_type_rich._acakit = True  # type: ignore[attr-defined]
    typer.core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_flag_metavar()

app = typer.Typer(
    name="acakit",
    help="Algorithmic collective action: simulate, bound and measure collectives.",
    epilog="Exit codes: 0 every cell ok; 1 some cells failed (stored; acakit results STORE "
           "--failed); 2 bad input, refused before any work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Tables need room: a pipe or CI log is not 80 columns wide. markup=False: what acakit prints
# holds user text (class and column names, file paths, errors), which must never be read as rich
# markup; the few styled words are rich Text objects. COLUMNS, where set, is the width.


class VisibleConsole(Console):
    """A rich console that shows control characters in what it prints as visible escapes
    (:func:`acakit._safe.visible`): class and column names, a store's variants, a config's name
    and error messages come from data, and an escape sequence among them must not reach the
    terminal. Only the text is changed; rich's own styling is untouched."""

    def _render_buffer(self, buffer: Any) -> str:
        from rich.segment import Segment

        from acakit._safe import visible

        return super()._render_buffer(
            s if s.control else Segment(visible(s.text, keep_newlines=True), s.style, s.control)
            for s in buffer)


console = VisibleConsole(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 150,
                         markup=False)
err_console = VisibleConsole(stderr=True, width=None if sys.stderr.isatty() else 300, markup=False)


def show_warning(message: object, category: type[Warning] | None = None, *args: Any,
                 **kwargs: Any) -> None:
    """Print a Python warning as one ``warning: ...`` line on stderr (no source path or code
    line; control characters made visible)."""
    text = " ".join(str(message).split("\n")[0].split())
    if text in _SHOWN:  # the same data loaded twice (a check, then the run) warns once
        return
    _SHOWN.add(text)
    err_console.print(Text.assemble(("warning:", "yellow"), f" {text}"), highlight=False,
                      soft_wrap=True)


#: Warning lines already printed by this process.
_SHOWN: set[str] = set()


class _WarningLines(logging.Handler):
    """acakit's log warnings (a damaged store row, a cache entry computed again) as
    ``warning: ...`` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            show_warning(record.getMessage())
            record.acakit_shown = True  # -q's log lines (:func:`_not_shown`) skip it
        except Exception:  # pragma: no cover
            self.handleError(record)


def _not_shown(record: logging.LogRecord) -> bool:
    """Filter of ``-q``'s log lines: a warning already printed as a ``warning:`` line (by
    :class:`_WarningLines`, which sees acakit's records before the root logger) is not printed
    again as a bare line."""
    return not getattr(record, "acakit_shown", False)


class _DetailLines(logging.Handler):
    """``acakit --verbose``: acakit's info and debug log lines on stderr, as they are (its
    warnings have their ``warning:`` lines)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            return
        try:
            err_console.print(record.getMessage(), markup=False, highlight=False, soft_wrap=True)
            record.acakit_shown = True  # not again by -q's log lines
        except Exception:  # pragma: no cover
            self.handleError(record)


def setup_output(verbose: bool = False) -> None:
    """Show Python warnings and acakit's log warnings as ``warning: ...`` lines (idempotent);
    each distinct line once per command. ``verbose``: acakit's debug lines too."""
    import warnings

    _SHOWN.clear()
    warnings.showwarning = show_warning
    log = logging.getLogger("acakit")
    if not any(isinstance(h, _WarningLines) for h in log.handlers):
        handler = _WarningLines(logging.WARNING)
        log.addHandler(handler)
    detail = [h for h in log.handlers if isinstance(h, _DetailLines)]
    for h in detail:  # an earlier command's --verbose (one process, as in tests)
        log.removeHandler(h)
    if verbose:
        log.addHandler(_DetailLines(logging.DEBUG))
        log.setLevel(logging.DEBUG)
    elif detail:
        log.setLevel(logging.NOTSET)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option(
        "--verbose", help="Print acakit's detail lines too (e.g. SQLite's whole report on a "
                          "damaged store); give it before the command.")] = False) -> None:
    setup_output(verbose)


#: Modules that add their own commands with a ``register(app)`` function.
COMMAND_MODULES: list[str] = ["acakit.cli.fairness", "acakit.cli.theory", "acakit.cli.store"]
COMMAND_MODULES += ["acakit.audit", "acakit.app.cli"]  # audit report, planner web app
COMMAND_MODULES.append("acakit.cli.multi")  # multiple collectives (acakit.multi)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error to stderr and return the exit to raise."""

    err_console.print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False,
                      soft_wrap=True)
    return typer.Exit(code)


def write_error(e: OSError, where: str | Path | None = None) -> str:
    """One line for a file that could not be written (a full disk, a folder made read-only
    meanwhile): the file the error names, else ``where`` (the output the command was writing)."""
    name = e.filename or where
    shown = repr(str(name)) if name else "an output file"
    return f"cannot write {shown} ({e.strerror or e})"


def disk_error(e: OSError) -> str:
    """:func:`write_error` for the outputs of a run: the store (written cell by cell) keeps
    every finished cell."""
    return f"{write_error(e)}; the store keeps every finished cell (acakit report STORE redraws the outputs)"


def check_output_file(path: Path, option: str) -> None:
    """Fail (exit 2, one line) unless ``path`` can be written, before any work; creates nothing."""
    from acakit.engine import writable_problem

    if path.is_dir():
        raise fail(f"{option}: {str(path)!r} is a folder, not a file")
    problem = writable_problem(path)
    if problem:
        raise fail(f"{option}: {problem}")


def _run(path: Path | dict[str, Any], jobs: int | None, out: Path | None, quiet: bool,
         **options: object) -> None:
    import logging

    from acakit.analyses import run_file
    from acakit.engine.config import ConfigError
    from acakit.engine.runners import CellFailedError, RunnerError, SweepInterrupted
    from acakit.engine.store import StoreError

    allow = options.pop("allow_module", None)
    if allow:
        from acakit.firms import allow_modules

        try:
            allow_modules(*allow)  # type: ignore[misc]
        except ValueError as e:
            raise fail(str(e)) from None
    if quiet:
        lines = logging.StreamHandler(sys.stderr)
        lines.addFilter(_not_shown)
        logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[lines])
    try:
        result = run_file(path, jobs=jobs, out_dir=None if out is None else str(out),
                          progress=not quiet, **options)
    except SweepInterrupted as e:
        import shlex

        err_console.print(e.message("acakit " + shlex.join(sys.argv[1:])), markup=False,
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except CellFailedError as e:
        raise fail(str(e), code=1) from None
    except (ConfigError, StoreError, RunnerError) as e:
        raise fail(str(e)) from None
    except OSError as e:  # a full disk while writing the tables and plots
        raise fail(disk_error(e)) from None
    result.show(console)
    if result.failures:  # exit codes: 0 every cell ok, 1 some cells failed, 2 bad input
        raise typer.Exit(1)


JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", "-j", help="Worker processes (default: all cores; 1: serial in this process).")]
# The engine's options, shared by every command that runs a config (``run``, ``fairness ...``).
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Output folder (default: output.dir).")]
StoreOpt = Annotated[Path | None, typer.Option(
    help="Result store (SQLite; default: output.store or <out>/results.sqlite). A rerun "
         "skips the cells it holds.")]
RunnerOpt = Annotated[str | None, typer.Option(
    help="serial, loky (local processes) or ray (default: serial for --jobs 1, else loky).")]
AddressOpt = Annotated[str | None, typer.Option(
    help="Ray cluster: auto or HOST:PORT (implies --runner ray; another --runner is "
         "refused; none: a local Ray).")]
RetryOpt = Annotated[bool, typer.Option(
    "--retry-failed", help="Run again the cells the store holds as failed.")]
CacheOpt = Annotated[bool, typer.Option(
    "--cache/--no-cache", help="Reuse data, splits and clean firms from the on-disk cache.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar: log lines.")]
MaxCellsOpt = Annotated[str | None, typer.Option(
    "--max-cells", metavar="INTEGER", help="Refuse a sweep of more cells than this (default "
    "50,000 or $ACAKIT_MAX_CELLS); counted before any cell is made.")]
ExtendOpt = Annotated[bool, typer.Option(
    "--extend", help="Add this config's cells to a store made by another experiment (refused "
                     "without it); the store keeps its own config, which acakit report redraws.")]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment or sweep config (YAML or TOML).")],
    jobs: JobsOpt = None,
    out: OutOpt = None,
    store: StoreOpt = None,
    runner: RunnerOpt = None,
    address: AddressOpt = None,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="Stop at the first failing cell (else: stored, sweep goes on).")] = False,
    retry_failed: RetryOpt = False,
    extend: ExtendOpt = False,
    cache: CacheOpt = True,
    quiet: QuietOpt = False,
    allow_module: Annotated[list[str] | None, typer.Option(
        "--allow-module", help="Also allow firm classes from this package in the config "
                               "(repeatable; see SECURITY.md).")] = None,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", metavar="INTEGER", help="GPUs for cells whose torch firm trains on a GPU "
        "(default: every GPU torch sees, or the Ray cluster's).")] = None,
    cells_per_gpu: Annotated[str | None, typer.Option(
        "--cells-per-gpu", metavar="INTEGER", help="GPU cells sharing one GPU at once (default "
        "2); the other workers run CPU cells.")] = None,
    max_cells: MaxCellsOpt = None,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", help="Seconds to wait for the Ray cluster at --address.")] = 2.0,
) -> None:
    """Run an experiment or sweep from a config file; print a table, write CSVs and plots."""
    _run(config, jobs, out, quiet, store=store if store is not None else True, runner=runner,
         address=address, fail_fast=fail_fast, retry_failed=retry_failed, cache=None if cache else False,
         allow_module=allow_module, gpus=integer_option(gpus),
         cells_per_gpu=integer_option(cells_per_gpu), max_cells=integer_option(max_cells),
         connect_timeout=connect_timeout, extend=extend)


def integer_option(value: str | None) -> int | str | None:
    """A numeric option as given: an int where it reads as one, else the text, so the engine
    refuses it in one line naming the option (as it does its config and environment twins)
    instead of typer's usage box."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return value


@app.command()
def quickstart(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("results/quickstart"),
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The demo: plant a signal in Adult against two firms, α from 0 to 0.2%; table + plot."""
    cfg = resources.files("acakit").joinpath("configs", "quickstart.yaml")
    with resources.as_file(cfg) as path:
        _run(path, jobs, out, quiet, store=True)  # kept: a rerun is instant, report redraws


@app.command()
def datasets() -> None:
    """List the data sets acakit can load, with their sizes."""
    from acakit.data import DATASETS, load

    table = Table(title="acakit data sets")
    for col in ("name", "kind", "rows", "classes", "sensitive", "description"):
        table.add_column(col)
    for name, (_, desc) in DATASETS.items():
        if name in ("csv", "text_folders", "rdatasets_text"):  # need parameters
            table.add_row(name, "-", "-", "-", "-", desc)
            continue
        try:
            ds = load(name)
        except ImportError as e:
            table.add_row(name, "?", "?", "?", "?", Text.assemble(desc, (f" ({e})", "red")))
            continue
        sens = ", ".join(ds.sensitive.columns) if ds.sensitive is not None else "-"
        table.add_row(name, ds.kind, f"{len(ds):,}", str(ds.n_classes), sens, desc)
    console.print(table)


@app.command()
def plugins(
    builtins: Annotated[bool, typer.Option("--builtins", help="List acakit's own pieces too.")] = False,
) -> None:
    """List the installed plugins (strategies, signals, firms, defenses, metrics, data sets):
    name, distribution and version, and whether each loads."""
    from acakit.registry import REGISTRIES, installed

    rows = installed()
    if builtins:
        from acakit import __version__

        rows = [{"kind": kind, "name": name, "distribution": "acakit", "version": __version__,
                 "target": "", "status": "built in"}
                for kind, reg in REGISTRIES.items() for name in reg.builtins()] + rows
    table = Table(title="acakit plugins" + (" and built-ins" if builtins else ""))
    for col in ("kind", "name", "distribution", "version", "entry point", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        ok = r["status"] in ("ok", "built in")
        table.add_row(*(Text(r[k]) for k in ("kind", "name", "distribution", "version", "target")),
                      Text(r["status"], style="" if ok else "red"))
    if not rows:
        console.print("no acakit plugin is installed (a distribution declares them as entry "
                      "points in the groups acakit.strategies, acakit.signals, acakit.firms, "
                      "acakit.defenses, acakit.metrics, acakit.datasets; see docs/extending.md)")
        return
    console.print(table)
    bad = [r for r in rows if r["status"] not in ("ok", "built in", "shadowed by a built-in")]
    if bad:
        raise typer.Exit(1)


_REGISTERED: list[str] = []


def _register_plugins() -> None:
    """Add the commands of :data:`COMMAND_MODULES` to the app, once (a second call adds none)."""
    for name in COMMAND_MODULES:
        if name not in _REGISTERED:
            importlib.import_module(name).register(app)
            _REGISTERED.append(name)


def main() -> None:
    """Entry point of the ``acakit`` script."""
    _register_plugins()
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
