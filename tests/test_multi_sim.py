"""Multi-collective simulation, overlap policies, measures, errors, config runner and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from acakit.analyses.multi import run_config
from acakit.collective import Collective
from acakit.data import make_product_ratings, train_test_split
from acakit.data.smart_city import make_smart_city
from acakit.engine.config import ConfigError, read_config
from acakit.firms import EmpiricalBayesClassifier
from acakit.multi.measures import alignment_measures, label_entropy, signal_overlap, size_entropy
from acakit.multi.simulate import MemberCollective, assign_members, simulate
from acakit.strategies import Plant, SetColumns

G = SetColumns({"f0": 0, "f1": 0, "f2": 0})


@pytest.fixture(scope="module")
def split():
    return train_test_split(make_product_ratings(n_samples=6000, n_features=4, seed=0), 0.3, seed=0)


def _m(target, alpha, name, g=G):
    return MemberCollective(Collective(Plant(g, target), alpha=alpha), name)


@pytest.mark.parametrize("policy", ["disallow", "first", "random"])
def test_overlap_policies(split, policy):
    train, _ = split
    cs = [_m(1, 0.5, "a"), _m(2, 0.4, "b")]
    owner, counts = assign_members(train, cs, policy, seed=3)
    n = len(train)
    assert counts["n_requested"].tolist() == [round(0.5 * n), round(0.4 * n)]
    assert np.array_equal(np.bincount(owner[owner >= 0], minlength=2), counts["n_members"])
    if policy == "disallow":
        assert counts["n_members"].tolist() == counts["n_requested"].tolist()
        assert counts["n_contested"].sum() == 0
    else:  # independent draws of 50% and 40% overlap on ~20% of the rows
        assert counts["n_contested"].iloc[0] == counts["n_contested"].iloc[1] > 0.15 * n
        lost = counts["n_requested"] - counts["n_members"]
        if policy == "first":
            assert lost.tolist() == [0, counts["n_contested"].iloc[1]]
        else:
            assert (lost > 0.3 * counts["n_contested"]).all()  # both lose some
        assert lost.sum() == counts["n_contested"].iloc[0]


def test_disallow_runs_out_of_rows(split):
    train, _ = split
    with pytest.raises(ValueError, match="left after the earlier collectives"):
        assign_members(train, [MemberCollective(Collective(Plant(G, 1), alpha=0.6), "a"),
                               MemberCollective(Collective(Plant(G, 1), alpha=0.4,
                                                           eligibility={"class": 1}), "b")], "disallow")


@pytest.mark.parametrize("cs, match", [
    ([_m(7, 0.1, "a")], "collectives.a.target: 7 is not a class"),
    ([_m(1, 0.6, "a"), _m(2, 0.5, "b")], r"sizes sum to 1\.1 > 1"),
    ([MemberCollective(Collective(Plant(G, 1), alpha=0.1), "a", targets=set())], "target set is empty"),
    ([_m(1, 0.1, "a"), _m(2, 0.1, "a")], "name 'a' is used twice"),
])
def test_one_line_errors(split, cs, match):
    train, test = split
    with pytest.raises(ValueError, match=match) as e:
        simulate(train, test, cs, EmpiricalBayesClassifier())
    assert "\n" not in str(e.value)


def test_global_success_and_aligned_collectives_help(split):
    train, test = split
    g2 = SetColumns({"f0": 0, "f1": 0, "f3": 0})
    eb = EmpiricalBayesClassifier()
    alone = simulate(train, test, [_m(2, 0.04, "a")], eb, seed=1)
    aligned = simulate(train, test, [_m(2, 0.04, "a"), _m(2, 0.1, "b", g2)], eb, seed=1)
    rival = simulate(train, test, [_m(2, 0.04, "a"), _m(1, 0.1, "b", g2)], eb, seed=1)
    s = [r.per_collective["success_all"].iloc[0] for r in (alone, aligned, rival)]
    assert s[1] >= s[0] > 0.95 and s[2] == pytest.approx(2 / 3, abs=0.05)  # rival takes 1/3
    o = rival.overall
    assert o["global_success"] <= min(rival.per_collective["success_all"]) + 1e-12
    assert o["mean_success"] == pytest.approx(rival.per_collective["success_all"].mean())


def test_measures(split):
    _, test = split
    gs = [G, SetColumns({"f0": 0, "f1": 0, "f3": 0}), SetColumns({"f0": 1})]
    ov = signal_overlap(test.X, gs)
    assert ov[0, 1] == pytest.approx(1 / 3, abs=0.05) and ov[0, 2] == 0 and ov[2, 0] == 0
    per, s = alignment_measures([0.1, 0.2, 0.1], [{1}, {2}, {1}], [1, 2, 1], ov, ["a", "b", "c"])
    assert per["conflict_mass"].iloc[0] == pytest.approx(0.2 * ov[1, 0])
    assert per["aligned_mass"].iloc[0] == pytest.approx(0.1 * ov[2, 0])
    assert s["size_entropy"] == pytest.approx(size_entropy([1, 2, 1])) == 1.5
    assert s["label_entropy"] == pytest.approx(label_entropy([0.1, 0.2, 0.1], [{1}, {2}, {1}])) == 1.0
    assert s["mean_jaccard"] == pytest.approx(1 / 3)


def test_smart_city_generator():
    ds = make_smart_city(n_samples=5000, seed=1)
    assert ds.n_classes == 5 and set(ds.feature_types.values()) == {"categorical"}
    post = ds.meta["posterior"]
    assert np.allclose(post[ds.classes].sum(axis=1), 1.0) and len(post) == 3 * 3 * 2 * 2 * 5 * 3 * 3
    # reports move the allocation: 'flooding' reports get flood protection more often
    y, issue = ds.y, ds.X["reported_issue"].to_numpy()
    assert (y[issue == "flooding"] == 3).mean() > (y[issue == "heat"] == 3).mean()


def _cfg(tmp_path, **over):
    raw = read_config("examples/two_collectives.yaml")
    raw["sweep"] = {"collective": "large", "alpha": [0.0, 0.08], "seed": [0]}
    raw["output"] = {"dir": str(tmp_path)}
    raw.update(over)
    return raw


def test_runner_writes_results_store_and_plot(tmp_path):
    res = run_config(_cfg(tmp_path), progress=False, store=True)
    df = res.results
    assert len(df) == 4 and {"bound_full", "finite_full", "efficacy_loss", "label_entropy",
                             "conflict_mass", "global_success"} <= set(df)
    small = df[df["name"] == "small"].set_index("sweep_alpha")["success_all"]
    assert small[0.0] > 0.95 and small[0.08] < 0.05
    assert (tmp_path / "bounds_vs_measured.png").stat().st_size > 1000
    from acakit.engine.store import load
    stored = load(tmp_path / "results.sqlite")
    assert len(stored) == 4 and set(stored["name"]) == {"small", "large"}


def test_fit_warnings_are_recorded_per_cell_not_printed(tmp_path, recwarn):
    import io

    from rich.console import Console

    # one lbfgs iteration: scikit-learn warns that the solver did not converge, on every fit
    raw = _cfg(tmp_path, firm={"name": "sklearn.linear_model.LogisticRegression",
                               "params": {"max_iter": 1}}, efficacy_loss=False)
    res = run_config(raw, progress=False)
    assert not [w for w in recwarn if "converge" in str(w.message).lower()]
    assert res.results["fit_warnings"].str.contains("ConvergenceWarning").all()
    out = io.StringIO()
    res.show(Console(file=out, width=200))
    # 4 rows (2 collectives x 2 sweep values), 2 cells
    assert "2 of 2 cells warned while fitting (column fit_warnings): ConvergenceWarning" in out.getvalue()
    quiet = run_config(_cfg(tmp_path / "quiet", efficacy_loss=False), progress=False)
    assert (quiet.results["fit_warnings"] == "").all()
    out = io.StringIO()
    quiet.show(Console(file=out, width=200))
    assert "warned while fitting" not in out.getvalue()


@pytest.mark.parametrize("patch, match", [
    ({"collectives": [{"name": "a", "signal": {"type": "set_columns", "values": {"f0": 0}},
                       "target": "rating_9", "alpha": 0.1}], "sweep": {}},
     "collectives.a.target: 'rating_9' is not a class"),
    ({"collectives": [{"name": "a", "signal": {"type": "set_columns", "values": {}},
                       "target": 1, "alpha": 0.1}]}, "collectives.a.signal: the signal set is empty"),
    ({"collectives": [{"name": "a", "signal": {"type": "set_columns", "values": {"f0": 0}},
                       "target": 1, "alpha": 0.7},
                      {"name": "b", "signal": {"type": "set_columns", "values": {"f0": 0}},
                       "target": 2, "alpha": 0.5}], "sweep": {}}, r"sizes sum to 1\.2 > 1"),
    ({"sweep": {"collective": "large", "alpha": [0.99]}}, r"sizes sum to 1\.04 > 1 at sweep alpha 0\.99"),
    ({"sweep": {"collective": "nobody", "alpha": [0.1]}}, "sweep.collective: 'nobody' is not one of"),
    ({"collectives": [{"name": "a", "signal": {"type": "set_columns", "values": {"f0": 0}},
                       "target": 1, "targets": [], "alpha": 0.1}]}, "collectives.a.targets: the target set"),
    ({"collectives": [{"name": "a", "signal": {"type": "set_columns", "values": {"zz": 0}},
                       "target": 1, "alpha": 0.1}], "sweep": {}}, "collectives.a.signal.values: column 'zz'"),
])
def test_config_errors(tmp_path, patch, match):
    raw = _cfg(tmp_path) | patch
    with pytest.raises(ConfigError, match=match) as e:
        run_config(raw, progress=False)
    assert "\n" not in str(e.value)


@pytest.fixture
def cli():
    from acakit.cli import _register_plugins, app

    _register_plugins()
    runner = CliRunner()
    return lambda *a: runner.invoke(app, list(a))


def test_cli(cli, tmp_path):
    r = cli("multi-bound", "--alpha", "0.1", "--gap", "0.3", "--signal-mass", "0.01", "--others",
            "0.05", "--conflict", "0.02", "--net-conflict", "0.01", "--json")
    assert r.exit_code == 0, r.output
    b = json.loads(r.output)
    assert b["worst"] <= b["aggregate"] <= b["full"]
    r = cli("multi-bound", "--alpha", "0.1", "--gap", "0.3", "--signal-mass", "0.01", "--others", "0.95")
    assert r.exit_code == 2 and "sizes sum to more than 1" in r.output
    r = cli("multi-heatmap", "examples/two_collectives.yaml", "--alphas", "0.02,0.08", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "heatmap.png").exists()
    r = cli("run", "examples/two_collectives.yaml", "--help")
    assert r.exit_code == 0


@pytest.mark.parametrize("name", ["acakit.multi.simulate", "acakit.multi.measures", "acakit.multi.bounds",
                                  "acakit.multi.estimate", "acakit.data.smart_city"])
def test_docstring_examples(name):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).failed == 0
