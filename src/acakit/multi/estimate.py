"""The inputs of the multi-collective bounds, counted from data (vectorised, exact counting).

- :func:`population_inputs`: the infinite-data quantities ``w, D, C, A, K, B`` of
  :mod:`acakit.multi.bounds`, plugged in from a clean sample of P0 (a large reference sample,
  or the clean training set) and the collectives' sizes, signals and labels;
- :func:`finite_bounds_for`: the finite-sample tiers of one collective in a simulated run,
  from its own clean sample and the other collectives' actual reports;
- :func:`simulation_bounds`: both, for every planting collective of a
  :class:`~acakit.multi.simulate.MultiResult`.

The infinite-data inputs need every other collective to plant (``plant``: its planted law is
``P0∘g_j⁻¹``); the finite-sample tiers count what the others actually report, so the others
may follow any strategy. The collective being bounded must plant feature-label
(``plant``), as in the single-collective finite bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from acakit.data.base import Dataset, take_rows
from acakit.multi.bounds import PointInputs, finite_tier_bounds, tier_bounds
from acakit.multi.simulate import MemberCollective, MultiResult
from acakit.strategies import Plant, SetColumns
from acakit.theory.estimators import (
    collective_statistics,
    in_signal_set,
    row_keys,
    signal_set_size,
)


def _locate(keys: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in the sorted unique ``table`` and which of them are found."""
    if len(table) == 0:
        return np.zeros(len(keys), dtype=np.intp), np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    return pos, table[pos] == keys


def _check_plants(collectives: Sequence[MemberCollective], i: int, others: bool) -> None:
    who = range(len(collectives)) if others else [i]
    for j in who:
        c = collectives[j]
        if type(c.strategy) is not Plant:
            what = "the bounded collective" if j == i else "every other collective"
            raise ValueError(f"collectives.{c.name}.strategy: {c.strategy.name!r}; the multi-collective "
                             f"bounds need {what} to plant feature-label ('plant')")


def population_inputs(
    X_ref: Any,
    y_ref: np.ndarray,
    collectives: Sequence[MemberCollective],
    alphas: Sequence[float],
    i: int,
    others_lo: float | None = None,
    others_hi: float | None = None,
) -> PointInputs:
    """Plug-in infinite-data inputs for collective ``i`` from a clean sample of P0.

    Parameters
    ----------
    X_ref, y_ref :
        A clean sample of P0 (the larger the better; its frequencies stand for P0).
    collectives : sequence of MemberCollective
        All collectives (each must plant feature-label).
    alphas : sequence of float
        Their sizes (use the effective sizes after the overlap policy).
    i : int
        Which collective.
    others_lo, others_hi : float, optional
        Range of the others' total size known to the worst-case tier (default: the truth).

    Returns
    -------
    PointInputs

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> from acakit.collective import Collective
    >>> ds = make_product_ratings(n_samples=20000, n_features=3, seed=0)
    >>> g = SetColumns({"f0": 0, "f1": 0, "f2": 0})
    >>> cs = [MemberCollective(Collective(Plant(g, 1), alpha=0.05), "a"),
    ...       MemberCollective(Collective(Plant(g, 2), alpha=0.10), "b")]
    >>> p = population_inputs(ds.X, ds.y, cs, [0.05, 0.10], 0)
    >>> round(p.conflict_total, 3), round(float(p.conflict[0]), 3), round(p.others_alpha, 3)
    (0.1, 0.1, 0.1)
    """
    _check_plants(collectives, i, others=True)
    y_ref = np.asarray(y_ref)
    n = len(y_ref)
    me = collectives[i]
    gi, yi, Yi = me.strategy.feature_map, int(me.strategy.target), me.target_set
    n_cls = int(max(y_ref.max(), *(c.strategy.target for c in collectives))) + 1
    u, inv = np.unique(row_keys(gi(X_ref)), return_inverse=True)
    w = np.bincount(inv, minlength=len(u)) / n
    pos, hit = _locate(row_keys(X_ref), u)
    joint = np.bincount(pos[hit] * n_cls + y_ref[hit], minlength=len(u) * n_cls).reshape(len(u), n_cls) / n
    D = joint.max(1) - joint[:, yi]
    per_label = np.zeros((len(u), n_cls))
    aligned = np.zeros(len(u))
    K = 0.0
    for j, c in enumerate(collectives):  # loop over collectives
        if j == i:
            continue
        lj = int(c.strategy.target)
        gx = c.strategy.feature_map(X_ref)
        pj, hj = _locate(row_keys(gx), u)
        mass_j = float(alphas[j]) * np.bincount(pj[hj], minlength=len(u)) / n
        if lj == yi:
            aligned += mass_j
        elif lj not in Yi:
            per_label[:, lj] += mass_j
            K += float(alphas[j]) * float(np.mean(in_signal_set(gx, gi)))
    outside = np.array([k not in Yi for k in range(n_cls)])
    C = per_label[:, outside].max(1) if outside.any() else np.zeros(len(u))
    B = float(np.sum(alphas)) - float(alphas[i])
    return PointInputs(alpha=float(alphas[i]), others_alpha=max(B, 0.0), conflict_total=K, mass=w,
                       gap=np.maximum(D, 0.0), conflict=C, aligned=aligned, others_lo=others_lo,
                       others_hi=others_hi, keys=u)


def finite_bounds_for(
    result: MultiResult,
    train: Dataset,
    collectives: Sequence[MemberCollective],
    i: int,
    *,
    n_test: int | None,
    delta: float = 0.05,
    epsilon: float = 0.0,
    n_signal_points: float | None = None,
    others_count_range: tuple[int, int] | None = None,
) -> Any:
    """Finite-sample tier bounds of collective ``i`` in a simulated run.

    i's statistics come from its members' *clean* rows (what it knows before acting); the
    others' conflicting / aligned counts at i's signal points and on ``X*_i`` are counted from
    the rows they actually reported (full and aggregate tiers).

    Parameters
    ----------
    result : MultiResult
        From :func:`acakit.multi.simulate.simulate` (owners and altered data).
    train : Dataset
        The clean training set of that run.
    collectives : sequence of MemberCollective
    i : int
    n_test : int or None
        Test-set size (None: population success).
    delta, epsilon : float
    n_signal_points : float, optional
        ``#X̃_i``; default: :func:`~acakit.theory.estimators.signal_set_size` for categorical
        ``SetColumns`` signals, else the number of observed points.
    others_count_range : (int, int), optional
        Range of the others' row count known to the worst-case tier.

    Returns
    -------
    MultiFiniteBound
    """
    _check_plants(collectives, i, others=False)
    me = collectives[i]
    gi, yi, Yi = me.strategy.feature_map, int(me.strategy.target), me.target_set
    owner = result.owner
    mem = owner == i
    if result.outcome is not None:  # noisy members' reports count as the others' rows
        mem &= result.outcome == 0
    if not mem.any():
        raise ValueError(f"collectives.{me.name}: no members after the overlap policy; no bound")
    stats = collective_statistics(take_rows(train.X, np.flatnonzero(mem)), np.asarray(train.y)[mem],
                                  gi, yi)
    others = (owner >= 0) & ~mem
    idx = np.flatnonzero(others)
    Xo = take_rows(result.altered.X, idx)
    yo = np.asarray(result.altered.y)[idx]
    n_cls = train.n_classes
    u = stats["key"].to_numpy()
    pos, hit = _locate(row_keys(Xo), u) if len(idx) else (np.zeros(0, np.intp), np.zeros(0, bool))
    counts = np.bincount(pos[hit] * n_cls + yo[hit], minlength=len(u) * n_cls).reshape(len(u), n_cls)
    N = len(train)
    outside = np.array([k not in Yi for k in range(n_cls)])
    C = counts[:, outside].max(1) / N if outside.any() else np.zeros(len(u))
    Al = counts[:, yi] / N
    Kc = int((in_signal_set(Xo, gi) & ~np.isin(yo, sorted(Yi))).sum()) if len(idx) else 0
    if n_signal_points is None and isinstance(gi, SetColumns) and train.kind == "tabular" and all(
            t == "categorical" for t in train.feature_types.values()):
        n_signal_points = signal_set_size(train, gi)
    if n_signal_points is not None:
        n_signal_points = max(float(n_signal_points), float(len(u)))
    return finite_tier_bounds(
        stats["mass"], stats["margin"], stats["gap"], n=int(mem.sum()), n_train=N, conflict=C,
        aligned=Al, others_count=int(others.sum()), conflict_count=Kc,
        others_count_range=others_count_range, n_test=n_test, delta=delta, epsilon=epsilon,
        n_signal_points=n_signal_points, n_classes=n_cls)


def _noise_shares(noise: Any, realised: Any = None) -> dict[str, float]:
    """The shares of a noisy collective's members that acted, were perturbed and mislabelled:
    as realised in a run (its ``n_*`` counts) when given, else the noise's probabilities."""
    if realised is not None:
        n = max(int(realised["n_members"]), 1)
        return {k: float(realised[f"n_{k}"]) / n for k in ("acted", "perturbed", "mislabelled")}
    p = noise.probabilities
    return {"acted": p[0], "perturbed": p[2], "mislabelled": p[3]}


def _mislabel_components(c: MemberCollective, mass: float, n_classes: int, counts: Any,
                         n_train: int | None) -> list[tuple[MemberCollective, float]]:
    """One component per other label of a collective's mislabelled members: the realised
    ``counts`` per label when given, else ``mass`` split evenly."""
    from acakit.collective import Collective

    t = int(c.strategy.target)  # type: ignore[arg-type]
    others = [k for k in range(n_classes) if k != t]
    out = []
    for k in others:
        m = float(np.asarray(counts)[k]) / n_train if counts is not None and n_train else \
            mass / len(others)
        if m > 0:
            s = Plant(c.strategy.feature_map, k)
            out.append((MemberCollective(Collective(s, alpha=0.0), f"{c.name}:label{k}"), m))
    return out


def noise_components(
    collectives: Sequence[MemberCollective],
    alphas: Sequence[float],
    n_classes: int,
    realised: pd.DataFrame | None = None,
    mislabel_counts: Sequence[np.ndarray] | None = None,
    n_train: int | None = None,
) -> tuple[list[MemberCollective], list[float], list[int]]:
    """The noisy collectives as a noiseless mixture: one component per behaviour.

    Collective ``i`` of size α with :class:`~acakit.collective.Noise` becomes

    - its *acting* members, α·p_act, with its own signal and label (the component bounded);
    - nothing for the dropped members: their clean rows are base rows (P0);
    - an *aligned* component α·p_signal with the perturbed signal and i's label;
    - one *conflicting* component per other class y, α·p_label/(K − 1) each, with i's signal
      and label y (a wrong label is uniform over the other classes).

    Components of size 0 are left out, so a collective without noise (or with zero noise) is
    its own single component and the bounds are exactly the noiseless ones.

    Parameters
    ----------
    collectives : sequence of MemberCollective
        Every collective must plant feature-label (``p_feature_only`` is not covered).
    alphas : sequence of float
        Their sizes (after the overlap policy).
    n_classes : int
    realised : DataFrame, optional
        ``per_collective`` of a run with the realised counts (``n_members, n_acted,
        n_perturbed, n_mislabelled``): the shares are the realised ones instead of the
        probabilities.
    mislabel_counts : sequence of numpy.ndarray, optional
        Per collective, the realised number of mislabelled members per reported class (used
        instead of the uniform split).
    n_train : int, optional
        Training-set size (needed with ``mislabel_counts``).

    Returns
    -------
    components : list of MemberCollective
    sizes : list of float
    acting : list of int
        The index, in ``components``, of each collective's acting component.

    Examples
    --------
    >>> from acakit.collective import Collective, Noise
    >>> from acakit.strategies import SetColumns
    >>> g = SetColumns({"f0": 0})
    >>> cs = [MemberCollective(Collective(Plant(g, 1), alpha=0.1, noise=Noise(p_drop=0.2,
    ...                                                                  p_label=0.2)), "a")]
    >>> comps, sizes, acting = noise_components(cs, [0.1], 3)
    >>> [round(s, 3) for s in sizes], [c.strategy.target for c in comps], acting
    ([0.06, 0.01, 0.01], [1, 0, 2], [0])
    """
    from acakit.collective import Collective

    comps: list[MemberCollective] = []
    sizes: list[float] = []
    acting: list[int] = []
    extra: list[tuple[MemberCollective, float]] = []
    for i, c in enumerate(collectives):
        a = float(alphas[i])
        nz = c.collective.noise
        if nz is None or nz.is_zero:
            acting.append(len(comps))
            comps.append(c)
            sizes.append(a)
            continue
        if nz.p_feature_only > 0:
            raise ValueError(f"collectives.{c.name}.noise.p_feature_only: the bounds do not cover "
                             "a mixed feature-only strategy")
        if type(c.strategy) is not Plant:
            raise ValueError(f"collectives.{c.name}.strategy: noise bounds need 'plant'")
        share = _noise_shares(nz, None if realised is None else realised.iloc[i])
        plain = Collective(c.strategy, alpha=min(a * share["acted"], 1.0),
                           eligibility=c.collective.eligibility)
        acting.append(len(comps))
        comps.append(MemberCollective(plain, c.name, c.targets))
        sizes.append(a * share["acted"])
        if share["perturbed"] > 0 and nz.perturbed is not None:
            s = Plant(nz.perturbed, int(c.strategy.target))  # type: ignore[arg-type]
            extra.append((MemberCollective(Collective(s, alpha=0.0), f"{c.name}:perturbed"),
                          a * share["perturbed"]))
        if share["mislabelled"] > 0:
            counts = None if mislabel_counts is None or not n_train else mislabel_counts[i]
            extra += _mislabel_components(c, a * share["mislabelled"], n_classes, counts, n_train)
    for comp, size in extra:
        comps.append(comp)
        sizes.append(size)
    return comps, sizes, acting


def simulation_bounds(
    result: MultiResult,
    train: Dataset,
    test: Dataset,
    collectives: Sequence[MemberCollective],
    reference: Dataset | None = None,
    *,
    delta: float = 0.05,
    epsilon: float = 0.0,
    others_range: tuple[float, float] | None = None,
    finite: bool = True,
) -> pd.DataFrame:
    """Infinite-data and finite-sample tier bounds for every planting collective of a run.

    Parameters
    ----------
    result : MultiResult
    train, test : Dataset
        The clean split of the run.
    collectives : sequence of MemberCollective
    reference : Dataset, optional
        Clean sample of P0 for the infinite-data plug-in (default: ``train``).
    delta, epsilon : float
    others_range : (float, float), optional
        Range ``(B_lo, B_hi)`` of the others' total size known to the worst-case tier, the same
        for every collective (default: each collective's true ``B``).
    finite : bool, default=True
        Also compute the finite-sample tiers.

    Returns
    -------
    pandas.DataFrame
        One row per collective: ``name``, ``bound_full``, ``bound_aggregate``,
        ``bound_worst`` (infinite data, plug-in), their ``_sum``/``_covered`` forms, ``gap_mass``,
        ``others_alpha``, ``conflict_total``, and ``finite_full``, ``finite_aggregate``,
        ``finite_worst`` (probability >= 1 − δ). Collectives that do not plant get NaN.
    """
    ref = train if reference is None else reference
    alphas = result.per_collective["alpha"].to_numpy()
    N = len(train)
    all_plant = all(type(c.strategy) is Plant for c in collectives)
    noisy = any(c.collective.noise is not None and not c.collective.noise.is_zero
                for c in collectives)
    mixed = any(c.collective.noise is not None and c.collective.noise.p_feature_only > 0
                for c in collectives)
    comps, sizes, acting = list(collectives), list(alphas), list(range(len(collectives)))
    if noisy and all_plant and not mixed:
        mis = None
        if result.outcome is not None:
            y_alt = np.asarray(result.altered.y)
            mis = [np.bincount(y_alt[(result.owner == i) & (result.outcome == 3)],
                               minlength=train.n_classes) for i in range(len(collectives))]
        comps, sizes, acting = noise_components(collectives, alphas, train.n_classes,
                                                realised=result.per_collective,
                                                mislabel_counts=mis, n_train=N)
    rows = []
    for i, c in enumerate(collectives):
        row: dict[str, Any] = {"name": c.name}
        if type(c.strategy) is Plant and alphas[i] > 0:
            if all_plant and not mixed and sizes[acting[i]] > 0:
                lo, hi = (None, None) if others_range is None else others_range
                p = population_inputs(ref.X, ref.y, comps, sizes, acting[i], lo, hi)
                b = tier_bounds(p, epsilon)
                row |= {("bound_" + k if k in ("full", "aggregate", "worst") or k.endswith(
                    ("_sum", "_covered")) else k): v for k, v in b.items()}
                row |= {"others_alpha": p.others_alpha, "conflict_total": p.conflict_total}
            if finite and (result.outcome is None
                           or bool(((result.owner == i) & (result.outcome == 0)).any())):
                rng = None if others_range is None else (int(np.floor(others_range[0] * N)),
                                                         int(np.ceil(others_range[1] * N)))
                fb = finite_bounds_for(result, train, collectives, i, n_test=len(test), delta=delta,
                                       epsilon=epsilon, others_count_range=rng)
                row |= fb.to_dict()
        rows.append(row)
    return pd.DataFrame(rows)
