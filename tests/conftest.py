"""Shared fixtures."""

from __future__ import annotations

import pytest

from acakit.data import make_product_ratings, train_test_split


@pytest.fixture(scope="session")
def ratings():
    """A small product-ratings data set with few cells (empirical Bayes learns it well)."""
    return make_product_ratings(n_samples=6000, n_features=5, n_values=3, n_classes=3, seed=0)


@pytest.fixture(scope="session")
def ratings_split(ratings):
    return train_test_split(ratings, 0.3, seed=0)
