"""Neural firms trained with torch (on the CPU or a GPU), and learning algorithms beyond ERM.

Every firm is a scikit-learn classifier (``__init__`` only stores parameters, ``fit`` returns
``self``) so it plugs into :func:`acakit.firms.make_firm`, sweeps and ``clone``. torch is
imported only when a firm is fitted; ``import acakit`` never imports it.

Firms
-----
- :class:`TorchMLPClassifier` : an MLP on feature vectors (dense or scipy sparse, e.g. TF-IDF).
- :class:`TorchCNNClassifier` : a small CNN on flattened images (digits 8x8).
- :class:`TorchTextClassifier` : token embeddings (vocabulary learnt from the training texts,
  symbols kept as tokens) pooled into a linear or MLP head.

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

Everything a fit does is seeded by ``random_state``: two fits with the same seed and the same
number of threads give the same model (on the same device).
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from acakit.firms.device import (
    autocast,
    check_precision,
    resolve_device,
    resolve_precision,
)
from acakit.firms.text import SYMBOL_TOKEN_PATTERN

OBJECTIVES = ("erm", "group_dro")
OPTIMIZERS = ("adam", "sgd")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("torch firms need torch: pip install torch==2.13.0") from None
    return torch


@contextmanager
def torch_threads(n_threads: int) -> Iterator[Any]:
    """Run the block with torch on ``n_threads`` CPU threads; yield torch; restore the count after."""
    torch = _import_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)


def opacus_available() -> bool:
    """Whether DP-SGD (``dp=True``) can run, i.e. ``opacus`` imports."""
    try:
        import opacus  # noqa: F401
    except ImportError:
        return False
    return True


_COMMON = (
    "epochs", "batch_size", "lr", "optimizer", "weight_decay", "label_smoothing",
    "early_stopping", "validation_fraction", "patience", "objective", "dro_step_size",
    "dp", "noise_multiplier", "max_grad_norm", "dp_delta", "random_state", "n_threads",
    "device", "precision",
)


def rng_devices(device: str) -> list[int]:
    """The CUDA devices whose RNG a seeded fit on ``device`` forks (``torch.random.fork_rng``)."""
    return [int(device.split(":")[1])] if device.startswith("cuda:") else []


class PicklableModuleMixin:
    """Pickle a fitted torch firm by its weights, not by its ``torch.nn.Module`` object.

    Firms whose module is a class defined inside a function (built on first use so that
    importing acakit never imports torch) cannot be pickled as they are, yet the on-disk cache
    and the process runners pickle fitted firms. This mixin stores ``module_`` as its
    ``state_dict`` and rebuilds it with :meth:`_rebuild_module` when unpickled.
    """

    def _rebuild_module(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_device(self) -> str:
        """Where an unpickled module goes: the firm's ``device`` if it exists here, else the CPU."""
        try:
            return resolve_device(getattr(self, "device", "cpu"))
        except ValueError:
            return "cpu"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # type: ignore[misc]
        module = state.pop("module_", None)
        if module is not None:
            state["_module_weights"] = {k: v.detach().cpu().clone()
                                        for k, v in module.state_dict().items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("_module_weights", None)
        super().__setstate__(state)  # type: ignore[misc]
        if weights is not None:
            torch = _import_torch()
            with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave no trace
                module = self._rebuild_module()
            module.load_state_dict(weights)
            module.eval()
            self.device_ = self._load_device()
            if hasattr(self, "precision"):
                self.precision_ = resolve_precision(self.precision, self.device_)
            self.module_ = module.to(self.device_)


class _TorchClassifier(PicklableModuleMixin, ClassifierMixin, BaseEstimator):
    """Training loop shared by the torch firms (subclasses build the module and the inputs).

    Common parameters
    -----------------
    epochs : int
        Passes over the training data.
    batch_size : int
    lr : float
        Learning rate.
    optimizer : {"adam", "sgd"}
        ``sgd`` uses momentum 0.9 (plain SGD under ``dp=True``).
    weight_decay : float
        L2 penalty (decoupled: AdamW for ``adam``).
    label_smoothing : float
        In [0, 1).
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data (stratified, seeded) and keep the
        epoch with the lowest validation loss; stop after ``patience`` epochs without
        improvement.
    validation_fraction : float
    patience : int
    objective : {"erm", "group_dro"}
        Average (weighted) loss, or the worst-group loss of online group DRO with groups
        given to ``fit`` (default: the labels).
    dro_step_size : float
        Step size of group DRO's exponentiated-gradient update of the group weights.
    dp : bool
        Train with DP-SGD (``opacus``): per-sample gradient clipping to ``max_grad_norm``
        and Gaussian noise of scale ``noise_multiplier * max_grad_norm``, Poisson batches.
        The spent ``epsilon_`` at ``dp_delta`` is stored after fitting.
    noise_multiplier, max_grad_norm, dp_delta : float
    random_state : int
        Seeds the initialisation, the batch order, dropout, DP noise and the validation split.
    n_threads : int
        torch threads during ``fit`` and ``predict``.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where the network trains and predicts (``auto``: CUDA when present, else the CPU).
    precision : {"auto", "fp32", "bf16"}
        ``auto``: bf16 autocast on CUDA, fp32 on the CPU.

    Attributes
    ----------
    device_ : str
        The device the firm trained on (``"cpu"`` or ``"cuda:N"``).
    """

    def _init_common(self, kw: Mapping[str, Any]) -> None:
        for name in _COMMON:
            setattr(self, name, kw[name])

    # ---- to be provided by subclasses
    def _prepare_fit(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _rebuild_module(self) -> Any:
        return self._module(len(self.classes_))

    def _module(self, n_classes: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- helpers
    def check_params(self) -> None:
        """Check the parameters a fit would reject, before any work (one-line ``ValueError``s
        naming ``firm.params.<name>``); also refuses CUDA where torch sees none."""
        try:
            self._check_params()
        except (ValueError, ImportError) as e:
            msg = str(e)
            if isinstance(e, ImportError):
                msg = f"dp: {msg}"
            raise ValueError(msg if msg.startswith("firm.params.") else f"firm.params.{msg}") from None

    def _check_params(self) -> None:
        check_precision(self.precision, "precision")
        resolve_device(self.device, "device")  # validates the name too
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective: {self.objective!r} is not one of {', '.join(OBJECTIVES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing: {self.label_smoothing} is not in [0, 1)")
        if self.dp and self.objective != "erm":
            raise ValueError("dp: DP-SGD is implemented for objective='erm' only")
        if self.dp and not opacus_available():
            raise ImportError("dp=True needs the package opacus: pip install opacus")

    @staticmethod
    def _rows(X: Any, idx: Any, torch: Any) -> Any:
        if sp.issparse(X):
            return torch.from_numpy(np.asarray(X[idx].todense(), dtype=np.float32))
        return X[idx]

    def _make_optimizer(self, params: Any, torch: Any) -> Any:
        if self.optimizer == "adam":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        momentum = 0.0 if self.dp else 0.9
        return torch.optim.SGD(params, lr=self.lr, momentum=momentum, weight_decay=self.weight_decay)

    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, groups: Any = None
    ) -> _TorchClassifier:
        """Train the network.

        Parameters
        ----------
        X : array-like
            Training inputs (see the subclass).
        y : array-like of int
            Labels.
        sample_weight : array-like of float, optional
            Per-sample loss weights (ERM only; JTT uses them).
        groups : array-like, optional
            Group of each sample for ``objective="group_dro"`` (default: the labels).

        Returns
        -------
        self
        """
        self._check_params()
        torch = _import_torch()
        y = np.asarray(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        n = len(y_codes)
        w = np.ones(n, dtype=np.float32) if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float32)
        if self.dp and sample_weight is not None and not np.allclose(w, w[0]):
            raise ValueError("dp: DP-SGD does not support unequal sample weights")
        g_codes = np.unique(y_codes if groups is None else np.asarray(groups),
                            return_inverse=True)[1]
        self.device_ = resolve_device(self.device, "firm.params.device")
        self.precision_ = resolve_precision(self.precision, self.device_)
        with torch_threads(self.n_threads), torch.random.fork_rng(
                devices=rng_devices(self.device_)):
            torch.manual_seed(int(self.random_state))
            self._fit_seeded(torch, X, y_codes, w, g_codes)
        return self

    def _fit_seeded(self, torch: Any, X: Any, y: np.ndarray, w: np.ndarray, g: np.ndarray) -> None:
        F = torch.nn.functional
        rs = np.random.RandomState(int(self.random_state))
        n = len(y)
        val = np.zeros(n, dtype=bool)
        if self.early_stopping:
            for c in np.unique(y):
                idx = np.flatnonzero(y == c)
                k = int(round(self.validation_fraction * len(idx)))
                if 0 < k < len(idx):
                    val[rs.choice(idx, size=k, replace=False)] = True
        dev = self.device_
        prec = self.precision_
        Xt = self._prepare_fit(X)
        module = self._module(len(self.classes_)).to(dev)
        y_t = torch.from_numpy(y.astype(np.int64)).to(dev)
        w_t = torch.from_numpy(w).to(dev)
        n_groups = int(g.max()) + 1
        g_t = torch.from_numpy(g.astype(np.int64)).to(dev)
        train_idx = np.flatnonzero(~val)
        val_idx = np.flatnonzero(val)
        opt = self._make_optimizer(module.parameters(), torch)
        ls = float(self.label_smoothing)
        self.group_weights_ = np.full(n_groups, 1.0 / n_groups)
        q = torch.full((n_groups,), 1.0 / n_groups, device=dev)
        best = (np.inf, None)
        bad = 0
        self.n_epochs_ = 0
        self.loss_curve_: list[float] = []

        if self.dp:
            from opacus import PrivacyEngine

            dense = self._rows(Xt, train_idx, torch) if sp.issparse(Xt) else Xt[train_idx]
            ds = torch.utils.data.TensorDataset(dense, y_t[train_idx])
            loader = torch.utils.data.DataLoader(ds, batch_size=self.batch_size, shuffle=True,
                                                 generator=torch.Generator().manual_seed(
                                                     int(self.random_state)))
            engine = PrivacyEngine(accountant="rdp")
            module, opt, loader = engine.make_private(
                module=module, optimizer=opt, data_loader=loader,
                noise_multiplier=float(self.noise_multiplier),
                max_grad_norm=float(self.max_grad_norm))

        for _epoch in range(int(self.epochs)):
            module.train()
            total = 0.0
            if self.dp:
                for xb, yb in loader:
                    if len(yb) == 0:
                        continue
                    xb, yb = xb.to(dev), yb.to(dev)
                    opt.zero_grad()
                    with autocast(torch, dev, prec):
                        logits = module(xb)
                    loss = F.cross_entropy(logits.float(), yb, label_smoothing=ls)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(yb)
            else:
                perm = train_idx[torch.randperm(len(train_idx)).numpy()]
                for start in range(0, len(perm), int(self.batch_size)):
                    b = perm[start:start + int(self.batch_size)]
                    with autocast(torch, dev, prec):
                        logits = module(self._rows(Xt, b, torch).to(dev))
                    losses = F.cross_entropy(logits.float(), y_t[b], reduction="none",
                                             label_smoothing=ls)
                    if self.objective == "group_dro":
                        gb = g_t[b]
                        sums = torch.zeros(n_groups, device=dev).index_add(0, gb, losses)
                        counts = torch.zeros(n_groups, device=dev).index_add(
                            0, gb, torch.ones_like(losses))
                        present = counts > 0
                        group_loss = torch.where(present, sums / counts.clamp(min=1), 0.0)
                        q = q * torch.exp(float(self.dro_step_size) * group_loss.detach())
                        q = q / q.sum()
                        loss = (q * group_loss).sum()
                    else:
                        wb = w_t[b]
                        loss = (wb * losses).sum() / wb.sum().clamp(min=1e-12)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(b)
            self.n_epochs_ += 1
            self.loss_curve_.append(total / max(len(train_idx), 1))
            if self.early_stopping and len(val_idx):
                module.eval()
                with torch.no_grad():
                    vl = float(F.cross_entropy(self._forward_batches(module, Xt, val_idx, torch),
                                               y_t[val_idx].cpu()))
                if vl < best[0] - 1e-6:
                    best = (vl, copy.deepcopy(_unwrap(module).state_dict()))
                    bad = 0
                else:
                    bad += 1
                    if bad >= int(self.patience):
                        break
        self.group_weights_ = q.cpu().numpy().astype(np.float64)
        if self.dp:
            self.epsilon_ = float(engine.get_epsilon(float(self.dp_delta)))
        module = _unwrap(module)
        if best[1] is not None:
            module.load_state_dict(best[1])
        module.eval()
        self.module_ = module

    def _forward_batches(self, module: Any, Xt: Any, idx: np.ndarray, torch: Any) -> Any:
        """Logits of rows ``idx`` in batches of 512, on the CPU in float32."""
        dev = getattr(self, "device_", "cpu")
        prec = getattr(self, "precision_", "fp32")
        outs = []
        for s in range(0, len(idx), 512):
            with autocast(torch, dev, prec):
                out = module(self._rows(Xt, idx[s:s + 512], torch).to(dev))
            outs.append(out.float().cpu())
        return torch.cat(outs) if outs else torch.zeros((0, len(self.classes_)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the network's outputs)."""
        check_is_fitted(self, "module_")
        with torch_threads(self.n_threads) as torch:
            Xt = self._prepare(X)
            n = Xt.shape[0]
            with torch.no_grad():
                logits = self._forward_batches(self.module_, Xt, np.arange(n), torch)
                return torch.softmax(logits, dim=1).numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def _unwrap(module: Any) -> Any:
    """The plain module inside an opacus ``GradSampleModule`` (or the module itself)."""
    return getattr(module, "_module", module)


def _mlp(torch: Any, n_in: int, hidden: Sequence[int], n_out: int, dropout: float) -> Any:
    nn = torch.nn
    layers: list[Any] = []
    last = n_in
    for h in hidden:
        layers += [nn.Linear(last, int(h)), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        last = int(h)
    layers.append(nn.Linear(last, n_out))
    return nn.Sequential(*layers)


class TorchMLPClassifier(_TorchClassifier):
    """A multi-layer perceptron on feature vectors (dense arrays or scipy sparse matrices).

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(128,)
        Widths of the hidden layers (``()`` gives multinomial logistic regression).
    dropout : float, default=0.0
    epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, early_stopping,
    validation_fraction, patience, objective, dro_step_size, dp, noise_multiplier,
    max_grad_norm, dp_delta, random_state, n_threads :
        See the module docstring (common torch firm parameters).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2))]
    >>> y = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> TorchMLPClassifier(epochs=30, lr=0.05).fit(X, y).predict([[0, 0], [1, 1]]).tolist()
    [0, 1]
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (128,),
        dropout: float = 0.0,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        label_smoothing: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        objective: str = "erm",
        dro_step_size: float = 0.01,
        dp: bool = False,
        noise_multiplier: float = 1.0,
        max_grad_norm: float = 1.0,
        dp_delta: float = 1e-5,
        random_state: int = 0,
        n_threads: int = 1,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self._init_common(locals())

    def _prepare(self, X: Any) -> Any:
        torch = _import_torch()
        if sp.issparse(X):
            return sp.csr_matrix(X, dtype=np.float32)
        return torch.from_numpy(np.asarray(X, dtype=np.float32))

    def _prepare_fit(self, X: Any) -> Any:
        Xt = self._prepare(X)
        self.n_features_in_ = Xt.shape[1]
        return Xt

    def _module(self, n_classes: int) -> Any:
        return _mlp(_import_torch(), self.n_features_in_, tuple(self.hidden_layer_sizes),
                    n_classes, float(self.dropout))


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
    max_grad_norm, dp_delta, random_state, n_threads :
        See the module docstring.
    """

    def __init__(
        self,
        image_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (16, 32),
        dropout: float = 0.0,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        label_smoothing: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        objective: str = "erm",
        dro_step_size: float = 0.01,
        dp: bool = False,
        noise_multiplier: float = 1.0,
        max_grad_norm: float = 1.0,
        dp_delta: float = 1e-5,
        random_state: int = 0,
        n_threads: int = 1,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        self.image_shape = image_shape
        self.channels = channels
        self.dropout = dropout
        self._init_common(locals())

    def _prepare(self, X: Any) -> Any:
        torch = _import_torch()
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
        torch = _import_torch()
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


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words of 2+ word characters and every other non-space symbol, as separate tokens.

    Examples
    --------
    >>> tokenize("Stocks rose \u00a4 5%")
    ['stocks', 'rose', '\u00a4', '%']
    """
    text = text.lower() if lowercase else text
    return re.findall(SYMBOL_TOKEN_PATTERN, text)


class TorchTextClassifier(_TorchClassifier):
    """A neural text classifier: learnt token embeddings, pooled, then a linear or MLP head.

    The vocabulary (``max_vocab`` most frequent tokens of the training texts, ties broken
    alphabetically) keeps symbols as tokens (:func:`tokenize`), so a rare-character trigger
    gets its own embedding. Texts are truncated to ``max_len`` tokens.

    Parameters
    ----------
    embedding_dim : int, default=64
    hidden_layer_sizes : sequence of int, default=()
        Hidden layers after pooling.
    pooling : {"mean", "max", "mean_max"}, default="mean_max"
        How token embeddings become a text vector (``mean_max`` concatenates both).
    max_len : int, default=400
    max_vocab : int, default=50000
    min_count : int, default=1
    dropout : float, default=0.0
    epochs, batch_size, lr, optimizer, weight_decay, label_smoothing, early_stopping,
    validation_fraction, patience, objective, dro_step_size, dp, noise_multiplier,
    max_grad_norm, dp_delta, random_state, n_threads :
        See the module docstring.
    """

    def __init__(
        self,
        embedding_dim: int = 64,
        hidden_layer_sizes: Sequence[int] = (),
        pooling: str = "mean_max",
        max_len: int = 400,
        max_vocab: int = 50000,
        min_count: int = 1,
        dropout: float = 0.0,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 5e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        label_smoothing: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 3,
        objective: str = "erm",
        dro_step_size: float = 0.01,
        dp: bool = False,
        noise_multiplier: float = 1.0,
        max_grad_norm: float = 1.0,
        dp_delta: float = 1e-5,
        random_state: int = 0,
        n_threads: int = 1,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        self.embedding_dim = embedding_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pooling = pooling
        self.max_len = max_len
        self.max_vocab = max_vocab
        self.min_count = min_count
        self.dropout = dropout
        self._init_common(locals())

    def _prepare(self, X: Any) -> Any:
        torch = _import_torch()
        texts = [str(t) for t in np.asarray(X, dtype=object).ravel()]
        L = int(self.max_len)
        ids = np.zeros((len(texts), L), dtype=np.int64)
        for i, t in enumerate(texts):
            row = [self.vocabulary_.get(tok, 1) for tok in tokenize(t)[:L]]
            ids[i, : len(row)] = row
        return torch.from_numpy(ids)

    def _prepare_fit(self, X: Any) -> Any:
        if self.pooling not in ("mean", "max", "mean_max"):
            raise ValueError(f"pooling: {self.pooling!r} is not one of mean, max, mean_max")
        counts: Counter[str] = Counter()
        for t in np.asarray(X, dtype=object).ravel():
            counts.update(tokenize(str(t))[: int(self.max_len)])
        kept = sorted((c for c in counts.items() if c[1] >= self.min_count),
                      key=lambda kv: (-kv[1], kv[0]))[: int(self.max_vocab)]
        # 0 = padding, 1 = unknown
        self.vocabulary_ = {tok: i + 2 for i, (tok, _) in enumerate(kept)}
        return self._prepare(X)

    def _module(self, n_classes: int) -> Any:
        torch = _import_torch()
        return _TextNet(torch, len(self.vocabulary_) + 2, int(self.embedding_dim), self.pooling,
                        tuple(self.hidden_layer_sizes), n_classes, float(self.dropout))


def _TextNet(torch: Any, n_vocab: int, dim: int, pooling: str, hidden: tuple[int, ...],
             n_classes: int, dropout: float) -> Any:
    nn = torch.nn

    class TextNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n_vocab, dim, padding_idx=0)
            width = dim * (2 if pooling == "mean_max" else 1)
            self.head = _mlp(torch, width, hidden, n_classes, dropout)

        def forward(self, ids: Any) -> Any:
            mask = (ids != 0).unsqueeze(-1).float()
            emb = self.embedding(ids)
            parts = []
            if pooling in ("mean", "mean_max"):
                parts.append((emb * mask).sum(1) / mask.sum(1).clamp(min=1.0))
            if pooling in ("max", "mean_max"):
                parts.append((emb + (mask - 1.0) * 1e4).max(1).values * (mask.sum(1) > 0))
            return self.head(torch.cat(parts, dim=1))

    return TextNet()


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
