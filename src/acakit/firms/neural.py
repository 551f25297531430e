"""Neural firms trained with torch (on the CPU or a GPU), and learning algorithms beyond ERM.

Every firm is a scikit-learn classifier (``__init__`` only stores parameters, ``fit`` returns
``self``) so it plugs into :func:`acakit.firms.make_firm`, sweeps and ``clone``. torch is
imported only when a firm is fitted; ``import acakit`` never imports it.

Firms
-----
- :class:`TorchMLPClassifier` : an MLP on feature vectors (dense or scipy sparse, e.g. TF-IDF).
- :class:`TorchCNNClassifier` : a small CNN on flattened images (digits 8x8).
- :class:`TorchTextClassifier` : token embeddings (vocabulary learnt from the training texts,
  symbols kept as tokens) pooled into a linear or MLP head (defined in
  :mod:`acakit.firms.torch_text`, re-exported here).

Learning algorithms (parameters of every torch firm)
----------------------------------------------------
- ``objective="erm"`` (weighted by ``sample_weight`` if given) or ``"group_dro"`` (online group
  DRO of Sagawa et al. 2020 on given groups, by default the labels);
- ``dp=True`` : DP-SGD with per-sample clipping and Gaussian noise through ``opacus``;
- ``weight_decay``, ``label_smoothing``, ``early_stopping`` on a held-out fraction.

:class:`JTTClassifier` (Just Train Twice, Liu et al. 2021) wraps any estimator that accepts
``sample_weight``: fit once, upweight the training points that model got wrong, fit again.

Devices: every torch firm takes ``device`` (``auto``: CUDA when torch sees one, else the CPU;
``cpu``, ``cuda``, ``cuda:N``) and ``precision`` (``auto``: bf16 autocast on CUDA, fp32 on the
CPU; ``fp32``, ``bf16``), see :mod:`acakit.firms.device`. On the CPU in fp32 a fit runs the same
operations as before devices existed. A fitted firm is pickled with its weights on the CPU and
unpickled onto its device where that exists here, else onto the CPU.

Every torch firm trains through one loop, :func:`acakit.firms.torch_loop.train`; their common
parameters, objectives and predictions are in :mod:`acakit.firms.torch_firm`.

Everything a fit does is seeded by ``random_state``: two fits with the same seed and the same
number of threads give the same model (on the same device).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from acakit.firms.torch_firm import (
    OBJECTIVES,
    OPTIMIZERS,
    _mlp,
    _TorchClassifier,
    opacus_available,
)
from acakit.firms.torch_loop import (
    PicklableModuleMixin,
    import_torch,
    rng_devices,
    torch_threads,
    unwrap,
)
from acakit.firms.torch_text import TorchTextClassifier, tokenize

#: The old private names of what moved to :mod:`acakit.firms.torch_loop`.
_import_torch, _unwrap = import_torch, unwrap

__all__ = [
    "OBJECTIVES",
    "OPTIMIZERS",
    "TORCH_BASES",
    "JTTClassifier",
    "PicklableModuleMixin",
    "TorchCNNClassifier",
    "TorchMLPClassifier",
    "TorchTextClassifier",
    "opacus_available",
    "rng_devices",
    "tokenize",
    "torch_threads",
]


@dataclass(eq=False, repr=False)
class TorchMLPClassifier(_TorchClassifier):
    """A multi-layer perceptron on feature vectors (dense arrays or scipy sparse matrices).

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(128,)
        Widths of the hidden layers (``()`` gives multinomial logistic regression).
    dropout : float, default=0.0
    epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, early_stopping,
    validation_fraction, patience, objective, dro_step_size, dp, noise_multiplier,
    max_grad_norm, dp_delta, random_state, n_threads, device, precision :
        Keyword-only, common to every torch firm: see :mod:`acakit.firms.torch_firm`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2))]
    >>> y = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> TorchMLPClassifier(epochs=30, lr=0.05).fit(X, y).predict([[0, 0], [1, 1]]).tolist()
    [0, 1]
    """

    hidden_layer_sizes: Sequence[int] = (128,)
    dropout: float = 0.0

    def _prepare(self, X: Any) -> Any:
        torch = import_torch()
        if sp.issparse(X):
            return sp.csr_matrix(X, dtype=np.float32)
        return torch.from_numpy(np.asarray(X, dtype=np.float32))

    def _prepare_fit(self, X: Any) -> Any:
        Xt = self._prepare(X)
        self.n_features_in_ = Xt.shape[1]
        return Xt

    def _module(self, n_classes: int) -> Any:
        return _mlp(import_torch(), self.n_features_in_, tuple(self.hidden_layer_sizes),
                    n_classes, float(self.dropout))


@dataclass(eq=False, repr=False)
class TorchCNNClassifier(_TorchClassifier):
    """A small CNN on flattened single-channel images (two conv + pool blocks, linear head).

    Inputs are divided by the largest absolute pixel value seen in training.

    Parameters
    ----------
    image_shape : (int, int) or None, default=None
        (height, width); None infers a square image from the number of features.
    channels : sequence of int, default=(16, 32)
        Output channels of the conv blocks (3x3 kernels, padding 1, ReLU, 2x2 max-pool when
        the map is at least 2 pixels wide).
    dropout : float, default=0.0
    epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, early_stopping,
    validation_fraction, patience, objective, dro_step_size, dp, noise_multiplier,
    max_grad_norm, dp_delta, random_state, n_threads, device, precision :
        Keyword-only, common to every torch firm: see :mod:`acakit.firms.torch_firm`.
    """

    image_shape: Sequence[int] | None = None
    channels: Sequence[int] = (16, 32)
    dropout: float = 0.0

    def _prepare(self, X: Any) -> Any:
        torch = import_torch()
        X = np.asarray(X, dtype=np.float32)
        h, w = self.shape_
        return torch.from_numpy(X.reshape(len(X), 1, h, w) / self.scale_)

    def _prepare_fit(self, X: Any) -> Any:
        X = np.asarray(X, dtype=np.float32)
        if self.image_shape is None:
            side = int(round(np.sqrt(X.shape[1])))
            if side * side != X.shape[1]:
                raise ValueError(f"image_shape: {X.shape[1]} features are not a square image")
            self.shape_ = (side, side)
        else:
            self.shape_ = (int(self.image_shape[0]), int(self.image_shape[1]))
            if self.shape_[0] * self.shape_[1] != X.shape[1]:
                raise ValueError(f"image_shape: {self.shape_} does not match {X.shape[1]} features")
        self.n_features_in_ = X.shape[1]
        self.scale_ = float(np.abs(X).max()) or 1.0
        return self._prepare(X)

    def _module(self, n_classes: int) -> Any:
        torch = import_torch()
        nn = torch.nn
        layers: list[Any] = []
        c_in, (h, w) = 1, self.shape_
        for c in self.channels:
            layers += [nn.Conv2d(c_in, int(c), 3, padding=1), nn.ReLU()]
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c_in = int(c)
        layers.append(nn.Flatten())
        if self.dropout > 0:
            layers.append(nn.Dropout(float(self.dropout)))
        layers.append(nn.Linear(c_in * h * w, n_classes))
        return nn.Sequential(*layers)


#: torch firms JTT can wrap (they accept ``sample_weight``); they train on ``device``.
TORCH_BASES: dict[str, Any] = {
    "torch_mlp": lambda **p: TorchMLPClassifier(**p),
    "torch_cnn": lambda **p: TorchCNNClassifier(**p),
    "torch_text": lambda **p: TorchTextClassifier(**p),
}


class JTTClassifier(ClassifierMixin, BaseEstimator):
    """Just Train Twice: upweight the training points a first model gets wrong, then refit.

    Parameters
    ----------
    base : str, default="logistic_regression"
        A firm name of :data:`acakit.firms.FIRMS` whose bare estimator accepts
        ``sample_weight`` (e.g. ``logistic_regression``, ``linear_svm``, ``torch_mlp``).
    base_params : mapping or None, default=None
        Parameters of the final model.
    id_params : mapping or None, default=None
        Parameters of the first ("identification") model; defaults to ``base_params``.
    upweight : float, default=20.0
        Weight of the misclassified points in the second fit (the others get 1).

    Attributes
    ----------
    error_set_ : numpy.ndarray of bool
        Training points the first model misclassified.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((10, 1)), np.ones((10, 1))]
    >>> y = np.r_[np.zeros(10, int), np.ones(10, int)]
    >>> JTTClassifier().fit(X, y).predict([[0.0], [1.0]]).tolist()
    [0, 1]
    """

    def __init__(
        self,
        base: str = "logistic_regression",
        base_params: Mapping[str, Any] | None = None,
        id_params: Mapping[str, Any] | None = None,
        upweight: float = 20.0,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.id_params = id_params
        self.upweight = upweight

    def _make(self, params: Mapping[str, Any] | None) -> Any:
        from acakit.firms.estimators import SKLEARN_FIRMS

        if self.base in TORCH_BASES:
            return TORCH_BASES[self.base](**dict(params or {}))
        if self.base not in SKLEARN_FIRMS:
            allowed = [*SKLEARN_FIRMS, *TORCH_BASES]
            raise ValueError(f"base: {self.base!r} is not one of {', '.join(allowed)}")
        return SKLEARN_FIRMS[self.base][0](**dict(params or {}))

    def check_params(self) -> None:
        """Check ``base``, ``upweight`` and both models' parameters before any work.

        Raises
        ------
        ValueError
            One line naming ``firm.params.<field>``.
        """
        if not self.upweight >= 1:
            raise ValueError(f"firm.params.upweight: {self.upweight} must be >= 1")
        for field, params in (("base_params", self.base_params), ("id_params", self.id_params)):
            try:
                est = self._make(params)
            except TypeError as e:
                raise ValueError(f"firm.params.{field}: {e}") from None
            except ValueError as e:
                raise ValueError(f"firm.params.{e}") from None
            check = getattr(est, "check_params", None)
            if check is not None:
                try:
                    check()
                except ValueError as e:
                    raise ValueError(str(e).replace("firm.params.", f"firm.params.{field}.", 1)
                                     ) from None

    def fit(self, X: Any, y: Any) -> JTTClassifier:
        """Fit the identification model, build the error set, fit the upweighted model."""
        if self.upweight < 1:
            raise ValueError(f"upweight: {self.upweight} must be >= 1")
        y = np.asarray(y)
        first = self._make(self.base_params if self.id_params is None else self.id_params)
        first.fit(X, y)
        self.error_set_ = np.asarray(first.predict(X)) != y
        w = np.where(self.error_set_, float(self.upweight), 1.0)
        self.model_ = self._make(self.base_params).fit(X, y, sample_weight=w)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the final model."""
        check_is_fitted(self, "model_")
        return self.model_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of the final model (if it has ``predict_proba``)."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision scores of the final model (if it has ``decision_function``)."""
        check_is_fitted(self, "model_")
        return self.model_.decision_function(X)
