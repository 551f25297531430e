"""A worked acakit plugin: one strategy, one metric and one data set.

Installed (``pip install -e examples/plugin_package``), its pieces are named in a config like
acakit's own: ``collective.strategy: {name: label_budget, params: {share: 0.5}}``,
``metrics: [signal_lift]``, ``dataset.name: toy_loans`` (see ``sweep.yaml``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from acakit.data.base import Dataset
from acakit.strategies import Strategy

__version__ = "0.1.0"


class LabelBudget(Strategy):
    """Plant the signal on every member, relabel only a share of them to the target.

    A collective with a budget of label changes: every member reports g(x), and the first
    ``share`` of the members (in the order the collective drew them) also report the target
    label; the rest keep their own label. ``share=1`` is feature-label planting, ``share=0``
    is the signal without any label change.
    """

    name = "label_budget"

    class Params(BaseModel):
        """The parameters a config may give (checked before any cell runs)."""

        model_config = ConfigDict(extra="forbid")
        share: float = Field(1.0, ge=0.0, le=1.0)

    def __init__(self, feature_map: Any, target: int, share: float = 1.0) -> None:
        self.feature_map = feature_map
        self.target = int(target)
        self.share = float(share)

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        y = np.asarray(y).copy()
        k = int(round(self.share * len(y)))
        y[:k] = self.target
        return self.feature_map(X), y


def signal_lift(result: Any) -> float:
    """Success minus what the clean firm f0 already does on the signal.

    Pr[f(g(x)) in Y*] - Pr[f0(g(x)) in Y*] over test points whose label is not in Y*: the part
    of the success the collective caused (0 when the signal alone moves f0 as far).
    """
    targets = sorted(result.targets)
    if not targets:
        return float("nan")
    keep = ~np.isin(result.y_test, targets)
    gx = result.feature_map(result.X_test)
    f0 = np.asarray(result.clean_firm.predict(gx))
    moved = np.isin(result.pred_signal[keep], targets).mean()
    return float(moved - np.isin(f0[keep], targets).mean())


def make_toy_loans(n_samples: int = 600, seed: int = 0) -> Dataset:
    """Synthetic loan applications: income, debt ratio and a free-text-like ``channel`` column.

    Approval follows a noisy rule of income and debt; ``channel`` carries no information, so a
    collective can plant a signal in it.
    """
    if n_samples < 20:
        raise ValueError(f"n_samples: {n_samples} is too few (at least 20)")
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.4, n_samples)
    debt = rng.uniform(0.0, 0.8, n_samples)
    channel = rng.choice(["web", "branch", "phone"], n_samples)
    score = (np.log(income) - 10.5) / 0.4 - 3.0 * (debt - 0.4) + rng.normal(0, 0.7, n_samples)
    X = pd.DataFrame({"income": income.round(0), "debt_ratio": debt.round(3),
                      "channel": channel})
    y = (score > 0).astype(np.int64)
    return Dataset(name="toy_loans", X=X, y=y, classes=["denied", "approved"], kind="tabular",
                   feature_types={"income": "numeric", "debt_ratio": "numeric",
                                  "channel": "categorical"})
