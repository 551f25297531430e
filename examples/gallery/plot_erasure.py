"""
Signal erasure: how suboptimal may the firm be?
===============================================

Erasing a signal (after Hardt et al. 2023, Section 3): members report ``(g(x), ŷ(g(x)))``, the
signal with the base distribution's most likely label, so that the firm answers on g(x) as if
the signal carried nothing beyond P0. The curves are acakit's lower bound
S(α) ≥ 1 − κ ε / ((1 − ε) α) (:func:`acakit.theory.erasing_bound`, acakit's derivation, not a
theorem of the paper; κ = 1) for firms that are ε-suboptimal on the altered distribution, with
ε from 0.1% to 5%: closed-form numbers, no simulation and no randomness. A Bayes-optimal
firm (ε = 0) needs no collective at all; each tenfold increase of ε needs a tenfold larger
collective for the same guarantee.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from acakit.theory import erasing_bound, erasing_critical_mass

alpha = np.logspace(-4, 0, 200)
fig, ax = plt.subplots(figsize=(7, 4.5))
for eps in (0.001, 0.005, 0.01, 0.05):
    line, = ax.plot(alpha, np.clip(erasing_bound(alpha, epsilon=eps), 0, 1),
                    label=f"ε = {eps:g}")
    a_star = float(erasing_critical_mass(0.9, epsilon=eps))
    ax.axvline(a_star, color=line.get_color(), ls=":", lw=0.8)
    print(f"ε = {eps:g}: α* for S* = 0.9 is {a_star:.4f}")
ax.set_xscale("log")
ax.set_xlabel("collective size α (fraction of the training set)")
ax.set_ylabel("lower bound on erasure success")
ax.set_title("ideal signal erasing: bound vs α (dotted: critical mass for S* = 0.9)",
             fontsize="medium")
ax.grid(alpha=0.3)
ax.legend()
