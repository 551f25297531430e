"""The result store's file format and its checks: the schema, the ids that mark an acakit store,
the errors, the check of a row before it is written, and the one-line messages for a damaged
file. :mod:`acakit.engine.store` re-exports every public name."""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sqlite3
from pathlib import Path
from typing import Any, Literal

import numpy as np

#: ``PRAGMA application_id`` of an acakit store ("ACAK").
APPLICATION_ID = 0x4143414B
#: Schema version (``PRAGMA user_version``).
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    cell_id        TEXT PRIMARY KEY,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    variant        TEXT,
    spec           TEXT NOT NULL,
    result         TEXT,
    error          TEXT,
    traceback      TEXT,
    started_at     REAL,
    finished_at    REAL NOT NULL,
    seconds        REAL,
    attempts       INTEGER NOT NULL DEFAULT 1,
    worker         TEXT,
    acakit_version TEXT NOT NULL,
    node           TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

Status = Literal["ok", "failed", "all"]

log = logging.getLogger("acakit.engine.store")


class StoreError(ValueError):
    """The store cannot be used; the message is one line naming the file."""


class ForeignStoreError(StoreError):
    """The store belongs to another experiment (refused before any work; see ``--extend``)."""


#: Result fields that are fractions (success rates, accuracies, error and selection rates,
#: their interval ends): a stored value outside [0, 1] makes the row damaged.
FRACTION_FIELD = re.compile(r"^(success|success_all|erasure_success|accuracy|clean_accuracy|"
                            r"global_success|mean_success|cf_success(_\w+)?|"
                            r"(tpr|fpr|selection|error)(_(majority|minority))?)(_lo|_hi)?$")


def check_row(cell_id: str, row: Any) -> str | None:
    """What is wrong with a stored result row, or None: it must be a non-empty JSON object
    (naming its own cell where it names one), and every fraction field
    (:data:`FRACTION_FIELD`; also in its ``rows``) must be a number in [0, 1] or empty.

    Examples
    --------
    >>> check_row("c1", {"cell_id": "c1", "success": 0.5})
    >>> check_row("c1", {})
    'its result is empty (not a result row)'
    >>> check_row("c1", {"cell_id": "c2", "success": 0.5})
    "its result is another cell's"
    >>> check_row("c1", {"cell_id": "c1", "success": 7.5})
    'success = 7.5 is not in [0, 1]'
    """
    if not isinstance(row, dict):
        return f"its result is a {type(row).__name__}, not a result row"
    if not row:
        return "its result is empty (not a result row)"
    if "cell_id" in row and row["cell_id"] != cell_id:  # rows the engine writes name their cell
        return "its result is another cell's"
    subs = row.get("rows")
    if subs is not None and not (isinstance(subs, list) and all(isinstance(r, dict) for r in subs)):
        return "its rows are not a list of result rows"
    for part in [row, *(subs or [])]:
        for k, v in part.items():
            if not FRACTION_FIELD.match(k) or v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                return f"{k} = {v!r:.40} is not a number"
            if not (math.isnan(v) or 0.0 <= v <= 1.0):
                return f"{k} = {v!r} is not in [0, 1]"
    return None


#: Problems SQLite's ``quick_check`` reports at most when a store is opened.
_CHECK_LINES = 100


def _damage_line(where: str, report: list[str]) -> str:
    """One line for a store that SQLite's ``quick_check`` found damaged: its first problem and
    how many more; the whole report goes to the debug log (``acakit --verbose``)."""
    from acakit._safe import visible

    log.debug("store: SQLite's check of %s:\n%s", where,
              visible("\n".join(report), keep_newlines=True))
    # one row per problem, or (SQLite >= 3.43) one row of lines under "*** in database main ***"
    lines = [" ".join(ln.split()) for row in report for ln in row.splitlines()
             if ln.strip() and not ln.lstrip().startswith("***")] or ["(no detail)"]
    n = len(lines) - 1
    more = "" if not n else f", and {n}{'+' if len(lines) >= _CHECK_LINES else ''} more problem(s)"
    return (f"store: {where} is damaged (SQLite's check: {visible(lines[0])[:160]}{more}; "
            "acakit --verbose shows them all); it was left as it is: move it away or choose "
            "another --store")


def _db_errors(method: Any) -> Any:
    """Turn SQLite's errors on reading a damaged file into a one-line :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store: {str(self.path)!r} is damaged ({str(e).splitlines()[0]}); "
                             "it was left as it is: move it away or choose another --store") from None

    return wrapper


def _version() -> str:
    from acakit import __version__

    return __version__


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)


def _check_file(path: Path) -> None:
    """Raise :class:`StoreError` if ``path`` exists and is not an SQLite file (read-only check)."""
    if path.is_dir():
        raise StoreError(f"store: {str(path)!r} is a folder, not a store file")
    if not path.exists():
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise StoreError(f"store: cannot read {str(path)!r} ({e.strerror or e})") from None
    if head and head != _SQLITE_MAGIC:
        raise StoreError(f"store: {str(path)!r} is not an SQLite database (corrupt or another kind "
                         "of file); move it away or choose another --store")
