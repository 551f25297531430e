"""Interaction studies of several collectives: success over (α_1, α_2), success against
label and mass entropy, and the efficacy loss each collective suffers from the others (their
figures: :mod:`acakit.analyses.multi_plots`).

Efficacy loss (Karan et al., FAccT 2025): ``1 − S_i(with the others) / S_i(alone)``, where
"alone" reruns the same split and firm with ``i`` only, drawing its members with the seed
it had in the joint run (the same rows under the ``first`` and ``random`` policies; under
``disallow`` a later collective draws from the whole pool instead of what was left).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from acakit.collective import Collective
from acakit.data.base import Dataset
from acakit.multi.estimate import simulation_bounds
from acakit.multi.measures import label_entropy, size_entropy
from acakit.multi.simulate import MemberCollective, OverlapPolicy, simulate
from acakit.strategies import Plant


def efficacy_loss(
    train: Dataset,
    test: Dataset,
    collectives: Sequence[MemberCollective],
    firm: Any,
    overlap: OverlapPolicy = "disallow",
    seed: int = 0,
    together: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Success of each collective alone and with the others, and the relative loss.

    Parameters
    ----------
    train, test : Dataset
    collectives : sequence of MemberCollective
    firm : estimator
    overlap : {"disallow", "first", "random"}
    seed : int
    together : DataFrame, optional
        ``per_collective`` of the joint run, if already computed.

    Returns
    -------
    pandas.DataFrame
        ``name, success_alone, success_together, efficacy_loss`` (``success_all`` convention;
        NaN loss where the collective fails alone) and ``constructiveness``, one number for the
        whole set of collectives (the same on every row):

            constructiveness = Σ_k (S_k(together) − S_k(alone)) / Σ_k S_k(alone),

        which is minus the mean efficacy loss weighted by the success alone: −1 when together
        every collective loses all it had alone, 0 when acting together changes nothing in
        total, > 0 when the collectives help each other (NaN when all fail alone). For two
        collectives it is their pairwise constructiveness score.
    """
    if together is None:
        together = simulate(train, test, collectives, firm, overlap, seed).per_collective
    alone = []
    for i, c in enumerate(collectives):
        # collective i draws with seed + 7919 i in the joint run
        solo = MemberCollective(Collective(c.strategy, c.collective.alpha, c.collective.count,
                                           c.collective.eligibility, noise=c.collective.noise),
                                c.name, c.targets)
        r = simulate(train, test, [solo], firm, overlap, seed + 7919 * i)
        alone.append(r.per_collective["success_all"].iloc[0] if "success_all" in r.per_collective
                     else np.nan)
    s_alone = np.asarray(alone, dtype=float)
    s_with = together["success_all"].to_numpy(dtype=float) if "success_all" in together else \
        np.full(len(collectives), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.where(s_alone > 0, 1.0 - s_with / s_alone, np.nan)
    ok = ~np.isnan(s_alone) & ~np.isnan(s_with)
    total = float(s_alone[ok].sum())
    constructive = (float((s_with[ok] - s_alone[ok]).sum()) / total) if total > 0 else np.nan
    return pd.DataFrame({"name": [c.name for c in collectives], "success_alone": s_alone,
                         "success_together": s_with, "efficacy_loss": loss,
                         "constructiveness": constructive})


def pair_heatmap(
    train: Dataset,
    test: Dataset,
    first: MemberCollective,
    second: MemberCollective,
    alphas1: Sequence[float],
    alphas2: Sequence[float],
    firm: Any,
    seed: int = 0,
    overlap: OverlapPolicy = "disallow",
) -> pd.DataFrame:
    """Success of collective 1 (measured and full-knowledge bound) over a grid of (α_1, α_2).

    Parameters
    ----------
    train, test : Dataset
    first, second : MemberCollective
        Their sizes are replaced by the grid values.
    alphas1, alphas2 : sequence of float
    firm : estimator
    seed : int
    overlap : {"disallow", "first", "random"}

    Returns
    -------
    pandas.DataFrame
        ``alpha1, alpha2, success`` (collective 1, ``success_all``), ``bound_full``,
        ``success2``.
    """
    rows = []
    for a1 in alphas1:
        for a2 in alphas2:
            cs = [_resized(first, a1), _resized(second, a2)]
            r = simulate(train, test, cs, firm, overlap, seed)
            b = simulation_bounds(r, train, test, cs, finite=False)
            rows.append({"alpha1": a1, "alpha2": a2,
                         "success": float(r.per_collective["success_all"].iloc[0]),
                         "success2": float(r.per_collective["success_all"].iloc[1]),
                         "bound_full": float(b["bound_full"].iloc[0]) if "bound_full" in b else np.nan})
    return pd.DataFrame(rows)


def _resized(c: MemberCollective, alpha: float) -> MemberCollective:
    return MemberCollective(Collective(c.strategy, alpha=alpha, eligibility=c.collective.eligibility,
                                       noise=c.collective.noise), c.name, c.targets)


def aligned_vs_conflicting(
    train: Dataset,
    test: Dataset,
    first: MemberCollective,
    second_signal: Any,
    aligned_target: int,
    conflicting_target: int,
    alphas1: Sequence[float],
    alphas2: Sequence[float],
    firm: Any,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`pair_heatmap` twice: a second collective with the first one's target (aligned)
    and with another target (conflicting), both with ``second_signal``.

    Returns
    -------
    pandas.DataFrame
        The two grids stacked, with a ``relation`` column (``aligned`` / ``conflicting``).
    """
    out = []
    for rel, t in (("aligned", aligned_target), ("conflicting", conflicting_target)):
        second = MemberCollective(Collective(Plant(second_signal, t), alpha=0.0), "second")
        out.append(pair_heatmap(train, test, first, second, alphas1, alphas2, firm, seed)
                   .assign(relation=rel))
    return pd.concat(out, ignore_index=True)


def entropy_study(
    train: Dataset,
    test: Dataset,
    make_member: Callable[[int, int], MemberCollective],
    n_collectives: int,
    labels: Sequence[int],
    total_alpha: float,
    firm: Any,
    n_configs: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Success against label entropy and mass entropy at a fixed total size.

    Draws ``n_configs`` configurations of ``n_collectives`` collectives: sizes from a
    Dirichlet with a random concentration (from one dominant collective to equal sizes)
    scaled to ``total_alpha``, targets drawn from ``labels`` with a random number of distinct
    labels (from all aligned to all different).

    Parameters
    ----------
    train, test : Dataset
    make_member : callable
        ``make_member(k, target)`` -> the k-th collective (size is set here).
    n_collectives : int
    labels : sequence of int
        Candidate target classes.
    total_alpha : float
        Σ α_i, fixed.
    firm : estimator
    n_configs : int, default=20
    seed : int, default=0

    Returns
    -------
    pandas.DataFrame
        One row per configuration: ``label_entropy``, ``size_entropy``, ``mean_success``,
        ``weighted_success``, ``global_success``, ``min_success``.
    """
    rng = check_random_state(seed)
    rows = []
    for k in range(n_configs):
        conc = 10 ** rng.uniform(-1, 1.5)
        sizes = rng.dirichlet(np.full(n_collectives, conc)) * total_alpha
        n_lab = rng.randint(1, min(len(labels), n_collectives) + 1)
        pool = rng.choice(labels, size=n_lab, replace=False)
        targets = rng.choice(pool, size=n_collectives)
        cs = [_resized(make_member(j, int(targets[j])), float(sizes[j])) for j in range(n_collectives)]
        r = simulate(train, test, cs, firm, "disallow", seed + k)
        s = r.per_collective["success_all"].to_numpy()
        rows.append({"config": k, "label_entropy": label_entropy(sizes, [{int(t)} for t in targets]),
                     "size_entropy": size_entropy(sizes), "mean_success": float(s.mean()),
                     "weighted_success": r.overall["weighted_success"],
                     "global_success": r.overall["global_success"], "min_success": float(s.min())})
    return pd.DataFrame(rows)


def entropy_correlations(study: pd.DataFrame) -> dict[str, float]:
    """Spearman ρ of the size-weighted success with each entropy of an :func:`entropy_study`
    (``{"label_entropy": ρ, "size_entropy": ρ}``; NaN where an entropy does not vary)."""
    from scipy.stats import spearmanr

    out = {}
    for col in ("label_entropy", "size_entropy"):
        x = study[col].to_numpy(dtype=float)
        out[col] = (float(spearmanr(x, study["weighted_success"]).statistic)
                    if len(x) > 1 and np.ptp(x) > 0 else float("nan"))
    return out
