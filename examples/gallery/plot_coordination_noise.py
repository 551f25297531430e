"""
Coordination noise: a bigger but noisier collective
===================================================

After Karan et al. ("Sync or Sink"): each member of a planting collective independently drops
out, plants a perturbed signal, or reports a wrong label, each with a third of the noise level
q. Data: ``product_ratings`` (synthetic, 8,000 rows), firm: empirical Bayes, two sizes (3% and
6% of the training set), q from 0 to 0.8, 3 seeds. Each line is one size's success over all test
points, mean over the seeds, bars the seeds' min-max. Read across the lines: the collective
twice as large with noise q = 0.6 does worse than the smaller one acting in sync (q = 0). (The
full-size text version is ``examples/noise_bbc.yaml``.)
"""

# %%
import tempfile
from pathlib import Path

from acakit.analyses import run_experiment
from acakit.analyses.tables import short_variants

OUT = Path(tempfile.gettempdir()) / "acakit-gallery" / "plot_coordination_noise"


def noise(q: float) -> dict:
    if q == 0:
        return {"p_drop": 0.0}
    third = round(q / 3, 4)
    return {"p_drop": third, "p_signal": third, "p_label": round(q - 2 * third, 4),
            "perturb": {"kind": "value", "values": {"f0": 1}}}


config = {
    "name": "coordination noise, two sizes", "experiment": "multi",
    "dataset": {"name": "product_ratings",
                "params": {"n_samples": 8000, "n_features": 4, "n_values": 3, "n_classes": 3}},
    "firm": {"name": "empirical_bayes"},
    "collectives": [{"name": "c", "target": "rating_1", "alpha": 0.03,
                     "signal": {"type": "set_columns", "values": {"f0": 0, "f1": 0, "f2": 0}}}],
    "sweep": {"seed": [0, 1, 2],
              "grid": {"c.alpha": [0.03, 0.06],
                       "c.noise": [noise(q) for q in (0.0, 0.2, 0.4, 0.6, 0.8)]}},
    "bounds": {"compute": False},
}
res = run_experiment(config, out_dir=str(OUT), progress=False)
summary = res.summary()
summary["variant"] = short_variants(list(summary["variant"]))  # q = the noise level
print(summary[["variant", "success_all"]].round(3).to_string(index=False))
