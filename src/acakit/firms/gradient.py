"""Gradient-descent firms for convex losses, whose parameters a collective can act on.

The parametric settings of Hardt et al. (2023): the firm fits a linear model θ by (stochastic)
gradient descent on the mixture ``P_α = α P* + (1 − α) P0``. :class:`LinearLoss` is the one place
where the losses, their gradients and the L2 penalty are written; :class:`GradientDescentFirm`
trains with it, keeps the trajectory θ_t and, through :meth:`GradientDescentFirm.fit_steered`,
lets an *adaptive* collective choose what it reports between steps (the protocol in
``docs/extending.md``).

Why numpy and not torch: a linear model of at most a few hundred parameters costs two
matrix-vector products a step; numpy does them in microseconds on the CPU, bit-for-bit the same
on every run, with nothing to move between devices. ``device`` is therefore ``"auto"`` or
``"cpu"`` (both the CPU); ``"cuda"`` is refused with one line rather than ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state

from acakit.firms._params import store_params

FloatArray = NDArray[np.float64]

#: The losses a gradient firm can minimise.
LOSSES = ("logistic", "softmax", "squared")


class DivergedError(ValueError):
    """Gradient descent left every reasonable range (a learning rate too large)."""


@dataclass(frozen=True)
class LinearLoss:
    """A linear model's loss, gradient and L2 penalty: the one copy of these formulas.

    θ is a ``(p, k)`` array: ``p`` = number of features (+ 1 for the intercept, the last row),
    ``k`` = 1 (logistic, squared) or the number of classes (softmax). The risk is
    ``mean_i ℓ(θ; x_i, y_i) + (l2 / 2) ||w||²`` (the intercept is not penalised, as in
    scikit-learn), so scikit-learn's ``LogisticRegression(C=c)`` on ``n`` rows minimises the same
    risk with ``l2 = 1 / (c n)``.

    Parameters
    ----------
    loss : {"logistic", "softmax", "squared"}
    n_features : int
    n_outputs : int, default=1
        Number of classes for softmax, else 1.
    fit_intercept : bool, default=True
    l2 : float, default=0.0

    Examples
    --------
    >>> import numpy as np
    >>> m = LinearLoss("squared", n_features=1, fit_intercept=False)
    >>> m.gradient(np.array([[2.0]]), m.design(np.array([[1.0], [1.0]])), np.array([1.0, 1.0]))
    array([[1.]])
    """

    loss: str
    n_features: int
    n_outputs: int = 1
    fit_intercept: bool = True
    l2: float = 0.0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"firm.params.loss: {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.l2 < 0:
            raise ValueError(f"firm.params.l2: {self.l2} must be >= 0")

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of θ."""
        return (self.n_features + int(self.fit_intercept), self.n_outputs)

    @property
    def size(self) -> int:
        """Number of parameters."""
        p, k = self.shape
        return p * k

    def design(self, X: Any) -> FloatArray:
        """``X`` as a float matrix, with a column of ones for the intercept."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; the model has {self.n_features} features")
        return np.hstack([X, np.ones((len(X), 1))]) if self.fit_intercept else X

    def predictions(self, theta: FloatArray, Xd: FloatArray) -> FloatArray:
        """``P`` with ``∇ℓ = xᵀ(P − Y)``: σ(z) (logistic), softmax(z), z (squared); ``(n, k)``."""
        Z = Xd @ theta
        if self.loss == "logistic":
            return expit(Z)
        if self.loss == "softmax":
            return softmax(Z, axis=1)
        return Z

    def targets(self, y: Any) -> FloatArray:
        """The labels as ``Y`` of the gradient ``xᵀ(P − Y)``: one-hot for softmax, a column else."""
        y = np.asarray(y)
        if self.loss == "softmax":
            return np.eye(self.n_outputs)[y.astype(int)]
        return y.astype(np.float64).reshape(-1, 1)

    def penalty_gradient(self, theta: FloatArray) -> FloatArray:
        """``l2 · w`` with the intercept row 0."""
        g = self.l2 * theta
        if self.fit_intercept:
            g = g.copy()
            g[-1] = 0.0
        return g

    def data_gradient(self, theta: FloatArray, Xd: FloatArray, y: Any) -> FloatArray:
        """Mean gradient of the loss over the rows (no penalty); zeros for no rows."""
        if len(Xd) == 0:
            return np.zeros_like(theta)
        return Xd.T @ (self.predictions(theta, Xd) - self.targets(y)) / len(Xd)

    def gradient(self, theta: FloatArray, Xd: FloatArray, y: Any) -> FloatArray:
        """Gradient of the penalised risk on the rows."""
        return self.data_gradient(theta, Xd, y) + self.penalty_gradient(theta)

    def risk(self, theta: FloatArray, Xd: FloatArray, y: Any) -> float:
        """The penalised risk on the rows."""
        Z = Xd @ theta
        Y = self.targets(y)
        if self.loss == "logistic":
            losses = np.logaddexp(0.0, Z) - Y * Z
        elif self.loss == "softmax":
            losses = (np.logaddexp.reduce(Z, axis=1) - (Z * Y).sum(axis=1))[:, None]
        else:
            losses = 0.5 * (Z - Y) ** 2
        w = theta[:-1] if self.fit_intercept else theta
        return float(losses.mean() + 0.5 * self.l2 * np.sum(w ** 2))


@dataclass
class StepView:
    """What an adaptive collective sees before a step of :meth:`GradientDescentFirm.fit_steered`.

    Attributes
    ----------
    step : int
        The step about to be taken (0-based).
    theta : ndarray of shape (p, k)
        The model the collective may see: θ_t itself, or the last checkpoint the firm published
        (every ``every`` steps of the collective).
    published_at : int
        The step at which ``theta`` was published.
    model : LinearLoss
        The firm's loss and penalty (the collective knows the learning algorithm).
    lr : float
        The firm's learning rate.
    alpha : float
        The weight of the collective's reports in each step's gradient.
    base_gradient : ndarray or None
        ``∇L0(θ)`` over every base row at ``theta`` (no penalty), when the firm computed it
        for this step (full batch): a collective that knows the base data exactly may use it
        instead of computing the same numbers again.
    """

    step: int
    theta: FloatArray
    published_at: int
    model: LinearLoss
    lr: float
    alpha: float
    base_gradient: FloatArray | None = None


class AdaptiveCollective(Protocol):
    """An adaptive collective: between steps it answers with the points it reports.

    ``every``: it sees the model every ``every`` steps (1: every step); between two views its
    reports stay the same. ``reports(view)`` returns ``(X, y)`` in the firm's feature space
    (rows the firm puts through :meth:`LinearLoss.design`); the firm uses their mean gradient
    with weight ``view.alpha``.
    """

    every: int

    def reports(self, view: StepView) -> tuple[FloatArray, Any]: ...


class GradientDescentFirm(ClassifierMixin, BaseEstimator):
    """A linear model fitted by full-batch gradient descent or minibatch SGD.

    Parameters
    ----------
    loss : {"logistic", "softmax", "squared"}, default="logistic"
        Logistic regression (2 classes), softmax regression (any number of classes) or least
        squares (a regressor: ``predict`` returns ``Xθ``).
    l2 : float, default=0.0
        L2 penalty on the weights (not the intercept).
    lr : float, default=0.5
        Learning rate (constant).
    steps : int, default=500
        Number of gradient steps.
    batch_size : int or None, default=None
        None: full-batch gradient descent; else minibatch SGD with batches of this size drawn
        with ``seed``.
    fit_intercept : bool, default=True
    init : "zeros" or array-like, default="zeros"
        θ_0 (an array of shape ``(p, k)`` or ``p·k`` values).
    record_every : int, default=10
        Keep θ_t every ``record_every`` steps (and the last) in ``trajectory_``.
    seed : int, default=0
        Seed of the minibatches.
    device : {"auto", "cpu"}, default="auto"
        Where it runs: always the CPU (numpy; see the module's docstring).
    max_norm : float, default=1e8
        ``||θ_t||`` above this (or a non-finite θ_t) stops the fit with :class:`DivergedError`.

    Attributes
    ----------
    theta_ : ndarray of shape (p, k)
        The final parameters.
    coef_, intercept_ : ndarray
        As in scikit-learn's linear models.
    trajectory_ : ndarray of shape (n_records, p·k)
        θ_t at ``trajectory_steps_``.
    classes_ : ndarray
        The class labels (classification losses).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[-1.0], [-2.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
    >>> GradientDescentFirm(steps=200).fit(X, y).predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, loss: str = "logistic", l2: float = 0.0, lr: float = 0.5,
                 steps: int = 500, batch_size: int | None = None, fit_intercept: bool = True,
                 init: Any = "zeros", record_every: int = 10, seed: int = 0,
                 device: str = "auto", max_norm: float = 1e8) -> None:
        store_params(self, locals())

    # ------------------------------------------------------------------ checks
    def check_params(self) -> None:
        """Raise a one-line ``ValueError`` naming the parameter if one is impossible."""
        if self.loss not in LOSSES:
            raise ValueError(f"firm.params.loss: {self.loss!r} is not one of {', '.join(LOSSES)}")
        for name in ("lr", "max_norm"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"firm.params.{name}: {v!r} must be a number > 0")
        if isinstance(self.l2, bool) or not isinstance(self.l2, int | float) or not self.l2 >= 0:
            raise ValueError(f"firm.params.l2: {self.l2!r} must be a number >= 0")
        for name in ("steps", "record_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"firm.params.{name}: {v!r} must be an integer >= 1")
        b = self.batch_size
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
            raise ValueError(f"firm.params.batch_size: {b!r} must be an integer >= 1 or null")
        if self.device not in ("auto", "cpu"):
            raise ValueError(f"firm.params.device: {self.device!r} is not one of auto, cpu (the "
                             "gradient firms run on numpy, on the CPU)")
        if not (isinstance(self.init, str) and self.init == "zeros"):
            if isinstance(self.init, str):
                raise ValueError(f"firm.params.init: {self.init!r} is not 'zeros' or a list of "
                                 "numbers")

    def model(self, n_features: int, n_classes: int) -> LinearLoss:
        """The :class:`LinearLoss` of this firm for data of this shape."""
        k = n_classes if self.loss == "softmax" else 1
        return LinearLoss(self.loss, n_features, k, bool(self.fit_intercept), float(self.l2))

    def _theta0(self, model: LinearLoss) -> FloatArray:
        if isinstance(self.init, str):
            return np.zeros(model.shape)
        t = np.asarray(self.init, dtype=np.float64)
        if t.size != model.size:
            raise ValueError(f"firm.params.init: has {t.size} values; the model has {model.size} "
                             f"parameters ({describe_shape(model)})")
        return t.reshape(model.shape).copy()

    def _prepare(self, X: Any, y: Any) -> tuple[LinearLoss, FloatArray, Any]:
        self.check_params()
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if self.loss == "squared":
            self.classes_ = None
            yy: Any = y.astype(np.float64)
            model = self.model(X.shape[1], 1)
        else:
            self.classes_, yy = np.unique(y, return_inverse=True)
            if self.loss == "logistic" and len(self.classes_) > 2:
                raise ValueError(f"firm.params.loss: 'logistic' takes 2 classes, the data has "
                                 f"{len(self.classes_)}; use 'softmax'")
            n_classes = max(len(self.classes_), 2)
            model = self.model(X.shape[1], n_classes)
        self.n_features_in_ = X.shape[1]
        return model, model.design(X), yy

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any) -> GradientDescentFirm:
        """Gradient descent on the rows ``(X, y)``; returns ``self``."""
        model, Xd, yy = self._prepare(X, y)
        return self._descend(model, Xd, yy, None, 0.0)

    def fit_steered(self, X: Any, y: Any, collective: AdaptiveCollective,
                    alpha: float) -> GradientDescentFirm:
        """Gradient descent where an adaptive collective supplies part of every step's gradient.

        Each step's gradient is ``α · mean ∇ℓ(reports) + (1 − α) · mean ∇ℓ(batch of (X, y)) +
        penalty``, where the reports are what ``collective.reports(view)`` returned at the last
        view (every ``collective.every`` steps).

        Parameters
        ----------
        X, y : the base rows (the firm's data without the collective's).
        collective : AdaptiveCollective
        alpha : float
            Weight of the reports, in [0, 1].

        Returns
        -------
        self
        """
        if not 0 <= alpha <= 1:
            raise ValueError(f"collective.alpha: {alpha} is not a fraction in [0, 1]")
        model, Xd, yy = self._prepare(X, y)
        if self.classes_ is not None and not np.array_equal(self.classes_,
                                                              np.arange(len(self.classes_))):
            raise ValueError("fit_steered needs labels 0 .. k-1")
        return self._descend(model, Xd, yy, collective, float(alpha))

    def _descend(self, model: LinearLoss, Xd: FloatArray, y: Any,
                 collective: AdaptiveCollective | None, alpha: float) -> GradientDescentFirm:
        theta = self._theta0(model)
        rng = check_random_state(self.seed)
        n = len(Xd)
        batch = None if self.batch_size is None or self.batch_size >= n else int(self.batch_size)
        every = max(1, int(getattr(collective, "every", 1))) if collective is not None else 1
        records, steps = [theta.ravel().copy()], [0]
        Xr = yr = None
        g_rep = np.zeros_like(theta)
        for t in range(int(self.steps)):
            if batch is None:
                g = model.data_gradient(theta, Xd, y)
            else:
                idx = rng.randint(n, size=batch)
                g = model.data_gradient(theta, Xd[idx], np.asarray(y)[idx])
            if collective is not None and alpha > 0:
                if t % every == 0:
                    view = StepView(t, theta.copy(), t, model, float(self.lr), alpha,
                                    g if batch is None else None)
                    Xr, yr = collective.reports(view)
                    Xr = model.design(Xr)
                g_rep = model.data_gradient(theta, Xr, yr)
                g = alpha * g_rep + (1.0 - alpha) * g
            theta = theta - self.lr * (g + model.penalty_gradient(theta))
            norm = float(np.linalg.norm(theta))
            if not np.isfinite(norm) or norm > self.max_norm:
                raise DivergedError(
                    f"firm.params.lr: gradient descent diverged at step {t + 1} (||θ|| = "
                    f"{norm:.3g}); lower the learning rate (now {self.lr})")
            if (t + 1) % self.record_every == 0 or t + 1 == self.steps:
                records.append(theta.ravel().copy())
                steps.append(t + 1)
        self.theta_ = theta
        self.model_ = model
        self.device_ = "cpu"
        self.trajectory_ = np.array(records)
        self.trajectory_steps_ = np.array(steps)
        k = self.fit_intercept
        self.coef_ = theta[:-1].T.copy() if k else theta.T.copy()
        self.intercept_ = theta[-1].copy() if k else np.zeros(theta.shape[1])
        return self

    # ------------------------------------------------------------------ prediction
    def decision_function(self, X: Any) -> FloatArray:
        """``Xθ`` (one column squeezed for logistic and squared)."""
        Z = self.model_.design(X) @ self.theta_
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_proba(self, X: Any) -> FloatArray:
        """Class probabilities (classification losses)."""
        if self.loss == "squared":
            raise AttributeError("a least-squares firm has no predict_proba")
        P = self.model_.predictions(self.theta_, self.model_.design(X))
        return np.hstack([1 - P, P]) if self.loss == "logistic" else P

    def predict(self, X: Any) -> Any:
        """Classes (classification) or ``Xθ`` (least squares)."""
        if self.loss == "squared":
            return self.decision_function(X)
        Z = self.decision_function(X)
        idx = (Z > 0).astype(int) if Z.ndim == 1 else Z.argmax(axis=1)
        return self.classes_[idx]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (classification) or R² (least squares)."""
        if self.loss == "squared":
            from sklearn.metrics import r2_score

            return float(r2_score(y, self.predict(X), sample_weight=sample_weight))
        return super().score(X, y, sample_weight)


def describe_shape(model: LinearLoss) -> str:
    """E.g. ``"5 weights + intercept"`` or ``"3 classes x (4 weights + intercept)"``."""
    w = f"{model.n_features} weights" + (" + intercept" if model.fit_intercept else "")
    return w if model.n_outputs == 1 else f"{model.n_outputs} classes x ({w})"


__all__ = [
    "LOSSES",
    "AdaptiveCollective",
    "DivergedError",
    "GradientDescentFirm",
    "LinearLoss",
    "StepView",
    "describe_shape",
]
