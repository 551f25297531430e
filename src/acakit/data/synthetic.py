"""Synthetic generators with known ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from acakit.data.base import Dataset


def make_gaussian_mixture(
    n_samples: int = 5000,
    n_features: int = 5,
    n_classes: int = 2,
    overlap: float = 1.0,
    seed: int | None = 0,
) -> Dataset:
    """Gaussian classes with controllable overlap.

    Class ``k`` has mean ``2 * e_k`` (the k-th unit vector scaled by 2, cycling over features)
    and isotropic standard deviation ``overlap``; larger ``overlap`` means harder classes.

    Parameters
    ----------
    n_samples : int, default=5000
        Number of rows; classes are equally likely.
    n_features : int, default=5
        Dimension of the feature vectors (at least 1).
    n_classes : int, default=2
        Number of classes (at least 2).
    overlap : float, default=1.0
        Standard deviation of each class around its mean (> 0).
    seed : int or None, default=0
        Seed of the generator.

    Returns
    -------
    Dataset
        Vector data set.
    """
    if n_classes < 2 or n_features < 1 or n_samples < n_classes or overlap <= 0:
        raise ValueError("need n_classes >= 2, n_features >= 1, n_samples >= n_classes, overlap > 0")
    rng = check_random_state(seed)
    y = rng.randint(n_classes, size=n_samples)
    means = np.zeros((n_classes, n_features))
    means[np.arange(n_classes), np.arange(n_classes) % n_features] = 2.0
    X = means[y] + overlap * rng.standard_normal((n_samples, n_features))
    return Dataset(
        name="gaussian_mixture",
        X=X,
        y=y.astype(np.int64),
        classes=[f"class_{k}" for k in range(n_classes)],
        kind="vector",
        meta={"means": means, "overlap": overlap},
    )


def make_product_ratings(
    n_samples: int = 20000,
    n_features: int = 8,
    n_values: int = 3,
    n_classes: int = 3,
    n_informative: int = 2,
    purity: float = 0.8,
    seed: int | None = 0,
) -> Dataset:
    """Categorical "product rating" data on which the Bayes-optimal classifier is known exactly.

    Each feature takes integer values ``0 .. n_values - 1`` uniformly at random. The rating
    (class) depends only on the first ``n_informative`` features: each combination of their
    values is assigned a class ``c`` at random, and ``P(y = c | x) = purity`` while the other
    classes share ``1 - purity`` equally. The exact posterior is ``meta["posterior_table"]``
    (shape ``(n_values,) * n_informative + (n_classes,)``); see :func:`bayes_posterior`.

    Parameters
    ----------
    n_samples : int, default=20000
    n_features : int, default=8
        Number of categorical features (>= n_informative).
    n_values : int, default=3
        Values per feature (>= 2).
    n_classes : int, default=3
        Number of rating classes (>= 2).
    n_informative : int, default=2
        Features the class depends on (>= 1).
    purity : float, default=0.8
        Probability of the assigned class, in (1 / n_classes, 1].
    seed : int or None, default=0

    Returns
    -------
    Dataset
        Tabular data set with integer-coded categorical columns ``f0 .. f{n_features-1}``.

    Examples
    --------
    >>> ds = make_product_ratings(n_samples=100, seed=0)
    >>> ds.X.shape, ds.classes
    ((100, 8), ['rating_0', 'rating_1', 'rating_2'])
    """
    if not (1 <= n_informative <= n_features and n_values >= 2 and n_classes >= 2):
        raise ValueError("need 1 <= n_informative <= n_features, n_values >= 2, n_classes >= 2")
    if not 1.0 / n_classes < purity <= 1.0:
        raise ValueError(f"purity: {purity} is not in (1/n_classes, 1]")
    rng = check_random_state(seed)
    n_cells = n_values**n_informative
    assigned = rng.randint(n_classes, size=n_cells)
    table = np.full((n_cells, n_classes), (1.0 - purity) / (n_classes - 1))
    table[np.arange(n_cells), assigned] = purity
    X = rng.randint(n_values, size=(n_samples, n_features)).astype(np.int64)
    cell = np.ravel_multi_index(X[:, :n_informative].T, (n_values,) * n_informative)
    cum = table[cell].cumsum(axis=1)
    y = (rng.random_sample(n_samples)[:, None] > cum).sum(axis=1)
    y = np.minimum(y, n_classes - 1)
    cols = [f"f{j}" for j in range(n_features)]
    return Dataset(
        name="product_ratings",
        X=pd.DataFrame(X, columns=cols),
        y=y.astype(np.int64),
        classes=[f"rating_{k}" for k in range(n_classes)],
        kind="tabular",
        feature_types=dict.fromkeys(cols, "categorical"),
        meta={
            "posterior_table": table.reshape((n_values,) * n_informative + (n_classes,)),
            "informative": cols[:n_informative],
            "n_values": n_values,
        },
    )


def bayes_posterior(dataset: Dataset, X: pd.DataFrame | None = None) -> np.ndarray:
    """Exact P0(y | x) of a :func:`make_product_ratings` data set.

    Parameters
    ----------
    dataset : Dataset
        A data set made by :func:`make_product_ratings` (its ``meta`` holds the table).
    X : DataFrame or None
        Rows to evaluate (default: ``dataset.X``). Rows whose informative features are out of
        the generator's range get ``nan``: they have no mass under P0.

    Returns
    -------
    numpy.ndarray of shape (n_rows, n_classes)
    """
    if "posterior_table" not in dataset.meta:
        raise ValueError(f"{dataset.name} has no exact posterior (not a product_ratings data set)")
    X = dataset.X if X is None else X
    table = dataset.meta["posterior_table"]
    n_values = dataset.meta["n_values"]
    inf = X[dataset.meta["informative"]].to_numpy()
    ok = ((inf >= 0) & (inf < n_values)).all(axis=1)
    out = np.full((len(X), table.shape[-1]), np.nan)
    flat = table.reshape(-1, table.shape[-1])
    if ok.any():
        cell = np.ravel_multi_index(inf[ok].T, table.shape[:-1])
        out[ok] = flat[cell]
    return out


def make_linear_regression(
    n_samples: int = 2000,
    n_features: int = 2,
    noise: float = 0.5,
    weight_norm: float = 1.0,
    whiten: bool = True,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear regression data ``y = X θ_true + noise`` (for least-squares firms).

    With ``whiten`` the features are made exactly isotropic (``XᵀX / n = I``), so the
    least-squares risk is ``½||θ − θ̂||² + const`` and every quantity of the gradient settings
    has a closed form.

    Parameters
    ----------
    n_samples : int, default=2000
    n_features : int, default=2
    noise : float, default=0.5
        Standard deviation of the label noise (>= 0).
    weight_norm : float, default=1.0
        ``||θ_true||`` (its direction is drawn with ``seed``).
    whiten : bool, default=True
    seed : int or None, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    theta_true : ndarray of shape (n_features,)

    Examples
    --------
    >>> X, y, t = make_linear_regression(100, 3)
    >>> bool(np.allclose(X.T @ X / 100, np.eye(3)))
    True
    """
    if n_samples < n_features + 1 or n_features < 1 or noise < 0 or weight_norm < 0:
        raise ValueError("need n_samples > n_features >= 1, noise >= 0, weight_norm >= 0")
    rng = check_random_state(seed)
    X = rng.standard_normal((n_samples, n_features))
    if whiten:
        L = np.linalg.cholesky(X.T @ X / n_samples)
        X = np.linalg.solve(L, X.T).T
    direction = rng.standard_normal(n_features)
    theta = weight_norm * direction / np.linalg.norm(direction)
    y = X @ theta + noise * rng.standard_normal(n_samples)
    return X, y, theta
