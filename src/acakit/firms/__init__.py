"""Firms: what the platform trains on the (altered) training data.

A firm is a scikit-learn estimator or pipeline. :func:`make_firm` builds one from a name or a
dotted import path and puts the right featurizer in front of it for the data's kind
(one-hot + scaling for tabular data, TF-IDF for text, scaling for images and vectors).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from acakit.data.base import Dataset
from acakit.firms.estimators import SKLEARN_FIRMS
from acakit.registry import FIRMS_REGISTRY, Registry


class EmpiricalBayesClassifier(ClassifierMixin, BaseEstimator):
    """The idealised firm of the theory on categorical data: argmax of empirical P(y | x).

    Every distinct feature vector is a cell; the prediction for a cell seen in training is its
    most frequent label (ties go to the smallest class code). Unseen cells get the training
    class frequencies (so the most frequent class).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [0, 0, 0, 1]})
    >>> EmpiricalBayesClassifier().fit(X, [1, 1, 0, 0]).predict(pd.DataFrame({"a": [0, 1, 2]}))
    array([1, 0, 0])
    """

    def fit(self, X: Any, y: Any) -> EmpiricalBayesClassifier:
        y = np.asarray(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        keys = _row_keys(X)
        self.cells_, cell = np.unique(keys, return_inverse=True)
        k = len(self.classes_)
        counts = np.bincount(cell * k + y_codes, minlength=len(self.cells_) * k)
        self.counts_ = counts.reshape(len(self.cells_), k)
        self.prior_ = np.bincount(y_codes, minlength=k) / len(y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "counts_")
        keys = _row_keys(X)
        pos = np.searchsorted(self.cells_, keys)
        pos = np.minimum(pos, len(self.cells_) - 1)
        seen = self.cells_[pos] == keys
        out = np.tile(self.prior_, (len(keys), 1))
        c = self.counts_[pos[seen]]
        out[seen] = c / c.sum(axis=1, keepdims=True)
        return out

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _row_keys(X: Any) -> np.ndarray:
    """One uint64 hash per row (pandas' row hashing; collisions have probability ~ n^2/2^64)."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def featurizer(dataset: Dataset, **params: Any) -> Any:
    """The featurizer a firm puts in front of its model for this kind of data.

    Parameters
    ----------
    dataset : Dataset
        Only its kind and feature types are used.
    **params
        Passed to ``TfidfVectorizer`` for text; refused for other kinds (they take none).

    Returns
    -------
    transformer
        ``ColumnTransformer`` (one-hot categorical, standardised numeric) for tabular data,
        ``TfidfVectorizer`` for text, ``StandardScaler`` for images and vectors.
    """
    if dataset.kind == "text":
        return TfidfVectorizer(**({"sublinear_tf": True} | params))
    if params:
        raise ValueError(f"firm.featurizer: {dataset.kind} data takes no featurizer parameters "
                         f"(got {', '.join(map(str, params))}); they are for text (TF-IDF)")
    if dataset.kind == "tabular":
        types = dataset.feature_types
        cat = [c for c, t in types.items() if t == "categorical"]
        num = [c for c, t in types.items() if t == "numeric"]
        return ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
                ("num", StandardScaler(), num),
            ],
            sparse_threshold=0.0,
        )
    return StandardScaler()


def _lazy(module: str, name: str, **defaults: Any) -> Callable[..., Any]:
    """A factory ``(**params) -> firm`` of ``module.name``, imported only when a firm is built
    (torch only when fitted); ``defaults`` are parameters the caller's ``params`` override."""

    def factory(**params: Any) -> Any:
        return getattr(importlib.import_module(module), name)(**(defaults | params))

    return factory


_TEXT, _NEURAL = "acakit.firms.text", "acakit.firms.neural"

#: name -> (factory of the bare estimator, needs a featurizer, description): the firms' registry
#: (built-ins registered below; plugins and Python objects too, see :mod:`acakit.registry`)
FIRMS: Registry[tuple[Callable[..., Any], bool, str]] = FIRMS_REGISTRY
for _name, _entry in {
    **SKLEARN_FIRMS,
    "tfidf_linear": (lambda **p: LinearSVC(**p), True,
                     "TF-IDF + linear SVM (text; the featurizer is TF-IDF for any text firm)"),
    "gradient_descent": (
        _lazy("acakit.firms.gradient", "GradientDescentFirm"), True,
        "linear model (logistic/softmax) by full-batch GD or minibatch SGD, trajectory kept"),
    "empirical_bayes": (lambda **p: EmpiricalBayesClassifier(**p), False,
                        "argmax of empirical P(y|x) on categorical data (the theory's firm)"),
    # Text and neural firms (acakit.firms.text, acakit.firms.neural; imported lazily: torch only when fitted).
    "tfidf_char": (_lazy(_TEXT, "char_tfidf_firm"), False,
                   "character n-gram TF-IDF + linear SVM (text; a rare-character trigger survives it)"),
    "tfidf_word": (_lazy(_TEXT, "word_tfidf_firm"), False,
                   "word TF-IDF + linear SVM (text; keep_symbols=False strips a character trigger)"),
    "minilm_logreg": (_lazy(_TEXT, "SentenceEncoderClassifier"), False,
                      "frozen MiniLM sentence encoder (cached embeddings) + logistic regression (text)"),
    "minilm_finetune": (
        _lazy("acakit.firms.finetune", "MiniLMFinetuneClassifier"), False,
        "MiniLM with its last layer(s) fine-tuned + linear head (text; frozen layers cached)"),
    "torch_text": (_lazy(_NEURAL, "TorchTextClassifier"), False,
                   "torch token-embedding text classifier (text; symbols kept as tokens)"),
    "torch_mlp": (_lazy(_NEURAL, "TorchMLPClassifier"), True,
                  "torch MLP on the featurizer's vectors (Adam/SGD, weight decay, label smoothing)"),
    "torch_cnn": (_lazy(_NEURAL, "TorchCNNClassifier"), False, "torch small CNN on images (digits)"),
    "jtt": (_lazy(_NEURAL, "JTTClassifier"), True,
            "Just Train Twice: refit upweighting the first model's errors (base: logistic regression)"),
    "group_dro": (
        _lazy(_NEURAL, "TorchMLPClassifier", objective="group_dro", hidden_layer_sizes=()), True,
        "torch linear/MLP model trained with online group DRO (groups: the labels)"),
    "dp_sgd": (
        _lazy(_NEURAL, "TorchMLPClassifier", dp=True, hidden_layer_sizes=(), optimizer="sgd",
              lr=0.5), True,
        "torch linear/MLP model trained with DP-SGD (opacus; clipping + Gaussian noise)"),
}.items():
    FIRMS.register(_name, _entry)


#: Named firms that only make sense for some kinds of data (the others take any kind).
FIRM_KINDS: dict[str, tuple[str, ...]] = {
    "empirical_bayes": ("tabular",),
    "tfidf_linear": ("text",),
    "tfidf_char": ("text",),
    "tfidf_word": ("text",),
    "minilm_logreg": ("text",),
    "minilm_finetune": ("text",),
    "torch_text": ("text",),
    "torch_cnn": ("image",),
}


def check_firm_fits(name: str, dataset: Dataset) -> None:
    """Raise a one-line ``ValueError`` if the named firm cannot learn from this kind of data."""
    kinds = FIRM_KINDS.get(name)
    if kinds is not None and dataset.kind not in kinds:
        fitting = [n for n in FIRMS if dataset.kind in FIRM_KINDS.get(n, (dataset.kind,))]
        raise ValueError(
            f"firm.name: {name!r} needs {' or '.join(kinds)} data but {dataset.name} is "
            f"{dataset.kind}; firms for {dataset.kind} data: {', '.join(fitting)}"
        )


#: Top-level packages whose classes a config may name by dotted path (see ``SECURITY.md``).
DEFAULT_ALLOWED_MODULES: tuple[str, ...] = (
    "sklearn", "fairlearn", "aif360", "acakit", "xgboost", "lightgbm", "catboost", "imblearn",
)
#: Environment variable adding module prefixes (comma-separated) to the allowed ones; what
#: ``--allow-module`` sets, so that worker processes inherit it.
ALLOW_MODULES_ENV = "ACAKIT_ALLOW_MODULES"
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def allowed_modules() -> tuple[str, ...]:
    """The module prefixes a dotted firm path may start with: the defaults and
    ``$ACAKIT_ALLOW_MODULES``."""
    extra = [m.strip() for m in os.environ.get(ALLOW_MODULES_ENV, "").split(",") if m.strip()]
    return DEFAULT_ALLOWED_MODULES + tuple(m for m in extra if m not in DEFAULT_ALLOWED_MODULES)


def allow_modules(*prefixes: str) -> tuple[str, ...]:
    """Allow dotted firm paths under ``prefixes`` (e.g. ``"mypackage"``) in this process and the
    workers it starts from now on; returns the allowed prefixes.

    Raises
    ------
    ValueError
        If a prefix is not a dotted module name.
    """
    for m in prefixes:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", m):
            raise ValueError(f"--allow-module: {m!r} is not a module name (e.g. mypackage)")
    cur = list(allowed_modules())
    cur += [m for m in prefixes if m not in cur]
    os.environ[ALLOW_MODULES_ENV] = ",".join(m for m in cur if m not in DEFAULT_ALLOWED_MODULES)
    return tuple(cur)


def _is_allowed(path: str) -> bool:
    return any(path == m or path.startswith(m + ".") for m in allowed_modules())


def import_allowed(path: Any, where: str, not_dotted: str) -> Any:
    """The object a dotted path ``package.module.name`` names, imported only if the path is
    under an allowed module (:func:`allowed_modules`): the one trust check of every dotted path
    in a config (firm classes, defense functions).

    Parameters
    ----------
    path : str
        What the config says.
    where : str
        The config field, for the messages.
    not_dotted : str
        What to say when ``path`` is not a dotted name (after ``'{where}: {path!r} '``).

    Raises
    ------
    ValueError
        One line naming the field, the path and what is allowed.
    """
    if not isinstance(path, str) or not _DOTTED.match(path):
        raise ValueError(f"{where}: {path!r} {not_dotted}")
    parts = path.split(".")
    if "__main__" in parts or path.startswith(("acakit.cli", "acakit.app", "acakit.audit")):
        raise ValueError(f"{where}: {path!r} names acakit's command line, app or a __main__ "
                         "module, which a config never imports")
    if not _is_allowed(path):
        allowed = ", ".join(allowed_modules())
        raise ValueError(f"{where}: {path!r} is not under an allowed module ({allowed}); "
                         "allow its package with --allow-module (see SECURITY.md)")
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{where}: cannot import {path!r} ({str(e).splitlines()[0]})") from None


def import_object(path: str) -> Any:
    """Import the estimator class ``package.module.Name`` named in a config, if it is allowed.

    Nothing is imported unless ``path`` is a dotted name under an allowed module
    (:func:`allowed_modules`); what it names must be a class with ``fit``, ``predict`` and
    ``get_params`` (a scikit-learn compatible estimator). A config can thus never make acakit
    call ``os.system`` or import a module of its choosing.

    Raises
    ------
    ValueError
        One line naming the path and what is allowed.
    """
    obj = import_allowed(path, "firm.name",
                         "is neither a firm name nor a dotted path to a class (package.module.Class)")
    if not inspect.isclass(obj) or not all(hasattr(obj, m) for m in ("fit", "predict", "get_params")):
        raise ValueError(f"firm.name: {path!r} is not an estimator class (a class with fit, predict "
                         "and get_params)")
    return obj


def make_firm(
    spec: str | Mapping[str, Any] | BaseEstimator,
    dataset: Dataset,
    params: Mapping[str, Any] | None = None,
    featurizer_params: Mapping[str, Any] | None = None,
    defense: Any = None,
) -> Any:
    """Build an unfitted firm for a data set.

    Parameters
    ----------
    spec : str, mapping or estimator
        A name from :data:`FIRMS`, a dotted path to any scikit-learn classifier
        (``"sklearn.ensemble.RandomForestClassifier"``), a mapping ``{"name": ..., "params":
        ...}``, or an estimator (cloned; a featurizer is added unless it is a Pipeline).
    dataset : Dataset
        Tells which featurizer to use.
    params : mapping, optional
        Parameters of the estimator.
    featurizer_params : mapping, optional
        Parameters of the featurizer (e.g. ``{"analyzer": "char_wb", "ngram_range": [2, 4]}``
        for text).
    defense : mapping, Defense or pydantic model, optional
        A defense the firm applies to its training data before it fits: ``{"name": ...,
        "params": ...}`` with a name from :data:`acakit.firms.defenses.DEFENSES` (or
        ``"none"``), a :class:`~acakit.firms.defenses.Defense`, or a ``FirmSpec.defense``. The
        firm is then wrapped in a :class:`~acakit.firms.defenses.DefendedClassifier`. A mapping
        ``spec`` may carry it under ``"defense"``.

    Returns
    -------
    sklearn.pipeline.Pipeline or estimator
        Unfitted; ``fit(X, y)`` refits the featurizer too.
    """
    if isinstance(spec, Mapping) and defense is None:
        defense = spec.get("defense")
    firm = _make_bare_firm(spec, dataset, params, featurizer_params)
    return _defended(firm, dataset, defense)


def _defended(firm: Any, dataset: Dataset, defense: Any) -> Any:
    """``firm`` wrapped in the defense, or ``firm`` itself when there is none."""
    if defense is None:
        return firm
    from acakit.firms.defenses import DefendedClassifier, Defense, make_defense

    if not isinstance(defense, Defense):
        d = defense if isinstance(defense, Mapping) else defense.model_dump()
        if d.get("name") in (None, "none"):
            return firm
        defense = make_defense(d["name"], d.get("params"))
    if defense.kinds is not None and dataset.kind not in defense.kinds:
        raise ValueError(f"firm.defense.name: {type(defense).__name__} needs "
                         f"{' or '.join(defense.kinds)} data but {dataset.name} is {dataset.kind}")
    rep = None if dataset.kind == "text" and isinstance(firm, Pipeline) else featurizer(dataset)
    return DefendedClassifier(firm, defense, representation=rep)


def _make_bare_firm(
    spec: str | Mapping[str, Any] | BaseEstimator,
    dataset: Dataset,
    params: Mapping[str, Any] | None = None,
    featurizer_params: Mapping[str, Any] | None = None,
) -> Any:
    params = dict(params or {})
    fparams = dict(featurizer_params or {})
    if "ngram_range" in fparams:
        fparams["ngram_range"] = tuple(fparams["ngram_range"])
    if isinstance(spec, Mapping):
        params = dict(spec.get("params", {})) | params
        fparams = dict(spec.get("featurizer", {})) | fparams
        spec = spec["name"]
    if isinstance(spec, BaseEstimator):
        est = clone(spec)
        if isinstance(est, Pipeline):
            return est
        return Pipeline([("features", featurizer(dataset, **fparams)), ("model", est)])
    if spec in FIRMS:
        factory, needs_features, _ = FIRMS[spec]
        check_firm_fits(spec, dataset)
        if not needs_features and fparams:
            raise ValueError(f"firm.featurizer: {spec} reads the data itself (no featurizer in "
                             f"front of it), so {', '.join(map(str, fparams))} would do nothing; "
                             "set it in firm.params or remove firm.featurizer")
        try:
            est = factory(**params)
        except TypeError as e:
            raise ValueError(f"firm.params: {e}") from None
        if not needs_features:
            return est
        return Pipeline([("features", featurizer(dataset, **fparams)), ("model", est)])
    cls = import_object(str(spec))
    try:
        est = cls(**params)
    except TypeError as e:
        raise ValueError(f"firm.params: {e}") from None
    if isinstance(est, Pipeline):
        return est
    return Pipeline([("features", featurizer(dataset, **fparams)), ("model", est)])


#: Bounds on parameters that size the work (a tree count, an iteration count, a worker count):
#: a larger value is refused before any work instead of running until killed.
SIZE_LIMITS: dict[str, int] = {"n_estimators": 100_000, "n_jobs": 1024, "max_iter": 10_000_000,
                               "n_neighbors": 100_000, "epochs": 100_000, "max_epochs": 100_000,
                               "batch_size": 10_000_000, "num_perm": 100_000, "cv": 1_000,
                               "max_features": 10_000_000, "n_splits": 1_000}
#: Of those, the ones that count something and must be >= 1 (``n_jobs`` may be -1).
_AT_LEAST_ONE = {"n_estimators", "max_iter", "n_neighbors", "epochs", "max_epochs", "batch_size",
                 "num_perm", "max_features", "n_splits"}


def check_sizes(params: Mapping[str, Any] | None, field: str) -> None:
    """Refuse a size parameter that is not an integer or is out of :data:`SIZE_LIMITS`.

    Parameters
    ----------
    params : mapping
        Parameters as given in a config (nested mappings are walked).
    field : str
        Where they are (``firm.params``, ``firm.defense.params``), for the message.

    Raises
    ------
    ValueError
        ``field.name: ...`` in one line.

    Examples
    --------
    >>> check_sizes({"n_estimators": 100}, "firm.params")
    >>> check_sizes({"n_estimators": 10**9}, "firm.params")
    Traceback (most recent call last):
    ...
    ValueError: firm.params.n_estimators: 1000000000 is more than 100000
    """
    for key, v in (params or {}).items():
        if isinstance(v, Mapping):
            check_sizes(v, f"{field}.{key}")
            continue
        limit = SIZE_LIMITS.get(str(key))
        if limit is None or v is None:
            continue
        if key == "max_features" and not isinstance(v, int):
            continue  # also "sqrt", a fraction
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{field}.{key}: {v!r:.40} is not an integer")
        if v > limit:
            raise ValueError(f"{field}.{key}: {v} is more than {limit}")
        low = 1 if key in _AT_LEAST_ONE else -1 if key == "n_jobs" else 2 if key == "cv" else None
        if low is not None and v < low and not (key == "n_jobs" and v != 0):
            raise ValueError(f"{field}.{key}: {v} must be an integer >= {max(low, 1)}")


def check_firm_params(name: str, dataset: Dataset, params: Mapping[str, Any] | None = None,
                      featurizer_params: Mapping[str, Any] | None = None) -> None:
    """Build the firm (nothing is fitted) and check its parameters as scikit-learn would at fit.

    Raises
    ------
    ValueError
        ``firm.params: ...`` (one line) for an unknown parameter or a value of the wrong type or
        range (a firm's own ``check_params()`` where it has one: the torch firms refuse
        ``device: cuda`` where torch sees no CUDA device); ``firm.featurizer: ...`` for a bad
        featurizer parameter.
    """
    if name in FIRMS and not FIRMS.is_builtin(name):  # a plugin: its declared parameters
        from acakit.registry import params_problem

        problem = params_problem(FIRMS.object(name), dict(params or {}))
        if problem:
            raise ValueError(f"firm.params.{problem}")
    try:
        est = make_firm(name, dataset, params, featurizer_params)
    except TypeError as e:
        raise ValueError(f"firm.featurizer: {e}") from None
    steps = dict(est.steps) if isinstance(est, Pipeline) else {"model": est}
    own = getattr(steps.get("model"), "check_params", None)
    if own is not None:  # acakit's torch firms: device (CUDA present?), precision, options
        own()
    for step, what in (("model", "firm.params"), ("features", "firm.featurizer")):
        part = steps.get(step)
        check = getattr(part, "_validate_params", None)
        if check is None or not hasattr(part, "_parameter_constraints"):
            continue  # not a scikit-learn estimator with declared constraints
        try:
            check()
        except (ValueError, TypeError) as e:  # scikit-learn's InvalidParameterError is a ValueError
            raise ValueError(f"{what}: {str(e).splitlines()[0]}") from None
    check_sizes(params, "firm.params")  # after scikit-learn's own constraints: huge sizes


def check_firm_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a known firm or an allowed classifier class.

    A dotted path must pass :func:`import_object` and name a classifier: a regressor, a
    clusterer or an outlier detector is refused (its "predictions" are no class labels).
    """
    if name in FIRMS:
        return
    if "." not in name:
        raise ValueError(
            f"firm.name: {name!r} is not one of {', '.join(FIRMS)} (or a dotted import path)"
        )
    cls = import_object(name)
    try:
        est = cls()
    except Exception:  # needs parameters: its kind is judged when it is built
        return
    from sklearn.base import is_classifier, is_clusterer, is_outlier_detector, is_regressor

    for test, what in ((is_regressor, "a regressor"), (is_clusterer, "a clusterer"),
                       (is_outlier_detector, "an outlier detector")):
        try:
            hit = test(est) and not is_classifier(est)
        except Exception:
            hit = False
        if hit:
            raise ValueError(f"firm.name: {name!r} is {what}, not a classifier; a firm predicts "
                             "class labels (e.g. sklearn.linear_model.LogisticRegression)")


@dataclass
class RecordedWarnings:
    """The warnings a :func:`recording_warnings` block raised, as one string.

    ``text`` holds the distinct messages (``"Category: first line"``) joined by ``" | "``, or
    ``""`` if none; it is set when the block ends.
    """

    text: str = ""


@contextmanager
def recording_warnings() -> Iterator[RecordedWarnings]:
    """Record, instead of print, the warnings raised inside the ``with`` block.

    Every runner fits through this: a sweep of hundreds of cells would otherwise bury its
    table under repeated fit warnings (e.g. scikit-learn's ``ConvergenceWarning``). The text
    goes to the cell's ``fit_warnings`` column and :func:`fit_warning_summary` counts it.

    Examples
    --------
    >>> import warnings
    >>> with recording_warnings() as rec:
    ...     warnings.warn("slow", UserWarning)
    >>> rec.text
    'UserWarning: slow'
    """
    rec = RecordedWarnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield rec
        finally:
            seen: dict[str, None] = {}
            for w in caught:
                lines = str(w.message).strip().splitlines()
                seen[f"{w.category.__name__}: {lines[0][:200] if lines else ''}"] = None
            rec.text = " | ".join(seen)


def fit_recording_warnings(firm: Any, X: Any, y: Any) -> tuple[float, str]:
    """Fit ``firm`` on ``(X, y)``; return the seconds it took and the warnings it raised.

    The warnings are recorded by :func:`recording_warnings`, not printed, and come back as
    one string (``""`` if none) for the cell's ``fit_warnings`` column;
    :meth:`SweepResult.show` counts them.
    """
    with recording_warnings() as rec:
        t0 = time.perf_counter()
        firm.fit(X, y)
        seconds = time.perf_counter() - t0
    return seconds, rec.text


def join_warnings(*texts: str) -> str:
    """Merge ``fit_warnings`` strings into one, each distinct message once, order kept."""
    seen = {m: None for t in texts if t for m in t.split(" | ")}
    return " | ".join(seen)
