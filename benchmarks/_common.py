"""Shared helpers of the sweep benchmarks (not a benchmark itself)."""

from __future__ import annotations

import os
import tempfile

ADULT_SIGNAL = {"native_country": "Holand-Netherlands", "occupation": "Armed-Forces"}


def adult_config(alphas: list[float], seeds: list[int], firms: list[str]) -> dict:
    """The quickstart-like Adult sweep (plant a rare category pair, target >50K)."""
    return {
        "name": "bench",
        "dataset": {"name": "adult", "test_size": 0.3},
        "firm": {"name": firms[0]},
        "collective": {"strategy": "plant", "target": ">50K",
                       "signal": {"type": "set_columns", "values": ADULT_SIGNAL}},
        "sweep": {"alpha": alphas, "seed": seeds, "grid": {"firm.name": firms}},
        "output": {"plot": False},
    }


def fresh_cache() -> str:
    """A new, empty cache folder (benchmarks never reuse an earlier run's cache)."""
    d = tempfile.mkdtemp(prefix="acakit-bench-cache-")
    os.environ["ACAKIT_CACHE_DIR"] = d
    from acakit.engine import cache

    cache.configure(d, True)
    return d


def multi_config(seeds: list[int]) -> dict:
    """Two conflicting collectives on product ratings (20,000 rows), logistic regression firm,
    the second one's size swept over 6 values; bounds off (the fits are what is compared)."""
    signal = {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}
    return {
        "name": "bench-multi", "experiment": "multi",
        "dataset": {"name": "product_ratings",
                    "params": {"n_samples": 20000, "n_features": 4, "n_values": 3, "n_classes": 3}},
        "firm": {"name": "logistic_regression"},
        "collectives": [
            {"name": "small", "signal": signal, "target": "rating_1", "alpha": 0.05},
            {"name": "large", "signal": signal, "target": "rating_2", "alpha": 0.05},
        ],
        "sweep": {"collective": "large", "alpha": [0.0, 0.02, 0.04, 0.06, 0.08, 0.1], "seed": seeds},
        "bounds": {"compute": False},
        "output": {"plot": False},
    }


def fairness_config(seeds: list[int]) -> dict:
    """COMPAS minority relabeling (α = 0.3 of the African-American defendants), logistic
    regression, three methods x 6 budgets + thresholds, two firm-side baselines."""
    return {
        "name": "bench-fairness", "experiment": "fairness",
        "dataset": {"name": "compas", "test_size": 0.3},
        "groups": {"minority": {"race": "African-American"}, "majority": {"race": "Caucasian"},
                   "favorable": "no_recid"},
        "firm": {"name": "logistic_regression"},
        "relabel": {"methods": ["probability", "label", "random"], "alpha": 0.3,
                    "budgets": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "thresholds": [0.5]},
        "baselines": ["reweighing", "massaging"],
        "seeds": seeds, "analyses": ["pareto"],
        "output": {"plot": False},
    }
