"""A collective: who joins, how many, and which strategy they follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from acakit.data.base import Dataset, copy_features
from acakit.strategies import Strategy, _assign_rows, _rows

Eligibility = str | Mapping[str, Any]


@dataclass
class Collective:
    """A group of contributors of the training data that follows one strategy.

    Parameters
    ----------
    strategy : Strategy
        What members do to their data.
    alpha : float or None
        Size as a fraction of the *whole* training set (Hardt et al.'s α), in [0, 1].
    count : int or None
        Size as a number of training points (give ``alpha`` or ``count``, not both).
    eligibility : str or mapping, default="any"
        Who may join: ``"any"``; ``"target"`` (rows of the target class; feature-only
        planting); ``"non_target"``; ``{"class": name_or_code}``; or
        ``{"group": {column: value, ...}}`` (rows whose sensitive attribute or feature
        ``column`` equals ``value``, all conditions together).
    seed : int or None, default=0
        Seed of the draw of members.

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> from acakit.strategies import Plant, SetColumns
    >>> train = make_product_ratings(n_samples=1000, seed=0)
    >>> c = Collective(Plant(SetColumns({"f7": 5}), target=2), alpha=0.05, seed=0)
    >>> altered, members = c.apply(train)
    >>> int(members.sum()), sorted(set(altered.y[members].tolist()))
    (50, [2])
    """

    strategy: Strategy
    alpha: float | None = None
    count: int | None = None
    eligibility: Eligibility = "any"
    seed: int | None = 0

    def __post_init__(self) -> None:
        if (self.alpha is None) == (self.count is None):
            raise ValueError("collective: give exactly one of alpha and count")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha: {self.alpha} is not a fraction in [0, 1]")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count: {self.count} must be >= 0")

    def size_in(self, train: Dataset) -> int:
        """Number of members in a training set of this size (``round(alpha * N)``)."""
        if self.count is not None:
            return int(self.count)
        return int(round(float(self.alpha) * len(train)))

    def eligible(self, train: Dataset) -> np.ndarray:
        """Boolean mask of the training rows that may join."""
        rule = self.eligibility
        y = np.asarray(train.y)
        if rule == "any":
            return np.ones(len(y), dtype=bool)
        if rule in ("target", "non_target"):
            if self.strategy.target is None:
                raise ValueError(f"eligibility: {rule!r} needs a strategy with a target class")
            m = y == self.strategy.target
            return m if rule == "target" else ~m
        if isinstance(rule, Mapping) and set(rule) == {"class"}:
            return y == train.class_index(rule["class"])
        if isinstance(rule, Mapping) and set(rule) == {"group"}:
            mask = np.ones(len(y), dtype=bool)
            for col, value in dict(rule["group"]).items():
                source = _group_source(train, col)
                mask &= (source.astype(str) == str(value)).to_numpy()
            return mask
        raise ValueError(
            f"eligibility: {rule!r} is not one of 'any', 'target', 'non_target', "
            "{'class': C}, {'group': {column: value}}"
        )

    def draw(self, train: Dataset) -> np.ndarray:
        """Boolean mask of the members, drawn uniformly from the eligible rows.

        Raises
        ------
        ValueError
            If fewer rows are eligible than the collective's size.
        """
        pool = np.flatnonzero(self.eligible(train))
        n = self.size_in(train)
        if n > len(pool):
            raise ValueError(
                f"alpha: the collective needs {n} members but only {len(pool)} training rows "
                f"are eligible ({self.eligibility!r})"
            )
        rng = check_random_state(self.seed)
        mask = np.zeros(len(train), dtype=bool)
        mask[rng.choice(pool, size=n, replace=False)] = True
        return mask

    def apply(self, train: Dataset) -> tuple[Dataset, np.ndarray]:
        """Let the members follow the strategy.

        Parameters
        ----------
        train : Dataset
            The clean training data.

        Returns
        -------
        altered_train : Dataset
            Same rows; members' features and labels changed by the strategy.
        member_mask : numpy.ndarray of bool
            Which rows belong to the collective.
        """
        members = self.draw(train)
        self.strategy.fit(train)
        if not members.any():
            return train, members
        Xm, ym = self.strategy.poison(_rows(train.X, members), np.asarray(train.y)[members])
        X = _assign_rows(copy_features(train.X), members, Xm)
        y = np.asarray(train.y).copy()
        y[members] = ym
        return train.with_data(X, y), members


def _group_source(train: Dataset, col: str) -> Any:
    import pandas as pd

    if train.sensitive is not None and col in train.sensitive.columns:
        return train.sensitive[col].reset_index(drop=True)
    if isinstance(train.X, pd.DataFrame) and col in train.X.columns:
        return train.X[col].reset_index(drop=True)
    raise ValueError(f"eligibility.group: column {col!r} is not a sensitive attribute or feature")
