"""The three steering strategies (:class:`SteerMinimizer`, :class:`GradientNeutralize`,
:class:`GradientControl`) and what a collective knows (:class:`Knowledge`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.utils import check_random_state

from acakit.firms.gradient import LinearLoss, StepView
from acakit.steering.feasible import FeasibleSet, ReportProblem, ball_report

FloatArray = NDArray[np.float64]

#: weight of "stay as honest as possible" on the coordinates a neutralizing collective leaves free
FREE_WEIGHT = 0.05


@dataclass
class Knowledge:
    """What a collective knows of the base data: every base row (``sample=None``, the exact
    base gradient) or a random sample of ``sample`` rows (an estimate); and how often it sees
    the model (``every`` steps)."""

    sample: int | None = None
    every: int = 1

    def check(self) -> None:
        if self.sample is not None and (isinstance(self.sample, bool) or self.sample < 1):
            raise ValueError(f"collective.knowledge.sample: {self.sample!r} must be an integer >= 1")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"collective.knowledge.every: {self.every!r} must be an integer >= 1")


@dataclass
class _Steering:
    """What the three strategies share: the members, what they know, the solver."""

    feasible: FeasibleSet = field(default_factory=FeasibleSet)
    knowledge: Knowledge = field(default_factory=Knowledge)
    seed: int = 0

    def bind(self, model: LinearLoss, X_members: Any, y_members: Any, X_base: Any, y_base: Any,
             alpha: float) -> _Steering:
        """Give the strategy its members' rows, the base rows it knows, and α; returns self."""
        self.feasible.check(model)
        self.knowledge.check()
        self.model, self.alpha = model, float(alpha)
        self.rng_ = check_random_state(self.seed)
        Xb, yb = model.design(X_base), np.asarray(y_base)
        if self.knowledge.sample is not None and self.knowledge.sample < len(Xb):
            idx = self.rng_.choice(len(Xb), self.knowledge.sample, replace=False)
            Xb, yb = Xb[idx], yb[idx]
        self.Xb_, self.yb_ = Xb, yb
        self.X_members_ = np.asarray(X_members, dtype=np.float64)
        self.problem_ = ReportProblem(model, model.design(self.X_members_), self.feasible.labels)
        self.Q_ = self.problem_.honest(y_members) if len(self.X_members_) else np.zeros((0, 1))
        self.honest_Q_ = self.Q_.copy()
        return self

    @property
    def every(self) -> int:
        return self.knowledge.every

    def base_gradient(self, theta: FloatArray, view: StepView | None = None) -> FloatArray:
        """The collective's view of ∇L0(θ): exact (every base row; the firm's own full-batch
        numbers at this θ when the view carries them, the same computation done once), or
        from its sample."""
        if view is not None and view.base_gradient is not None and self.knowledge.sample is None:
            return view.base_gradient
        return self.model.data_gradient(theta, self.Xb_, self.yb_)

    def reports_for(self, theta: FloatArray, target_total: FloatArray,
                    weights: FloatArray | None = None, iters: int = 10,
                    view: StepView | None = None) -> tuple[FloatArray, Any]:
        """Reports whose mixture gradient at θ is nearest to ``target_total`` (``iters`` FISTA
        steps, warm-started at the previous view's answer)."""
        a = self.alpha
        rest = (1 - a) * self.base_gradient(theta, view) + self.model.penalty_gradient(theta)
        v = (target_total - rest) / a  # the reports' mean gradient that would hit the target
        m = max(len(self.X_members_), 1)
        if self.feasible.features == "ball":
            x, y = ball_report(theta, v, self.feasible.radius, self.feasible.labels)  # type: ignore[arg-type]
            return np.tile(x, (m, 1)), np.full(m, y)
        self.Q_ = self.problem_.solve(theta, v, self.Q_, weights, iters)
        labels = self.problem_.round(self.Q_, self.rng_)
        if self.model.loss == "logistic":
            labels = self.problem_.refine(labels, self.Q_, weights)
        return self.X_members_, labels


@dataclass
class GradientControl(_Steering):
    """Drive gradient descent to θ*: each view, report so that the step lands on θ*.

    The target of the mixture gradient is ``(θ_t − θ*) / lr`` (the step from θ_t to θ*; with
    ``knowledge.every = K``, ``(θ_t − θ*) / (K lr)``: the reports stand K steps); the reports
    come as near to it as the feasible set allows (least squares over soft labels on own rows,
    or the nearest point of the ray for ``features: ball``).

    Parameters
    ----------
    theta_star : array-like
        The collective's θ* (shape of the firm's θ).
    feasible, knowledge, seed :
        See :class:`FeasibleSet`, :class:`Knowledge`.
    """

    theta_star: Any = None
    name = "gradient_control"

    def reports(self, view: StepView) -> tuple[FloatArray, Any]:
        """The reports for this view (the :class:`~acakit.firms.gradient.AdaptiveCollective`
        protocol)."""
        # seeing θ every K steps, it keeps its reports K steps: it aims to arrive in K steps
        target = (view.theta - np.asarray(self.theta_star).reshape(view.theta.shape)) \
            / (view.lr * self.every)
        return self.reports_for(view.theta, target, view=view)


@dataclass
class GradientNeutralize(_Steering):
    """Hold chosen coordinates of θ at their values: each view, cancel the base gradient there.

    Along the held coordinates the target step returns them to their held values; elsewhere the
    reports stay as near to the members' honest gradient as they can (weight
    :data:`FREE_WEIGHT`), so the rest of the model learns as it would.

    Parameters
    ----------
    coordinates : sequence of int
        Indices into θ's flat vector.
    held : sequence of float or None
        The values they are held at (default: θ_0's, set by the first view).
    """

    coordinates: Sequence[int] = ()
    held: Any = None
    name = "gradient_neutralize"

    def reports(self, view: StepView) -> tuple[FloatArray, Any]:
        """The reports for this view."""
        th = view.theta.ravel()
        J = np.asarray(self.coordinates, dtype=int)
        if self.held is None:
            self.held = th[J].copy()
        honest = ((1 - self.alpha) * self.base_gradient(view.theta, view)
                  + self.alpha * self.problem_.mean_gradient(view.theta, self.honest_Q_)
                  + self.model.penalty_gradient(view.theta)).ravel()
        target = honest.copy()
        target[J] = (th[J] - np.asarray(self.held, dtype=np.float64)) / view.lr
        w = np.full(th.shape, FREE_WEIGHT)
        w[J] = 1.0
        shape = view.theta.shape
        return self.reports_for(view.theta, target.reshape(shape), w.reshape(shape), view=view)


@dataclass
class SteerMinimizer(_Steering):
    """Make θ* a stationary point of the mixture risk (static; the firm then fits as it likes).

    Minimises ``||α ∇L_{P*}(θ*) + (1 − α) ∇L0(θ*) + penalty||`` over the members' soft labels
    (scipy's ``lsq_linear``; softmax by projected gradient), rounds them to classes keeping at
    most a handful fractional (a basic solution of the LP), and removes the rounding error by
    editing the features of a few members within ``feasible.edit`` (scipy's
    ``least_squares``). ``residual_`` is the gradient norm at θ* of what is reported.
    """

    theta_star: Any = None
    name = "steer_minimizer"

    def solve(self) -> tuple[FloatArray, Any]:
        """The reports ``(X, y)`` (members' rows, possibly edited, and their labels)."""

        model, prob = self.model, self.problem_
        ts = np.asarray(self.theta_star, dtype=np.float64).reshape(model.shape)
        a = self.alpha
        rest = (1 - a) * self.base_gradient(ts) + model.penalty_gradient(ts)
        m = len(prob.Xm)
        if m == 0:
            self.residual_ = float(np.linalg.norm(rest))
            return self.X_members_, np.zeros(0)
        P = model.predictions(ts, prob.Xm)
        if model.loss == "softmax":
            Q = self._solve_simplex(prob, P, rest, a)
        else:  # a·Xmᵀ(P − q)/m + rest = 0  <=>  (a/m) Xmᵀ q = (a/m) Xmᵀ P + rest
            Q = self._solve_box(prob, P[:, 0], rest[:, 0], a)[:, None]
        self.soft_ = Q
        labels = prob.round(Q, self.rng_) if model.loss == "squared" else self._round_basic(Q)
        X = self.X_members_.copy()
        if model.loss != "squared" and self.feasible.edit > 0:
            X = self._edit(X, labels, ts, rest)
        self.residual_ = self.residual_at(ts, X, labels)
        return X, labels

    def _solve_box(self, prob: ReportProblem, p: FloatArray, rest: FloatArray,
                   a: float) -> FloatArray:
        """Soft labels q in the box with ``(a/m) Xmᵀ (p − q) + rest = 0``, nearest (ℓ1) to the
        honest labels: an LP (HiGHS), whose basic solution leaves at most ``len(θ)`` labels
        fractional; where no q is exact, the least-squares one (``lsq_linear``)."""
        from scipy.optimize import linprog, lsq_linear

        m = len(prob.Xm)
        A = (a / m) * prob.Xm.T
        b = A @ p + rest
        lo, hi = prob.bounds()
        h = self.honest_Q_[:, 0]
        # q = h + u − v, u, v >= 0; minimise Σ(u + v)
        bounds = [(0, max(hi - v, 0.0)) for v in h] + [(0, max(v - lo, 0.0)) for v in h]
        res = linprog(np.ones(2 * m), A_eq=np.hstack([A, -A]), b_eq=b - A @ h, bounds=bounds,
                      method="highs")
        if res.status == 0:
            q = h + res.x[:m] - res.x[m:]
            if np.linalg.norm(A @ q - b) < 1e-9 * max(1.0, float(np.linalg.norm(b))):
                return np.clip(q, lo, hi)
        return lsq_linear(A, b, bounds=(lo, hi), method="trf", tol=1e-12).x

    def _solve_simplex(self, prob: ReportProblem, P: FloatArray, rest: FloatArray,
                       a: float) -> FloatArray:
        """Softmax: soft labels (a distribution per member) with ``(a/m) Xmᵀ (P − Q) + rest =
        0``, as near the honest labels as possible (an LP, HiGHS: a basic solution leaves few
        members' labels split); where none is exact, projected gradient (FISTA)."""
        from scipy.optimize import linprog
        from scipy.sparse import block_diag, csr_matrix, kron, vstack

        m, k = P.shape
        A = kron(csr_matrix(prob.Xm.T), np.eye(k)) * (a / m)  # rows: (feature, class)
        b = ((a / m) * prob.Xm.T @ P + rest).ravel()
        sums = block_diag([np.ones((1, k))] * m, format="csr")
        cost = -self.honest_Q_.ravel()  # maximise the weight on each member's own label
        res = linprog(cost, A_eq=vstack([A, sums]).tocsr(), b_eq=np.concatenate([b, np.ones(m)]),
                      bounds=(0.0, 1.0), method="highs")
        if res.status == 0:
            Q = res.x.reshape(m, k)
            if np.linalg.norm(A @ Q.ravel() - b) < 1e-9 * max(1.0, float(np.linalg.norm(b))):
                return Q
        return prob.solve(self.theta_star_array(), -rest / a, self.Q_, iters=3000)

    def theta_star_array(self) -> FloatArray:
        """θ* in the firm's shape."""
        return np.asarray(self.theta_star, dtype=np.float64).reshape(self.model.shape)

    def residual_at(self, theta: FloatArray, X: Any, labels: Any) -> float:
        """Norm of the mixture gradient at θ with these reports (the collective's view of base)."""
        rest = (1 - self.alpha) * self.base_gradient(theta) + self.model.penalty_gradient(theta)
        g = self.alpha * self.model.data_gradient(theta, self.model.design(X), labels) + rest
        return float(np.linalg.norm(g))

    def _round_basic(self, Q: FloatArray) -> Any:
        """Classes from soft labels: the nearest class, which differs from Q only where Q is
        fractional (few rows in the solutions of these problems)."""
        if self.model.loss == "logistic":
            return (Q[:, 0] >= 0.5).astype(int)
        return Q.argmax(axis=1)

    def _edit(self, X: FloatArray, labels: Any, ts: FloatArray, rest: FloatArray) -> FloatArray:
        from scipy.optimize import least_squares

        model, a, eps = self.model, self.alpha, self.feasible.edit
        m = len(X)
        # the members whose soft label was furthest from the class they report get edited
        frac = np.abs(self.soft_ - self.model.targets(labels)).sum(axis=1)
        n_edit = min(m, max(4 * model.size, 8))
        idx = np.argsort(-frac, kind="stable")[:n_edit]
        base = X[idx].copy()

        def resid(delta: FloatArray) -> FloatArray:
            Xe = X.copy()
            Xe[idx] = base + delta.reshape(base.shape)
            g = a * model.data_gradient(ts, model.design(Xe), labels) + rest
            return g.ravel() * 1e3

        sol = least_squares(resid, np.zeros(base.size), bounds=(-eps, eps), xtol=1e-15,
                            ftol=1e-15, gtol=1e-15, max_nfev=200, tr_solver="lsmr")
        X = X.copy()
        X[idx] = base + sol.x.reshape(base.shape)
        return X

    def reports(self, view: StepView) -> tuple[FloatArray, Any]:
        """Static: the same reports at every step (solved once)."""
        if not hasattr(self, "reports_"):
            self.reports_ = self.solve()
        return self.reports_
