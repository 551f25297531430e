"""Which feature columns can carry a collective's signal (a concept, below the audit).

A collective can only plant a signal in columns its contributors really set in the records they
give a firm. This module answers which columns those are and with which values:

- :func:`proxy_scores`: how well each column alone predicts each sensitive attribute (a proxy
  is left out of the signal by default, as the attribute itself is);
- :func:`select_signal_columns`: the candidate columns (``actionable`` / ``immutable`` as the
  user gives them, else every column but the sensitive ones and their proxies), with the reason
  for each column left out (:class:`SignalChoice`);
- :func:`choose_signal_columns`: the columns and values of the planted signal, most distinctive
  first (a categorical column's rarest value, a numeric column's out-of-range value);
- :func:`unique_id_columns`: columns with a different value in every row (an id), which let a
  firm memorise rows and are no signal.

Pure functions of a feature table; nothing here imports the engine, the analyses or a front-end.
:mod:`acakit.audit` and the planner app use them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: A categorical column with more distinct values than this (an id, free text) is not a signal.
MAX_CATEGORIES = 100

#: A feature column whose proxy score (:func:`proxy_scores`) for a sensitive attribute reaches this
#: is a proxy of it, left out of the signal by default: alone it recovers the attribute at least
#: halfway from chance (0) to perfect (1), as a first name does race.
PROXY_THRESHOLD = 0.5
#: Proxy scores are computed on at most this many rows (a seeded sample).
PROXY_ROWS = 10_000


class AuditError(ValueError):
    """Bad audit input (one line naming the problem): a column name that is not a feature column,
    a column both actionable and immutable, and every other input :func:`acakit.audit.audit`
    checks (it is re-exported there)."""


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


def unique_id_columns(X: pd.DataFrame) -> list[str]:
    """Feature columns with a different value in every row (an id, a timestamp): as a feature
    they let a firm memorise rows; the audit leaves them out unless told to keep them.

    Examples
    --------
    >>> unique_id_columns(pd.DataFrame({"id": ["a", "b", "c"], "x": [1, 1, 2]}))
    ['id']
    """
    n = len(X)
    return [str(c) for c in X.columns if n > 2 and X[c].nunique(dropna=False) == n
            and not pd.api.types.is_float_dtype(X[c])]

