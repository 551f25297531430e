"""θ* of a collective: given directly, or from a goal on the clean model θ0 (set a weight, flip
its sign, send signal points to a class, learn nothing), moved to where descent can go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from acakit.firms.gradient import LinearLoss

FloatArray = NDArray[np.float64]


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
