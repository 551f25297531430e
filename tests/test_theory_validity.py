"""The bounds against simulation (product ratings + empirical Bayes firm, ε = 0), the finite-sample
bound's intermediate quantities, the estimators, the planner and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from acakit.collective import Collective
from acakit.data import make_product_ratings, train_test_split
from acakit.firms import make_firm
from acakit.metrics import evaluate
from acakit.strategies import Plant, SetColumns
from acakit.theory import planting_bound
from acakit.theory.estimators import (
    collective_statistics,
    estimate_signal,
    finite_bound_from_sample,
    signal_set_size,
)
from acakit.theory.finite import finite_sample_bound, n_events
from acakit.theory.planner import plan

DELTA = 0.05
SEEDS = range(20)
SIZES = (500, 2000, 4500, 6000)  # members, out of N = 14,000 training rows
SIGNAL = {"f0": 0, "f1": 0, "f2": 0}  # 3 signal points (f3 free), base mass ξ = 1/27


def _simulate():
    rows = []
    g = SetColumns(SIGNAL)
    for seed in SEEDS:
        ds = make_product_ratings(n_samples=20000, n_features=4, n_values=3, n_classes=3,
                                  n_informative=2, purity=0.8, seed=seed)
        table = ds.meta["posterior_table"]  # exact P0(y | f0, f1)
        assigned = int(table[0, 0].argmax())
        target = (assigned + 1) % 3  # the signal fights the base data: Δ = 0.8 − 0.1 = 0.7
        gap, xi = float(table[0, 0].max() - table[0, 0, target]), 1 / 27
        train, test = train_test_split(ds, 0.3, seed=seed)
        n_points = signal_set_size(ds, g)
        clean = make_firm("empirical_bayes", train).fit(train.X, train.y)
        for n in SIZES:
            altered, members = Collective(Plant(g, target), count=n, seed=seed).apply(train)
            fb = finite_bound_from_sample(
                train.X[members], train.y[members], g, target, n_train=len(train),
                n_test=len(test), delta=DELTA, n_signal_points=n_points, n_classes=3)
            firm = make_firm("empirical_bayes", train).fit(altered.X, altered.y)
            m = evaluate(firm, clean, test.X, test.y, g, {target})
            rows.append({"seed": seed, "n": n, "alpha": n / len(train), "finite": fb.bound,
                         "infinite": float(planting_bound(n / len(train), gap, xi)),
                         "success_all": m["success_all"], "success_all_hi": m["success_all_hi"]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sim():
    return _simulate()


def test_finite_sample_bound_holds_in_1_minus_delta_of_runs(sim):
    held = (sim["success_all"] >= sim["finite"]).mean()
    assert len(sim) >= 80
    assert held >= 1 - DELTA
    # not vacuous: the bound certifies high success for the larger collectives
    big = sim[sim["n"] >= 4500]
    assert (big["finite"] > 0.8).mean() > 0.5
    assert (sim[sim["n"] == 500]["finite"] < 0).all()  # and is honest for a tiny one


def test_infinite_data_bound_holds_within_the_binomial_ci(sim):
    assert (sim["success_all_hi"] >= sim["infinite"]).all()
    assert (sim["infinite"] > 0.5).any()  # not vacuous either


def test_finite_bound_intermediate_quantities():
    b = finite_sample_bound([0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.0, 0.001, 0.5], n=3000,
                            n_train=10000, n_test=5000, delta=0.1, n_signal_points=3, n_classes=2)
    assert b.n_events == n_events("plant", 3, 2) == 2 + 6 + 12
    assert b.delta_tilde == pytest.approx(0.1 / 20)
    r = np.sqrt(np.log(1 / b.delta_tilde) / (2 * np.array([3000, 7000, 5000])))
    assert (b.radius_n, b.radius_rest, b.radius_test) == pytest.approx(tuple(r))
    expect = 0.3 * (np.array([0.5, 0.3, 0.2]) - 2 * r[0]) - 0.7 * (
        np.array([0.0, 0.001, 0.5]) + 2 * r[0] + 2 * r[1])
    assert b.points["slack"].to_numpy() == pytest.approx(expect)
    assert b.points["planted"].tolist() == [True, True, False]
    assert b.bound == pytest.approx(0.8 - r[0] - r[2])
    assert json.dumps(b.to_dict())
    with pytest.raises(ValueError, match="n_signal_points"):
        finite_sample_bound([0.5, 0.5], [0.5, 0.5], [0, 0], n=10, n_train=100, n_signal_points=1)
    with pytest.raises(ValueError, match="collective size"):
        finite_sample_bound([1.0], [1.0], [0.0], n=100, n_train=100)


def test_collective_statistics_counts_exactly():
    X = pd.DataFrame({"a": [0, 0, 1, 1, 0], "b": [0, 1, 0, 1, 0]})
    y = np.array([1, 0, 0, 1, 0])
    s = collective_statistics(X, y, SetColumns({"a": 0}), target=1).set_index("key")
    # g(x) = (0, b): points (0,0) x3 and (0,1) x2; original rows at (0,0): labels 1, 0 -> gap 0
    # (tie); at (0,1): label 0 once -> gap 1/5
    by_mass = s.sort_values("mass")
    assert by_mass["mass"].tolist() == [0.4, 0.6]
    assert by_mass["gap"].tolist() == pytest.approx([0.2, 0.0])
    fo = collective_statistics(X, y, SetColumns({"a": 0}), target=1, strategy="plant_feature_only")
    fo = fo.sort_values("mass")
    # feature-only: planted y*=1 members at (0,1): row 3 -> 1/5, minus other-class originals 1/5
    assert fo["margin"].tolist() == pytest.approx([0.0, 0.2 - 0.2])


def test_estimate_signal_matches_ground_truth():
    ds = make_product_ratings(n_samples=60000, n_features=4, n_values=3, n_classes=3, seed=3)
    table = ds.meta["posterior_table"]
    target = (int(table[0, 0].argmax()) + 1) % 3
    est = estimate_signal(ds, SetColumns(SIGNAL), target, n_boot=100)
    assert est.signal_mass_ci[0] <= 1 / 27 <= est.signal_mass_ci[1]
    true_gap_mass = (table[0, 0].max() - table[0, 0, target]) / 27
    assert est.gap_mass_ci[0] <= true_gap_mass <= est.gap_mass_ci[1]
    assert est.gap >= 0.6  # max of noisy per-cell gaps around the true 0.7


def test_model_estimator_on_vectors():
    from acakit.data import make_gaussian_mixture
    from acakit.strategies import AddShift

    ds = make_gaussian_mixture(n_samples=600, n_features=3, seed=0)
    est = estimate_signal(ds, AddShift([0.0, 4.0, 0.0]), 1, n_boot=50, seed=0)
    assert est.method == "model"
    assert est.signal_mass == 0.0  # a continuous shift never leaves a point where it was
    assert 0.0 <= est.gap_ci[0] <= est.gap <= 1.0


def test_plan_from_data_and_from_numbers_agree():
    ds = make_product_ratings(n_samples=20000, n_features=4, n_values=3, n_classes=3, seed=0)
    table = ds.meta["posterior_table"]
    target = (int(table[0, 0].argmax()) + 1) % 3
    p = plan(0.9, dataset=ds, feature_map=SetColumns(SIGNAL), target_class=target, n_boot=50)
    q = plan(0.9, gap=p.gap, signal_mass=p.signal_mass, n_train=len(ds))
    assert p.critical_mass == pytest.approx(q.critical_mass)
    assert p.critical_count == q.critical_count
    with pytest.raises(ValueError, match="gap"):
        plan(0.9, signal_mass=0.1)


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli():
    import acakit.cli as c

    if not any(cmd.name == "plan" or (cmd.callback and cmd.callback.__name__ == "plan")
               for cmd in c.app.registered_commands):
        c._register_plugins()
    return c.app


def test_cli_acceptance_command(cli):
    res = CliRunner().invoke(cli, ["plan", "--gap", "0.3", "--signal-mass", "0.001", "--epsilon", "0",
                                   "--target", "0.9", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["critical_mass"] == pytest.approx(0.0003 / 0.1003)
    assert "critical_count" not in out
    res = CliRunner().invoke(cli, ["plan", "--gap", "0.3", "--signal-mass", "0.001", "--target", "0.9",
                                   "--n-train", "100000", "--confidence", "0.05", "--json"])
    out = json.loads(res.stdout)
    assert out["critical_count"] == 300
    assert out["finite_critical_count"] > out["critical_count"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--gap", "-0.1", "--signal-mass", "0.01"], "gap"),
        (["--gap", "0.3", "--signal-mass", "1.5"], "signal_mass"),
        (["--gap", "0.3", "--signal-mass", "0.1", "--epsilon", "0.1", "--target", "1"], "target"),
        (["--gap", "0.3", "--signal-mass", "0.1", "--epsilon", "1.2"], "epsilon"),
        (["--gap", "0.3", "--signal-mass", "0.1", "--confidence", "0.95"], "confidence"),
        (["--gap", "0.3"], "signal-mass"),
        (["--gap", "0.3", "--signal-mass", "0.1", "--strategy", "nope"], "strategy"),
    ],
)
def test_cli_impossible_inputs(cli, args, match):
    res = CliRunner().invoke(cli, ["plan", *args])
    assert res.exit_code == 2
    assert match in res.output and "error:" in res.output
    assert "Traceback" not in res.output


def test_cli_plan_from_config(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "name: t\n"
        "dataset: {name: product_ratings, params: {n_samples: 6000, n_features: 4, n_values: 3,"
        " n_classes: 3}}\n"
        "firm: {name: empirical_bayes}\n"
        "collective: {strategy: plant, signal: {type: set_columns, values: {f0: 0, f1: 0}}, target: 1}\n"
        "sweep: {alpha: [0.0, 0.1, 0.3], seed: [0]}\n")
    res = CliRunner().invoke(cli, ["plan", str(cfg), "--target", "0.8", "--simulate", "--json",
                                   "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["source"] == str(cfg) and 0 < out["critical_mass"] <= 1
    assert {"measured_success_all", "bound"} <= set(out["curve"][0])
    assert (tmp_path / "p.png").exists()
    bad = CliRunner().invoke(cli, ["plan", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_cli_bound(cli):
    res = CliRunner().invoke(cli, ["bound", "-a", "0", "-a", "0.01", "--gap", "0.3", "--signal-mass",
                                   "0.001", "--json"])
    assert res.exit_code == 0, res.output
    vals = [r["bound"] for r in json.loads(res.stdout)["bounds"]]
    assert vals[0] is None and vals[1] == pytest.approx(1 - 99 * 0.0003)
