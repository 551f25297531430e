"""Intervals over seeds and the trivial-firm guard, through the public analyses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t

from acakit.analyses import trivial_firm_lines
from acakit.analyses.curves import seed_estimate, summarize
from acakit.analyses.fairness_tables import headline_table
from acakit.metrics import WITHIN_RUN_METHOD, binomial_ci, seed_interval, trivial_firm


def _single_results(rates: list[float], n: int = 2000) -> pd.DataFrame:
    """A results table of one α with one row per seed (what the engine writes)."""
    return pd.DataFrame({
        "variant": "base", "alpha_requested": 0.01, "alpha": 0.01, "n_members": 10.0,
        "seed": range(len(rates)), "success": rates, "success_n": n,
        "accuracy": 0.8, "clean_accuracy": 0.8, "firm": "logistic_regression",
    })


def test_summary_interval_is_the_t_interval_over_seeds_when_seeds_disagree():
    rates = [0.115, 0.189, 0.281]  # the gradient boosting seeds
    s = summarize(_single_results(rates)).iloc[0]
    m, sd = np.mean(rates), np.std(rates, ddof=1)
    half = t.ppf(0.975, 2) * sd / np.sqrt(3)
    assert s["success"] == pytest.approx(m, abs=1e-12)
    assert s["success_lo"] == pytest.approx(max(0.0, m - half), abs=1e-12)
    assert s["success_hi"] == pytest.approx(m + half, abs=1e-12)
    # far wider than the pooled-counts Wilson interval the summary used to print (0.183-0.208)
    w_lo, w_hi = binomial_ci(round(sum(rates) * 2000), 6000)
    assert s["success_hi"] - s["success_lo"] > 5 * (w_hi - w_lo)
    assert s["interval"].startswith("t over 3 seeds")
    # every seed's rate is inside the band: it covers the spread between seeds
    assert s["success_lo"] <= min(rates) and max(rates) <= s["success_hi"]


def test_agreeing_seeds_keep_the_test_set_uncertainty_and_one_seed_says_within_run():
    s = summarize(_single_results([1.0, 1.0, 1.0], n=50)).iloc[0]
    lo, hi = binomial_ci(150, 150)
    assert s["success_lo"] == pytest.approx(lo) and s["success_lo"] < 1.0 and s["success_hi"] == hi
    one = summarize(_single_results([0.4], n=100)).iloc[0]
    assert one["interval"] == WITHIN_RUN_METHOD
    assert (one["success_lo"], one["success_hi"]) == pytest.approx(binomial_ci(40, 100))
    assert np.isnan(one["success_sd"])


def test_seed_interval_and_estimate_edge_cases():
    assert np.isnan(seed_interval([])[0])
    m, lo, hi = seed_interval([0.5, np.nan])
    assert m == 0.5 and np.isnan(lo) and np.isnan(hi)
    e = seed_estimate([0.2, 0.4], None)
    assert e["seeds"] == 2 and 0 <= e["lo"] < 0.2 and e["hi"] > 0.4
    assert e["lo"] == 0.0  # clipped: a rate is never negative


def test_trivial_firm_reasons():
    y = np.r_[np.zeros(92, int), np.ones(8, int)]
    assert "one class (0) on 100.0%" in trivial_firm(np.zeros(100, int), y)
    pred = y.copy()
    pred[:9] = 1  # 9 false positives, accuracy 0.91 < majority rate 0.92
    assert "does not beat the majority-class rate 0.920" in trivial_firm(pred, y)
    assert trivial_firm(y, y) == ""


def test_a_trivial_clean_firm_gets_a_warning_line_naming_it():
    r = _single_results([0.1, 0.2])
    r["cell_id"] = ["a", "b"]
    r["trivial_firm"] = ["predicts one class (no) on 100.0% of test points", ""]
    lines = trivial_firm_lines(r)
    assert len(lines) == 1 and "logistic_regression" in lines[0] and "1 of 2 cells" in lines[0]
    assert trivial_firm_lines(r.assign(trivial_firm="")) == []


def test_fairness_headline_marks_a_baseline_that_predicts_one_class():
    rows = []
    for seed in range(3):
        common = {"seed": seed, "alpha": np.nan, "n_flips": np.nan, "majority_sample": "all",
                  "mode": np.nan, "budget": np.nan, "threshold": np.nan}
        rows.append(common | {"kind": "no_action", "method": "none", "error": 0.30 + seed / 100,
                              "eo_gap": 0.20 + seed / 50, "dp_gap": 0.2, "trivial_firm": "",
                              "selection_minority": 0.2, "selection_majority": 0.5})
        rows.append(common | {"kind": "baseline", "method": "threshold_eo", "error": 0.08,
                              "eo_gap": 0.0, "dp_gap": 0.0, "selection_minority": 0.0,
                              "selection_majority": 0.0,
                              "trivial_firm": "predicts one class (0) on 100.0% of test points"})
    head = headline_table(pd.DataFrame(rows), alpha=0.3).set_index("what")
    assert head.loc["firm: threshold_eo", "trivial"] == 1.0
    assert head.loc["no action", "trivial"] == 0.0
    assert head.loc["firm: threshold_eo", "selection_minority"] == 0.0
    gaps = [0.20, 0.22, 0.24]
    half = t.ppf(0.975, 2) * np.std(gaps, ddof=1) / np.sqrt(3)
    assert head.loc["no action", "eo_gap_hi"] == pytest.approx(0.22 + half)


def test_a_one_class_firm_is_flagged_in_the_results_and_under_the_table(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from acakit.cli import app

    monkeypatch.setenv("ACAKIT_CACHE_DIR", str(tmp_path / "cache"))
    cfg = tmp_path / "dummy.yaml"
    cfg.write_text(
        "name: dummy\n"
        "dataset: {name: product_ratings, params: {n_samples: 1500, n_features: 4}}\n"
        "firm: {name: sklearn.dummy.DummyClassifier}\n"
        "collective: {strategy: plant, target: rating_1,\n"
        "             signal: {type: set_columns, values: {f0: 0, f1: 0}}}\n"
        f"sweep: {{alpha: [0.0, 0.05], seed: [0, 1]}}\n"
        f"output: {{dir: {tmp_path / 'out'}, plot: false}}\n")
    res = CliRunner().invoke(app, ["run", str(cfg), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "warning: trivial firm sklearn.dummy.DummyClassifier" in res.output
    assert "in 4 of 4 cells" in res.output
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert table["trivial_firm"].str.contains("one class").all()


@pytest.mark.slow
def test_seed_interval_covers_the_mean_success_in_at_least_90_percent_of_repetitions():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from bench_coverage import coverage

    c = coverage(reps=100, truth_seeds=400, jobs=2)
    assert c["coverage"] >= 0.90, c
    assert c["coverage"] > c["coverage_pooled_wilson"], c  # what the pooled interval missed
