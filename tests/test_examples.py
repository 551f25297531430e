"""The core example configs run end to end and show the published shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from acakit.analyses import run_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_bbc_trigger_example(tmp_path):
    res = run_file(EXAMPLES / "bbc_trigger.yaml", jobs=2, out_dir=str(tmp_path), progress=False)
    s = res.summary.pivot_table(index="alpha", columns="variant", values="success")
    # stronger triggers plant faster; a single token barely moves TF-IDF (measured: 0.02 at 5%)
    top = s.index.max()
    assert s.loc[top, "count=20"] > s.loc[top, "count=5"] > s.loc[top, "count=1"] > s.loc[0.0, "count=1"]
    assert s.loc[top, "count=20"] > 0.5
    assert (tmp_path / "success.png").is_file()


@pytest.mark.slow
def test_adult_feature_label_beats_feature_only(tmp_path):
    res = run_file(EXAMPLES / "adult_feature_label_vs_only.yaml", out_dir=str(tmp_path),
                   progress=False)
    r = res.results
    fl = r[r["strategy"] == "plant"].set_index("alpha_requested")["success"]
    fo = r[r["strategy"] == "plant_feature_only"].set_index("alpha_requested")["success"]
    assert fl[0.001] > fo[0.001] + 0.3
    assert fl[0.01] > 0.95
    assert fl[0.0] < 0.2 and fo[0.0] < 0.2


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(path):
    """Every shipped config parses, names a known experiment kind and (collective sweeps) expands
    to cells that fit their data, without running anything."""
    from acakit.engine.config import load_config, read_config
    from acakit.engine.runners import CELL_KINDS as EXPERIMENT_KINDS

    kind = read_config(path).get("experiment", "collective")
    assert kind in EXPERIMENT_KINDS
    if kind == "collective":
        _, cells = load_config(path)
        assert cells
