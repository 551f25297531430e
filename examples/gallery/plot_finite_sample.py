"""
Finite-sample bound vs measured success
=======================================

Gauthier, Bach and Jordan (ICML 2025) add Hoeffding terms sqrt(log(1/δ)/(2n)) to Hardt et
al.'s bound, so that it holds with probability 1 − δ for a firm trained on n points rather
than on the distribution itself. Here the training set is small (``product_ratings``, 3,000
rows, 2,100 for training) and δ = 0.05: the figure shows the measured success over all test
points (mean over 3 seeds, band a 95% t-interval over the seeds), the infinite-data bound and
the finite-sample bound, with Δ and ξ estimated on the training split (bootstrap, 200
resamples). At this n the finite-sample bound stays below 0 at every size: with 2,100 rows
the Hoeffding terms outweigh the collective, and only a larger training set makes the
guarantee informative (the infinite-data bound passes 0.9 near α = 0.2).
"""

# %%
import shutil
import tempfile
from pathlib import Path

import yaml

from acakit.analyses.planning import plan_config, plot_plan

OUT = Path(tempfile.gettempdir()) / "acakit-gallery" / "plot_finite_sample"
OUT.mkdir(parents=True, exist_ok=True)
RUN = OUT.parent / "plot_finite_sample-run"  # the sweep's store: a fresh one each build
shutil.rmtree(RUN, ignore_errors=True)
config = {
    "name": "finite-sample bound, 2,100 training rows",
    "dataset": {"name": "product_ratings",
                "params": {"n_samples": 3000, "n_features": 4, "n_values": 3, "n_classes": 3}},
    "firm": {"name": "empirical_bayes"},
    "collective": {"strategy": "plant", "target": "rating_1",
                   "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}},
    "sweep": {"alpha": [0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3], "seed": [0, 1, 2]},
    "output": {"dir": str(RUN)},
}
path = OUT / "config.yaml"
path.write_text(yaml.safe_dump(config))
plan = plan_config(path, target=0.9, delta=0.05, simulate=True, jobs=1)
cols = [c for c in ("alpha", "bound", "finite_bound", "measured_success_all") if c in plan.table]
print(plan.table[cols].round(3).to_string(index=False))
plot_plan(plan, OUT / "finite_sample", title=config["name"])
