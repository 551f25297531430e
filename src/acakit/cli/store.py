"""``acakit results PATH`` (summarise, list failures, export) and ``acakit report PATH`` (redraw
every table and plot of the run from the store alone) for stores of every experiment kind."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def results(
    path: Annotated[Path, typer.Argument(help="A result store (.sqlite) written by acakit run.")],
    failed: Annotated[bool, typer.Option("--failed", help="List the failed cells with their error.")] = False,
    traceback: Annotated[bool, typer.Option("--traceback", help="With --failed: full tracebacks.")] = False,
    export: Annotated[list[Path] | None, typer.Option(
        "--export", "-e", help="Write every cell to a .csv or .parquet file, or the summary "
        "tables the terminal prints to a .tex (booktabs) or .md file (repeatable).")] = None,
    manifest: Annotated[bool, typer.Option(
        "--manifest", help="Print what made each run into the store: acakit's version and git "
        "commit, Python, platform, library versions, command line, data file hashes.")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Write the run's config (as the store keeps it) to this YAML file, to "
        "finish or repeat the run with acakit run FILE --store PATH.")] = None,
) -> None:
    """Summarise a result store: cells per variant, ok / failed, mean metrics; export it."""
    from rich.table import Table
    from rich.text import Text

    from acakit.cli import check_output_file, console, fail
    from acakit.engine.manifest import read_manifests
    from acakit.engine.store import ResultStore, StoreError
    from acakit.engine.store import export as export_store
    from acakit.engine.store import summary as store_summary

    for dest in export or []:  # before reading anything
        check_output_file(dest, "--export")
    if config is not None:
        check_output_file(config, "--config")
    try:
        with ResultStore(path, readonly=True) as st:
            counts = st.counts()
            recs = st.records(status="failed") if failed else []
            runs = read_manifests(st)
        table_df = store_summary(path)
        written = []
        for dest in export or []:  # each export with the manifests of the runs that made it
            if dest.suffix.lower() in (".tex", ".md"):
                written.append(paper_table(path, dest))
            else:
                written.append(export_store(path, dest))
            written.append(write_manifests(runs, dest.with_name(dest.name + ".manifest.json")))
        if config is not None:
            written.append(write_stored_config(path, config))
    except StoreError as e:
        raise fail(str(e)) from None
    total = counts["ok"] + counts["failed"]
    table = Table(title=f"{path}: {total} cells, {counts['ok']} ok, {counts['failed']} failed")
    for col in table_df.columns:
        table.add_column(str(col), justify="left" if col in ("variant", "dataset", "firm") else "right",
                         no_wrap=True)
    for rec in table_df.to_dict("records"):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in rec.values()])
    console.print(table)
    for rec in recs:
        console.print(Text.assemble(("failed", "red"), f" {rec['cell_id']} ({rec['variant']}): "
                                                       f"{rec['error']}"),
                      highlight=False)
        if traceback and rec["traceback"]:
            console.print(rec["traceback"], highlight=False, markup=False)
    if manifest:
        show_manifests(console, path, runs)
    for w in written:
        console.print(f"wrote {w}")


def paper_table(store: Path, dest: Path) -> Path:
    """The summary tables of a store's run (as ``acakit report`` prints them) as LaTeX or
    Markdown; a partial store's tables say so in every caption. Draws no figure."""
    import tempfile

    from acakit.analyses import analyze
    from acakit.analyses.paper import write_tables
    from acakit.engine import load_run

    with tempfile.TemporaryDirectory(prefix="acakit-table-") as tmp:
        run = load_run(store, tmp)
        output = run.config.output.model_copy(update={"plot": False})
        run.config = run.config.model_copy(update={"output": output})
        result = analyze(run, tmp, allow_partial=True)
        return write_tables(result, dest, run.info.partial)


def write_manifests(runs: list[dict[str, Any]], dest: Path) -> Path:
    """Write a store's manifests as JSON beside an exported file; returns ``dest``."""
    import json

    from acakit._safe import write_atomic

    text = json.dumps(runs, indent=1, sort_keys=True)
    write_atomic(dest, lambda t: Path(t).write_text(text, encoding="utf-8"))
    return dest


def show_manifests(console: Any, path: Path, runs: list[dict[str, Any]]) -> None:
    """Print the manifests of a store's runs (oldest first), and what changed between them."""
    from rich.text import Text

    from acakit.engine.manifest import differences

    if not runs:
        console.print(Text(f"{path}: no manifest (the store was written by an acakit without "
                           "manifests)"), highlight=False)
        return
    for i, m in enumerate(runs, 1):
        console.print(Text(f"run {i} of {len(runs)}, {m.get('time', '?')}", style="bold"),
                      highlight=False)
        lines = [f"acakit {m.get('acakit')}" + (f" (git {m['git_commit']})"
                                                  if m.get("git_commit") else ""),
                 f"python {m.get('python')} on {m.get('platform')}",
                 f"command: {m.get('command')}"]
        libs = m.get("libraries", {})
        imported = set(m.get("imported", []))
        lines += [f"{name} {v}" + (" (imported)" if name in imported else "")
                  for name, v in libs.items() if v is not None]
        lines += [f"{name}: not installed" for name, v in libs.items() if v is None]
        lines += [f"data {p}: sha256 {h}" for p, h in m.get("data_sha256", {}).items()]
        for line in lines:
            console.print(Text("  " + line), highlight=False)
        if i > 1:
            for d in differences(runs[i - 2], m):
                console.print(Text(f"  changed since run {i - 1}: {d}", style="yellow"),
                              highlight=False)


def write_stored_config(store: Path, dest: Path) -> Path:
    """Write the config a store keeps (its validated form) to ``dest`` as YAML; returns ``dest``."""
    import json

    import yaml

    from acakit._safe import write_atomic
    from acakit.engine import META_CONFIG, META_KIND
    from acakit.engine.store import ResultStore, StoreError

    with ResultStore(store, readonly=True) as st:
        kind, raw = st.get_meta(META_KIND), st.get_meta(META_CONFIG)
    if kind is None or raw is None:
        raise StoreError(f"results: {str(store)!r} holds no config (written by an older acakit)")
    cfg = json.loads(raw)
    cfg["experiment"] = kind
    text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
    write_atomic(dest, lambda t: Path(t).write_text(text, encoding="utf-8"))
    return dest


def report(
    path: Annotated[Path, typer.Argument(help="A result store (.sqlite) written by acakit run.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: the store's folder, where the run wrote).")] = None,
    table: Annotated[list[Path] | None, typer.Option(
        "--table", help="Also write the summary tables as LaTeX (.tex, booktabs) or Markdown "
        "(.md), as the terminal prints them (repeatable).")] = None,
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", help="Draw a store whose grid is not complete (cells missing or failed); "
        "every table and figure says 'partial: k of n cells'.")] = False,
    style: Annotated[str, typer.Option(
        "--style", help="Figure style: default, or paper (one column of a two-column paper, "
        "print-sized fonts, a vector PDF beside each PNG).")] = "default",
) -> None:
    """Redraw every table and plot of a run from its store alone (nothing is fitted).

    A store holding only part of its config's grid is refused (one line: what is missing and
    how to finish it) unless --allow-partial."""
    from acakit.analyses import report as engine_report
    from acakit.analyses.paper import write_tables
    from acakit.analyses.style import STYLES
    from acakit.cli import check_output_file, console, disk_error, fail
    from acakit.engine import PartialRunError
    from acakit.engine.config import ConfigError
    from acakit.engine.store import StoreError

    if style not in STYLES:
        raise fail(f"--style: {style!r} is not one of {', '.join(STYLES)}")
    for dest in table or []:
        check_output_file(dest, "--table")
        if dest.suffix.lower() not in (".tex", ".md"):
            raise fail(f"--table: {dest.name!r} must end in .tex or .md")
    try:
        result = engine_report(path, out, allow_partial=allow_partial, style=style)
        for dest in table or []:
            result.files.append(write_tables(result, dest, result.run.partial if result.run
                                             else ""))
    except (StoreError, ConfigError, PartialRunError) as e:
        raise fail(str(e)) from None
    except OSError as e:  # a full disk while writing the tables and plots
        raise fail(disk_error(e)) from None
    result.show(console)


def register(app: typer.Typer) -> None:
    """Add the ``results`` and ``report`` commands to the acakit app."""
    app.command(name="results")(results)
    app.command(name="report")(report)
