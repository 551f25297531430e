"""Tables and plots of a fairness results table: headline, Pareto frontier, flip efficiency,
α and sample-size sensitivity (the table functions are in :mod:`acakit.analyses.fairness_tables`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit._safe import write_atomic
from acakit.analyses import RunResult
from acakit.engine import RunInfo
from acakit.engine.config import ConfigError
from acakit.engine.fairness import ANALYSES, FairnessConfig, defense_name, parse_fairness_config


@dataclass
class FairnessResult(RunResult):
    """What :func:`run_config` produced: the cell table, the analysis tables, the files."""

    results: pd.DataFrame
    config: FairnessConfig
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    run: RunInfo | None = None

    def headline(self) -> pd.DataFrame:
        """Seed means at the main α and m: no action, each method's threshold point and best
        budget, and the baselines."""
        from acakit.analyses.fairness_tables import headline_table

        return headline_table(self.results, self.config.relabel.alpha,
                              str(self.config.relabel.majority_sample), self.config.unfairness)

    def show(self, console: Any) -> None:
        """Print the table of each analysis run (the headline at the main α, the saturation of
        the best gap over α) and the files written on a rich console."""
        from acakit.analyses.tables import fitting_table

        if "alpha" in self.tables:
            self._show_alpha(console, fitting_table)
        if set(self.config.analyses) <= {"alpha"}:
            self.show_footer(console)
            return
        self._show_headline(console)

    def _show_alpha(self, console: Any, fitting_table: Any) -> None:
        from rich.text import Text

        from acakit.analyses.fairness_tables import SATURATION_TOLERANCE, saturation

        m = self.config.unfairness
        t = self.tables["alpha"]
        methods = list(dict.fromkeys(t["method"]))
        table = fitting_table(
            Text(f"{self.config.name}: best {m} over budgets"),
            caption=Text(f"α: fraction of the minority; mean over {len(self.config.seeds)} "
                         f"seed(s); *: saturation, the smallest α whose best gap is within "
                         f"{SATURATION_TOLERANCE} of the method's lowest"))
        table.add_column("α", justify="right", no_wrap=True)
        for meth in methods:
            table.add_column(meth, justify="right", no_wrap=True)
        sat = saturation(t, m)
        at = dict(zip(sat["method"], sat["alpha_saturation"], strict=True)) if len(sat) else {}
        for a in sorted(t["alpha"].unique()):
            cells = []
            for meth in methods:
                v = t[(t["alpha"] == a) & (t["method"] == meth)][m]
                mark = "*" if meth in at and abs(at[meth] - a) < 1e-12 else ""
                cells.append("-" if v.empty or pd.isna(v.iloc[0]) else f"{v.iloc[0]:.3f}{mark}")
            table.add_row(f"{a:g}", *cells)
        console.print(table)
        for d in sat.to_dict("records"):
            console.print(Text(f"{d['method']}: saturates at α = {d['alpha_saturation']:g} "
                               f"({m} {d[f'{m}_at_saturation']:.3f}; lowest {d['lowest']:.3f} "
                               f"at α = {d['alpha_lowest']:g})"), highlight=False)

    def _show_headline(self, console: Any) -> None:
        from rich.text import Text

        from acakit.analyses.tables import fitting_table

        c = self.config
        head = self.headline()
        m = c.unfairness
        many = len(c.seeds) >= 2
        table = fitting_table(Text(f"{c.name}: α = {c.relabel.alpha} of the minority, "
                                   f"{len(c.seeds)} seed(s), mean over seeds"),
                              caption=Text(f"budget b*: the budget with the lowest {m} "
                                           "(chosen on the test curve)"))
        ci = f"{m.replace('_gap', '').upper()} 95% CI\n({'t, seeds' if many else '1 seed: none'})"
        any_trivial = bool((head.get("trivial", pd.Series(0.0)) > 0).any())
        cols = ["what", "setting", "flips", "error", "EO gap", "DP gap", ci, "S", "S min"]
        for col in cols + (["trivial"] if any_trivial else []):
            table.add_column(col, justify="left" if col in ("what", "setting") else "right",
                             no_wrap=col not in ("what", "setting"),
                             overflow="fold" if col in ("what", "setting") else "ellipsis")
        rates = fitting_table(Text("per-group rates, minority/majority (mean over seeds)"))
        for col in ("what", "setting", "selection", "TPR", "FPR"):
            rates.add_column(col, justify="left" if col in ("what", "setting") else "right",
                             no_wrap=col not in ("what", "setting"),
                             overflow="fold" if col in ("what", "setting") else "ellipsis")

        def pair(d: dict[str, Any], k: str) -> str:
            a, b = d.get(f"{k}_minority", np.nan), d.get(f"{k}_majority", np.nan)
            return "-" if pd.isna(a) or pd.isna(b) else f"{a:.2f}/{b:.2f}"

        def short(setting: str) -> str:
            return re.sub(r"^budget (\S+) \(best \w+\)$", r"budget \1*", setting)

        trivial = []
        for d in head.to_dict("records"):
            lo, hi = d.get(f"{m}_lo", np.nan), d.get(f"{m}_hi", np.nan)
            share = d.get("trivial", 0.0)
            cf = d.get("cf_success", np.nan)
            cf_min = d.get("cf_success_minority", np.nan)
            if share > 0:
                trivial.append(f"{d['what']} ({d['setting']}): {d.get('trivial_reason', '')}")
            what, setting = Text(str(d["what"])), Text(short(str(d["setting"])))
            table.add_row(what, setting,
                          "-" if pd.isna(d["n_flips"]) else f"{d['n_flips']:.0f}",
                          f"{d['error']:.3f}", f"{d['eo_gap']:.3f}", f"{d['dp_gap']:.3f}",
                          "-" if pd.isna(lo) else f"{lo:.3f}-{hi:.3f}",
                          "-" if pd.isna(cf) else f"{cf:.3f}",
                          "-" if pd.isna(cf_min) else f"{cf_min:.3f}",
                          *(["TRIVIAL" if share > 0 else ""] if any_trivial else []))
            rates.add_row(what, setting, pair(d, "selection"), pair(d, "tpr"), pair(d, "fpr"))
        console.print(table)
        console.print(rates)
        if "defenses" in self.tables:
            console.print(_defense_rich_table(self.tables["defenses"], m))
        lines = [f"CI of the {m.replace('_', ' ')}: " + (
            f"95% t-interval over the {len(c.seeds)} seeds' gaps" if many
            else "none with 1 seed (add seeds for an interval over who joins and the split)")]
        lines.append("S: counterfactual success of Ben-Dov et al., P0[f(g(x)) = f(x)], the share "
                     "of all test points whose prediction stays the same when g sets a minority "
                     "point's sensitive attribute to the majority's (majority points unchanged); "
                     "S min: the same share among minority test points only "
                     "(S = 1 - P(minority)·(1 - S min)); α is a fraction of the minority")
        notes = sorted({str(n) for n in self.results.get("cf_note", pd.Series(dtype=str)).dropna()
                        if str(n)})
        if "cf_success" not in self.results:
            notes = ["not in these results (stored before it was measured)"]
        lines += [f"S '-': {n}" for n in notes]
        if trivial:  # one grouped line, however many rows
            shown = "; ".join(trivial[:3]) + (f"; and {len(trivial) - 3} more" if len(trivial) > 3
                                               else "")
            lines.append(f"warning: trivial predictions (one class, or no better than the "
                         f"majority rate) in {len(trivial)} of {len(head)} rows: {shown}; "
                         "a zero gap of such a firm is no fairness")
        self.show_footer(console, *lines)


def _defense_rich_table(t: pd.DataFrame, metric: str) -> Any:
    """The defenses table as a rich table (text escaped)."""
    from rich.text import Text

    from acakit.analyses.tables import fitting_table

    table = fitting_table(Text("defenses: the same relabeling against each defense of the firm "
                               "(mean over seeds; recall = share of the flipped rows it dropped)"))
    for col in ("defense", "method", "budget", "flips", metric.replace("_", "\n"), "gap\ncut",
                "S", "error", "recall", "preci-\nsion", "honest\ndropped"):
        table.add_column(col, justify="left" if col in ("defense", "method") else "right",
                         no_wrap=col not in ("defense", "method"),
                         overflow="fold" if col in ("defense", "method") else "ellipsis")

    def f(v: Any, fmt: str = ".3f") -> str:
        return "-" if pd.isna(v) else format(float(v), fmt)

    for d in t.to_dict("records"):
        table.add_row(Text(str(d["defense"])), Text(str(d["method"])), f(d["budget"], "g"),
                      f(d.get("n_flips"), ".0f"), f(d.get(metric)), f(d.get("gap_cut"), ".0%"),
                      f(d.get("cf_success")), f(d.get("error")), f(d.get("defense_recall")),
                      f(d.get("defense_precision")), f(d.get("defense_honest_dropped")))
    return table


def analyze(cfg: FairnessConfig, results: pd.DataFrame, out: Path) -> FairnessResult:
    """``results.csv`` and, per analysis, a plot and a CSV, from a fairness results table."""
    from acakit.analyses import fairness_tables as an

    out = Path(out)
    files = [out / "results.csv"]
    write_atomic(files[0], lambda t: results.to_csv(t, index=False))
    tables: dict[str, pd.DataFrame] = {}
    r = cfg.relabel
    metric = cfg.unfairness
    plot = cfg.output.plot
    # rows stored before the defense column existed are the undefended firm's
    every = results.assign(defense=results["defense"].fillna("none")
                           if "defense" in results else "none")
    results = every[every["defense"] == defense_name(cfg.firm)]  # the firm as given
    for a in cfg.analyses:
        if a == "alpha":
            tables[a], f = an.unfairness_vs_alpha(results, out / "unfairness_vs_alpha", metric,
                                                  str(r.majority_sample), plot=plot, title=cfg.name)
            sat = an.saturation(tables[a], metric)
            f.append(out / "saturation.csv")
            write_atomic(f[-1], lambda t, sat=sat: sat.to_csv(t, index=False))
        elif a == "pareto":
            tables[a], f = an.pareto_frontier(results, out / "pareto", r.alpha, metric,
                                              str(r.majority_sample), plot=plot, title=cfg.name)
        elif a == "efficiency":
            tables[a], f = an.flip_efficiency(results, out / "flip_efficiency", r.alpha, metric,
                                              str(r.majority_sample), plot=plot, title=cfg.name)
        else:
            tables[a], f = an.sample_size_sensitivity(results, out / "sample_size", r.alpha, metric,
                                                      plot=plot, title=cfg.name)
        files += f
    if cfg.defenses or cfg.firm.defense is not None:
        from acakit.analyses.defenses import fairness_defense_table, plot_fairness_defenses

        tables["defenses"] = fairness_defense_table(every, r.alpha, metric, str(r.majority_sample))
        files.append(out / "fairness_defenses.csv")
        write_atomic(files[-1], lambda t: tables["defenses"].to_csv(t, index=False))
        if plot:
            files += plot_fairness_defenses(tables["defenses"], out / "fairness_defenses", metric,
                                            title=cfg.name)
    return FairnessResult(results, cfg, tables, files)


def run_config(
    raw: dict[str, Any] | FairnessConfig,
    jobs: int | None = 1,
    out_dir: str | None = None,
    progress: bool = True,
    analyses: list[str] | None = None,
    **options: Any,
) -> FairnessResult:
    """Run a fairness config end to end (:func:`acakit.analyses.run_experiment`).

    Parameters
    ----------
    raw : dict or FairnessConfig
        The config (``experiment: fairness``).
    jobs, out_dir, progress, **options :
        See :func:`acakit.engine.execute` (``store``, ``runner``, ``address``, ``fail_fast``,
        ``retry_failed``, ``cache``).
    analyses : list of str, optional
        Override the config's analyses.

    Returns
    -------
    FairnessResult
        ``results.csv`` plus, per analysis, a plot (PNG) and a CSV; ``run``.

    Raises
    ------
    acakit.engine.config.ConfigError
        One-line message if the config does not fit the data.
    """
    from acakit.analyses import run_experiment

    cfg = raw if isinstance(raw, FairnessConfig) else parse_fairness_config(raw)
    if analyses is not None:
        bad = [a for a in analyses if a not in ANALYSES]
        if bad:
            raise ConfigError(f"analyses: {bad[0]!r} is not one of {', '.join(ANALYSES)}")
        cfg = cfg.model_copy(update={"analyses": list(analyses)})
    return run_experiment(cfg, jobs=jobs, out_dir=out_dir, progress=progress, **options)
