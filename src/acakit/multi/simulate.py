"""Simulation of M collectives acting on one firm at once.

Each collective ``i`` has a strategy (a feature map ``g_i`` and a label rule), a size (``α_i``
of the training set, or a head count), who may join (eligibility) and a *target set*
``Y*_i`` on which its success is measured (by default the strategy's own target). The firm
learns from the training set in which every member's row was replaced by what its collective
reports; in the population limit this is ``P = Σ_i α_i P*_i + (1 − Σ_i α_i) P0``.

Membership overlap (a base row drawn by two collectives) follows a policy:

- ``"disallow"``: collectives draw in order, each from the eligible rows no earlier collective
  took, so memberships are disjoint and every collective has its requested size (an error if
  too few rows are left);
- ``"first"``: every collective draws independently; a row claimed by several belongs to the
  first of them in order (the others lose that member);
- ``"random"``: independent draws; a contested row goes to one claimant chosen uniformly at
  random (seeded).

How a point is counted: a row belongs to exactly one collective (its *owner*) and is reported
once, by its owner's strategy; ``n_requested`` is what a collective drew, ``n_members`` what it
owns after the policy, ``n_contested`` how many of its draws were also claimed by another, and
``alpha`` is ``n_members / N`` (the size the bounds use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from acakit.collective import Collective, outcome_counts
from acakit.data.base import Dataset, copy_features
from acakit.firms import fit_recording_warnings
from acakit.metrics import planting_success, rate
from acakit.strategies import Erase, Strategy, _assign_rows

OverlapPolicy = Literal["disallow", "first", "random"]
OVERLAP_POLICIES: tuple[str, ...] = ("disallow", "first", "random")


@dataclass
class MemberCollective:
    """One of the M collectives: a :class:`~acakit.collective.Collective` with a name and a
    target set.

    Parameters
    ----------
    collective : Collective
        Strategy, size (``alpha`` or ``count``) and eligibility. Its ``seed`` is ignored: the
        simulation seeds every draw from its own seed and the collective's position.
    name : str
        Label used in results.
    targets : set of int, optional
        ``Y*_i``, the class codes counted as success (default: the strategy's target). Must be
        non-empty for planting strategies.

    Examples
    --------
    >>> from acakit.strategies import Plant, SetColumns
    >>> m = MemberCollective(Collective(Plant(SetColumns({"f0": 0}), 1), alpha=0.1), "a")
    >>> m.target_set
    {1}
    """

    collective: Collective
    name: str
    targets: set[int] | None = None

    @property
    def strategy(self) -> Strategy:
        """The collective's strategy."""
        return self.collective.strategy

    @property
    def target_set(self) -> set[int]:
        """``Y*_i`` (empty for erasure)."""
        if self.targets is not None:
            return {int(t) for t in self.targets}
        return self.strategy.targets()

    @property
    def planted_label(self) -> int | None:
        """The label the members report with their signal (None for erasure)."""
        return None if isinstance(self.strategy, Erase) else self.strategy.target


def check_collectives(collectives: Sequence[MemberCollective], train: Dataset) -> None:
    """Raise a one-line ``ValueError`` for targets that are not classes, empty target or signal
    sets, duplicate names, or sizes that sum to more than the training set.

    Parameters
    ----------
    collectives : sequence of MemberCollective
    train : Dataset
        The training set (its classes and size).
    """
    if not collectives:
        raise ValueError("collectives: give at least one collective")
    names = [c.name for c in collectives]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"collectives: name {sorted(dup)[0]!r} is used twice")
    total = 0.0
    for c in collectives:
        where = f"collectives.{c.name}"
        for t in c.target_set:
            if not 0 <= t < train.n_classes:
                raise ValueError(f"{where}.target: {t} is not a class of {train.name}; allowed: "
                                 + ", ".join(f"{i}={k}" for i, k in enumerate(train.classes)))
        if not isinstance(c.strategy, Erase) and not c.target_set:
            raise ValueError(f"{where}.targets: the target set is empty")
        values = getattr(c.strategy.feature_map, "values", None)
        token = getattr(c.strategy.feature_map, "token", None)
        if (values is not None and len(values) == 0) or (token is not None and token == ""):
            raise ValueError(f"{where}.signal: the signal set is empty (no column or token)")
        total += c.collective.size_in(train) / max(len(train), 1)
    if total > 1 + 1e-12:
        raise ValueError(f"collectives: sizes sum to {total:.4g} > 1 (of the training set); "
                         "the collectives cannot all fit")


def assign_members(
    train: Dataset,
    collectives: Sequence[MemberCollective],
    overlap: OverlapPolicy = "disallow",
    seed: int | None = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw every collective's members and resolve overlaps.

    Parameters
    ----------
    train : Dataset
        Clean training data.
    collectives : sequence of MemberCollective
    overlap : {"disallow", "first", "random"}, default="disallow"
        Policy for rows drawn by several collectives (see the module docstring).
    seed : int or None, default=0
        Seed of all draws: collective ``i`` draws with ``seed + 7919 i`` (so collective 0 draws
        exactly as a single :class:`~acakit.collective.Collective` with this seed).

    Returns
    -------
    owner : numpy.ndarray of int, shape (N,)
        Index of the collective owning each row, ``-1`` for base rows.
    counts : pandas.DataFrame
        One row per collective: ``name, n_requested, n_members, n_contested, alpha``.

    Raises
    ------
    ValueError
        Unknown policy, or too few eligible rows.

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> from acakit.strategies import Plant, SetColumns
    >>> train = make_product_ratings(n_samples=1000, seed=0)
    >>> cs = [MemberCollective(Collective(Plant(SetColumns({"f0": 0}), t), alpha=0.3), f"c{t}")
    ...       for t in (1, 2)]
    >>> owner, counts = assign_members(train, cs, "first", seed=0)
    >>> counts["n_requested"].tolist(), bool(counts["n_members"].iloc[1] < 300)
    ([300, 300], True)
    """
    if overlap not in OVERLAP_POLICIES:
        raise ValueError(f"overlap: {overlap!r} is not one of {', '.join(OVERLAP_POLICIES)}")
    N, M = len(train), len(collectives)
    base_seed = 0 if seed is None else int(seed)
    sizes = [c.collective.size_in(train) for c in collectives]
    claims = np.zeros((M, N), dtype=bool)
    taken = np.zeros(N, dtype=bool)
    for i, c in enumerate(collectives):  # loop over collectives, not rows
        pool = c.collective.eligible(train)
        if overlap == "disallow":
            pool &= ~taken
        idx = np.flatnonzero(pool)
        if sizes[i] > len(idx):
            left = " left after the earlier collectives" if overlap == "disallow" else ""
            raise ValueError(f"collectives.{c.name}.alpha: needs {sizes[i]} members but only "
                             f"{len(idx)} training rows are eligible{left}")
        rng = check_random_state(base_seed + 7919 * i)
        chosen = rng.choice(idx, size=sizes[i], replace=False)
        claims[i, chosen] = True
        taken[chosen] = True
    n_claims = claims.sum(0)
    if overlap == "random":
        prio = check_random_state(base_seed + 7919 * M).random_sample((M, N))
        owner = np.where(claims, prio, -1.0).argmax(0)
    else:  # first wins (disallow has no contested rows)
        owner = claims.argmax(0)
    owner = np.where(n_claims > 0, owner, -1)
    n_members = np.bincount(owner[owner >= 0], minlength=M)
    contested = (claims & (n_claims > 1)).sum(1)
    counts = pd.DataFrame({
        "name": [c.name for c in collectives],
        "n_requested": sizes,
        "n_members": n_members,
        "n_contested": contested,
        "alpha": n_members / max(N, 1),
    })
    return owner, counts


def apply_collectives(
    train: Dataset,
    collectives: Sequence[MemberCollective],
    owner: np.ndarray,
    seed: int | None = 0,
    return_outcome: bool = False,
) -> Dataset | tuple[Dataset, np.ndarray]:
    """The altered training set: each owned row replaced by its owner's report.

    Parameters
    ----------
    train : Dataset
    collectives : sequence of MemberCollective
    owner : numpy.ndarray of int
        From :func:`assign_members`.
    seed : int or None, default=0
        Seed of the members' behaviours under noise (collective ``i`` uses
        ``[seed + 7919 i, 0x4E015E]``, so collective 0 behaves as a single
        :class:`~acakit.collective.Collective` with this seed). Unused without noise.
    return_outcome : bool, default=False
        Also return what each row's owner did.

    Returns
    -------
    Dataset
        The altered training set.
    outcome : numpy.ndarray of int, shape (N,)
        Only with ``return_outcome``: the index in :data:`acakit.collective.OUTCOMES` of what
        each member did (``-1`` for base rows).
    """
    X = copy_features(train.X)
    y = np.asarray(train.y).copy()
    outcome = np.full(len(y), -1, dtype=np.int64)
    base_seed = 0 if seed is None else int(seed)
    for i, c in enumerate(collectives):
        c.strategy.fit(train)
        mask = owner == i
        if not mask.any():
            continue
        Xm, ym, what, _ = c.collective.report(train, mask, base_seed + 7919 * i)
        X = _assign_rows(X, mask, Xm)
        y[mask] = ym
        outcome[mask] = what
    altered = train.with_data(X, y)
    return (altered, outcome) if return_outcome else altered


@dataclass
class MultiResult:
    """What :func:`simulate` measured.

    Attributes
    ----------
    per_collective : pandas.DataFrame
        One row per collective: sizes (``n_requested, n_members, n_contested, alpha``),
        ``success`` (test points with y ∉ Y*_i) and ``success_all`` (all test points) with
        Wilson intervals, ``erasure_success`` for erasure collectives; when some collective has
        :class:`~acakit.collective.Noise`, the realised behaviours ``n_acted, n_dropped,
        n_perturbed, n_mislabelled, n_feature_only`` (they sum to ``n_members``).
    overall : dict
        ``accuracy`` (the altered firm on clean test data), ``clean_accuracy`` (the firm
        trained without collectives, if given), ``accuracy_drop``, ``global_success`` (share
        of test points on which *every* planting collective succeeds at once, all test points),
        ``mean_success`` and ``weighted_success`` (plain and size-weighted mean of
        ``success_all``), ``total_alpha``, ``n_train``, ``n_test``, ``fit_seconds``,
        ``fit_warnings`` (what the fit warned, recorded instead of printed; ``""`` if none).
    owner : numpy.ndarray
        Owner of each training row (``-1``: base).
    firm : estimator
        The firm fitted on the altered data.
    altered : Dataset
        The altered training set.
    outcome : numpy.ndarray or None
        What each member did (index in :data:`acakit.collective.OUTCOMES`; ``-1`` for base
        rows; all members ``0``, acted, without noise).
    """

    per_collective: pd.DataFrame
    overall: dict[str, float]
    owner: np.ndarray = field(repr=False)
    firm: Any = field(repr=False)
    altered: Dataset = field(repr=False)
    outcome: np.ndarray | None = field(default=None, repr=False)


def simulate(
    train: Dataset,
    test: Dataset,
    collectives: Sequence[MemberCollective],
    firm: Any,
    overlap: OverlapPolicy = "disallow",
    seed: int | None = 0,
    clean_firm: Any = None,
    confidence: float = 0.95,
) -> MultiResult:
    """Run M collectives against one firm and measure each collective and the firm.

    Parameters
    ----------
    train, test : Dataset
        Clean training and test data.
    collectives : sequence of MemberCollective
        The collectives, in order (order matters for ``overlap="first"``).
    firm : estimator
        Unfitted scikit-learn estimator (cloned, then fit on the altered data).
    overlap : {"disallow", "first", "random"}, default="disallow"
    seed : int or None, default=0
    clean_firm : fitted estimator, optional
        The firm trained on clean data (f0), for ``clean_accuracy`` and erasure success.
    confidence : float, default=0.95

    Returns
    -------
    MultiResult

    Raises
    ------
    ValueError
        One line: a target that is not a class, an empty target or signal set, sizes summing
        to more than 1, too few eligible rows, an unknown overlap policy.

    Examples
    --------
    >>> from acakit.data import make_product_ratings, train_test_split
    >>> from acakit.firms import EmpiricalBayesClassifier
    >>> from acakit.strategies import Plant, SetColumns
    >>> train, test = train_test_split(make_product_ratings(n_samples=4000, n_features=3,
    ...                                                      seed=0), 0.3, seed=0)
    >>> g = SetColumns({"f0": 0, "f1": 0, "f2": 0})
    >>> cs = [MemberCollective(Collective(Plant(g, 1), alpha=0.05), "small"),
    ...       MemberCollective(Collective(Plant(g, 2), alpha=0.10), "large")]
    >>> r = simulate(train, test, cs, EmpiricalBayesClassifier(), seed=0)
    >>> r.per_collective["success_all"].tolist()
    [0.0, 1.0]
    """
    check_collectives(collectives, train)
    owner, counts = assign_members(train, collectives, overlap, seed)
    altered, outcome = apply_collectives(train, collectives, owner, seed, return_outcome=True)
    noisy = any(c.collective.noise is not None for c in collectives)
    model = clone(firm)
    fit_s, warned = fit_recording_warnings(model, altered.X, altered.y)
    y_test = np.asarray(test.y)
    f0 = None if clean_firm is None else np.asarray(clean_firm.predict(test.X))
    rows, hits = [], []
    for i, c in enumerate(collectives):
        pred = np.asarray(model.predict(c.strategy.feature_map(test.X)))
        row: dict[str, Any] = counts.iloc[i].to_dict()
        row["strategy"] = c.strategy.name
        row["targets"] = ",".join(str(t) for t in sorted(c.target_set))
        if noisy:  # realised behaviours (columns only when some collective is noisy)
            row |= outcome_counts(outcome[owner == i])
        if c.target_set:
            row |= planting_success(pred, y_test, c.target_set, confidence)
            hits.append(np.isin(pred, sorted(c.target_set)))
        if f0 is not None:
            row |= rate(pred == f0, "erasure_success", confidence)
        rows.append(row)
    per = pd.DataFrame(rows)
    acc = float(np.mean(np.asarray(model.predict(test.X)) == y_test))
    overall: dict[str, Any] = {
        "accuracy": acc,
        "total_alpha": float(per["alpha"].sum()),
        "n_train": len(train),
        "n_test": len(test),
        "fit_seconds": fit_s,
        "fit_warnings": warned,
    }
    if f0 is not None:
        overall["clean_accuracy"] = float(np.mean(f0 == y_test))
        overall["accuracy_drop"] = overall["clean_accuracy"] - acc
    if hits:
        planted = per["success_all"].notna()
        w = per.loc[planted, "alpha"].to_numpy()
        s = per.loc[planted, "success_all"].to_numpy()
        overall["global_success"] = float(np.all(np.vstack(hits), axis=0).mean())
        overall["mean_success"] = float(s.mean())
        overall["weighted_success"] = float((w * s).sum() / w.sum()) if w.sum() > 0 else float("nan")
    return MultiResult(per, overall, owner, model, altered, outcome)
