"""Image data: scikit-learn's 8x8 handwritten digits."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as _sk_digits

from acakit.data.base import Dataset


def load_digits() -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8x8 pixels with values 0..16, 10 classes.

    Returns
    -------
    Dataset
        Image data set; ``X`` holds flattened images and ``image_shape`` is ``(8, 8)``.
    """
    d = _sk_digits()
    return Dataset(
        name="digits",
        X=d.data.astype(np.float64),
        y=d.target.astype(np.int64),
        classes=[str(c) for c in d.target_names],
        kind="image",
        image_shape=(8, 8),
        meta={"pixel_max": 16.0},
    )
