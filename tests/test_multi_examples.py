"""The multi-collective example configs, end to end through the CLI (slow)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from example_numbers import assert_example_numbers


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smart_city_m4", "smart_city_m2", "two_collectives"])
def test_example_runs_and_writes_plots(name, tmp_path):
    from acakit.cli import _register_plugins, app

    _register_plugins()
    r = CliRunner().invoke(app, ["run", f"examples/{name}.yaml", "-o", str(tmp_path), "-j", "1", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "bounds_vs_measured.png").stat().st_size > 1000
    df = pd.read_csv(tmp_path / "results.csv")
    if name in ("smart_city_m4", "two_collectives"):  # the numbers recorded before the engine
        assert assert_example_numbers(name, df) == len(df)
    m = df.groupby(["sweep_alpha", "name"])[["success_all", "bound_full", "bound_worst"]].mean()
    b = m.dropna(subset=["bound_full"])  # a collective of size 0 has no bound
    assert len(b) > 0 and (b["bound_worst"] <= b["bound_full"] + 1e-12).all()
    if name == "two_collectives":  # the small one loses once the conflicting one outweighs it
        small = m.xs("small", level="name")["success_all"]
        assert small.iloc[0] > 0.95 and small.iloc[-1] < 0.05
    else:  # the swept group gains as it grows; the heat group loses the shared reports
        shade = m.xs("shade_streets", level="name")["success_all"]
        heat = m.xs("heat_health", level="name")["success_all"]
        assert shade.iloc[-1] > shade.iloc[0] + 0.2 and heat.iloc[-1] < heat.iloc[0]
