"""Tables and plots of a gradient results table (Hardt et al.'s settings 2 and 3).

The summary is one line per (grid point, α): the mean normalised distance with its t-interval
over seeds, the share of seeds that converged, the goal coordinate, accuracy, and acakit's
critical masses (its own derivation, said so wherever they are shown). Two figures: the
distance (or, for neutralization, the largest drift of the held weight) against α with the
critical masses marked, and the distance along the trajectory for three sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit.analyses import RunResult
from acakit.analyses.labels import display_name, legend_map
from acakit.engine import RunInfo
from acakit.engine.gradient import GradientConfig

#: said beside every critical mass acakit shows for these settings
DERIVATION = "acakit's derivation, not the paper's theorem"


def _metric(results: pd.DataFrame) -> str:
    """``distance`` (control, steering: θ* known) or ``max_drift`` (neutralization)."""
    return "distance" if "distance" in results and results["distance"].notna().any() else "max_drift"


#: axis label of each main metric
METRIC_LABEL = {"distance": "||θ_T − θ*|| / ||θ_0 − θ*||",
                "max_drift": "largest drift of the held weight"}


@dataclass
class GradientRunResult(RunResult):
    """What a gradient run produced (and :func:`acakit.analyses.report` redraws)."""

    results: pd.DataFrame
    config: GradientConfig
    files: list[Path] = field(default_factory=list)
    run: RunInfo | None = None

    def summary(self) -> pd.DataFrame:
        """Mean over seeds per (variant, α requested): the main metric with a t-interval over
        seeds (``lo``/``hi``; method in ``interval``), the converged share and the rest."""
        from acakit.metrics import interval_method, seed_interval

        df = self.results
        keys = [k for k in ("variant", "strategy", "alpha_requested") if k in df]
        cols = [c for c in ("alpha", "distance", "max_drift", "goal_value", "goal_target",
                            "decision_success", "accuracy", "accuracy_drop", "test_mse",
                            "alpha_star_fixed", "alpha_star_path", "alpha_star_steer", "residual",
                            "base_gradient_norm", "reportable_gradient_norm")
                if c in df]
        rows = []
        for key, g in df.groupby(keys, sort=False):
            metric = _metric(g)
            mean, lo, hi = seed_interval(g[metric], self.config.confidence)
            r = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            r |= {c: float(pd.to_numeric(g[c], errors="coerce").mean()) for c in cols}
            r |= {"metric": metric, "mean": mean, "lo": lo, "hi": hi,
                  "converged": float(g["converged"].astype(float).mean()),
                  "seeds": len(g), "interval": interval_method(len(g), pooled=False)}
            strategy = display_name(g["strategy"].iloc[0])
            r["label"] = f"{strategy}: {g['target'].iloc[0]}" if "target" in g else strategy
            rows.append(r)
        out = pd.DataFrame(rows)
        if "variant" in out:  # other grid values than the collective's: add them, short
            per = out.drop_duplicates("variant")
            if per["label"].duplicated().any():
                short = legend_map(per["variant"])
                out["label"] = out["label"] + " · " + out["variant"].map(short)
        return out

    def show(self, console: Any) -> None:
        """Print the summary table and the files written."""
        from rich.text import Text

        from acakit.analyses.tables import alpha_strings, bound_text, fitting_table

        s = self.summary()
        metrics = list(dict.fromkeys(s["metric"]))
        what = " or ".join({"distance": "normalised distance ||θ_T − θ*|| / ||θ_0 − θ*||",
                            "max_drift": "largest drift of the held weight (max_drift)"}[m]
                           for m in metrics)
        metric = metrics[0] if len(metrics) == 1 else "value"
        table = fitting_table(Text(f"{self.config.name}: {what}"),
                              caption=Text(f"mean over seeds; CI: {s['interval'].iloc[0]}; α*: "
                                           f"{DERIVATION}"))
        grid = s["label"].nunique() > 1
        if grid:
            table.add_column("collective", overflow="fold")
        for col in ("α", metric, f"{self.config.confidence:.0%} CI", "converged"):
            table.add_column(col, justify="right")
        extra = [c for c in ("goal_value", "decision_success", "accuracy", "accuracy_drop",
                             "test_mse", "alpha_star_fixed", "alpha_star_path", "alpha_star_steer",
                             "residual") if c in s and s[c].notna().any()]
        for c in extra:
            table.add_column(c.replace("alpha_star_", "α* ").replace("_", " "), justify="right")
        for (_, r), a in zip(s.iterrows(), alpha_strings(s["alpha"]), strict=True):
            ci = "-" if not np.isfinite(r["lo"]) else f"{r['lo']:.3f}–{r['hi']:.3f}"
            cells = [a, f"{r['mean']:.3g}", ci, f"{r['converged']:.0%}"]
            cells += [bound_text(r[c]) if c.startswith("alpha_star") else f"{r[c]:.3g}"
                      for c in extra]
            table.add_row(*([Text(str(r["label"]))] if grid else []), *cells)
        console.print(table)
        tol = self.config.tolerance
        self.show_footer(console, f"converged: {' or '.join(metrics)} <= {tol:g} (tolerance; "
                                  "max_drift over the whole trajectory); α* columns: the "
                                  f"least α by {DERIVATION} (fixed: hold θ* with exact gradients; "
                                  "path: reach θ* along the segment from θ_0, both from the largest "
                                  "reportable gradient norm C, necessary only; steer: hold θ* with "
                                  "the members' own rows, exact over soft labels, an LP)")


def analyze(config: GradientConfig, results: pd.DataFrame, out: Path) -> GradientRunResult:
    """Write ``results.csv``, ``summary.csv`` and (with ``output.plot``) the two figures."""
    from acakit._safe import write_atomic

    res = GradientRunResult(results, config)
    keep = list(results.columns)
    for name, df in (("results.csv", results[keep]), ("summary.csv", res.summary())):
        path = out / name
        write_atomic(path, lambda t, d=df: d.to_csv(t, index=False))
        res.files.append(path)
    if config.output.plot:
        res.files += plot_distance(res, out / "distance")
        res.files += plot_trajectories(res, out / "trajectories")
    return res


def plot_distance(res: GradientRunResult, path: Path) -> list[Path]:
    """The main metric against α (mean over seeds and its interval), with the critical masses
    as vertical lines; returns the files written."""
    from acakit.analyses.curves import _pyplot, save_figure
    from acakit.analyses.style import place_legend, tight_layout

    plt = _pyplot()
    s = res.summary()
    metrics = list(dict.fromkeys(s["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.4 * len(metrics), 4.0), squeeze=False)
    groups = list(s.groupby("label", sort=False))
    for k, metric in enumerate(metrics):
        ax = axes[0, k]
        mine = [(label, g) for label, g in groups if g["metric"].iloc[0] == metric]
        for i, (label, g) in enumerate(mine):
            color = f"C{i + k}"
            x = g["alpha"].to_numpy() * 100
            name = "measured" if len(groups) == 1 else f"{label}, measured"
            seeds = int(g["seeds"].max())
            ax.plot(x, g["mean"], marker="o", color=color,
                    label=f"{name} (mean of {seeds} seed{'s' if seeds > 1 else ''})")
            if np.isfinite(g["lo"]).any():
                ax.fill_between(x, g["lo"], g["hi"], color=color, alpha=0.2,
                                label=f"95% CI ({g['interval'].iloc[0]})")
            for col, ls, what in (("alpha_star_fixed", "--", "hold θ*"),
                                  ("alpha_star_path", ":", "reach θ* along the path"),
                                  ("alpha_star_steer", "-.", "hold θ*, LP over the members' labels")):
                if col in g and np.isfinite(g[col]).any():
                    v = float(np.nanmean(g[col])) * 100
                    ax.axvline(v, color=color, ls=ls, lw=1,
                               label=f"α* {what}: {v:.3g}% ({DERIVATION})")
        ax.axhline(res.config.tolerance, color="grey", lw=0.8,
                   label=f"tolerance {res.config.tolerance:g}")
        ax.set_xlabel("collective size α (% of the training set)")
        ax.set_ylabel(METRIC_LABEL[metric])
        place_legend(ax)
    fig.suptitle(res.config.name, fontsize="medium")
    tight_layout(fig)
    files = save_figure(fig, path)
    plt.close(fig)
    return files


def plot_trajectories(res: GradientRunResult, path: Path) -> list[Path]:
    """The distance to θ* along the trajectory (first seed) at the smallest, a middle and the
    largest α of the first grid point; with two parameters, θ_t in the plane beside it."""
    from acakit.analyses.curves import _pyplot, save_figure
    from acakit.analyses.style import place_legend, tight_layout

    df = res.results
    df = df[df["distance_path"].notna()] if "distance_path" in df else df.iloc[:0]
    if df.empty:  # neutralization only: no θ*, no distance to draw
        return []
    plt = _pyplot()
    first = df[df["variant"] == df["variant"].iloc[0]] if "variant" in df else df
    first = first[first["seed"] == first["seed"].min()].sort_values("alpha")
    star = first["alpha_star_fixed"].mean() if "alpha_star_fixed" in first else np.nan
    if np.isfinite(star) and (first["alpha"] < star).any() and (first["alpha"] >= star).any():
        # the smallest α, the last below α* and the first above it: the transition
        below = int(np.flatnonzero(first["alpha"].to_numpy() < star)[-1])
        picks = first.iloc[sorted({0, below, below + 1})]
    else:
        picks = first.iloc[sorted({0, len(first) // 2, len(first) - 1})]
    plane = "theta_path" in picks and picks["theta_path"].notna().all() and \
        len(json.loads(picks["theta_path"].iloc[0])[0]) == 2
    fig, axes = plt.subplots(1, 2 if plane else 1, figsize=(10.5 if plane else 6.4, 4.0),
                             squeeze=False)
    ax = axes[0, 0]
    for i, (_, r) in enumerate(picks.iterrows()):
        steps = json.loads(r["steps_path"])
        ax.plot(steps, json.loads(r["distance_path"]), color=f"C{i}", ls=("-", "--", ":")[i],
                label=f"α: {r['alpha'] * 100:.3g}%")
        if plane:
            th = np.asarray(json.loads(r["theta_path"]))
            axes[0, 1].plot(th[:, 0], th[:, 1], color=f"C{i}", ls=("-", "--", ":")[i], marker=".",
                            ms=3)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("gradient step t")
    ax.set_ylabel("||θ_t − θ*|| / ||θ_0 − θ*||")
    ax.set_title(f"trajectories, seed {int(picks['seed'].iloc[0])}", fontsize="medium")
    if plane:
        a2 = axes[0, 1]
        if "theta_star" in picks and picks["theta_star"].notna().any():
            theta_star = json.loads(picks["theta_star"].dropna().iloc[0])
            a2.plot([theta_star[0]], [theta_star[1]], marker="*", ms=14, color="k", ls="none",
                    label="θ*")
            place_legend(a2)
        a2.set_xlabel("θ_1")
        a2.set_ylabel("θ_2")
        a2.set_title("θ_t in the plane (dots: every recorded step)", fontsize="medium")
    place_legend(ax)
    tight_layout(fig)
    files = save_figure(fig, path)
    plt.close(fig)
    return files
