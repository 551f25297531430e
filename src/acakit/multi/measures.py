"""Alignment and heterogeneity of M collectives, reported with every multi-collective result.

- **signal overlap** ``O[i, j] = P*_i(X*_j) = Pr_{x~P0}[g_i(x) ∈ X*_j]``: the share of i's signal
  mass that j's signal can also produce (``O[i, i] = 1``; directed, since signal sets of
  different sizes overlap asymmetrically). Membership ``z ∈ X*_j`` is tested with
  :func:`acakit.theory.estimators.in_signal_set` (``g_j(z) == z`` for idempotent maps).
- **conflicting mass** on i's signal set ``K_i = Σ_{j≠i, y*_j ∉ Y*_i} α_j P*_j(X*_i)`` and
  **aligned mass** ``Σ_{j≠i, y*_j = y*_i} α_j P*_j(X*_i)`` (``y*_j``: the label j plants);
  ``K_i`` is exactly what the aggregator of the aggregate-knowledge tier publishes.
- **label alignment**: Jaccard index ``|Y*_i ∩ Y*_j| / |Y*_i ∪ Y*_j|`` of target sets, and the
  size-weighted entropy (bits) of target labels, ``H(p)`` with
  ``p(y) ∝ Σ_i α_i 1{y ∈ Y*_i} / |Y*_i|`` (0: everyone wants the same class).
- **mass heterogeneity**: entropy (bits) of the sizes ``p_i = α_i / Σ_j α_j`` (``log2 M``:
  equal sizes; 0: one collective holds all the mass).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from acakit.theory.estimators import in_signal_set


def entropy_bits(p: ArrayLike) -> float:
    """Shannon entropy in bits of non-negative weights (normalised here; 0 log 0 = 0).

    Examples
    --------
    >>> entropy_bits([1, 1]), entropy_bits([3, 0])
    (1.0, 0.0)
    """
    w = np.asarray(p, dtype=np.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("entropy: weights must be >= 0 with a positive sum")
    q = w[w > 0] / w.sum()
    return float(-(q * np.log2(q)).sum()) + 0.0


def size_entropy(alphas: ArrayLike) -> float:
    """Entropy (bits) of the collectives' sizes.

    Examples
    --------
    >>> size_entropy([0.1, 0.1, 0.1, 0.1])
    2.0
    """
    return entropy_bits(alphas)


def label_entropy(alphas: ArrayLike, target_sets: Sequence[set[int]]) -> float:
    """Size-weighted entropy (bits) of the target labels across collectives.

    Each collective spreads its size evenly over its target set.

    Examples
    --------
    >>> label_entropy([0.1, 0.1], [{0}, {0}]), label_entropy([0.1, 0.1], [{0}, {1}])
    (0.0, 1.0)
    """
    a = np.asarray(alphas, dtype=np.float64)
    labels = sorted(set().union(*target_sets))
    if not labels:
        raise ValueError("label entropy: every target set is empty")
    W = np.array([[1.0 / len(t) if y in t else 0.0 for y in labels] if t else [0.0] * len(labels)
                  for t in target_sets])
    return entropy_bits(a @ W)


def jaccard_matrix(target_sets: Sequence[set[int]]) -> np.ndarray:
    """Pairwise Jaccard index of target sets (1 on the diagonal; 0 for two empty sets).

    Examples
    --------
    >>> jaccard_matrix([{0}, {0, 1}, {2}]).round(2).tolist()
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    M = len(target_sets)
    out = np.eye(M)
    for i in range(M):
        for j in range(i + 1, M):
            union = target_sets[i] | target_sets[j]
            out[i, j] = out[j, i] = len(target_sets[i] & target_sets[j]) / len(union) if union else 0.0
    return out


def signal_overlap(X: Any, feature_maps: Sequence[Any]) -> np.ndarray:
    """``O[i, j] = Pr_{x~P0}[g_i(x) ∈ X*_j]``, estimated on a sample ``X`` of P0.

    Parameters
    ----------
    X : feature container
        A clean sample of P0 (e.g. the test set).
    feature_maps : sequence of callables
        The signals ``g_1 .. g_M``.

    Returns
    -------
    numpy.ndarray of shape (M, M)

    Examples
    --------
    >>> from acakit.data import make_product_ratings
    >>> from acakit.strategies import SetColumns
    >>> X = make_product_ratings(n_samples=3000, n_features=3, seed=0).X
    >>> signal_overlap(X, [SetColumns({"f0": 0}), SetColumns({"f0": 0, "f1": 0})]).round(1).tolist()
    [[1.0, 0.3], [1.0, 1.0]]
    """
    M = len(feature_maps)
    out = np.ones((M, M))
    images = [g(X) for g in feature_maps]
    for i in range(M):
        for j in range(M):
            if i != j:
                out[i, j] = float(np.mean(in_signal_set(images[i], feature_maps[j])))
    return out


def alignment_measures(
    alphas: ArrayLike,
    target_sets: Sequence[set[int]],
    planted: Sequence[int | None],
    overlap: np.ndarray,
    names: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-collective and global alignment / heterogeneity measures.

    Parameters
    ----------
    alphas : array-like of shape (M,)
        Sizes (fractions of the training set).
    target_sets : sequence of set of int
        ``Y*_i``.
    planted : sequence of int or None
        The label each collective reports (None: erasure, neither aligned nor conflicting).
    overlap : numpy.ndarray of shape (M, M)
        :func:`signal_overlap`.
    names : sequence of str, optional

    Returns
    -------
    per_collective : pandas.DataFrame
        ``overlap_mass`` (``P*_i(∪_{j≠i} X*_j)`` bounded by ``min(1, Σ_j O[i, j])``; exact for
        M = 2), ``conflict_mass`` K_i, ``aligned_mass``, ``others_alpha``,
        ``mean_jaccard`` (with the others).
    summary : dict
        ``label_entropy``, ``size_entropy``, ``mean_jaccard``, ``mean_overlap`` (mean of the
        off-diagonal ``O``), ``n_collectives``, ``total_alpha``.

    Examples
    --------
    >>> per, s = alignment_measures([0.1, 0.2], [{0}, {1}], [0, 1], np.ones((2, 2)))
    >>> per["conflict_mass"].round(3).tolist(), s["label_entropy"] > 0.9
    ([0.2, 0.1], True)
    """
    a = np.asarray(alphas, dtype=np.float64)
    M = len(a)
    names = list(names) if names is not None else [f"c{i}" for i in range(M)]
    J = jaccard_matrix(target_sets)
    off = ~np.eye(M, dtype=bool)
    pl = np.array([-1 if p is None else p for p in planted])
    has = np.array([p is not None for p in planted])
    # conflicting[j, i]: j plants a label outside Y*_i; aligned[j, i]: j plants i's label
    conflicting = np.array([[has[j] and pl[j] not in target_sets[i] for i in range(M)]
                            for j in range(M)]) & off
    aligned = (has[:, None] & has[None, :] & (pl[:, None] == pl[None, :])) & off
    mass_on_i = a[:, None] * overlap  # [j, i] = α_j P*_j(X*_i)
    per = pd.DataFrame({
        "name": names,
        "overlap_mass": np.minimum(1.0, (overlap * off).sum(1)) if M > 1 else np.zeros(M),
        "conflict_mass": (mass_on_i * conflicting).sum(0),
        "aligned_mass": (mass_on_i * aligned).sum(0),
        "others_alpha": a.sum() - a,
        "mean_jaccard": (J * off).sum(1) / max(M - 1, 1),
    })
    with_targets = [t for t in target_sets if t]
    summary = {
        "n_collectives": float(M),
        "total_alpha": float(a.sum()),
        "size_entropy": size_entropy(a) if a.sum() > 0 else 0.0,
        "label_entropy": label_entropy(a[[bool(t) for t in target_sets]], with_targets)
        if with_targets and a[[bool(t) for t in target_sets]].sum() > 0 else 0.0,
        "mean_jaccard": float(J[off].mean()) if M > 1 else 1.0,
        "mean_overlap": float(overlap[off].mean()) if M > 1 else 1.0,
    }
    return per, summary
