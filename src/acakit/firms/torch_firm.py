"""The base of the torch firms on arrays and texts: common parameters, objectives, fit, predict.

:class:`_TorchClassifier` holds what :class:`~acakit.firms.neural.TorchMLPClassifier`,
:class:`~acakit.firms.neural.TorchCNNClassifier` and
:class:`~acakit.firms.torch_text.TorchTextClassifier` share: the common parameters (listed
below) and their checks, and a fit that hands :func:`acakit.firms.torch_loop.train` a plan
built from the firm's module and its objective:

- ``objective="erm"``: cross-entropy weighted by ``sample_weight``
  (:func:`~acakit.firms.torch_loop.weighted_cross_entropy`);
- ``objective="group_dro"``: :class:`GroupDRO`, online group DRO (Sagawa et al. 2020), whose
  group weights are updated at every step;
- ``dp=True``: DP-SGD through ``opacus`` (:func:`make_private`: the private module, optimizer
  and Poisson data loader), the plain mean cross-entropy.

A subclass supplies ``_prepare_fit`` / ``_prepare`` (inputs as tensors or a sparse matrix) and
``_module`` (the untrained network). torch is imported only when a firm is fitted.

The common parameters (keyword-only, the same for every torch firm):

- ``epochs`` (int): Passes over the training data.
- ``batch_size`` (int): Rows per optimizer step.
- ``lr`` (float): Learning rate.
- ``optimizer`` ({"adam", "sgd"}): ``sgd`` uses momentum 0.9 (plain SGD under ``dp=True``).
- ``weight_decay`` (float): L2 penalty (decoupled: AdamW for ``adam``).
- ``label_smoothing`` (float): In [0, 1).
- ``early_stopping`` (bool): Hold out ``validation_fraction`` of the training data (stratified,
  seeded) and keep the epoch with the lowest validation loss; stop after ``patience`` epochs
  without improvement.
- ``validation_fraction`` (float): Share of the training data held out under ``early_stopping``.
- ``patience`` (int): Epochs without a better validation loss before ``early_stopping`` stops.
- ``objective`` ({"erm", "group_dro"}): Average (weighted) loss, or the worst-group loss of
  online group DRO with groups given to ``fit`` (default: the labels).
- ``dro_step_size`` (float): Step size of group DRO's exponentiated-gradient update of the group
  weights.
- ``dp`` (bool): Train with DP-SGD (``opacus``): per-sample gradient clipping to
  ``max_grad_norm`` and Gaussian noise of scale ``noise_multiplier * max_grad_norm``, Poisson
  batches. The spent ``epsilon_`` at ``dp_delta`` is stored after fitting.
- ``noise_multiplier``, ``max_grad_norm``, ``dp_delta`` (float): DP-SGD's noise scale, clipping
  norm and the δ at which ``epsilon_`` is reported.
- ``random_state`` (int): Seeds the initialisation, the batch order, dropout, DP noise and the
  validation split.
- ``n_threads`` (int): torch threads during ``fit`` and ``predict``.
- ``device`` ({"auto", "cpu", "cuda", "cuda:N"}): Where the network trains and predicts
  (``auto``: CUDA when present, else the CPU).
- ``precision`` ({"auto", "fp32", "bf16"}): ``auto``: bf16 autocast on CUDA, fp32 on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from acakit.firms.device import autocast, check_precision, resolve_device
from acakit.firms.torch_loop import (
    Batch,
    EarlyStopping,
    PicklableModuleMixin,
    TrainingPlan,
    encode_targets,
    resolve,
    seeded,
    shuffled_rows,
    torch_threads,
    train,
    unwrap,
    validation_split,
    weighted_cross_entropy,
)

OBJECTIVES = ("erm", "group_dro")
OPTIMIZERS = ("adam", "sgd")


def opacus_available() -> bool:
    """Whether DP-SGD (``dp=True``) can run, i.e. ``opacus`` imports."""
    try:
        import opacus  # noqa: F401
    except ImportError:
        return False
    return True


class GroupDRO:
    """Online group DRO's loss (Sagawa et al. 2020): the group-weighted mean of group losses.

    At every step the weights ``q`` of the groups present in the batch move by an
    exponentiated-gradient step of size ``step_size`` towards the groups with the larger loss;
    the loss is ``sum_g q_g * loss_g``. ``q`` starts uniform.

    Parameters
    ----------
    torch : module
    groups : numpy.ndarray of int
        Group code (0 .. G-1) of every training row.
    device : str
    step_size : float
    label_smoothing : float, default=0.0
    """

    def __init__(self, torch: Any, groups: np.ndarray, device: str, step_size: float,
                 label_smoothing: float = 0.0) -> None:
        self.torch = torch
        self.n_groups = int(groups.max()) + 1
        self.groups = torch.from_numpy(groups.astype(np.int64)).to(device)
        self.device = device
        self.step_size = float(step_size)
        self.label_smoothing = label_smoothing
        self.q = torch.full((self.n_groups,), 1.0 / self.n_groups, device=device)

    def __call__(self, logits: Any, batch: Batch) -> Any:
        torch = self.torch
        losses = torch.nn.functional.cross_entropy(logits, batch.y, reduction="none",
                                                   label_smoothing=self.label_smoothing)
        gb = self.groups[batch.rows]
        sums = torch.zeros(self.n_groups, device=self.device).index_add(0, gb, losses)
        counts = torch.zeros(self.n_groups, device=self.device).index_add(
            0, gb, torch.ones_like(losses))
        present = counts > 0
        group_loss = torch.where(present, sums / counts.clamp(min=1), 0.0)
        q = self.q * torch.exp(self.step_size * group_loss.detach())
        self.q = q / q.sum()
        return (self.q * group_loss).sum()


def make_private(torch: Any, module: Any, optimizer: Any, X: Any, y: Any, batch_size: int,
                 random_state: int, noise_multiplier: float,
                 max_grad_norm: float) -> tuple[Any, Any, Any, Any]:
    """DP-SGD through opacus: the private module, optimizer and (Poisson) loader of ``(X, y)``.

    Returns
    -------
    (module, optimizer, data_loader, privacy_engine)
        The engine's ``get_epsilon(delta)`` gives the privacy spent after training.
    """
    from opacus import PrivacyEngine

    ds = torch.utils.data.TensorDataset(X, y)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(
                                             int(random_state)))
    engine = PrivacyEngine(accountant="rdp")
    module, optimizer, loader = engine.make_private(
        module=module, optimizer=optimizer, data_loader=loader,
        noise_multiplier=float(noise_multiplier), max_grad_norm=float(max_grad_norm))
    return module, optimizer, loader, engine


def _loader_batches(loader: Any, device: str) -> Iterator[Batch]:
    """One epoch of a DP loader's batches on ``device`` (Poisson sampling may draw none)."""
    for xb, yb in loader:
        if len(yb) == 0:
            continue
        xb, yb = xb.to(device), yb.to(device)
        yield Batch((xb,), yb, None, len(yb))


def _mlp(torch: Any, n_in: int, hidden: Sequence[int], n_out: int, dropout: float) -> Any:
    """Linear layers with ReLU (and dropout) between them: ``n_in -> hidden... -> n_out``."""
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


@dataclass(eq=False, repr=False)
class _TorchClassifier(PicklableModuleMixin, ClassifierMixin, BaseEstimator):
    """The torch firms' common parameters, checks and fit (subclasses build the module and the
    inputs; :func:`acakit.firms.torch_loop.train` runs the epochs).

    The common parameters (see the module docstring) are declared once, here, as keyword-only
    dataclass fields; a subclass
    (a dataclass too) declares its own parameters before them, and may give a common one another
    default by declaring it again (``epochs: int = field(default=10, kw_only=True)``). The
    generated ``__init__`` only stores the parameters, as scikit-learn wants.

    Attributes
    ----------
    device_ : str
        The device the firm trained on (``"cpu"`` or ``"cuda:N"``).
    """

    epochs: int = field(default=20, kw_only=True)
    batch_size: int = field(default=64, kw_only=True)
    lr: float = field(default=1e-3, kw_only=True)
    optimizer: str = field(default="adam", kw_only=True)
    weight_decay: float = field(default=0.0, kw_only=True)
    label_smoothing: float = field(default=0.0, kw_only=True)
    early_stopping: bool = field(default=False, kw_only=True)
    validation_fraction: float = field(default=0.1, kw_only=True)
    patience: int = field(default=5, kw_only=True)
    objective: str = field(default="erm", kw_only=True)
    dro_step_size: float = field(default=0.01, kw_only=True)
    dp: bool = field(default=False, kw_only=True)
    noise_multiplier: float = field(default=1.0, kw_only=True)
    max_grad_norm: float = field(default=1.0, kw_only=True)
    dp_delta: float = field(default=1e-5, kw_only=True)
    random_state: int = field(default=0, kw_only=True)
    n_threads: int = field(default=1, kw_only=True)
    device: str = field(default="auto", kw_only=True)
    precision: str = field(default="auto", kw_only=True)

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
        self.classes_, y_codes, w = encode_targets(y, sample_weight)
        if self.dp and sample_weight is not None and not np.allclose(w, w[0]):
            raise ValueError("dp: DP-SGD does not support unequal sample weights")
        g_codes = np.unique(y_codes if groups is None else np.asarray(groups),
                            return_inverse=True)[1]
        self.device_, self.precision_ = resolve(self.device, self.precision)
        with seeded(self.n_threads, self.device_, self.random_state) as torch:
            self._fit_seeded(torch, X, y_codes, w, g_codes)
        return self

    def _fit_seeded(self, torch: Any, X: Any, y: np.ndarray, w: np.ndarray, g: np.ndarray) -> None:
        val = (validation_split(y, self.validation_fraction, self.random_state)
               if self.early_stopping else np.zeros(len(y), dtype=bool))
        dev = self.device_
        Xt = self._prepare_fit(X)
        module = self._module(len(self.classes_)).to(dev)
        y_t = torch.from_numpy(y.astype(np.int64)).to(dev)
        train_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
        opt = self._make_optimizer(module.parameters(), torch)
        dro = GroupDRO(torch, g, dev, self.dro_step_size, float(self.label_smoothing))
        plan, engine = self._plan(torch, module, opt, Xt, y_t, torch.from_numpy(w).to(dev),
                                  train_idx, dro)
        if self.early_stopping and len(val_idx):
            plan.early_stopping = EarlyStopping(
                lambda m: float(torch.nn.functional.cross_entropy(
                    self._forward_batches(m, Xt, val_idx, torch), y_t[val_idx].cpu())),
                int(self.patience))
        log = train(torch, plan, int(self.epochs), dev, self.precision_)
        self.n_epochs_, self.loss_curve_ = log.n_epochs, log.loss_curve
        self.group_weights_ = dro.q.cpu().numpy().astype(np.float64)
        if engine is not None:
            self.epsilon_ = float(engine.get_epsilon(float(self.dp_delta)))
        module = unwrap(plan.module)
        module.eval()
        self.module_ = module

    def _plan(self, torch: Any, module: Any, opt: Any, Xt: Any, y_t: Any, w_t: Any,
              train_idx: np.ndarray, dro: GroupDRO) -> tuple[TrainingPlan, Any]:
        """The objective's module, optimizer, batches and loss (ERM, group DRO or DP-SGD), and
        opacus's privacy engine (None without ``dp``)."""
        dev, ls = self.device_, float(self.label_smoothing)
        if self.dp:
            dense = self._rows(Xt, train_idx, torch) if sp.issparse(Xt) else Xt[train_idx]
            module, opt, loader, engine = make_private(
                torch, module, opt, dense, y_t[train_idx], self.batch_size, self.random_state,
                self.noise_multiplier, self.max_grad_norm)
            return TrainingPlan(
                module, opt, lambda: _loader_batches(loader, dev),
                lambda logits, b: torch.nn.functional.cross_entropy(logits, b.y,
                                                                    label_smoothing=ls),
                len(train_idx)), engine

        def batch(rows: np.ndarray) -> Batch:
            return Batch((self._rows(Xt, rows, torch).to(dev),), y_t[rows], rows, len(rows))

        if self.objective == "group_dro":
            loss: Any = dro
        else:
            def loss(logits: Any, b: Batch) -> Any:
                return weighted_cross_entropy(torch, logits, b.y, w_t[b.rows], ls)
        return TrainingPlan(module, opt,
                            lambda: shuffled_rows(torch, train_idx, int(self.batch_size), batch),
                            loss, len(train_idx)), None

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

