"""The firm answers back: the game between a firm's defenses and a collective's answers.

A single-collective sweep over ``firm.defense`` (the firm's strategies) and the collective's
answers (grid axes under ``collective``) at several α holds, for every pair, the collective's
success and what the firm paid. At each α this module reads them as a one-shot bimatrix game
on measured payoffs and solves it per seed:

* :func:`payoff_table`: per (α, seed, answer, defense), the collective's payoff (its success)
  and the firm's (clean accuracy − ``price_success`` · success − ``price_honest`` · share of
  honest rows dropped);
* :func:`~acakit.theory.games.nash_equilibria` (mixed, with nashpy) and
  :func:`~acakit.theory.games.stackelberg` (pure commitment, either player first) on payoff
  matrices, from the concept layer (:mod:`acakit.theory.games`);
* :func:`solve_games`: every concept at every (α, seed), plus each single defense (the firm
  fixed, the collective best-responding);
* :func:`equilibrium_table`: per (α, concept) the seed means with a t-interval over the
  per-seed equilibria (:func:`acakit.metrics.seed_interval`);
* :func:`critical_masses`: the smallest α whose equilibrium success reaches S*, per concept,
  beside the undefended firm's, and what the firm pays there;
* :func:`plot_game_success` and :func:`plot_payoffs`; :func:`analyze_game` writes them all.

Nothing is fitted: everything is a function of a results table, so ``acakit report STORE``
redraws it. Rows are the collective's strategies, columns the firm's, in every matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit._safe import write_atomic
from acakit.analyses.labels import words
from acakit.analyses.style import alpha_axis, place_legend, tight_layout
from acakit.theory.games import TOL, nash_equilibria, stackelberg

__all__ = ["ANSWER_COL", "CONCEPTS", "CONCEPT_LABELS", "FIRM_COL", "GameResult", "SHORT_CONCEPTS",
           "TOL", "analyze_game", "answer_label", "check_game_grid", "critical_masses",
           "defense_label", "equilibrium_table", "label_strategies", "nash_equilibria",
           "payoff_matrices", "payoff_table", "plot_game_success", "plot_payoffs", "solve_games",
           "stackelberg"]

#: Equilibrium concepts solved at every (α, seed), in the order tables show them.
CONCEPTS = ("collective_leads", "firm_leads", "nash")

#: How the concepts are named in tables and legends.
CONCEPT_LABELS = {
    "collective_leads": "collective commits, firm best-responds",
    "firm_leads": "firm commits, collective best-responds",
    "nash": "mixed Nash (worst for the collective)",
}

#: The concepts' names in the terminal table.
SHORT_CONCEPTS = {"collective_leads": "C first", "firm_leads": "F first", "nash": "Nash"}

FIRM_COL = "game_defense"
ANSWER_COL = "game_answer"


# ------------------------------------------------------------------------------ labels
def _flat(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _flat(v, str(k))]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [f"{prefix}={value}" if prefix else str(value)]


def defense_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """A short name of the firm's strategy from its ``firm.defense...`` grid values.

    Examples
    --------
    >>> defense_label(["firm.defense"], [{"name": "isolation_forest",
    ...                                   "params": {"contamination": 0.01}}])
    'isolation_forest(contamination=0.01)'
    >>> defense_label(["firm.defense"], [{"name": "none"}])
    'none'
    """
    parts: list[str] = []
    for k, v in zip(keys, values, strict=True):
        if isinstance(v, dict) and "name" in v:
            params = ", ".join(_flat(v.get("params") or {}))
            rest = ", ".join(_flat({a: b for a, b in v.items() if a not in ("name", "params")}))
            inner = ", ".join(p for p in (params, rest) if p)
            parts.append(f"{v['name']}({inner})" if inner else str(v["name"]))
        else:
            parts += _flat(v, k.split(".")[-1])
    return ", ".join(parts)


def answer_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """A short name of the collective's answer from its ``collective...`` grid values.

    Examples
    --------
    >>> answer_label(["collective"], [{"noise": {"p_feature_only": 0.5}}])
    'p_feature_only=0.5'
    >>> answer_label(["collective.camouflage"], [1.0])
    'camouflage=1'
    """
    return ", ".join(s for k, v in zip(keys, values, strict=True) for s in _flat(v, k.split(".")[-1]))


def label_strategies(results: pd.DataFrame, grid: dict[str, list[Any]]) -> pd.DataFrame:
    """``results`` with the columns ``game_defense`` and ``game_answer`` read from the grid.

    Each row's ``variant`` (the label :func:`acakit.engine.config.grid_label` gave its grid
    values) is mapped back to its firm.defense values and its answer values. A defense is
    named by its name alone when that tells the firm's strategies apart, else with its
    parameters (:func:`defense_label`); an answer by the short form of the other tables
    (:func:`acakit.analyses.tables.short_variants`: what varies, a noise spec as its level q)
    where that tells the answers apart, else in full (:func:`answer_label`).

    Parameters
    ----------
    results : DataFrame
        A single-collective results table with a ``variant`` column.
    grid : dict
        ``sweep.grid`` of its config, in the config's key order (see
        :func:`acakit.engine.game.game_axes`).

    Raises
    ------
    ValueError
        A row's variant is not a combination of the grid's values.
    """
    from acakit.analyses.tables import short_variants
    from acakit.engine.config import grid_label
    from acakit.engine.game import game_axes

    dkeys, akeys = game_axes(grid)
    keys = list(grid)
    names: dict[str, tuple[str, str]] = {}
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        names[grid_label(keys, combo)] = (defense_label(dkeys, [values[k] for k in dkeys]),
                                          answer_label(akeys, [values[k] for k in akeys]))
    short = {v: d.split("(")[0] for v, (d, _) in names.items()}
    if len(set(short.values())) == len({d for d, _ in names.values()}):  # names alone tell apart
        names = {v: (short[v], a) for v, (_, a) in names.items()}
    full = list(dict.fromkeys(a for _, a in names.values()))
    brief = dict(zip(full, short_variants([grid_label(akeys, combo) for combo in
                                           itertools.product(*(grid[k] for k in akeys))]),
                     strict=True))
    if len(set(brief.values())) == len(full):  # the tables' short form ("q=0.5") where unique
        names = {v: (d, brief[a]) for v, (d, a) in names.items()}
    df = results.copy()
    pairs = df["variant"].astype(str).map(names)
    if pairs.isna().any():
        bad = df.loc[pairs.isna(), "variant"].iloc[0]
        raise ValueError(f"game: variant {bad!r} of the results table is not a combination of "
                         "the grid's values (a results table of another config?)")
    df[FIRM_COL] = pairs.map(lambda p: p[0])
    df[ANSWER_COL] = pairs.map(lambda p: p[1])
    return df


# ------------------------------------------------------------------------------ payoffs
def _size_column(results: pd.DataFrame) -> str:
    if "alpha_requested" in results and results["alpha_requested"].notna().all():
        return "alpha_requested"
    return "n_members"


def payoff_table(results: pd.DataFrame, price_success: float = 0.1, price_honest: float = 0.1,
                 metric: str = "success", firm: str = FIRM_COL,
                 collective: str = ANSWER_COL) -> pd.DataFrame:
    """Both players' payoffs in every cell of a results table.

    Parameters
    ----------
    results : DataFrame
        One row per cell: ``seed``, ``alpha`` (and ``alpha_requested`` or ``n_members``),
        ``metric``, ``accuracy`` (clean test accuracy of the firm's model), optionally
        ``defense_honest_dropped`` (missing or NaN: 0, no row dropped), and the strategy
        columns ``firm`` and ``collective``.
    price_success : float, default=0.1
        What one unit of the collective's success costs the firm.
    price_honest : float, default=0.1
        What dropping every honest training row costs the firm (per share dropped).
    metric : str, default="success"
        The collective's payoff.
    firm, collective : str
        Columns naming each cell's firm strategy and collective strategy.

    Returns
    -------
    DataFrame
        ``size, alpha, n_members, seed, answer, defense, success, accuracy, honest_dropped,
        clean_accuracy, collective_payoff, firm_payoff``: one row per cell (``size`` is the
        requested α, or the member count of a count sweep).

    Examples
    --------
    >>> r = pd.DataFrame({"alpha_requested": [0.1, 0.1], "alpha": [0.1, 0.1], "n_members": 5,
    ...                   "seed": 0, "success": [0.8, 0.2], "accuracy": [0.9, 0.85],
    ...                   "defense_honest_dropped": [None, 0.5],
    ...                   "game_defense": ["none", "filter"], "game_answer": "plain"})
    >>> payoff_table(r, 0.1, 0.1)["firm_payoff"].round(3).tolist()
    [0.82, 0.78]
    """
    df = results
    size = _size_column(df)
    honest = (df["defense_honest_dropped"] if "defense_honest_dropped" in df
              else pd.Series(0.0, index=df.index)).astype(float).fillna(0.0)
    out = pd.DataFrame({
        "size": df[size].astype(float),
        "alpha": df["alpha"].astype(float),
        "n_members": df["n_members"].astype(float) if "n_members" in df else np.nan,
        "seed": df["seed"],
        "answer": df[collective].astype(str),
        "defense": df[firm].astype(str),
        "success": df[metric].astype(float),
        "accuracy": df["accuracy"].astype(float),
        "honest_dropped": honest,
        "clean_accuracy": df["clean_accuracy"].astype(float) if "clean_accuracy" in df else np.nan,
    })
    out["collective_payoff"] = out["success"]
    out["firm_payoff"] = out["accuracy"] - price_success * out["success"] - price_honest * honest
    return out.reset_index(drop=True)


def payoff_matrices(payoffs: pd.DataFrame, answers: Sequence[str] | None = None,
                    defenses: Sequence[str] | None = None,
                    values: Sequence[str] = ("collective_payoff", "firm_payoff")
                    ) -> tuple[list[str], list[str], list[np.ndarray]]:
    """The matrices (rows: answers, columns: defenses) of one game's rows of a payoff table.

    Several rows of a pair (e.g. several seeds) are averaged. Returns ``answers, defenses,
    [matrix per value]``; a pair without a row is NaN.
    """
    answers = list(answers) if answers is not None else list(dict.fromkeys(payoffs["answer"]))
    defenses = list(defenses) if defenses is not None else list(dict.fromkeys(payoffs["defense"]))
    mats = []
    for v in values:
        p = payoffs.pivot_table(index="answer", columns="defense", values=v, aggfunc="mean",
                                dropna=False)
        mats.append(p.reindex(index=answers, columns=defenses).to_numpy(dtype=float))
    return answers, defenses, mats


# ------------------------------------------------------------------------------ per seed
def _mix_text(names: Sequence[str], mix: np.ndarray, digits: int = 2) -> str:
    parts = [(n, p) for n, p in zip(names, mix, strict=True) if p > 0.005]
    if len(parts) == 1:
        return parts[0][0]
    return " / ".join(f"{n} {p:.{digits}f}" for n, p in sorted(parts, key=lambda t: -t[1]))


def solve_games(payoffs: pd.DataFrame) -> pd.DataFrame:
    """Every concept's outcome at every (α, seed) of a payoff table.

    Concepts: ``collective_leads``, ``firm_leads`` (:func:`stackelberg`), ``nash`` (of
    :func:`nash_equilibria`, the one worst for the collective, then best for the firm) and
    ``defense=<d>`` for each firm strategy d (the firm fixed at d, the collective
    best-responding; ties: the firm's best). A game missing a pair (a failed cell) is skipped.

    Returns
    -------
    DataFrame
        One row per (size, seed, concept): ``alpha, n_members, success, accuracy,
        honest_dropped, firm_payoff`` of the outcome (expectations under mixed strategies),
        ``defense_mix`` and ``answer_mix`` (text), ``p_defense:<d>`` and ``p_answer:<a>``
        (probabilities), ``n_equilibria`` and ``success_min``/``success_max`` over the Nash
        equilibria found (nash rows).
    """
    answers = list(dict.fromkeys(payoffs["answer"]))
    defenses = list(dict.fromkeys(payoffs["defense"]))
    rows = []
    vals = ("collective_payoff", "firm_payoff", "success", "accuracy", "honest_dropped")
    for (size, seed), g in payoffs.groupby(["size", "seed"], sort=True):
        _, _, (A, B, S, ACC, H) = payoff_matrices(g, answers, defenses, vals)
        if not all(np.isfinite(M).all() for M in (A, B, S, ACC, H)):
            continue
        base = {"size": float(size), "seed": seed, "alpha": float(g["alpha"].mean()),
                "n_members": float(g["n_members"].mean())}
        outcomes: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]] = []
        for concept, leader in (("collective_leads", "row"), ("firm_leads", "column")):
            i, j = stackelberg(A, B, leader)  # type: ignore[arg-type]
            outcomes.append((concept, np.eye(len(answers))[i], np.eye(len(defenses))[j], {}))
        eqs = nash_equilibria(A, B)
        succ = [float(x @ S @ y) for x, y in eqs]
        pick = min(range(len(eqs)), key=lambda k: (round(succ[k], 12), -float(eqs[k][0] @ B @ eqs[k][1])))
        outcomes.append(("nash", eqs[pick][0], eqs[pick][1],
                         {"n_equilibria": len(eqs), "success_min": min(succ),
                          "success_max": max(succ)}))
        for j, d in enumerate(defenses):
            col = A[:, j]
            br = np.flatnonzero(col >= col.max() - TOL)
            i = int(br[np.argmax(B[br, j])])
            outcomes.append((f"defense={d}", np.eye(len(answers))[i], np.eye(len(defenses))[j], {}))
        for concept, x, y, extra in outcomes:
            d = base | {"concept": concept, "success": float(x @ S @ y),
                        "accuracy": float(x @ ACC @ y), "honest_dropped": float(x @ H @ y),
                        "firm_payoff": float(x @ B @ y),
                        "defense_mix": _mix_text(defenses, y), "answer_mix": _mix_text(answers, x)}
            d |= {f"p_defense:{n}": float(p) for n, p in zip(defenses, y, strict=True)}
            d |= {f"p_answer:{n}": float(p) for n, p in zip(answers, x, strict=True)}
            rows.append(d | extra)
    return pd.DataFrame(rows)


def equilibrium_table(solved: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (α, concept): seed means of :func:`solve_games` with t-intervals over seeds.

    The success interval is :func:`acakit.metrics.seed_interval` of the per-seed equilibrium
    successes (clipped to [0, 1]; NaN with one seed), so it carries the spread of the whole
    pipeline over seeds: who joins, the split, the training, and which equilibrium each seed's
    measured payoffs select. The mixes are the mean over seeds of each seed's equilibrium
    probabilities.

    Returns
    -------
    DataFrame
        ``alpha, n_members, concept, seeds, defense_mix, answer_mix, success, success_lo,
        success_hi, accuracy, accuracy_lo, accuracy_hi, honest_dropped, firm_payoff``, the
        ``p_*`` columns and (nash) ``n_equilibria``.
    """
    from acakit.metrics import seed_interval

    pd_cols = [c for c in solved.columns if c.startswith("p_defense:")]
    pa_cols = [c for c in solved.columns if c.startswith("p_answer:")]
    rows = []
    order = {c: k for k, c in enumerate(dict.fromkeys(solved["concept"]))}
    for (size, concept), g in solved.groupby(["size", "concept"], sort=False):
        s, s_lo, s_hi = seed_interval(g["success"], confidence)
        a, a_lo, a_hi = seed_interval(g["accuracy"], confidence)
        pdm = g[pd_cols].mean()
        pam = g[pa_cols].mean()
        d = {"size": size, "alpha": float(g["alpha"].mean()),
             "n_members": float(g["n_members"].mean()), "concept": concept, "seeds": len(g),
             "defense_mix": _mix_text([c.split(":", 1)[1] for c in pd_cols], pdm.to_numpy()),
             "answer_mix": _mix_text([c.split(":", 1)[1] for c in pa_cols], pam.to_numpy()),
             "success": s, "success_lo": max(0.0, s_lo) if np.isfinite(s_lo) else np.nan,
             "success_hi": min(1.0, s_hi) if np.isfinite(s_hi) else np.nan,
             "accuracy": a, "accuracy_lo": a_lo, "accuracy_hi": a_hi,
             "honest_dropped": float(g["honest_dropped"].mean()),
             "firm_payoff": float(g["firm_payoff"].mean())}
        if "n_equilibria" in g and g["n_equilibria"].notna().any():
            d["n_equilibria"] = float(g["n_equilibria"].mean())
        rows.append(d | pdm.to_dict() | pam.to_dict())
    out = pd.DataFrame(rows)
    out["_o"] = out["concept"].map(order)
    return out.sort_values(["_o", "size"], kind="stable").drop(columns="_o").reset_index(drop=True)


def critical_masses(table: pd.DataFrame, target_success: float = 0.5,
                    reference: str = "defense=none") -> pd.DataFrame:
    """Per concept: the smallest measured α whose equilibrium success reaches S*.

    ``critical_alpha`` reads the seed mean; its interval reads the bands: ``critical_alpha_lo``
    is the smallest α whose upper band reaches S*, ``critical_alpha_hi`` the smallest whose
    lower band does (NaN: not within the sweep, or one seed). At ``critical_alpha``, what the
    firm pays: its accuracy there, ``accuracy_cost`` (the undefended firm's accuracy without a
    collective, minus that), the share of honest rows it drops and its payoff.

    Parameters
    ----------
    table : DataFrame
        :func:`equilibrium_table`.
    target_success : float, default=0.5
    reference : str, default="defense=none"
        The concept whose accuracy at α = 0 (else the smallest α) is the baseline.
    """
    from acakit.analyses.defenses import critical_alpha

    ref = table[table["concept"] == reference].sort_values("size")
    base_acc = float(ref["accuracy"].iloc[0]) if len(ref) else np.nan
    rows = []
    for concept, g in table.groupby("concept", sort=False):
        g = g.sort_values("size")
        a = critical_alpha(g["alpha"], g["success"], target_success)
        lo = critical_alpha(g["alpha"], g["success_hi"].fillna(-1), target_success)
        hi = critical_alpha(g["alpha"], g["success_lo"].fillna(-1), target_success)
        at = g[np.isclose(g["alpha"], a)] if np.isfinite(a) else g.iloc[:0]
        one = at.iloc[0] if len(at) else None
        rows.append({
            "concept": concept, "target_success": target_success, "critical_alpha": a,
            "critical_alpha_lo": lo, "critical_alpha_hi": hi,
            "critical_members": float(one["n_members"]) if one is not None else np.nan,
            "success": float(one["success"]) if one is not None else np.nan,
            "defense_mix": str(one["defense_mix"]) if one is not None else "",
            "answer_mix": str(one["answer_mix"]) if one is not None else "",
            "accuracy": float(one["accuracy"]) if one is not None else np.nan,
            "accuracy_cost": base_acc - float(one["accuracy"]) if one is not None else np.nan,
            "honest_dropped": float(one["honest_dropped"]) if one is not None else np.nan,
            "firm_payoff": float(one["firm_payoff"]) if one is not None else np.nan,
            "max_success": float(g["success"].max()),
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ plots
def plot_game_success(table: pd.DataFrame, path: str | Path, target_success: float = 0.5,
                      headline: str = "collective_leads", title: str | None = None,
                      confidence: float = 0.95,
                      formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Equilibrium success vs α beside the undefended curve and each single defense's curve.

    Solid lines: the equilibrium concepts (the headline one with its t-band over the
    per-seed equilibria); black: the firm that never defends; dashed: each fixed defense,
    the collective best-responding; dotted: S*. The legend sits outside the axes.
    """
    from acakit.analyses.curves import _pyplot, save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    seeds = int(table["seeds"].min()) if len(table) else 0
    for k, concept in enumerate(CONCEPTS):
        g = table[table["concept"] == concept].sort_values("size")
        if g.empty:
            continue
        c = colors[k % len(colors)]
        x = 100 * g["alpha"]
        # the concepts often agree: markers of decreasing size, alternately hollow, keep each
        # visible where their lines coincide
        ax.plot(x, g["success"], "-", marker="os^"[k % 3], ms=9 - 2.5 * k, mfc="none" if k % 2 else c,
                color=c, lw=2.2 if concept == headline else 1.4, zorder=3 + k,
                label=CONCEPT_LABELS[concept] + (" (headline)" if concept == headline else ""))
        if concept == headline and seeds >= 2:
            ax.fill_between(x, g["success_lo"], g["success_hi"], color=c, alpha=0.15,
                            label=f"{100 * confidence:g}% t-interval over seeds")
    singles = [c for c in dict.fromkeys(table["concept"]) if c.startswith("defense=")]
    for k, concept in enumerate(singles):
        g = table[table["concept"] == concept].sort_values("size")
        name = concept.split("=", 1)[1]
        if name == "none":
            ax.plot(100 * g["alpha"], g["success"], "s-", color="black", lw=1.2,
                    label="undefended firm (best answer)")
        else:
            ax.plot(100 * g["alpha"], g["success"], "^--", color=colors[(k + 3) % len(colors)],
                    lw=1, label=f"always {words(name)} (best answer)")
    ax.axhline(target_success, color="grey", ls=":", lw=1, label=f"target S*: {target_success:g}")
    ax.set_xlabel("collective size α (% of training set)")
    ax.set_ylabel("collective's success (mean over seeds)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="small", max_inside=0)  # outside, kept out of the layout
    ax.set_title((title + "\n" if title else "") + f"per-seed equilibria, {seeds} seed(s)",
                 fontsize="medium")
    tight_layout(fig)
    alpha_axis(ax, 100 * table["alpha"].to_numpy())  # after the layout: labels thinned in place
    out = save_figure(fig, path, formats)
    plt.close(fig)
    return out


def plot_payoffs(payoffs: pd.DataFrame, size: float, path: str | Path, title: str | None = None,
                 formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Both payoff matrices at one α as heat maps (seed means, values written in the cells).

    Left: the collective's payoff (success); right: the firm's. Rows: the collective's
    answers; columns: the firm's defenses. A box marks the pure Stackelberg outcomes of the
    seed-mean matrices (C: the collective commits, F: the firm commits).
    """
    from acakit.analyses.curves import _pyplot, save_figure

    g = payoffs[np.isclose(payoffs["size"], size)]
    answers, defenses, (A, B) = payoff_matrices(g)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(4.2 + 2.2 * len(defenses), 1.6 + 0.7 * len(answers)))
    marks: dict[tuple[int, int], str] = {}
    if np.isfinite(A).all() and np.isfinite(B).all():
        for tag, leader in (("C", "row"), ("F", "column")):
            ij = stackelberg(A, B, leader)  # type: ignore[arg-type]
            marks[ij] = marks.get(ij, "") + tag
    for ax, M, name, cmap in ((axes[0], A, "collective's payoff (success)", "Reds"),
                              (axes[1], B, "firm's payoff", "Blues")):
        im = ax.imshow(M, cmap=cmap, aspect="auto")
        for (i, j), v in np.ndenumerate(M):
            tag = f" [{marks[(i, j)]}]" if (i, j) in marks else ""
            ax.text(j, i, f"{v:.3f}{tag}", ha="center", va="center", fontsize="small",
                    color="black" if not np.isfinite(v) or v <= np.nanmean(M) else "white")
        for (i, j) in marks:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, ec="black"))
        ax.set_xticks(range(len(defenses)), [words(d) for d in defenses], rotation=20, ha="right",
                      fontsize="small")
        ax.set_yticks(range(len(answers)), [words(a) for a in answers], fontsize="small")
        ax.set_xlabel("firm's defense")
        ax.set_title(name, fontsize="medium")
        fig.colorbar(im, ax=ax, shrink=0.8, label=name.split(" (")[0])
    axes[1].set_yticklabels([])
    alpha = float(g["alpha"].mean()) if len(g) else float("nan")
    seeds = g["seed"].nunique()
    fig.suptitle((title + ": " if title else "") + f"payoffs at α = {100 * alpha:.3g}% "
                 f"(mean of {seeds} seed(s); [C]/[F]: Stackelberg outcome of these means)",
                 fontsize="medium")
    fig.tight_layout()
    out = save_figure(fig, path, formats)
    plt.close(fig)
    return out


# ------------------------------------------------------------------------------ the analysis
@dataclass
class GameResult:
    """The game's tables (see :func:`analyze_game`)."""

    payoffs: pd.DataFrame
    equilibria: pd.DataFrame
    critical: pd.DataFrame
    concept: str = "collective_leads"
    target_success: float = 0.5
    confidence: float = 0.95
    files: list[Path] = field(default_factory=list)

    def headline(self) -> list[str]:
        """The lines under the table: the strategic and the undefended critical mass, and
        what the firm pays at the strategic one."""
        if self.equilibria.empty:
            return ["game: no α has every (answer, defense) pair in one seed (failed cells?); "
                    "no equilibrium computed"]
        crit = self.critical.set_index("concept")
        seeds = int(self.equilibria["seeds"].min()) if len(self.equilibria) else 0
        how = (f"{100 * self.confidence:g}% t-interval over the per-seed equilibria, {seeds} "
               "seeds" if seeds >= 2 else "one seed: no interval")

        def where(c: str) -> str:
            if c not in crit.index or not np.isfinite(crit.loc[c, "critical_alpha"]):
                return "not reached in the sweep"
            r = crit.loc[c]
            lo, hi = r["critical_alpha_lo"], r["critical_alpha_hi"]
            band = (f" (on the α grid: {100 * lo:.3g}%-{100 * hi:.3g}%)"
                    if np.isfinite(lo) and np.isfinite(hi)
                    else f" (on the α grid: {100 * lo:.3g}%-beyond the sweep)" if np.isfinite(lo)
                    else "")
            return f"α = {100 * r['critical_alpha']:.3g}%{band}, {r['critical_members']:.0f} members"

        lines = [f"critical mass for success ≥ {self.target_success:g} against a strategic firm "
                 f"({CONCEPT_LABELS[self.concept]}): {where(self.concept)}",
                 f"critical mass against a firm that does not defend: {where('defense=none')}"]
        if self.concept in crit.index and np.isfinite(crit.loc[self.concept, "critical_alpha"]):
            r = crit.loc[self.concept]
            cost = r["accuracy_cost"]
            vs = (f"{abs(cost):.4f} {'below' if cost >= 0 else 'above'} the undefended firm "
                  "without a collective" if np.isfinite(cost) else "no undefended firm to compare")
            lines.append(f"there the firm plays {r['defense_mix']} against {r['answer_mix']}: "
                         f"accuracy {r['accuracy']:.4f} ({vs}), {100 * r['honest_dropped']:.2f}% "
                         "of honest rows dropped")
        lines.append(f"intervals: {how}")
        return lines

    def show(self, console: Any, title: str = "game") -> None:
        """Print the equilibrium table (per α and concept) and :meth:`headline`."""
        from rich.text import Text

        from acakit.analyses.tables import fitting_table

        if self.equilibria.empty:
            for line in self.headline():
                console.print(line, highlight=False, markup=False)
            return
        t = fitting_table(Text(f"{title}: equilibria per α"),
                          Text(f"mean over seeds of the per-seed equilibria; CI: "
                               f"{100 * self.confidence:g}% t over seeds; C first: the collective "
                               "commits, the firm best-responds; F first: the reverse; Nash: "
                               "mixed, the one worst for the collective"))
        for col in ("α (%)", "members", "concept", "defense mix", "answer mix", "success",
                    f"{100 * self.confidence:g}% CI", "accuracy", "honest\ndropped"):
            mix = col in ("defense mix", "answer mix")
            t.add_column(col, justify="left" if mix or col == "concept" else "right",
                         overflow="fold" if mix else "ellipsis")
        eq = self.equilibria[self.equilibria["concept"].isin(CONCEPTS)]
        for d in eq.sort_values(["size"], kind="stable").to_dict("records"):
            ci = (f"{d['success_lo']:.3f}-{d['success_hi']:.3f}" if np.isfinite(d["success_lo"])
                  else "-")
            t.add_row(f"{100 * d['alpha']:.3g}", f"{d['n_members']:.0f}",
                      Text(SHORT_CONCEPTS[d["concept"]]),
                      Text(d["defense_mix"]), Text(d["answer_mix"]), f"{d['success']:.3f}", ci,
                      f"{d['accuracy']:.4f}", f"{100 * d['honest_dropped']:.2f}%")
        console.print(t)
        for line in self.headline():
            console.print(line, highlight=False, markup=False)


def check_game_grid(labelled: pd.DataFrame) -> None:
    """Refuse (one-line ``ValueError``) a table missing a (defense, answer) pair at some α and
    seed: a game solved without one of the firm's or the collective's strategies answers another
    question (a firm with one strategy left cannot defend, so its critical mass is wrong)."""
    size = "alpha_requested" if "alpha_requested" in labelled else "alpha"
    d = labelled["game_defense"].unique()
    a = labelled["game_answer"].unique()
    have = labelled.groupby([size, "seed"])[["game_defense", "game_answer"]].apply(
        lambda g: len(set(zip(g["game_defense"], g["game_answer"], strict=True))))
    want = len(d) * len(a)
    short = have[have < want]
    if len(short):
        (alpha, seed), n = short.index[0], int(short.iloc[0])
        raise ValueError(f"game: partial: {len(short)} of {len(have)} (α, seed) points lack some of "
                         f"the {want} (defense, answer) pairs (first: α = {alpha:g}, seed {seed}: "
                         f"{n} of {want}); finish the sweep, or pass allow_partial=True "
                         "(acakit report --allow-partial)")


def analyze_game(results: pd.DataFrame, grid: dict[str, list[Any]], out: str | Path,
                 game: Any = None, title: str | None = None, plot: bool = True,
                 confidence: float = 0.95, allow_partial: bool = False) -> GameResult:
    """The game of a single-collective results table: tables, plots and the headline.

    Parameters
    ----------
    results : DataFrame
        The results table (``acakit run`` / ``acakit report``).
    grid : dict
        The config's ``sweep.grid`` (names the firm's and the collective's strategies).
    out : str or Path
        Folder for ``game_payoffs.csv``, ``game_equilibria.csv``, ``game_critical.csv`` and,
        with ``plot``, ``game_success.png/.svg`` and ``game_payoffs.png/.svg``.
    game : acakit.engine.game.GameSpec, optional
        Prices, target, headline concept and heat-map α (default: the defaults of GameSpec).
    allow_partial : bool, default=False
        Solve even where some (defense, answer) pair is missing at an α and seed
        (:func:`check_game_grid` refuses that otherwise); those points are left out.

    Returns
    -------
    GameResult
    """
    from acakit.analyses.curves import main_metric
    from acakit.engine.game import GameSpec

    spec = game if game is not None else GameSpec()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labelled = label_strategies(results, grid)
    if not allow_partial:
        check_game_grid(labelled)
    pay = payoff_table(labelled, spec.price_success, spec.price_honest, main_metric(results))
    solved = solve_games(pay)
    if solved.empty:  # every α misses a pair in every seed (failed cells): say so, draw nothing
        return GameResult(pay, pd.DataFrame(), pd.DataFrame(), spec.concept, spec.target_success,
                          confidence, [])
    table = equilibrium_table(solved, confidence)
    crit = critical_masses(table, spec.target_success)
    files = [out / "game_payoffs.csv", out / "game_equilibria.csv", out / "game_critical.csv"]
    write_atomic(files[0], lambda t: pay.to_csv(t, index=False))
    write_atomic(files[1], lambda t: table.to_csv(t, index=False))
    write_atomic(files[2], lambda t: crit.to_csv(t, index=False))
    res = GameResult(pay, table, crit, spec.concept, spec.target_success, confidence, files)
    if plot:
        files += plot_game_success(table, out / "game_success", spec.target_success, spec.concept,
                                   title, confidence)
        size = spec.alpha
        if size is None:
            c = crit.set_index("concept")
            a = c.loc[spec.concept, "critical_alpha"] if spec.concept in c.index else np.nan
            sizes = table.loc[np.isclose(table["alpha"], a), "size"] if np.isfinite(a) else []
            size = float(sizes.iloc[0]) if len(sizes) else float(pay["size"].max())
        files += plot_payoffs(pay, size, out / "game_payoffs", title)
    return res
