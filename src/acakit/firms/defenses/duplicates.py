"""A filter that drops exact and near duplicates (MinHash + LSH for texts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from acakit.firms.defenses.base import Defense


def _text_shingles(text: str, n: int) -> set[bytes]:
    words = str(text).lower().split()
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


class Duplicates(Defense):
    """Drop exact duplicates and (texts) near duplicates, keeping one row of each group.

    Exact duplicates are rows with equal features (tabular: every column; text: the text after
    lower-casing and collapsing white space). Near duplicates of texts are pairs whose word
    ``ngram`` shingles have an estimated Jaccard similarity of at least ``threshold``
    (datasketch's MinHash with ``num_perm`` permutations; its LSH index, tuned against missed
    pairs, proposes candidates whose MinHash estimate is then checked); set ``near=False``
    for exact duplicates only. Labels are ignored: a planted copy with another label is a
    duplicate too.

    Parameters
    ----------
    near : bool, default=True
    threshold : float, default=0.8
    ngram : int, default=3
    num_perm : int, default=128
    keep : {"first", "none"}, default="first"
        ``"first"`` keeps the first row of each group, ``"none"`` drops the whole group.
    random_state : int, default=0
    """

    def __init__(self, near: bool = True, threshold: float = 0.8, ngram: int = 3,
                 num_perm: int = 128, keep: str = "first", random_state: int = 0) -> None:
        if keep not in ("first", "none"):
            raise ValueError(f"keep: {keep!r} is not one of first, none")
        if not 0 < float(threshold) <= 1:
            raise ValueError(f"threshold: {threshold!r} is not in (0, 1]")
        self.near = bool(near)
        self.threshold = float(threshold)
        self.ngram = int(ngram)
        self.num_perm = int(num_perm)
        self.keep = keep
        self.random_state = random_state

    def groups(self, X: Any) -> np.ndarray:
        """A group id per row: rows of one group are (near) duplicates of each other."""
        if isinstance(X, pd.DataFrame):
            keys = pd.util.hash_pandas_object(X, index=False).to_numpy()
            return np.unique(keys, return_inverse=True)[1]
        texts = [" ".join(str(t).lower().split()) for t in np.asarray(X, dtype=object).ravel()]
        if not isinstance(texts[0] if texts else "", str) or not self.near:
            return np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)[1]
        from datasketch import MinHash, MinHashLSH

        n = len(texts)
        parent = np.arange(n)

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = int(parent[i])
            return i

        # LSH tuned against false negatives; candidates are then checked on their estimate
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm, weights=(0.1, 0.9))
        hashes = MinHash.bulk([sorted(_text_shingles(t, self.ngram)) for t in texts],
                              num_perm=self.num_perm, seed=self.random_state)
        for i, m in enumerate(hashes):
            for j in lsh.query(m):
                if m.jaccard(hashes[int(j)]) < self.threshold:
                    continue
                ri, rj = find(i), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
            lsh.insert(i, m)
        return np.array([find(i) for i in range(n)])

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        g = self.groups(X)
        counts = np.bincount(g)
        if self.keep == "none":
            return (counts[g] == 1).astype(float)
        first = np.zeros(len(g), dtype=bool)
        first[np.unique(g, return_index=True)[1]] = True
        return first.astype(float)
