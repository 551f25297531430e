"""Firms that defend themselves: data sanitisation before fitting.

A *defense* looks at the training data ``(X, y)`` a firm is given and, before the firm fits,
either **filters or reweights** rows (a weight per row: 0 drops it, 1 keeps it) or
**transforms** the data (vocabulary pruning, rare categorical values merged), the same way at
fit and at prediction time. :class:`DefendedClassifier` wraps any firm with one defense, so a
defended firm is just another firm: ``make_firm(..., defense={"name": ..., "params": ...})``
works for every kind of experiment, and the engine reads the rows the defense dropped from the
fitted wrapper (``weights_``) to measure how well it found the collective.

Built-in defenses (:data:`DEFENSES`):

================== =========== ==============================================================
name               acts by     what
================== =========== ==============================================================
isolation_forest   filter      feature outliers (scikit-learn ``IsolationForest``)
lof                filter      feature outliers (scikit-learn ``LocalOutlierFactor``)
confident_learning filter      label issues (cleanlab ``find_label_issues`` on cross-validated
                               probabilities)
duplicates         filter      exact duplicates, and near duplicates of texts (word n-gram
                               MinHash + LSH, datasketch)
spectral           filter      spectral signatures (Tran, Li, Madry 2018; numpy SVD) on the
                               firm's representation
min_df             transform   text: tokens in fewer than ``min_df`` training documents are
                               removed; tabular: categorical values in fewer than ``min_df``
                               training rows are merged into one value
callable           filter      any allowed function ``f(X, y, **params) -> keep mask or
                               weights`` named by a dotted path
================== =========== ==============================================================

A config names a function by a dotted path under an allowed module only (the trust model of
:func:`acakit.firms.import_object`, see ``SECURITY.md``): nothing in a config runs arbitrary
code.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from acakit.registry import DEFENSES_REGISTRY, Registry

__all__ = [
    "DEFENSES",
    "CallableDefense",
    "ConfidentLearning",
    "Defense",
    "DefendedClassifier",
    "Duplicates",
    "IsolationForestDefense",
    "LOFDefense",
    "MinDF",
    "SpectralSignatures",
    "detection_metrics",
    "keep_all",
    "make_defense",
]


class Defense:
    """Base class of a defense: ``weights(X, y, represent)`` or ``fit``/``transform``.

    A filter returns one weight per training row in [0, 1] (0 drops the row); a transform
    (``acts = "transform"``) rewrites the data and keeps every row. ``represent()`` gives the
    numeric representation of the training rows (the firm's featurizer or its embeddings),
    computed only if the defense asks for it.
    """

    acts: str = "filter"
    #: Kinds of data the defense can read (``None``: any).
    kinds: tuple[str, ...] | None = None

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        """Weights of the training rows (filters); transforms keep every row."""
        return np.ones(len(y))

    def fit(self, X: Any, y: np.ndarray) -> Defense:
        """Learn what the transform needs (transforms only)."""
        return self

    def transform(self, X: Any) -> Any:
        """The data as the firm sees it (identity for filters)."""
        return X

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor parameters (for labels, ``repr`` and scikit-learn's ``clone``)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _dense(R: Any) -> np.ndarray:
    return np.asarray(R.toarray() if hasattr(R, "toarray") else R, dtype=float)


def _check_frac(name: str, v: float | str, allow_auto: bool = False) -> None:
    if allow_auto and v == "auto":
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < float(v) < 0.5:
        raise ValueError(f"{name}: {v!r} is not a fraction in (0, 0.5)"
                         + (" or 'auto'" if allow_auto else ""))


class IsolationForestDefense(Defense):
    """Drop feature outliers found by scikit-learn's ``IsolationForest``.

    Parameters
    ----------
    contamination : float or "auto", default=0.01
        Share of rows flagged as outliers.
    n_estimators : int, default=100
    random_state : int, default=0

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((50, 2)) + np.random.default_rng(0).normal(size=(50, 2)), [[9, 9]]]
    >>> w = IsolationForestDefense(contamination=0.02).weights(X, np.zeros(51), lambda: X)
    >>> bool(w[-1] == 0)
    True
    """

    def __init__(self, contamination: float | str = 0.01, n_estimators: int = 100,
                 random_state: int = 0) -> None:
        _check_frac("contamination", contamination, allow_auto=True)
        self.contamination = contamination
        self.n_estimators = int(n_estimators)
        self.random_state = random_state

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=self.n_estimators, contamination=self.contamination,
                                 random_state=self.random_state)
        return (forest.fit_predict(represent()) == 1).astype(float)


class LOFDefense(Defense):
    """Drop feature outliers found by scikit-learn's ``LocalOutlierFactor``.

    Parameters
    ----------
    contamination : float or "auto", default=0.01
    n_neighbors : int, default=20
    """

    def __init__(self, contamination: float | str = 0.01, n_neighbors: int = 20) -> None:
        _check_frac("contamination", contamination, allow_auto=True)
        self.contamination = contamination
        self.n_neighbors = int(n_neighbors)

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        from sklearn.neighbors import LocalOutlierFactor

        lof = LocalOutlierFactor(n_neighbors=self.n_neighbors, contamination=self.contamination)
        return (lof.fit_predict(represent()) == 1).astype(float)


class ConfidentLearning(Defense):
    """Drop label issues found by confident learning (cleanlab's ``find_label_issues``).

    Out-of-fold class probabilities come from ``cv``-fold cross-validation of a logistic
    regression on the firm's representation (``model="logistic_regression"``, the default)
    or of the firm itself (``model="firm"``; it needs ``predict_proba``).

    The default model is strongly regularised (``C=0.01``) on purpose: in every fold the
    members outside it teach the model their signal, and a weakly regularised model (``C=1``)
    learns it, so planters whose label follows the signal look like clean points and evade the
    filter (on Adult, recall 0.19 at α = 0.05% with ``C=1`` against 0.75 with ``C=0.01``).

    Parameters
    ----------
    cv : int, default=3
    filter_by : str, default="prune_by_noise_rate"
        cleanlab's filter (``prune_by_noise_rate``, ``prune_by_class``, ``both``,
        ``confident_learning``, ``predicted_neq_given``).
    model : {"logistic_regression", "firm"}, default="logistic_regression"
    C : float, default=0.01
        Inverse regularisation of the logistic regression.
    random_state : int, default=0
    """

    def __init__(self, cv: int = 3, filter_by: str = "prune_by_noise_rate",
                 model: str = "logistic_regression", C: float = 0.01, random_state: int = 0) -> None:
        filters = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                   "predicted_neq_given")
        if filter_by not in filters:
            raise ValueError(f"filter_by: {filter_by!r} is not one of {', '.join(filters)}")
        if model not in ("logistic_regression", "firm"):
            raise ValueError(f"model: {model!r} is not one of logistic_regression, firm")
        if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
            raise ValueError(f"cv: {cv!r} is not an integer >= 2")
        self.cv = cv
        self.filter_by = filter_by
        self.model = model
        self.C = float(C)
        self.random_state = random_state
        self._firm: Any = None

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        from cleanlab.filter import find_label_issues
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        classes, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(classes) < 2:
            return np.ones(len(codes))
        folds = StratifiedKFold(n_splits=min(self.cv, int(np.bincount(codes).min()) or 2),
                                shuffle=True, random_state=self.random_state)
        if self.model == "firm" and self._firm is not None:
            probs = cross_val_predict(clone(self._firm), X, codes, cv=folds, method="predict_proba")
        else:
            est = LogisticRegression(C=self.C, max_iter=1000)
            probs = cross_val_predict(est, represent(), codes, cv=folds, method="predict_proba")
        issues = find_label_issues(labels=codes, pred_probs=probs, filter_by=self.filter_by,
                                   n_jobs=1)  # its process pool fails inside loky workers
        return (~np.asarray(issues, dtype=bool)).astype(float)


def _text_shingles(text: str, n: int) -> set[bytes]:
    words = str(text).lower().split()
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


class Duplicates(Defense):
    """Drop exact duplicates and (texts) near duplicates, keeping one row of each group.

    Exact duplicates are rows with equal features (tabular: every column; text: the text after
    lower-casing and collapsing white space). Near duplicates of texts are pairs whose word
    ``ngram`` shingles have an estimated Jaccard similarity of at least ``threshold``
    (datasketch's MinHash with ``num_perm`` permutations; its LSH index, tuned against missed
    pairs, proposes candidates whose MinHash estimate is then checked); set ``near=False``
    for exact duplicates only. Labels are ignored: a planted copy with another label is a
    duplicate too.

    Parameters
    ----------
    near : bool, default=True
    threshold : float, default=0.8
    ngram : int, default=3
    num_perm : int, default=128
    keep : {"first", "none"}, default="first"
        ``"first"`` keeps the first row of each group, ``"none"`` drops the whole group.
    random_state : int, default=0
    """

    def __init__(self, near: bool = True, threshold: float = 0.8, ngram: int = 3,
                 num_perm: int = 128, keep: str = "first", random_state: int = 0) -> None:
        if keep not in ("first", "none"):
            raise ValueError(f"keep: {keep!r} is not one of first, none")
        if not 0 < float(threshold) <= 1:
            raise ValueError(f"threshold: {threshold!r} is not in (0, 1]")
        self.near = bool(near)
        self.threshold = float(threshold)
        self.ngram = int(ngram)
        self.num_perm = int(num_perm)
        self.keep = keep
        self.random_state = random_state

    def groups(self, X: Any) -> np.ndarray:
        """A group id per row: rows of one group are (near) duplicates of each other."""
        if isinstance(X, pd.DataFrame):
            keys = pd.util.hash_pandas_object(X, index=False).to_numpy()
            return np.unique(keys, return_inverse=True)[1]
        texts = [" ".join(str(t).lower().split()) for t in np.asarray(X, dtype=object).ravel()]
        if not isinstance(texts[0] if texts else "", str) or not self.near:
            return np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)[1]
        from datasketch import MinHash, MinHashLSH

        n = len(texts)
        parent = np.arange(n)

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = int(parent[i])
            return i

        # LSH tuned against false negatives; candidates are then checked on their estimate
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm, weights=(0.1, 0.9))
        hashes = MinHash.bulk([sorted(_text_shingles(t, self.ngram)) for t in texts],
                              num_perm=self.num_perm, seed=self.random_state)
        for i, m in enumerate(hashes):
            for j in lsh.query(m):
                if m.jaccard(hashes[int(j)]) < self.threshold:
                    continue
                ri, rj = find(i), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
            lsh.insert(i, m)
        return np.array([find(i) for i in range(n)])

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        g = self.groups(X)
        counts = np.bincount(g)
        if self.keep == "none":
            return (counts[g] == 1).astype(float)
        first = np.zeros(len(g), dtype=bool)
        first[np.unique(g, return_index=True)[1]] = True
        return first.astype(float)


class SpectralSignatures(Defense):
    """Spectral signatures (Tran, Li, Madry, NeurIPS 2018), a documented numpy SVD.

    For each class c, the representations R_c of its training rows are centred; every row's
    score is its squared projection on the top right singular vector of the centred matrix, and
    the ``multiplier * eps`` share of the class with the largest scores is dropped (the paper
    removes 1.5 ε, ε an upper bound on the poisoned share). The representation is the firm's
    embedding when it has one (``embed``, e.g. the MiniLM firm), else its featurizer's output.

    Parameters
    ----------
    eps : float, default=0.05
        Upper bound on the share of poisoned rows in a class.
    multiplier : float, default=1.5
    max_features : int, default=2000
        Sparse representations (TF-IDF) are reduced to their ``max_features`` most frequent
        columns before the SVD.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> R = rng.normal(size=(200, 5)); R[:10, 0] += 6
    >>> w = SpectralSignatures(eps=0.05).weights(R, np.zeros(200), lambda: R)
    >>> int((w[:10] == 0).sum())
    10
    """

    def __init__(self, eps: float = 0.05, multiplier: float = 1.5, max_features: int = 2000) -> None:
        _check_frac("eps", eps)
        self.eps = float(eps)
        self.multiplier = float(multiplier)
        self.max_features = int(max_features)

    def scores(self, R: Any, y: np.ndarray) -> np.ndarray:
        """The outlier score of every row within its class."""
        if hasattr(R, "toarray") and R.shape[1] > self.max_features:
            mass = np.asarray(abs(R).sum(axis=0)).ravel()
            R = R[:, np.argsort(-mass)[: self.max_features]]
        R = _dense(R)
        y = np.asarray(y)
        out = np.zeros(len(y))
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            if len(rows) < 3:
                continue
            M = R[rows] - R[rows].mean(axis=0)
            _, _, vt = np.linalg.svd(M, full_matrices=False)
            out[rows] = (M @ vt[0]) ** 2
        return out

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        s = self.scores(represent(), y)
        keep = np.ones(len(y))
        y = np.asarray(y)
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            k = int(np.floor(self.multiplier * self.eps * len(rows)))
            if k > 0:
                keep[rows[np.argsort(-s[rows], kind="stable")[:k]]] = 0.0
        return keep


#: Words, or single symbols (a rare trigger character is a token of its own).
TOKEN_PATTERN = r"\w+|[^\w\s]"


class MinDF(Defense):
    """Prune rare tokens (text) or merge rare categorical values (tabular).

    Text: a token (``token_pattern``, lower-cased) found in fewer than ``min_df`` training
    documents is removed from every text, at fit and at prediction time, so a trigger carried
    by fewer than ``min_df`` documents never reaches the firm. Tabular: in every categorical
    (object or category) column, a value found in fewer than ``min_df`` training rows is
    replaced by ``rare_value``. Rows are never dropped.

    Parameters
    ----------
    min_df : int, default=5
    token_pattern : str, default=TOKEN_PATTERN
    rare_value : str, default="__rare__"

    Examples
    --------
    >>> d = MinDF(min_df=2).fit(["a b zq", "a b", "b c"], None)
    >>> d.transform(["a zq b c"])
    ['a  b ']
    """

    acts = "transform"
    kinds = ("text", "tabular")

    def __init__(self, min_df: int = 5, token_pattern: str = TOKEN_PATTERN,
                 rare_value: str = "__rare__") -> None:
        if isinstance(min_df, bool) or not isinstance(min_df, int) or min_df < 1:
            raise ValueError(f"min_df: {min_df!r} is not an integer >= 1")
        re.compile(token_pattern)
        self.min_df = min_df
        self.token_pattern = token_pattern
        self.rare_value = rare_value

    def fit(self, X: Any, y: Any) -> MinDF:
        if isinstance(X, pd.DataFrame):
            self.kept_values_ = {}
            for col in X.columns:
                if X[col].dtype == object or isinstance(X[col].dtype, pd.CategoricalDtype) \
                        or pd.api.types.is_string_dtype(X[col].dtype):
                    counts = X[col].astype(str).value_counts()
                    self.kept_values_[col] = set(counts.index[counts >= self.min_df])
            return self
        pattern = re.compile(self.token_pattern)
        df: dict[str, int] = {}
        for t in np.asarray(X, dtype=object).ravel():
            for tok in {m.lower() for m in pattern.findall(str(t))}:
                df[tok] = df.get(tok, 0) + 1
        self.vocabulary_ = {tok for tok, n in df.items() if n >= self.min_df}
        return self

    def transform(self, X: Any) -> Any:
        if isinstance(X, pd.DataFrame):
            if not hasattr(self, "kept_values_"):
                raise ValueError("MinDF: transform before fit (or on texts after fitting a table)")
            out = X.copy()
            for col, kept in self.kept_values_.items():
                s = out[col].astype(str)
                out[col] = s.where(s.isin(kept), self.rare_value)
            return out
        if not hasattr(self, "vocabulary_"):
            raise ValueError("MinDF: transform before fit (or on a table after fitting texts)")
        pattern = re.compile(self.token_pattern)
        vocab = self.vocabulary_

        def keep(m: re.Match[str]) -> str:
            return m.group(0) if m.group(0).lower() in vocab else ""

        texts = [pattern.sub(keep, str(t)) for t in np.asarray(X, dtype=object).ravel()]
        return texts


def keep_all(X: Any, y: Any) -> np.ndarray:
    """A defense function that keeps every row (the template of a user callable).

    A callable defense takes the training features and labels (and its ``params``) and returns
    a boolean keep mask or one weight per row in [0, 1].
    """
    return np.ones(len(y), dtype=bool)


def import_function(path: str) -> Callable[..., Any]:
    """Import the defense function ``package.module.name`` of a config, if it is allowed.

    The same trust model as :func:`acakit.firms.import_object`: only dotted names under an
    allowed module (:func:`acakit.firms.allowed_modules`) are imported.

    Raises
    ------
    ValueError
        One line naming the path.
    """
    from acakit.firms import import_allowed

    where = "firm.defense.params.function"
    obj = import_allowed(path, where, "is not a dotted path to a function (package.module.f)")
    if inspect.isclass(obj) or not callable(obj):
        raise ValueError(f"{where}: {path!r} is not a function f(X, y) -> keep mask or weights")
    return obj  # type: ignore[no-any-return]


class CallableDefense(Defense):
    """A user function ``f(X, y, **kwargs) -> keep mask or weights`` named by a dotted path.

    Parameters
    ----------
    function : str
        Dotted path under an allowed module (see :func:`import_function`).
    **kwargs
        Passed to the function.
    """

    def __init__(self, function: str = "acakit.firms.defenses.keep_all", **kwargs: Any) -> None:
        self._fn = import_function(function)
        self.function = function
        self.kwargs = kwargs

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"function": self.function, **self.kwargs}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_fn"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fn = import_function(self.function)

    def weights(self, X: Any, y: np.ndarray, represent: Callable[[], Any]) -> np.ndarray:
        w = np.asarray(self._fn(X, y, **self.kwargs))
        if w.shape != (len(y),):
            raise ValueError(f"firm.defense: {self.function} returned shape {w.shape}, expected "
                             f"({len(y)},)")
        w = w.astype(float)
        if not np.all((w >= 0) & (w <= 1)):
            raise ValueError(f"firm.defense: {self.function} returned weights outside [0, 1]")
        return w


#: name -> (class, description): the defenses' registry (see :mod:`acakit.registry`)
DEFENSES: Registry[tuple[type[Defense], str]] = DEFENSES_REGISTRY
for _name, _entry in {
    "isolation_forest": (IsolationForestDefense, "feature outliers (IsolationForest)"),
    "lof": (LOFDefense, "feature outliers (LocalOutlierFactor)"),
    "confident_learning": (ConfidentLearning, "label issues (cleanlab, cross-validated)"),
    "duplicates": (Duplicates, "exact and near-duplicate records (MinHash for texts)"),
    "spectral": (SpectralSignatures, "spectral signatures on the firm's representation"),
    "min_df": (MinDF, "rare tokens pruned (text), rare categorical values merged (tabular)"),
    "callable": (CallableDefense, "a user function (X, y) -> keep mask or weights"),
}.items():
    DEFENSES.register(_name, _entry)


def make_defense(name: str, params: Mapping[str, Any] | None = None) -> Defense:
    """Build a defense from its name and parameters.

    Raises
    ------
    ValueError
        ``firm.defense.name: ...`` or ``firm.defense.params: ...`` (one line).

    Examples
    --------
    >>> make_defense("min_df", {"min_df": 3})
    MinDF(min_df=3, token_pattern='\\\\w+|[^\\\\w\\\\s]', rare_value='__rare__')
    """
    if name not in DEFENSES:
        raise ValueError(f"firm.defense.name: {name!r} is not one of none, {', '.join(DEFENSES)}")
    if not DEFENSES.is_builtin(name):
        from acakit.registry import params_problem

        problem = params_problem(DEFENSES.object(name), dict(params or {}))
        if problem:
            raise ValueError(f"firm.defense.params.{problem}")
    try:
        from acakit.firms import check_sizes

        check_sizes(params, "firm.defense.params")
        return DEFENSES[name][0](**dict(params or {}))
    except TypeError as e:
        raise ValueError(f"firm.defense.params: {e}") from None
    except ValueError as e:
        msg = str(e).splitlines()[0]
        raise ValueError(msg if msg.startswith("firm.") else f"firm.defense.params.{msg}") from None


def _fit_params_for_weights(est: Any, w: np.ndarray) -> dict[str, Any]:
    if isinstance(est, Pipeline):
        return {f"{est.steps[-1][0]}__sample_weight": w}
    return {"sample_weight": w}


class DefendedClassifier(ClassifierMixin, BaseEstimator):
    """A firm that sanitises its training data with a defense before it fits.

    Parameters
    ----------
    estimator : estimator or str
        The firm (a classifier or pipeline; cloned at fit), or the name of a bare firm of
        :data:`acakit.firms.FIRMS` (built without a featurizer: the wrapper is then itself the
        ``model`` step of a firm pipeline, see below).
    defense : Defense or mapping
        A filter (rows with weight 0 are dropped; fractional weights go to the estimator's
        ``sample_weight``) or a transform (applied at fit and prediction time).
    representation : transformer, optional
        What filters that need numbers read (cloned and fitted on the training rows) when the
        firm has no ``embed`` and is not a pipeline starting with a featurizer.

    Notes
    -----
    Named by its dotted path with JSON parameters, the wrapper works in configs whose engine
    does not pass ``defense`` to :func:`acakit.firms.make_firm` (e.g. ``experiment:
    fairness``): ``firm: {name: acakit.firms.defenses.DefendedClassifier, params: {estimator:
    logistic_regression, defense: {name: confident_learning}}}``; :func:`acakit.firms.make_firm`
    puts the data's featurizer in front of it, so the defense reads featurized rows.

    Attributes
    ----------
    weights_ : numpy.ndarray
        The defense's weight of every training row (1 for a transform).
    keep_mask_ : numpy.ndarray of bool
        ``weights_ > 0``.
    estimator_ : estimator
        The fitted firm.
    defense_seconds_ : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.r_[np.zeros((30, 1)), np.ones((30, 1))]; y = np.r_[np.zeros(30), np.ones(30)]
    >>> f = DefendedClassifier(LogisticRegression(), Duplicates()).fit(X, y)
    >>> int(f.keep_mask_.sum())
    2
    """

    def __init__(self, estimator: Any = None, defense: Defense | Mapping[str, Any] | None = None,
                 representation: Any = None) -> None:
        self.estimator = estimator
        self.defense = defense
        self.representation = representation

    def _estimator(self) -> Any:
        if not isinstance(self.estimator, str):
            return self.estimator
        from acakit.firms import FIRMS

        if self.estimator not in FIRMS:
            raise ValueError(f"firm.params.estimator: {self.estimator!r} is not one of "
                             f"{', '.join(FIRMS)}")
        return FIRMS[self.estimator][0]()

    def _represent(self, X: Any) -> Callable[[], Any]:
        est = self._estimator()

        def compute() -> Any:
            if hasattr(est, "embed"):
                return est.embed(X)
            if isinstance(est, Pipeline) and len(est.steps) > 1 and hasattr(est.steps[0][1],
                                                                            "transform"):
                return clone(est.steps[0][1]).fit_transform(X)
            if self.representation is not None:
                return clone(self.representation).fit_transform(X)
            return X

        return compute

    def fit(self, X: Any, y: Any) -> DefendedClassifier:
        import time

        if self.defense is None:
            raise ValueError("DefendedClassifier: no defense given")
        y = np.asarray(y)
        t0 = time.perf_counter()
        if isinstance(self.defense, Mapping):
            d = dict(self.defense)
            self.defense_ = make_defense(str(d.get("name")), d.get("params"))
        else:
            self.defense_ = copy.deepcopy(self.defense)
        if self.defense_.acts == "transform":
            self.defense_.fit(X, y)
            X = self.defense_.transform(X)
            w = np.ones(len(y))
        else:
            if isinstance(self.defense_, ConfidentLearning):
                self.defense_._firm = self._estimator()
            w = np.asarray(self.defense_.weights(X, y, self._represent(X)), dtype=float)
            if isinstance(self.defense_, ConfidentLearning):
                self.defense_._firm = None
        keep = w > 0
        if keep.sum() == 0 or len(np.unique(y[keep])) < len(np.unique(y)):
            keep = np.ones(len(y), dtype=bool)  # never leave a class (or the data) empty
        self.defense_seconds_ = time.perf_counter() - t0
        self.weights_ = np.where(keep, w, 0.0) if keep.sum() < len(y) else w
        self.keep_mask_ = keep
        self.estimator_ = clone(self._estimator())
        Xk = X.iloc[keep] if isinstance(X, pd.DataFrame) else (
            [t for t, k in zip(X, keep, strict=True) if k] if isinstance(X, list) else
            np.asarray(X)[keep] if not hasattr(X, "tocsr") else X[keep])
        wk = w[keep]
        if np.all(wk == 1.0):
            self.estimator_.fit(Xk, y[keep])
        else:
            self.estimator_.fit(Xk, y[keep], **_fit_params_for_weights(self.estimator_, wk))
        self.classes_ = getattr(self.estimator_, "classes_", np.unique(y))
        return self

    def _seen(self, X: Any) -> Any:
        check_is_fitted(self, "estimator_")
        return self.defense_.transform(X) if self.defense_.acts == "transform" else X

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the fitted firm (after the defense's transform)."""
        return np.asarray(self.estimator_.predict(self._seen(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the fitted firm, if it has them."""
        return np.asarray(self.estimator_.predict_proba(self._seen(X)))

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision scores of the fitted firm, if it has them."""
        return np.asarray(self.estimator_.decision_function(self._seen(X)))

    def embed(self, X: Any) -> np.ndarray:
        """The firm's embeddings (only for firms that have ``embed``)."""
        return np.asarray(self.estimator_.embed(self._seen(X)))


def detection_metrics(weights: np.ndarray | None, members: np.ndarray) -> dict[str, float]:
    """How well a defense found the collective: precision, recall and the honest rows dropped.

    A row's removed mass is ``1 - weight`` (1 for a dropped row), so reweighting defenses are
    scored the same way as filters.

    Parameters
    ----------
    weights : numpy.ndarray or None
        The defense's weight of every training row (None: no defense).
    members : numpy.ndarray of bool
        Which training rows belong to the collective.

    Returns
    -------
    dict
        ``defense_flagged`` (share of the training mass removed), ``defense_precision`` (share
        of the removed mass that is the collective's), ``defense_recall`` (share of the
        collective's mass removed: r of the theory), ``defense_honest_dropped`` (share of the
        honest mass removed); NaN where undefined (no defense, nothing removed, no members).

    Examples
    --------
    >>> import numpy as np
    >>> d = detection_metrics(np.array([0, 1, 0, 1.0]), np.array([True, True, False, False]))
    >>> d["defense_precision"], d["defense_recall"], d["defense_honest_dropped"]
    (0.5, 0.5, 0.5)
    """
    members = np.asarray(members, dtype=bool)
    nan = float("nan")
    if weights is None:
        return {"defense_flagged": nan, "defense_precision": nan, "defense_recall": nan,
                "defense_honest_dropped": nan}
    removed = 1.0 - np.clip(np.asarray(weights, dtype=float), 0.0, 1.0)
    total = removed.sum()
    hit = removed[members].sum()
    n_m, n_h = int(members.sum()), int((~members).sum())
    return {
        "defense_flagged": float(total / len(removed)) if len(removed) else nan,
        "defense_precision": float(hit / total) if total > 0 and n_m else nan,
        "defense_recall": float(hit / n_m) if n_m else nan,
        "defense_honest_dropped": float(removed[~members].sum() / n_h) if n_h else nan,
    }


def defense_columns(spec: Any, firm: Any, members: np.ndarray) -> dict[str, Any]:
    """The defense columns of a result row, from a fitted firm with defense ``spec``.

    One place for every kind of cell: ``members`` are the collective's rows (single), the
    rows of all collectives or of one (multi) or the relabeled rows (fairness).

    Returns
    -------
    dict
        ``defense`` (its name, ``"none"`` without one), the detection metrics of
        :func:`detection_metrics` (the rows the fitted firm dropped or down-weighted against
        ``members``; NaN for a transform such as ``min_df``, which drops no row) and
        ``defense_seconds``.
    """
    weights = getattr(firm, "weights_", None)
    acts = getattr(getattr(firm, "defense_", None), "acts", "filter")
    out: dict[str, Any] = {"defense": spec.name if spec is not None else "none"}
    out |= detection_metrics(None if acts == "transform" else weights, members)
    out["defense_seconds"] = float(getattr(firm, "defense_seconds_", float("nan")))
    return out
