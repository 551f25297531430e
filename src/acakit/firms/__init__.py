"""Firms: what the platform trains on the (altered) training data.

A firm is a scikit-learn estimator or pipeline. :func:`make_firm` builds one from a name or a
dotted import path and puts the right featurizer in front of it for the data's kind
(one-hot + scaling for tabular data, TF-IDF for text, scaling for images and vectors).
"""

from __future__ import annotations

import importlib
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
from acakit.firms.trust import (  # noqa: F401  (re-exported: acakit.firms.check_sizes, ...)
    _AT_LEAST_ONE,
    ALLOW_MODULES_ENV,
    DEFAULT_ALLOWED_MODULES,
    SIZE_LIMITS,
    _is_allowed,
    allow_modules,
    allowed_modules,
    check_sizes,
    import_allowed,
    import_object,
)
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
FIRMS.set_titles({
    "logistic_regression": "logistic regression", "linear_svm": "linear SVM",
    "gradient_boosting": "gradient boosting", "random_forest": "random forest", "mlp": "MLP",
    "tfidf_linear": "TF-IDF linear", "empirical_bayes": "empirical Bayes",
    "tfidf_char": "TF-IDF (characters)", "tfidf_word": "TF-IDF (words)",
    "minilm_logreg": "MiniLM + logistic", "minilm_finetune": "MiniLM fine-tuned",
    "torch_mlp": "torch MLP", "torch_cnn": "torch CNN", "jtt": "JTT", "group_dro": "group DRO",
    "dp_sgd": "DP-SGD"})


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
