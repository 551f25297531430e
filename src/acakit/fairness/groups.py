"""Who is the minority, who is the majority, and which label is favourable.

A :class:`GroupSpec` turns a data set with sensitive attributes into the three things every
fairness method of this package needs: a boolean minority mask, a boolean majority mask and the
favourable class code. Validation happens here, once, with one-line errors that name the bad
column, value or class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from acakit.data.base import Dataset


def _as_values(v: Any) -> list[str]:
    if isinstance(v, str) or not isinstance(v, Sequence):
        return [str(v)]
    return [str(x) for x in v]


def _column(ds: Dataset, col: str) -> pd.Series:
    if ds.sensitive is not None and col in ds.sensitive.columns:
        return ds.sensitive[col].reset_index(drop=True).astype(str)
    if isinstance(ds.X, pd.DataFrame) and col in ds.X.columns:
        return ds.X[col].reset_index(drop=True).astype(str)
    allowed = list(ds.sensitive.columns) if ds.sensitive is not None else []
    raise ValueError(
        f"groups: sensitive attribute {col!r} is not in {ds.name}; allowed: "
        + (", ".join(map(str, allowed)) or "none (the data has no sensitive attributes)")
    )


@dataclass(frozen=True)
class GroupSpec:
    """Definition of the minority and majority groups and the favourable label.

    Parameters
    ----------
    minority : mapping of str to value or list of values
        Conditions that define the minority, all together: ``{"race": "African-American"}``
        or, for an intersectional group, ``{"race": "African-American", "sex": "Female"}``. A
        list of values means "any of these".
    majority : mapping or None, default=None
        Conditions that define the majority. ``None`` means everyone not in the minority. If
        given, rows in neither group are dropped by :meth:`prepare` (e.g. COMPAS restricted to
        African-American vs Caucasian defendants).
    favorable : str or int, default=1
        The favourable class (name or code); a collective relabels its members' unfavourable
        labels to this class.

    Examples
    --------
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=200, seed=0)
    >>> spec = GroupSpec({"group": "minority"})
    >>> spec.validate(ds).minority_mask(ds).sum() == (ds.sensitive["group"] == "minority").sum()
    np.True_
    """

    minority: Mapping[str, Any]
    majority: Mapping[str, Any] | None = None
    favorable: str | int = 1
    _cols: tuple[str, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        if not self.minority:
            raise ValueError("groups.minority: give at least one {attribute: value} condition")
        cols = list(self.minority)
        cols += [c for c in (self.majority or {}) if c not in cols]
        object.__setattr__(self, "_cols", tuple(cols))

    @property
    def columns(self) -> tuple[str, ...]:
        """The sensitive attributes that define the groups (minority first)."""
        return self._cols

    def _mask(self, ds: Dataset, conditions: Mapping[str, Any]) -> np.ndarray:
        mask = np.ones(len(ds), dtype=bool)
        for col, value in conditions.items():
            mask &= _column(ds, col).isin(_as_values(value)).to_numpy()
        return mask

    def validate(self, ds: Dataset) -> GroupSpec:
        """Check the spec against a data set; returns ``self``.

        Raises
        ------
        ValueError
            One line naming the missing attribute, the value that does not occur (with the
            values that do), a favourable class that is not a class, an empty or overlapping
            group, or a data set that is not binary.
        """
        if ds.n_classes != 2:
            raise ValueError(f"dataset: {ds.name} has {ds.n_classes} classes; minority "
                             "relabeling needs a binary label")
        try:
            ds.class_index(self.favorable)
        except ValueError as e:
            raise ValueError(f"groups.favorable: {e}") from None
        for role, cond in (("minority", self.minority), ("majority", self.majority or {})):
            for col, value in cond.items():
                present = _column(ds, col)
                levels = sorted(present.unique())
                for v in _as_values(value):
                    if v not in levels:
                        raise ValueError(f"groups.{role}: value {v!r} of {col!r} does not occur in "
                                         f"{ds.name}; values: {', '.join(levels)}")
        mino = self._mask(ds, self.minority)
        if not mino.any():
            raise ValueError(f"groups.minority: no row of {ds.name} satisfies {dict(self.minority)}")
        if self.majority is not None:
            majo = self._mask(ds, self.majority)
            if (mino & majo).any():
                raise ValueError("groups.majority: overlaps groups.minority "
                                 f"({int((mino & majo).sum())} rows in both)")
        else:
            majo = ~mino
        if not majo.any():
            raise ValueError(f"groups.majority: no row of {ds.name} is in the majority")
        return self

    def prepare(self, ds: Dataset) -> Dataset:
        """Validate, then keep only rows of the minority or the majority."""
        self.validate(ds)
        if self.majority is None:
            return ds
        keep = self._mask(ds, self.minority) | self._mask(ds, self.majority)
        return ds if keep.all() else ds.take(np.flatnonzero(keep))

    def minority_mask(self, ds: Dataset) -> np.ndarray:
        """Boolean mask of the minority rows."""
        return self._mask(ds, self.minority)

    def majority_mask(self, ds: Dataset) -> np.ndarray:
        """Boolean mask of the majority rows (the complement of the minority by default)."""
        if self.majority is None:
            return ~self._mask(ds, self.minority)
        return self._mask(ds, self.majority)

    def favorable_code(self, ds: Dataset) -> int:
        """Class code of the favourable label."""
        return ds.class_index(self.favorable)

    def indicator(self, ds: Dataset) -> np.ndarray:
        """``"minority"`` / ``"majority"`` label of each row (``"other"`` if in neither)."""
        out = np.full(len(ds), "other", dtype=object)
        out[self.majority_mask(ds)] = "majority"
        out[self.minority_mask(ds)] = "minority"
        return out

    def attributes(self, ds: Dataset) -> pd.DataFrame:
        """The defining sensitive attributes as a DataFrame (for intersectional metrics)."""
        return pd.DataFrame({c: _column(ds, c).to_numpy() for c in self.columns})

    def scoring_features(self, X: Any) -> Any:
        """Features with the group-defining columns removed: the view x_{A<-0} of a scorer.

        Inside the majority those columns are constant, so dropping them is the same as setting
        a candidate's attributes to the majority's values.
        """
        if isinstance(X, pd.DataFrame):
            return X.drop(columns=[c for c in self.columns if c in X.columns])
        return X

    def describe(self) -> str:
        """Short human-readable description, e.g. ``race=African-American vs race=Caucasian``."""
        def fmt(c: Mapping[str, Any]) -> str:
            return " & ".join(f"{k}={'|'.join(_as_values(v))}" for k, v in c.items())
        return f"{fmt(self.minority)} vs {fmt(self.majority) if self.majority else 'rest'}"


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """Return ``alpha`` as a float if it lies in (0, 1], else raise a one-line ``ValueError``."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {alpha!r} is not a number in (0, 1]") from None
    if not 0.0 < a <= 1.0:
        raise ValueError(f"{name}: {alpha} is not a fraction of the minority in (0, 1]")
    return a
