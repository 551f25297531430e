"""
Gradient control: the distance to θ* against α, with α* marked
==============================================================

Hardt et al. (2023), Section 5: the firm runs gradient descent on least squares, starting from
its deployed model θ̂0, and a collective of size α, seeing θ_t every step, reports points of
the unit ball with labels in [-4, 4] so that each step goes to its θ* = 0. The data are
synthetic and whitened (``make_linear_regression``, 1,000 rows, 2 features), so the critical
mass has a closed form: α* = B*/(B* + C) with B* = ||∇L0(θ*)|| ≈ 1 and C = 4
(:func:`acakit.steering.critical_masses`; acakit's derivation, not the paper's theorem). Each
point is the mean over 10 seeds (each seed draws new data) of the normalised distance
||θ_T − θ*|| / ||θ_0 − θ*|| after 300 steps, with its range over the seeds; the dashed line is
α*, averaged over the seeds.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from acakit.data.synthetic import make_linear_regression
from acakit.firms.gradient import GradientDescentFirm
from acakit.steering import FeasibleSet, GradientControl, critical_masses

ball = FeasibleSet(features="ball", radius=1.0, labels=(-4.0, 4.0))
alphas = np.array([0.02, 0.05, 0.1, 0.15, 0.18, 0.19, 0.21, 0.22, 0.25, 0.3, 0.45, 0.6])
dist = np.zeros((10, len(alphas)))
stars = []
for seed in range(10):
    X, y, _ = make_linear_regression(1000, 2, noise=0.5, seed=seed)
    theta0 = np.linalg.lstsq(X, y, rcond=None)[0][:, None]
    for j, a in enumerate(alphas):
        m = int(round(a * len(y)))
        firm = GradientDescentFirm(loss="squared", fit_intercept=False, lr=0.2, steps=300,
                                   init=theta0.ravel())
        model = firm.model(2, 1)
        ctrl = GradientControl(feasible=ball, theta_star=np.zeros(2))
        ctrl.bind(model, X[:m], y[:m], X[m:], y[m:], m / len(y))
        firm.fit_steered(X[m:], y[m:], ctrl, m / len(y))
        dist[seed, j] = np.linalg.norm(firm.theta_) / np.linalg.norm(theta0)
        if j == 0:
            stars.append(critical_masses(model, np.zeros((2, 1)), theta0, X[m:], y[m:], X[:1],
                                         ball)["alpha_star_fixed"])
a_star = float(np.mean(stars))
print(f"α* (mean over seeds) = {a_star:.4f}")
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.plot(alphas * 100, dist.mean(0), marker="o", label="measured (mean of 10 seeds)")
ax.fill_between(alphas * 100, dist.min(0), dist.max(0), alpha=0.25, label="range over seeds")
ax.axvline(a_star * 100, ls="--", color="k", lw=1,
           label=f"α* = B*/(B* + C) = {a_star:.1%} (acakit's derivation)")
ax.set_xlabel("collective size α (% of the training set)")
ax.set_ylabel("||θ_T − θ*|| / ||θ_0 − θ*||")
ax.set_title("gradient control of least squares: distance to θ* after 300 steps",
             fontsize="medium")
ax.grid(alpha=0.3)
ax.legend()
