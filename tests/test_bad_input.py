"""A catalogue of bad input, across every config kind and command, each refused before any work:
exit code 2, one line on stderr that names the field, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from acakit.cli import _register_plugins, app

_register_plugins()

RAT = {"name": "product_ratings", "params": {"n_samples": 1500, "n_features": 4}}
SIG = {"type": "set_columns", "values": {"f3": 9}}
BASE = {
    "collective": {
        "name": "s", "dataset": RAT, "firm": {"name": "empirical_bayes"},
        "collective": {"strategy": "plant", "target": "rating_1", "signal": SIG},
        "sweep": {"alpha": [0.0, 0.05], "seed": [0]}},
    "multi": {
        "name": "m", "experiment": "multi", "dataset": RAT, "firm": {"name": "empirical_bayes"},
        "collectives": [{"name": "a", "signal": SIG, "target": "rating_1", "alpha": 0.03},
                        {"name": "b", "signal": SIG, "target": "rating_2", "alpha": 0.02}],
        "sweep": {"collective": "b", "alpha": [0.0, 0.02], "seed": [0]}},
    "fairness": {
        "name": "f", "experiment": "fairness",
        "dataset": {"name": "minority_synthetic", "params": {"n_samples": 1000}},
        "groups": {"minority": {"group": "minority"}, "favorable": "positive"},
        "relabel": {"methods": ["probability"], "alpha": 0.5, "budgets": [0.0, 1.0]},
        "baselines": ["reweighing"], "seeds": [0], "analyses": ["pareto"]},
}
DEL = "<delete>"
LOANS = str(Path(__file__).resolve().parents[1] / "examples" / "data" / "loans.csv")


def _loans(**params: object) -> dict:
    """The example CSV (examples/data/loans.csv: gaps in 4 columns and in 3 labels) as a dataset."""
    return {"name": "csv", "params": {"path": LOANS, "label": "approved", **params}}


LOANS_COLLECTIVE = {"strategy": "plant", "target": "yes",
                    "signal": {"type": "set_columns", "values": {"purpose": "wedding"}}}

# (kind, dotted path in the config, bad value, what the one-line error must contain)
CONFIG_CASES: list[tuple[str, str, object, str]] = [
    # ------------------------------------------------------------------ every kind alike
    *[(k, "dataset.name", "adultx", "dataset.name: 'adultx' is not one of") for k in BASE],
    *[(k, "dataset.test_size", v, "dataset.test_size") for k in BASE for v in (0, 1, 1.5, -0.1, "x")],
    *[(k, "dataset.params", {"bogus": 1}, "dataset.params: 'bogus' is not a parameter") for k in BASE],
    *[(k, "firm.name", "nope", "firm.name: 'nope' is not one of") for k in BASE],
    *[(k, "firm.name", n, "is not under an allowed module") for k in BASE
      for n in ("os.system", "builtins.eval", "subprocess.run", "pickle.loads")],
    *[(k, "firm.name", "sklearn.linear_model.LinearRegression", "is a regressor, not a classifier")
      for k in BASE],
    *[(k, "firm.name", "sklearn.cluster.KMeans", "is a clusterer") for k in BASE],
    *[(k, "firm.name", "sklearn.utils.check_array", "is not an estimator class") for k in BASE],
    *[(k, "firm.name", "not a path!", "firm.name") for k in BASE],
    *[(k, "firm", {"name": "logistic_regression", "params": {"C": "x"}},
       "firm.params: The 'C' parameter of LogisticRegression") for k in BASE],
    *[(k, "firm", {"name": "logistic_regression", "params": {"nope": 1}},
       "firm.params: LogisticRegression.__init__() got an unexpected keyword argument 'nope'")
      for k in BASE],
    *[(k, "firm", {"name": "gradient_boosting", "params": {"max_iter": -5}}, "firm.params: The 'max_iter'")
      for k in BASE],
    *[(k, "firm", {"name": "logistic_regression", "featurizer": {"bogus": 1}},
       "firm.featurizer: tabular data takes no featurizer parameters") for k in BASE],
    *[(k, "firm.params", {"x": 1}, "firm.params") for k in BASE],
    *[(k, "firm.extra", 1, "firm.extra: Extra inputs are not permitted") for k in BASE],
    *[(k, "nonsense", 1, "nonsense: Extra inputs are not permitted") for k in BASE],
    *[(k, "output.plot", "maybe", "output.plot: Input should be a valid boolean") for k in BASE],
    *[(k, "name", ["x"], "name: Input should be a valid string") for k in BASE],
    *[(k, "experiment", "multiple", "experiment: 'multiple' is not one of collective, multi, fairness")
      for k in BASE],
    # ------------------------------------------------------------------ a user CSV (loader params)
    *[(k, "dataset", _loans(missing=v), f"missing: {v!r} is not one of impute, drop, error")
      for k in BASE for v in ("fill", "IMPUTE", None, ["drop"])],
    ("collective", "dataset", _loans(missing="error", drop=["applicant_id", "notes"]),
     "missing: loans.csv has missing values in approved (3, label), age (6), income (12), purpose (8), "
     "employment (5); fill them in, or set missing: impute or drop"),
    ("multi", "dataset", _loans(missing="error"), "missing: loans.csv has missing values in approved"),
    ("collective", "dataset", _loans(sensitive=["sex"], drop=["sex"]),
     "drop: 'sex' is also a sensitive column"),
    ("collective", "dataset", _loans(drop="approved"), "drop: 'approved' is the label column"),
    ("collective", "dataset", _loans(label="approval"),
     "label: column 'approval' is not in loans.csv; columns: applicant_id, age"),
    ("collective", "dataset", _loans(drop=["ssn"]), "drop: column 'ssn' is not in loans.csv"),
    ("collective", "dataset", _loans(text_column="note"), "text_column: column 'note' is not in loans.csv"),
    ("collective", "dataset", {"name": "csv", "params": {"path": LOANS}},
     "missing 1 required positional argument: 'label'"),
    ("collective", "dataset", _loans(na_values=["?"]),
     "dataset.params: 'na_values' is not a parameter of csv"),
    ("collective", "*", {"dataset": _loans(drop=["applicant_id", "notes"], missing="drop"),
                         "collective": {**LOANS_COLLECTIVE, "signal": {"type": "set_columns",
                                                                       "values": {"notes": "vip"}}}},
     "collective.signal.values: column 'notes' is not in loans"),
    ("collective", "*", {"dataset": _loans(missing="drop"), "collective": {**LOANS_COLLECTIVE,
                                                                         "target": "maybe"}},
     "collective.target: 'maybe' is not a class of loans"),
    # ------------------------------------------------------------------ single collective
    ("collective", "collective.alpha", 1.5, "collective.alpha: 1.5 is not a fraction in [0, 1]"),
    ("collective", "collective.count", -1, "collective.count"),
    ("collective", "collective.alpha", 0.1, "collective.alpha: sweep.alpha sets the sizes"),
    ("collective", "collective.count", 10, "collective.count: sweep.alpha sets the sizes"),
    *[("collective", "sweep.alpha", v, "sweep.alpha") for v in ([0.1, -0.2], [1.01], "0.1", [None])],
    ("collective", "sweep.alpha", [], "sweep: the grid expands to 0 cells"),
    ("collective", "sweep.seed", [], "sweep: the grid expands to 0 cells"),
    *[("collective", "sweep.seed", [v], "sweep.seed") for v in (-1, 2**32, 1.5, "zero", True)],
    ("collective", "sweep.count", [10], "sweep: give sweep.alpha or sweep.count, not both"),
    ("collective", "sweep.grid", {"firm.name": []}, "sweep.grid.firm.name: empty list"),
    ("collective", "sweep.grid", {"seed": [1]}, "sweep.grid: 'seed' must start with"),
    ("collective", "sweep.grid", {"firm.name": ["nope"]}, "firm.name: 'nope' is not one of"),
    ("collective", "sweep.grid", {"collective.alpha": [0.1]}, "sweep.grid.collective.alpha: the size is"),
    ("collective", "sweep.grid", {"collective.strategy": ["poison"]}, "collective.strategy"),
    ("collective", "sweep.extra", 1, "sweep.extra: Extra inputs are not permitted"),
    ("collective", "collective.target", "rating_9", "collective.target: 'rating_9' is not a class"),
    ("collective", "collective.target", True, "collective.target: True is a boolean, not a class"),
    ("collective", "collective.target", DEL, "collective.target: required for strategy 'plant'"),
    ("collective", "collective.strategy", "poison",
     "collective.strategy: 'poison' is not one of plant, plant_feature_only, erase"),
    ("collective", "collective.eligibility", "everyone", "collective.eligibility: 'everyone' is not one"),
    ("collective", "collective.eligibility", {"class": "rating_9"}, "collective.eligibility.class"),
    ("collective", "collective.eligibility", {"group": {"f9": 1}},
     "collective.eligibility.group: column 'f9' is not in"),
    ("collective", "collective.eligibility", {"group": {"f0": "never"}},
     "collective.eligibility.group: no training row has"),
    ("collective", "collective.eligibility", {"clas": "rating_1"}, "collective.eligibility"),
    ("collective", "collective.signal.values", {}, "collective.signal.values"),
    ("collective", "collective.signal.values", {"zz": 1}, "collective.signal.values: column 'zz'"),
    ("collective", "collective.signal.type", "trigger", "collective.signal"),
    ("collective", "collective.signal.type", "laser", "collective.signal"),
    ("collective", "collective.signal", {"type": "patch"}, "collective.signal.type: 'patch' does not fit"),
    ("collective", "collective.signal", {"type": "shift", "shift": 1.0},
     "collective.signal.type: 'shift' does not fit"),
    ("collective", "collective.signal", DEL, "collective.signal: Field required"),
    ("collective", "collective", DEL, "collective: Field required"),
    ("collective", "dataset", DEL, "dataset: Field required"),
    ("collective", "confidence", 1.5, "confidence: Input should be less than 1"),
    ("collective", "confidence", 0, "confidence: Input should be greater than 0"),
    ("collective", "sweep", {"count": [10**6], "seed": [0]}, "collective.count: 1000000 needs 1000000"),
    ("collective", "*", {"collective": {"strategy": "plant", "target": "rating_1", "signal": SIG,
                                        "eligibility": {"class": "rating_0"}},
                         "sweep": {"alpha": [0.9], "seed": [0]}},
     "collective.alpha: 0.9 needs 945 members, but only"),
    ("collective", "collective.reference", {"name": "os.system"}, "is not under an allowed module"),
    # ------------------------------------------------------------------ several collectives
    ("multi", "collectives", [], "collectives: List should have at least 1 item"),
    ("multi", "collectives", "a, b", "collectives: Input should be a valid list"),
    ("multi", "collectives.0.alpha", 1.5, "collectives.a.alpha: 1.5 is not a fraction"),
    ("multi", "collectives.0.alpha", None, "collectives.a: give exactly one of alpha and count"),
    ("multi", "collectives.0.count", 5, "collectives.a: give exactly one of alpha and count"),
    ("multi", "collectives.0.target", "rating_9", "collectives.a.target: 'rating_9' is not a class"),
    ("multi", "collectives.0.target", False, "is a boolean, not a class"),
    ("multi", "collectives.0.targets", [], "collectives.a.targets: the target set is empty"),
    ("multi", "collectives.0.targets", ["rating_9"], "collectives.a.targets: 'rating_9' is not a class"),
    ("multi", "collectives.0.name", "b", "collectives: name 'b' is used twice"),
    ("multi", "collectives.0.name", DEL, "collectives.0.name: required"),
    ("multi", "collectives.0.name", "", "collectives"),
    ("multi", "collectives.0.strategy", "poison", "collectives.a.strategy"),
    ("multi", "collectives.0.signal.values", {}, "collectives.a.signal: the signal set is empty"),
    ("multi", "collectives.0.signal.values", {"zz": 1}, "collectives.a.signal.values: column 'zz'"),
    ("multi", "collectives.0.signal", {"type": "patch"}, "collectives.a.signal.type: 'patch' does not fit"),
    ("multi", "collectives.0.eligibility", {"class": "rating_9"}, "collectives.a.eligibility.class"),
    ("multi", "collectives.0.eligibility", "some", "collectives.a.eligibility"),
    ("multi", "collectives.0.alpha", 0.99, "collectives: sizes sum to"),
    ("multi", "collectives.0", {"name": "a", "signal": SIG, "target": "rating_1", "count": 10**6},
     "collectives.a.count: 1000000 needs 1000000 members, but only 1050 of the 1050"),
    ("multi", "sweep.collective", "zz", "sweep.collective: 'zz' is not one of a, b"),
    ("multi", "sweep.collective", DEL, "sweep: give both collective and alpha, or neither"),
    ("multi", "sweep.alpha", [1.5], "sweep.alpha: 1.5 is not a fraction"),
    ("multi", "sweep.alpha", [], "sweep.alpha: empty list"),
    ("multi", "sweep.seed", [], "sweep.seed: List should have at least 1 item"),
    ("multi", "sweep.seed", [-1], "sweep.seed: -1 is not a seed"),
    ("multi", "sweep.seed", [2**40], "is not a seed"),
    ("multi", "bounds.others_range", [0.5, 0.1], "bounds.others_range: [0.5, 0.1] is not a range"),
    ("multi", "bounds.others_range", [-0.1, 0.2], "bounds.others_range"),
    ("multi", "bounds.delta", 2, "bounds.delta: Input should be less than 1"),
    ("multi", "bounds.delta", 0, "bounds.delta: Input should be greater than 0"),
    ("multi", "bounds.epsilon", -1, "bounds.epsilon"),
    ("multi", "bounds.nonsense", 1, "bounds.nonsense: Extra inputs are not permitted"),
    ("multi", "overlap", "sometimes", "overlap: Input should be 'disallow', 'first' or 'random'"),
    ("multi", "efficacy_loss", "yes please", "efficacy_loss: Input should be a valid boolean"),
    ("multi", "confidence", 2, "confidence"),
    # ------------------------------------------------------------------ minority fairness
    ("fairness", "groups.minority", {"nope": "x"}, "groups: sensitive attribute 'nope' is not in"),
    ("fairness", "groups.minority", {"group": "never"}, "groups.minority: value 'never' of 'group'"),
    ("fairness", "groups.minority", {}, "groups.minority"),
    ("fairness", "groups.majority", {"group": "minority"}, "groups.majority: overlaps groups.minority"),
    ("fairness", "groups.favorable", "nope", "groups.favorable: 'nope' is not a class"),
    ("fairness", "groups", DEL, "groups: Field required"),
    ("fairness", "relabel.alpha", 1.5, "relabel.alpha: 1.5 is not a fraction of the minority"),
    ("fairness", "relabel.alpha", 0.0, "relabel.alpha: 0.0 is not a fraction of the minority"),
    ("fairness", "relabel.alphas", [0.1, 2], "relabel.alphas"),
    # a perturbed signal that does not fit one collective's signal, before any cell
    ("multi", "collectives.0.noise", {"p_signal": 0.5, "perturb": {"kind": "subset", "keep": 5}},
     "collectives.a.noise.perturb.keep: 5 is not in 1..1"),
    # a user's defense function that returns no keep mask (a tuple), tried on 50 rows first
    ("collective", "firm.defense", {"name": "callable",
                                    "params": {"function": "sklearn.utils.shuffle"}},
     "firm.defense.params.function: sklearn.utils.shuffle fails on the data"),
    # featurizer options for a firm that has no featurizer would do nothing
    ("collective", "firm", {"name": "empirical_bayes", "featurizer": {"min_df": 2}},
     "firm.featurizer: empirical_bayes reads the data itself"),
    # a collective of no one: refused, not rounded up to one member
    ("fairness", "relabel.alpha", 0.0001, "relabel.alpha: 0.0001 of the"),
    ("fairness", "relabel.alpha", 0.0001, "is no member; give at least"),
    ("fairness", "relabel.budgets", [], "relabel.budgets: List should have at least 1 item"),
    ("fairness", "relabel.budgets", [1.5], "relabel.budgets: 1.5 is not a fraction of the candidates"),
    ("fairness", "relabel.budgets", [-0.5], "relabel.budgets"),
    ("fairness", "relabel.thresholds", [1.5], "relabel.thresholds: 1.5 is not a score threshold"),
    ("fairness", "relabel.thresholds", [-1], "relabel.thresholds"),
    ("fairness", "relabel.thresholds", ["high"], "relabel.thresholds"),
    ("fairness", "relabel.methods", ["magic"], "relabel.methods.0: Input should be"),
    ("fairness", "relabel.methods", [], "relabel.methods: List should have at least 1 item"),
    ("fairness", "relabel.majority_sample", 10**6, "relabel.majority_sample: 1000000 majority rows"),
    ("fairness", "relabel.majority_sample", 0, "relabel.majority_sample: 0 must be an integer >= 1"),
    ("fairness", "relabel.majority_sample", "some", "relabel.majority_sample"),
    ("fairness", "relabel.k", 0, "relabel.k: Input should be greater than or equal to 1"),
    ("fairness", "relabel.nonsense", 1, "relabel.nonsense: Extra inputs are not permitted"),
    ("fairness", "baselines", ["magic"], "baselines: 'magic' is not one of"),
    ("fairness", "seeds", [], "seeds: List should have at least 1 item"),
    ("fairness", "seeds", [-3], "seeds: -3 is not a seed"),
    ("fairness", "seeds", [2**33], "is not a seed"),
    ("fairness", "analyses", ["magic"], "analyses.0: Input should be"),
    ("fairness", "analyses", [], "analyses: List should have at least 1 item"),
    ("fairness", "eps", -1, "eps: Input should be greater than 0"),
    ("fairness", "unfairness", "gap", "unfairness: Input should be 'eo_gap' or 'dp_gap'"),
    ("fairness", "dataset.name", "bbc_news", "dataset"),
]


# ---------------------------------------------------------------------- hardening, second round
RF = "random_forest"
CONFIG_CASES += [
    # 1. a sweep budget: cells counted before any is made
    ("collective", "sweep", {"alpha": [0.01] * 1000, "seed": list(range(10_000))},
     "sweep: sweep.alpha (1,000) x sweep.seed (10,000) is 10,000,000 cells"),
    ("collective", "sweep", {"count": [1] * 500, "seed": list(range(200))},
     "sweep.count (500) x sweep.seed (200) is 100,000 cells"),
    ("collective", "sweep", {"alpha": [0.0], "seed": [0], "grid": {"firm.params.a": [1] * 300,
                                                                    "firm.params.b": [1] * 300}},
     "sweep.grid.firm.params.a (300) x sweep.grid.firm.params.b (300) is 90,000 cells"),
    ("multi", "sweep", {"collective": "b", "alpha": [0.01] * 1000, "seed": list(range(1000))},
     "sweep.alpha (1,000) x sweep.seed (1,000) is 1,000,000 cells"),
    ("fairness", "seeds", list(range(20_000)), "seeds (20,000)"),
    ("fairness", "relabel", {"methods": ["probability", "label"], "alpha": 0.5,
                             "budgets": [i / 30_000 for i in range(30_000)]},
     "relabel settings (60,004) is 60,004 cells"),
    # 2. outputs stay in their folder
    *[(k, "output.store", "../x.sqlite", "output.store: '../x.sqlite' leads outside output.dir")
      for k in BASE],
    *[("collective", "output.store", v, "output.store") for v in
      ("/tmp/x.sqlite", "~/x.sqlite", "a/../../x.sqlite", ".", "a/..")],
    # 8. noise.perturb that does not fit the signal
    ("collective", "collective.noise", {"p_signal": 0.5, "perturb": {"kind": "subset", "keep": 5}},
     "collective.noise.perturb: keep: 5 is not in 1..1"),
    ("collective", "collective.noise", {"p_signal": 0.5, "perturb": {"kind": "value",
                                                                     "values": {"f0": 1}}},
     "collective.noise.perturb.values: column 'f0' is not one of the signal's columns"),
    # 9. firm and defense parameters, before any work (types, constraints, huge sizes)
    *[(k, "firm", {"name": RF, "params": {"n_jobs": 1_000_000}},
       "firm.params.n_jobs: 1000000 is more than 1024") for k in BASE],
    *[(k, "firm", {"name": RF, "params": {"n_estimators": "many"}},
       "firm.params: The 'n_estimators' parameter of RandomForestClassifier must be") for k in BASE],
    *[(k, "firm", {"name": RF, "params": {"n_estimators": 10**9}},
       "firm.params.n_estimators: 1000000000 is more than 100000") for k in BASE],
    ("collective", "firm", {"name": RF, "params": {"n_estimators": 0}},
     "firm.params: The 'n_estimators' parameter"),
    ("collective", "firm", {"name": "logistic_regression", "params": {"max_iter": 10**12}},
     "firm.params.max_iter"),
    *[(k, "firm.defense", {"name": "lof", "params": {"n_neighbors": 0}},
       "firm.defense.params: n_neighbors: 0 must be an integer >= 1") for k in ("collective", "multi")],
    ("collective", "firm.defense", {"name": "isolation_forest", "params": {"n_estimators": 10**9}},
     "n_estimators: 1000000000 is more than 100000"),
    ("collective", "firm.defense", {"name": "lof", "params": {"n_neighbors": "ten"}},
     "n_neighbors: 'ten' is not an integer"),
    ("collective", "firm.defense", {"name": "confident_learning", "params": {"cv": 10**6}},
     "cv: 1000000 is more than 1000"),
    # 10. hygiene: only regular files as data, no file content echoed, no CLI from a config
    *[("collective", "dataset", {"name": "csv", "params": {"path": p, "label": "y"}},
       f"data: '{p}' is not a regular file") for p in ("/dev/zero", "/proc/self/environ", "/tmp")],
    *[(k, "firm.name", n, "which a config never imports") for k in ("collective", "multi")
      for n in ("acakit.__main__.X", "acakit.cli.app", "acakit.app.cli.register",
                "sklearn.__main__.X")],
    ("collective", "collectives", [BASE["collective"]["collective"]],
     "collectives: give either collective (one) or collectives (a list), not both"),
]


def _set(d: dict, path: str, value: object) -> None:
    if path == "*":  # several top-level fields at once
        d.update(value)  # type: ignore[arg-type]
        return
    keys = path.split(".")
    cur: object = d
    for k in keys[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})  # type: ignore[index, union-attr]
    last = keys[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    elif value == DEL:
        del cur[last]  # type: ignore[union-attr]
    else:
        cur[last] = value  # type: ignore[index]


def _assert_refused(r, expected: str, out: Path, code: int = 2) -> None:
    lines = r.stderr.strip().splitlines()
    # warnings (rows dropped from a CSV, say) are "warning: ..." lines: no source path or code line
    warns = [w for w in lines if w.startswith("warning: ")]
    assert all(".py:" not in w for w in warns), warns
    err = "\n".join(w for w in lines if not w.startswith("warning: "))
    assert r.exit_code == code, (r.exit_code, err, r.stdout[-2000:])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert len(err.splitlines()) == 1, r.stderr
    assert err.startswith("error: ") and expected in err, err
    assert len(err) < 400, len(err)  # long lists are shortened
    assert not out.exists(), "output was written"


@pytest.mark.parametrize("kind,path,value,expected", CONFIG_CASES,
                         ids=[f"{k}:{p}={v!r:.30}" for k, p, v, _ in CONFIG_CASES])
def test_a_bad_config_is_refused_before_any_work(kind, path, value, expected, tmp_path):
    cfg = json.loads(json.dumps(BASE[kind]))
    _set(cfg, path, value)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(p), "-o", str(out), "-j", "1", "-q"])
    _assert_refused(r, expected, out)


def _csv(tmp_path: Path) -> Path:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"a": rng.integers(0, 3, n).astype(str), "b": rng.normal(size=n),
                       "g": rng.choice(["x", "y"], n), "y": rng.choice(["no", "yes"], n)})
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    return p


# (command line; {csv} is a small valid CSV, {tmp} the test folder; what the error contains)
COMMAND_CASES: list[tuple[list[str], str]] = [
    (["run", "{tmp}/missing.yaml"], "config: file"),
    (["run", "{tmp}"], "is not a regular file"),
    (["run", "{tmp}/cfg.json"], "dataset: Field required"),
    (["run", "{tmp}/bad.yaml", "--runner", "dask"], "runner: 'dask' is not one of serial, loky, ray"),
    (["run", "{tmp}/bad.yaml", "--allow-module", "a b"], "--allow-module: 'a b' is not a module name"),
    (["results", "{tmp}/missing.sqlite"], "store:"),
    (["results", "{csv}"], "is not an SQLite database"),
    (["report", "{tmp}/missing.sqlite"], "store:"),
    (["report", "{csv}"], "is not an SQLite database"),
    (["audit", "--data", "{tmp}/missing.csv", "--label", "y", "--firm", "logistic_regression",
      "-o", "{tmp}/out/a.html"], "data"),
    (["audit", "--data", "{csv}", "--label", "nope", "--firm", "logistic_regression",
      "-o", "{tmp}/out/a.html"], "label: column 'nope' is not in"),
    (["audit", "--data", "{csv}", "--label", "y", "--firm", "os.system", "-o", "{tmp}/out/a.html"],
     "is not under an allowed module"),
    (["audit", "--data", "{csv}", "--label", "y", "--firm", "sklearn.linear_model.LinearRegression",
      "-o", "{tmp}/out/a.html"], "is a regressor"),
    (["audit", "--data", "{csv}", "--label", "y", "--firm", "logistic_regression", "--alphas", "x,y",
      "-o", "{tmp}/out/a.html"], "alphas:"),
    (["audit", "--data", "{csv}", "--label", "y", "--firm", "logistic_regression",
      "--sensitive", "colour", "-o", "{tmp}/out/a.html"], "sensitive: column 'colour'"),
    (["plan", "--gap", "-1", "--signal-mass", "0.1"], "gap"),
    (["plan", "--gap", "0.3", "--signal-mass", "2"], "signal"),
    (["plan", "--gap", "0.3", "--signal-mass", "0.1", "--target", "1.5"], "target"),
    (["plan", "--gap", "0.3", "--signal-mass", "0.1", "--epsilon", "-1"], "epsilon"),
    (["plan", "{tmp}/missing.yaml"], "config: file"),
    (["multi-bound", "--alpha", "1.5", "--gap", "0.5", "--signal-mass", "0.01"], "alpha"),
    (["multi-bound", "--alpha", "0.1", "--gap", "-0.5", "--signal-mass", "0.01"], "gap"),
    (["multi-bound", "--alpha", "0.1", "--gap", "0.5", "--signal-mass", "0.01", "--others", "0.02",
      "--conflict", "0.3"], "--conflict: 0.3 is more than the others' total size (0.02)"),
    (["multi-bound", "--alpha", "0.1", "--gap", "0.5", "--signal-mass", "0.01", "--others", "0.2",
      "--others-max", "0.1"], "--others-max: 0.1 is below --others 0.2"),
    (["multi-bound", "--alpha", "0.1", "--gap", "0.5", "--signal-mass", "0.01", "--others", "0.02",
      "--net-conflict", "0.5"], "--net-conflict: 0.5 is more than the others' total size"),
    (["results", "{csv}", "--export", "/proc/nope/x.csv"], "--export: cannot create"),
    (["plan", "--gap", "0.3", "--signal-mass", "0.001", "--plot", "/proc/nope/p.png"],
     "--plot: cannot create"),
    (["fairness", "pareto", "{tmp}/missing.yaml"], "config: file"),
    # hardening, second round: sweep budget, Ray addresses, the audit's seeds
    (["run", "{tmp}/bad.yaml", "--max-cells", "1"], "sweep: sweep.alpha (2) is 2 cells, about"),
    (["run", "{tmp}/bad.yaml", "--max-cells", "0"], "--max-cells: 0 is not an integer >= 1"),
    (["run", "{tmp}/bad.yaml", "--address", "127.0.0.1:99999"], "port 99999 is not in 1..65535"),
    (["run", "{tmp}/bad.yaml", "--address", "nohost.invalid:6379"],
     "--address: no Ray cluster at 'nohost.invalid:6379'"),
    (["run", "{tmp}/bad.yaml", "--address", "just text"], "is not a Ray address (auto or HOST:PORT)"),
    (["run", "{tmp}/bad.yaml", "--address", "\x1b[2J:1"], "(unknown host"),
    (["run", "{tmp}/bad.yaml", "--runner", "loky", "--address", "auto"],
     "--address: a Ray cluster's address needs --runner ray"),
    (["run", "{tmp}/bad.yaml", "--runner", "serial", "--address", "127.0.0.1:1"],
     "needs --runner ray (or no --runner), not --runner 'serial'"),
    (["run", "{tmp}/bad.yaml", "--address", "127.0.0.1:1", "--connect-timeout", "0"],
     "--connect-timeout: 0.0 is not a number of seconds"),
    (["audit", "--data", "{csv}", "--label", "y", "--firm", "logistic_regression", "--seeds",
      "10000000", "-o", "{tmp}/out/a.html"],
     "seeds: --alphas (8) x --seeds (10,000,000) is 80,000,000 cells"),
    (["audit", "--data", "/dev/zero", "--label", "y", "--firm", "logistic_regression",
      "-o", "{tmp}/out/a.html"], "is not a regular file"),
    (["fairness", "pareto", "{tmp}/single.yaml"], "groups: Field required"),
    (["fairness", "pareto", "{tmp}/multi.yaml"], "experiment: 'multi' is not a fairness config"),
]


@pytest.mark.parametrize("argv,expected", COMMAND_CASES, ids=[" ".join(a[:3]) for a, _ in COMMAND_CASES])
def test_a_bad_command_line_is_refused_before_any_work(argv, expected, tmp_path):
    csv = _csv(tmp_path)
    (tmp_path / "cfg.json").write_text("{}")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(BASE["collective"]))
    (tmp_path / "single.yaml").write_text(yaml.safe_dump(BASE["collective"]))
    (tmp_path / "multi.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(BASE["multi"]))))
    args = [a.replace("{csv}", str(csv)).replace("{tmp}", str(tmp_path)) for a in argv]
    r = CliRunner().invoke(app, args)
    _assert_refused(r, expected, tmp_path / "out")


def test_the_catalogue_is_large():
    assert len(CONFIG_CASES) + len(COMMAND_CASES) >= 150


def _csv_variant(tmp_path: Path, kind: str) -> Path:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"a": rng.integers(0, 3, n).astype(str), "b": rng.normal(size=n),
                       "g": rng.choice(["x", "y"], n), "y": rng.choice(["no", "yes"], n)})
    p = tmp_path / f"{kind}.csv"
    if kind == "three_rows":
        df.head(3).assign(y=["no", "no", "no"]).to_csv(p, index=False)
    elif kind == "continuous":
        df.assign(y=rng.normal(size=n)).to_csv(p, index=False)
    elif kind == "latin1":
        p.write_bytes(df.to_csv(index=False).replace("yes", "y\xe9s").encode("latin-1"))
    elif kind == "wide":
        # 1,500 columns: wide, under the reader's limit of 2,000 (test_cli_options: above it)
        pd.DataFrame(rng.integers(0, 2, (50, 1500)), columns=[f"c{i}" for i in range(1500)]).to_csv(
            p, index=False)
    elif kind == "singleton_class":
        df.assign(y=["rare"] + ["common"] * (n - 1)).to_csv(p, index=False)
    elif kind == "empty":
        p.write_text("")
    elif kind == "no_labels":
        df.assign(y=None).to_csv(p, index=False)
    elif kind == "gap_singleton":  # one label missing: a single "rare" row is left
        df.assign(y=["rare", None] + ["common"] * (n - 2)).to_csv(p, index=False)
    else:
        df.to_csv(p, index=False)
    return p


CSV_CASES = [
    ("three_rows", ["--label", "y"], "label: column 'y' has 1 distinct value(s)"),
    ("continuous", ["--label", "y"], "label: column 'y' looks continuous (300 distinct numbers)"),
    ("latin1", ["--label", "y"], "is not a readable CSV file"),
    ("wide", ["--label", "y"], "label: column 'y' is not in wide.csv; columns: c0, c1"),
    ("singleton_class", ["--label", "y"], "label: class 'rare' has 1 row"),
    ("empty", ["--label", "y"], "is not a readable CSV file"),
    ("no_labels", ["--label", "y"], "label: column 'y' of no_labels.csv has no value"),
    ("gap_singleton", ["--label", "y"], "label: class 'rare' has 1 row in gap_singleton.csv"),
    ("ok", ["--label", "g", "--sensitive", "g"], "sensitive: 'g' is the label column"),
    ("ok", ["--label", "y", "--sensitive", "nope"], "sensitive: column 'nope' is not in"),
]


@pytest.mark.parametrize("kind,args,expected", CSV_CASES, ids=[f"{k}:{' '.join(a)}" for k, a, _ in CSV_CASES])
def test_a_bad_csv_is_refused_before_any_work(kind, args, expected, tmp_path):
    data = _csv_variant(tmp_path, kind)
    r = CliRunner().invoke(app, ["audit", "--data", str(data), *args, "--firm", "logistic_regression",
                                 "-o", str(tmp_path / "out" / "a.html")])
    _assert_refused(r, expected, tmp_path / "out")


# ---------------------------------------------------------------------- hardening: files and stores
def _run_cfg(tmp_path: Path, cfg: dict | None = None, *extra: str):
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg or json.loads(json.dumps(BASE["collective"]))))
    return CliRunner().invoke(app, ["run", str(p), "-o", str(tmp_path / "out"), "-j", "1", *extra])


def test_a_symlinked_summary_csv_is_replaced_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.csv").symlink_to(victim)
    r = _run_cfg(tmp_path)
    assert r.exit_code == 0, r.stderr
    assert victim.read_text() == "precious"
    link = tmp_path / "out" / "summary.csv"
    assert not link.is_symlink() and "success" in link.read_text()


def test_a_symlinked_store_is_refused(tmp_path):
    victim = tmp_path / "victim.sqlite"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.sqlite").symlink_to(victim)
    r = _run_cfg(tmp_path)
    _assert_refused(r, "is a symbolic link", tmp_path / "nothing")
    assert not victim.exists()


def test_a_ten_million_cell_sweep_is_refused_before_any_cell_is_made(tmp_path, monkeypatch):
    from acakit.engine import config as config_mod

    made = []
    real = config_mod.CellSpec.model_validate
    monkeypatch.setattr(config_mod.CellSpec, "model_validate",
                        classmethod(lambda cls, d, **k: made.append(1) or real(d, **k)))
    cfg = json.loads(json.dumps(BASE["collective"]))
    cfg["sweep"] = {"alpha": [0.01] * 1000, "seed": list(range(10_000))}
    r = _run_cfg(tmp_path, cfg)
    _assert_refused(r, "is 10,000,000 cells", tmp_path / "out")
    assert made == []


def test_an_unanswering_ray_address_is_one_line_within_the_timeout(tmp_path):
    import time

    t = time.perf_counter()
    r = _run_cfg(tmp_path, None, "--address", "127.0.0.1:1")
    assert time.perf_counter() - t < 2.0 + 5  # the 2-second timeout, plus validation
    _assert_refused(r, "--address: no Ray cluster at '127.0.0.1:1'", tmp_path / "out")


def test_an_escape_sequence_in_a_column_name_is_printed_visibly(tmp_path):
    import pandas as pd

    p = tmp_path / "e.csv"
    pd.DataFrame({"a\x1b[2Jb": [1, 2, 3, 4] * 10, "y": ["n", "y"] * 20}).to_csv(p, index=False)
    r = CliRunner().invoke(app, ["audit", "--data", str(p), "--label", "nope", "--firm",
                                 "logistic_regression", "-o", str(tmp_path / "out" / "a.html")])
    _assert_refused(r, "columns: a\\x1b[2Jb, y", tmp_path / "out")
    assert "\x1b" not in r.stderr


def _store(tmp_path: Path) -> Path:
    r = _run_cfg(tmp_path)
    assert r.exit_code == 0, r.stderr
    return tmp_path / "out" / "results.sqlite"


@pytest.mark.parametrize("command", ["results", "report", "run"])
def test_a_corrupt_store_is_one_line_and_left_as_it_is(tmp_path, command):
    store = _store(tmp_path)
    import sqlite3

    with sqlite3.connect(store) as c:  # fold the WAL in, so the whole store is in one file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(store.read_bytes())
    data[4096:4096 + 2000] = b"\xff" * 2000  # a damaged page after the header
    store.write_bytes(bytes(data))
    before = store.read_bytes()
    args = ([command, str(store)] if command != "run" else
            ["run", str(tmp_path / "cfg.yaml"), "-o", str(tmp_path / "out"), "-j", "1"])
    r = CliRunner().invoke(app, args)
    _assert_refused(r, "store: ", tmp_path / "nothing")
    assert "damaged" in r.stderr or "not a usable SQLite database" in r.stderr
    assert store.read_bytes() == before


def _break_btree(store: Path) -> None:
    """Damage ``store`` the way SQLite's quick_check finds (and not by refusing the file as no
    database): the cells table's interior page points twice to one leaf and never to the next
    ("2nd reference to page", "Rowid out of order", "Page N is never used")."""
    import sqlite3
    import struct

    from acakit.engine.store import ResultStore

    with ResultStore(store) as st:  # enough rows for the table to need an interior page
        for i in range(60):
            st.record(f"pad{i}", {"seed": i, "pad": "x" * 300}, row={"success": 0.5})
    with sqlite3.connect(store) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole store in its one file
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'cells'").fetchone()[0]
    data = bytearray(store.read_bytes())
    at = (root - 1) * page_size
    assert data[at] == 0x05, "the cells table has no interior page"
    first, second = (struct.unpack(">H", data[at + 12 + 2 * i:at + 14 + 2 * i])[0] for i in (0, 1))
    data[at + second:at + second + 4] = data[at + first:at + first + 4]  # child 2 := child 1
    store.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["results", "report", "run"])
def test_a_store_that_sqlites_check_finds_damaged_is_one_line(tmp_path, command):
    """SQLite's quick_check reports several lines (under "*** in database main ***"): the error
    is one line with the first and how many more; acakit --verbose prints the whole report."""
    store = _store(tmp_path)
    _break_btree(store)
    before = store.read_bytes()
    args = ([command, str(store)] if command != "run" else
            ["run", str(tmp_path / "cfg.yaml"), "-o", str(tmp_path / "out"), "-j", "1"])
    r = CliRunner().invoke(app, args)
    _assert_refused(r, f"store: {str(store)!r} is damaged (SQLite's check: ", tmp_path / "nothing")
    assert "more problem(s)" in r.stderr and "***" not in r.stderr, r.stderr
    assert store.read_bytes() == before
    r = CliRunner().invoke(app, ["--verbose", *args])
    assert r.exit_code == 2 and "Traceback" not in r.stderr, r.stderr
    assert "2nd reference to page" in r.stderr and "is never used" in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: store: ")
    assert store.read_bytes() == before


@pytest.mark.parametrize("result", ["{}", '"x"', None])
def test_a_damaged_row_is_counted_by_results_and_computed_again_by_run(tmp_path, result):
    import sqlite3

    store = _store(tmp_path)
    with sqlite3.connect(store) as c:
        cid, row = c.execute("SELECT cell_id, result FROM cells LIMIT 1").fetchone()
        bad = result if result is not None else row.replace('"success": ', '"success": 7.5, "x": ')
        c.execute("UPDATE cells SET result=? WHERE cell_id=?", (bad, cid))
    r = CliRunner().invoke(app, ["results", str(store)])
    assert r.exit_code == 0, r.stderr
    assert "warning: store: 1 damaged row(s)" in r.stderr and "Traceback" not in r.stderr
    assert "7.5" not in r.stdout
    r = _run_cfg(tmp_path)
    assert r.exit_code == 0 and "1 run now, 1 from the store" in r.stdout, (r.stdout, r.stderr)


def test_a_full_disk_is_one_line_and_the_store_keeps_the_finished_cells(tmp_path, monkeypatch):
    import sqlite3

    from acakit.engine.store import ResultStore

    real = ResultStore._write_row
    calls = []

    def full(self, sql, values):
        calls.append(1)
        if len(calls) > 1:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, sql, values)

    monkeypatch.setattr(ResultStore, "_write_row", full)
    r = _run_cfg(tmp_path)
    _assert_refused(r, "database or disk is full); the 1 cell(s) finished before are kept",
                    tmp_path / "nothing")
    assert "results.sqlite" in r.stderr
    monkeypatch.setattr(ResultStore, "_write_row", real)
    with ResultStore(tmp_path / "out" / "results.sqlite", readonly=True) as st:
        assert len(st) == 1


def test_a_full_disk_on_export_is_one_line_and_the_old_file_stays(tmp_path, monkeypatch):
    import errno

    import pandas as pd

    store = _store(tmp_path)
    dest = tmp_path / "all.csv"
    dest.write_text("old")

    def no_space(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)
    r = CliRunner().invoke(app, ["results", str(store), "--export", str(dest)])
    _assert_refused(r, f"--export: cannot write '{dest}' (No space left on device)",
                    tmp_path / "nothing")
    assert dest.read_text() == "old"


def test_a_store_path_outside_the_output_folder_writes_nothing_there(tmp_path):
    cfg = json.loads(json.dumps(BASE["collective"]))
    cfg["output"] = {"store": "../x.sqlite"}
    r = _run_cfg(tmp_path, cfg)
    _assert_refused(r, "output.store: '../x.sqlite' leads outside output.dir", tmp_path / "out")
    assert not (tmp_path / "x.sqlite").exists()
