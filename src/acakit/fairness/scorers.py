"""Scorers: how likely is a candidate's counterfactual label (as a majority member) favourable?

Each scorer is a small class with one verb, ``score(candidates, majority_X, majority_y)``: the
candidates' features, and the features and (0/1, 1 = favourable) labels of the majority points
the collective knows about (all of them, or a sample of m). Higher score = flip first.

- :class:`ProbabilityScorer` (rank-by-probability): a classifier fit on the majority gives
  P(y = 1 | x);
- :class:`LabelScorer` (rank-by-label): share of favourable labels among the k nearest
  majority neighbours;
- :class:`DistanceScorer` (rank-by-distance): minus the mean distance to the k nearest
  favourably-labelled majority points;
- :class:`RandomScorer`: the baseline, uniform random scores.

Features are one-hot encoded (categorical) and standardised (numeric) with the featurizer that
firms use; neighbours come from scikit-learn's ``NearestNeighbors``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from acakit.data.base import Dataset
from acakit.data.tabular import feature_types_of
from acakit.firms import featurizer


def make_featurizer(X: Any) -> Any:
    """An unfitted featurizer for a feature container (one-hot + scaling for DataFrames).

    Parameters
    ----------
    X : pandas.DataFrame or numpy.ndarray
        Features (a DataFrame's object columns are one-hot encoded, numeric ones scaled).

    Returns
    -------
    transformer
    """
    if isinstance(X, pd.DataFrame):
        ds = Dataset("features", X.iloc[:0], np.zeros(0, dtype=np.int64), ["0", "1"], "tabular",
                     feature_types=feature_types_of(X))
        return featurizer(ds)
    return StandardScaler()


def _concat(a: Any, b: Any) -> Any:
    if isinstance(a, pd.DataFrame):
        return pd.concat([a, b], ignore_index=True)
    return np.concatenate([np.asarray(a), np.asarray(b)])


class Scorer:
    """Base class of scorers. Subclasses implement :meth:`score`."""

    name: str = "scorer"

    def score(self, candidates: Any, majority_X: Any, majority_y: np.ndarray) -> np.ndarray:
        """Score each candidate (higher = more likely favourable under the majority's rule).

        Parameters
        ----------
        candidates : DataFrame or ndarray
            Features of the candidates (collective members with an unfavourable label).
        majority_X : DataFrame or ndarray
            Features of the majority points the collective knows.
        majority_y : array of {0, 1}
            Their labels, 1 = favourable.

        Returns
        -------
        numpy.ndarray of float, one score per candidate
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


class ProbabilityScorer(Scorer):
    """Rank by probability: P(y = 1 | x) from a classifier trained on majority data.

    Parameters
    ----------
    estimator : sklearn classifier or None, default=None
        Any classifier with ``predict_proba`` (cloned); default logistic regression. A
        featurizer is put in front of it unless it is a Pipeline.

    Examples
    --------
    >>> import numpy as np
    >>> Xm = np.array([[0.0], [1.0], [2.0], [3.0]]); ym = np.array([0, 0, 1, 1])
    >>> s = ProbabilityScorer().score(np.array([[0.5], [2.5]]), Xm, ym)
    >>> bool(s[1] > s[0])
    True
    """

    name = "probability"

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def score(self, candidates: Any, majority_X: Any, majority_y: np.ndarray) -> np.ndarray:
        y = np.asarray(majority_y)
        if len(candidates) == 0:
            return np.zeros(0)
        if len(np.unique(y)) < 2:  # one class seen: every candidate looks the same
            return np.full(len(candidates), float(y[0]) if len(y) else 0.5)
        est = clone(self.estimator) if self.estimator is not None else LogisticRegression(max_iter=1000)
        if not isinstance(est, Pipeline):
            est = Pipeline([("features", make_featurizer(majority_X)), ("model", est)])
        est.fit(majority_X, y)
        classes = list(est.classes_)
        return est.predict_proba(candidates)[:, classes.index(1)]


class _NeighbourScorer(Scorer):
    def __init__(self, k: int = 10) -> None:
        self.k = k

    def _embed(self, candidates: Any, majority_X: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.k < 1:
            raise ValueError(f"k: {self.k} must be >= 1")
        feat = make_featurizer(majority_X).fit(_concat(majority_X, candidates))
        return (np.asarray(feat.transform(candidates), dtype=float),
                np.asarray(feat.transform(majority_X), dtype=float))


class LabelScorer(_NeighbourScorer):
    """Rank by label: share of favourable labels among the k nearest majority neighbours.

    Parameters
    ----------
    k : int, default=10
        Number of neighbours (capped at the number of majority points known).

    Examples
    --------
    >>> import numpy as np
    >>> Xm = np.array([[0.0], [0.1], [5.0], [5.1]]); ym = np.array([0, 0, 1, 1])
    >>> LabelScorer(k=2).score(np.array([[0.0], [5.0]]), Xm, ym).tolist()
    [0.0, 1.0]
    """

    name = "label"

    def score(self, candidates: Any, majority_X: Any, majority_y: np.ndarray) -> np.ndarray:
        y = np.asarray(majority_y, dtype=float)
        if len(candidates) == 0:
            return np.zeros(0)
        c, m = self._embed(candidates, majority_X)
        nn = NearestNeighbors(n_neighbors=min(self.k, len(y))).fit(m)
        idx = nn.kneighbors(c, return_distance=False)
        return y[idx].mean(axis=1)


class DistanceScorer(_NeighbourScorer):
    """Rank by distance: minus the mean distance to the k nearest favourable majority points.

    Parameters
    ----------
    k : int, default=10
        Number of neighbours (capped at the number of favourable majority points known).

    Examples
    --------
    >>> import numpy as np
    >>> Xm = np.array([[0.0], [1.0], [5.0], [6.0]]); ym = np.array([0, 0, 1, 1])
    >>> s = DistanceScorer(k=1).score(np.array([[0.0], [5.0]]), Xm, ym)
    >>> bool(s[1] > s[0])
    True
    """

    name = "distance"

    def score(self, candidates: Any, majority_X: Any, majority_y: np.ndarray) -> np.ndarray:
        pos = np.asarray(majority_y) == 1
        if len(candidates) == 0:
            return np.zeros(0)
        if not pos.any():
            return np.zeros(len(candidates))
        c, m = self._embed(candidates, majority_X)
        m = m[pos]
        nn = NearestNeighbors(n_neighbors=min(self.k, len(m))).fit(m)
        dist, _ = nn.kneighbors(c)
        return -dist.mean(axis=1)


class RandomScorer(Scorer):
    """Baseline: uniform random scores (random flipping of candidates).

    Parameters
    ----------
    random_state : int, RandomState or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> RandomScorer(random_state=0).score(np.zeros((3, 1)), np.zeros((2, 1)), np.array([0, 1])).shape
    (3,)
    """

    name = "random"

    def __init__(self, random_state: Any = None) -> None:
        self.random_state = random_state

    def score(self, candidates: Any, majority_X: Any, majority_y: np.ndarray) -> np.ndarray:
        return check_random_state(self.random_state).random_sample(len(candidates))


#: method name -> scorer class
SCORERS: dict[str, type[Scorer]] = {
    "probability": ProbabilityScorer,
    "label": LabelScorer,
    "distance": DistanceScorer,
    "random": RandomScorer,
}


def make_scorer(method: str | Scorer, k: int = 10, estimator: Any = None,
                random_state: Any = None) -> Scorer:
    """Build a scorer by name.

    Parameters
    ----------
    method : {"probability", "label", "distance", "random"} or Scorer
    k : int, default=10
        Neighbours of the label and distance scorers.
    estimator : sklearn classifier, optional
        Model of the probability scorer.
    random_state : int or None
        Seed of the random scorer.

    Returns
    -------
    Scorer

    Raises
    ------
    ValueError
        If the name is unknown (one line listing the names).
    """
    if isinstance(method, Scorer):
        return method
    if method == "probability":
        return ProbabilityScorer(estimator)
    if method in ("label", "distance"):
        return SCORERS[method](k=k)  # type: ignore[call-arg]
    if method == "random":
        return RandomScorer(random_state)
    raise ValueError(f"method: {method!r} is not one of {', '.join(SCORERS)}")
