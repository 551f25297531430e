"""On-disk content-hash cache for what a sweep computes again and again.

Cells of a sweep share work that does not depend on the collective: loading the data set, the
train/test split, the clean firm f0 fitted per (dataset, firm, seed), the reference model of an
erasing strategy. :class:`Cache` keeps such values on disk, keyed by a hash of their content
(the spec that produced them, plus, for acakit's own values, a fingerprint of acakit's source and
of the numerical libraries), so that worker processes and later runs reuse them.

Safe for concurrent workers: a value is written to a temporary file in the same folder and moved
into place with :func:`os.replace` (atomic), so a reader sees a whole file or none; on POSIX a
per-key lock (``fcntl.flock``) lets one worker compute a value while the others wait and then read
it instead of computing it again. A file that cannot be read back (truncated, from an older
Python) is a miss: the value is computed again and the file replaced.

Other parts of acakit (e.g. text-encoder embeddings) use the generic API: :meth:`Cache.get`,
:meth:`Cache.put`, :meth:`Cache.memoize`, and :func:`content_hash` to build keys.

Where: ``$ACAKIT_CACHE_DIR`` if set, else the user's cache folder (``platformdirs``; e.g.
``~/.cache/acakit`` on Linux), never the working directory. ``ACAKIT_CACHE=0`` turns it off.

Trust (see ``SECURITY.md``): a cache file is unpickled only after its HMAC-SHA256 checks out
under a per-user key (``cache.key`` in the user's config folder, ``$ACAKIT_CONFIG_DIR`` or
e.g. ``~/.config/acakit``: 32 random bytes, mode 0600, created on first use). The key is not in
the cache folder it protects, so a cache folder copied from someone else (with whatever key file
it holds) brings no trust: its entries fail verification and are computed again. The MAC covers
the namespace and key the value was stored under, so a file copied from
someone else, crafted, or moved to another entry's place fails verification: it is never
unpickled, the value is computed again, and a warning names the entry. A key file that another
user could read or replace (not owned by this user, or readable or writable by others) turns
the cache off for the run, with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import pickle
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:  # POSIX only; elsewhere workers may compute a value twice (still correct)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: Environment variable naming the cache folder.
CACHE_DIR_ENV = "ACAKIT_CACHE_DIR"
#: Environment variable that turns the cache off when ``0``, ``false`` or ``no``.
CACHE_ENABLE_ENV = "ACAKIT_CACHE"
#: Environment variable naming the user's acakit config folder (where the cache key lives).
CONFIG_DIR_ENV = "ACAKIT_CONFIG_DIR"

_MISSING = object()
#: First bytes of every cache file: format tag, then the 32-byte MAC, then the pickle.
_MAGIC = b"ACAKC1\n"
_MAC_LEN = 32

log = logging.getLogger("acakit.engine.cache")


def default_cache_dir() -> Path:
    """The cache folder: ``$ACAKIT_CACHE_DIR``, else the user's cache folder (platformdirs)."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir("acakit", appauthor=False)).resolve()


def key_path() -> Path:
    """Where the per-user cache key lives: ``cache.key`` in ``$ACAKIT_CONFIG_DIR``, else in the
    user's config folder (``platformdirs``; e.g. ``~/.config/acakit``), never in a cache
    folder (which may have been copied from someone else)."""
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve() / "cache.key"
    import platformdirs

    return Path(platformdirs.user_config_dir("acakit", appauthor=False)).resolve() / "cache.key"


def load_key(create: bool = True) -> bytes | None:
    """The per-user MAC key of the cache (:func:`key_path`; created, mode 0600, when absent).

    Returns None (the cache must not be used) if the key file is not this user's own, is open to
    other users, or cannot be read or created.
    """
    path = key_path()
    root = path.parent
    try:
        if not path.exists() and create:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another worker made it meanwhile
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(32))
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            log.warning("cache: %s is not a regular file; cache off for this run", path)
            return None
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            log.warning("cache: %s belongs to another user; cache off for this run", path)
            return None
        if st.st_mode & 0o077:
            log.warning("cache: %s is open to other users (mode %o); cache off for this run",
                        path, st.st_mode & 0o777)
            return None
        key = path.read_bytes()
    except OSError as e:
        log.warning("cache: cannot read or create the key %s (%s); cache off for this run", path,
                    e.strerror or e)
        return None
    if len(key) < 32:
        log.warning("cache: the key %s is %d bytes, shorter than 32; cache off for this run "
                    "(remove it and acakit makes a new one)", path, len(key))
        return None
    return key


def cache_enabled_by_env() -> bool:
    """False when ``$ACAKIT_CACHE`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(CACHE_ENABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _update(h: Any, obj: Any) -> None:
    """Feed a canonical encoding of ``obj`` into the hash ``h``."""
    if isinstance(obj, bytes | bytearray | memoryview):
        h.update(b"b"), h.update(len(obj).to_bytes(8, "little")), h.update(obj)
    elif isinstance(obj, str):
        data = obj.encode()
        h.update(b"s"), h.update(len(data).to_bytes(8, "little")), h.update(data)
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            h.update(b"O"), h.update(repr(obj.shape).encode())
            for item in obj.ravel():
                _update(h, item)
        else:
            arr = np.ascontiguousarray(obj)
            h.update(b"a"), h.update(f"{arr.dtype.str}{arr.shape}".encode()), h.update(arr.tobytes())
    elif isinstance(obj, pd.DataFrame | pd.Series):
        h.update(b"p"), _update(h, [str(c) for c in getattr(obj, "columns", [obj.name])])
        _update(h, pd.util.hash_pandas_object(obj, index=True).to_numpy())
    elif isinstance(obj, list | tuple):
        h.update(b"l"), h.update(len(obj).to_bytes(8, "little"))
        for item in obj:
            _update(h, item)
    else:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr)
        h.update(b"j"), _update(h, text)


def content_hash(*parts: Any) -> str:
    """sha256 hex digest of the content of ``parts``.

    Strings, bytes, numpy arrays (dtype, shape and bytes), pandas objects, lists and tuples of
    those, and JSON-able values (dict key order does not matter) are hashed by content.

    Examples
    --------
    >>> content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    True
    >>> content_hash("x") == content_hash("y")
    False
    """
    h = hashlib.sha256()
    for p in parts:
        _update(h, p)
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of acakit's source files and of the versions of the libraries results depend on.

    Cached values made by acakit's own code include it in their key, so editing acakit or
    upgrading scikit-learn never serves a stale clean firm.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    for dist in ("numpy", "pandas", "scikit-learn", "scipy"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:  # pragma: no cover
            pass
    return h.hexdigest()[:16]


class Cache:
    """A folder of pickled values keyed by content hash.

    Parameters
    ----------
    root : str or Path, optional
        The folder (default: :func:`default_cache_dir`). Created on first write; if it cannot be
        created the cache turns itself off (computing everything) rather than failing a sweep.
    enabled : bool, default=True
        False makes every lookup a miss and every write a no-op.

    Attributes
    ----------
    hits, misses, writes : int
        Counters of this object's lookups.

    Examples
    --------
    >>> import tempfile
    >>> cache = Cache(tempfile.mkdtemp())
    >>> cache.memoize("demo", ["answer"], lambda: 6 * 7)
    42
    >>> cache.memoize("demo", ["answer"], lambda: 0)  # served from disk
    42
    >>> cache.hits, cache.misses
    (1, 1)
    """

    def __init__(self, root: str | Path | None = None, enabled: bool = True) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.rejected = 0
        self._key: bytes | None = None
        self._memory: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()  # re-entrant: a computed value may memoize its own inputs

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r}, enabled={self.enabled})"

    def key(self, parts: Any, versioned: bool = True) -> str:
        """The key of ``parts`` (with :func:`code_fingerprint` mixed in when ``versioned``)."""
        return content_hash(code_fingerprint() if versioned else "", parts)

    def check_key(self) -> bool:
        """Load the key now; False (the cache off, a warning saying why) when it cannot be
        used. A sweep's driver calls it before its workers start, so that they are told the
        cache is off instead of each warning about the key."""
        return self._mac_key() is not None

    def _mac_key(self) -> bytes | None:
        if self._key is None and self.enabled:
            self._key = load_key()
            if self._key is None:
                self.enabled = False
        return self._key

    def _mac(self, namespace: str, key: str, payload: bytes) -> bytes:
        k = self._mac_key()
        assert k is not None
        return hmac.new(k, f"{namespace}/{key}\n".encode() + payload, hashlib.sha256).digest()

    def path(self, namespace: str, key: str) -> Path:
        """File holding ``key`` in ``namespace``."""
        return self.root / namespace / key[:2] / f"{key}.pkl"

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` if absent or unreadable."""
        value = self._read(namespace, key)
        return default if value is _MISSING else value

    def __contains__(self, item: tuple[str, str]) -> bool:
        return self.enabled and self.path(*item).is_file()

    def put(self, namespace: str, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (atomically: temp file, then ``os.replace``)."""
        if not self.enabled:
            return
        target = self.path(namespace, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:8]}.", suffix=".tmp", dir=target.parent)
        except OSError:
            self.enabled = False  # e.g. a read-only cluster node: compute, don't fail
            return
        if self._mac_key() is None:
            with contextlib.suppress(OSError):
                os.close(fd)
                os.unlink(tmp)
            return
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + self._mac(namespace, key, payload) + payload)
            os.replace(tmp, target)
            self.writes += 1
        except OSError as e:  # a full disk under the cache: compute on without it, don't fail cells
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self.enabled = False
            log.warning("cache: cannot write %s (%s); cache off for this run", target,
                        e.strerror or e)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _read(self, namespace: str, key: str) -> Any:
        if not self.enabled:
            return _MISSING
        path = self.path(namespace, key)
        try:  # only a regular file, never through a link: a FIFO or device would hang the read
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError as e:
            if e.errno == errno.ELOOP:
                log.warning("cache: %s/%s is a symbolic link; not followed, computed again",
                            namespace, path.name)
            return _MISSING
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                log.warning("cache: %s/%s is not a regular file; not read, computed again",
                            namespace, path.name)
                return _MISSING
            with os.fdopen(fd, "rb") as f:
                fd = -1
                data = f.read()
        except OSError:
            return _MISSING
        finally:
            if fd >= 0:
                os.close(fd)
        if self._mac_key() is None:
            return _MISSING
        head, mac = data[:len(_MAGIC)], data[len(_MAGIC):len(_MAGIC) + _MAC_LEN]
        payload = data[len(_MAGIC) + _MAC_LEN:]
        if head != _MAGIC or not hmac.compare_digest(mac, self._mac(namespace, key, payload)):
            self.rejected += 1
            log.warning("cache: %s/%s failed verification (signed with another key: not "
                        "written by this user's acakit, or moved); not loaded, computed again",
                        namespace, path.name)
            return _MISSING
        try:
            return pickle.loads(payload)  # noqa: S301  (verified: written by this user's acakit)
        except Exception:  # an incompatible file of an older acakit: a miss, overwritten later
            return _MISSING

    @contextlib.contextmanager
    def _key_lock(self, namespace: str, key: str) -> Iterator[None]:
        if fcntl is None or not self.enabled:
            yield
            return
        lock_path = self.path(namespace, key).with_suffix(".lock")
        try:  # a lock file is never followed through a link (O_NOFOLLOW)
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            fh = os.fdopen(fd, "r+b")
        except OSError:
            yield
            return
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def memoize(
        self,
        namespace: str,
        parts: Any,
        compute: Callable[[], Any],
        versioned: bool = True,
        memory: bool = False,
    ) -> Any:
        """Return the cached value of ``parts`` or compute, store and return it.

        Parameters
        ----------
        namespace : str
            A folder name for this kind of value (``"dataset"``, ``"clean_firm"``, ...).
        parts : object
            What the value depends on (hashed with :func:`content_hash`).
        compute : callable
            ``compute()`` makes the value; called at most once per key across processes that
            share the folder (on POSIX), unless a file is unreadable.
        versioned : bool, default=True
            Mix :func:`code_fingerprint` into the key (for values made by acakit's own code).
        memory : bool, default=False
            Also keep the value in this object's memory.

        Returns
        -------
        object
        """
        key = self.key(parts, versioned)
        if memory and (namespace, key) in self._memory:
            self.hits += 1
            return self._memory[(namespace, key)]
        value = self._read(namespace, key)
        if value is _MISSING:
            with self._lock, self._key_lock(namespace, key):
                value = self._read(namespace, key)  # another worker may have made it meanwhile
                if value is _MISSING:
                    self.misses += 1
                    value = compute()
                    self.put(namespace, key, value)
                else:
                    self.hits += 1
        else:
            self.hits += 1
        if memory:
            self._memory[(namespace, key)] = value
        return value

    def clear(self, namespace: str | None = None) -> int:
        """Delete cached files (of one namespace, or all); returns how many were removed."""
        base = self.root / namespace if namespace else self.root
        n = 0
        for p in base.rglob("*.pkl") if base.is_dir() else []:  # the key file stays
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
        self._memory.clear()
        return n


class _NullCache(Cache):
    def __init__(self) -> None:
        super().__init__(root=default_cache_dir(), enabled=False)


_current: Cache | None = None


def get_cache() -> Cache:
    """The cache of this process (configured by :func:`configure` or the environment)."""
    global _current
    if _current is None:
        _current = Cache() if cache_enabled_by_env() else _NullCache()
    return _current


def configure(root: str | Path | None = None, enabled: bool | None = None) -> Cache:
    """Set this process's cache (folder and on/off) and return it.

    Parameters
    ----------
    root : str or Path, optional
        Folder (default: :func:`default_cache_dir`).
    enabled : bool, optional
        Default: on unless ``$ACAKIT_CACHE`` says off.
    """
    global _current
    on = cache_enabled_by_env() if enabled is None else enabled
    want = Path(root).expanduser().resolve() if root is not None else default_cache_dir()
    if _current is None or _current.root != want or _current.enabled != on:
        _current = Cache(want, enabled=on)
    return _current
