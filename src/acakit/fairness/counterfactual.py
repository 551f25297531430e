"""The minority-focused counterfactual g and the counterfactual success S(α) of Ben-Dov et al.

The paper measures a collective's success by

    S(α) = P_{x ~ P0}[ f(g(x)) = f(x) ]

over the whole base distribution, with g(x) = x with the sensitive attribute set to the
majority's value for a minority point and g(x) = x for a majority point: the share of all
points that the firm's model f (trained on the altered data) treats as it would treat the same
point with the majority's attribute. Since g leaves majority points unchanged,

    S(α) = 1 - P0(minority) · (1 - S_min(α)),   S_min(α) = P_{x ~ P0 | minority}[f(g(x)) = f(x)],

and acakit reports both: ``cf_success`` (S, the paper's) and ``cf_success_minority`` (S_min,
the share among minority points only, which moves more because it is not diluted by the
majority).

**What g means here, without a causal model.** g is an *intervention on the recorded columns
only*: every group-defining column (``GroupSpec.columns``) of a minority row is set to the
majority's value, and the columns a config names under ``counterfactual.follow`` (features that
change with the attribute, e.g. Adult's ``relationship``: ``Wife`` -> ``Husband``) are mapped
as given. Every other feature is kept as recorded. No causal model says how those features would
have been had the person belonged to the majority; S(α) is therefore a statement about the
*model's dependence on the recorded attribute* (and the named followers), not a causal
counterfactual fairness certificate.

**When S is not defined.** If the firm's inputs contain neither a group-defining column nor a
follower (and the method does not use the group at prediction time), g does not change what
the firm sees and S = 1 by construction; :func:`counterfactual_dataset` reports this
(``changes_features``) and the engine records ``cf_success`` as missing, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from acakit.data.base import Dataset
from acakit.fairness.groups import GroupSpec, _as_values, _column


def majority_values(groups: GroupSpec, reference: Dataset) -> dict[str, str]:
    """The value g gives each group-defining column: the majority's.

    For a column with one majority value in ``groups.majority`` that value; otherwise (majority
    = everyone else, or several values) the most frequent value of the column among the
    majority rows of ``reference`` (ties: the first in sorted order).

    Examples
    --------
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=200, seed=0)
    >>> majority_values(GroupSpec({"group": "minority"}), ds)
    {'group': 'majority'}
    """
    out: dict[str, str] = {}
    maj = groups.majority_mask(reference)
    for col in groups.columns:
        given = _as_values((groups.majority or {}).get(col, [])) if groups.majority else []
        if len(given) == 1:
            out[col] = given[0]
            continue
        values = _column(reference, col)[maj]
        if given:
            values = values[values.isin(given)]
        counts = values.value_counts()
        if counts.empty:
            raise ValueError(f"counterfactual: no majority row has a value of {col!r}")
        top = counts[counts == counts.max()].index
        out[col] = str(sorted(map(str, top))[0])
    return out


def _set(series: pd.Series, rows: np.ndarray, rule: Any) -> pd.Series:
    """Set ``series[rows]`` by ``rule``: a mapping old -> new (matched as text) or one value."""
    s = series.copy()
    if isinstance(rule, Mapping):
        key = s.iloc[rows].astype(str)
        table = {str(k): v for k, v in rule.items()}
        new = key.map(table)
        hit = new.notna().to_numpy()
        idx = s.index[rows][hit]
        vals = new.to_numpy()[hit]
    else:
        idx = s.index[rows]
        vals = np.full(len(idx), rule, dtype=object)
    if pd.api.types.is_numeric_dtype(s):
        vals = pd.to_numeric(pd.Series(vals), errors="raise").to_numpy()
    else:
        s = s.astype(object)
    s.loc[idx] = vals
    return s


@dataclass(frozen=True)
class Counterfactual:
    """A data set and its minority counterfactual g(x).

    Attributes
    ----------
    data : Dataset
        g applied to every minority row (features and sensitive columns); other rows unchanged.
    minority : ndarray of bool
        The minority rows (of the original data).
    changed_columns : tuple of str
        Feature columns (of ``X``) that g changes: if empty, a model of ``X`` alone cannot tell
        x from g(x) and S = 1 by construction.
    values : dict
        The majority value given to each group-defining column.
    """

    data: Dataset
    minority: np.ndarray
    changed_columns: tuple[str, ...]
    values: dict[str, str]

    @property
    def changes_features(self) -> bool:
        """Whether g changes any feature column."""
        return bool(self.changed_columns)


def counterfactual_dataset(ds: Dataset, groups: GroupSpec, follow: Mapping[str, Any] | None = None,
                           reference: Dataset | None = None) -> Counterfactual:
    """Apply g to the minority rows of ``ds``.

    Parameters
    ----------
    ds : Dataset
        Tabular data (features a DataFrame) with the group-defining columns.
    groups : GroupSpec
    follow : mapping, optional
        Columns that follow the attribute: ``{column: {old: new, ...}}`` (values not listed
        stay) or ``{column: value}`` (every minority row gets ``value``). Applied to the
        features and, if present there, to the sensitive columns.
    reference : Dataset, optional
        Where the majority's most frequent values are read (default ``ds``; the engine passes
        the training split).

    Returns
    -------
    Counterfactual

    Raises
    ------
    ValueError
        One line naming a ``follow`` column that is not in the data.

    Examples
    --------
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=200, seed=0)
    >>> cf = counterfactual_dataset(ds, GroupSpec({"group": "minority"}))
    >>> sorted(cf.data.X["group"].unique()), cf.changed_columns
    (['majority'], ('group',))
    """
    follow = dict(follow or {})
    values = majority_values(groups, reference if reference is not None else ds)
    rows = np.flatnonzero(groups.minority_mask(ds))
    X = ds.X
    frame = isinstance(X, pd.DataFrame)
    sens = ds.sensitive.copy() if ds.sensitive is not None else None
    for col in follow:
        in_x = frame and col in X.columns
        if not in_x and (sens is None or col not in sens.columns):
            raise ValueError(f"counterfactual.follow: column {col!r} is not in {ds.name}")
    changed: list[str] = []
    if frame:
        X = X.copy()
        for col, rule in [*values.items(), *follow.items()]:
            if col in X.columns:
                new = _set(X[col], rows, rule)
                if not new.astype(str).equals(X[col].astype(str)):
                    changed.append(col)
                X[col] = new
    if sens is not None:
        for col, rule in [*values.items(), *follow.items()]:
            if col in sens.columns:
                sens[col] = _set(sens[col], rows, rule)
    data = replace(ds, X=X, sensitive=sens)
    return Counterfactual(data, groups.minority_mask(ds), tuple(dict.fromkeys(changed)), values)


def counterfactual_success(y_pred: np.ndarray, y_pred_cf: np.ndarray, minority: np.ndarray,
                           over: str = "all") -> float:
    """Ben-Dov et al.'s success S = P0[f(g(x)) = f(x)], or its share among minority rows.

    Parameters
    ----------
    y_pred : array-like of shape (n,)
        Predictions f(x) on the test rows.
    y_pred_cf : array-like of shape (n,)
        Predictions f(g(x)) on the same rows after g. g leaves majority rows unchanged, so
        their f(g(x)) = f(x) by definition and only the minority entries are read.
    minority : array-like of bool, shape (n,)
        The minority rows.
    over : {"all", "minority"}, default "all"
        ``"all"``: the paper's S over the whole base distribution (every test row);
        ``"minority"``: S_min, the share among minority rows only. The two satisfy
        ``S = 1 - P(minority) * (1 - S_min)``.

    Returns
    -------
    float
        The share of rows whose prediction g leaves unchanged (NaN without minority rows).

    Examples
    --------
    >>> import numpy as np
    >>> pred, pred_cf = np.array([1, 0, 0, 1]), np.array([1, 1, 0, 0])
    >>> minority = np.array([True, True, True, False])
    >>> counterfactual_success(pred, pred_cf, minority)
    0.75
    >>> counterfactual_success(pred, pred_cf, minority, over="minority")
    0.6666666666666666
    """
    if over not in ("all", "minority"):
        raise ValueError(f"over: {over!r} is not one of 'all', 'minority'")
    m = np.asarray(minority, dtype=bool)
    if not m.any():
        return float("nan")
    changed = m & (np.asarray(y_pred) != np.asarray(y_pred_cf))
    if over == "minority":
        return float(np.mean(~changed[m]))
    return float(np.mean(~changed))
