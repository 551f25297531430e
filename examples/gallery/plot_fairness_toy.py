"""
Minority collective for fairness: the toy, the Pareto frontier and flip efficiency
==================================================================================

Ben-Dov et al.'s toy example: two groups follow a logistic rule on two Gaussian features, the
minority's rule harsher (logit shift 1.5); the firm fits logistic regression on 400 training
rows (about 40 of them minority) and sees the group. The whole minority is the collective
(α = 1 of the minority) and flips some of its unfavourable labels, ranked by a model of the
majority's P(y = 1 | x) (``probability``), by its nearest majority neighbours' labels
(``label``) or distances (``distance``), or at random. Firm-side baselines (ThresholdOptimizer,
reweighing) are on the same axes. Numbers: means over 3 seeds of the equalized-odds gap and
the error on 3,600 test rows; bars ±1 standard error over seeds. The first figure is the
gap against the number of flips: a handful of well-chosen flips does most of the work, and
flipping every candidate overshoots. The second is the Pareto frontier (error vs gap over
budgets) with, on the right, the paper's success S = P0[f(g(x)) = f(x)] against the gap
(dotted: S_min, its share among minority points only).
"""

# %%
import tempfile
from pathlib import Path

from acakit.analyses import run_experiment

OUT = Path(tempfile.gettempdir()) / "acakit-gallery" / "plot_fairness_toy"
config = {
    "name": "toy: two-group logistic regression", "experiment": "fairness",
    "dataset": {"name": "minority_synthetic",
                "params": {"n_samples": 4000, "minority_share": 0.1, "n_features": 2,
                           "bias": 1.5, "intercept": 0.0, "minority_shift": 0.0},
                "test_size": 0.9},
    "groups": {"minority": {"group": "minority"}, "favorable": "positive"},
    "firm": {"name": "logistic_regression"},
    "relabel": {"methods": ["probability", "label", "distance", "random"], "alpha": 1.0,
                "budgets": [0.0, 0.1, 0.2, 0.3, 0.5, 1.0], "thresholds": []},
    "baselines": ["threshold_eo", "reweighing"],
    "seeds": [0, 1, 2],
    "analyses": ["pareto", "efficiency"],
}
res = run_experiment(config, out_dir=str(OUT), progress=False)
print(res.headline()[["what", "setting", "n_flips", "error", "eo_gap", "cf_success",
                      "cf_success_minority"]].round(3).to_string(index=False))
