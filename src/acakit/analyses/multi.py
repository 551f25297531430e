"""Tables and plots of a multi-collective results table (one line per collective and cell)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit.analyses import RunResult
from acakit.engine import RunInfo
from acakit.engine.multi import MultiConfig

#: under a table whose grid points are shown short
VARIANT_NOTE = ("grid point: only what varies between rows, short (q = noise level, p_drop + "
                "p_signal + p_label + p_feature_only); the full label is `variant` in results.csv")


@dataclass
class MultiRunResult(RunResult):
    """What :func:`run_config` produced (and :func:`acakit.analyses.report` redraws)."""

    results: pd.DataFrame
    config: MultiConfig
    files: list[Path] = field(default_factory=list)
    run: RunInfo | None = None

    def summary(self) -> pd.DataFrame:
        """Mean over seeds per (sweep value, collective), with ``success_all_lo``/``_hi``: an
        interval over seeds (:func:`acakit.analyses.curves.seed_estimate`, method named in
        ``interval``)."""
        from acakit.analyses.curves import seed_estimate

        cols = [c for c in ("alpha", "success_all", "success", "bound_worst", "bound_aggregate",
                            "bound_full", "finite_full", "success_alone", "efficacy_loss",
                            "constructiveness", "accuracy", "global_success", "n_acted",
                            "n_dropped", "n_perturbed", "n_mislabelled", "n_feature_only")
                if c in self.results]
        df = self.results.copy()
        df["sweep_alpha"] = df["sweep_alpha"].astype(float).fillna(-1.0)
        keys = ["sweep_alpha", "name"]
        if self.config.sweep.grid and "variant" in df:  # one line per grid point too
            keys = ["sweep_alpha", "variant", "name"]
        groups = df.groupby(keys, sort=False)
        out = groups[cols].mean().reset_index()
        ests = [seed_estimate(g["success_all"],
                              g["success_all_n"] if "success_all_n" in g else None,
                              self.config.confidence) for _, g in groups]
        out["success_all"] = [e["mean"] for e in ests]
        out["success_all_lo"] = [e["lo"] for e in ests]
        out["success_all_hi"] = [e["hi"] for e in ests]
        out["seeds"] = [e["seeds"] for e in ests]
        out["interval"] = [e["interval"] for e in ests]
        out["sweep_alpha"] = out["sweep_alpha"].replace(-1.0, np.nan)
        return out

    def show(self, console: Any) -> None:
        """Print the seeds-pooled table and the files written (grid points by what varies
        between them, in short form: the full label is the ``variant`` of ``results.csv``)."""
        from rich.text import Text

        from acakit.analyses.curves import band_label, ci_header
        from acakit.analyses.tables import alpha_strings, fitting_table, short_variants

        s = self.summary()
        sweep = self.config.sweep.collective
        table = fitting_table(Text(f"{self.config.name}: {len(self.config.collectives)} "
                                   f"collectives, {self.results['seed'].nunique()} seeds (success "
                                   "over all test points)"),
                              caption=Text(f"success: mean over seeds; CI: {band_label(s)}"))
        grid = bool(self.config.sweep.grid) and "variant" in s
        # columns that hold a number somewhere (bounds not computed are left out)
        optional = [(k, h) for k, h in (("bound_worst", "bound\nworst"),
                                        ("bound_aggregate", "bound\naggr."),
                                        ("bound_full", "bound\nfull"),
                                        ("finite_full", "finite\nfull"),
                                        ("efficacy_loss", "efficacy\nloss"))
                    if k in s and s[k].notna().any()]
        heads = (["α\n" + sweep] if sweep else []) + (["grid point"] if grid else []) + [
            "collective", "α", "success", ci_header(s).replace(" (", "\n("),
            *[h for _, h in optional], "accuracy"]
        for h in heads:
            table.add_column(Text(h), justify="left" if h in ("collective", "grid point")
                             else "right", no_wrap=h not in ("collective", "grid point"))

        def f(d: dict[str, Any], k: str) -> str:
            v = d.get(k, np.nan)
            return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v + 0.0:.3f}"

        swept = alpha_strings(s["sweep_alpha"]) if sweep else []
        alphas = alpha_strings(s["alpha"])
        labels = short_variants(list(s["variant"].astype(str))) if grid else []
        for i, d in enumerate(s.to_dict("records")):
            row = ([swept[i]] if sweep else []) + ([Text(labels[i])] if grid else []) + [
                Text(str(d["name"])), alphas[i], f(d, "success_all"),
                f"{f(d, 'success_all_lo')}-{f(d, 'success_all_hi')}",
                *[f(d, k) for k, _ in optional], f(d, "accuracy")]
            table.add_row(*row)
        console.print(table)
        m = self.results.iloc[-1]
        lines = [VARIANT_NOTE] if grid else []
        self.show_footer(console, *lines, f"last cell: label entropy {m['label_entropy']:.2f} bits, size "
                                  f"entropy {m['size_entropy']:.2f} bits, mean Jaccard "
                                  f"{m['mean_jaccard']:.2f}, mean signal overlap "
                                  f"{m['mean_overlap']:.2f}")


def analyze(cfg: MultiConfig, results: pd.DataFrame, out: Path) -> MultiRunResult:
    """``results.csv`` and the bounds-vs-measured plot of a multi results table (no fitting)."""
    from acakit.multi.analyses import plot_bounds_vs_measured

    out = Path(out)
    files = [out / "results.csv"]
    results.to_csv(files[0], index=False)
    if cfg.output.plot and cfg.sweep.collective is not None and "bound_full" in results:
        files += plot_bounds_vs_measured(results, "sweep_alpha", out / "bounds_vs_measured",
                                         title=cfg.name, xlabel=f"α of {cfg.sweep.collective}")
    return MultiRunResult(results, cfg, files)


def run_config(
    raw: dict[str, Any] | MultiConfig,
    jobs: int | None = 1,
    out_dir: str | None = None,
    progress: bool = True,
    **options: Any,
) -> MultiRunResult:
    """Run a multi-collective config end to end (:func:`acakit.analyses.run_experiment`).

    Parameters
    ----------
    raw : dict or MultiConfig
        The config (``experiment: multi``).
    jobs, out_dir, progress, **options :
        See :func:`acakit.engine.execute` (``store``, ``runner``, ``address``, ``fail_fast``,
        ``retry_failed``, ``cache``).

    Returns
    -------
    MultiRunResult
        ``results`` (one row per collective and cell), ``files``, ``run``.

    Raises
    ------
    acakit.engine.config.ConfigError
        One line: a target that is not a class, an empty signal or target set, sizes summing
        to more than 1, an unknown collective in the sweep, columns not in the data...
    """
    from acakit.analyses import run_experiment

    if isinstance(raw, dict):
        raw = {"experiment": "multi"} | raw
    return run_experiment(raw, jobs=jobs, out_dir=out_dir, progress=progress, **options)
