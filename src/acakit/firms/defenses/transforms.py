"""A transform: rare tokens pruned (text), rare categorical values merged (tabular)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from acakit.firms.defenses.base import Defense

#: Words, or single symbols (a rare trigger character is a token of its own).
TOKEN_PATTERN = r"\w+|[^\w\s]"


class MinDF(Defense):
    """Prune rare tokens (text) or merge rare categorical values (tabular).

    Text: a token (``token_pattern``, lower-cased) found in fewer than ``min_df`` training
    documents is removed from every text, at fit and at prediction time, so a trigger carried
    by fewer than ``min_df`` documents never reaches the firm. Tabular: in every categorical
    (object or category) column, a value found in fewer than ``min_df`` training rows is
    replaced by ``rare_value``. Rows are never dropped.

    Parameters
    ----------
    min_df : int, default=5
    token_pattern : str, default=TOKEN_PATTERN
    rare_value : str, default="__rare__"

    Examples
    --------
    >>> d = MinDF(min_df=2).fit(["a b zq", "a b", "b c"], None)
    >>> d.transform(["a zq b c"])
    ['a  b ']
    """

    acts = "transform"
    kinds = ("text", "tabular")

    def __init__(self, min_df: int = 5, token_pattern: str = TOKEN_PATTERN,
                 rare_value: str = "__rare__") -> None:
        if isinstance(min_df, bool) or not isinstance(min_df, int) or min_df < 1:
            raise ValueError(f"min_df: {min_df!r} is not an integer >= 1")
        re.compile(token_pattern)
        self.min_df = min_df
        self.token_pattern = token_pattern
        self.rare_value = rare_value

    def fit(self, X: Any, y: Any) -> MinDF:
        if isinstance(X, pd.DataFrame):
            self.kept_values_ = {}
            for col in X.columns:
                if X[col].dtype == object or isinstance(X[col].dtype, pd.CategoricalDtype) \
                        or pd.api.types.is_string_dtype(X[col].dtype):
                    counts = X[col].astype(str).value_counts()
                    self.kept_values_[col] = set(counts.index[counts >= self.min_df])
            return self
        pattern = re.compile(self.token_pattern)
        df: dict[str, int] = {}
        for t in np.asarray(X, dtype=object).ravel():
            for tok in {m.lower() for m in pattern.findall(str(t))}:
                df[tok] = df.get(tok, 0) + 1
        self.vocabulary_ = {tok for tok, n in df.items() if n >= self.min_df}
        return self

    def transform(self, X: Any) -> Any:
        if isinstance(X, pd.DataFrame):
            if not hasattr(self, "kept_values_"):
                raise ValueError("MinDF: transform before fit (or on texts after fitting a table)")
            out = X.copy()
            for col, kept in self.kept_values_.items():
                s = out[col].astype(str)
                out[col] = s.where(s.isin(kept), self.rare_value)
            return out
        if not hasattr(self, "vocabulary_"):
            raise ValueError("MinDF: transform before fit (or on a table after fitting texts)")
        pattern = re.compile(self.token_pattern)
        vocab = self.vocabulary_

        def keep(m: re.Match[str]) -> str:
            return m.group(0) if m.group(0).lower() in vocab else ""

        texts = [pattern.sub(keep, str(t)) for t in np.asarray(X, dtype=object).ravel()]
        return texts
