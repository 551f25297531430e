"""A collective: who joins, how many, and which strategy they follow."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from acakit.data.base import Dataset, copy_features
from acakit.strategies import FeatureMap, Plant, PlantFeatureOnly, Strategy, _assign_rows, _rows

Eligibility = str | Mapping[str, Any]

#: What each member did, as coded in :func:`act`'s ``outcome`` (and the result columns).
OUTCOMES: tuple[str, ...] = ("acted", "dropped", "perturbed", "mislabelled", "feature_only")


@dataclass(frozen=True)
class Noise:
    """Coordination noise (and a mixed strategy) inside one collective.

    Every member independently draws one behaviour: it *drops out* (reports its clean row) with
    probability ``p_drop``; applies the *perturbed signal* ``perturbed`` (with the collective's
    label rule) with ``p_signal``; applies the signal but reports a *wrong label* (uniform over
    the classes other than the one the strategy would report) with ``p_label``; plants
    *feature-only* (a mixed strategy: ``g(x)`` if its label is the target, its clean row
    otherwise; a ``Plant`` collective only) with ``p_feature_only``; otherwise it *acts* as
    the strategy says. The probabilities sum to at most 1.

    Parameters
    ----------
    p_drop, p_signal, p_label, p_feature_only : float, default=0.0
        The probabilities above.
    perturbed : FeatureMap or None
        The signal perturbed members apply (see :func:`acakit.strategies.perturb_signal`);
        required when ``p_signal > 0``.

    Examples
    --------
    >>> Noise(p_drop=0.1, p_label=0.2).probabilities
    (0.7, 0.1, 0.0, 0.2, 0.0)
    """

    p_drop: float = 0.0
    p_signal: float = 0.0
    p_label: float = 0.0
    p_feature_only: float = 0.0
    perturbed: FeatureMap | None = None

    def __post_init__(self) -> None:
        ps = {"p_drop": self.p_drop, "p_signal": self.p_signal, "p_label": self.p_label,
              "p_feature_only": self.p_feature_only}
        for k, v in ps.items():
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"noise.{k}: {v} is not a probability in [0, 1]")
        if sum(ps.values()) > 1.0 + 1e-12:
            raise ValueError(f"noise: the probabilities sum to {sum(ps.values()):.4g} > 1")
        if self.p_signal > 0 and self.perturbed is None:
            raise ValueError("noise.perturb: required when p_signal > 0 (which perturbed signal)")

    @property
    def probabilities(self) -> tuple[float, float, float, float, float]:
        """The probabilities of :data:`OUTCOMES`, in order (``acted`` first)."""
        rest = self.p_drop + self.p_signal + self.p_label + self.p_feature_only
        return (max(0.0, 1.0 - rest), self.p_drop, self.p_signal, self.p_label,
                self.p_feature_only)

    @property
    def is_zero(self) -> bool:
        """True when every member acts (no noise)."""
        return self.probabilities[0] == 1.0


def act(
    strategy: Strategy,
    X: Any,
    y: np.ndarray,
    noise: Noise | None = None,
    n_classes: int | None = None,
    seed: Any = 0,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """What the members of a (possibly noisy) collective report.

    Parameters
    ----------
    strategy : Strategy
        The collective's strategy (already fitted).
    X, y : features and labels
        The members' clean rows.
    noise : Noise or None
        None (or all-zero noise): every member follows the strategy, exactly as
        ``strategy.poison(X, y)`` (no random numbers are drawn).
    n_classes : int or None
        Number of classes (needed when ``p_label > 0``).
    seed : int, sequence of int or None, default=0
        Seed of the members' behaviours (``numpy.random.default_rng(seed)``).

    Returns
    -------
    X', y' : the reports
    outcome : numpy.ndarray of int
        Per member, the index in :data:`OUTCOMES` of what it did.

    Examples
    --------
    >>> import numpy as np
    >>> from acakit.strategies import AddShift
    >>> X, y, what = act(Plant(AddShift(1.0), 1), np.zeros((1000, 1)), np.zeros(1000, int),
    ...                  Noise(p_drop=0.5), n_classes=2, seed=0)
    >>> bool(abs((what == 1).mean() - 0.5) < 0.05), bool(((X[:, 0] == 0) == (what == 1)).all())
    (True, True)
    """
    y = np.asarray(y)
    if noise is None or noise.is_zero:
        Xp, yp = strategy.poison(X, y)
        return Xp, yp, np.zeros(len(y), dtype=np.int64)
    rng = np.random.default_rng(seed)
    outcome = rng.choice(len(OUTCOMES), size=len(y), p=np.asarray(noise.probabilities))
    Xp, yp = strategy.poison(X, y)
    Xp = copy_features(Xp)
    yp = np.asarray(yp).copy()
    dropped = outcome == 1
    if dropped.any():
        Xp = _assign_rows(Xp, dropped, _rows(X, dropped))
        yp[dropped] = y[dropped]
    perturbed = outcome == 2
    if perturbed.any():
        other = copy.copy(strategy)
        other.feature_map = noise.perturbed  # type: ignore[assignment]
        Xq, yq = other.poison(_rows(X, perturbed), y[perturbed])
        Xp = _assign_rows(Xp, perturbed, Xq)
        yp[perturbed] = yq
    wrong = outcome == 3
    if wrong.any():
        if not n_classes or n_classes < 2:
            raise ValueError("noise.p_label: a wrong label needs at least 2 classes")
        shift = rng.integers(1, n_classes, size=int(wrong.sum()))
        yp[wrong] = (yp[wrong] + shift) % n_classes
    only = outcome == 4
    if only.any():
        if not isinstance(strategy, Plant) or strategy.target is None:
            raise ValueError("noise.p_feature_only: a mixed strategy needs a plant collective")
        Xf, yf = PlantFeatureOnly(strategy.feature_map, strategy.target).poison(_rows(X, only),
                                                                                 y[only])
        Xp = _assign_rows(Xp, only, Xf)
        yp[only] = yf
    return Xp, yp, outcome.astype(np.int64)


def camouflage(
    X_reported: Any,
    y_reported: np.ndarray,
    train: Dataset,
    signal_columns: list[str],
    share: float,
    acting: np.ndarray | None = None,
    seed: Any = 0,
) -> tuple[Any, np.ndarray]:
    """Members who hide their signal among typical rows of the class they report.

    A share ``share`` of the acting members replaces every column *outside* the signal by
    the values of one training row drawn at random from the rows whose clean label is the
    label the member reports (a real, typical record of that class), and keeps the signal
    columns. The aim: features that agree with the reported label (confident learning sees
    no contradiction) and look like the rest of the data (outlier detectors see one unusual
    value, not an unusual person). acakit's own answer of a collective to a defending firm;
    the papers do not define camouflage.

    Parameters
    ----------
    X_reported : pandas.DataFrame
        The members' reported rows (after the strategy).
    y_reported : numpy.ndarray
        Their reported labels (codes).
    train : Dataset
        The clean training data the typical rows are drawn from (the collective is assumed to
        know it; a real collective would use its own members' records or public statistics).
    signal_columns : list of str
        The columns the signal sets (kept).
    share : float
        Share of the acting members who camouflage, in [0, 1].
    acting : numpy.ndarray of bool, optional
        Which members acted (dropped-out members report their clean row and do not
        camouflage); all by default.
    seed : int or sequence of int, default=0
        Seed of who camouflages and of the rows drawn.

    Returns
    -------
    X', camouflaged : the reported rows, and which members camouflaged.

    Examples
    --------
    >>> import pandas as pd
    >>> from acakit.data import Dataset
    >>> tr = Dataset(name="t", X=pd.DataFrame({"a": [1, 2, 3, 4], "s": [0, 0, 0, 0]}),
    ...              y=np.array([0, 0, 1, 1]), classes=[0, 1], kind="tabular")
    >>> Xr = pd.DataFrame({"a": [9, 9], "s": [7, 7]})
    >>> out, who = camouflage(Xr, np.array([1, 1]), tr, ["s"], 1.0)
    >>> sorted(set(out["a"].tolist()) - {3, 4}), out["s"].tolist(), who.tolist()
    ([], [7, 7], [True, True])
    """
    import pandas as pd

    if not isinstance(X_reported, pd.DataFrame) or not isinstance(train.X, pd.DataFrame):
        raise ValueError("collective.camouflage: needs tabular data (a set_columns signal)")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"collective.camouflage: {share} is not a share in [0, 1]")
    y_reported = np.asarray(y_reported)
    rng = np.random.default_rng(seed)
    who = rng.random(len(y_reported)) < share
    if acting is not None:
        who &= np.asarray(acting, dtype=bool)
    others = [c for c in X_reported.columns if c not in set(signal_columns)]
    if not who.any() or not others:
        return X_reported, who
    y_train = np.asarray(train.y)
    donors = np.empty(len(y_reported), dtype=np.int64)
    for label in np.unique(y_reported[who]):
        pool = np.flatnonzero(y_train == label)
        rows = who & (y_reported == label)
        if len(pool) == 0:  # no clean row of that class: those members keep their own row
            who &= ~rows
            continue
        donors[rows] = rng.choice(pool, size=int(rows.sum()))
    out = X_reported.copy()
    source = train.X.iloc[donors[who]][others].set_axis(out.index[who])
    for c in others:
        if out[c].dtype != source[c].dtype:
            out[c] = out[c].astype(object)
    out.loc[who, others] = source
    return out, who


def outcome_counts(outcome: np.ndarray) -> dict[str, int]:
    """``{"n_acted": ..., "n_dropped": ..., ...}``: how many members did what.

    Examples
    --------
    >>> outcome_counts(np.array([0, 0, 3]))["n_mislabelled"]
    1
    """
    counts = np.bincount(np.asarray(outcome, dtype=np.int64), minlength=len(OUTCOMES))
    return {f"n_{k}": int(v) for k, v in zip(OUTCOMES, counts, strict=True)}


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
        Seed of the draw of members (and, with ``noise``, of the members' behaviours).
    noise : Noise or None, default=None
        Coordination noise and mixed strategy; what each member did is in ``outcome_``
        after :meth:`apply`.
    camouflage : float, default=0.0
        Share of the acting members who replace their non-signal columns by those of a
        typical training row of the class they report (:func:`camouflage`; tabular signals
        that set columns). Who did is in ``camouflaged_`` after :meth:`apply`.

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
    noise: Noise | None = None
    camouflage: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.camouflage <= 1.0:
            raise ValueError(f"camouflage: {self.camouflage} is not a share in [0, 1]")
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

    def report(self, train: Dataset, members: np.ndarray,
               seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        """What the rows ``members`` of ``train`` report: the strategy under this collective's
        noise (:func:`act`), then camouflage (:func:`camouflage`).

        Returns
        -------
        X', y', outcome, camouflaged : the members' reports, what each did, who camouflaged.
        """
        Xm, ym, outcome = act(self.strategy, _rows(train.X, members),
                              np.asarray(train.y)[members], self.noise, train.n_classes,
                              [seed, 0x4E015E])
        hidden = np.zeros(len(ym), dtype=bool)
        if self.camouflage > 0:
            cols = list(getattr(self.strategy.feature_map, "values", None) or {})
            if not cols:
                raise ValueError("collective.camouflage: needs a signal that sets named columns "
                                 "(set_columns)")
            Xm, hidden = camouflage(Xm, ym, train, cols, self.camouflage, acting=outcome != 1,
                                    seed=[seed, 0xCA30])
        return Xm, ym, outcome, hidden

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
        self.camouflaged_ = np.zeros(int(members.sum()), dtype=bool)
        if not members.any():
            self.outcome_ = np.zeros(0, dtype=np.int64)
            return train, members
        Xm, ym, self.outcome_, self.camouflaged_ = self.report(
            train, members, 0 if self.seed is None else int(self.seed))
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
