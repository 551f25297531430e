"""Tables and plots of a multi-collective results table (one line per collective and cell)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit._safe import write_atomic
from acakit.analyses import RunResult
from acakit.analyses.style import place_legend
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
        from acakit.analyses.tables import (
            alpha_strings,
            bound_text,
            fitting_table,
            short_variants,
        )

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
                             else "right", no_wrap=h not in ("collective", "grid point"),
                             overflow="fold" if h in ("collective", "grid point") else "ellipsis")

        def f(d: dict[str, Any], k: str) -> str:
            v = d.get(k, np.nan)
            return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v + 0.0:.3f}"

        above: list[str] = []

        def b(d: dict[str, Any], k: str) -> str:
            """A bound tier: vacuous at or below 0; † where the measured success is below it."""
            if k == "efficacy_loss":
                return f(d, k)
            text = bound_text(d.get(k, np.nan))
            v, measured = d.get(k, np.nan), d.get("success_all", np.nan)
            if text not in ("-", "vacuous") and pd.notna(measured) and measured < v:
                above.append(k)
                return text + "†"
            return text

        swept = alpha_strings(s["sweep_alpha"]) if sweep else []
        alphas = alpha_strings(s["alpha"])
        labels = short_variants(list(s["variant"].astype(str))) if grid else []
        for i, d in enumerate(s.to_dict("records")):
            row = ([swept[i]] if sweep else []) + ([Text(labels[i])] if grid else []) + [
                Text(str(d["name"])), alphas[i], f(d, "success_all"),
                f"{f(d, 'success_all_lo')}-{f(d, 'success_all_hi')}",
                *[b(d, k) for k, _ in optional], f(d, "accuracy")]
            table.add_row(*row)
        console.print(table)
        m = self.results.iloc[-1]
        lines = [VARIANT_NOTE] if grid else []
        bc = self.config.bounds
        if any(k.startswith(("bound_", "finite_")) for k, _ in optional):
            lines.append(
                "bounds (lower bounds on success, Battiloro et al.'s tiers of knowledge of the "
                "others): worst / aggr. / full are plug-in values for a firm that is ε-optimal "
                f"on the mixture (ε = {bc.epsilon:g}; ε = 0: Bayes-optimal), with P0 estimated "
                "from the data; they do not hold for the firm trained here, whose own "
                "suboptimality costs a term of order ε/α; finite full: the finite-sample tier, "
                f"holding with probability >= {1 - bc.delta:g}; vacuous: the bound is <= 0 and "
                "says nothing")
        if above:
            lines.append(f"†: the measured success is below this plug-in bound ({len(above)} "
                         "values): the firm trained here is not the Bayes-optimal firm the "
                         "tier assumes (its suboptimality ε is not 0), not a failure of the bound")
        self.show_footer(console, *lines, f"last cell: label entropy {m['label_entropy']:.2f} bits, size "
                                  f"entropy {m['size_entropy']:.2f} bits, mean Jaccard "
                                  f"{m['mean_jaccard']:.2f}, mean signal overlap "
                                  f"{m['mean_overlap']:.2f}")


def analyze(cfg: MultiConfig, results: pd.DataFrame, out: Path) -> MultiRunResult:
    """``results.csv`` and the bounds-vs-measured plot of a multi results table (no fitting)."""
    from acakit.analyses.multi_plots import plot_bounds_vs_measured

    out = Path(out)
    files = [out / "results.csv"]
    write_atomic(files[0], lambda t: results.to_csv(t, index=False))
    if cfg.output.plot and cfg.sweep.collective is not None and "bound_full" in results:
        files += plot_bounds_vs_measured(results, "sweep_alpha", out / "bounds_vs_measured",
                                         title=cfg.name, xlabel=f"α of {cfg.sweep.collective}")
    elif cfg.output.plot and cfg.sweep.collective is not None and not cfg.sweep.grid:
        # bounds not computed: the measured curves alone, against the swept size
        files += plot_bounds_vs_measured(results, "sweep_alpha", out / "success",
                                         title=cfg.name, xlabel=f"α of {cfg.sweep.collective}")
    elif cfg.output.plot and "variant" in results:
        files += plot_grid_success(results, out / "success", title=cfg.name)
    return MultiRunResult(results, cfg, files)


def plot_grid_success(results: pd.DataFrame, path: str | Path, title: str | None = None,
                      formats: tuple[str, ...] = ("png",)) -> list[Path]:
    """Success of each collective over the grid points of a multi sweep (no fitting).

    With a noise spec in the grid the x axis is the noise level q (the sum of the spec's
    probabilities) and there is one line per collective and per value of the other grid keys
    (e.g. one line per size); otherwise one bar group per grid point. Points are seed means
    with min-max over seeds as error bars.

    Parameters
    ----------
    results : DataFrame
        A multi results table (``variant``, ``name``, ``success_all``, ``seed``).
    path : str or Path
        Output path without suffix.
    title : str, optional
    formats : tuple of str, default ("png",)

    Returns
    -------
    list of Path
        The files written.
    """
    from acakit.analyses.curves import _pyplot, save_figure
    from acakit.analyses.labels import legend_labels
    from acakit.analyses.tables import noise_level, variant_values

    plt = _pyplot()
    df = results.copy()
    labels = list(dict.fromkeys(df["variant"].astype(str)))
    parsed = {v: variant_values(v) for v in labels}
    noise_keys = [k for k in dict.fromkeys(k for d in parsed.values() for k in d)
                  if any(noise_level(d.get(k)) is not None for d in parsed.values())]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if noise_keys:
        key = noise_keys[0]
        q = {v: noise_level(parsed[v].get(key)) or 0.0 for v in labels}
        rest = {v: {k: x for k, x in parsed[v].items() if k != key} for v in labels}
        rest_labels = dict(zip(labels, legend_labels(
            [", ".join(f"{k}={x}" for k, x in r.items()) or "base" for r in rest.values()]),
            strict=True))
        if all(not r for r in rest.values()):  # q is all that varies: the collective names a line
            rest_labels = dict.fromkeys(labels, "")
        df["_q"] = df["variant"].astype(str).map(q)
        df["_line"] = (df["variant"].astype(str).map(rest_labels).map(lambda t: f"{t} · " if t else "")
                       + df["name"].astype(str))
        for line, g in df.groupby("_line", sort=False):
            m = g.groupby("_q")["success_all"].agg(["mean", "min", "max"]).sort_index()
            ax.errorbar(m.index, m["mean"], yerr=[m["mean"] - m["min"], m["max"] - m["mean"]],
                        fmt="o-", capsize=2, label=str(line))
        ax.set_xlabel("noise level q (p_drop + p_signal + p_label)")
    else:
        short = dict(zip(labels, legend_labels(labels), strict=True))
        names = list(dict.fromkeys(df["name"].astype(str)))
        width = 0.8 / max(len(names), 1)
        for j, name in enumerate(names):
            g = df[df["name"].astype(str) == name]
            m = g.groupby(g["variant"].astype(str), sort=False)["success_all"].mean()
            xs = [labels.index(v) + j * width for v in m.index]
            ax.bar(xs, m.to_numpy(), width=width, label=name)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))],
                      [short[v] for v in labels], rotation=20, ha="right", fontsize="small")
        ax.set_xlabel("grid point")
    ax.set_ylabel("success (all test points)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "success over the grid", fontsize="medium")
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="small")
    files = save_figure(fig, path, formats)
    plt.close(fig)
    return files


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
