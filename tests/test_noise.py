"""Collectives that do not act as one (issue #18): coordination noise, mixed strategies, noise
bounds as extra mixture components, and signals that collide in the firm's featurizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from acakit.collective import OUTCOMES, Collective, Noise, act, outcome_counts
from acakit.data import make_product_ratings, train_test_split
from acakit.engine.config import CollectiveSpec, ConfigError
from acakit.firms import EmpiricalBayesClassifier
from acakit.multi.analyses import efficacy_loss
from acakit.multi.estimate import noise_components, simulation_bounds
from acakit.multi.simulate import MemberCollective, simulate
from acakit.strategies import InsertTrigger, Plant, SetColumns, SetRandomSubset, perturb_signal

G = SetColumns({"f0": 0, "f1": 0})
LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8)


@pytest.fixture(scope="module")
def split():
    return train_test_split(make_product_ratings(n_samples=20000, n_features=4, seed=0), 0.3, seed=0)


def _noise(kind: str, p: float) -> Noise:
    return {
        "drop": Noise(p_drop=p),
        "label": Noise(p_label=p),
        "subset": Noise(p_signal=p, perturbed=perturb_signal(G, "subset", keep=1)),
        "value": Noise(p_signal=p, perturbed=perturb_signal(G, "value", values={"f1": 2})),
        "feature_only": Noise(p_feature_only=p),
    }[kind]


def _run(split, noise, alpha=0.1, seed=0, g=G, target=1):
    train, test = split
    cs = [MemberCollective(Collective(Plant(g, target), alpha=alpha, noise=noise), "c")]
    return simulate(train, test, cs, EmpiricalBayesClassifier(), seed=seed), cs


# --------------------------------------------------------------------------- the noise model


def test_no_noise_and_zero_noise_are_the_noiseless_collective(split):
    plain, _ = _run(split, None)
    zero, _ = _run(split, Noise())
    assert plain.altered.X.equals(zero.altered.X)
    assert np.array_equal(plain.altered.y, zero.altered.y)
    assert plain.per_collective["success_all"].iloc[0] == zero.per_collective["success_all"].iloc[0]
    assert "n_acted" not in plain.per_collective
    assert zero.per_collective["n_acted"].iloc[0] == zero.per_collective["n_members"].iloc[0]


def test_realised_counts_are_seeded_and_add_up(split):
    n = Noise(p_drop=0.2, p_label=0.2, p_signal=0.1, p_feature_only=0.1,
              perturbed=perturb_signal(G, "subset", keep=1))
    a, _ = _run(split, n, seed=3)
    b, _ = _run(split, n, seed=3)
    c, _ = _run(split, n, seed=4)
    cols = [f"n_{k}" for k in OUTCOMES]
    ra, rc = a.per_collective.iloc[0], c.per_collective.iloc[0]
    assert sum(int(ra[k]) for k in cols) == int(ra["n_members"])
    assert np.array_equal(a.outcome, b.outcome) and not np.array_equal(a.outcome, c.outcome)
    assert [int(ra[k]) for k in cols] != [int(rc[k]) for k in cols]
    assert ra["n_dropped"] > 0 and ra["n_mislabelled"] > 0 and ra["n_perturbed"] > 0


def test_what_each_noisy_member_reports():
    X = pd.DataFrame({"f0": [1] * 400, "f1": [1] * 400})
    y = np.array([0, 1] * 200)
    Xp, yp, what = act(Plant(G, 1), X, y, Noise(p_drop=0.25, p_label=0.25, p_feature_only=0.25),
                       n_classes=3, seed=0)
    signed = (Xp["f0"] == 0).to_numpy() & (Xp["f1"] == 0).to_numpy()
    assert not signed[what == 1].any() and np.array_equal(yp[what == 1], y[what == 1])
    assert signed[what == 3].all() and (yp[what == 3] != 1).all()
    assert signed[what == 0].all() and (yp[what == 0] == 1).all()
    only = what == 4  # feature-only: signal on target-class rows, labels kept
    assert np.array_equal(signed[only], y[only] == 1) and np.array_equal(yp[only], y[only])
    assert outcome_counts(what)["n_acted"] == int((what == 0).sum())


def test_perturbed_signal_kinds():
    g = InsertTrigger(token="zz", every=2)
    assert perturb_signal(g, "character", token="yy")(["a b c d"])[0] == "a b yy c d yy"
    assert perturb_signal(g, "rate", every=4)(["a b c d"])[0] == "a b c d zz"
    assert perturb_signal(g, "position", position="start", count=1)(["a b"])[0] == "zz a b"
    sub = perturb_signal(SetColumns({"a": 9, "b": 9, "c": 9}), "subset", keep=2)
    assert isinstance(sub, SetRandomSubset)
    out = sub(pd.DataFrame({"a": [0] * 50, "b": [0] * 50, "c": [0] * 50}))
    assert ((out == 9).sum(axis=1) == 2).all()
    with pytest.raises(ValueError, match="perturbs a text trigger"):
        perturb_signal(G, "character", token="x")
    with pytest.raises(ValueError, match="not a parameter"):
        perturb_signal(g, "rate", token="x")
    with pytest.raises(ValueError, match="sum to"):
        Noise(p_drop=0.6, p_label=0.6)
    with pytest.raises(ValueError, match="perturb"):
        Noise(p_signal=0.1)


@pytest.mark.parametrize("kind", ["drop", "label", "subset", "value", "feature_only"])
def test_success_decreases_with_each_kind_of_noise(split, kind):
    s = [float(_run(split, _noise(kind, p))[0].per_collective["success_all"].iloc[0])
         for p in LEVELS]
    assert all(b <= a + 1e-12 for a, b in zip(s, s[1:], strict=False)), s
    assert s[0] == 1.0 and s[-1] <= 0.5, s


def test_twice_as_big_with_four_times_the_noise_loses(split):
    small = _run(split, Noise(p_drop=0.15), alpha=0.1)[0].per_collective["success_all"].iloc[0]
    big = _run(split, Noise(p_drop=0.6), alpha=0.2)[0].per_collective["success_all"].iloc[0]
    assert big < small


# --------------------------------------------------------------------------- config


def test_noise_spec_is_left_out_of_the_dump_when_absent():
    sig = {"type": "set_columns", "values": {"f0": 0}}
    plain = CollectiveSpec(signal=sig, target=1, alpha=0.1)
    assert "noise" not in plain.model_dump(mode="json")
    noisy = CollectiveSpec(signal=sig, target=1, alpha=0.1,
                           noise={"p_signal": 0.1, "perturb": {"kind": "value", "values": {"f0": 1}}})
    assert noisy.model_dump(mode="json")["noise"]["p_signal"] == 0.1
    with pytest.raises(ValueError, match="perturbs a trigger"):
        CollectiveSpec(signal=sig, target=1, alpha=0.1,
                       noise={"p_signal": 0.1, "perturb": {"kind": "character", "token": "x"}})
    with pytest.raises(ValueError, match="sum to"):
        CollectiveSpec(signal=sig, target=1, alpha=0.1, noise={"p_drop": 0.7, "p_label": 0.7})
    with pytest.raises(ValueError, match="mixed strategy needs strategy 'plant'"):
        CollectiveSpec(signal=sig, strategy="plant_feature_only", target=1, alpha=0.1,
                       noise={"p_feature_only": 0.5})
    with pytest.raises(ValueError, match="perturb: required"):
        CollectiveSpec(signal=sig, target=1, alpha=0.1, noise={"p_signal": 0.5})


def _multi_cfg(**sweep):
    return {"experiment": "multi", "name": "noise",
            "dataset": {"name": "product_ratings", "params": {"n_samples": 4000, "n_features": 3}},
            "firm": {"name": "empirical_bayes"},
            "collectives": [{"name": "c", "signal": {"type": "set_columns",
                                                     "values": {"f0": 0, "f1": 0}},
                             "target": "rating_1", "alpha": 0.1}],
            "bounds": {"finite": False},
            "sweep": {"seed": [0]} | sweep,
            "output": {"plot": False}}


def test_grid_over_noise_expands_and_runs():
    from acakit.engine import prepare
    from acakit.engine.multi import run_cell

    cfg = _multi_cfg(grid={"c.alpha": [0.1, 0.2], "c.noise.p_drop": [0.0, 0.5]})
    _, _, cells = prepare(cfg)
    assert len(cells) == 4 and len({c.cell_id for c in cells}) == 4
    assert cells[-1].variant == "c.alpha=0.2, c.noise.p_drop=0.5"
    row = run_cell(cells[-1])["rows"][0]
    assert row["n_dropped"] > 0 and row["n_acted"] + row["n_dropped"] == row["n_members"]
    with pytest.raises(ConfigError, match="not firm or one of"):
        prepare(_multi_cfg(grid={"nobody.alpha": [0.1]}))


# --------------------------------------------------------------------------- noise bounds


def test_noise_bounds_are_exactly_the_noiseless_ones_at_zero_noise(split):
    train, test = split
    outs = []
    for noise in (None, Noise()):
        r, cs = _run(split, noise, alpha=0.08)
        outs.append(simulation_bounds(r, train, test, cs))
    cols = [c for c in outs[0] if c != "name"]
    assert cols and all(outs[0][c].iloc[0] == outs[1][c].iloc[0] for c in cols)
    comps, sizes, acting = noise_components(cs, [0.08], 3)
    assert comps == list(cs) and sizes == [0.08] and acting == [0]


@pytest.mark.parametrize("eps", [0.0, 0.01])
def test_noise_bounds_from_numbers_are_exact_at_zero_noise_and_fall_with_noise(eps):
    from acakit.multi.bounds import (
        aggregate_bound,
        full_knowledge_bound,
        noisy_tier_bounds,
        worst_case_bound,
    )
    from acakit.theory import planting_bound

    a = np.linspace(0.01, 0.5, 50)
    b = noisy_tier_bounds(a, 0.3, 0.02, n_classes=3, epsilon=eps)
    single = planting_bound(a, 0.3, 0.02, eps)
    assert all(np.array_equal(b[t], single) for t in ("full", "aggregate", "worst"))
    b = noisy_tier_bounds(a, 0.3, 0.02, n_classes=3, others_alpha=0.1, others_range=(0.05, 0.2),
                          net_conflict=0.01, conflict_mass=0.03, epsilon=eps)
    assert np.array_equal(b["full"], full_knowledge_bound(a, 0.1, 0.3, 0.02, 0.01, eps))
    assert np.array_equal(b["aggregate"], aggregate_bound(a, 0.03, 0.3, 0.02, eps, 0.05))
    assert np.array_equal(b["worst"], worst_case_bound(a, (0.05, 0.2), 0.3, 0.02, eps))
    for kind in ("p_drop", "p_signal", "p_label"):
        prev = single
        for p in (0.1, 0.3, 0.5):
            cur = noisy_tier_bounds(a, 0.3, 0.02, n_classes=3, epsilon=eps, **{kind: p})["full"]
            assert (cur <= prev + 1e-12).all() and (cur < single).any()
            prev = cur


def test_noise_bounds_are_valid_over_20_seeds():
    delta = 0.05
    ds = make_product_ratings(n_samples=20000, n_features=4, seed=1)
    g = SetColumns({"f0": 0, "f1": 0})
    noise = Noise(p_drop=0.2, p_label=0.1, p_signal=0.1, perturbed=perturb_signal(g, "subset", keep=1))
    ok_inf, ok_fin, bounds = [], [], []
    for seed in range(20):
        train, test = train_test_split(ds, 0.3, seed=seed)
        cs = [MemberCollective(Collective(Plant(g, 0), alpha=0.1, noise=noise), "c")]
        r = simulate(train, test, cs, EmpiricalBayesClassifier(), seed=seed)
        b = simulation_bounds(r, train, test, cs, delta=delta).iloc[0]
        s = float(r.per_collective["success_all"].iloc[0])
        hi = float(r.per_collective["success_all_hi"].iloc[0])
        ok_inf.append(all(b[f"bound_{t}"] <= hi + 1e-12 for t in ("full", "aggregate", "worst")))
        ok_fin.append(all(b[f"finite_{t}"] <= s + 1e-12 for t in ("full", "aggregate", "worst")))
        bounds.append(b["bound_full"])
    assert np.mean(ok_inf) >= 1 - delta and np.mean(ok_fin) >= 1 - delta
    assert 0 < np.mean(bounds) < 0.5  # the noiseless bound is 1 here: the noise bites


# --------------------------------------------------------------------------- collisions


def _merge_f2(X):
    """A firm's value binning that merges the set values 1 and 2 of f2."""
    X = X.copy()
    X["f2"] = X["f2"].replace({2: 1})
    return X


@pytest.mark.parametrize("binning", [True, False])
def test_colliding_signals_lose_together_distinct_ones_do_not(split, binning):
    train, test = split
    cs = [MemberCollective(Collective(Plant(SetColumns({"f0": 0, "f1": 0, "f2": 1}), 1),
                                      alpha=0.1), "one"),
          MemberCollective(Collective(Plant(SetColumns({"f0": 0, "f1": 0, "f2": 2}), 2),
                                      alpha=0.1), "two")]
    firm = EmpiricalBayesClassifier()
    if binning:
        firm = Pipeline([("bins", FunctionTransformer(_merge_f2)), ("model", firm)])
    eff = efficacy_loss(train, test, cs, firm, "disallow", 0)
    assert (eff["success_alone"] >= 0.9).all(), eff
    if binning:  # the firm sees one signal with two labels: each point goes to one of them,
        # so together they keep at most half of what they had alone
        assert eff["constructiveness"].iloc[0] <= -0.4 and eff["efficacy_loss"].max() >= 0.3
    else:
        assert (eff["success_together"] >= 0.9).all() and eff["constructiveness"].iloc[0] >= -0.05


# --------------------------------------------------------------------------- the two examples


def _run_example(name, tmp_path):
    from typer.testing import CliRunner

    from acakit.cli import _register_plugins, app

    _register_plugins()
    r = CliRunner().invoke(app, ["run", f"examples/{name}.yaml", "-o", str(tmp_path), "-j", "1",
                                 "-q"])
    assert r.exit_code == 0, r.output
    return pd.read_csv(tmp_path / "results.csv")


@pytest.mark.slow
def test_noise_bbc_bigger_noisier_collective_loses(tmp_path):
    df = _run_example("noise_bbc", tmp_path)
    assert (tmp_path / "success.png").stat().st_size > 10_000  # success vs noise level q
    df["q"] = (df["n_members"] - df["n_acted"]) / df["n_members"]  # realised noise
    level = df["variant"].str.extract(r"p_drop\":([0-9.]+)")[0].astype(float) * 3
    df["level"] = level.round(1)
    s = df.groupby(["n_members", "level"])["success"].mean()
    small, big = sorted(df["n_members"].unique())
    assert big == 2 * small
    for n in (small, big):  # noise costs success: from 0 to the highest level, and overall
        assert s[n].iloc[0] > s[n].iloc[-1] + 0.5 and s[n].iloc[0] == s[n].max()
    assert s[big, 0.0] > s[small, 0.0]  # coordinated, bigger is better
    assert s[big, 0.8] < s[small, 0.2] and s[big, 0.4] < s[small, 0.1]  # 2x the size, 4x the noise


@pytest.mark.slow
def test_collision_bbc_colliding_triggers_lose_distinct_ones_do_not(tmp_path):
    df = _run_example("collision_bbc", tmp_path)
    collide = df[df["variant"].str.contains("zqxé")]
    apart = df[~df["variant"].str.contains("zqxé")]
    assert (collide["success_alone"] > 0.8).all() and (apart["success_alone"] > 0.8).all()
    assert collide["success_all"].mean() < 0.5 * collide["success_alone"].mean()
    assert collide["constructiveness"].iloc[0] < -0.4
    assert (apart["success_all"] > 0.8).all() and apart["constructiveness"].iloc[0] > -0.1


def test_noise_in_a_single_collective_config_is_applied():
    """A single-collective config's noise acts (it was once silently ignored): members who all
    drop out plant nothing, and the row says what they did."""
    from acakit.engine.single import run_cell

    def cfg(noise):
        c = {"strategy": "plant", "target": "rating_1",
             "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}}
        return {"dataset": {"name": "product_ratings", "params": {"n_samples": 1500}},
                "firm": {"name": "logistic_regression"},
                "collective": c | ({"noise": noise} if noise else {}),
                "sweep": {"alpha": [0.0, 0.1]}}

    plain = [run_cell(c) for c in expand_single(cfg(None))]
    gone = [run_cell(c) for c in expand_single(cfg({"p_drop": 1.0}))]
    assert "n_dropped" not in plain[1] and plain[1]["success"] > plain[0]["success"] + 0.3
    assert gone[1]["n_dropped"] == gone[1]["n_members"] > 0 and gone[1]["n_acted"] == 0
    assert gone[1]["success"] == pytest.approx(plain[0]["success"])


def expand_single(raw):
    from acakit.engine.config import expand, parse_config

    return expand(parse_config(raw))
