"""``acakit plan CONFIG --simulate``: the measured columns hold each firm's numbers at every α."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from acakit.cli import _register_plugins, app

ALPHAS = [0.0, 0.01, 0.03]
FIRMS = ["empirical_bayes", "logistic_regression"]


def _invoke(*args: str):
    _register_plugins()
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """Two firms (a grid), two seeds, three sizes on a small synthetic table (seconds)."""
    tmp = tmp_path_factory.mktemp("plan_sim")
    cfg = {
        "name": "plan-simulate",
        "dataset": {"name": "product_ratings", "params": {"n_samples": 3000, "n_features": 4}},
        "firm": {"name": FIRMS[0]},
        "collective": {"strategy": "plant", "target": "rating_1",
                       "signal": {"type": "set_columns", "values": {"f3": 9}}},
        "sweep": {"alpha": ALPHAS, "seed": [0, 1], "grid": {"firm.name": FIRMS}},
        "output": {"dir": str(tmp / "out")},
    }
    p = tmp / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture(scope="module")
def curve(config) -> pd.DataFrame:
    res = _invoke("plan", str(config), "--simulate", "--json")
    assert res.exit_code == 0, res.output
    return pd.DataFrame(json.loads(res.output)["curve"])


@pytest.fixture(scope="module")
def run_results(config) -> pd.DataFrame:
    res = _invoke("run", str(config), "--jobs", "1", "--quiet", "--no-cache")
    assert res.exit_code == 0, res.output
    return pd.read_csv(config.parent / "out" / "results.csv")


def test_one_row_per_firm_and_alpha_no_nan(curve):
    assert len(curve) == len(ALPHAS) * len(FIRMS)
    assert sorted(curve["firm"].unique()) == FIRMS
    assert sorted(curve["alpha"].unique()) == ALPHAS
    assert not curve.duplicated(["alpha", "firm"]).any()
    measured = ["measured_success_all", "measured_lo", "measured_hi", "measured_members"]
    assert curve[measured].notna().all().all(), curve
    pos = curve[curve["alpha"] > 0]
    assert (pos["measured_members"] > 0).all()
    assert (curve["measured_lo"] <= curve["measured_success_all"] + 1e-12).all()
    assert (curve["measured_success_all"] <= curve["measured_hi"] + 1e-12).all()
    # the bound columns are the plan's, repeated on each firm's row of that α
    assert curve.groupby("alpha")["bound"].nunique(dropna=False).eq(1).all()


def test_values_per_firm_equal_acakit_run(curve, run_results):
    """Each firm's row is the mean over seeds of that firm's cells of ``acakit run`` at that α."""
    r = run_results
    assert len(r) == len(ALPHAS) * len(FIRMS) * 2
    for rec in curve.to_dict("records"):
        cells = r[(r["firm"] == rec["firm"]) & np.isclose(r["alpha_requested"], rec["alpha"])]
        assert len(cells) == 2, rec
        assert rec["measured_success_all"] == pytest.approx(cells["success_all"].mean(), abs=1e-12)
        assert rec["measured_members"] == pytest.approx(cells["n_members"].mean())
    # the firms differ here: an average over firms would match neither (the bug this guards)
    at0 = curve[curve["alpha"] == 0].set_index("firm")["measured_success_all"]
    assert at0["logistic_regression"] != pytest.approx(at0["empirical_bayes"])


def test_measured_table_keys_by_requested_alpha():
    """A realised α off the requested one (rounding, eligibility) still lands on its row."""
    from acakit.analyses.planning import measured_table

    rows = []
    for firm, k in (("a", 3), ("b", 7)):
        for seed in (0, 1):
            for req, members in ((0.0, 0), (0.01, 21 + seed)):
                rows.append({"cell_id": f"{firm}{seed}{req}", "variant": f"firm={firm}",
                             "firm": firm, "alpha": members / 2100, "alpha_requested": req,
                             "n_members": members, "seed": seed, "success_all": k / 10,
                             "success_all_n": 900, "accuracy": 0.8, "clean_accuracy": 0.8})
    results = pd.DataFrame(rows)
    requested = dict(zip(results["cell_id"], results["alpha_requested"], strict=True))
    t = measured_table(results, requested)
    assert list(t["alpha"]) == [0.0, 0.01, 0.0, 0.01]
    assert list(t["firm"]) == ["a", "a", "b", "b"]
    assert list(t["measured_success_all"]) == pytest.approx([0.3, 0.3, 0.7, 0.7])
    assert list(t["measured_members"]) == [0, 21.5, 0, 21.5]
    assert "variant" not in t  # one variant per firm: the firm's name is the label


def test_printed_table_has_a_row_per_firm_and_no_nan(config):
    res = _invoke("plan", str(config), "--simulate")
    assert res.exit_code == 0, res.output
    # bound and measured curve on one plot, by default beside the config's outputs
    assert (config.parent / "out" / "plan.png").stat().st_size > 10_000
    assert "plan.png" in res.output
    rows = [ln for ln in res.output.splitlines() if ln.startswith("│") and "_" in ln]
    assert sum("empirical_bayes" in ln for ln in rows) == len(ALPHAS)
    assert sum("logistic_regression" in ln for ln in rows) == len(ALPHAS)
    assert "nan" not in res.output.lower()


def test_simulate_uses_the_configs_store_so_a_second_plan_refits_nothing(config, curve, run_results):
    """``plan --simulate`` runs through the engine with the config's store: after it (and
    ``acakit run`` of the same config), a second plan reads every cell from the store and
    gives the same measured numbers."""
    res = _invoke("plan", str(config), "--simulate", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    n_cells = len(ALPHAS) * len(FIRMS) * 2
    assert out["simulation"]["cells_run"] == 0
    assert out["simulation"]["cells_from_store"] == n_cells
    assert out["simulation"]["store"].endswith("results.sqlite")
    again = pd.DataFrame(out["curve"])
    pd.testing.assert_frame_equal(again, curve)
