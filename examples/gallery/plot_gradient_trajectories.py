"""
Gradient control: trajectories θ_t for three collective sizes
=============================================================

The setting of :doc:`plot_gradient_control` (Hardt et al. 2023, Section 5; synthetic whitened
least squares, one data set, seed 0): the firm starts at its clean model θ̂0 and runs 300
gradient steps (learning rate 0.1); a collective reporting points of the unit ball with labels
in [-4, 4] pulls every step towards θ* = 0. Below α* (acakit's derivation, ≈ 20% here) the pull
stalls where the base gradient outweighs it; above it θ_t reaches θ*. Left: θ_t in the plane
(a dot every 5 steps); right: the normalised distance along the way.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from acakit.data.synthetic import make_linear_regression
from acakit.firms.gradient import GradientDescentFirm
from acakit.steering import FeasibleSet, GradientControl, critical_masses

ball = FeasibleSet(features="ball", radius=1.0, labels=(-4.0, 4.0))
X, y, _ = make_linear_regression(1000, 2, noise=0.5, seed=0)
theta0 = np.linalg.lstsq(X, y, rcond=None)[0]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
for a, ls in ((0.05, "-"), (0.15, "--"), (0.25, ":")):
    m = int(round(a * len(y)))
    firm = GradientDescentFirm(loss="squared", fit_intercept=False, lr=0.1, steps=300,
                               init=theta0, record_every=5)
    model = firm.model(2, 1)
    ctrl = GradientControl(feasible=ball, theta_star=np.zeros(2))
    ctrl.bind(model, X[:m], y[:m], X[m:], y[m:], m / len(y))
    firm.fit_steered(X[m:], y[m:], ctrl, m / len(y))
    star = critical_masses(model, np.zeros((2, 1)), theta0[:, None], X[m:], y[m:], X[:1], ball)
    path = firm.trajectory_
    label = f"α = {a:.0%} (α* = {star['alpha_star_fixed']:.1%})"
    left.plot(path[:, 0], path[:, 1], ls=ls, marker=".", ms=4, label=label)
    right.plot(firm.trajectory_steps_, np.linalg.norm(path, axis=1) / np.linalg.norm(theta0),
               ls=ls, label=label)
    print(f"{label}: final distance {np.linalg.norm(firm.theta_) / np.linalg.norm(theta0):.3g}")
left.plot([0], [0], "k*", ms=14, label="θ* = 0")
left.plot([theta0[0]], [theta0[1]], "ko", ms=6, label="θ_0 (clean model)")
left.set_xlabel("θ_1")
left.set_ylabel("θ_2")
left.legend(fontsize="small")
right.set_xlabel("gradient step t")
right.set_ylabel("||θ_t − θ*|| / ||θ_0 − θ*||")
right.set_yscale("symlog", linthresh=1e-3)
right.legend(fontsize="small")
fig.suptitle("gradient control of least squares: θ_t for three collective sizes", fontsize="medium")
fig.tight_layout()
