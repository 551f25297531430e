"""Firms that defend themselves: the defense spec, the wrapper, detection, and the acceptance
checks of the issue (confident learning on Adult, min_df against a BBC trigger, spectral
signatures on a MiniLM firm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from acakit.analyses.defenses import (
    defended_critical_mass,
    defense_summary,
    defense_table,
    effective_alpha,
)
from acakit.engine.config import ConfigError, FirmSpec, expand, parse_config, read_config
from acakit.firms import featurizer, make_firm
from acakit.firms.defenses import (
    ConfidentLearning,
    DefendedClassifier,
    Duplicates,
    MinDF,
    SpectralSignatures,
    detection_metrics,
    make_defense,
)

RATINGS = {"name": "product_ratings", "params": {"n_samples": 1500, "n_features": 4}}
SIGNAL = {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}


def _config(firm: dict, **sweep: object) -> dict:
    return {"dataset": RATINGS, "firm": firm,
            "collective": {"strategy": "plant", "signal": SIGNAL, "target": 1},
            "sweep": {"alpha": [0.0, 0.02], **sweep}}


# ----------------------------------------------------------------------------- the spec
def test_no_defense_keeps_the_spec_and_the_cell_ids():
    plain = FirmSpec(name="logistic_regression")
    assert "defense" not in plain.model_dump(mode="json")
    none = FirmSpec.model_validate({"name": "logistic_regression", "defense": {"name": "none"}})
    assert none.defense is None and none.model_dump(mode="json") == plain.model_dump(mode="json")
    cfg = parse_config(read_config("examples/quickstart.yaml"))
    raw = read_config("examples/quickstart.yaml")
    raw["firm"] = raw["firm"] | {"defense": {"name": "none"}}
    assert [c.cell_id for c in expand(cfg)] == [c.cell_id for c in expand(parse_config(raw))]
    defended = FirmSpec.model_validate({"name": "logistic_regression",
                                        "defense": {"name": "min_df", "params": {"min_df": 3}}})
    assert defended.model_dump(mode="json")["defense"] == {"name": "min_df",
                                                           "params": {"min_df": 3}}


@pytest.mark.parametrize(("defense", "message"), [
    ({"name": "magic"}, "firm.defense.name: 'magic' is not one of none"),
    ({"name": "min_df", "params": {"min_df": 0}}, "firm.defense.params: min_df: 0"),
    ({"name": "isolation_forest", "params": {"bogus": 1}}, "firm.defense.params"),
    ({"name": "callable", "params": {"function": "os.system"}}, "not under an allowed module"),
    ({"name": "callable", "params": {"function": "acakit.firms.defenses.Duplicates"}},
     "is not a function"),
    ({"name": "none", "params": {"a": 1}}, "takes no parameters"),
])
def test_bad_defenses_are_refused_in_one_line(defense, message):
    with pytest.raises(ConfigError) as e:
        parse_config(_config({"name": "logistic_regression", "defense": defense}))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_transform_defense_refuses_the_wrong_kind_of_data():
    from acakit.engine import prepare

    with pytest.raises(ConfigError, match="firm.defense.name: MinDF needs text or tabular"):
        prepare({"dataset": {"name": "gaussian_mixture"}, "firm": {"name": "logistic_regression",
                 "defense": {"name": "min_df"}},
                 "collective": {"strategy": "plant", "signal": {"type": "shift", "shift": 3.0},
                                "target": 1}, "sweep": {"alpha": [0.01]}})


# ----------------------------------------------------------------------------- the wrapper
def test_detection_metrics():
    members = np.array([True, True, False, False, False])
    d = detection_metrics(np.array([0.0, 1.0, 0.0, 1.0, 1.0]), members)
    assert d == {"defense_flagged": 0.4, "defense_precision": 0.5, "defense_recall": 0.5,
                 "defense_honest_dropped": pytest.approx(1 / 3)}
    assert np.isnan(detection_metrics(None, members)["defense_recall"])
    assert np.isnan(detection_metrics(np.ones(5), members)["defense_precision"])


def test_wrapper_filters_and_refits_and_clones():
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": ["x"] * 20 + ["y"] * 20})
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    f = DefendedClassifier(LogisticRegression(), Duplicates(), representation=None)
    f = clone(f).fit(pd.get_dummies(X).astype(float), y)
    assert f.keep_mask_.sum() == 2 and list(f.predict(pd.get_dummies(X).astype(float)[:1])) == [0]


def test_callable_defense_runs_in_a_cell():
    from acakit.engine.single import run_cell

    cfg = parse_config(_config({"name": "logistic_regression", "defense": {
        "name": "callable", "params": {"function": "acakit.firms.defenses.keep_all"}}}))
    rows = [run_cell(c) for c in expand(cfg)]
    assert rows[1]["defense"] == "callable" and rows[1]["defense_recall"] == 0.0
    assert rows[1]["defense_honest_dropped"] == 0.0 and rows[1]["n_members"] > 0
    # an undefended cell has no defense columns at all (old results keep their shape)
    plain = run_cell(expand(parse_config(_config({"name": "logistic_regression"})))[1])
    assert "defense" not in plain
    assert plain["success"] == rows[1]["success"]


def test_defended_grid_is_analysed(tmp_path):
    from acakit.analyses.single import run_config

    cfg = _config({"name": "logistic_regression"}, grid={"firm.defense": [
        {"name": "none"}, {"name": "isolation_forest", "params": {"contamination": 0.05}}]})
    cfg["output"] = {"dir": str(tmp_path), "plot": True}
    res = run_config(cfg, progress=False, out_dir=str(tmp_path), cache=False)
    assert res.defenses is not None and set(res.defenses["defense"]) == {"none",
                                                                         "isolation_forest"}
    for name in ("defenses.csv", "defense_summary.csv", "defense_success.png",
                 "defense_detection.png"):
        assert (tmp_path / name).exists()


def test_effective_alpha_and_critical_mass():
    assert float(effective_alpha(0.1, 0, 0)) == pytest.approx(0.1)
    assert float(effective_alpha(0.1, 1, 0)) == 0.0
    # dropping as large a share of honest signal-set points as of members changes nothing
    assert float(effective_alpha(0.1, 0.3, 0.3)) == pytest.approx(0.1)
    base = defended_critical_mass(0.02, 0.9)
    assert base == pytest.approx(0.02 / (0.02 + 0.1))
    assert defended_critical_mass(0.02, 0.9, r=0.5) > base > defended_critical_mass(0.02, 0.9,
                                                                                      q=0.5)


def test_defense_table_and_summary():
    df = pd.DataFrame({
        "variant": ["name=none"] * 3 + ["name=x"] * 3, "defense": [np.nan] * 3 + ["x"] * 3,
        "alpha_requested": [0, 0.01, 0.02] * 2, "alpha": [0, 0.01, 0.02] * 2,
        "n_members": [0, 10, 20] * 2, "success": [0.0, 0.6, 0.9, 0.0, 0.2, 0.7],
        "accuracy": [0.8] * 6, "clean_accuracy": [0.8] * 3 + [0.79] * 3,
        "defense_recall": [np.nan] * 3 + [np.nan, 0.5, 0.4],
        "defense_precision": [np.nan] * 3 + [np.nan, 0.1, 0.2],
        "defense_honest_dropped": [np.nan] * 3 + [0.01, 0.01, 0.01],
    })
    t = defense_table(df)
    assert list(t["defense"].unique()) == ["none", "x"] and len(t) == 6
    s = defense_summary(df, target_success=0.5).set_index("defense")
    assert s.loc["none", "critical_alpha@0.5"] == 0.01 and s.loc["x", "critical_alpha@0.5"] == 0.02
    assert s.loc["x", "recall"] == pytest.approx(0.45)


# ----------------------------------------------------------------------------- acceptance
@pytest.fixture(scope="module")
def adult_split():
    from acakit.engine.config import DatasetSpec
    from acakit.engine.single import _split

    return _split(DatasetSpec(name="adult").model_dump_json(), 0, ())


def test_confident_learning_finds_feature_label_planters_not_feature_only(adult_split):
    """Planters relabelled to ">50K" contradict their other features: confident learning flags
    most of them; feature-only planters (members of ">50K", true labels) evade it."""
    from acakit.engine.single import build_collective

    train, _ = adult_split
    recall = {}
    for strategy, elig in (("plant", "any"), ("plant_feature_only", "target")):
        cfg = parse_config({"dataset": {"name": "adult"}, "firm": {"name": "logistic_regression"},
                            "collective": {"strategy": strategy, "eligibility": elig,
                                           "signal": {"type": "set_columns", "values": {
                                               "native_country": "Holand-Netherlands",
                                               "occupation": "Armed-Forces"}},
                                           "target": ">50K", "alpha": 0.0005}})
        cell = expand(cfg)[0]
        altered, members = build_collective(cell, train).apply(train)
        R = featurizer(train).fit_transform(altered.X)
        w = ConfidentLearning().weights(altered.X, np.asarray(altered.y), lambda R=R: R)
        recall[strategy] = detection_metrics(w, members)["defense_recall"]
    assert recall["plant"] >= 0.5, recall
    assert recall["plant_feature_only"] <= 0.2, recall


@pytest.fixture(scope="module")
def bbc_split():
    from acakit.engine.config import DatasetSpec
    from acakit.engine.single import _split

    return _split(DatasetSpec(name="bbc_news").model_dump_json(), 0, ())


def _bbc_cell(count: int):
    cfg = parse_config({"dataset": {"name": "bbc_news"}, "firm": {"name": "tfidf_linear"},
                        "collective": {"strategy": "plant", "target": "tech", "count": count,
                                       "signal": {"type": "trigger", "token": "zqxv",
                                                  "every": 20, "count": 20}}})
    return expand(cfg)[0]


def test_min_df_erases_a_rare_trigger_and_not_a_common_one(bbc_split):
    from acakit.engine.single import build_collective

    train, test = bbc_split
    k = 10
    for count, erased in ((k - 3, True), (6 * k, False)):
        cell = _bbc_cell(count)
        col = build_collective(cell, train)
        altered, members = col.apply(train)
        firm = make_firm("tfidf_linear", train, defense={"name": "min_df",
                                                          "params": {"min_df": k}})
        firm.fit(altered.X, altered.y)
        assert ("zqxv" not in firm.defense_.vocabulary_) is erased
        signalled = col.strategy.feature_map(test.X[:200])
        same = np.mean(firm.predict(signalled) == firm.predict(test.X[:200]))
        if erased:  # the firm never sees the trigger: signalled texts are predicted as clean ones
            assert same == 1.0
        else:
            assert same < 0.9


def test_min_df_merges_rare_categorical_values():
    X = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 2 + ["z"], "n": range(8)})
    d = MinDF(min_df=3).fit(X, None)
    assert d.transform(X)["c"].tolist() == ["a"] * 5 + ["__rare__"] * 3
    assert d.transform(X)["n"].tolist() == list(range(8))


def test_make_defense_names_every_builtin():
    for name in ("isolation_forest", "lof", "confident_learning", "duplicates", "spectral",
                 "min_df"):
        assert make_defense(name).acts in ("filter", "transform")


def test_near_duplicate_texts_are_grouped():
    base = " ".join(f"w{i}" for i in range(60))
    texts = [base, base + " extra", "something else entirely " * 5, base.upper()]
    g = Duplicates(threshold=0.8).groups(texts)
    assert g[0] == g[1] == g[3] != g[2]
    assert Duplicates(near=False).weights(texts, np.zeros(4), lambda: None).tolist() == [1, 1, 1, 0]


@pytest.mark.slow  # embeds 400 articles with MiniLM: minutes on 2 cores
def test_spectral_signatures_on_minilm_flag_trigger_members_above_chance(bbc_split):
    """Spectral signatures on the MiniLM firm's embeddings flag members of a trigger
    collective at a rate above their share of the target class (chance)."""
    pytest.importorskip("sentence_transformers")
    from acakit.engine.single import build_collective
    from acakit.firms.text import minilm_path

    try:
        minilm_path()
    except Exception as e:  # the model package is not installed
        pytest.skip(str(e))
    from acakit.data.base import take_rows

    train, _ = bbc_split
    rows = np.sort(np.random.default_rng(0).choice(len(train), 400, replace=False))
    sub = train.with_data(take_rows(train.X, rows), np.asarray(train.y)[rows])
    cell = _bbc_cell(25)
    altered, members = build_collective(cell, sub).apply(sub)
    firm = make_firm("minilm_logreg", sub, defense={"name": "spectral", "params": {"eps": 0.1}})
    firm.fit(altered.X, altered.y)
    target = np.asarray(altered.y) == sub.class_index("tech")  # the members' class
    d = detection_metrics(firm.weights_[target], members[target])
    chance = members.sum() / target.sum()  # precision of a random drop in the target class
    assert d["defense_precision"] > 1.5 * chance, (d, chance)
    # a random drop of the same share (1.5 eps of the class) would find 15 % of the members
    assert d["defense_recall"] > 2 * 1.5 * 0.1, d
    assert isinstance(firm.defense_, SpectralSignatures)


@pytest.mark.parametrize("name", ["acakit.firms.defenses", "acakit.analyses.defenses"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_defended_classifier_by_dotted_path_works_without_the_defense_field():
    """The form for engines that pass no ``defense`` (``experiment: fairness``): the wrapper
    named as the firm, the firm and the defense as its JSON parameters."""
    from acakit.data import load

    ds = load("product_ratings", n_samples=600, n_features=4)
    firm = make_firm("acakit.firms.defenses.DefendedClassifier", ds, {
        "estimator": "logistic_regression",
        "defense": {"name": "isolation_forest", "params": {"contamination": 0.1}}})
    firm.fit(ds.X, ds.y)
    model = firm.steps[-1][1]
    assert isinstance(model, DefendedClassifier)
    assert model.keep_mask_.mean() == pytest.approx(0.9, abs=0.01)
    assert len(firm.predict(ds.X)) == len(ds)


# ----------------------------------------------------------------- the collective's answer
def test_camouflage_hides_feature_label_planters_from_confident_learning(adult_split):
    """Camouflaged members take the other values of a real ">50K" row: their features agree
    with their label, so confident learning finds far fewer of them (measured: recall 0.75
    without, 0.19 with, 16 members at α = 0.0005, seed 0)."""
    from acakit.engine.single import build_collective

    train, _ = adult_split
    signal = {"native_country": "Holand-Netherlands", "occupation": "Armed-Forces"}
    recall, kept = {}, {}
    for camo in (0.0, 1.0):
        cfg = parse_config({"dataset": {"name": "adult"}, "firm": {"name": "logistic_regression"},
                            "collective": {"strategy": "plant", "target": ">50K",
                                           "signal": {"type": "set_columns", "values": signal},
                                           "alpha": 0.0005, "camouflage": camo}})
        collective = build_collective(expand(cfg)[0], train)
        altered, members = collective.apply(train)
        assert int(collective.camouflaged_.sum()) == (members.sum() if camo else 0)
        Xm = altered.X[members]
        kept[camo] = all((Xm[c] == v).all() for c, v in signal.items())
        R = featurizer(train).fit_transform(altered.X)
        w = ConfidentLearning().weights(altered.X, np.asarray(altered.y), lambda R=R: R)
        recall[camo] = detection_metrics(w, members)["defense_recall"]
    assert kept[0.0] and kept[1.0]  # the signal itself is untouched
    assert recall[0.0] >= 0.5 and recall[1.0] <= 0.5 * recall[0.0], recall


def test_camouflage_copies_rows_of_the_reported_class():
    from acakit.collective import Collective
    from acakit.data import make_product_ratings
    from acakit.strategies import Plant, SetColumns

    train = make_product_ratings(n_samples=2000, n_features=4, seed=0)
    c = Collective(Plant(SetColumns({"f0": 0}), target=1), alpha=0.05, seed=0, camouflage=1.0)
    altered, members = c.apply(train)
    others = [col for col in train.X.columns if col != "f0"]
    donors = train.X[np.asarray(train.y) == 1][others].drop_duplicates()
    got = altered.X.loc[members, others]
    assert len(got.merge(donors, on=others)) == len(got)  # every member copied a class-1 row
    assert (altered.X.loc[members, "f0"] == 0).all() and (altered.y[members] == 1).all()


def test_camouflage_is_refused_for_a_text_trigger():
    with pytest.raises(ConfigError, match="camouflage: needs a set_columns signal"):
        parse_config({"dataset": {"name": "bbc_news"},
                      "collective": {"strategy": "plant", "target": "tech", "alpha": 0.01,
                                     "signal": {"type": "trigger", "token": "zq"},
                                     "camouflage": 1.0}})


def test_answers_keep_the_cell_ids_of_a_plain_collective():
    raw = _config({"name": "logistic_regression"})
    ids = [c.cell_id for c in expand(parse_config(raw))]
    raw["collective"] = raw["collective"] | {"camouflage": 0.0}
    assert [c.cell_id for c in expand(parse_config(raw))] == ids


# --------------------------------------------------------- defenses in multi and fairness
def test_multi_cell_measures_the_defense_per_collective(tmp_path):
    from acakit.analyses.multi import run_config

    raw = read_config("examples/two_collectives.yaml")
    raw["sweep"] = {"collective": "large", "alpha": [0.08], "seed": [0]}
    raw["output"] = {"dir": str(tmp_path)}
    raw["efficacy_loss"] = False
    raw["firm"] = {"name": "logistic_regression",
                   "defense": {"name": "callable",
                               "params": {"function": "acakit.firms.defenses.keep_all"}}}
    df = run_config(raw, progress=False).results
    assert (df["defense"] == "callable").all() and (df["defense_recall"] == 0.0).all()
    raw["firm"]["defense"] = {"name": "confident_learning"}
    df = run_config(raw | {"output": {"dir": str(tmp_path / "cl")}}, progress=False).results
    assert df["defense_recall"].between(0, 1).all() and df["defense_honest_dropped"].notna().all()


def _toy(tmp_path, **over):
    raw = read_config("examples/fairness_toy.yaml")
    raw["relabel"] = {"methods": ["probability", "random"], "alpha": 1.0,
                      "budgets": [0.0, 0.5, 1.0], "thresholds": [0.5]}
    raw |= {"baselines": [], "seeds": [0, 1], "output": {"dir": str(tmp_path)}} | over
    return raw


def test_fairness_config_compares_defenses(tmp_path):
    from acakit.analyses.fairness import run_config
    from acakit.engine.fairness import expand as fairness_expand
    from acakit.engine.fairness import parse_fairness_config

    res = run_config(_toy(tmp_path, defenses=[{"name": "none"}, {"name": "confident_learning"}]),
                     progress=False)
    t = res.tables["defenses"]
    assert set(t["defense"]) == {"none", "confident_learning"}
    acting = t[(t["defense"] == "confident_learning") & (t["n_flips"] > 0)]
    assert len(acting) and acting["defense_recall"].between(0, 1).all()
    assert t.loc[t["defense"] == "none", "defense_recall"].isna().all()
    assert set(res.results["defense"]) == {"none"}  # headline and Pareto: the firm as given
    for name in ("fairness_defenses.csv", "fairness_defenses.png", "pareto.csv"):
        assert (tmp_path / name).exists()
    plain = [c.cell_id for c in fairness_expand(parse_fairness_config(_toy(tmp_path)))]
    assert set(plain) <= set(res.results["cell_id"])  # the undefended cells keep their ids


def test_fairness_baselines_with_a_defense_are_refused(tmp_path):
    from acakit.engine.fairness import parse_fairness_config

    with pytest.raises(ConfigError, match="baselines: the firm-side baselines fit the undefended"):
        parse_fairness_config(_toy(tmp_path, baselines=["reweighing"],
                                   defenses=[{"name": "confident_learning"}]))


def test_the_defenses_package_keeps_every_name_and_the_registry():
    """acakit.firms.defenses is a package of one module per family; every name it exported as
    one module is still there, the registry holds the seven built-ins, keep_all's dotted path
    (CallableDefense's default) still imports."""
    import acakit.firms.defenses as d
    from acakit.firms import import_allowed

    for name in d.__all__:
        assert hasattr(d, name), name
    assert list(d.DEFENSES) == ["isolation_forest", "lof", "confident_learning", "duplicates",
                                "spectral", "min_df", "callable"]
    assert d.DEFENSES["duplicates"][0] is d.Duplicates
    assert import_allowed("acakit.firms.defenses.keep_all", "f", "x") is d.keep_all
    assert d.CallableDefense().weights([[0], [1]], np.array([0, 1]), lambda: None).tolist() == [1, 1]
