"""The one training loop of acakit's torch firms, and what every torch firm shares around it.

Every torch firm (:mod:`acakit.firms.neural`'s MLP and CNN, :mod:`acakit.firms.torch_text`'s
text classifier, group DRO, DP-SGD, :mod:`acakit.firms.finetune`'s MiniLM fine-tune) trains
through :func:`train`. The loop owns what is the same for all of them:

- **seeding** (:func:`seeded`): torch's threads, a forked RNG (CPU and the firm's CUDA device)
  seeded with ``random_state``, so a fit leaves no trace in the caller's RNG;
- **labels and weights** (:func:`encode_targets`);
- **the epochs and the steps**: ``module.train()``, zeroed gradients, the forward pass under
  the firm's autocast (:func:`acakit.firms.device.autocast`), the loss taken in float32, the
  backward pass and the optimizer's step, in that order;
- **the loss history**: the mean training loss of every epoch (``loss_curve``, weighted by
  the batch sizes) and the number of epochs run;
- **early stopping** (:class:`EarlyStopping`): a stratified, seeded validation split
  (:func:`validation_split`), the best epoch's weights kept and put back, ``patience``.

A firm supplies a :class:`TrainingPlan`: its module, its optimizer (a DP-SGD firm hands in the
module, optimizer and data loader opacus made private), ``batches()`` (what one epoch iterates:
:func:`shuffled_rows` for a seeded permutation of the training rows, or a DP loader), and
``loss(logits, batch)`` (weighted cross-entropy, :class:`GroupDRO`'s worst-group loss, ...).
A per-step hook is a loss with state (group DRO updates its group weights in it).

On the CPU in fp32 a fit runs exactly the operations, and draws exactly the random numbers, in
the order it did before the loop was shared: the recorded losses of the tests are reproduced to
the last bit. torch is imported only when a fit runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acakit.firms.device import autocast, resolve_device, resolve_precision

__all__ = [
    "Batch",
    "EarlyStopping",
    "PicklableModuleMixin",
    "TrainingLog",
    "TrainingPlan",
    "encode_targets",
    "import_torch",
    "resolve",
    "rng_devices",
    "seeded",
    "shuffled_rows",
    "torch_threads",
    "train",
    "unwrap",
    "validation_split",
    "weighted_cross_entropy",
]


def import_torch() -> Any:
    """torch, or an ``ImportError`` that says how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError("torch firms need torch: pip install torch==2.13.0") from None
    return torch


@contextmanager
def torch_threads(n_threads: int) -> Iterator[Any]:
    """Run the block with torch on ``n_threads`` CPU threads; yield torch; restore the count after."""
    torch = import_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)


def rng_devices(device: str) -> list[int]:
    """The CUDA devices whose RNG a seeded fit on ``device`` forks (``torch.random.fork_rng``)."""
    return [int(device.split(":")[1])] if device.startswith("cuda:") else []


@contextmanager
def seeded(n_threads: int, device: str, random_state: int) -> Iterator[Any]:
    """The block of a fit: ``n_threads`` torch threads, a forked RNG seeded with ``random_state``.

    Parameters
    ----------
    n_threads : int
        torch threads during the block.
    device : str
        A resolved device (``"cpu"`` or ``"cuda:N"``); its RNG is forked too.
    random_state : int
        The seed of ``torch.manual_seed``.

    Yields
    ------
    torch
    """
    with torch_threads(n_threads) as torch, torch.random.fork_rng(devices=rng_devices(device)):
        torch.manual_seed(int(random_state))
        yield torch


def resolve(device: str, precision: str, where: str = "firm.params.device") -> tuple[str, str]:
    """A firm's ``device`` and ``precision`` settings as this machine runs them.

    Returns
    -------
    (device, precision) : (str, str)
        ``"cpu"`` or ``"cuda:N"``, and ``"fp32"`` or ``"bf16"``
        (:func:`acakit.firms.device.resolve_device`, :func:`~acakit.firms.device.resolve_precision`).
    """
    dev = resolve_device(device, where)
    return dev, resolve_precision(precision, dev)


def encode_targets(y: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The classes, every label's class code and the float32 loss weights (ones by default).

    Parameters
    ----------
    y : array-like
        Labels.
    sample_weight : array-like of float, optional

    Returns
    -------
    classes : numpy.ndarray
    codes : numpy.ndarray of int
    weights : numpy.ndarray of float32
    """
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    w = np.ones(len(codes), dtype=np.float32) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float32)
    return classes, codes, w


def validation_split(y: np.ndarray, fraction: float, random_state: int) -> np.ndarray:
    """Which rows early stopping holds out: ``fraction`` of every class, drawn with the seed.

    A class too small to give a row and keep one gives none. Returns a boolean mask.
    """
    rs = np.random.RandomState(int(random_state))
    val = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(round(fraction * len(idx)))
        if 0 < k < len(idx):
            val[rs.choice(idx, size=k, replace=False)] = True
    return val


def unwrap(module: Any) -> Any:
    """The plain module inside an opacus ``GradSampleModule`` (or the module itself)."""
    return getattr(module, "_module", module)


@dataclass
class Batch:
    """One step's data: the module's inputs, the targets and the training rows they are.

    ``rows`` indexes the training data (a loss reads the rows' weights or groups there); None
    for a batch a DP loader drew. ``size`` counts the rows in the epoch's mean loss.
    """

    inputs: tuple[Any, ...]
    y: Any
    rows: np.ndarray | None
    size: int


def shuffled_rows(torch: Any, rows: np.ndarray, batch_size: int,
                  make: Callable[[np.ndarray], Batch]) -> Iterator[Batch]:
    """One epoch of batches: ``rows`` in the order of a seeded ``torch.randperm``, ``batch_size``
    at a time, each made into a :class:`Batch` by ``make(rows_of_the_batch)``."""
    perm = rows[torch.randperm(len(rows)).numpy()]
    for start in range(0, len(perm), int(batch_size)):
        yield make(perm[start:start + int(batch_size)])


def weighted_cross_entropy(torch: Any, logits: Any, y: Any, w: Any,
                           label_smoothing: float = 0.0) -> Any:
    """``sum(w * CE) / sum(w)`` over a batch (ERM, weighted by ``sample_weight``)."""
    losses = torch.nn.functional.cross_entropy(logits, y, reduction="none",
                                               label_smoothing=label_smoothing)
    return (w * losses).sum() / w.sum().clamp(min=1e-12)


@dataclass
class EarlyStopping:
    """Keep the epoch with the lowest validation loss; stop after ``patience`` worse epochs.

    Parameters
    ----------
    validation_loss : callable
        ``validation_loss(module) -> float``, called in eval mode without gradients.
    patience : int
    """

    validation_loss: Callable[[Any], float]
    patience: int
    best_loss: float = np.inf
    best_state: dict[str, Any] | None = None
    bad_epochs: int = 0

    def stop(self, torch: Any, module: Any) -> bool:
        """Score the epoch just trained; True when training should stop."""
        module.eval()
        with torch.no_grad():
            loss = self.validation_loss(module)
        if loss < self.best_loss - 1e-6:
            self.best_loss = loss
            self.best_state = copy.deepcopy(unwrap(module).state_dict())
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= int(self.patience)

    def restore(self, module: Any) -> None:
        """Load the best epoch's weights into ``module`` (nothing if no epoch was kept)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


@dataclass
class TrainingPlan:
    """What a firm hands to :func:`train`.

    Attributes
    ----------
    module : torch.nn.Module
        On its device already (or opacus's wrapper of it).
    optimizer : torch.optim.Optimizer
    batches : callable
        ``batches() -> iterable of Batch``: one epoch (called once per epoch).
    loss : callable
        ``loss(logits, batch) -> scalar tensor``; ``logits`` are float32. The per-step hook:
        a loss may keep state (group DRO's weights).
    n_rows : int
        Training rows: the epoch's mean loss is the size-weighted sum over its batches / this.
    early_stopping : EarlyStopping or None
    """

    module: Any
    optimizer: Any
    batches: Callable[[], Iterable[Batch]]
    loss: Callable[[Any, Batch], Any]
    n_rows: int
    early_stopping: EarlyStopping | None = None


@dataclass
class TrainingLog:
    """What :func:`train` recorded: the mean training loss of every epoch, the epochs run."""

    loss_curve: list[float] = field(default_factory=list)
    n_epochs: int = 0


def train(torch: Any, plan: TrainingPlan, epochs: int, device: str, precision: str) -> TrainingLog:
    """Train ``plan.module`` for up to ``epochs`` epochs; the one loop of every torch firm.

    Each step zeroes the gradients, runs the module on the batch's inputs under autocast
    (``precision`` on ``device``), takes ``plan.loss`` of the float32 logits, steps back and
    steps the optimizer. After each epoch, early stopping (if any) scores the module; after the
    last, the best epoch's weights are put back. The module is left in train mode (the firm
    puts it in eval mode when it keeps it).

    Parameters
    ----------
    torch : module
    plan : TrainingPlan
    epochs : int
    device, precision : str
        Resolved values (:func:`acakit.firms.device.resolve_device`, ``resolve_precision``).

    Returns
    -------
    TrainingLog
    """
    log = TrainingLog()
    module, opt = plan.module, plan.optimizer
    for _epoch in range(int(epochs)):
        module.train()
        total = 0.0
        for batch in plan.batches():
            opt.zero_grad()
            with autocast(torch, device, precision):
                logits = module(*batch.inputs)
            loss = plan.loss(logits.float(), batch)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.size
        log.n_epochs += 1
        log.loss_curve.append(total / max(plan.n_rows, 1))
        if plan.early_stopping is not None and plan.early_stopping.stop(torch, module):
            break
    if plan.early_stopping is not None:
        plan.early_stopping.restore(unwrap(module))
    return log


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
            torch = import_torch()
            with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave no trace
                module = self._rebuild_module()
            module.load_state_dict(weights)
            module.eval()
            self.device_ = self._load_device()
            if hasattr(self, "precision"):
                self.precision_ = resolve_precision(self.precision, self.device_)
            self.module_ = module.to(self.device_)
