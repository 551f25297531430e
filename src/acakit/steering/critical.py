"""acakit's critical masses of a steering collective (its derivation, not the paper's
theorems): B*/(B* + C) to hold θ*, the same along the path, and the exact LP of the members'
labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from acakit.firms.gradient import LinearLoss
from acakit.steering.feasible import FeasibleSet
from acakit.theory.bounds import gradient_control_critical_mass

FloatArray = NDArray[np.float64]


def reportable_gradient_norm(model: LinearLoss, theta: FloatArray, X_members: Any,
                             feasible: FeasibleSet) -> float:
    """C(θ): the largest norm of ``∇ℓ(θ; report) + penalty`` over every report the feasible
    set allows (own rows: every label of every member; ball: closed form)."""
    pen = model.penalty_gradient(theta)
    if feasible.features == "ball":
        lo, hi = feasible.labels  # type: ignore[misc]
        R = feasible.radius
        return R * (R * float(np.linalg.norm(theta)) + max(abs(lo), abs(hi))) + float(np.linalg.norm(pen))
    Xd = model.design(X_members)
    if not len(Xd):
        return 0.0
    P = model.predictions(theta, Xd)
    if model.loss == "squared":
        cands = [np.full((len(Xd), 1), v) for v in feasible.labels]  # type: ignore[union-attr]
    elif model.loss == "logistic":
        cands = [np.zeros((len(Xd), 1)), np.ones((len(Xd), 1))]
    else:
        cands = [np.tile(np.eye(model.n_outputs)[c], (len(Xd), 1)) for c in range(model.n_outputs)]
    best = 0.0
    for Y in cands:  # ||(P − Y) ⊗ x + pen||² expanded, one value per member
        Rr = P - Y
        G2 = (Rr ** 2).sum(1) * (Xd ** 2).sum(1) + 2 * np.einsum("ij,jk,ik->i", Xd, pen, Rr) \
            + float((pen ** 2).sum())
        best = max(best, float(np.sqrt(max(G2.max(), 0.0))))
    return best


def critical_masses(model: LinearLoss, theta_star: FloatArray, theta0: FloatArray,
                    X_base: Any, y_base: Any, X_members: Any, feasible: FeasibleSet,
                    n_path: int = 21) -> dict[str, float]:
    """acakit's critical masses of a steering collective (not the paper's theorems).

    - ``alpha_star_fixed``: holding θ* as a fixed point with exact gradients needs
      ``α C ≥ (1 − α) B*`` with ``B* = ||∇L0(θ*) + penalty||`` and ``C`` = the largest
      reportable gradient norm at θ*: ``α* = B*/(B* + C)``. Necessary always; sufficient when
      the reportable gradients at θ* fill the ball of radius C (e.g. θ* = 0 with reports in a
      ball and a symmetric label range).
    - ``alpha_star_path``: reaching θ* from θ_0 along the segment:
      :func:`~acakit.theory.gradient_control_critical_mass` with B the largest base gradient
      norm and C the smallest reportable one along it.

    Returns
    -------
    dict
        ``alpha_star_fixed``, ``alpha_star_path``, ``base_gradient_norm`` (B*),
        ``reportable_gradient_norm`` (C).
    """
    Xb = model.design(X_base)

    def B(th: FloatArray) -> float:
        return float(np.linalg.norm(model.gradient(th, Xb, y_base)))

    b_star = B(theta_star)
    c_star = reportable_gradient_norm(model, theta_star, X_members, feasible)
    path = [theta0 + s * (theta_star - theta0) for s in np.linspace(0, 1, n_path)]
    b_path = max(B(t) for t in path)
    c_path = min(reportable_gradient_norm(model, t, X_members, feasible) for t in path)
    return {
        "alpha_star_fixed": float(gradient_control_critical_mass(b_star, c_star)),
        "alpha_star_path": float(gradient_control_critical_mass(b_path, c_path)),
        "base_gradient_norm": b_star,
        "reportable_gradient_norm": c_star,
    }


def steer_critical_mass(model: LinearLoss, theta_star: FloatArray, X_base: Any, y_base: Any,
                        X_members: Any, feasible: FeasibleSet) -> float:
    """The least α at which :class:`SteerMinimizer`'s relaxed problem (soft labels on the
    members' own rows) has residual 0: an LP (scipy's HiGHS) in ``(Q, τ)``, τ = (1 − α)/α,
    maximising τ subject to ``Xmᵀ(P − Q)/m + pen + τ b = 0``, ``b = ∇L0(θ*) + pen``.

    Returns ``inf`` where even α = 1 cannot make θ* stationary, 0 where θ* already is.
    """
    from scipy.optimize import linprog
    from scipy.sparse import block_diag, csr_matrix, hstack, kron

    if feasible.features != "own":
        return float("nan")
    ts = np.asarray(theta_star, dtype=np.float64).reshape(model.shape)
    Xm = model.design(X_members)
    m, k = len(Xm), model.n_outputs
    if m == 0:
        return float("nan")
    pen = model.penalty_gradient(ts)
    b = (model.data_gradient(ts, model.design(X_base), y_base) + pen).ravel()
    if np.linalg.norm(b) < 1e-12:
        return 0.0
    P = model.predictions(ts, Xm)
    # equality:  -(Xmᵀ ⊗ I_k) vec(Q) / m + τ b = -(Xmᵀ P / m + pen)   (vec row-major: Q[i, c])
    A_q = -kron(csr_matrix(Xm.T), np.eye(k)) / m
    A_eq = hstack([A_q, csr_matrix(b[:, None])]).tocsr()
    b_eq = -(Xm.T @ P / m + pen).ravel()
    lo, hi = feasible.labels if model.loss == "squared" else (0.0, 1.0)  # type: ignore[misc]
    bounds = [(lo, hi)] * (m * k) + [(0, None)]
    c = np.zeros(m * k + 1)
    c[-1] = -1.0
    if model.loss == "softmax":  # each member's soft label sums to 1
        from scipy.sparse import vstack

        A_sum = hstack([block_diag([np.ones((1, k))] * m, format="csr"), csr_matrix((m, 1))])
        A_eq = vstack([A_eq, A_sum]).tocsr()
        b_eq = np.concatenate([b_eq, np.ones(m)])
    res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status == 3:  # unbounded τ: any α > 0
        return 0.0
    if res.status != 0:
        return float("inf")
    tau = float(res.x[-1])
    return 1.0 / (1.0 + tau)
