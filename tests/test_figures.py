"""Every kind of figure acakit draws, from small runs: no legend over a data point, no text over
another (matplotlib's window extents, :func:`acakit.analyses.style.layout_problems`), and the
trivial-firm flag carried by summary.csv and the success figure."""

from __future__ import annotations

import pandas as pd
import pytest

from acakit.analyses import run_experiment
from acakit.analyses.style import FIGURE_CHECKS, layout_problems

RAT = {"name": "product_ratings", "params": {"n_samples": 1500, "n_features": 4}}
SIG = {"type": "set_columns", "values": {"f3": 9}}


@pytest.fixture
def checked_figures():
    """Every figure written during the test, with its layout problems."""
    seen: dict[str, list[str]] = {}

    def check(fig, path):
        seen[str(path)] = layout_problems(fig)

    FIGURE_CHECKS.append(check)
    yield seen
    FIGURE_CHECKS.remove(check)


def _assert_clean(seen: dict[str, list[str]], at_least: int) -> None:
    assert len(seen) >= at_least, sorted(seen)
    bad = {p: v for p, v in seen.items() if v}
    assert not bad, bad


def test_success_figure_with_many_variants_and_a_trivial_firm(tmp_path, checked_figures):
    cfg = {"name": "Ratings: eight firms x two signals", "dataset": RAT,
           "firm": {"name": "logistic_regression"},
           "collective": {"strategy": "plant", "target": "rating_1", "signal": SIG},
           "sweep": {"alpha": [0.0, 0.01, 0.05], "seed": [0, 1],
                     "grid": {"firm.name": ["logistic_regression", "empirical_bayes",
                                            "sklearn.dummy.DummyClassifier", "random_forest"],
                              "collective.signal.values": [{"f3": 9}, {"f3": 9, "f2": 9}]}},
           "output": {"dir": str(tmp_path)}}
    res = run_experiment(cfg, jobs=1, progress=False, store=False)
    _assert_clean(checked_figures, 1)
    summary = pd.read_csv(tmp_path / "summary.csv", keep_default_na=False)
    assert {"trivial_firm", "trivial_seeds"} <= set(summary.columns)
    dummy = summary["variant"].str.contains("DummyClassifier")
    assert (summary.loc[dummy, "trivial_firm"] != "").all()
    assert (summary.loc[dummy, "trivial_seeds"] == 2).all()
    assert (summary.loc[~dummy, "trivial_firm"] == "").all()
    assert res.summary is not None


def test_the_success_figure_marks_the_trivial_firm(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from acakit.analyses import curves

    drawn = {}

    def keep(fig, path):
        drawn["texts"] = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
        drawn["hatches"] = [c.get_hatch() for ax in fig.axes for c in ax.collections]

    FIGURE_CHECKS.append(keep)
    try:
        cfg = {"name": "trivial", "dataset": RAT, "firm": {"name": "sklearn.dummy.DummyClassifier"},
               "collective": {"strategy": "plant", "target": "rating_1", "signal": SIG},
               "sweep": {"alpha": [0.0, 0.05], "seed": [0]}, "output": {"dir": str(tmp_path)}}
        run_experiment(cfg, jobs=1, progress=False, store=False)
    finally:
        FIGURE_CHECKS.remove(keep)
    assert "///" in drawn["hatches"]
    assert any("(trivial firm)" in t for t in drawn["texts"])
    assert any(t.startswith("hatched: the clean firm is trivial") for t in drawn["texts"])
    assert curves.save_figure  # the one writer every figure goes through


def test_defense_figures(tmp_path, checked_figures):
    cfg = {"name": "Ratings: defenses x answers", "dataset": RAT,
           "firm": {"name": "logistic_regression"},
           "collective": {"strategy": "plant", "target": "rating_1", "signal": SIG},
           "sweep": {"alpha": [0.0, 0.02, 0.05], "seed": [0],
                     "grid": {"firm.defense": [{"name": "none"},
                                               {"name": "isolation_forest"},
                                               {"name": "duplicates"}],
                              "collective.camouflage": [0.0, 1.0]}},
           "output": {"dir": str(tmp_path)}}
    run_experiment(cfg, jobs=1, progress=False, store=False)
    _assert_clean(checked_figures, 2)


def test_multi_collective_figures(tmp_path, checked_figures):
    cfg = {"name": "two collectives", "experiment": "multi", "dataset": RAT,
           "firm": {"name": "empirical_bayes"},
           "collectives": [{"name": "a", "signal": SIG, "target": "rating_1", "alpha": 0.03},
                           {"name": "b", "signal": SIG, "target": "rating_2", "alpha": 0.02}],
           "sweep": {"collective": "b", "alpha": [0.0, 0.02, 0.04], "seed": [0, 1]},
           "output": {"dir": str(tmp_path)}}
    run_experiment(cfg, jobs=1, progress=False, store=False)
    _assert_clean(checked_figures, 1)


def test_fairness_figures(tmp_path, checked_figures):
    cfg = {"name": "minority relabeling", "experiment": "fairness",
           "dataset": {"name": "minority_synthetic", "params": {"n_samples": 1000}},
           "groups": {"minority": {"group": "minority"}, "favorable": "positive"},
           "relabel": {"methods": ["probability", "random"], "alpha": 0.5,
                       "budgets": [0.0, 0.5, 1.0]},
           "baselines": ["reweighing"], "seeds": [0, 1], "analyses": ["pareto", "efficiency"],
           "output": {"dir": str(tmp_path)}}
    run_experiment(cfg, jobs=1, progress=False, store=False)
    _assert_clean(checked_figures, 1)


def test_the_layout_check_sees_a_legend_on_data_and_overlapping_texts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from acakit.analyses.style import place_legend

    x = np.linspace(0, 1, 50)
    fig, ax = plt.subplots(figsize=(4, 3))
    for k in range(8):
        ax.plot(x, np.full_like(x, k / 7), label=f"variant {k}")
    ax.legend(loc="center")  # over the lines
    ax.text(0.5, 0.5, "a note on the data")
    ax.text(0.5, 0.5, "another note")
    problems = layout_problems(fig)
    assert any("covers a data point" in p for p in problems)
    assert any("texts overlap" in p and "another note" in p for p in problems)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4, 3))
    for k in range(8):
        ax.plot(x, np.full_like(x, k / 7), label=f"variant {k}")
    place_legend(ax)  # 8 entries: outside
    assert layout_problems(fig) == []
    plt.close(fig)


def test_multi_heatmap_figure(tmp_path, checked_figures):
    import json

    from typer.testing import CliRunner

    from acakit.cli import _register_plugins, app

    _register_plugins()
    cfg = {"name": "two collectives", "experiment": "multi", "dataset": RAT,
           "firm": {"name": "empirical_bayes"},
           "collectives": [{"name": "a", "signal": SIG, "target": "rating_1", "alpha": 0.03},
                           {"name": "b", "signal": {"type": "set_columns", "values": {"f2": 9}},
                            "target": "rating_2", "alpha": 0.02}],
           "sweep": {"seed": [0]}, "output": {"dir": str(tmp_path)}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(cfg))
    r = CliRunner().invoke(app, ["multi-heatmap", str(path), "--alphas", "0.01,0.02,0.04,0.06,0.08",
                                 "--out", str(tmp_path / "heat")])
    assert r.exit_code == 0, r.output
    _assert_clean(checked_figures, 1)
