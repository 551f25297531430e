"""The minority collective's relabeling procedure.

A fraction α of the minority joins the collective. Members with an unfavourable label are the
candidates; a scorer ranks them by how likely their label would be favourable had they been
treated like the majority; the collective flips the top M candidates (budget mode) or every
candidate whose score exceeds a threshold (threshold mode) to the favourable label. Features,
and everyone else's data, are never touched.

:func:`plan_relabeling` draws the members and ranks the candidates once; the returned
:class:`RelabelPlan` then gives the altered labels for any budget or threshold, so a sweep over
budgets costs one scoring. :class:`Relabel` wraps the same rule as an
:class:`acakit.strategies.Strategy` for use with :class:`acakit.collective.Collective`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from acakit.data.base import Dataset, take_rows
from acakit.fairness.groups import GroupSpec, check_alpha
from acakit.fairness.scorers import Scorer, make_scorer
from acakit.strategies import Strategy


def check_majority_sample(m: int | str | None) -> int | None:
    """Normalise a majority-sample size: ``None``/``"all"`` -> None, else an int >= 1."""
    if m is None or m == "all":
        return None
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise ValueError(f"majority_sample: {m!r} must be an integer >= 1 or 'all'")
    return int(m)


def sample_majority(n_majority: int, m: int | None, rng: np.random.RandomState) -> np.ndarray:
    """Positions (into the majority rows) of a uniform sample of m of them (all if m is None)."""
    if m is None or m >= n_majority:
        return np.arange(n_majority)
    return np.sort(rng.choice(n_majority, size=m, replace=False))


@dataclass
class RelabelPlan:
    """Members, candidates and their ranking; altered labels for any budget or threshold.

    Attributes
    ----------
    y : ndarray
        The clean training labels (class codes).
    favorable : int
        Favourable class code.
    members : ndarray of int
        Training-row positions of the collective's members.
    candidates : ndarray of int
        Positions of the members with an unfavourable label.
    scores : ndarray of float
        Score of each candidate (same order as ``candidates``).
    order : ndarray of int
        Candidate positions sorted by decreasing score (ties broken at random).
    """

    y: np.ndarray
    favorable: int
    members: np.ndarray
    candidates: np.ndarray
    scores: np.ndarray
    order: np.ndarray
    n_minority: int = 0
    n_majority_known: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_candidates(self) -> int:
        """Number of candidates."""
        return len(self.candidates)

    def n_flips(self, budget: float | int | None = None, threshold: float | None = None) -> int:
        """How many candidates a budget or threshold flips.

        Parameters
        ----------
        budget : int or float, optional
            An int is the number of flips M (capped at the candidates); a float in [0, 1] is a
            fraction of the candidates.
        threshold : float, optional
            Flip every candidate whose score is strictly above it (give budget or threshold).
        """
        if (budget is None) == (threshold is None):
            raise ValueError("budget: give exactly one of budget and threshold")
        if threshold is not None:
            return int((self.scores > threshold).sum())
        if isinstance(budget, bool) or budget < 0:  # type: ignore[operator]
            raise ValueError(f"budget: {budget!r} must be >= 0")
        if isinstance(budget, float):
            if budget > 1:
                raise ValueError(f"budget: {budget} is a fraction of the candidates, must be <= 1")
            return int(round(budget * self.n_candidates))
        return min(int(budget), self.n_candidates)  # type: ignore[arg-type]

    def flipped(self, budget: float | int | None = None, threshold: float | None = None) -> np.ndarray:
        """Training-row positions flipped to the favourable label."""
        return self.order[: self.n_flips(budget, threshold)]

    def labels(self, budget: float | int | None = None, threshold: float | None = None) -> np.ndarray:
        """The altered training labels."""
        y = self.y.copy()
        y[self.flipped(budget, threshold)] = self.favorable
        return y


def plan_relabeling(
    train: Dataset,
    groups: GroupSpec,
    alpha: float,
    method: str | Scorer = "probability",
    majority_sample: int | str | None = None,
    k: int = 10,
    estimator: Any = None,
    seed: int | None = 0,
) -> RelabelPlan:
    """Draw a collective of a fraction α of the minority and rank its candidates.

    Parameters
    ----------
    train : Dataset
        Clean training data (binary labels, sensitive attributes).
    groups : GroupSpec
        Minority, majority and favourable label.
    alpha : float
        Fraction of the minority in the collective, in (0, 1].
    method : str or Scorer, default="probability"
        ``"probability"``, ``"label"``, ``"distance"``, ``"random"`` or a scorer instance.
    majority_sample : int, "all" or None, default=None
        Number m of majority points the collective knows (a uniform sample); None: all.
    k : int, default=10
        Neighbours of the label and distance scorers.
    estimator : sklearn classifier, optional
        Model of the probability scorer (default logistic regression).
    seed : int or None, default=0
        Seeds the draw of members, of the majority sample and of the random ranking/ties.

    Returns
    -------
    RelabelPlan

    Examples
    --------
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=600, seed=0)
    >>> plan = plan_relabeling(ds, GroupSpec({"group": "minority"}), alpha=0.5, seed=0)
    >>> y = plan.labels(budget=10)
    >>> int((y != ds.y).sum())
    10
    """
    alpha = check_alpha(alpha)
    groups.validate(train)
    m = check_majority_sample(majority_sample)
    rng = check_random_state(seed)
    fav = groups.favorable_code(train)
    y = np.asarray(train.y)
    minority = np.flatnonzero(groups.minority_mask(train))
    majority = np.flatnonzero(groups.majority_mask(train))
    n_members = max(1, int(round(alpha * len(minority))))
    members = np.sort(rng.choice(minority, size=n_members, replace=False))
    candidates = members[y[members] != fav]
    known = majority[sample_majority(len(majority), m, rng)]
    scorer = make_scorer(method, k=k, estimator=estimator, random_state=rng.randint(2**31 - 1))
    if len(candidates):
        scores = np.asarray(scorer.score(
            groups.scoring_features(take_rows(train.X, candidates)),
            groups.scoring_features(take_rows(train.X, known)),
            (y[known] == fav).astype(np.int64),
        ), dtype=float)
    else:
        scores = np.zeros(0)
    perm = rng.permutation(len(candidates))  # random tie-breaking
    order = candidates[perm[np.argsort(-scores[perm], kind="stable")]]
    return RelabelPlan(y=y.copy(), favorable=fav, members=members, candidates=candidates,
                       scores=scores, order=order, n_minority=len(minority),
                       n_majority_known=len(known),
                       meta={"method": getattr(scorer, "name", str(method)), "alpha": alpha,
                             "majority_sample": "all" if m is None else m})


class _Identity:
    """The feature map of a relabeling strategy: features are never changed."""

    kind = "any"

    def __call__(self, X: Any) -> Any:
        return X


class Relabel(Strategy):
    """The fairness ``relabel`` strategy: members flip unfavourable labels by a scorer's rank.

    Use it with :class:`acakit.collective.Collective` and eligibility
    ``{"group": {attribute: minority_value}}``; :meth:`fit` sees the clean training data and
    keeps the majority (or a sample of m of it) as what the collective knows.

    Parameters
    ----------
    groups : GroupSpec
        Minority, majority and favourable label.
    method : str or Scorer, default="probability"
    budget : int or float or None, default=1.0
        Number of flips (int) or fraction of the candidates (float in [0, 1]).
    threshold : float or None, default=None
        Flip every candidate scoring above it instead of using a budget.
    majority_sample : int, "all" or None, default=None
    k : int, default=10
    seed : int or None, default=0

    Examples
    --------
    >>> from acakit.collective import Collective
    >>> from acakit.fairness.synthetic import make_minority_synthetic
    >>> ds = make_minority_synthetic(n_samples=600, seed=0)
    >>> g = GroupSpec({"group": "minority"})
    >>> c = Collective(Relabel(g, budget=5), count=50, eligibility={"group": {"group": "minority"}})
    >>> altered, members = c.apply(ds)
    >>> int((altered.y != ds.y).sum())
    5
    """

    name = "relabel"

    def __init__(self, groups: GroupSpec, method: str | Scorer = "probability",
                 budget: float | int | None = 1.0, threshold: float | None = None,
                 majority_sample: int | str | None = None, k: int = 10,
                 seed: int | None = 0) -> None:
        self.groups = groups
        self.method = method
        self.budget = None if threshold is not None else budget
        self.threshold = threshold
        self.majority_sample = majority_sample
        self.k = k
        self.seed = seed
        self.feature_map = _Identity()  # type: ignore[assignment]
        self.target = None

    def fit(self, train: Dataset) -> Relabel:
        self.groups.validate(train)
        rng = check_random_state(self.seed)
        majority = np.flatnonzero(self.groups.majority_mask(train))
        known = majority[sample_majority(len(majority), check_majority_sample(self.majority_sample),
                                         rng)]
        self.favorable_ = self.groups.favorable_code(train)
        self.majority_X_ = self.groups.scoring_features(take_rows(train.X, known))
        self.majority_y_ = (np.asarray(train.y)[known] == self.favorable_).astype(np.int64)
        self.scorer_ = make_scorer(self.method, k=self.k, random_state=rng.randint(2**31 - 1))
        return self

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        if not hasattr(self, "scorer_"):
            raise RuntimeError("call fit(train) before poison()")
        y = np.asarray(y).copy()
        cand = np.flatnonzero(y != self.favorable_)
        if not len(cand):
            return X, y
        scores = np.asarray(self.scorer_.score(self.groups.scoring_features(take_rows(X, cand)),
                                               self.majority_X_, self.majority_y_), dtype=float)
        order = cand[np.argsort(-scores, kind="stable")]
        if self.threshold is not None:
            n = int((scores > self.threshold).sum())
        elif isinstance(self.budget, float):
            n = int(round(self.budget * len(cand)))
        else:
            n = min(int(self.budget or 0), len(cand))
        y[order[:n]] = self.favorable_
        return X, y

    def targets(self) -> set[int]:
        return set()
