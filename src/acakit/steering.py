"""Strategies for the parametric settings of Hardt et al. (2023): steer a minimizer, a descent.

In the paper's second setting the firm fits ``θ̂ = argmin_θ E_{P_α} ℓ(θ; x, y)`` and the
collective wants θ̂ to be its θ*; in the third the firm runs (S)GD on ``P_α`` and the collective,
seeing θ_t (every step or every K), chooses what it reports. The mixture gradient is

    α · (mean gradient of the reports) + (1 − α) · ∇L0(θ) + penalty,

so everything a collective can do is to choose its reports' mean gradient inside the set its
feasible set allows (:class:`FeasibleSet`). Three strategies:

- :class:`SteerMinimizer` (static, setting 2): reports chosen once, at θ*, so that θ* is a
  stationary point of the mixture risk (a convex problem over soft labels, solved with scipy;
  labels then rounded, and members' features edited within ``edit`` to remove the rounding error);
- :class:`GradientNeutralize` (setting 3): every step its reports cancel the base gradient along
  chosen coordinates, which stay at their held values;
- :class:`GradientControl` (setting 3): every step its reports make the mixture gradient point
  to θ* (the step that lands on θ*), clipped to what the feasible set allows.

The critical masses (:func:`critical_masses`) are acakit's derivation, not the paper's theorems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.utils import check_random_state

from acakit.firms.gradient import LinearLoss, StepView
from acakit.theory.bounds import gradient_control_critical_mass

FloatArray = NDArray[np.float64]

#: weight of "stay as honest as possible" on the coordinates a neutralizing collective leaves free
FREE_WEIGHT = 0.05


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


# --------------------------------------------------------------------------- goals


def resolve_goal(goal: Mapping[str, Any] | None, theta_star: Sequence[float] | None,
                 theta0: FloatArray, model: LinearLoss,
                 feature_names: Sequence[str], X: Any = None) -> FloatArray:
    """θ* of a collective: given directly, or from a goal on the clean model θ0.

    Parameters
    ----------
    goal : mapping or None
        ``{"type": "set_weight", "feature": F, "value": c}`` (θ0 with F's weight set to c),
        ``{"type": "flip_sign", "feature": F}`` (θ0 with F's weight negated) or
        ``{"type": "zero"}`` (θ* = 0: the model learns nothing). Softmax: ``class`` names the
        class whose weight is meant (default: every class).
        ``{"type": "signal_to_class", "feature": F, "value": v, "class": c, "share": s}``: the
        model sends points with the signal (feature F set to v) to class c: θ0 with F's weight
        (class c's, for softmax) set to the least value at which a share s (default 0.99) of
        the rows ``X`` carrying the signal get class c.
    theta_star : sequence of float or None
        θ* given directly (``p·k`` values).
    theta0 : ndarray
        The clean model.
    model : LinearLoss
    feature_names : sequence of str
    X : array-like, optional
        Rows (the firm's features) a ``signal_to_class`` goal is worked out on.

    Returns
    -------
    ndarray of shape ``model.shape``

    Raises
    ------
    ValueError
        One line naming ``collective.theta_star`` or ``collective.goal.*``.
    """
    from acakit.firms.gradient import describe_shape

    if theta_star is not None:
        t = np.asarray(theta_star, dtype=np.float64)
        if t.size != model.size:
            raise ValueError(f"collective.theta_star: has {t.size} values; the firm has "
                             f"{model.size} parameters ({describe_shape(model)})")
        if not np.isfinite(t).all():
            raise ValueError("collective.theta_star: holds a value that is not finite")
        return t.reshape(model.shape)
    if goal is None:
        raise ValueError("collective: give theta_star or goal")
    kind = goal.get("type")
    if kind == "zero":
        return np.zeros(model.shape)
    out = np.array(theta0, dtype=np.float64).reshape(model.shape)
    j = feature_index(goal.get("feature"), feature_names)
    cols = class_columns(goal.get("class"), model) if kind != "signal_to_class" else None
    if kind == "set_weight":
        value = goal.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ValueError(f"collective.goal.value: {value!r} is not a finite number")
        out[j, cols] = float(value)
    elif kind == "signal_to_class":
        out = signal_to_class(out, j, goal, model, X)
    elif kind == "flip_sign":
        if np.all(out[j, cols] == 0):
            raise ValueError(f"collective.goal: the clean weight of {feature_names[j]!r} is 0; "
                             "flipping its sign changes nothing (use set_weight)")
        out[j, cols] = -out[j, cols]
    else:
        raise ValueError(f"collective.goal.type: {kind!r} is not one of set_weight, flip_sign, "
                         "signal_to_class, zero")
    if model.n_outputs > 1:
        c = goal.get("class")
        out = softmax_gauge(out, theta0, j, c if isinstance(c, int) else None)
    return out


def softmax_gauge(theta: FloatArray, theta0: FloatArray, row: int, keep: int | None) -> FloatArray:
    """θ of a softmax firm moved to where gradient descent can go: every gradient of a softmax
    loss sums to 0 over the classes, so each feature's weights keep the sum over classes that
    θ0 has. The difference is spread over the classes other than ``keep`` (the class a goal
    names), so the named weight keeps its value; a model's decisions depend only on weight
    differences between classes, which this leaves as the goal set them where it can."""
    out = theta.copy()
    diff = out[row].sum() - np.asarray(theta0, dtype=np.float64)[row].sum()
    k = out.shape[1]
    if keep is None or k < 2:
        out[row] -= diff / k
    else:
        others = [c for c in range(k) if c != keep]
        out[row, others] -= diff / len(others)
    return out


def signal_to_class(theta: FloatArray, j: int, goal: Mapping[str, Any], model: LinearLoss,
                    X: Any) -> FloatArray:
    """θ with feature j's weight set so that a share of the rows with ``x_j = value`` get
    ``class`` (see :func:`resolve_goal`)."""
    v, c = goal.get("value"), goal.get("class")
    share = goal.get("share", 0.99)
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v == 0:
        raise ValueError(f"collective.goal.value: {v!r} must be a finite number other than 0 "
                         "(the signal's value of the feature)")
    k = max(model.n_outputs, 2)
    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < k:
        raise ValueError(f"collective.goal.class: {c!r} is not a class index 0..{k - 1}")
    if not 0 < share < 1:
        raise ValueError(f"collective.goal.share: {share!r} is not in (0, 1)")
    if X is None or not len(X):
        raise ValueError("collective.goal: signal_to_class needs the data's rows")
    Xs = np.array(X, dtype=np.float64)
    Xs[:, j] = 0.0  # the score without feature j; the signal adds w_j * v
    Z = model.design(Xs) @ theta
    out = theta.copy()
    if model.n_outputs == 1:  # logistic: class 1 needs z > 0, class 0 needs z < 0
        need = -Z[:, 0] / v  # z_i = Z_i + w v changes sign at w = -Z_i / v
        lo_side = (c == 1) == (v > 0)  # w_j must exceed need (else stay below it)
        w = np.quantile(need, share) if lo_side else np.quantile(need, 1 - share)
        out[j, 0] = w + (1e-6 if lo_side else -1e-6)
    else:  # softmax: class c's score beats every other class's
        others = np.delete(Z, c, axis=1).max(axis=1)
        need = (others - Z[:, c]) / v
        lo_side = v > 0
        w = np.quantile(need, share) if lo_side else np.quantile(need, 1 - share)
        out[j, c] = w + (1e-6 if lo_side else -1e-6)
    return out


def feature_index(feature: Any, names: Sequence[str]) -> int:
    """Index of a feature named exactly or by its name without the featurizer's prefix
    (``age`` for ``num__age``); one-line ``ValueError`` listing a few names if unknown."""
    if isinstance(feature, int) and not isinstance(feature, bool) and 0 <= feature < len(names):
        return feature
    names = list(names)
    if feature in names:
        return names.index(feature)
    short = [n.split("__", 1)[-1] for n in names]
    if feature in short and short.count(feature) == 1:
        return short.index(feature)
    shown = ", ".join(short[:12]) + (", ..." if len(short) > 12 else "")
    raise ValueError(f"collective.goal.feature: {feature!r} is not a feature of the firm; "
                     f"features: {shown}")


def class_columns(cls: Any, model: LinearLoss) -> Any:
    """The columns of θ a goal on ``class`` means (every column when None)."""
    if cls is None:
        return slice(None)
    if model.n_outputs == 1 or not isinstance(cls, int) or not 0 <= cls < model.n_outputs:
        raise ValueError(f"collective.goal.class: {cls!r} is not a class index of a softmax firm")
    return [cls]


# --------------------------------------------------------------------------- the reports' solver


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


# --------------------------------------------------------------------------- strategies


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


# --------------------------------------------------------------------------- critical masses


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


STEERING = {"gradient_control": GradientControl, "gradient_neutralize": GradientNeutralize,
            "steer_minimizer": SteerMinimizer}

__all__ = [
    "STEERING",
    "FeasibleSet",
    "GradientControl",
    "GradientNeutralize",
    "Knowledge",
    "ReportProblem",
    "SteerMinimizer",
    "critical_masses",
    "feature_index",
    "project_simplex",
    "reportable_gradient_norm",
    "resolve_goal",
    "steer_critical_mass",
]
