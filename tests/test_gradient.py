"""Hardt et al.'s settings 2 and 3: gradient firms, steering collectives, the gradient kind.

The least-squares tests take their thresholds from the closed form (whitened features, θ* = 0,
reports in the unit ball with labels in [-Y, Y]), computed here with numpy, not from a run.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from acakit.data import load
from acakit.data.synthetic import make_linear_regression
from acakit.engine import execute, load_run
from acakit.engine.config import ConfigError
from acakit.firms.gradient import GradientDescentFirm
from acakit.steering import (
    FeasibleSet,
    GradientControl,
    GradientNeutralize,
    SteerMinimizer,
    critical_masses,
    steer_critical_mass,
)

Y = 4.0  # label range [-Y, Y]; reports in the unit ball: C = 1 * Y at θ* = 0
BALL = FeasibleSet(features="ball", radius=1.0, labels=(-Y, Y))


def _split(seed: int, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = make_linear_regression(n, 2, noise=0.5, seed=seed)
    return X, y


def _controlled(X: np.ndarray, y: np.ndarray, alpha: float, theta_start: np.ndarray,
                steps: int = 300) -> tuple[GradientDescentFirm, np.ndarray, np.ndarray]:
    m = int(round(alpha * len(y)))
    Xb, yb = X[m:], y[m:]
    firm = GradientDescentFirm(loss="squared", fit_intercept=False, lr=0.2, steps=steps,
                               init=theta_start.ravel())
    model = firm.model(2, 1)
    ctrl = GradientControl(feasible=BALL, theta_star=np.zeros(2))
    ctrl.bind(model, X[:m], y[:m], Xb, yb, m / len(y))
    return firm.fit_steered(Xb, yb, ctrl, m / len(y)), Xb, yb


def _closed_form(Xb: np.ndarray, yb: np.ndarray) -> tuple[float, float]:
    """B* = ||∇L0(0)|| = ||Xbᵀ yb / n|| and λmax of Xbᵀ Xb / n (the base part of the data)."""
    b_star = float(np.linalg.norm(Xb.T @ yb / len(yb)))
    lam = float(np.linalg.eigvalsh(Xb.T @ Xb / len(yb)).max())
    return b_star, lam


@pytest.mark.parametrize("seed", range(10))
def test_gradient_control_closed_form_threshold(seed: int) -> None:
    X, y = _split(seed)
    theta_clean = np.linalg.lstsq(X, y, rcond=None)[0]  # the firm's deployed model: θ_0
    d0 = float(np.linalg.norm(theta_clean))
    # α* = B*/(B* + C) with C = 1 · Y; B* of the base rows at α* (they change little with α)
    b_star, _ = _closed_form(X[200:], y[200:])
    a_star = b_star / (b_star + Y)
    # above α*: θ* = 0 is reached (normalised distance below 0.01)
    firm, _, _ = _controlled(X, y, 1.1 * a_star, theta_clean)
    assert np.linalg.norm(firm.theta_) / d0 < 0.01
    # below α*: any θ the collective can hold satisfies (1-α)||Σ(θ − θ̂0)|| <= α (||θ|| + Y),
    # so ||θ|| >= ((1-α) B* − α Y) / ((1-α) λmax + α): a closed-form floor on the distance
    alpha = 0.9 * a_star
    firm, Xb, yb = _controlled(X, y, alpha, theta_clean, steps=600)
    a = int(round(alpha * len(y))) / len(y)
    b, lam = _closed_form(Xb, yb)
    floor = ((1 - a) * b - a * Y) / ((1 - a) * lam + a)
    assert floor > 0.05  # θ* = 0 is not a fixed point here
    assert np.linalg.norm(firm.theta_) >= floor - 1e-9
    # acakit's critical mass is the same formula
    cm = critical_masses(firm.model_, np.zeros((2, 1)), theta_clean[:, None], Xb, yb, X[:1], BALL)
    assert cm["alpha_star_fixed"] == pytest.approx(b / (b + Y), rel=1e-9)
    assert cm["alpha_star_fixed"] > a


def test_steer_minimizer_lands_sklearn_on_theta_star() -> None:
    ds = load("gaussian_mixture", n_samples=400, n_features=3, overlap=1.5, seed=0)
    X, y, l2 = ds.X, ds.y, 0.01
    clean = GradientDescentFirm(l2=l2, lr=1.0, steps=1500).fit(X, y)
    ts = clean.theta_.copy()
    ts[0, 0] += 0.3  # θ*: the clean model with the first weight moved
    members = np.zeros(len(y), bool)
    members[np.random.RandomState(0).choice(len(y), 160, replace=False)] = True
    a = members.mean()
    fs = FeasibleSet(features="own", edit=0.5)
    s = SteerMinimizer(feasible=fs, theta_star=ts)
    s.bind(clean.model_, X[members], y[members], X[~members], y[~members], a)
    a_star = steer_critical_mass(clean.model_, ts, X[~members], y[~members], X[members], fs)
    assert a_star < a
    Xr, yr = s.solve()
    assert s.residual_ < 1e-10
    assert np.abs(Xr - X[members]).max() <= 0.5 + 1e-12  # edits inside the feasible set
    assert set(np.unique(yr)) <= {0, 1}
    Xa, ya = np.vstack([X[~members], Xr]), np.concatenate([y[~members], yr])
    lr = LogisticRegression(C=1 / (l2 * len(ya)), tol=1e-12, max_iter=100_000).fit(Xa, ya)
    got = np.r_[lr.coef_.ravel(), lr.intercept_]
    assert np.abs(got - ts.ravel()).max() < 1e-3
    # and the honest data lands elsewhere: the assertion above can fail
    lr0 = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=100_000).fit(X, y)
    assert np.abs(np.r_[lr0.coef_.ravel(), lr0.intercept_] - ts.ravel()).max() > 0.2


def test_steer_minimizer_below_its_critical_mass_leaves_a_residual() -> None:
    ds = load("gaussian_mixture", n_samples=400, n_features=3, overlap=1.5, seed=0)
    X, y = ds.X, ds.y
    clean = GradientDescentFirm(l2=0.01, lr=1.0, steps=1500).fit(X, y)
    ts = clean.theta_.copy()
    ts[0, 0] += 0.3
    members = np.zeros(len(y), bool)
    members[:8] = True
    s = SteerMinimizer(feasible=FeasibleSet(), theta_star=ts)
    s.bind(clean.model_, X[members], y[members], X[~members], y[~members], members.mean())
    s.solve()
    assert s.residual_ > 1e-3


def _neutralized_drift(alpha: float) -> float:
    ds = load("gaussian_mixture", n_samples=600, n_features=3, overlap=1.5, seed=1)
    X, y = ds.X, ds.y
    m = int(alpha * len(y))
    firm = GradientDescentFirm(lr=0.5, steps=200)
    model = firm.model(3, 2)
    s = GradientNeutralize(coordinates=[0], seed=0).bind(model, X[:m], y[:m], X[m:], y[m:],
                                                          m / len(y))
    firm.fit_steered(X[m:], y[m:], s, m / len(y))
    return float(np.abs(firm.trajectory_[:, 0]).max())


def test_gradient_neutralization_holds_a_weight_above_its_threshold() -> None:
    assert _neutralized_drift(0.6) < 0.01
    assert _neutralized_drift(0.02) > 0.1  # too small a collective: the weight is learnt


def test_gradient_firm_is_an_ordinary_sklearn_classifier() -> None:
    ds = load("gaussian_mixture", n_samples=300, n_features=3, n_classes=3, seed=0)
    f = GradientDescentFirm(loss="softmax", steps=300).fit(ds.X, ds.y)
    assert f.score(ds.X, ds.y) > 0.8
    assert f.predict_proba(ds.X[:2]).sum(axis=1) == pytest.approx([1, 1])
    assert f.trajectory_.shape == (31, 12) and f.trajectory_steps_[-1] == 300
    sgd = GradientDescentFirm(loss="softmax", steps=50, batch_size=32, seed=1).fit(ds.X, ds.y)
    again = GradientDescentFirm(loss="softmax", steps=50, batch_size=32, seed=1).fit(ds.X, ds.y)
    assert np.array_equal(sgd.theta_, again.theta_)


SYNTH = {
    "name": "t", "experiment": "gradient",
    "dataset": {"name": "linear_regression",
                "params": {"n_samples": 400, "n_features": 2, "noise": 0.5}},
    "firm": {"loss": "squared", "fit_intercept": False, "lr": 0.2, "steps": 100,
             "init": "clean"},
    "collective": {"strategy": "gradient_control", "goal": {"type": "zero"},
                   "feasible": {"features": "ball", "radius": 1.0, "labels": [-4, 4]}},
    "sweep": {"alpha": [0.05, 0.4], "seed": [0, 1]},
}


def test_gradient_sweep_on_the_engine_stores_resumes_and_reports(tmp_path) -> None:
    from acakit.analyses import report

    run = execute(SYNTH, out_dir=tmp_path, store=True, progress=False, cache=False)
    assert run.info.n_run == 4
    r = run.results.set_index(["alpha_requested", "seed"])
    assert (r.loc[0.4, "distance"] < 0.01).all() and (r.loc[0.05, "distance"] > 0.3).all()
    again = execute(SYNTH, out_dir=tmp_path, store=True, progress=False, cache=False)
    assert again.info.n_run == 0 and again.info.n_cached == 4
    res = report(tmp_path / "results.sqlite")
    assert {p.name for p in res.files} >= {"summary.csv", "distance.png", "trajectories.png"}
    assert load_run(tmp_path / "results.sqlite").kind == "gradient"


def test_a_diverging_learning_rate_fails_its_cell_and_the_sweep_goes_on(tmp_path) -> None:
    cfg = SYNTH | {"sweep": {"alpha": [0.4], "seed": [0], "grid": {"firm.lr": [0.2, 50.0]}}}
    run = execute(cfg, out_dir=tmp_path, progress=False, cache=False)
    assert len(run.results) == 1
    assert "diverged" in run.info.failures[0][1] and "firm.params.lr" in run.info.failures[0][1]


@pytest.mark.parametrize(("change", "field"), [
    ({"collective": SYNTH["collective"] | {"goal": None, "theta_star": [0.0, 0.0, 1.0]}},
     "collective.theta_star"),
    ({"collective": SYNTH["collective"] | {"goal": {"type": "flip_sign", "feature": "nope"}}},
     "collective.goal.feature"),
    ({"firm": SYNTH["firm"] | {"loss": "logistic"}}, "firm.loss"),
    ({"collective": SYNTH["collective"] | {"feasible": {"features": "ball"}}},
     "collective.feasible.labels"),
    ({"firm": SYNTH["firm"] | {"init": "zeros"}}, "collective.goal"),
    ({"collective": SYNTH["collective"] | {"feasible": {"features": "cube"}}},
     "collective.feasible.features"),
])
def test_bad_gradient_configs_are_refused_before_work(change, field, tmp_path) -> None:
    cfg = {**SYNTH, **change}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as e:
        execute(cfg, out_dir=tmp_path / "x", progress=False, cache=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()


def test_an_adaptive_strategy_needs_a_gradient_firm(tmp_path) -> None:
    cfg = {"dataset": {"name": "gaussian_mixture"}, "collective": {"strategy": "gradient_control"},
           "sweep": {"alpha": [0.1]}}
    with pytest.raises(ConfigError, match="collective.strategy: .*experiment: gradient"):
        execute(cfg, out_dir=tmp_path, progress=False)


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_synthetic_gradient_example_crosses_at_its_closed_form_alpha_star(tmp_path) -> None:
    from acakit.analyses import run_file

    res = run_file(EXAMPLES / "gradient_control_synthetic.yaml", jobs=2, out_dir=str(tmp_path),
                   progress=False, store=False)
    r = res.results
    star = r["alpha_star_fixed"]
    # B* = ||θ̂0|| ≈ ||θ_true|| = 1 (plus the noise's share), C = 4: α* ≈ 0.2 in every seed
    assert len(r) == 60 and star.between(0.17, 0.23).all()
    above = r[r["alpha"] >= 1.1 * star]  # measured: 25 cells
    below = r[r["alpha"] <= 0.9 * star]  # measured: 24 cells
    assert len(above) >= 20 and (above["distance"] < 0.01).all()
    assert len(below) >= 20 and (below["distance"] > 0.05).all()
    assert {p.name for p in res.files} >= {"distance.png", "trajectories.png"}


@pytest.mark.slow
def test_adult_neutralization_holds_age_above_its_threshold(tmp_path) -> None:
    from acakit.analyses import run_file
    from acakit.engine.config import read_config

    cfg = read_config(EXAMPLES / "gradient_adult.yaml")
    cfg["sweep"] = {"alpha": [0.05, 0.2], "seed": [0]}
    res = run_file(cfg, jobs=2, out_dir=str(tmp_path), progress=False, store=False)
    r = res.results.set_index("alpha_requested")
    assert r.loc[0.2, "max_drift"] < 0.01  # over the whole trajectory
    assert r.loc[0.05, "max_drift"] > 0.05
    assert abs(r.loc[0.2, "accuracy_drop"]) < 0.01 and "accuracy_drop" in res.summary()


def test_signal_to_class_goal_sends_signal_points_to_the_class() -> None:
    from acakit.steering import resolve_goal

    ds = load("gaussian_mixture", n_samples=400, n_features=3, seed=2)
    clean = GradientDescentFirm(steps=300).fit(ds.X, ds.y)
    goal = {"type": "signal_to_class", "feature": "x2", "value": 4.0, "class": 0, "share": 0.95}
    ts = resolve_goal(goal, None, clean.theta_, clean.model_, ["x0", "x1", "x2"], ds.X)
    star = GradientDescentFirm(steps=1, lr=1e-12, init=ts.ravel()).fit(ds.X, ds.y)
    Xs = ds.X.copy()
    Xs[:, 2] = 4.0
    share = float(np.mean(star.predict(Xs) == 0))
    assert 0.95 <= share <= 0.97  # the least weight that reaches the share
    assert np.array_equal(np.delete(ts.ravel(), 2), np.delete(clean.theta_.ravel(), 2))
    assert float(np.mean(clean.predict(Xs) == 0)) < 0.9  # the clean model does not do it


def test_a_collective_that_sees_every_kth_model_is_asked_every_k_steps() -> None:
    X, y = _split(0)
    asked = []

    class Counting(GradientControl):
        def reports(self, view):
            asked.append(view.step)
            return super().reports(view)

    theta0 = np.linalg.lstsq(X, y, rcond=None)[0]
    from acakit.steering import Knowledge

    ctrl = Counting(feasible=BALL, theta_star=np.zeros(2), knowledge=Knowledge(every=5))
    firm = GradientDescentFirm(loss="squared", fit_intercept=False, lr=0.2, steps=400,
                               init=theta0)
    ctrl.bind(firm.model(2, 1), X[:400], y[:400], X[400:], y[400:], 0.4)
    firm.fit_steered(X[400:], y[400:], ctrl, 0.4)
    assert asked == list(range(0, 400, 5))
    assert np.linalg.norm(firm.theta_) / np.linalg.norm(theta0) < 0.05


def test_the_gradient_firm_runs_a_planting_sweep_like_any_firm(tmp_path) -> None:
    cfg = {"dataset": {"name": "gaussian_mixture", "params": {"n_samples": 600}},
           "firm": {"name": "gradient_descent", "params": {"steps": 100}},
           "collective": {"strategy": "plant", "target": "class_1",
                          "signal": {"type": "shift", "shift": [0, 0, 0, 0, 6.0]}},
           "sweep": {"alpha": [0.0, 0.2], "seed": [0]}}
    run = execute(cfg, out_dir=tmp_path, progress=False, cache=False)
    s = run.results.set_index("alpha_requested")["success"]
    assert s[0.2] > s[0.0] + 0.3


def test_softmax_goals_live_where_descent_can_go_and_steering_lands_sklearn_there() -> None:
    from acakit.steering import resolve_goal

    ds = load("gaussian_mixture", n_samples=600, n_features=3, n_classes=3, seed=0)
    X, y, l2 = ds.X, ds.y, 0.01
    clean = GradientDescentFirm(loss="softmax", steps=300, l2=l2).fit(X, y)
    ts = resolve_goal({"type": "set_weight", "feature": 0, "value": 0.0, "class": 0}, None,
                      clean.theta_, clean.model_, ["x0", "x1", "x2"])
    assert ts[0, 0] == 0.0 and ts.sum(axis=1) == pytest.approx(clean.theta_.sum(axis=1))
    m = int(0.8 * len(y))
    fs = FeasibleSet(edit=0.5)
    assert steer_critical_mass(clean.model_, ts, X[m:], y[m:], X[:m], fs) < m / len(y)
    s = SteerMinimizer(theta_star=ts, feasible=fs)
    s.bind(clean.model_, X[:m], y[:m], X[m:], y[m:], m / len(y))
    Xr, yr = s.solve()
    assert s.residual_ < 1e-10
    Xa, ya = np.vstack([X[m:], Xr]), np.concatenate([y[m:], yr])
    lr = LogisticRegression(C=1 / (l2 * len(ya)), tol=1e-12, max_iter=100_000).fit(Xa, ya)
    assert np.abs(np.vstack([lr.coef_.T, lr.intercept_]) - ts).max() < 1e-3
