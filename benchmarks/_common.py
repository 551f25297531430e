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
    from acakit import cache

    cache.configure(d, True)
    return d
