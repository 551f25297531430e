"""Analyses: tables and plots that are functions of a results table, for every experiment kind.

The layer above the engine: :func:`run_experiment` is :func:`acakit.engine.execute` (validate,
run every cell, store) followed by the kind's ``analyze`` (tables, plots, the terminal summary);
:func:`report` is :func:`acakit.engine.load_run` (the results table of a store, nothing fitted)
followed by the same ``analyze``, so ``acakit report STORE`` writes what ``acakit run`` wrote.

Each kind's module (:data:`ANALYZERS`) has ``analyze(config, results, out) -> result``; a
result has ``results``, ``files``, ``show(console)`` and ``run`` (:class:`acakit.engine.RunInfo`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pandas as pd

from acakit.engine import EngineRun, RunInfo, execute, load_run

#: experiment kind -> the module that analyses its results table.
ANALYZERS: dict[str, str] = {
    "collective": "acakit.analyses.single",
    "multi": "acakit.analyses.multi",
    "fairness": "acakit.analyses.fairness",
    "gradient": "acakit.analyses.gradient",
}


class RunResult:
    """Mixin of every kind's result: ``run`` (:class:`RunInfo`) and views of it.

    :func:`analyze` sets ``run`` after the kind's ``analyze``; until then the views are empty.
    """

    run: RunInfo | None = None

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(cell_id, error)`` of the failed cells."""
        return [] if self.run is None else self.run.failures

    @property
    def store(self) -> Path | None:
        """The store path (None without a store)."""
        return None if self.run is None else self.run.store

    @property
    def n_run(self) -> int:
        """Cells run now."""
        return 0 if self.run is None else self.run.n_run

    @property
    def n_cached(self) -> int:
        """Cells taken from the store."""
        return 0 if self.run is None else self.run.n_cached

    def show_footer(self, console: Any, *lines: str) -> None:
        """What every kind prints under its table: the cell counts and the store, the fit
        warnings (each cell counted once), ``lines``, the files written and the time taken."""
        from rich.text import Text

        if self.run is not None:
            self.run.show(console)
        results: pd.DataFrame = getattr(self, "results")  # noqa: B009  (every result has it)
        show_fit_warnings(console, results.drop_duplicates("cell_id") if "cell_id" in results
                          else results)
        for line in [*trivial_firm_lines(results), *lines]:
            console.print(line, highlight=False, markup=False)
        for f in getattr(self, "files", []):
            console.print(Text(f"wrote {f}"), highlight=False)
        if self.run is not None and self.run.n_run:
            console.print(f"took {self.run.seconds:.1f} s")


def trivial_firm_lines(results: pd.DataFrame) -> list[str]:
    """One warning line per firm whose clean predictions were trivial in some cells.

    Reads the ``trivial_firm`` column (see :func:`acakit.metrics.trivial_firm`); empty when the
    column is missing or every firm is fine.
    """
    if "trivial_firm" not in results:
        return []
    if "kind" in results:  # fairness: the clean firm is the no-action cell's (baselines: table)
        results = results[results["kind"] == "no_action"]
    flags = results["trivial_firm"].fillna("").astype(str)
    cells = results.drop_duplicates("cell_id") if "cell_id" in results else results
    out = []
    firms = results["firm"].astype(str) if "firm" in results else pd.Series("firm", results.index)
    for firm in dict.fromkeys(firms[flags != ""]):
        mine = (firms == firm) & (flags != "")
        reasons = list(dict.fromkeys(flags[mine]))
        n_bad = int(cells.index.isin(results.index[mine]).sum())
        n_all = int(cells.index.isin(results.index[firms == firm]).sum())
        out.append(f"warning: trivial firm {firm} (clean, no collective) in {n_bad} of {n_all} "
                   f"cells: {reasons[0]}; success, erasure and fairness numbers of a firm that "
                   "predicts (almost) one class say little about the collective")
    return out


def analyze(run: EngineRun, out: str | Path | None = None, allow_partial: bool = False) -> Any:
    """Tables and plots of an engine run (its kind's ``analyze``), written to ``out``
    (default: the run's output folder).

    A run whose grid is not complete (cells missing or failed) is refused with one line
    (:class:`acakit.engine.PartialRunError`) unless ``allow_partial``; then every figure carries
    a "partial: k of n cells" note and the terminal summary says so above its counts.
    """
    from acakit.analyses.labels import label_overrides
    from acakit.analyses.style import partial_note, seeds_note
    from acakit.engine import check_complete

    check_complete(run, allow_partial)
    mod = importlib.import_module(ANALYZERS[run.kind])
    folder = Path(out) if out is not None else run.out
    folder.mkdir(parents=True, exist_ok=True)
    seeds = run.results["seed"].nunique() if "seed" in run.results else None
    with (partial_note(run.info.partial), seeds_note(seeds),
          label_overrides(getattr(run.config, "labels", None))):
        res = mod.analyze(run.config, run.results, folder)
    res.run = run.info
    return res


def run_experiment(config: Any, jobs: int | None = 1, out_dir: str | Path | None = None,
                   progress: bool = True, **options: Any) -> Any:
    """Run a config of any kind end to end: :func:`acakit.engine.execute`, then :func:`analyze`.

    Parameters
    ----------
    config : str, Path, dict or a parsed config
        See :func:`acakit.engine.prepare`.
    jobs, out_dir, progress, **options :
        See :func:`acakit.engine.execute` (``store``, ``runner``, ``address``, ``fail_fast``,
        ``retry_failed``, ``cache``): every kind takes every option.

    Returns
    -------
    result
        The kind's result (``results``, tables, ``files``, ``show(console)``, ``run``).
    """
    # a run's own failures are reported by it (exit 1): its outputs are drawn, marked partial
    return analyze(execute(config, jobs=jobs, out_dir=out_dir, progress=progress, **options),
                   allow_partial=True)


def run_file(path: Any, jobs: int | None = 1, out_dir: str | None = None, progress: bool = True,
             **options: Any) -> Any:
    """Run any config file (single, multi, fairness): :func:`run_experiment` of the file."""
    return run_experiment(path, jobs=jobs, out_dir=out_dir, progress=progress, **options)


def report(store: str | Path, out_dir: str | Path | None = None, allow_partial: bool = False,
           style: str | None = None) -> Any:
    """Redraw every table and plot of a run from its store alone, fitting nothing.

    Parameters
    ----------
    store : str or Path
        A store written by :func:`run_experiment` (``acakit run``), of any kind.
    out_dir : str or Path, optional
        Where to write (default: the store's folder, where the run wrote them).
    allow_partial : bool, default=False
        Draw a store whose grid is not complete (cells missing or failed), every output marked
        "partial: k of n cells"; without it such a store is refused.
    style : {"default", "paper"}, optional
        The figures' style (:func:`acakit.analyses.style.figure_style`): ``paper`` draws them
        one column wide with print-sized fonts and adds a vector PDF of each.

    Returns
    -------
    result
        The kind's result object, as the run returned it (``run.n_run`` is 0).

    Raises
    ------
    acakit.engine.store.StoreError
        See :func:`acakit.engine.load_run`.
    acakit.engine.PartialRunError
        The store holds part of its config's grid (one line: what is missing, how to finish).
    """
    from acakit.analyses.style import figure_style

    with figure_style(style):  # an unknown style is refused before the store is read
        return analyze(load_run(store, out_dir), allow_partial=allow_partial)


def fit_warning_summary(results: pd.DataFrame) -> str:
    """One line on the warnings the sweep's fits raised (``""`` if none).

    Parameters
    ----------
    results : DataFrame
        Rows of a sweep; cells without a ``fit_warnings`` value (e.g. stored by an older
        acakit) count as silent.

    Returns
    -------
    str
        E.g. ``"12 of 18 cells warned while fitting (column fit_warnings): ConvergenceWarning:
        Liblinear failed to converge, ... (12 cells)"``, the most frequent message first.

    Examples
    --------
    >>> import pandas as pd
    >>> fit_warning_summary(pd.DataFrame({"fit_warnings": ["", "UserWarning: w", None]}))
    '1 of 3 cells warned while fitting (column fit_warnings): UserWarning: w (1 cell)'
    """
    if "fit_warnings" not in results or results.empty:
        return ""
    texts = results["fit_warnings"].fillna("").astype(str)
    warned = texts[texts != ""]
    if warned.empty:
        return ""
    counts = warned.str.split(" | ", regex=False).explode().value_counts()
    top = ", ".join(f"{m} ({c} cell{'s' if c > 1 else ''})" for m, c in counts.head(2).items())
    more = f", and {len(counts) - 2} other messages" if len(counts) > 2 else ""
    return (f"{len(warned)} of {len(texts)} cells warned while fitting (column fit_warnings): "
            f"{top}{more}")


def show_fit_warnings(console: Any, results: pd.DataFrame) -> None:
    """Print :func:`fit_warning_summary` of ``results`` on a rich console, if any fit warned."""
    warned = fit_warning_summary(results)
    if warned:
        console.print(warned, highlight=False, markup=False)
