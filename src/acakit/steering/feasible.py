"""What a collective may report, and the solver that finds reports whose mean gradient is a
target: soft labels on the members' own rows (a box or a simplex per row, a convex problem), or
one point of an ℓ2 ball (least squares without an intercept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from acakit.firms.gradient import LinearLoss

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FeasibleSet:
    """What a member may report.

    Parameters
    ----------
    features : {"own", "ball"}, default="own"
        ``own``: the member's own row (edited by at most ``edit`` per feature, ℓ∞, where a
        strategy needs it); ``ball``: any point of the ℓ2 ball of radius ``radius`` around 0
        (least squares without an intercept).
    radius : float, default=1.0
        Radius of the ball.
    labels : (float, float) or None, default=None
        For least squares: the range of labels a member may report (required). For
        classification any class may be reported (leave it None).
    edit : float, default=0.0
        ℓ∞ bound of the feature edits :class:`SteerMinimizer` may use to remove the error of
        rounding soft labels to classes.
    """

    features: str = "own"
    radius: float = 1.0
    labels: tuple[float, float] | None = None
    edit: float = 0.0

    def check(self, model: LinearLoss) -> None:
        """One-line ``ValueError`` (naming ``collective.feasible.*``) if it does not fit the firm."""
        if self.features not in ("own", "ball"):
            raise ValueError(f"collective.feasible.features: {self.features!r} is not one of own, ball")
        if model.loss == "squared":
            if self.labels is None or not self.labels[0] <= self.labels[1]:
                raise ValueError("collective.feasible.labels: least squares needs a label range "
                                 "[lo, hi] with lo <= hi")
        elif self.labels is not None:
            raise ValueError("collective.feasible.labels: a classifier's members report classes; "
                             "a label range is for loss: squared")
        if self.features == "ball":
            if model.loss != "squared" or model.fit_intercept:
                raise ValueError("collective.feasible.features: 'ball' needs loss: squared and "
                                 "fit_intercept: false (reports anywhere in the ball)")
            if not self.radius > 0:
                raise ValueError(f"collective.feasible.radius: {self.radius} must be > 0")
        if self.edit < 0:
            raise ValueError(f"collective.feasible.edit: {self.edit} must be >= 0")


@dataclass
class ReportProblem:
    """The members' reports as soft labels ``Q`` on their own rows: the mean report gradient is
    ``X_mᵀ (P(θ) − Q) / m``, linear in ``Q``, and ``Q`` lies in a box (logistic, squared) or in
    a simplex per row (softmax), so matching a target gradient is a convex problem."""

    model: LinearLoss
    Xm: FloatArray  # members' design rows
    labels: tuple[float, float] | None

    def __post_init__(self) -> None:
        m = max(len(self.Xm), 1)
        # Lipschitz constant of Q -> X_mᵀ Q / m
        self.scale = float(np.linalg.norm(self.Xm, 2)) ** 2 / m ** 2 if len(self.Xm) else 0.0

    def bounds(self) -> tuple[float, float]:
        return self.labels if self.model.loss == "squared" else (0.0, 1.0)  # type: ignore[return-value]

    def project(self, Q: FloatArray) -> FloatArray:
        if self.model.loss == "softmax":
            return project_simplex(Q)
        lo, hi = self.bounds()
        return np.clip(Q, lo, hi)

    def honest(self, y: Any) -> FloatArray:
        return self.model.targets(y)

    def mean_gradient(self, theta: FloatArray, Q: FloatArray) -> FloatArray:
        if not len(self.Xm):
            return np.zeros_like(theta)
        return self.Xm.T @ (self.model.predictions(theta, self.Xm) - Q) / len(self.Xm)

    def solve(self, theta: FloatArray, target: FloatArray, Q0: FloatArray,
              weights: FloatArray | None = None, iters: int = 30) -> FloatArray:
        """Soft labels whose mean gradient at θ is closest to ``target`` (weighted ℓ2), by
        accelerated projected gradient (FISTA) warm-started at ``Q0``."""
        if not len(self.Xm) or self.scale == 0:
            return Q0
        W2 = np.ones_like(target) if weights is None else weights ** 2
        P = self.model.predictions(theta, self.Xm)
        m = len(self.Xm)
        step = 1.0 / (self.scale * float(W2.max()))
        Q, Z, s = Q0.copy(), Q0.copy(), 1.0
        for _ in range(iters):
            h = self.Xm.T @ (P - Z) / m - target
            Qn = self.project(Z + step * (self.Xm @ (W2 * h)) / m)
            sn = (1 + np.sqrt(1 + 4 * s * s)) / 2
            Z = Qn + ((s - 1) / sn) * (Qn - Q)
            Q, s = Qn, sn
        return Q

    def refine(self, labels: Any, Q: FloatArray, weights: FloatArray | None = None,
               flips: int = 12) -> Any:
        """Logistic: flip up to ``flips`` rounded labels, greedily, each the flip that most
        reduces the (weighted) gap between the rounded and the soft reports' mean gradient."""
        m = len(self.Xm)
        y = np.asarray(labels).astype(int).copy()
        w2 = (np.ones(self.Xm.shape[1]) if weights is None else weights[:, 0] ** 2)
        e = self.Xm.T @ (Q[:, 0] - y) / m
        norms = (self.Xm ** 2) @ w2 / m ** 2
        for _ in range(flips):
            d = 1.0 - 2.0 * y  # flipping i moves y_i by d_i, e by -d_i x_i / m
            gain = -2 * d * (self.Xm @ (w2 * e)) / m + norms
            i = int(np.argmin(gain))
            if gain[i] >= 0:
                break
            e -= d[i] * self.Xm[i] / m
            y[i] = 1 - y[i]
        return y

    def round(self, Q: FloatArray, rng: np.random.RandomState) -> Any:
        """Labels to report: the soft labels themselves (least squares) or classes drawn from
        them (unbiased randomised rounding)."""
        if self.model.loss == "squared":
            return Q[:, 0].copy()
        if self.model.loss == "logistic":
            return (rng.random_sample(len(Q)) < Q[:, 0]).astype(int)
        cum = np.cumsum(Q, axis=1)
        u = rng.random_sample((len(Q), 1)) * cum[:, -1:]
        return (u > cum).sum(axis=1).clip(0, Q.shape[1] - 1)


def project_simplex(Q: FloatArray) -> FloatArray:
    """Euclidean projection of each row onto the probability simplex (sort-based, vectorised)."""
    n, k = Q.shape
    U = -np.sort(-Q, axis=1)
    css = np.cumsum(U, axis=1) - 1.0
    ind = np.arange(1, k + 1)
    cond = U - css / ind > 0
    rho = k - 1 - np.argmax(cond[:, ::-1], axis=1)
    tau = css[np.arange(n), rho] / (rho + 1)
    return np.maximum(Q - tau[:, None], 0.0)


def ball_report(theta: FloatArray, v: FloatArray, radius: float,
                labels: tuple[float, float]) -> tuple[FloatArray, float]:
    """One least-squares point ``(x, y)``, ``||x|| <= radius``, ``y`` in ``labels``, whose
    gradient ``(θ·x − y) x`` is the point of the ray along ``v`` nearest to ``v``."""
    th = theta[:, 0]
    norm = float(np.linalg.norm(v))
    if norm == 0:
        return np.zeros_like(th), float(np.clip(0.0, *labels))
    u = v[:, 0] / norm
    R, a = radius, float(th @ v[:, 0]) / norm
    lo, hi = labels
    best: tuple[float, float, float] | None = None
    for s in (1.0, -1.0):  # x = s R u: gradient R (R a − s y) u
        y = float(np.clip(s * (R * a - norm / R), lo, hi))
        t = R * (R * a - s * y)
        if best is None or abs(t - norm) < abs(best[0] - norm):
            best = (t, s, y)
    assert best is not None
    _, s, y = best
    return s * R * u, y
