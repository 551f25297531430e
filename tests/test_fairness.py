"""Minority collective action for fairness: scorers, relabeling, metrics, baselines, errors."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from acakit.analyses.fairness import run_config
from acakit.collective import Collective
from acakit.data import load_compas, train_test_split
from acakit.engine.config import ConfigError
from acakit.engine.fairness import parse_fairness_config
from acakit.fairness.baselines import FirmBaseline, massage_labels, reweighing_weights
from acakit.fairness.groups import GroupSpec, check_alpha
from acakit.fairness.metrics import fairness_metrics
from acakit.fairness.relabel import Relabel, plan_relabeling
from acakit.fairness.scorers import DistanceScorer, LabelScorer, ProbabilityScorer
from acakit.fairness.synthetic import (
    counterfactual_proba,
    flip_precision,
    ideal_relabeling,
    make_minority_synthetic,
)

SYN = GroupSpec({"group": "minority"}, favorable="positive")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The machine is shared: one BLAS thread is faster for these small fits."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def synthetic():
    return make_minority_synthetic(n_samples=4000, seed=0)


@pytest.fixture(scope="module")
def compas():
    return load_compas()


# --------------------------------------------------------------------------- synthetic


def test_synthetic_counterfactual_is_the_majority_rule(synthetic):
    ds = synthetic
    p = counterfactual_proba(ds)
    maj = (ds.sensitive["group"] == "majority").to_numpy()
    # the majority's labels follow the counterfactual posterior: calibration in bins
    bins = np.digitize(p[maj], [0.25, 0.5, 0.75])
    for b in range(4):
        sel = bins == b
        assert abs(ds.y[maj][sel].mean() - p[maj][sel].mean()) < 0.06
    # the minority is held to a harsher rule: fewer positives than its counterfactual says
    assert ds.y[~maj].mean() < p[~maj].mean() - 0.1
    flip = ideal_relabeling(ds)
    assert (ds.y[flip] == 0).all() and (p[flip] > 0.5).all()


def _precision(ds, method, m=None, seeds=range(3), budget=0.2):
    out = []
    for s in seeds:
        plan = plan_relabeling(ds, SYN, 0.5, method, majority_sample=m, seed=s)
        out.append(flip_precision(ds, plan.flipped(budget=budget)))
    return float(np.mean(out))


def test_ranked_flips_agree_with_ideal_relabeling_far_better_than_random(synthetic):
    prec = {m: _precision(synthetic, m) for m in ("probability", "label", "distance", "random")}
    print("precision of the flipped set vs the ideal relabeling:", prec)
    assert prec["probability"] >= 2 * prec["random"]
    assert prec["label"] > 1.5 * prec["random"]
    assert prec["distance"] > prec["random"]


def test_majority_sample_of_ten_runs_and_still_beats_random(synthetic):
    plan = plan_relabeling(synthetic, SYN, 0.5, "probability", majority_sample=10, seed=0)
    assert plan.n_majority_known == 10
    p10 = _precision(synthetic, "probability", m=10)
    p_all = _precision(synthetic, "probability")
    p_rand = _precision(synthetic, "random")
    print(f"probability precision m=10: {p10:.3f}, m=all: {p_all:.3f}, random: {p_rand:.3f}")
    assert p_rand < p10 <= p_all + 0.02


def test_plan_changes_only_candidate_labels_to_favourable(synthetic):
    ds = synthetic
    plan = plan_relabeling(ds, SYN, 0.3, "label", seed=1)
    minority = SYN.minority_mask(ds)
    assert minority[plan.members].all()
    assert len(plan.members) == round(0.3 * minority.sum())
    assert (ds.y[plan.candidates] == 0).all()
    y = plan.labels(budget=0.5)
    changed = np.flatnonzero(y != ds.y)
    assert set(changed) <= set(plan.candidates)
    assert len(changed) == round(0.5 * plan.n_candidates)
    assert (y[changed] == 1).all()
    # budgets are nested: more budget flips a superset
    assert set(plan.flipped(budget=10)) <= set(plan.flipped(budget=20))
    assert plan.n_flips(budget=10_000) == plan.n_candidates


def test_threshold_mode_flips_scores_above_threshold(synthetic):
    plan = plan_relabeling(synthetic, SYN, 0.5, "probability", seed=0)
    flipped = plan.flipped(threshold=0.5)
    scores = dict(zip(plan.candidates, plan.scores, strict=True))
    assert all(scores[i] > 0.5 for i in flipped)
    assert len(flipped) == int((plan.scores > 0.5).sum())
    with pytest.raises(ValueError, match="exactly one"):
        plan.flipped(budget=3, threshold=0.5)


def test_scorers_rank_by_their_rule():
    Xm = np.array([[0.0], [0.2], [0.4], [3.0], [3.2], [3.4]])
    ym = np.array([0, 0, 0, 1, 1, 1])
    cand = np.array([[0.1], [3.1], [1.5]])
    for scorer in (ProbabilityScorer(), LabelScorer(k=3), DistanceScorer(k=3)):
        s = scorer.score(cand, Xm, ym)
        assert s[1] > s[2] > s[0] or (isinstance(scorer, LabelScorer) and s[1] > s[0]), scorer
    # distance: minus the mean distance to the k nearest positives, in standardised units
    scale = np.concatenate([Xm[:, 0], [2.0]]).std()
    assert DistanceScorer(k=1).score(np.array([[2.0]]), Xm, ym)[0] == pytest.approx(-1.0 / scale)
    assert DistanceScorer(k=2).score(np.array([[2.0]]), Xm, ym)[0] == pytest.approx(-1.1 / scale)


def test_relabel_strategy_in_a_collective(synthetic):
    c = Collective(Relabel(SYN, method="probability", budget=7), count=200,
                   eligibility={"group": {"group": "minority"}}, seed=0)
    altered, members = c.apply(synthetic)
    changed = altered.y != synthetic.y
    assert changed.sum() == 7 and members[changed].all()
    pd.testing.assert_frame_equal(altered.X, synthetic.X)


# --------------------------------------------------------------------------- metrics


def test_eo_gap_is_mean_of_tpr_and_fpr_gaps():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 400)
    p = rng.randint(0, 2, 400)
    g = np.where(rng.rand(400) < 0.4, "minority", "majority")
    m = fairness_metrics(y, p, g)

    def rates(mask):
        return p[mask & (y == 1)].mean(), p[mask & (y == 0)].mean()

    (t1, f1), (t0, f0) = rates(g == "minority"), rates(g == "majority")
    assert m["eo_gap"] == pytest.approx((abs(t1 - t0) + abs(f1 - f0)) / 2)
    assert m["eo_gap_max"] == pytest.approx(max(abs(t1 - t0), abs(f1 - f0)))
    assert m["dp_gap"] == pytest.approx(abs(p[g == "minority"].mean() - p[g == "majority"].mean()))
    assert m["error"] == pytest.approx(np.mean(p != y))


def test_intersectional_groups_report_worst_group(compas):
    spec = GroupSpec({"race": "African-American", "sex": "Female"},
                     {"race": "Caucasian"}, favorable="no_recid")
    ds = spec.prepare(compas)
    assert set(ds.sensitive["race"]) == {"African-American", "Caucasian"}
    train, test = train_test_split(ds, 0.3, seed=0)
    plan = plan_relabeling(train, spec, 0.5, "label", seed=0)
    assert (train.sensitive.loc[plan.members, "sex"] == "Female").all()
    yt = (test.y == spec.favorable_code(test)).astype(int)
    pred = np.ones(len(yt), dtype=int)
    pred[: len(yt) // 3] = 0
    m = fairness_metrics(yt, pred, spec.indicator(test), spec.attributes(test))
    assert {"eo_gap_intersectional", "dp_gap_intersectional", "worst_group_error"} <= set(m)
    assert m["worst_group_error"] >= m["error_minority"] - 1e-12


# --------------------------------------------------------------------------- baselines


def test_massaging_equalises_favourable_rates():
    rng = np.random.RandomState(0)
    a = rng.rand(1000) < 0.3
    y = (rng.rand(1000) < np.where(a, 0.3, 0.6)).astype(int)
    y2, m = massage_labels(y, a, rng.rand(1000))
    assert m > 0 and (y2 != y).sum() == 2 * m
    assert abs(y2[a].mean() - y2[~a].mean()) < 0.01


def test_reweighing_weights_make_label_independent_of_group():
    rng = np.random.RandomState(1)
    a = rng.rand(500) < 0.3
    y = (rng.rand(500) < np.where(a, 0.2, 0.6)).astype(int)
    w = reweighing_weights(y, a)
    rate = [np.average(y[g], weights=w[g]) for g in (a, ~a)]
    assert rate[0] == pytest.approx(rate[1], abs=1e-9)


@pytest.mark.parametrize("method", ["exp_grad_eo", "exp_grad_dp", "threshold_eo", "reweighing",
                                    "massaging"])
def test_firm_baselines_reduce_unfairness_on_synthetic(method):
    ds = make_minority_synthetic(n_samples=2000, seed=3)
    train, test = train_test_split(ds, 0.3, seed=0)
    y = (test.y == 1).astype(int)
    g = SYN.indicator(test)
    plain = fairness_metrics(y, FirmBaseline("none", SYN).fit(train).predict(test), g)
    fair = fairness_metrics(y, FirmBaseline(method, SYN).fit(train).predict(test), g)
    metric = "dp_gap" if method == "exp_grad_dp" else "eo_gap"
    assert fair[metric] < plain[metric]


# --------------------------------------------------------------------------- errors


def test_bad_sensitive_attribute_value_and_alpha_are_one_line_errors(compas):
    with pytest.raises(ValueError, match="'religion' is not in compas") as e:
        GroupSpec({"religion": "x"}).validate(compas)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="value 'Martian' of 'race' does not occur") as e:
        GroupSpec({"race": "Martian"}).validate(compas)
    assert "\n" not in str(e.value) and "African-American" in str(e.value)
    with pytest.raises(ValueError, match="favorable"):
        GroupSpec({"race": "Caucasian"}, favorable="maybe").validate(compas)
    for bad in (0, 0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            check_alpha(bad)
    assert check_alpha(1) == 1.0


def _cfg(**over):
    raw = {"experiment": "fairness", "dataset": {"name": "minority_synthetic",
                                                 "params": {"n_samples": 1500}},
           "groups": {"minority": {"group": "minority"}, "favorable": "positive"},
           "relabel": {"alpha": 0.5, "budgets": [0.0, 0.5, 1.0], "methods": ["probability", "random"],
                       "alphas": [0.2, 0.5], "sample_sizes": [10, "all"]},
           "baselines": ["reweighing", "massaging"], "seeds": [0, 1]}
    for k, v in over.items():
        d = raw
        *path, last = k.split(".")
        for p in path:
            d = d[p]
        d[last] = v
    return raw


@pytest.mark.parametrize("key,value,match", [
    ("relabel.alpha", 0.0, r"relabel.alpha: .*\(0, 1\]"),
    ("relabel.alphas", [0.1, 1.2], r"relabel.alphas: 1.2 is not .*\(0, 1\]"),
    ("relabel.methods", ["magic"], "relabel.methods.0"),
    ("baselines", ["oracle"], "baselines: 'oracle' is not one of"),
    ("relabel.sample_sizes", [0], "relabel.sample_sizes: 0 must be an integer >= 1"),
])
def test_config_errors_name_the_field(key, value, match):
    with pytest.raises(ConfigError, match=match) as e:
        parse_fairness_config(_cfg(**{key: value}))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("key,value,match", [
    ("groups.minority", {"ethnicity": "x"}, "sensitive attribute 'ethnicity' is not in"),
    ("groups.minority", {"group": "aliens"}, "value 'aliens' of 'group' does not occur"),
    ("groups.favorable", "great", "groups.favorable"),
])
def test_data_errors_are_one_line_before_work(key, value, match, tmp_path):
    with pytest.raises(ConfigError, match=match) as e:
        run_config(_cfg(**{key: value}), out_dir=str(tmp_path), progress=False)
    assert "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())


def test_cli_bad_minority_value_is_one_line(tmp_path):
    import yaml

    from acakit.cli import _register_plugins, app

    _register_plugins()
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_cfg(**{"groups.minority": {"group": "aliens"}})))
    res = CliRunner().invoke(app, ["run", str(path), "-q"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "aliens" in lines[0], res.output


# --------------------------------------------------------------------------- runner and analyses


def test_runner_writes_every_analysis(tmp_path):
    res = run_config(_cfg(analyses=["alpha", "pareto", "efficiency", "sample_size"],
                          baselines=["massaging"], seeds=[0]), out_dir=str(tmp_path), progress=False)
    names = {p.name for p in res.files}
    for stem in ("unfairness_vs_alpha", "pareto", "flip_efficiency", "sample_size"):
        assert {f"{stem}.csv", f"{stem}.png"} <= names
    r = res.results
    assert set(r["kind"]) == {"no_action", "relabel", "baseline"}
    assert r["precision_ideal"].notna().any()
    assert set(r.loc[r["kind"] == "relabel", "majority_sample"]) == {"10", "all"}
    pareto = pd.read_csv(tmp_path / "pareto.csv")
    assert "massaging" in set(pareto["method"])
    assert pareto["pareto"].fillna(False).astype(bool).any()
    head = res.headline()
    assert head.iloc[0]["what"] == "no action"


def test_fit_warnings_are_recorded_per_fit_not_printed(tmp_path, recwarn):
    import io

    from rich.console import Console

    raw = _cfg(seeds=[0], baselines=["massaging"])
    raw["relabel"] |= {"budgets": [1.0], "methods": ["random"], "alphas": [0.5],
                       "sample_sizes": ["all"]}
    # one lbfgs iteration: scikit-learn warns that the solver did not converge, on every fit
    raw["firm"] = {"name": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1}}
    res = run_config(raw, out_dir=str(tmp_path), progress=False)
    assert not [w for w in recwarn if "converge" in str(w.message).lower()]
    r = res.results
    assert set(r["kind"]) == {"no_action", "relabel", "baseline"}
    assert r["fit_warnings"].str.contains("ConvergenceWarning").all()
    out = io.StringIO()
    res.show(Console(file=out, width=200))
    assert (f"{len(r)} of {len(r)} cells warned while fitting (column fit_warnings): "
            "ConvergenceWarning") in out.getvalue()
    raw["firm"]["params"] = {"max_iter": 1000}
    quiet = run_config(raw, out_dir=str(tmp_path / "quiet"), progress=False).results
    assert (quiet["fit_warnings"] == "").all()


def test_cli_fairness_pareto_command(tmp_path):
    import yaml

    from acakit.cli import _register_plugins, app

    _register_plugins()
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(_cfg(seeds=[0], baselines=["massaging"])))
    res = CliRunner().invoke(app, ["fairness", "pareto", str(path), "-q", "--out",
                                   str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "pareto.png").is_file()
    assert not (tmp_path / "out" / "flip_efficiency.png").exists()


MODULES = ["acakit.fairness.groups", "acakit.fairness.scorers", "acakit.fairness.relabel",
           "acakit.fairness.synthetic", "acakit.fairness.metrics", "acakit.fairness.baselines",
           "acakit.fairness.counterfactual",
           "acakit.analyses.fairness_tables"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
