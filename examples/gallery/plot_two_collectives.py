"""
Two collectives: aligned vs conflicting
=======================================

Battiloro et al. (multiple collectives): two collectives plant the *same* signal on one firm.
A small one (α = 5%) keeps its size while a second one grows from 0 to 10% of the training
set; when both target ``rating_1`` they are aligned, when the second targets ``rating_2`` they
conflict. Data: ``product_ratings`` (synthetic, 8,000 rows, 3 classes), firm: the
empirical-Bayes classifier, members drawn without overlap, 3 seeds. Each line is the small
collective's success over all test points, mean over the seeds; bars span the seeds' min-max.
An aligned partner only helps; a conflicting one takes the signal over once it is the larger.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from acakit.analyses import run_experiment

OUT = Path(tempfile.gettempdir()) / "acakit-gallery" / "plot_two_collectives"
signal = {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}


def config(other_target: str) -> dict:
    return {
        "name": f"second collective targets {other_target}", "experiment": "multi",
        "dataset": {"name": "product_ratings",
                    "params": {"n_samples": 8000, "n_features": 4, "n_values": 3,
                               "n_classes": 3}},
        "firm": {"name": "empirical_bayes"}, "overlap": "disallow",
        "collectives": [{"name": "small", "signal": signal, "target": "rating_1", "alpha": 0.05},
                        {"name": "other", "signal": signal, "target": other_target,
                         "alpha": 0.05}],
        "sweep": {"collective": "other", "alpha": [0.0, 0.02, 0.04, 0.06, 0.08, 0.1],
                  "seed": [0, 1, 2]},
        "bounds": {"compute": False},
        "output": {"plot": False},  # the figure below puts both runs on one plot
    }


fig, ax = plt.subplots(figsize=(7, 4.5))
for target, label in (("rating_1", "aligned (same target)"),
                      ("rating_2", "conflicting (other target)")):
    res = run_experiment(config(target), out_dir=str(OUT / target), progress=False)
    small = res.results[res.results["name"] == "small"]
    g = small.groupby("sweep_alpha")["success_all"]
    m = g.mean()
    ax.errorbar(m.index, m, yerr=[m - g.min(), g.max() - m], fmt="o-", capsize=3, label=label)
    print(label, m.round(3).to_dict())
ax.set_xlabel("α of the second collective")
ax.set_ylabel("success of the small collective (α = 5%)")
ax.set_ylim(-0.02, 1.02)
ax.set_title("two collectives, one signal", fontsize="medium")
ax.grid(alpha=0.3)
ax.legend()
