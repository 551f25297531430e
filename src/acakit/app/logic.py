"""What the planner app computes, as plain functions (no Streamlit here).

Every function validates its inputs and raises ``ValueError`` with a one-line message naming
the problem; the pages show that message. The numbers come from the same functions as the
command line (:func:`acakit.theory.planner.plan` is what ``acakit plan`` calls), so the app and
``acakit plan --json`` agree exactly.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acakit.data.base import Dataset

#: Bundled tabular data sets offered by "Plan from data".
BUNDLED_TABULAR: tuple[str, ...] = ("adult", "compas", "german_credit", "product_ratings")
#: Bundled data sets with a sensitive attribute offered by "Fairness".
BUNDLED_FAIR: tuple[str, ...] = ("compas", "adult", "german_credit", "minority_synthetic")
#: Firms offered per kind of data.
FIRMS_BY_KIND: dict[str, tuple[str, ...]] = {
    "tabular": ("logistic_regression", "gradient_boosting", "random_forest", "empirical_bayes"),
    "text": ("tfidf_char", "tfidf_linear", "tfidf_word"),
}
#: Confidence choices of the finite-sample bound: label -> δ (None: no finite-sample bound).
CONFIDENCES: dict[str, float | None] = {
    "95% (δ = 0.05)": 0.05, "99% (δ = 0.01)": 0.01, "90% (δ = 0.10)": 0.10,
    "no finite-sample bound": None,
}


# --------------------------------------------------------------------------- helpers


def first_line(err: BaseException) -> str:
    """The one-line message of an error (its first line; the type name when empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def signal_mass_from_counts(n_signal: float, n_records: float) -> float:
    """ξ from "out of ``n_records`` records, ``n_signal`` already look like the signal".

    Examples
    --------
    >>> signal_mass_from_counts(3, 10_000)
    0.0003
    """
    if n_records <= 0:
        raise ValueError(f"records: {n_records:g} must be a positive count")
    if not 0 <= n_signal <= n_records:
        raise ValueError(f"records with the signal: {n_signal:g} must be between 0 and {n_records:g}")
    return float(n_signal) / float(n_records)


def gap_from_share(share_target: float) -> float:
    """Δ for a yes/no outcome from the share of signal records that already get the target.

    Among records that look like the signal, the most common outcome wins; Δ is how far the
    target outcome is behind it: ``max(0, (1 − p) − p)``.

    Examples
    --------
    >>> gap_from_share(0.2)
    0.6
    """
    if not 0 <= share_target <= 1:
        raise ValueError(f"share with the target outcome: {share_target:g} is not in [0, 1]")
    return round(max(0.0, 1.0 - 2.0 * float(share_target)), 12)


def parse_floats(text: str, name: str, lo: float = 0.0, hi: float = 1.0) -> list[float]:
    """Comma-separated numbers in ``[lo, hi]`` (sorted, unique).

    Examples
    --------
    >>> parse_floats("0.01, 0, 0.005", "alphas")
    [0.0, 0.005, 0.01]
    """
    out = []
    for part in str(text).replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            v = float(part)
        except ValueError:
            raise ValueError(f"{name}: {part.strip()!r} is not a number") from None
        if not lo <= v <= hi or math.isnan(v):
            raise ValueError(f"{name}: {v:g} is not in [{lo:g}, {hi:g}]")
        out.append(v)
    if not out:
        raise ValueError(f"{name}: give at least one number")
    return sorted(set(out))


def plot_png(draw: Any, name: str = "plot") -> bytes:
    """Bytes of the PNG that ``draw(path)`` writes (in a temporary folder, then removed)."""
    with tempfile.TemporaryDirectory(prefix="acakit-app-") as tmp:
        files = draw(Path(tmp) / name)
        pngs = [Path(f) for f in files if str(f).endswith(".png")]
        return pngs[0].read_bytes()


def fig_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------- plan from numbers


def plan_from_numbers(n_train: int, signal_mass: float, gap: float, target: float, epsilon: float = 0.0,
                      delta: float | None = 0.05) -> Any:
    """The planner from numbers: exactly ``acakit plan --gap --signal-mass --epsilon --target
    --n-train [--confidence] --json``.

    Returns
    -------
    acakit.theory.planner.Plan
    """
    from acakit.theory.planner import plan

    if n_train != int(n_train):
        raise ValueError(f"n_train: {n_train} must be a whole number")
    return plan(float(target), gap=float(gap), signal_mass=float(signal_mass), epsilon=float(epsilon),
                n_train=int(n_train), delta=delta)


def describe_plan(p: Any) -> str:
    """One plain-language sentence about a plan's head count."""
    if not np.isfinite(p.critical_mass):
        return ("No collective size reaches this target under the bound: the signal is too common "
                "or the base data argues too strongly against it. Try a rarer signal or a lower target.")
    n = p.n_train
    count = int(p.critical_count)
    per = 10_000 * p.critical_mass
    return (f"About {per:.3g} of every 10,000 training records must come from your collective: "
            f"{count:,} of the platform's {n:,} records (one record each: {count:,} people).")


# --------------------------------------------------------------------------- data


def load_bundled(name: str) -> Dataset:
    """A bundled data set by name (``minority_synthetic`` included)."""
    from acakit.engine.fairness import load_fairness_dataset

    return load_fairness_dataset(name)


def csv_columns(data: bytes) -> list[str]:
    """Header of an uploaded CSV (one-line error if it is not one)."""
    import io

    try:
        head = pd.read_csv(io.BytesIO(data), nrows=5, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError, ValueError) as e:
        raise ValueError(f"upload: not a readable CSV file ({first_line(e)})") from None
    if head.shape[1] < 2:
        raise ValueError("upload: the CSV needs a header row and at least two columns "
                         "(features and a label)")
    return [str(c) for c in head.columns]


def save_upload(data: bytes, folder: str | Path, name: str = "upload.csv") -> Path:
    """Write uploaded bytes into the session's temporary ``folder`` (and nowhere else)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(name).name) or "upload.csv"
    path = Path(folder) / safe
    path.write_bytes(data)
    return path


def load_upload(path: str | Path, label: str, sensitive: Sequence[str] = (),
                text_column: str | None = None) -> Dataset:
    """Load a saved upload with :func:`acakit.data.load_csv` (one-line errors)."""
    from acakit.data import load_csv

    return load_csv(path, label, list(sensitive), text_column=text_column)


def subsample(ds: Dataset, max_rows: int, seed: int = 0) -> Dataset:
    """At most ``max_rows`` rows, drawn without replacement (the data set itself if smaller)."""
    if max_rows < 50:
        raise ValueError(f"rows: {max_rows} is too few to estimate anything (use at least 50)")
    if len(ds) <= max_rows:
        return ds
    return ds.take(np.sort(np.random.RandomState(seed).choice(len(ds), max_rows, replace=False)))


def default_signal(ds: Dataset, exclude: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """Suggested signal columns and values (see :func:`acakit.audit.choose_signal_columns`)."""
    from acakit.audit import choose_signal_columns

    return choose_signal_columns(ds.X, ds.feature_types, exclude)


def parse_value(ds: Dataset, column: str, text: str) -> Any:
    """A value typed by the user, cast to the column's kind (number for numeric columns)."""
    if column not in ds.feature_types:
        raise ValueError(f"signal: column {column!r} is not a feature of {ds.name}")
    text = str(text).strip()
    if not text:
        raise ValueError(f"signal: give a value for column {column!r}")
    if ds.feature_types[column] == "numeric":
        try:
            v = float(text)
        except ValueError:
            raise ValueError(f"signal: column {column!r} is numeric; {text!r} is not a number") from None
        return int(v) if v.is_integer() else v
    return text


def build_signal(ds: Dataset, values: dict[str, str] | None = None, token: str | None = None,
                 every: int = 20) -> Any:
    """The feature map g: set columns (tabular) or insert a trigger (text)."""
    from acakit.strategies import InsertTrigger, SetColumns

    if ds.kind == "text":
        if not token:
            raise ValueError("signal: give a trigger token (a rare character or word)")
        if every < 1:
            raise ValueError(f"signal: every {every} words must be >= 1")
        return InsertTrigger(token=token, every=int(every))
    if not values:
        raise ValueError("signal: choose at least one column to set")
    return SetColumns({c: parse_value(ds, c, v) for c, v in values.items()})


def simulate(train: Dataset, test: Dataset, g: Any, target: int, firm: str, alphas: Sequence[float],
             strategy: str = "plant", seed: int = 0) -> pd.DataFrame:
    """Retrain ``firm`` once per collective size; one row of :func:`acakit.metrics.evaluate`
    metrics per α, in the format of :func:`acakit.engine.single.run_cells` (plottable with
    :func:`acakit.analyses.curves.plot_success`). Runs in memory: nothing is written or cached."""
    from acakit.collective import Collective
    from acakit.firms import make_firm
    from acakit.metrics import evaluate
    from acakit.strategies import Plant, PlantFeatureOnly

    cls = Plant if strategy == "plant" else PlantFeatureOnly
    eligibility = "any" if strategy == "plant" else "target"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = make_firm(firm, train).fit(train.X, train.y)
        clean_pred = np.asarray(clean.predict(test.X))
        rows = []
        for a in alphas:
            coll = Collective(cls(g, target), alpha=float(a), eligibility=eligibility, seed=seed)
            altered, members = coll.apply(train)
            model = clean if not members.any() else make_firm(firm, train).fit(altered.X, altered.y)
            m = evaluate(model, clean, test.X, test.y, g, {target}, clean_pred=clean_pred)
            rows.append({"variant": firm, "firm": firm, "strategy": strategy,
                         "alpha": members.sum() / len(train), "alpha_requested": float(a),
                         "n_members": int(members.sum()), "n_train": len(train), "seed": seed} | m)
    return pd.DataFrame(rows)


def plan_from_data(ds: Dataset, g: Any, target: str | int, firm: str, alphas: Sequence[float],
                   success: float = 0.9, strategy: str = "plant", n_platform: int | None = None,
                   test_size: float = 0.3, seed: int = 0, n_boot: int = 100) -> Any:
    """Estimate Δ, ξ on a training split, plan, and simulate the firm at each α.

    Returns
    -------
    acakit.theory.planner.Plan
        With ``results`` (the simulation rows) and ``measured_success_all`` /
        ``measured_success`` columns in ``table``; head counts for ``n_platform`` records
        (default: the training split's size).
    """
    from acakit.data.base import train_test_split
    from acakit.theory.planner import plan

    if strategy not in ("plant", "plant_feature_only"):
        raise ValueError(f"strategy: {strategy!r} is not plant or plant_feature_only")
    if not 0 < success < 1:
        raise ValueError(f"target success: {success:g} is not in (0, 1)")
    y_star = ds.class_index(target)
    train, test = train_test_split(ds, test_size, seed=seed)
    grid = sorted(set(float(a) for a in alphas))
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        p = plan(success, strategy=strategy, dataset=train, feature_map=g, target_class=y_star,
                 n_train=n_platform or len(train), alphas=grid, n_boot=n_boot, seed=seed)
    results = simulate(train, test, g, y_star, firm, grid, strategy, seed)
    p.results = results
    meas = results[["alpha_requested", "success_all", "success", "accuracy"]].rename(
        columns={"alpha_requested": "alpha", "success_all": "measured_success_all",
                 "success": "measured_success", "accuracy": "measured_accuracy"})
    p.table = p.table.merge(meas, on="alpha", how="left")
    return p


# --------------------------------------------------------------------------- other collectives


@dataclass
class MultiPlan:
    """Bounds of the three knowledge tiers for one collective among others."""

    table: pd.DataFrame
    summary: pd.DataFrame
    others: dict[str, float]


OTHERS_COLUMNS = ["group", "size", "size low", "size high", "target", "overlap"]


def default_others() -> pd.DataFrame:
    """Two example groups: one conflicting, one aligned."""
    return pd.DataFrame([
        {"group": "rival group", "size": 0.001, "size low": 0.0005, "size high": 0.002,
         "target": "conflicting", "overlap": 0.5},
        {"group": "allied group", "size": 0.002, "size low": 0.001, "size high": 0.003,
         "target": "aligned", "overlap": 1.0},
    ], columns=OTHERS_COLUMNS)


def check_others(others: pd.DataFrame) -> pd.DataFrame:
    """Validate the other groups' table (one-line errors naming the row and column)."""
    missing = [c for c in OTHERS_COLUMNS if c not in others.columns]
    if missing:
        raise ValueError(f"other groups: column {missing[0]!r} is missing")
    df = others.dropna(how="all").reset_index(drop=True).copy()
    for i, row in df.iterrows():
        name = row["group"] if isinstance(row["group"], str) and row["group"] else f"row {i + 1}"
        vals = {}
        for col in ("size", "size low", "size high", "overlap"):
            v = row[col]
            if col in ("size low", "size high") and (v is None or pd.isna(v)):
                v = row["size"]
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"other groups, {name}: {col} {v!r} is not a number") from None
            if not 0 <= v <= 1 or math.isnan(v):
                raise ValueError(f"other groups, {name}: {col} {v:g} is not a fraction in [0, 1]")
            vals[col] = v
        if not vals["size low"] <= vals["size"] <= vals["size high"]:
            raise ValueError(f"other groups, {name}: need size low <= size <= size high "
                             f"({vals['size low']:g}, {vals['size']:g}, {vals['size high']:g})")
        if row["target"] not in ("aligned", "conflicting"):
            raise ValueError(f"other groups, {name}: target {row['target']!r} is not aligned or conflicting")
        for col, v in vals.items():
            df.loc[i, col] = v
    return df


def multi_plan(gap: float, signal_mass: float, target: float, n_train: int, others: pd.DataFrame,
               epsilon: float = 0.0, alpha: float | None = None) -> MultiPlan:
    """Success bounds of one planting collective among others, in three knowledge tiers.

    Other group ``j`` has a size (fraction of the training set), a range for it, a target that is
    aligned with or conflicting with yours, and an *overlap*: the share of its points that land
    on your signal points. From these: ``B = Σ size`` (range ``Σ low .. Σ high``), the conflicting
    mass on your signal ``K = Σ_conflicting size·overlap`` and the aligned mass
    ``A = Σ_aligned size·overlap``. The tiers (:mod:`acakit.multi.bounds`):

    - full knowledge: ``B`` and the net conflict ``[K − A]_+`` (others spread over your signal
      points like you do), :func:`~acakit.multi.bounds.full_knowledge_bound`;
    - aggregate: only ``K``, published by an aggregator, :func:`~acakit.multi.bounds.aggregate_bound`;
    - worst case: only the range of ``B``, all of it possibly conflicting,
      :func:`~acakit.multi.bounds.worst_case_bound`.

    Returns
    -------
    MultiPlan
        ``table``: α, count and each tier's bound (plus ``alone``, no other group) on a grid;
        ``summary``: per tier, the critical mass for ``target`` and its head count (and the
        bound at ``alpha`` if given).
    """
    from acakit.multi.bounds import aggregate_bound, full_knowledge_bound, worst_case_bound
    from acakit.theory.bounds import check_inputs, planting_bound

    check_inputs(gap=gap, signal_mass=signal_mass, epsilon=epsilon, target=target)
    if n_train < 2:
        raise ValueError(f"training-set size: {n_train} must be >= 2")
    df = check_others(others)
    conflicting = (df["target"] == "conflicting").to_numpy()
    size = df["size"].to_numpy(float)
    overlap = df["overlap"].to_numpy(float)
    B, lo, hi = float(size.sum()), float(df["size low"].sum()), float(df["size high"].sum())
    K = float((size * overlap)[conflicting].sum())
    A = float((size * overlap)[~conflicting].sum())
    if hi >= 1:
        raise ValueError(f"other groups: their sizes add up to {hi:g} >= 1 of the training set")
    top = 1.0 - max(B, hi, K)
    tiers = {
        "alone": lambda a: planting_bound(a, gap, signal_mass, epsilon),
        "full": lambda a: full_knowledge_bound(a, B, gap, signal_mass, max(K - A, 0.0), epsilon),
        "aggregate": lambda a: aggregate_bound(a, K, gap, signal_mass, epsilon, others_min=lo),
        "worst": lambda a: worst_case_bound(a, (lo, hi), gap, signal_mass, epsilon),
    }
    rows = []
    for name, f in tiers.items():
        a_star = _least_alpha(f, target, top)
        row = {"tier": name, "critical_mass": a_star,
               "critical_count": math.ceil(a_star * n_train - 1e-9) if np.isfinite(a_star) else math.inf}
        if alpha is not None:
            if not 0 < alpha <= top:
                raise ValueError(f"your size: {alpha:g} is not in (0, {top:.4g}] (others take the rest)")
            row["bound_at_alpha"] = float(f(alpha))
        rows.append(row)
    summary = pd.DataFrame(rows)
    finite = summary["critical_mass"][np.isfinite(summary["critical_mass"])]
    span = min(top, 2.5 * float(finite.max())) if len(finite) and finite.max() > 0 else min(top, 0.05)
    grid = np.linspace(0, span, 101)[1:]
    table = pd.DataFrame({"alpha": grid, "count": np.round(grid * n_train)})
    for name, f in tiers.items():
        table[name] = f(grid)
    return MultiPlan(table, summary, {"B": B, "B_low": lo, "B_high": hi, "K": K, "A": A})


def _least_alpha(f: Any, target: float, top: float) -> float:
    """Least α in (0, top] with f(α) >= target (dense grid, then bisection), ``inf`` if none."""
    if top <= 0:
        return math.inf
    grid = np.linspace(0, top, 4001)[1:]
    ok = np.flatnonzero(np.asarray(f(grid)) >= target)
    if not len(ok):
        return math.inf
    hi_a = float(grid[ok[0]])
    lo_a = float(grid[ok[0] - 1]) if ok[0] > 0 else 0.0
    for _ in range(60):
        mid = (lo_a + hi_a) / 2
        if mid <= 0:
            break
        if float(f(mid)) >= target:
            hi_a = mid
        else:
            lo_a = mid
    return hi_a


def plot_multi(mp: MultiPlan, target: float, alpha: float | None = None) -> bytes:
    """The three tiers' bounds (and the lone collective's) vs α, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    t = mp.table
    styles = {"alone": ("k:", "no other group"), "full": ("C0-", "full knowledge"),
              "aggregate": ("C1--", "aggregate (aggregator's K)"),
              "worst": ("C3-.", "worst case (range of B)")}
    for name, (style, label) in styles.items():
        ax.plot(100 * t["alpha"], np.clip(t[name], -0.02, 1), style, label=label)
    ax.axhline(target, color="grey", lw=0.8)
    if alpha is not None:
        ax.axvline(100 * alpha, color="grey", ls=":", lw=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("your collective's size α (% of the training set)")
    ax.set_ylabel("lower bound on your success")
    ax.set_title(f"Success bounds with other groups (B = {mp.others['B']:.3g}, conflicting on your "
                 f"signal K = {mp.others['K']:.3g})", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig_png(fig)


# --------------------------------------------------------------------------- fairness


def fairness_config(dataset: str, params: dict[str, Any], sensitive: str, minority: str,
                    favorable: str, alpha: float, firm: str, methods: Sequence[str],
                    budgets: Sequence[float], baselines: Sequence[str], seeds: int = 1) -> dict[str, Any]:
    """An ``experiment: fairness`` config (what ``acakit fairness pareto`` runs)."""
    return {
        "experiment": "fairness", "name": f"{dataset}: {sensitive} = {minority}",
        "dataset": {"name": dataset, "params": dict(params), "test_size": 0.3},
        "groups": {"minority": {sensitive: minority}, "favorable": favorable},
        "firm": {"name": firm},
        "relabel": {"methods": list(methods), "alpha": float(alpha), "budgets": [float(b) for b in budgets],
                    "thresholds": [0.5]},
        "baselines": list(baselines), "seeds": list(range(int(seeds))), "analyses": ["pareto"],
    }


def run_fairness(cfg: dict[str, Any],
                 goal: float | None = None) -> tuple[pd.DataFrame, bytes, dict[str, Any]]:
    """Run a fairness config's Pareto analysis; returns its table, PNG and relabelings needed."""
    from acakit.analyses.fairness import run_config
    from acakit.audit import relabelings_needed
    from acakit.engine.config import ConfigError

    if not cfg["relabel"]["methods"]:
        raise ValueError("methods: choose at least one relabeling method")
    with tempfile.TemporaryDirectory(prefix="acakit-app-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = run_config(cfg, jobs=1, out_dir=tmp, progress=False)
        except ConfigError as e:
            raise ValueError(first_line(e)) from None
        table = res.tables["pareto"]
        png = (Path(tmp) / "pareto.png").read_bytes()
    method = "probability" if "probability" in cfg["relabel"]["methods"] else cfg["relabel"]["methods"][0]
    return table, png, relabelings_needed(table, method=method, goal=goal)
