"""``acakit audit``: how far can a coordinated group of users steer *your* pipeline?

:func:`audit` runs a standard battery of collectives against any scikit-learn classifier on a
CSV file of your own data and :meth:`AuditReport.to_html` writes one self-contained HTML file
(plots embedded as base64 PNG, no external assets) with a summary table, the critical masses
(theory and measured), the clean-accuracy cost and the exact commands that reproduce every
number.

The battery (every experiment is an ordinary acakit config, embedded in the report):

- feature-label planting (``plant``) at three signal strengths: the collective sets 1, 2 or 3
  feature columns to a rare value (see :func:`choose_signal_columns`) and labels its points
  with the target class; the columns are those the contributors can set
  (:func:`select_signal_columns`: ``--actionable`` / ``--immutable``; by default every feature
  column but the sensitive ones and their proxies, :func:`proxy_scores`), named in the report
  for the user to confirm;
- feature-only planting (``plant_feature_only``, strongest signal, members drawn from the
  target class, labels untouched);
- erasure (``erase``, strongest signal, labels set to what a reference model trained on clean
  data predicts for the signal point);
- with a sensitive column, a minority relabeling collective (:mod:`acakit.fairness`): a share
  of the minority relabels some of its own unfavourable labels; Pareto plot of error vs
  equalized-odds gap and the number of relabelings that halves the gap (one battery per
  sensitive column).

A clean firm that is trivial on the data (:func:`acakit.metrics.trivial_firm`: one class on
>= 99% of test points, or no better than the majority class) gets a warning box in the report
and a line in the terminal, and every battery's value without a collective (α = 0) stands
beside its result.
"""

from __future__ import annotations

import base64
import html
import io
import math
import shlex
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from acakit.analyses.style import note, place_legend, tight_layout

#: Default collective sizes (fractions of the training set) of the planting batteries.
DEFAULT_ALPHAS: tuple[float, ...] = (0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01)
#: Signal strengths: number of feature columns the collective sets.
STRENGTHS: dict[str, int] = {"weak": 1, "medium": 2, "strong": 3}
#: A categorical column with more distinct values than this (an id, free text) is not a signal.
MAX_CATEGORIES = 100
#: Share of the minority in the relabeling collective and its budgets (fractions of candidates).
FAIRNESS_ALPHA = 0.3
FAIRNESS_BUDGETS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
#: Δ and ξ are estimated on at most this many training rows (a cross-fitted model per signal).
ESTIMATE_ROWS = 10_000
#: A feature column whose proxy score (:func:`proxy_scores`) for a sensitive attribute reaches this
#: is a proxy of it, left out of the signal by default: alone it recovers the attribute at least
#: halfway from chance (0) to perfect (1), as a first name does race.
PROXY_THRESHOLD = 0.5
#: Proxy scores are computed on at most this many rows (a seeded sample).
PROXY_ROWS = 10_000


class AuditError(ValueError):
    """Bad audit input (one line naming the problem)."""


# --------------------------------------------------------------------------- choosing signals


def proxy_scores(X: pd.DataFrame, feature_types: dict[str, str], sensitive: pd.DataFrame,
                 columns: Sequence[str] | None = None, max_rows: int = PROXY_ROWS,
                 seed: int = 0) -> pd.DataFrame:
    """How well each feature column alone predicts each sensitive attribute.

    The score is the chance-adjusted balanced accuracy
    (``sklearn.metrics.balanced_accuracy_score(adjusted=True)``: 0 is chance, 1 perfect) of
    stratified 5-fold cross-validated predictions of a classifier that sees that one column: for
    a categorical column ``sklearn.naive_bayes.CategoricalNB`` with a uniform prior (each
    value votes for the attribute value it is most typical of, Laplace-smoothed), for a numeric
    one a class-balanced decision tree with at least 20 rows per leaf (thresholds such as
    ``age < 25``). Cross-validation keeps a column with many rare values from scoring high by
    memorising rows. A column scoring :data:`PROXY_THRESHOLD` or more is a proxy of the
    attribute.

    Parameters
    ----------
    X : pandas.DataFrame
        Features.
    feature_types : dict
        ``column -> "categorical" | "numeric"``.
    sensitive : pandas.DataFrame
        One column per sensitive attribute, aligned with ``X`` by position.
    columns : sequence of str, optional
        Feature columns to score (default: every column of ``feature_types`` that is not itself
        a sensitive attribute).
    max_rows : int, default=PROXY_ROWS
        Score on a seeded sample of at most this many rows.
    seed : int, default=0

    Returns
    -------
    pandas.DataFrame
        ``column, sensitive, score, proxy`` (``proxy``: score >= :data:`PROXY_THRESHOLD`), one
        row per (column, attribute).
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.tree import DecisionTreeClassifier

    cols = [c for c in feature_types if c not in sensitive.columns] if columns is None else list(columns)
    idx = np.arange(len(X))
    if len(idx) > max_rows:
        idx = np.sort(np.random.RandomState(seed).choice(len(idx), max_rows, replace=False))
    rows = []
    for attr in sensitive.columns:
        a = sensitive[attr].astype(str).to_numpy()[idx]
        _, counts = np.unique(a, return_counts=True)
        folds = int(min(5, counts.min())) if len(counts) > 1 else 0
        for col in cols:
            score = math.nan
            if folds >= 2:
                v = X[col].iloc[idx]
                cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
                if feature_types.get(col) == "categorical":
                    codes = pd.factorize(v.astype(str))[0]
                    model: Any = CategoricalNB(fit_prior=False, min_categories=int(codes.max()) + 1)
                    x = codes.reshape(-1, 1)
                else:
                    model = DecisionTreeClassifier(class_weight="balanced", min_samples_leaf=20,
                                                   random_state=seed)
                    x = pd.to_numeric(v, errors="coerce").fillna(-1).to_numpy(dtype=float).reshape(-1, 1)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred = cross_val_predict(model, x, a, cv=cv)
                    score = float(balanced_accuracy_score(a, pred, adjusted=True))
            rows.append({"column": str(col), "sensitive": str(attr), "score": score,
                         "proxy": bool(score >= PROXY_THRESHOLD)})
    return pd.DataFrame(rows, columns=["column", "sensitive", "score", "proxy"])


@dataclass
class SignalChoice:
    """Which feature columns the audit's collectives may set, and why the others may not.

    Attributes
    ----------
    candidates : list of str
        Columns the signal may use (before :func:`choose_signal_columns` drops ids and
        constants).
    excluded : dict of str to str
        ``column -> reason`` for each feature column left out (not in ``--actionable``,
        ``--immutable``, sensitive, proxy of a sensitive attribute with its score).
    cautions : dict of str to str
        ``column -> reason`` for listed ``--actionable`` columns that are sensitive or proxies
        (used, since the user named them).
    scores : pandas.DataFrame
        :func:`proxy_scores` of the candidate columns (empty without a sensitive attribute).
    actionable : list of str or None
        The ``--actionable`` list as given (None: every feature column may be used).
    immutable : list of str
    """

    candidates: list[str]
    excluded: dict[str, str]
    cautions: dict[str, str]
    scores: pd.DataFrame
    actionable: list[str] | None = None
    immutable: list[str] = field(default_factory=list)


def _check_columns(names: Sequence[str], allowed: Sequence[str], option: str) -> list[str]:
    out = []
    for n in names:
        if n not in allowed:
            raise AuditError(f"{option}: column {n!r} is not a feature column; feature columns: "
                             + ", ".join(map(str, allowed)))
        if n not in out:
            out.append(n)
    return out


def select_signal_columns(X: pd.DataFrame, feature_types: dict[str, str],
                          sensitive: pd.DataFrame | None = None,
                          actionable: Sequence[str] | None = None,
                          immutable: Sequence[str] = ()) -> SignalChoice:
    """The feature columns a collective can really set: ``--actionable`` / ``--immutable``.

    With ``actionable``, only those columns (minus ``immutable``) are candidates: the user
    says the contributors control them; a listed column that is sensitive or a proxy is used but
    named in :attr:`SignalChoice.cautions`. Without it, every feature column except
    ``immutable``, the sensitive attributes and their proxies (:func:`proxy_scores` >=
    :data:`PROXY_THRESHOLD`) is a candidate. Column names are checked before any work.

    Parameters
    ----------
    X : pandas.DataFrame
        Features.
    feature_types : dict
        ``column -> "categorical" | "numeric"``.
    sensitive : pandas.DataFrame, optional
        The sensitive attributes (one column each), aligned with ``X``.
    actionable : sequence of str, optional
        Columns the contributors control.
    immutable : sequence of str, default=()
        Columns they cannot change.

    Returns
    -------
    SignalChoice

    Raises
    ------
    AuditError
        A name that is not a feature column (the option and the feature columns named), or a
        column both actionable and immutable.

    Examples
    --------
    >>> X = pd.DataFrame({"a": ["x", "y"] * 50, "b": range(100)})
    >>> select_signal_columns(X, {"a": "categorical", "b": "numeric"}, immutable=["b"]).candidates
    ['a']
    """
    allowed = [str(c) for c in feature_types]
    act = None if actionable is None else _check_columns(actionable, allowed, "actionable")
    imm = _check_columns(immutable, allowed, "immutable")
    both = [c for c in imm if act is not None and c in act]
    if both:
        raise AuditError(f"actionable: column {both[0]!r} is also given as --immutable")
    sens = [] if sensitive is None else [str(c) for c in sensitive.columns]
    excluded: dict[str, str] = {}
    for c in allowed:
        if act is not None and c not in act:
            excluded[c] = "not in --actionable"
        elif c in imm:
            excluded[c] = "--immutable"
    pool = [c for c in allowed if c not in excluded]
    cautions: dict[str, str] = {}
    for c in pool:
        if c in sens:
            (cautions if act is not None else excluded)[c] = "sensitive attribute"
    to_score = [c for c in pool if c not in sens]
    scores = (proxy_scores(X, feature_types, sensitive, to_score) if sens and to_score
              else pd.DataFrame(columns=["column", "sensitive", "score", "proxy"]))
    for c in to_score:
        hits = scores[(scores["column"] == c) & scores["proxy"]]
        if len(hits):
            why = "proxy of " + ", ".join(f"{r.sensitive} (score {r.score:.2f})"
                                          for r in hits.itertuples())
            (cautions if act is not None else excluded)[c] = why
    candidates = [c for c in pool if c not in excluded]
    return SignalChoice(candidates, excluded, cautions, scores, act, imm)


def choose_signal_columns(X: pd.DataFrame, feature_types: dict[str, str],
                          exclude: Sequence[str] = ()) -> list[tuple[str, Any]]:
    """Feature columns and values for the planted signal, most distinctive first.

    Categorical columns (2 to :data:`MAX_CATEGORIES` distinct values) come first, each with its
    rarest value, ordered by that value's count (rarest first: a rare value is a signal the
    base data hardly argues against). Numeric columns follow, each with an out-of-range value
    ``max + (max − min)`` (an integer for integer columns). Which columns a collective may set
    at all is :func:`select_signal_columns`' question; pass the others as ``exclude``.

    Parameters
    ----------
    X : pandas.DataFrame
        Features.
    feature_types : dict
        ``column -> "categorical" | "numeric"``.
    exclude : sequence of str
        Columns never used (e.g. the sensitive attribute).

    Returns
    -------
    list of (column, value)

    Examples
    --------
    >>> X = pd.DataFrame({"a": ["x", "x", "y"], "b": [1, 2, 3]})
    >>> choose_signal_columns(X, {"a": "categorical", "b": "numeric"})
    [('a', 'y'), ('b', 5)]
    """
    cats: list[tuple[int, str, Any]] = []
    nums: list[tuple[str, Any]] = []
    for col, kind in feature_types.items():
        if col in exclude:
            continue
        s = X[col]
        if kind == "categorical":
            counts = s.astype(str).value_counts()
            if 2 <= len(counts) <= MAX_CATEGORIES:
                cats.append((int(counts.iloc[-1]), str(col), counts.index[-1]))
        else:
            lo, hi = float(s.min()), float(s.max())
            value: Any = hi + max(hi - lo, 1.0)
            if pd.api.types.is_integer_dtype(s):
                value = int(value)
            nums.append((str(col), value))
    cats.sort(key=lambda t: (t[0], t[1]))
    return [(c, v) for _, c, v in cats] + nums


# --------------------------------------------------------------------------- the report


@dataclass
class AuditReport:
    """What :func:`audit` measured; :meth:`to_html` renders it.

    Attributes
    ----------
    inputs : dict
        Data path, label, sensitive columns (a list) with their minority values and favourable
        classes (lists in the same order), firm, target class, α grid, seeds, target success,
        ``actionable``/``immutable`` as given and the ``signal_columns`` the collectives set.
    results : pandas.DataFrame
        One row per cell of the planting/erasure batteries (``battery`` column).
    summary : pandas.DataFrame
        One row per battery: signal, estimates, theory and measured critical masses (0 when
        the firm reaches S* without a collective), the value at α = 0 beside the value at the
        largest α, cost.
    curves : pandas.DataFrame
        One row per (battery, α) over seeds (:func:`acakit.analyses.curves.summarize`) with both
        success conventions, accuracy and, when the summary names it, the ``interval`` method
        of ``success_lo``/``success_hi``.
    fairness : pandas.DataFrame or None
        Pareto table of the minority relabeling battery (of the first sensitive column).
    fairness_summary : dict or None
        No-action gap, gap after relabeling, relabelings needed to halve the gap (of the first
        sensitive column).
    figures : dict of str to bytes
        PNG images by name.
    configs : dict of str to str
        Each battery's config (YAML), runnable with ``acakit run`` / ``acakit fairness``.
    commands : list of str
        Shell commands that reproduce the report and its critical masses.
    seconds : float
        Wall-clock time of the audit.
    fairness_by : dict of str to dict
        Every sensitive column's relabeling battery: ``column -> {"table", "summary",
        "minority", "favorable"}`` (``fairness``/``fairness_summary`` are the first's).
    signal_choice : SignalChoice or None
        Which columns the collectives could set (:func:`select_signal_columns`).
    trivial : list of str
        Why the clean firm is trivial (:func:`acakit.metrics.trivial_firm`), one line per seed
        where it is; empty when it is not.
    """

    inputs: dict[str, Any]
    results: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    fairness: pd.DataFrame | None = None
    fairness_summary: dict[str, Any] | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fairness_by: dict[str, dict[str, Any]] = field(default_factory=dict)
    signal_choice: SignalChoice | None = None
    trivial: list[str] = field(default_factory=list)

    def to_html(self) -> str:
        """The report as one self-contained HTML page (no external assets)."""
        return _render_html(self)

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` (folders created) and return the path."""
        from acakit._safe import atomic_open

        p = Path(path)
        with atomic_open(p, "w", encoding="utf-8") as f:  # a symlink at p is replaced, not followed
            f.write(self.to_html())
        return p


# --------------------------------------------------------------------------- validation


def _load(data: str | Path, label: str, sensitive: Sequence[str], drop: Sequence[str] = ()) -> Any:
    from acakit.data import load_csv

    try:
        ds = load_csv(data, label, list(sensitive), drop=list(drop))
    except ValueError as e:
        raise AuditError(str(e).splitlines()[0]) from None
    if ds.kind != "tabular" or not isinstance(ds.X, pd.DataFrame) or ds.X.shape[1] == 0:
        raise AuditError(f"data: {Path(data).name} has no feature column besides {label!r}")
    return ds


def _check_firm(firm: str, ds: Any) -> None:
    from acakit.firms import check_firm_name, make_firm

    try:
        check_firm_name(firm)
        est = make_firm(firm, ds)
    except ValueError as e:
        raise AuditError(str(e).splitlines()[0]) from None
    model = est.steps[-1][1] if hasattr(est, "steps") else est
    for verb in ("fit", "predict"):
        if not callable(getattr(model, verb, None)):
            raise AuditError(f"firm: {firm!r} is not a classifier (it has no {verb} method)")


def _pick_target(ds: Any, target: str | None) -> str:
    if target is not None:
        try:
            return ds.classes[ds.class_index(target)]
        except ValueError as e:
            raise AuditError(f"target: {str(e).splitlines()[0]}") from None
    counts = np.bincount(np.asarray(ds.y), minlength=ds.n_classes)
    return str(ds.classes[int(np.argmin(counts))])  # the rarer outcome: the harder one to force


def pick_groups(ds: Any, sensitive: str, minority: str | None = None,
                favorable: str | None = None) -> tuple[str, str]:
    """Minority value (default: the rarest of ``sensitive``) and favourable class (default: the
    class the majority gets more often than the minority), checked against the data."""
    a = ds.sensitive[sensitive].astype(str).reset_index(drop=True)
    values = a.value_counts()
    if len(values) < 2:
        raise AuditError(f"sensitive: column {sensitive!r} has {len(values)} distinct value(s); need >= 2")
    if minority is None:
        minority = str(values.index[-1])
    elif str(minority) not in values.index:
        raise AuditError(f"minority: {minority!r} does not occur in column {sensitive!r}; values: "
                         + ", ".join(map(str, values.index[:20])))
    y = np.asarray(ds.y)
    if favorable is None:
        is_min = (a == str(minority)).to_numpy()
        rate_min = np.bincount(y[is_min], minlength=ds.n_classes) / max(is_min.sum(), 1)
        rate_maj = np.bincount(y[~is_min], minlength=ds.n_classes) / max((~is_min).sum(), 1)
        favorable = str(ds.classes[int(np.argmax(rate_maj - rate_min))])
    else:
        try:
            favorable = str(ds.classes[ds.class_index(favorable)])
        except ValueError as e:
            raise AuditError(f"favorable: {str(e).splitlines()[0]}") from None
    return str(minority), favorable


#: Member counts of the default grid on a small file (where DEFAULT_ALPHAS gives < 2 members).
SMALL_DATA_COUNTS: tuple[int, ...] = (2, 3, 5, 10, 20, 50, 100)


def default_alphas(n_train: int) -> list[float]:
    """The default α grid for ``n_train`` training rows: :data:`DEFAULT_ALPHAS` where its smallest
    size still gives at least 2 members, else the sizes of 2, 3, 5, 10, 20, 50 and 100 members
    (at most 20% of the training set), after 0.

    Examples
    --------
    >>> default_alphas(100_000) == list(DEFAULT_ALPHAS)
    True
    >>> [round(a * 280) for a in default_alphas(280)]
    [0, 2, 3, 5, 10, 20, 50]
    """
    smallest = min(a for a in DEFAULT_ALPHAS if a > 0)
    if n_train * smallest >= 2:
        return list(DEFAULT_ALPHAS)
    return [0.0] + [c / n_train for c in SMALL_DATA_COUNTS if c / n_train <= 0.2]


def unique_id_columns(X: pd.DataFrame) -> list[str]:
    """Feature columns with a different value in every row (an id, a timestamp): as a feature
    they let a firm memorise rows; the audit warns and ``--drop`` leaves them out.

    Examples
    --------
    >>> unique_id_columns(pd.DataFrame({"id": ["a", "b", "c"], "x": [1, 1, 2]}))
    ['id']
    """
    n = len(X)
    return [str(c) for c in X.columns if n > 2 and X[c].nunique(dropna=False) == n
            and not pd.api.types.is_float_dtype(X[c])]


def _check_alphas(alphas: Sequence[float]) -> list[float]:
    out = sorted({float(a) for a in alphas})
    if not out:
        raise AuditError("alphas: give at least one collective size")
    for a in out:
        if not 0.0 <= a <= 1.0 or math.isnan(a):
            raise AuditError(f"alphas: {a} is not a fraction of the training set in [0, 1]")
    return out


# --------------------------------------------------------------------------- configs


def _yaml(d: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


def battery_configs(data: str, label: str, sensitive: str | Sequence[str] | None, firm: str,
                    target: str, signals: list[tuple[str, Any]], alphas: Sequence[float],
                    seeds: Sequence[int], test_size: float = 0.3,
                    drop: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """One ``acakit run`` config per planting/erasure battery (name -> config dict)."""
    params: dict[str, Any] = {"path": str(data), "label": label}
    if drop:
        params["drop"] = list(drop)
    if sensitive:
        params["sensitive"] = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    base = {"dataset": {"name": "csv", "params": params, "test_size": test_size},
            "firm": {"name": firm},
            "sweep": {"alpha": [float(a) for a in alphas], "seed": [int(s) for s in seeds]}}
    out: dict[str, dict[str, Any]] = {}
    strengths = [(n, k) for n, k in STRENGTHS.items() if k <= len(signals)]
    if strengths and strengths[-1][1] < min(3, len(signals)):
        strengths.append(("strong", len(signals)))
    for name, k in strengths:
        values = {c: _plain(v) for c, v in signals[:k]}
        out[f"plant ({name}: {k} column{'s' if k > 1 else ''})"] = base | {
            "name": f"audit: feature-label planting, {name} signal",
            "collective": {"strategy": "plant", "signal": {"type": "set_columns", "values": values},
                           "target": target, "eligibility": "any"}}
    strongest = {c: _plain(v) for c, v in signals[:strengths[-1][1]]}
    out["plant feature-only (strong)"] = base | {
        "name": "audit: feature-only planting, strong signal",
        "collective": {"strategy": "plant_feature_only",
                       "signal": {"type": "set_columns", "values": strongest},
                       "target": target, "eligibility": "target"}}
    out["erase (strong)"] = base | {
        "name": "audit: signal erasure, strong signal",
        "collective": {"strategy": "erase", "signal": {"type": "set_columns", "values": strongest},
                       "ideal": True, "reference": {"name": firm}}}
    return out


def fairness_config(data: str, label: str, sensitive: str, minority: str, favorable: str, firm: str,
                    seeds: Sequence[int], test_size: float = 0.3,
                    drop: Sequence[str] = ()) -> dict[str, Any]:
    """The ``experiment: fairness`` config of the minority relabeling battery."""
    return {
        "experiment": "fairness",
        "name": f"audit: minority relabeling ({sensitive} = {minority})",
        "dataset": {"name": "csv", "params": {"path": str(data), "label": label,
                                              "sensitive": [sensitive]}
                    | ({"drop": list(drop)} if drop else {}), "test_size": test_size},
        "groups": {"minority": {sensitive: minority}, "favorable": favorable},
        "firm": {"name": firm},
        "relabel": {"methods": ["probability", "random"], "alpha": FAIRNESS_ALPHA,
                    "budgets": list(FAIRNESS_BUDGETS), "thresholds": [0.5]},
        "baselines": ["threshold_eo"],
        "seeds": [int(s) for s in seeds],
        "analyses": ["pareto"],
    }


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------- running


def audit(
    data: str | Path,
    label: str,
    firm: str,
    *,
    sensitive: str | Sequence[str] | None = None,
    target: str | None = None,
    minority: str | Sequence[str | None] | None = None,
    favorable: str | Sequence[str | None] | None = None,
    actionable: Sequence[str] | None = None,
    immutable: Sequence[str] = (),
    alphas: Sequence[float] | None = None,
    seeds: int = 2,
    success: float = 0.9,
    jobs: int = 1,
    test_size: float = 0.3,
    progress: bool = True,
    console: Any = None,
    drop: Sequence[str] = (),
) -> AuditReport:
    """Run the audit battery against a firm on a CSV file.

    Parameters
    ----------
    data : str or Path
        CSV file with a header row.
    label : str
        Label column.
    firm : str
        A dotted path to a scikit-learn classifier (``sklearn.linear_model.LogisticRegression``)
        or an acakit firm name; fitted behind acakit's featurizer (one-hot + standardised).
    sensitive : str or sequence of str, optional
        Sensitive column(s): each adds a minority relabeling battery; they and their proxies
        are left out of the signal unless ``actionable`` names them.
    target : str, optional
        Target class of the planting collectives (default: the rarer class).
    minority : str or sequence, optional
        Minority value of each sensitive column (default: its least frequent value); one value
        for every column, or one per column in the order of ``sensitive``.
    favorable : str or sequence, optional
        Favourable class (default: the class the majority gets more often than the minority);
        one for every sensitive column or one per column.
    actionable : sequence of str, optional
        The feature columns the contributors control: the signal uses only these (default:
        every feature column but ``immutable``, the sensitive columns and their proxies, see
        :func:`select_signal_columns`).
    immutable : sequence of str, default=()
        Feature columns the contributors cannot change (never in the signal).
    alphas : sequence of float, optional
        Collective sizes (fractions of the training set). Default: :func:`default_alphas` of
        the training set's size (at least 2 members at the smallest size); sizes that give
        fewer than 2 members are named in a line.
    seeds : int, default=2
        Seeds (splits and draws) pooled per α.
    success : float, default=0.9
        Target success S* of the critical masses.
    jobs : int, default=1
        Worker processes.
    test_size : float, default=0.3
    progress : bool, default=True
        Show progress bars.
    console : rich.console.Console, optional
        Where stage lines go (default: stderr).
    drop : sequence of str, default=()
        Columns of the CSV that are no feature (an id, free text); a column with a different
        value in every row is named in a warning unless dropped.

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditError
        A malformed CSV, a missing column, an estimator path that does not import, an unknown
        class or value, an impossible α or success, an ``actionable``/``immutable`` name that is
        not a feature column (one line naming the problem).
    """
    from rich.console import Console

    from acakit.data.base import train_test_split
    from acakit.engine.config import ConfigError, check_cells_against_data, expand, parse_config
    from acakit.engine.runners import CellFailedError, RunnerError
    from acakit.engine.single import build_feature_map, run_cells

    t0 = time.perf_counter()
    console = console or Console(stderr=True, markup=False)
    if not 0 < success < 1:
        raise AuditError(f"success: {success} is not a target success in (0, 1)")
    if seeds < 1:
        raise AuditError(f"seeds: {seeds} must be >= 1")
    alpha_list = _check_alphas(alphas if alphas is not None else DEFAULT_ALPHAS)
    from acakit.engine.config import check_sweep_size

    try:  # counted before any list of seeds or cell is made
        check_sweep_size([("--alphas", len(alpha_list)), ("--seeds", seeds)])
    except ConfigError as e:
        raise AuditError(str(e).replace("sweep: ", "seeds: ", 1)) from None
    sens = _sensitive_list(sensitive)
    minorities = _per_sensitive(minority, sens, "minority")
    favorables = _per_sensitive(favorable, sens, "favorable")
    data = Path(data).expanduser().resolve()
    drop = list(dict.fromkeys(str(c) for c in drop))
    ds = _load(data, label, sens, drop)
    n_train_rows = len(ds) - int(math.ceil(test_size * len(ds)))  # the split's training rows
    if alphas is None:
        alpha_list = default_alphas(n_train_rows)
    few = [a for a in alpha_list if 0 < a and round(a * n_train_rows) < 2]
    if few:
        console.print(f"note: with {n_train_rows:,} training rows, α = "
                      f"{', '.join(f'{a:g} ({round(a * n_train_rows)})' for a in few)} give fewer "
                      "than 2 members (in brackets): those sizes measure (almost) no collective",
                      highlight=False, markup=False)
    ids = [c for c in unique_id_columns(ds.X) if c not in sens]
    if ids:
        console.print(f"warning: {', '.join(repr(c) for c in ids)} has a different value in every "
                      "row (an id?): as a feature it lets the firm memorise rows; leave it out "
                      f"with --drop {','.join(ids)}", highlight=False, markup=False)
    sens_frame = ds.sensitive[sens] if sens else None
    allowed = [str(c) for c in ds.feature_types]
    # names first (one line, before any work); the proxy scores come after the other checks
    act = None if actionable is None else _check_columns(actionable, allowed, "actionable")
    imm = _check_columns(immutable, allowed, "immutable")
    _check_firm(firm, ds)
    target_name = _pick_target(ds, target)
    groups = {col: pick_groups(ds, col, m, f) for col, m, f in zip(sens, minorities, favorables,
                                                                   strict=True)}
    choice = select_signal_columns(ds.X, ds.feature_types, sens_frame, act, imm)
    signals = choose_signal_columns(ds.X, ds.feature_types, exclude=list(choice.excluded))
    if not signals:
        left = ", ".join(f"{c} ({why})" for c, why in choice.excluded.items())
        raise AuditError(f"data: {data.name} has no usable feature column for a signal"
                         + (f" (left out: {left}; name the columns the contributors control with "
                            "--actionable)" if left else ""))
    seed_list = list(range(seeds))
    raw_configs = battery_configs(str(data), label, sens, firm, target_name, signals, alpha_list,
                                  seed_list, test_size, drop)
    try:
        cells, labels = [], []
        for name, raw in raw_configs.items():
            cs = expand(parse_config(raw))
            check_cells_against_data(cs[:1])
            cells += cs
            labels += [name] * len(cs)
    except ConfigError as e:
        raise AuditError(str(e)) from None

    console.print(f"audit: {len(ds):,} rows, target class {target_name!r}, firm {firm}, "
                  f"{len(cells)} cells", highlight=False)
    used = list(dict.fromkeys(c for c, _ in signals[:max(STRENGTHS.values())]))
    left_out = {c: w for c, w in choice.excluded.items() if w != "not in --actionable"}
    console.print(f"signal columns: {', '.join(used)} (confirm the contributors control them)"
                  + (f"; left out: {', '.join(f'{c} ({w})' for c, w in left_out.items())}"
                     if left_out else "")
                  + (f"; used as --actionable, although: "
                     f"{', '.join(f'{c} ({w})' for c, w in choice.cautions.items())}"
                     if choice.cautions else ""), highlight=False)
    console.print(f"estimating Δ and ξ of each signal on the training split (up to {ESTIMATE_ROWS:,} rows)",
                  highlight=False)
    train, _ = train_test_split(ds, test_size, seed=seed_list[0])
    n_train = len(train)
    sample = train
    if len(train) > ESTIMATE_ROWS:
        sample = train.take(np.random.RandomState(0).choice(len(train), ESTIMATE_ROWS, replace=False))
    from rich.progress import Progress

    estimates: dict[str, dict[str, Any]] = {}
    with Progress(console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task("estimating Δ, ξ", total=len(raw_configs))
        for name, raw in raw_configs.items():
            g = build_feature_map(cells[labels.index(name)], train)
            estimates[name] = _theory(raw, sample, g, success, n_train)
            bar.advance(task)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the user's estimator
        try:
            results = run_cells(cells, jobs=jobs, progress=progress, labels=labels, cache=False,
                                fail_fast=True)
        except (CellFailedError, RunnerError) as e:
            raise AuditError(f"firm: a cell failed: {str(e).splitlines()[0]}") from None
    results = results.rename(columns={"variant": "battery"})
    trivial = _trivial_reasons(results, ds, firm, seed_list, test_size)
    curves = _curves(results)
    summary = _summary(raw_configs, estimates, curves, success, n_train)

    fair = fair_summary = None
    figures = {"planting": _plot_planting(curves, estimates, raw_configs, trivial),
               "erasure": _plot_metric(curves, "erasure_success", "erasure success  Pr[f(g(x)) = f0(x)]",
                                       only=[n for n in raw_configs if n.startswith("erase")]),
               "accuracy": _plot_metric(curves, "accuracy_drop_pp",
                                        "clean-accuracy cost (percentage points)", only=list(raw_configs))}
    configs = {name: _yaml(raw) for name, raw in raw_configs.items()}
    fairness_by: dict[str, dict[str, Any]] = {}
    for col, (minority_value, favorable_class) in groups.items():
        console.print(f"minority relabeling: {col} = {minority_value!r}, favourable "
                      f"{favorable_class!r} ...", highlight=False)
        fcfg = fairness_config(str(data), label, col, minority_value, favorable_class, firm, seed_list,
                               test_size, drop)
        table, fsum, png = _run_fairness(fcfg, jobs, progress)
        fairness_by[col] = {"table": table, "summary": fsum, "minority": minority_value,
                            "favorable": favorable_class}
        figures[_fairness_key(col, sens)] = png
        configs[_fairness_key(col, sens, "minority relabeling")] = _yaml(fcfg)
    if fairness_by:
        first = fairness_by[sens[0]]
        fair, fair_summary = first["table"], first["summary"]

    inputs = {"data": str(data), "label": label, "sensitive": sens, "firm": firm,
              "target": target_name, "alphas": alpha_list, "seeds": seeds, "success": success,
              "n_rows": len(ds), "n_train": n_train, "test_size": test_size,
              "minority": [g[0] for g in groups.values()], "favorable": [g[1] for g in groups.values()],
              "actionable": act, "immutable": imm, "signal_columns": used, "drop": drop,
              "classes": list(map(str, ds.classes))}
    commands = _commands(inputs, summary, configs)
    return AuditReport(inputs, results, summary, curves, fair, fair_summary, figures, configs,
                       commands, time.perf_counter() - t0, fairness_by, choice, trivial)


def _fairness_key(col: str, sens: Sequence[str], stem: str = "fairness") -> str:
    """``stem`` with one sensitive column, ``stem (col)`` with several."""
    return stem if len(sens) == 1 else f"{stem} ({col})"


def _sensitive_list(sensitive: str | Sequence[str] | None) -> list[str]:
    out = [] if sensitive is None else [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for i, col in enumerate(out):
        if col in out[:i]:
            raise AuditError(f"sensitive: column {col!r} is given twice")
    return out


def _per_sensitive(value: str | Sequence[str | None] | None, sens: Sequence[str],
                   option: str) -> list[str | None]:
    """One ``--minority`` / ``--favorable`` per sensitive column: none, one for all, or paired."""
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    if values and not sens:
        raise AuditError(f"{option}: given without --sensitive")
    if not values:
        return [None] * len(sens)
    if len(values) == 1:
        return values * len(sens)
    if len(values) != len(sens):
        raise AuditError(f"{option}: given {len(values)} times for {len(sens)} --sensitive columns; "
                         "give it once (for every column) or once per --sensitive, in the same order")
    return values


def _trivial_reasons(results: pd.DataFrame, ds: Any, firm: str, seeds: Sequence[int],
                     test_size: float) -> list[str]:
    """Why the clean firm f0 is trivial on each seed's split (``acakit.metrics.trivial_firm``).

    The engine's rows carry the verdict (``trivial_firm``, computed on f0's test predictions);
    where they do not, f0 is fitted once more per seed on the same split.
    """
    import re

    from acakit.metrics import trivial_firm

    classes = [str(c) for c in ds.classes]

    def named(reason: str) -> str:  # the engine's predictions are class indices: name the class
        m = re.search(r"one class \((\d+)\)", reason)
        if m and int(m.group(1)) < len(classes):
            reason = reason[:m.start(1)] + classes[int(m.group(1))] + reason[m.end(1):]
        return reason

    out = []
    for seed in seeds:
        rows = results[results["seed"] == seed] if "seed" in results else results.iloc[:0]
        if "trivial_firm" in rows and rows["trivial_firm"].notna().any():
            reason = named(str(rows["trivial_firm"].dropna().iloc[0]))
        else:
            from acakit.data.base import train_test_split
            from acakit.firms import make_firm

            train, test = train_test_split(ds, test_size, seed=seed)
            f0 = make_firm(firm, ds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f0.fit(train.X, train.y)
            names = np.asarray(classes)
            reason = trivial_firm(names[np.asarray(f0.predict(test.X))], names[np.asarray(test.y)])
        if reason and reason != "nan":
            out.append(f"seed {seed}: {reason}" if len(seeds) > 1 else reason)
    return out


def _theory(raw: dict[str, Any], train: Any, g: Any, success: float, n_train: int) -> dict[str, Any]:
    """Δ, ξ (κ) estimates (on ``train``) and the planner's critical mass for one battery."""
    from acakit.theory.estimators import estimate_signal
    from acakit.theory.planner import plan

    c = raw["collective"]
    strategy = c["strategy"]
    if strategy == "erase":
        p = plan(success, strategy="erase", n_train=n_train)
        return {"strategy": strategy, "gap": None, "signal_mass": None, "kappa": p.kappa,
                "critical_mass": p.critical_mass, "critical_count": p.critical_count, "plan": p,
                "note": "ideal erasure: the bound holds for any α > 0 (ε = 0)"}
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore")
        est = estimate_signal(train, g, train.class_index(c["target"]), strategy=strategy, n_boot=100)
        p = plan(success, gap=est.gap, signal_mass=est.signal_mass, strategy=strategy, kappa=est.kappa,
                 n_train=n_train)
    note = ""
    a_star, count = p.critical_mass, p.critical_count
    if not np.isfinite(est.kappa):
        note = "signal absent among target-class rows: κ = ∞, the bound gives no guarantee"
        a_star, count = math.inf, math.inf
    elif est.signal_mass == 0:
        note = "signal absent from the base data (ξ = 0): any α > 0 suffices for a Bayes-optimal firm"
    return {"strategy": strategy, "gap": est.gap, "signal_mass": est.signal_mass, "kappa": est.kappa,
            "gap_ci": est.gap_ci, "signal_mass_ci": est.signal_mass_ci, "method": est.method,
            "critical_mass": a_star, "critical_count": count, "plan": p, "note": note}


def _curves(results: pd.DataFrame) -> pd.DataFrame:
    from acakit.analyses.curves import summarize

    parts = []
    for battery, r in results.groupby("battery", sort=False):
        r = r.assign(variant=battery)
        metrics = ["success", "success_all"] if r["success"].notna().any() else []
        base = summarize(r, "erasure_success")
        for m in metrics:
            s = summarize(r, m)
            # one row per requested α (sizes that draw the same members share a realised α)
            keep = ["alpha_requested", m, f"{m}_lo", f"{m}_hi"] + (
                ["interval"] if m == "success" else [])
            base = base.drop(columns="interval", errors="ignore") if m == "success" else base
            base = base.merge(s[[c for c in keep if c in s.columns]], on="alpha_requested",
                              how="left", validate="one_to_one")
        base.insert(0, "battery", battery)
        parts.append(base.drop(columns="variant"))
    out = pd.concat(parts, ignore_index=True)
    out["accuracy_drop_pp"] = 100 * (out["clean_accuracy"] - out["accuracy"])
    cols = ["battery", "alpha_requested", "alpha", "n_members", "seeds", "success", "success_lo",
            "success_hi",
            "interval", "success_all", "erasure_success", "erasure_success_lo",
            "erasure_success_hi", "accuracy", "clean_accuracy",
            "accuracy_drop_pp"]
    return out[[c for c in cols if c in out.columns]]


def _first_alpha(c: pd.DataFrame, metric: str, success: float) -> float:
    """Least α of the grid reaching ``success``: 0 when the firm does it without a collective."""
    if metric not in c:
        return math.nan
    hit = c[c[metric] >= success]
    return float(hit["alpha"].min()) if len(hit) else math.inf


def _at_zero(c: pd.DataFrame, metric: str) -> float:
    """The metric without a collective (the α = 0 row; NaN when the grid has none)."""
    row = c[c["alpha"] == 0]
    return float(row[metric].iloc[0]) if len(row) and metric in row else math.nan


def _count_at(c: pd.DataFrame, alpha: float) -> float:
    if not np.isfinite(alpha):
        return alpha
    return float(c.loc[np.isclose(c["alpha"], alpha), "n_members"].iloc[0])


def _summary(configs: dict[str, dict[str, Any]], est: dict[str, dict[str, Any]], curves: pd.DataFrame,
             success: float, n_train: int) -> pd.DataFrame:
    rows = []
    for name, raw in configs.items():
        c = curves[curves["battery"] == name].sort_values("alpha")
        e = est[name]
        strategy = raw["collective"]["strategy"]
        metric = "erasure_success" if strategy == "erase" else "success_all"
        top = c.iloc[-1]
        note = e["note"]
        zero = _at_zero(c, metric)
        if zero >= success:
            note = (f"already {zero:.3g} without a collective (α = 0): the firm does this on its own, "
                    "the measured α says nothing about what a collective achieves"
                    + (f"; {note}" if note else ""))
        rows.append({
            "battery": name,
            "signal": ", ".join(f"{k} = {v}" for k, v in raw["collective"]["signal"]["values"].items()),
            "gap Δ": e["gap"], "signal mass ξ": e["signal_mass"],
            "kappa κ": e["kappa"] if strategy == "plant_feature_only" else math.nan,
            "theory α* (bound)": e["critical_mass"],
            "theory head count": e["critical_count"],
            "measured α (all test points)": _first_alpha(c, metric, success),
            "measured head count": _count_at(c, _first_alpha(c, metric, success)),
            "measured α (non-target points)": (_first_alpha(c, "success", success)
                                               if strategy != "erase" else math.nan),
            "success at α = 0 (no collective)": zero,
            "success at largest α": float(top[metric]),
            "largest α": float(top["alpha"]),
            "max accuracy cost (pp)": float(c["accuracy_drop_pp"].max()),
            "theory note": note,
        })
    return pd.DataFrame(rows)


def _run_fairness(cfg: dict[str, Any], jobs: int, progress: bool) -> tuple[pd.DataFrame, dict[str, Any],
                                                                            bytes]:
    from acakit.analyses.fairness import run_config
    from acakit.engine.config import ConfigError

    with tempfile.TemporaryDirectory(prefix="acakit-audit-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = run_config(cfg, jobs=jobs, out_dir=tmp, progress=progress)
        except ConfigError as e:
            raise AuditError(str(e)) from None
        table = res.tables["pareto"]
        png = (Path(tmp) / "pareto.png").read_bytes()
    summary = relabelings_needed(table)
    summary["quarter"] = relabelings_needed(table, goal=0.75 * summary["no_action_gap"])
    return table, summary, png


def relabelings_needed(pareto: pd.DataFrame, method: str = "probability", metric: str = "eo_gap",
                       goal: float | None = None) -> dict[str, Any]:
    """How many relabelings bring the gap to ``goal`` (default: half the no-action gap).

    Parameters
    ----------
    pareto : DataFrame
        Table of :func:`acakit.analyses.fairness_tables.pareto_frontier`.
    method : str, default="probability"
    metric : {"eo_gap", "dp_gap"}, default="eo_gap"
    goal : float, optional

    Returns
    -------
    dict
        ``no_action_gap``, ``goal``, ``flips_needed`` (``None`` if no budget reaches the goal),
        ``error_at_goal``, ``best_gap``, ``best_flips``, ``method``, ``metric``.
    """
    na = pareto[pareto["kind"] == "no_action"].iloc[0]
    gap0 = float(na[metric])
    goal = gap0 / 2 if goal is None else float(goal)
    r = pareto[(pareto["kind"] == "relabel") & (pareto["method"] == method)].sort_values("n_flips")
    ok = r[r[metric] <= goal]
    best = r.loc[r[metric].idxmin()] if len(r) else None
    return {"method": method, "metric": metric, "no_action_gap": gap0,
            "no_action_error": float(na["error"]), "goal": goal,
            "flips_needed": float(ok["n_flips"].iloc[0]) if len(ok) else None,
            "error_at_goal": float(ok["error"].iloc[0]) if len(ok) else None,
            "best_gap": float(best[metric]) if best is not None else None,
            "best_flips": float(best["n_flips"]) if best is not None else None}


# --------------------------------------------------------------------------- plots


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    from acakit.analyses.style import run_checks

    buf = io.BytesIO()
    tight_layout(fig)
    run_checks(fig, "audit")  # the tests check every figure's layout
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _plot_planting(curves: pd.DataFrame, est: dict[str, dict[str, Any]],
                   configs: dict[str, dict[str, Any]], trivial: Sequence[str] = ()) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = [n for n, raw in configs.items() if raw["collective"]["strategy"] != "erase"]
    top = float(curves["alpha"].max()) or 0.01
    grid = np.linspace(0, top, 300)[1:]
    above = []
    for i, name in enumerate(names):
        c = curves[curves["battery"] == name].sort_values("alpha")
        col = colors[i % len(colors)]
        x = 100 * c["alpha"].to_numpy()
        ax.plot(x, c["success_all"], "o-", color=col, label=f"{name}: measured")
        ax.fill_between(x, c["success_lo"], c["success_hi"], color=col, alpha=0.12)
        ax.plot(x, c["success"], "x:", color=col, alpha=0.7)
        with np.errstate(invalid="ignore"):
            bound = est[name]["plan"].bound(grid)
        ax.plot(100 * grid, np.clip(bound, -0.02, 1), "--", color=col, lw=1, alpha=0.8)
        with np.errstate(invalid="ignore"):
            at = est[name]["plan"].bound(c["alpha"].to_numpy())
        if np.any(np.nan_to_num(at, nan=-1) > c["success_hi"].to_numpy() + 1e-9):
            above.append(name)
    ax.plot([], [], "k--", lw=1, label="plug-in bound, Bayes-optimal firm (same colour)")
    ax.plot([], [], "kx:", label=f"success on non-target points (band: its {_band(curves)})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("collective size α (% of the training set)")
    ax.set_ylabel("success: Pr[f(g(x)) = target]")
    ax.set_title("Planting: measured success (all test points, o) vs plug-in bound (--)")
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="x-small")
    lines = ["--: a plug-in lower bound for a Bayes-optimal firm (ε = 0), P0 estimated from this "
             "data; not a bound on the firm trained here."]
    if above:
        lines.append(f"It lies above the measured band for {', '.join(above)}: that is the "
                     "trained firm's suboptimality, not a failure of the bound.")
    note(fig, " ".join(lines))
    if trivial:  # the warning of the terminal and the report, on the figure too
        fig.text(0.01, 1.0, "trivial firm (predicts one class on clean data): "
                 + "; ".join(t.replace("$", r"\$") for t in trivial), ha="left",
                 va="bottom", color="red",
                 fontsize="x-small", fontweight="bold", wrap=True)
    return _png(fig)


def _band(curves: pd.DataFrame) -> str:
    """How the success bands were made: ``95% CI, t over 2 seeds ...`` (the summary's method)."""
    methods = (list(dict.fromkeys(curves["interval"].dropna().astype(str)))
               if "interval" in curves else [])
    return "95% CI" + (f", {'; '.join(methods)}" if methods else "")


def _plot_metric(curves: pd.DataFrame, metric: str, ylabel: str, only: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from acakit.analyses.curves import band_label

    fig, ax = plt.subplots(figsize=(8, 4))
    banded = []
    for name in only:
        c = curves[curves["battery"] == name].sort_values("alpha")
        if metric in c:
            line, = ax.plot(100 * c["alpha"], c[metric], "o-", label=name)
            if f"{metric}_lo" in c and c[f"{metric}_lo"].notna().any():
                ax.fill_between(100 * c["alpha"], c[f"{metric}_lo"], c[f"{metric}_hi"],
                                color=line.get_color(), alpha=0.2)
                banded.append(c)
    ax.set_xlabel("collective size α (% of the training set)")
    band = f"\n(band: {band_label(pd.concat(banded))})" if banded else ""
    ax.set_ylabel(ylabel + band, fontsize="small" if band else None)
    if "success" in metric:  # a share: drawn on its whole range, not zoomed to a cliff
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    place_legend(ax, fontsize="x-small")
    return _png(fig)


# --------------------------------------------------------------------------- commands and HTML


def _commands(inputs: dict[str, Any], summary: pd.DataFrame, configs: dict[str, str]) -> list[str]:
    q = shlex.quote
    cmd = (f"acakit audit --data {q(inputs['data'])} --label {q(inputs['label'])} "
           f"--firm {q(inputs['firm'])} --target {q(inputs['target'])} "
           f"--alphas {q(','.join(f'{a:g}' for a in inputs['alphas']))} --seeds {inputs['seeds']} "
           f"--success {inputs['success']:g}")
    for col, m, f in zip(inputs["sensitive"], inputs["minority"], inputs["favorable"], strict=True):
        cmd += f" --sensitive {q(col)} --minority {q(str(m))} --favorable {q(str(f))}"
    if inputs.get("actionable") is not None:
        cmd += f" --actionable {q(','.join(inputs['actionable']))}"
    if inputs.get("immutable"):
        cmd += f" --immutable {q(','.join(inputs['immutable']))}"
    if inputs.get("drop"):
        cmd += f" --drop {q(','.join(inputs['drop']))}"
    out = [cmd]
    for d in summary.to_dict("records"):
        if d["gap Δ"] is None or pd.isna(d["gap Δ"]):
            continue
        strategy = "plant_feature_only" if "feature-only" in d["battery"] else "plant"
        extra = ""
        if strategy == "plant_feature_only":
            extra = f" --strategy plant_feature_only --kappa {d['kappa κ']!r}"
        out.append(f"acakit plan --gap {d['gap Δ']!r} --signal-mass {d['signal mass ξ']!r} "
                   f"--target {inputs['success']:g} --n-train {inputs['n_train']}{extra} --json"
                   f"   # {d['battery']}")
    for name in configs:
        fname = _slug(name) + ".yaml"
        verb = "acakit fairness pareto" if name.startswith("minority relabeling") else "acakit run"
        out.append(f"{verb} {fname}   # {name} (save the config below as {fname})")
    return out


def _slug(name: str) -> str:
    s = "".join(ch if ch.isalnum() else "_" for ch in name.lower())
    return "_".join(p for p in s.split("_") if p)


def _fmt(v: Any, col: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        if math.isinf(v):
            if v < 0:
                return "−∞"
            return "∞" if col.startswith("kappa") else "out of reach" if col.startswith(
                "theory") else "not reached"
        if col.startswith("theory α") and v == 0:
            return "any α > 0"  # ξ = 0 or ideal erasure: the bound holds for every collective
        return f"{v:.3g}" if " α" in col else f"{v:.4g}"
    return str(v)


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v, str(c)))}</td>"
                                    for c, v in zip(df.columns, row, strict=True)) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(png).decode("ascii")}">')


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}
.note{color:#555;font-size:.9em}
.warn{border:2px solid #c60;background:#fff4e5;padding:.5em .9em;margin:1em 0}
"""


def _fairness_runs(r: AuditReport) -> dict[str, dict[str, Any]]:
    """The relabeling batteries by sensitive column (a report built by hand may only have the
    single ``fairness``/``fairness_summary`` pair)."""
    if r.fairness_by:
        return r.fairness_by
    if r.fairness is None or r.fairness_summary is None:
        return {}
    def first(key: str) -> Any:
        v = r.inputs.get(key)
        return v[0] if isinstance(v, list | tuple) else v

    return {str(first("sensitive")): {"table": r.fairness, "summary": r.fairness_summary,
                                      "minority": first("minority"), "favorable": first("favorable")}}


def _trivial_html(r: AuditReport) -> list[str]:
    if not r.trivial:
        return []
    e = html.escape
    return ["<div class='warn'><p><b>Warning: trivial firm.</b> The firm trained on clean data is "
            "trivial on this data: " + "; ".join(e(t) for t in r.trivial) + ".</p>"
            "<p>Numbers measured on such a firm say little about the collective: it already "
            "predicts (nearly) one class, so the success of forcing that class, the erasure success "
            "(agreement with its own clean predictions) and fairness gaps can be high or low "
            "without any collective. Compare every number with its value at α = 0 (no collective) "
            "in the summary; fix the firm (class weights, a threshold, features) before reading "
            "the rest.</p></div>"]


def _signal_html(r: AuditReport) -> list[str]:
    sc = r.signal_choice
    if sc is None:
        return []
    e = html.escape
    used = r.inputs.get("signal_columns") or []
    source = ("the columns given with --actionable" if sc.actionable is not None else
              "every feature column except --immutable ones, the sensitive attributes and their "
              "proxies")
    out = ["<h2>Signal columns</h2>",
           "<p>The collectives set <b>" + (e(", ".join(used)) or "–") + "</b> (chosen from " + source
           + "). <b>Confirm that the contributors control these columns</b> in the records they "
           "give the firm; if they do not, rerun with <code>--actionable COLS</code> (only these) "
           "or <code>--immutable COLS</code> (never these).</p>"]
    if sc.excluded:
        out += ["<p class='note'>Left out:</p>",
                _table(pd.DataFrame({"column": list(sc.excluded), "why": list(sc.excluded.values())}))]
    if sc.cautions:
        out += ["<p class='note'>Used because --actionable names them, although:</p>",
                _table(pd.DataFrame({"column": list(sc.cautions), "why": list(sc.cautions.values())}))]
    if len(sc.scores):
        out += [f"<p class='note'>Proxy scores: how well each column alone predicts each sensitive "
                f"attribute (cross-validated balanced accuracy adjusted for chance: 0 chance, 1 "
                f"perfect; a proxy from {PROXY_THRESHOLD:g}).</p>", _table(sc.scores)]
    return out


def _render_html(r: AuditReport) -> str:
    i = r.inputs
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>acakit audit: {e(Path(i['data']).name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>How steerable is this pipeline? acakit audit of {e(Path(i['data']).name)}</h1>",
             "<p>Firm <code>" + e(i["firm"]) + "</code>, label <code>" + e(i["label"]) + "</code> "
             f"(classes {e(', '.join(i['classes']))}), {i['n_rows']:,} rows, "
             f"{i['n_train']:,} training rows per split, {i['seeds']} seed(s), "
             f"target class <code>{e(str(i['target']))}</code>, target success S* = {i['success']:g}. "
             f"Took {r.seconds:.0f} s.</p>",
             "<p class='note'>A collective of a fraction α of the training set changes its own "
             "records; the firm retrains on the altered data. <b>Success</b> is the share of clean "
             "test points that the retrained model assigns to the target class once the signal is "
             "added; measured on all test points (the convention of the bounds) and on points not "
             "already of the target class. <b>Theory α*</b> is the planner's upper bound on the "
             "critical mass for S* (Hardt et al. 2023, Bayes-optimal firm, ε = 0, from Δ and ξ "
             "estimated on the training split); <b>measured α</b> is the smallest α of the grid "
             "whose measured success reaches S*.</p>",
             *_trivial_html(r), *_signal_html(r),
             "<h2>Summary</h2>", _table(r.summary.drop(columns="theory note")),
             "<ul class='note'>" + "".join(f"<li><b>{e(d['battery'])}</b>: {e(d['theory note'])}</li>"
                                           for d in r.summary.to_dict("records") if d["theory note"])
             + "</ul>",
             "<h2>Planting</h2>", _img(r.figures["planting"], "planting success vs collective size"),
             "<h2>Erasure</h2>", _img(r.figures["erasure"], "erasure success vs collective size"),
             "<h2>Clean-accuracy cost</h2>",
             "<p class='note'>Accuracy of the retrained firm on clean test data, compared with the "
             "firm trained on clean data (percentage points lost).</p>",
             _img(r.figures["accuracy"], "accuracy cost vs collective size"),
             "<h2>All measurements (per α, over seeds)</h2>",
             f"<p class='note'>success_lo, success_hi: {e(_band(r.curves))}"
             + (" (method per row in column interval)" if "interval" in r.curves else "") + ".</p>",
             _table(r.curves)]
    for col, run in _fairness_runs(r).items():
        fs = run["summary"]
        need = ("no budget of the grid reached it" if fs["flips_needed"] is None
                else f"<b>{fs['flips_needed']:.0f} relabelings</b> (error {fs['error_at_goal']:.3f})")
        q = fs.get("quarter") or {}
        quarter = ("no budget of the grid reached it" if q.get("flips_needed") is None
                   else f"<b>{q['flips_needed']:.0f} relabelings</b> (error {q['error_at_goal']:.3f})")
        if not fs["no_action_gap"] > 0:
            need = quarter = "nothing: there is no gap to cut"
        parts += [f"<h2>Minority relabeling: {e(str(col))}</h2>",
                  f"<p>Minority <code>{e(str(col))} = {e(str(run['minority']))}</code>, "
                  f"favourable label <code>{e(str(run['favorable']))}</code>; a collective of "
                  f"{FAIRNESS_ALPHA:g} of the minority relabels some of its unfavourable labels, ranked "
                  "by how a majority member with the same features would be labelled. Equalized-odds "
                  f"gap without action {fs['no_action_gap']:.3f} (error {fs['no_action_error']:.3f}); "
                  f"cutting it by a quarter (to {q.get('goal', math.nan):.3f}) takes {quarter}; "
                  f"halving it (to {fs['goal']:.3f}) takes {need}; the lowest gap reached is "
                  f"{fs['best_gap']:.3f} with {fs['best_flips']:.0f} relabelings.</p>",
                  _img(r.figures[_fairness_key(col, list(_fairness_runs(r)))],
                       f"fairness Pareto frontier ({col})"),
                  _table(run["table"].drop(columns=[c for c in ("majority_sample", "seeds")
                                                    if c in run["table"].columns]))]
    parts += ["<h2>Reproduce</h2><pre>" + e("\n".join(r.commands)) + "</pre>"]
    for name, text in r.configs.items():
        parts.append(f"<h3>{e(_slug(name))}.yaml</h3><pre>{e(text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- command line


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to the acakit app."""

    @app.command(name="audit")
    def audit_cmd(
        data: Annotated[Path, typer.Option("--data", help="Your data: a CSV file with a header row.")],
        label: Annotated[str, typer.Option("--label", help="The label column.")],
        firm: Annotated[str, typer.Option(
            "--firm", help="Your estimator: a dotted path (sklearn.linear_model.LogisticRegression) "
                           "or an acakit firm name.")],
        sensitive: Annotated[list[str] | None, typer.Option(
            "--sensitive", help="Sensitive column: adds a minority relabeling collective; it and its "
                                "proxies stay out of the signal (repeatable: each is audited).")] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report.")] = Path("audit.html"),
        target: Annotated[str | None, typer.Option(
            "--target", help="Target class of the planting collectives (default: the rarer).")] = None,
        minority: Annotated[list[str] | None, typer.Option(
            "--minority", help="Minority value of --sensitive (default: its rarest); with several "
                               "--sensitive, once per column in the same order.")] = None,
        favorable: Annotated[list[str] | None, typer.Option(
            "--favorable", help="Favourable class (default: the one the majority gets more); once, "
                                "or once per --sensitive.")] = None,
        actionable: Annotated[list[str] | None, typer.Option(
            "--actionable", help="Comma-separated feature columns the contributors control: the "
                                 "signal uses only these (default: all but sensitive columns, their "
                                 "proxies and --immutable).")] = None,
        immutable: Annotated[list[str] | None, typer.Option(
            "--immutable", help="Comma-separated feature columns the contributors cannot change.")] = None,
        alphas: Annotated[str | None, typer.Option(
            "--alphas", help="Collective sizes, comma-separated fractions of the training set "
                             "(default: sized to the data, at least 2 members at the smallest).")
            ] = None,
        drop: Annotated[list[str] | None, typer.Option(
            "--drop", help="Comma-separated columns that are no feature (an id, free text).")
            ] = None,
        seeds: Annotated[int, typer.Option("--seeds", help="Seeds pooled per size.")] = 2,
        success: Annotated[float, typer.Option("--success", help="Target success S*.")] = 0.9,
        jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (-1: all cores).")] = -1,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        allow_module: Annotated[list[str] | None, typer.Option(
            "--allow-module", help="Also allow --firm classes from this package (repeatable; "
                                   "see SECURITY.md).")] = None,
    ) -> None:
        """Audit your own pipeline: how much can a collective of users steer it? One HTML report."""
        from acakit.cli import check_output_file, console, err_console, fail, write_error
        from acakit.firms import allow_modules

        try:
            grid = None if alphas is None else [float(a) for a in alphas.split(",") if a.strip()]
        except ValueError:
            raise fail(f"alphas: {alphas!r} is not a comma-separated list of numbers") from None
        try:
            allow_modules(*(allow_module or []))
        except ValueError as e:
            raise fail(str(e)) from None
        check_output_file(out, "--out")
        try:
            report = audit(data, label, firm, sensitive=sensitive or None, target=target,
                           minority=minority or None, favorable=favorable or None,
                           actionable=None if actionable is None else _split_names(actionable),
                           immutable=_split_names(immutable or []), alphas=grid, seeds=seeds,
                           success=success, jobs=jobs, progress=not quiet, console=err_console,
                           drop=_split_names(drop or []))
        except AuditError as e:
            raise fail(str(e).splitlines()[0]) from None
        try:
            path = report.write(out)
        except OSError as e:  # a full disk: one line naming the file (it keeps what it held)
            raise fail(write_error(e, out)) from None
        _show(report, console)
        console.print(f"wrote {path} ({report.seconds:.0f} s)", highlight=False, markup=False)


def _split_names(values: Sequence[str]) -> list[str]:
    """``--actionable a,b --actionable c`` -> ``["a", "b", "c"]``."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _show(report: AuditReport, console: Any) -> None:
    from rich.text import Text

    from acakit.analyses.tables import fitting_table

    for line in report.trivial:
        console.print(Text.assemble(("warning: trivial firm: ", "bold red"), line,
                                    " (numbers below say little about the collective; compare "
                                    "each with its α = 0 value)"), highlight=False)
    notes = [f"{d['battery']}: {d['theory note']}" for d in report.summary.to_dict("records")
             if isinstance(d.get("theory note"), str) and d["theory note"]]
    t = fitting_table(Text(f"audit: {report.inputs['firm']}, S* = {report.inputs['success']:g}"),
                      caption=Text("theory α*: Hardt et al.'s lower bound, for a Bayes-optimal "
                                   "firm (ε = 0) with Δ and ξ estimated from the data"
                                   + "".join(f"\n{n}" for n in notes)))
    cols = ["battery", "theory α* (bound)", "measured α (all test points)",
            "success at α = 0 (no collective)", "success at largest α", "max accuracy cost (pp)"]
    cols = [c for c in cols if c in report.summary.columns]
    for c in cols:
        t.add_column(c, justify="left" if c == "battery" else "right")
    for d in report.summary.to_dict("records"):
        t.add_row(*[Text(_fmt(d[c], c)) for c in cols])
    console.print(t)
    for col, run in _fairness_runs(report).items():
        fs = run["summary"]
        need = "not reached" if fs["flips_needed"] is None else f"{fs['flips_needed']:.0f}"
        if not fs["no_action_gap"] > 0:
            need = "none (no gap without action)"
        console.print(f"minority relabeling ({col} = {run['minority']}): EO gap "
                      f"{fs['no_action_gap']:.3f} without action; relabelings to halve it: {need}",
                      highlight=False, markup=False)
