"""Every kind of figure acakit draws, from small runs: no legend over a data point, no text over
another (matplotlib's window extents, :func:`acakit.analyses.style.layout_problems`), legends in
words and heat maps with their values (:func:`acakit.analyses.labels.label_problems`), and the
trivial-firm flag carried by summary.csv and the success figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from acakit.analyses import run_experiment
from acakit.analyses.labels import label_problems
from acakit.analyses.style import FIGURE_CHECKS, layout_problems

RAT = {"name": "product_ratings", "params": {"n_samples": 1500, "n_features": 4}}
SIG = {"type": "set_columns", "values": {"f3": 9}}


@pytest.fixture
def checked_figures():
    """Every figure written during the test, with its layout problems."""
    seen: dict[str, list[str]] = {}

    def check(fig, path):
        seen[str(path)] = layout_problems(fig) + label_problems(fig)

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
    titles: dict[str, str] = {}

    def keep_titles(fig, path):
        titles[Path(path).name] = " ".join(ax.get_title() for ax in fig.axes)

    FIGURE_CHECKS.append(keep_titles)
    try:
        run_experiment(cfg, jobs=1, progress=False, store=False)
    finally:
        FIGURE_CHECKS.remove(keep_titles)
    _assert_clean(checked_figures, 1)
    # the bars are the interval the tables print (95% t over the seeds), not ±1 s.e.
    assert "bars: 95% t over 2 seeds" in titles["flip_efficiency"], titles


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
    fig, ax = plt.subplots(figsize=(4, 3))
    for k in range(8):
        ax.plot(x, np.full_like(x, k / 7), label=f"name=isolation_forest contamination=0.0{k}")
    place_legend(ax)
    fig.tight_layout()  # after an outside legend: the axes shrink to make room for it
    assert any("squeezed" in p for p in layout_problems(fig)), layout_problems(fig)
    plt.close(fig)


def test_outside_legends_of_side_by_side_panels_overlap_nothing():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from acakit.analyses.style import place_legend, tight_layout

    x = np.linspace(0, 1, 20)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax in axes:
        for k in range(8):
            ax.plot(x, x * k, label=f"collective: method number {k}")
        ax.set_ylabel("a label on the left of the panel")
        place_legend(ax, fontsize="x-small")  # 8 entries: outside, right of the panel
    tight_layout(fig)
    assert layout_problems(fig) == []  # the left legend keeps its room before the right panel
    plt.close(fig)


def test_legend_labels_are_wrapped_never_cut_and_lines_stay_distinct():
    from acakit.analyses.style import line_styles, short_label

    a = "token=zqxv strategy=plant eligibility=any name=tfidf_char C=100 sublinear_tf=False"
    b = "token=zqxv strategy=plant eligibility=any name=tfidf_char C=100"
    la, lb = short_label(a), short_label(b)
    assert la != lb and "…" not in la + lb
    assert la.replace("\n", " ") == a and all(len(line) <= 40 for line in la.splitlines())
    styles = line_styles(16, ["r", "g", "b"])
    assert len(set(styles)) == 16  # more lines than colours: the marker changes


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
    drawn: list = []

    def keep(fig, path):
        drawn.append(([t.get_text() for ax in fig.axes for t in ax.texts],
                      [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]))

    FIGURE_CHECKS.append(keep)
    try:
        r = CliRunner().invoke(app, ["multi-heatmap", str(path), "--alphas",
                                     "0.01,0.02,0.04,0.06,0.08", "--out", str(tmp_path / "heat")])
    finally:
        FIGURE_CHECKS.remove(keep)
    assert r.exit_code == 0, r.output
    _assert_clean(checked_figures, 1)
    (texts, bars), = drawn
    # every cell of the 5 x 5 grid, measured and bound, aligned and conflicting, shows its value
    numbers = [t for t in texts if t.replace(".", "", 1).isdigit()]
    assert len(numbers) == 4 * 25, texts
    assert bars and "success" in bars[0]  # the colour bar says what the colour is


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _fake_single_results(cells: list) -> pd.DataFrame:
    """Every cell of an example with its real variant label, size and seed, made-up metrics
    (a rising curve with noise), no fitting."""
    rng = np.random.default_rng(0)
    rows = []
    for c in cells:
        a = c.collective.alpha if c.collective.alpha is not None else 0.01
        n = 1000
        s = float(np.clip(1 - np.exp(-300 * a) + rng.normal(0, 0.05), 0, 1))
        row = {"cell_id": c.cell_id, "variant": c.variant, "dataset": c.dataset.name,
               "firm": c.firm.name, "strategy": c.collective.strategy,
               "target": c.collective.target, "alpha": a, "alpha_requested": a,
               "n_members": round(a * n), "n_train": n, "seed": c.seed,
               "success": s, "success_n": 500, "success_all": s, "success_all_n": 700,
               "erasure_success": s, "erasure_success_n": 500,
               "accuracy": 0.9 - 0.01 * rng.uniform(), "clean_accuracy": 0.9,
               "trivial_firm": "", "fit_warnings": ""}
        if c.firm.defense is not None:
            row |= {"defense": c.firm.defense.name, "defense_recall": rng.uniform(),
                    "defense_precision": rng.uniform(), "defense_honest_dropped": 0.05 * rng.uniform(),
                    "defense_seconds": 0.1}
        rows.append(row)
    return pd.DataFrame(rows)


def _example_configs(kind: str) -> list[Path]:
    from acakit.engine.config import read_config

    return [p for p in sorted(EXAMPLES.glob("*.yaml"))
            if read_config(p).get("experiment", "collective") == kind]


@pytest.mark.slow
@pytest.mark.parametrize("path", _example_configs("collective"), ids=lambda p: p.stem)
def test_every_single_collective_example_draws_clean_figures(path, tmp_path, checked_figures):
    """The figures of each example (its real labels, sizes and grid; made-up numbers) hide no
    data under a legend and no text under another."""
    from acakit.analyses.single import analyze
    from acakit.engine.config import load_config

    cfg, cells = load_config(path)
    cfg = cfg.model_copy(update={"game": None}) if getattr(cfg, "game", None) else cfg
    analyze(cfg, _fake_single_results(cells), tmp_path)
    if cfg.output.plot:
        _assert_clean(checked_figures, 1)


@pytest.mark.slow
@pytest.mark.parametrize("path", _example_configs("multi"), ids=lambda p: p.stem)
def test_every_multi_collective_example_draws_clean_figures(path, tmp_path, checked_figures):
    from acakit.analyses.multi import analyze
    from acakit.engine import experiment_module
    from acakit.engine.config import read_config

    mod = experiment_module("multi")
    cfg = mod.parse_config(read_config(path))
    rng = np.random.default_rng(0)
    rows = []
    for c in mod.expand(cfg):
        for k, col in enumerate(c.collectives):
            a = col.alpha if col.alpha is not None else 0.01
            s = float(np.clip(1 - np.exp(-200 * a) + rng.normal(0, 0.05), 0, 1))
            rows.append({"cell_id": c.cell_id, "variant": c.variant, "name": col.name,
                         "sweep_alpha": np.nan if c.sweep_alpha is None else c.sweep_alpha,
                         "sweep_collective": c.sweep_collective or "", "alpha": a,
                         "seed": c.seed, "success_all": s, "success_all_n": 500, "success": s,
                         "success_n": 400, "bound_worst": s - 0.3, "bound_aggregate": s - 0.2,
                         "bound_full": s - 0.1, "finite_full": s - 0.4, "accuracy": 0.9,
                         "label_entropy": 1.0, "size_entropy": 1.0, "mean_jaccard": 0.0,
                         "mean_overlap": 1.0, "collective_index": k})
    analyze(cfg, pd.DataFrame(rows), tmp_path)
    if cfg.output.plot:
        _assert_clean(checked_figures, 1)


def test_realised_sizes_are_labelled_to_three_digits():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from acakit.analyses.style import alpha_axis

    fig, ax = plt.subplots()
    sizes = [0.0, 0.0505449, 0.0505451, 0.199021, 0.499131, 1.99968]
    ax.plot(sizes, [0, 0.1, 0.1, 0.3, 0.6, 0.9])
    alpha_axis(ax, sizes)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["0", "0.0505", "0.199", "0.499", "2"], labels
    plt.close(fig)


def test_entropy_plot_states_its_spearman_rho(tmp_path):
    """ρ, the number the multi-entropy command prints, is on the figure it draws."""
    from scipy.stats import spearmanr

    from acakit.analyses.multi_plots import plot_entropy
    from acakit.multi.analyses import entropy_correlations

    study = pd.DataFrame({"label_entropy": [0.0, 0.5, 1.0, 1.5], "size_entropy": [1.0, 1.2, 1.1, 1.3],
                          "weighted_success": [0.9, 0.7, 0.8, 0.5],
                          "global_success": [0.5, 0.4, 0.3, 0.2]})
    rho = entropy_correlations(study)
    assert rho["label_entropy"] == pytest.approx(
        spearmanr(study["label_entropy"], study["weighted_success"]).statistic)
    titles: list = []

    def keep(fig, path):
        titles.extend(ax.get_title() for ax in fig.axes)

    FIGURE_CHECKS.append(keep)
    try:
        plot_entropy(study, tmp_path / "entropy")
    finally:
        FIGURE_CHECKS.remove(keep)
    assert f"ρ (size-weighted) = {rho['label_entropy']:.2f}" in titles[0]
    assert f"ρ (size-weighted) = {rho['size_entropy']:.2f}" in titles[1]


def test_report_style_paper_draws_one_column_wide_with_a_vector_pdf(tmp_path):
    from typer.testing import CliRunner

    from acakit.analyses import report, run_experiment
    from acakit.analyses.style import COLUMN_WIDTH
    from acakit.cli import _register_plugins, app

    cfg = {"name": "paper", "dataset": {"name": "gaussian_mixture", "params": {"n_samples": 300}},
           "collective": {"signal": {"type": "shift", "shift": 3.0}, "target": 1},
           "sweep": {"alpha": [0.02, 0.1], "seed": [0, 1]}, "output": {"dir": str(tmp_path)}}
    run_experiment(cfg, progress=False, store=True)
    sizes: list = []

    def keep(fig, path):
        sizes.append(tuple(fig.get_size_inches()))

    FIGURE_CHECKS.append(keep)
    try:
        res = report(tmp_path / "results.sqlite", tmp_path / "paper", style="paper")
    finally:
        FIGURE_CHECKS.remove(keep)
    assert (tmp_path / "paper" / "success.pdf").read_bytes().startswith(b"%PDF")
    assert tmp_path / "paper" / "success.pdf" in res.files
    assert sizes and all(abs(w - COLUMN_WIDTH) < 1e-9 for w, _ in sizes)
    import matplotlib as mpl

    assert mpl.rcParams["font.size"] != 7  # the style sheet does not leak out of the report
    _register_plugins()
    r = CliRunner().invoke(app, ["report", str(tmp_path / "results.sqlite"), "--style", "poster"])
    assert r.exit_code == 2 and "--style: 'poster' is not one of default, paper" in r.output


def test_a_one_seed_run_says_so_on_every_figure_and_legends_are_words(tmp_path):
    """Every figure of a 1-seed run carries "1 seed, no interval"; a 2-seed run's do not; the
    legend names a defense in words."""
    import matplotlib

    from acakit.analyses.style import ONE_SEED

    texts: dict[str, list[str]] = {}

    def keep(fig, path):
        texts[str(path)] = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]

    cfg = {"name": "one seed", "dataset": RAT, "firm": {"name": "logistic_regression"},
           "collective": {"strategy": "plant", "target": "rating_1", "signal": SIG},
           "sweep": {"alpha": [0.0, 0.05], "seed": [0],
                     "grid": {"firm.defense": [{"name": "none"}, {"name": "isolation_forest"}]}},
           "output": {"dir": str(tmp_path / "one")}}
    FIGURE_CHECKS.append(keep)
    try:
        run_experiment(cfg, jobs=1, progress=False, store=False)
        one = dict(texts)
        texts.clear()
        cfg["sweep"]["seed"] = [0, 1]
        cfg["output"]["dir"] = str(tmp_path / "two")
        run_experiment(cfg, jobs=1, progress=False, store=False)
    finally:
        FIGURE_CHECKS.remove(keep)
    assert one and all(ONE_SEED in t for t in one.values()), one
    assert texts and not any(ONE_SEED in t for t in texts.values())
    assert any("isolation forest" in t for t in one.values()), one


def test_legend_labels_in_words_and_a_configs_labels_override_them():
    from acakit.analyses.labels import label_overrides, legend_labels

    variants = ['collective={"strategy": "plant", "eligibility": "any"}',
                'collective={"strategy": "plant_feature_only", "eligibility": "target"}']
    assert legend_labels(variants) == ["feature-label planting (eligibility: any)",
                                       "feature-only planting (eligibility: target)"]
    assert legend_labels(["base"]) == ["measured"]
    noise = ['tech.alpha=0.02, tech.noise={"p_drop":0.0,"p_label":0.0}',
             'tech.alpha=0.04, tech.noise={"p_drop":0.1,"p_label":0.1}']
    assert legend_labels(noise) == ["α: 0.02, noise q: 0", "α: 0.04, noise q: 0.2"]
    with label_overrides({"plant": "Hardt: feature-label", variants[1]: "feature only"}):
        assert legend_labels(variants) == ["Hardt: feature-label (eligibility: any)", "feature only"]
    assert legend_labels(variants)[0].startswith("feature-label")  # the override ends with the block


def _game_config(tmp: Path) -> dict:
    from test_game import _e2e_config

    return _e2e_config(tmp)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gradient_control_synthetic", "game"])
def test_the_other_kinds_draw_words_and_labelled_heat_maps(name, tmp_path, checked_figures):
    """The kinds the fake-results tests above do not cover, run for real on their example (or,
    for the game, the 16-cell game of tests/test_game.py): every figure passes the layout and
    label checks (no `=` in a legend, values in every heat-map cell, labelled colour bars).
    The fairness figures are checked by test_fairness_figures (the fairness examples take
    minutes)."""
    import yaml

    cfg = _game_config(tmp_path) if name == "game" else yaml.safe_load(
        (EXAMPLES / f"{name}.yaml").read_text())
    cfg["output"] = {**cfg.get("output", {}), "dir": str(tmp_path / "out")}
    run_experiment(cfg, jobs=1, progress=False, store=False)
    _assert_clean(checked_figures, 2 if name == "game" else 1)


def test_a_configs_labels_name_the_legend_and_change_no_id(tmp_path):
    """``labels:`` renames a defense in the legend (a "$" stays a dollar sign), leaves every
    cell id and the experiment's fingerprint as they were, and a bad entry is one error line."""
    import matplotlib

    from acakit.engine.config import ConfigError, expand, parse_config
    from acakit.engine.owner import experiment_fingerprint

    cfg = {"name": "labels", "dataset": RAT, "firm": {"name": "logistic_regression"},
           "collective": {"strategy": "plant", "target": "rating_1", "signal": SIG},
           "sweep": {"alpha": [0.0, 0.05], "seed": [0],
                     "grid": {"firm.defense": [{"name": "none"}, {"name": "isolation_forest"}]}},
           "output": {"dir": str(tmp_path)}}
    named = cfg | {"labels": {"isolation_forest": "IF ($5 filter)", "none": "undefended"}}
    plain, labelled = parse_config(cfg), parse_config(named)
    assert [c.cell_id for c in expand(plain)] == [c.cell_id for c in expand(labelled)]
    assert experiment_fingerprint(plain) == experiment_fingerprint(labelled)
    assert "labels" not in plain.model_dump(mode="json")
    legends: list[str] = []

    def keep(fig, path):
        legends.extend(t.get_text() for ax in fig.axes if ax.get_legend()
                       for t in ax.get_legend().get_texts())
        fig.canvas.draw()  # mathtext would fail on an unescaped "$"

    FIGURE_CHECKS.append(keep)
    try:
        run_experiment(named, jobs=1, progress=False, store=False)
    finally:
        FIGURE_CHECKS.remove(keep)
    assert "IF (\\$5 filter)" in legends and "undefended" in legends, legends
    assert matplotlib.rcParams["text.usetex"] is False
    with pytest.raises(ConfigError, match="labels"):
        parse_config(cfg | {"labels": {"none": ""}})
