"""The lock a sweep holds on its store: ``<store>.lock``, held with ``flock`` while the store is
open, noting who holds it, and removed by its holder when the store closes."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Any

from acakit.engine.store_schema import StoreError, log

#: Times a lock is taken again when the file it locked was removed meanwhile by its last holder.
_RETRIES = 5


class StoreLock:
    """``<store>.lock`` for one store: :meth:`acquire` holds it, :meth:`release` lets it go.

    A second sweep writing the same store would compute every cell twice, so it is refused in
    one line instead. The holder removes the file when it lets go (a finished run leaves only
    its store); a process that locked the file just as it was removed finds it gone (another
    inode at the path, or none) and locks the new one instead.

    Parameters
    ----------
    store : Path
        The store the lock is for.
    """

    def __init__(self, store: Path) -> None:
        self.path = store.with_name(store.name + ".lock")
        self.store = store
        self._fh: Any = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fh is not None

    def acquire(self) -> None:
        """Hold the lock (a no-op where ``fcntl`` is missing) and write who holds it.

        Raises
        ------
        StoreError
            The lock file is a symbolic link, cannot be created, or another run holds it.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover  (not POSIX: no lock)
            return
        for _ in range(_RETRIES):
            fh = self._open()
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                who = fh.read().strip() or "?"
                fh.close()
                raise StoreError(f"store: {str(self.store)!r} is in use by another acakit run "
                                 f"({who}); wait for it to finish or choose another --store") from None
            if self._still_there(fh):
                break
            fh.close()  # its holder removed it as we locked it: lock the file now there
        else:  # pragma: no cover  (a lock file removed under us again and again)
            raise StoreError(f"store: {str(self.path)!r} keeps disappearing; choose another --store")
        self._fh = fh
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
            fh.flush()
        except OSError as e:  # a full disk: the lock is held all the same, the note is optional
            log.warning("store: cannot write %s (%s)", self.path, e.strerror or e)

    def _open(self) -> Any:
        try:  # never through a link planted in its place (O_NOFOLLOW: ELOOP on a symlink)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            return os.fdopen(fd, "r+")  # held until release()
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StoreError(f"store: {str(self.path)!r} is a symbolic link; acakit does not "
                                 "follow it (remove it, or choose another --store)") from None
            raise StoreError(f"store: cannot create {str(self.path)!r} ({e.strerror or e})") from None

    def _still_there(self, fh: Any) -> bool:
        """Whether the locked file is still the one at the lock's path."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(fh.fileno())
        return (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)

    def release(self, remove: bool = True) -> None:
        """Let the lock go; with ``remove``, delete the lock file first (while still held, so
        no other run is holding it then)."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        if remove:
            try:
                if self._still_there(fh):
                    os.unlink(self.path)
            except OSError as e:  # a read-only folder now, say: the file stays, harmlessly
                log.debug("store: cannot remove %s (%s)", self.path, e.strerror or e)
        fh.close()  # releases the lock
