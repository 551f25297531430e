"""Two small rules every front-end and writer of acakit follows (see ``SECURITY.md``).

- :func:`visible`: a string that came from data or a config (a column or class name, a store's
  ``variant``, a config's ``name``, an error message quoting them) is printed with its control
  characters made visible (``\\x1b`` instead of an escape sequence the terminal would obey).
  The consoles of the command line, the error formatter and the warning lines all use it.
- :func:`write_atomic`: an output file is written to a temporary file in its own folder and
  renamed into place. A symbolic link at the destination is replaced, never followed, so a link
  shipped in an output folder (``summary.csv -> ~/.bashrc``) cannot make acakit write elsewhere.

This module sits below every layer (it imports nothing from acakit).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

# C0 controls, DEL, C1 controls, and the Unicode bidirectional overrides and isolates (which
# reorder what a terminal shows without being visible themselves).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object, keep_newlines: bool = False) -> str:
    """``str(text)`` with every control character shown as an escape (``\\x1b``, ``\\n``, ...).

    Parameters
    ----------
    text : object
        Anything; converted with ``str``.
    keep_newlines : bool, default=False
        Keep line breaks (and tabs) as they are: for whole blocks of console output, where a
        line break is layout, not data.

    Returns
    -------
    str
        Printable text: no escape sequence, bell, carriage return or bidirectional override
        reaches the terminal.

    Examples
    --------
    >>> visible("rating\\x1b[2J")
    'rating\\\\x1b[2J'
    >>> visible("a\\nb")
    'a\\\\nb'
    >>> visible("a\\nb", keep_newlines=True)
    'a\\nb'
    """
    s = str(text)
    if keep_newlines:
        return _CONTROL.sub(lambda m: m.group(0) if m.group(0) in "\n\t" else _escape(m), s)
    return _CONTROL.sub(_escape, s)


class OutputPathError(OSError):
    """An output file that cannot be written where it was asked (a folder in the way)."""


@contextlib.contextmanager
def _replacing(dest: Path, suffix: str) -> Iterator[Path]:
    """A temporary path beside ``dest`` (ending in ``suffix``), renamed onto ``dest`` when the
    block succeeds and removed when it fails; the one mechanism of both atomic writers."""
    if dest.is_dir() and not dest.is_symlink():
        raise OutputPathError(f"{str(dest)!r} is a folder, not a file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)  # replaces a symlink itself, never its target
    except OSError as e:  # a full disk, say: name the destination, not the temporary file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OSError(e.errno, e.strerror or str(e), str(dest)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it onto ``path``.

    A symbolic link at ``path`` is replaced by the new file (the file it pointed to is left
    untouched); on an error (a full disk, say) the temporary file is removed and ``path`` keeps
    what it held before.

    Parameters
    ----------
    path : str or Path
        The destination.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    **kwargs
        Passed to :func:`open` (``encoding``, ``newline``).

    Yields
    ------
    file object
        The temporary file, to write into.
    """
    with _replacing(Path(path), ".tmp") as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it onto ``path``.

    For writers that take a file name (``DataFrame.to_csv``, ``Figure.savefig``): the
    temporary name keeps ``path``'s suffix, so a format chosen by suffix stays the same. A
    symbolic link at ``path`` is replaced, never followed.

    Parameters
    ----------
    path : str or Path
        The destination.
    write : callable
        ``write(tmp_path)`` writes the file.

    Returns
    -------
    Path
        ``path``.
    """
    dest = Path(path)
    with _replacing(dest, dest.suffix or ".tmp") as tmp:
        write(tmp)
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
