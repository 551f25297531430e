"""Tables and plots of a single-collective results table (success vs α, seeds pooled)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from acakit._safe import write_atomic
from acakit.analyses import RunResult
from acakit.engine import RunInfo


@dataclass
class SweepResult(RunResult):
    """What :func:`run_config` produced (and :func:`acakit.analyses.report` redraws)."""

    results: pd.DataFrame
    summary: pd.DataFrame
    files: list[Any]
    title: str = "results"
    run: RunInfo | None = None
    """Cells run now, from the store, failed; the store path."""
    defenses: pd.DataFrame | None = None
    """Per-variant critical mass, price and detection when the firm defends itself
    (:func:`acakit.analyses.defenses.defense_summary`), else None."""
    game: Any = None
    """The game between the firm's defenses and the collective's answers when the config has
    ``game:`` (:class:`acakit.analyses.game.GameResult`), else None."""
    metrics: pd.DataFrame | None = None
    """The further metrics (config ``metrics:``) per variant and α, mean and t interval over
    seeds (``metrics.csv``), else None."""

    def show(self, console: Any) -> None:
        """Print the seeds-pooled summary table and the files written on a rich console."""
        from rich.text import Text

        from acakit.analyses.curves import band_label, ci_header, main_metric
        from acakit.analyses.tables import alpha_strings, fitting_table, short_variants

        metric = main_metric(self.results)
        table = fitting_table(Text(f"{self.title}: {metric} vs collective size"),
                              caption=Text(f"mean over seeds; CI: {band_label(self.summary)}; "
                                           "variant: what varies, short (full in results.csv)"))
        for col in ("variant", "α (%)", "members", "seeds", metric,
                    ci_header(self.summary).replace(" (", "\n("), "accuracy"):
            # a label may wrap onto two lines; a number never is cut
            table.add_column(col, justify="left" if col == "variant" else "right",
                             no_wrap=col != "variant",
                             overflow="fold" if col == "variant" else "ellipsis")
        labels = short_variants(list(self.summary["variant"].astype(str)))
        alphas = alpha_strings(100 * self.summary["alpha"].astype(float))
        for i, d in enumerate(self.summary.to_dict("records")):
            table.add_row(
                Text(labels[i]), alphas[i], f"{d['n_members']:.0f}",
                str(d["seeds"]), f"{d[metric]:.3f}",
                f"{d[metric + '_lo']:.3f}-{d[metric + '_hi']:.3f}", f"{d['accuracy']:.3f}",
            )
        console.print(table)
        if self.defenses is not None:
            dt = fitting_table(Text(f"{self.title}: defenses (critical mass, detection, price)"))
            d_frame = self.defenses
            # the defense has its own column: the variant names what else varies, if anything
            short = (short_variants(list(d_frame["variant"].astype(str)))
                     if "variant" in d_frame else [])
            rest = [re.sub(r"(^| )name=\S+", "", v).strip() for v in short]
            cols = [c for c in d_frame.columns if c != "variant" or any(rest)]
            for col in cols:
                label = col in ("variant", "defense")
                dt.add_column(_defense_header(col), no_wrap=not label,
                              overflow="fold" if label else "ellipsis",
                              justify="left" if label else "right")
            # sizes (critical α) with the one rule for α's digits, per column
            sizes = {c: ["not\nreached" if a == "-" else a for a in alpha_strings(d_frame[c])]
                     for c in cols if c.startswith("critical_alpha")}
            for i, d in enumerate(d_frame.to_dict("records")):
                dt.add_row(*(Text(rest[i] or "base") if c == "variant" else sizes[c][i]
                             if c in sizes else Text(str(d[c])) if isinstance(d[c], str)
                             else _defense_number(c, d[c]) for c in cols))
            console.print(dt)
        if self.game is not None:
            self.game.show(console, self.title)
        if self.metrics is not None:
            self._show_metrics(console)
        self.show_footer(console)

    def _show_metrics(self, console: Any) -> None:
        from rich.text import Text

        from acakit.analyses.tables import alpha_strings, fitting_table, short_variants

        m = self.metrics
        cols = [c for c in m.columns if c not in ("variant", "alpha", "seeds")
                and not c.endswith(("_lo", "_hi"))]
        table = fitting_table(Text(f"{self.title}: further metrics"),
                              caption=Text("mean over seeds; CI: 95% t over seeds, not clipped "
                                           "(none with 1 seed)"))
        table.add_column("variant", overflow="fold")
        table.add_column("α (%)", justify="right", no_wrap=True)
        for c in cols:
            table.add_column(Text(c), justify="right", no_wrap=True)
            table.add_column("CI", justify="right", no_wrap=True)
        labels = short_variants(list(m["variant"].astype(str)))
        alphas = alpha_strings(100 * m["alpha"].astype(float))
        for i, d in enumerate(m.to_dict("records")):
            cells = []
            for c in cols:
                lo, hi = d[f"{c}_lo"], d[f"{c}_hi"]
                cells += [f"{d[c]:.3f}", "-" if pd.isna(lo) else f"{lo:.3f} to {hi:.3f}"]
            table.add_row(Text(labels[i]), alphas[i], *cells)
        console.print(table)


#: short two-line headers of the defenses table (the CSV keeps the column names)
_DEFENSE_HEADERS = {"critical_members": "members\nat α*", "max_success": "max\nsuccess",
                    "clean_accuracy": "clean\naccuracy", "accuracy_at_max_alpha": "accuracy\nat max α",
                    "honest_dropped": "honest\ndropped", "precision": "preci-\nsion"}


def _defense_header(col: str) -> str:
    if col.startswith("critical_alpha@"):
        return "α*\n@" + col.split("@", 1)[1]
    return _DEFENSE_HEADERS.get(col, col)


def _defense_number(col: str, v: Any) -> str:
    if v is None or pd.isna(v):
        return "-"
    return f"{v:.0f}" if col == "critical_members" else f"{v:.3f}"


def analyze(cfg: Any, results: pd.DataFrame, out: Any) -> SweepResult:
    """Tables and plots of a single-collective results table (``results.csv``, ``summary.csv``,
    ``success.png``/``.svg``); nothing is fitted."""

    from acakit.analyses.curves import plot_success, summarize

    out = Path(out)
    summary = summarize(results, confidence=cfg.confidence)
    files: list[Any] = [out / "results.csv", out / "summary.csv"]
    write_atomic(files[0], lambda t: results.to_csv(t, index=False))
    write_atomic(files[1], lambda t: summary.to_csv(t, index=False))
    if cfg.output.plot:
        files += plot_success(results, out / "success", title=cfg.name)
    defenses = None
    from acakit.analyses.defenses import analyze_defenses, defense_summary, has_defenses

    if has_defenses(results):
        files += analyze_defenses(results, out, title=cfg.name, plot=cfg.output.plot)
        defenses = defense_summary(results)
    game = None
    if getattr(cfg, "game", None) is not None:
        from acakit.analyses.game import analyze_game

        game = analyze_game(results, cfg.sweep.grid, out, cfg.game, title=cfg.name,
                            plot=cfg.output.plot, confidence=cfg.confidence,
                            allow_partial=True)  # a partial run was refused or marked above
        files += game.files
    metrics = None
    names = [m.name for m in getattr(cfg, "metrics", [])]
    if names:
        from acakit.analyses.curves import metric_columns_of, plot_values, summarize_values

        metrics = None
        for col in metric_columns_of(results, names):
            part = summarize_values(results, col, cfg.confidence).drop(columns="interval")
            metrics = part if metrics is None else metrics.merge(
                part.drop(columns="seeds"), on=["variant", "alpha"], how="outer")
            if cfg.output.plot:
                files += plot_values(results, col, out / col, title=cfg.name,
                                     confidence=cfg.confidence)
        if metrics is not None:
            files.append(out / "metrics.csv")
            write_atomic(files[-1], lambda t: metrics.to_csv(t, index=False))
    return SweepResult(results, summary, files, title=cfg.name, defenses=defenses, game=game,
                       metrics=metrics)


def run_config(
    config: Any,
    jobs: int | None = 1,
    out_dir: str | None = None,
    progress: bool = True,
    **options: Any,
) -> SweepResult:
    """Run a single-collective config end to end (:func:`acakit.analyses.run_experiment`).

    Parameters
    ----------
    config : str, Path, dict or ExperimentConfig
        A config file, a config dict, or a parsed config.
    jobs, out_dir, progress, **options :
        See :func:`acakit.engine.execute` (``store``, ``runner``, ``address``, ``fail_fast``,
        ``retry_failed``, ``cache``).

    Returns
    -------
    SweepResult
        ``results`` (one row per successful cell), ``summary`` (seeds pooled), the files written
        (``results.csv``, ``summary.csv``, ``success.png``, ``success.svg``) and ``run`` (cells
        run now, from the store, failed; the store path).

    Raises
    ------
    acakit.engine.config.ConfigError
        Invalid config or a grid of 0 cells.
    acakit.engine.store.StoreError
        Corrupt, foreign or unwritable store.
    acakit.engine.runners.RunnerError
        Every cell failed, or the runner could not run.
    """
    from acakit.analyses import run_experiment

    if isinstance(config, dict):
        config = {"experiment": "collective"} | config
    return run_experiment(config, jobs=jobs, out_dir=out_dir, progress=progress, **options)
