"""The recorded per-cell numbers of five examples (``tests/data/example_numbers.json``), and a
check that a run of one of them (all of its cells, or a subset of its seeds) reproduces them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data" / "example_numbers.json"


def assert_example_numbers(name: str, results: pd.DataFrame, atol: float = 1e-9) -> int:
    """Assert that ``results`` (a run of ``examples/<name>.yaml``) has the recorded numbers.

    Every recorded cell whose seed the run has must be in ``results`` with the same values.
    Returns the number of cells compared (so a caller can check that it compared some).
    """
    rec = json.loads(DATA.read_text())
    keys, values = rec["spec"][name]["keys"], rec["spec"][name]["values"]
    want = pd.DataFrame(rec["rows"][name])
    want = want[want["seed"].isin(set(results["seed"]))]
    got = results[keys + values].copy()
    for k in keys:  # NaN keys (no sweep value, no budget) compare equal as a sentinel
        for df in (want, got):
            if pd.api.types.is_numeric_dtype(df[k]) or df[k].isna().all():
                df[k] = pd.to_numeric(df[k]).fillna(-1.0).round(12)
            else:
                df[k] = df[k].fillna("").astype(str)
    merged = want.merge(got, on=keys, how="left", suffixes=("_want", "_got"), indicator=True)
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, (f"{name}: {len(missing)} recorded cells missing, e.g. "
                           f"{missing[keys].iloc[0].to_dict()}")
    for v in values:
        a = merged[f"{v}_want"].astype(float).to_numpy()
        b = merged[f"{v}_got"].astype(float).to_numpy()
        bad = ~np.isclose(a, b, atol=atol, rtol=0, equal_nan=True)
        assert not bad.any(), (f"{name}: {v} changed in {bad.sum()} cells, e.g. "
                               f"{merged.loc[bad, keys].iloc[0].to_dict()}: {a[bad][0]} -> {b[bad][0]}")
    return len(merged)
