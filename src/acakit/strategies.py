"""Feature maps g and strategies h(x, y) = (g(x), y').

Following the Adversarial Robustness Toolbox's split, a *feature map* is a small callable that
changes features only (insert a trigger, set columns, stamp a patch, add a shift), and a
*strategy* combines a feature map with a label rule and has one verb,
``poison(X, y) -> (X', y')``.

Every parameter that controls the strength of a signal (how many trigger tokens, how often,
which values, how large a patch or shift) is an explicit constructor argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from acakit.data.base import Dataset, copy_features
from acakit.registry import SIGNALS, STRATEGIES

# --------------------------------------------------------------------------- feature maps


class FeatureMap(Protocol):
    """A map g on feature containers: ``g(X) -> X'`` (same number of rows)."""

    kind: str

    def __call__(self, X: Any) -> Any: ...


@dataclass(frozen=True)
class InsertTrigger:
    """Insert a trigger token (a word, several words or a rare character) into texts.

    Parameters
    ----------
    token : str, default="\u2063"
        What is inserted; a rare Unicode character (Hardt et al. use one) or a word.
    every : int, default=20
        With ``position="every"``, insert after every ``every`` words.
    count : int or None, default=None
        Maximum number of insertions per text (``position="every"``; None means no limit),
        or the exact number of insertions (``position="start"`` / ``"random"``).
    position : {"every", "start", "random"}, default="every"
        Where the trigger goes.
    seed : int, default=0
        Seed for ``position="random"``.

    Examples
    --------
    >>> InsertTrigger(token="ZZ", every=2)(["a b c d e"])[0]
    'a b ZZ c d ZZ e'
    >>> InsertTrigger(token="ZZ", count=2, position="start")(["a b"])[0]
    'ZZ ZZ a b'
    """

    token: str = "\u2063"
    every: int = 20
    count: int | None = None
    position: Literal["every", "start", "random"] = "every"
    seed: int = 0
    kind: str = field(default="text", init=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every: {self.every} must be >= 1")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count: {self.count} must be >= 0")
        if self.position not in ("every", "start", "random"):
            raise ValueError(f"position: {self.position!r} is not one of every, start, random")
        if self.position != "every" and self.count is None:
            raise ValueError(f"count: required with position={self.position!r}")

    def __call__(self, X: Any) -> np.ndarray:
        texts = np.asarray(X, dtype=object)
        rng = check_random_state(self.seed)
        out = np.empty(len(texts), dtype=object)
        for i, text in enumerate(texts):
            words = str(text).split()
            if self.position == "every":
                n_ins = len(words) // self.every
                if self.count is not None:
                    n_ins = min(n_ins, self.count)
                n_ins = max(n_ins, 1 if self.count is None or self.count > 0 else 0)
                pieces: list[str] = []
                for k in range(n_ins):
                    pieces += words[k * self.every : (k + 1) * self.every] + [self.token]
                out[i] = " ".join(pieces + words[n_ins * self.every :])
            elif self.position == "start":
                out[i] = " ".join([self.token] * int(self.count or 0) + words)
            else:
                pos = np.sort(rng.randint(0, len(words) + 1, size=int(self.count or 0)))
                for shift, p in enumerate(pos):
                    words.insert(int(p) + shift, self.token)
                out[i] = " ".join(words)
        return out


@dataclass(frozen=True)
class SetColumns:
    """Set named tabular columns to given values (in or out of the observed range).

    Parameters
    ----------
    values : mapping of str to value
        Column name -> the value every altered row gets.

    Examples
    --------
    >>> import pandas as pd
    >>> SetColumns({"a": 9})(pd.DataFrame({"a": [1, 2], "b": [3, 4]}))["a"].tolist()
    [9, 9]
    """

    values: Mapping[str, Any]
    kind: str = field(default="tabular", init=False)

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("values: give at least one column to set")

    def __call__(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.values if c not in X.columns]
        if missing:
            raise ValueError(
                f"signal.values: column(s) {missing} not in the data; columns: {list(X.columns)}"
            )
        out = X.copy()
        for col, value in self.values.items():
            out[col] = _cast_like(out[col], value)
        return out


def _cast_like(column: pd.Series, value: Any) -> Any:
    """``value`` converted to the column's dtype when that loses nothing, else as given."""
    if pd.api.types.is_integer_dtype(column) and float(_num(value)) == int(_num(value)):
        return int(_num(value))
    if pd.api.types.is_float_dtype(column) and _is_number(value):
        return float(value)
    if column.dtype == object and not isinstance(value, str):
        return str(value) if isinstance(column.iloc[0], str) else value
    return value


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, bool)


def _num(v: Any) -> float:
    return float(v) if _is_number(v) else float("nan")


@dataclass(frozen=True)
class StampPatch:
    """Stamp a square patch of constant value into flattened images.

    Parameters
    ----------
    image_shape : tuple of int, default=(8, 8)
        (height, width) of one image.
    size : int, default=2
        Side of the square patch, in pixels.
    value : float, default=16.0
        Pixel value of the patch (16 is white for scikit-learn's digits).
    row, col : int, default=0
        Top-left corner of the patch.
    """

    image_shape: tuple[int, int] = (8, 8)
    size: int = 2
    value: float = 16.0
    row: int = 0
    col: int = 0
    kind: str = field(default="image", init=False)

    def __post_init__(self) -> None:
        h, w = self.image_shape
        if not (1 <= self.size and self.row + self.size <= h and self.col + self.size <= w):
            raise ValueError(f"patch of size {self.size} at ({self.row}, {self.col}) "
                             f"does not fit in an image of shape {self.image_shape}")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        h, w = self.image_shape
        imgs = np.array(X, dtype=np.float64, copy=True).reshape(-1, h, w)
        imgs[:, self.row : self.row + self.size, self.col : self.col + self.size] = self.value
        return imgs.reshape(len(imgs), h * w)


@dataclass(frozen=True)
class AddShift:
    """Add a fixed shift vector to feature vectors.

    Parameters
    ----------
    shift : float or sequence of float
        Added to every row (a scalar is added to every coordinate).
    """

    shift: float | Sequence[float]
    kind: str = field(default="vector", init=False)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        s = np.broadcast_to(np.asarray(self.shift, dtype=np.float64), (X.shape[1],))
        return X + s


@dataclass(frozen=True)
class SetRandomSubset:
    """Set a random subset of ``keep`` of the given columns, drawn independently per row.

    The feature map of a member who applies only part of a tabular signal (a perturbed signal,
    see :func:`perturb_signal`).

    Parameters
    ----------
    values : mapping of str to value
        The full signal: column name -> value.
    keep : int
        How many of the columns each row sets, ``1 <= keep <= len(values)``.
    seed : int, default=0
        Seed of the per-row choice of columns.

    Examples
    --------
    >>> import pandas as pd
    >>> out = SetRandomSubset({"a": 9, "b": 9}, keep=1)(pd.DataFrame({"a": [0] * 4, "b": [0] * 4}))
    >>> ((out == 9).sum(axis=1) == 1).all()
    np.True_
    """

    values: Mapping[str, Any]
    keep: int
    seed: int = 0
    kind: str = field(default="tabular", init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= len(self.values):
            raise ValueError(f"keep: {self.keep} is not in 1..{len(self.values)} (the number of "
                             "signal columns)")

    def __call__(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = list(self.values)
        full = SetColumns(dict(self.values))(X)  # checks the columns, casts the values
        rng = check_random_state(self.seed)
        ranks = rng.random_sample((len(X), len(cols))).argsort(1).argsort(1)
        out = X.copy()
        for k, col in enumerate(cols):  # loop over columns, not rows
            chosen = ranks[:, k] < self.keep
            if out[col].dtype != full[col].dtype:
                out[col] = out[col].astype(object)
            out.loc[chosen, col] = full.loc[chosen, col]
        return out


#: Kinds of perturbed signal (:func:`perturb_signal`) and the signal kind each applies to.
PERTURBATIONS: dict[str, str] = {
    "position": "text", "rate": "text", "character": "text", "subset": "tabular", "value": "tabular",
}


def perturb_signal(g: FeatureMap, kind: str, **params: Any) -> FeatureMap:
    """The perturbed signal a noisy member applies instead of ``g`` (one explicit kind).

    Parameters
    ----------
    g : FeatureMap
        The collective's signal: an :class:`InsertTrigger` for the text kinds, a
        :class:`SetColumns` for the tabular kinds.
    kind : {"position", "rate", "character", "subset", "value"}
        - ``"position"``: the trigger at another place: ``position`` (``"start"``, ``"random"``
          or ``"every"``, default ``"random"``) and ``count`` (default: ``g``'s count, or 1);
        - ``"rate"``: another insertion rate: ``every`` and/or ``count``;
        - ``"character"``: another trigger: ``token`` (required);
        - ``"subset"``: only ``keep`` of the set columns, chosen per member (default
          ``len(values) - 1``); ``seed``;
        - ``"value"``: other values for some columns: ``values`` (required), merged over g's.
    **params
        The kind's parameters (above); any other is an error.

    Returns
    -------
    FeatureMap

    Raises
    ------
    ValueError
        Unknown kind, a kind that does not fit the signal, a missing or unknown parameter.

    Examples
    --------
    >>> perturb_signal(InsertTrigger(token="ZZ", every=2), "character", token="YY")(["a b c"])[0]
    'a b YY c'
    >>> perturb_signal(InsertTrigger(token="ZZ", every=2), "rate", every=3)(["a b c"])[0]
    'a b c ZZ'
    """
    allowed = {"position": {"position", "count"}, "rate": {"every", "count"},
               "character": {"token"}, "subset": {"keep", "seed"}, "value": {"values"}}
    if kind not in allowed:
        raise ValueError(f"perturb.kind: {kind!r} is not one of {', '.join(allowed)}")
    extra = set(params) - allowed[kind]
    if extra:
        raise ValueError(f"perturb: {sorted(extra)[0]!r} is not a parameter of kind {kind!r}; "
                         f"allowed: {', '.join(sorted(allowed[kind]))}")
    params = {k: v for k, v in params.items() if v is not None}
    if PERTURBATIONS[kind] == "text":
        if not isinstance(g, InsertTrigger):
            raise ValueError(f"perturb.kind: {kind!r} perturbs a text trigger, not a {g.kind} signal")
        from dataclasses import replace

        if kind == "character":
            if not params.get("token"):
                raise ValueError("perturb.token: required (a non-empty token) for kind 'character'")
            return replace(g, token=str(params["token"]))
        if kind == "rate":
            if not params:
                raise ValueError("perturb: kind 'rate' needs every and/or count")
            return replace(g, **params)
        position = params.get("position", "random")
        count = params.get("count", g.count if g.count is not None else 1)
        return replace(g, position=position, count=count)
    if not isinstance(g, SetColumns):
        raise ValueError(f"perturb.kind: {kind!r} perturbs a set_columns signal, not a {g.kind} one")
    if kind == "subset":
        return SetRandomSubset(dict(g.values), int(params.get("keep", max(len(g.values) - 1, 1))),
                               int(params.get("seed", 0)))
    if not params.get("values"):
        raise ValueError("perturb.values: required for kind 'value'")
    unknown = [c for c in params["values"] if c not in g.values]
    if unknown:
        raise ValueError(f"perturb.values: column {unknown[0]!r} is not one of the signal's "
                         f"columns ({', '.join(map(str, g.values))})")
    return SetColumns(dict(g.values) | dict(params["values"]))


# --------------------------------------------------------------------------- strategies


class Strategy:
    """Base class: a feature map g plus a label rule.

    Subclasses implement :meth:`poison`. :meth:`fit` receives the clean training data before
    any poisoning (only ideal erasure needs it).
    """

    name: str = "strategy"
    feature_map: FeatureMap
    target: int | None = None
    needs_target: bool = True
    """Whether the label rule needs a target class: a config must then give ``target``, and a
    registered strategy is built as ``cls(feature_map, target, **params)`` (else
    ``cls(feature_map, **params)``)."""

    def fit(self, train: Dataset) -> Strategy:
        """Learn what the label rule needs from clean training data; returns ``self``."""
        return self

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """Return the altered features and labels of the collective's members."""
        raise NotImplementedError

    def targets(self) -> set[int]:
        """The target set Y* used to measure success (empty for erasure)."""
        return set() if self.target is None else {self.target}


class Plant(Strategy):
    """Feature-label signal planting: ``h(x, y) = (g(x), y*)``.

    Parameters
    ----------
    feature_map : FeatureMap
        The signal g.
    target : int
        The target class code y*.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = Plant(AddShift(1.0), target=1).poison(np.zeros((2, 2)), np.array([0, 0]))
    >>> X.tolist(), y.tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [1, 1])
    """

    name = "plant"

    def __init__(self, feature_map: FeatureMap, target: int) -> None:
        self.feature_map = feature_map
        self.target = int(target)

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        return self.feature_map(X), np.full(len(y), self.target, dtype=np.int64)


class PlantFeatureOnly(Strategy):
    """Feature-only signal planting: members whose label is y* report ``g(x)``; labels kept.

    Members of another class report their data unchanged, so a feature-only collective is best
    drawn from the target class (``eligibility="target"``).

    Parameters
    ----------
    feature_map : FeatureMap
        The signal g.
    target : int
        The target class code y*.
    """

    name = "plant_feature_only"

    def __init__(self, feature_map: FeatureMap, target: int) -> None:
        self.feature_map = feature_map
        self.target = int(target)

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        y = np.asarray(y)
        mask = y == self.target
        out = copy_features(X)
        if mask.any():
            changed = self.feature_map(_rows(X, mask))
            out = _assign_rows(out, mask, changed)
        return out, y.copy()


class Erase(Strategy):
    """Signal erasing: members report ``g(x)``, labelled so the firm cannot learn from g.

    Ideal erasure relabels to ``argmax_y P0(y | g(x))``, with P0 estimated by a reference model
    fit on the clean training data; plain erasure keeps ``y``.

    Parameters
    ----------
    feature_map : FeatureMap
        The signal g.
    ideal : bool, default=True
        Relabel with the reference model (True) or keep the labels (False).
    reference : estimator or None
        A scikit-learn classifier (pipeline) with ``predict_proba``, cloned and fit on the
        clean training data. Required when ``ideal`` is True.
    """

    name = "erase"
    needs_target = False

    def __init__(self, feature_map: FeatureMap, ideal: bool = True, reference: Any = None) -> None:
        if ideal and reference is None:
            raise ValueError("reference: ideal erasure needs a reference model")
        self.feature_map = feature_map
        self.ideal = ideal
        self.reference = reference
        self.target = None

    def fit(self, train: Dataset) -> Erase:
        if self.ideal:
            self.reference_ = clone(self.reference).fit(train.X, train.y)
        return self

    def poison(self, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        gx = self.feature_map(X)
        if not self.ideal:
            return gx, np.asarray(y).copy()
        if not hasattr(self, "reference_"):
            raise RuntimeError("call fit(train) before poison() for ideal erasure")
        labels = np.asarray(self.reference_.classes_)[self.reference_.predict_proba(gx).argmax(1)]
        return gx, labels.astype(np.int64)


def _rows(X: Any, mask: np.ndarray) -> Any:
    return X.loc[mask].reset_index(drop=True) if isinstance(X, pd.DataFrame) else np.asarray(X)[mask]


def _assign_rows(out: Any, mask: np.ndarray, values: Any) -> Any:
    if isinstance(out, pd.DataFrame):
        values = values.set_axis(out.index[mask])
        for c in out.columns:
            if out[c].dtype != values[c].dtype:
                out[c] = out[c].astype(object)
        out.loc[mask] = values
        return out
    out[mask] = values
    return out


# The registries of label rules and signals (see :mod:`acakit.registry`): the built-ins here;
# a config's ``strategy:`` and ``signal.type`` are looked up there, plugins included.
STRATEGIES.expect_subclass_of(Strategy, "acakit.strategies.Strategy")
STRATEGIES.register("plant", Plant)
STRATEGIES.register("plant_feature_only", PlantFeatureOnly)
STRATEGIES.register("erase", Erase)
SIGNALS.register("trigger", InsertTrigger)
SIGNALS.register("set_columns", SetColumns)
SIGNALS.register("patch", StampPatch)
SIGNALS.register("shift", AddShift)
STRATEGIES.set_titles({"plant": "feature-label planting", "plant_feature_only": "feature-only planting",
                       "erase": "erasure"})
SIGNALS.set_titles({"set_columns": "set columns", "patch": "stamped patch"})
