"""The result store: one SQLite file (stdlib; WAL mode while written) with one row per finished cell.

Each row holds the cell's id (a hash of its full spec), its status (``ok`` or ``failed``), the
spec as JSON, the result row as JSON (identity, metrics and timings), the error and traceback of
a failed cell, when it ran, how long it took, where (``worker``: host and pid; ``node``: the
machine, e.g. the Ray node's address), and the acakit version. A row is written in
its own transaction as soon as the cell finishes, so a sweep killed at any point (even with
SIGKILL) loses at most the cells that were still running, and a rerun skips every finished cell.

A file that is not an SQLite database, or an SQLite database that is not an acakit store, is
refused with a one-line :class:`StoreError` before anything is written to it.

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "sweep.sqlite")
>>> with ResultStore(path) as store:
...     store.record("c1", {"seed": 0}, row={"success": 0.9, "seed": 0})
...     store.record("c2", {"seed": 1}, error="ValueError: boom", traceback="...")
...     store.finished()
{'c1': 'ok', 'c2': 'failed'}
>>> load(path)[["cell_id", "status", "success"]].to_string(index=False)
'cell_id status  success\\n     c1     ok      0.9\\n     c2 failed      NaN'
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from acakit.engine.store_lock import StoreLock
from acakit.engine.store_schema import (
    _CHECK_LINES,
    _SCHEMA,
    APPLICATION_ID,
    FRACTION_FIELD,
    SCHEMA_VERSION,
    ForeignStoreError,
    Status,
    StoreError,
    _check_file,
    _damage_line,
    _db_errors,
    _dumps,
    _version,
    check_row,
    log,
)

__all__ = ["APPLICATION_ID", "FRACTION_FIELD", "SCHEMA_VERSION", "ForeignStoreError",
           "ResultStore", "Status", "StoreError", "check_row", "expand_rows", "export", "load",
           "summary"]


class ResultStore:
    """An acakit result store (one SQLite file).

    Parameters
    ----------
    path : str or Path
        The file; created (with its folder) if absent.
    readonly : bool, default=False
        Open without creating or changing anything (for reading results).
    exclusive : bool, default=False
        Hold a lock on the store while it is open (what a sweep does): another process asking
        for the same store exclusively gets a one-line :class:`StoreError`.

    Raises
    ------
    StoreError
        If the file is corrupt, not an SQLite database, an SQLite database of another
        application, from a newer acakit, or if it cannot be created or written.
    """

    def __init__(self, path: str | Path, readonly: bool = False, exclusive: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self._lock: StoreLock | None = None
        self._wal = False
        _check_file(self.path)
        if readonly and not self.path.is_file():
            raise StoreError(f"store: {str(self.path)!r} does not exist")
        if not readonly:
            if self.path.is_symlink():
                raise StoreError(f"store: {str(self.path)!r} is a symbolic link; acakit does not "
                                 "write through links (remove it or choose another --store)")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"store: cannot create folder {str(self.path.parent)!r} "
                                 f"({e.strerror or e})") from None
            if not self.path.exists() and not os.access(self.path.parent, os.W_OK):
                raise StoreError(f"store: cannot write in {str(self.path.parent)!r} (permission denied)")
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise StoreError(f"store: {str(self.path)!r} is not writable (permission denied)")
            if exclusive:
                self._lock = StoreLock(self.path)
                self._lock.acquire()
        try:
            uri = f"{self.path.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
            self._conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None,
                                         check_same_thread=False)
            self._open()
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            if getattr(e, "sqlite_errorname", "").startswith(("SQLITE_FULL", "SQLITE_IOERR")):
                # the disk, not the file: full (SQLITE_FULL) or a write refused (EFBIG, EIO)
                raise StoreError(f"store: cannot {'read' if readonly else 'write'} "
                                 f"{str(self.path)!r} ({why})") from None
            raise StoreError(f"store: {str(self.path)!r} is not a usable SQLite database "
                             f"({why})") from None
        except StoreError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            if getattr(self, "_wal", False):
                self._checkpoint(conn)
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover
                pass
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release(remove=True)  # a finished run leaves its store alone in the folder

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Fold the write-ahead log into the store and leave the file in rollback mode, so no
        ``-wal`` or ``-shm`` file stays beside it (and a reader opening it later creates none).
        Skipped, quietly, while another connection still uses the store."""
        try:
            conn.execute("PRAGMA busy_timeout=0")  # another reader or writer: leave it as it is
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as e:
            log.debug("store: %s left in WAL mode (%s)", self.path, e)
        self._wal = False

    def _writing(self) -> None:
        """Before the first write of this connection: WAL mode (readers never block the
        writer). A store opened only to read is never switched, so it stays byte for byte."""
        if not self._wal:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._wal = True

    def _open(self) -> None:
        c = self._conn
        app_id = c.execute("PRAGMA application_id").fetchone()[0]
        user_version = c.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        where = repr(str(self.path))
        if tables:  # a quick integrity check before anything is written to an existing file
            report = [str(r[0]) for r in c.execute(f"PRAGMA quick_check({_CHECK_LINES})").fetchall()]
            if report != ["ok"]:
                raise StoreError(_damage_line(where, report))
        if app_id != APPLICATION_ID:
            if tables or app_id != 0:
                raise StoreError(f"store: {where} is an SQLite database of another application "
                                 f"(tables: {', '.join(sorted(tables)) or 'none'}); choose another --store")
            if self.readonly:
                raise StoreError(f"store: {where} is empty, not an acakit store")
            # a new (or empty) file: make it a store
            self._writing()
            c.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute("INSERT OR REPLACE INTO meta VALUES ('created_by', ?)", (f"acakit {_version()}",))
                c.execute("INSERT OR REPLACE INTO meta VALUES ('created_at', ?)", (str(time.time()),))
                c.execute(f"PRAGMA application_id={APPLICATION_ID}")
                c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        elif user_version > SCHEMA_VERSION:
            raise StoreError(f"store: {where} was written by a newer acakit (schema {user_version}, "
                             f"this one reads {SCHEMA_VERSION}); upgrade acakit")
        elif "cells" not in tables:
            raise StoreError(f"store: {where} is damaged (no cells table)")
        elif not self.readonly:
            self._add_node_column()
        if not self.readonly:
            c.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: safe against process crashes
        c.execute("PRAGMA busy_timeout=30000")

    def _add_node_column(self) -> None:
        """Give a store written before the ``node`` column existed that column (NULL in its old
        rows). The change is additive, so the schema version stays: an older acakit still reads
        and writes the store (it names the columns it inserts)."""
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(cells)")}
        if "node" not in cols:
            self._writing()
            self._conn.execute("ALTER TABLE cells ADD COLUMN node TEXT")

    # ------------------------------------------------------------------ context management
    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the file stays)."""
        self._close_quietly()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # ------------------------------------------------------------------ writing
    def record(
        self,
        cell_id: str,
        spec: Mapping[str, Any],
        row: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
        traceback: str | None = None,
        variant: str | None = None,
        started_at: float | None = None,
        seconds: float | None = None,
        worker: str | None = None,
        node: str | None = None,
    ) -> None:
        """Write one finished cell in its own transaction (replacing an earlier failed attempt).

        Parameters
        ----------
        cell_id : str
            The cell's stable id.
        spec : mapping
            The cell's full, normalised spec.
        row : mapping, optional
            The result row of a cell that succeeded.
        error, traceback : str, optional
            What a cell that failed raised (``row`` is then None).
        variant : str, optional
            The label of the grid values that made the cell.
        started_at : float, optional
            Start time (epoch seconds).
        seconds : float, optional
            Wall time of the cell.
        worker : str, optional
            Where it ran (``host:pid``); default: this process.
        node : str, optional
            The machine it ran on (a Ray cell: ``host/node-ip``); default: this host's name.
        """
        if self.readonly:
            raise StoreError(f"store: {str(self.path)!r} was opened read-only")
        status = "failed" if error is not None else "ok"
        if row is None and error is None:
            raise ValueError("record: give row (success) or error (failure)")
        now = time.time()
        self._bad: dict[str, str] | None = None  # worked out again on the next read
        worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        node = node or socket.gethostname()
        try:
            c = self._conn
            self._writing()
            c.execute("BEGIN IMMEDIATE")
            try:
                prev = c.execute("SELECT attempts FROM cells WHERE cell_id=?", (cell_id,)).fetchone()
                attempts = (prev[0] + 1) if prev else 1
                self._write_row(
                    "INSERT OR REPLACE INTO cells (cell_id, status, variant, spec, result, error, "
                    "traceback, started_at, finished_at, seconds, attempts, worker, acakit_version, "
                    "node) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (cell_id, status, variant, _dumps(spec), None if row is None else _dumps(row),
                     error, traceback, started_at, now, seconds, attempts, worker, _version(), node),
                )
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except (sqlite3.OperationalError, OSError) as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            try:
                kept = f"; the {len(self)} cell(s) finished before are kept in it"
            except sqlite3.Error:  # pragma: no cover
                kept = ""
            raise StoreError(f"store: cannot write {str(self.path)!r} ({why}){kept}") from None

    def _write_row(self, sql: str, values: tuple[Any, ...]) -> None:
        """The one write of :meth:`record` (inside its transaction)."""
        self._conn.execute(sql, values)

    def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the store's meta table (e.g. the config of the run)."""
        if self.readonly:
            raise StoreError(f"store: {str(self.path)!r} was opened read-only")
        try:
            self._writing()
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        except sqlite3.OperationalError as e:
            raise StoreError(f"store: cannot write {str(self.path)!r} ({str(e).splitlines()[0]})") from None

    # ------------------------------------------------------------------ reading
    @_db_errors
    def get_meta(self, key: str) -> str | None:
        """The value kept under ``key`` by :meth:`set_meta`, or None."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_db_errors
    def finished(self, cell_ids: Iterable[str] | None = None) -> dict[str, str]:
        """``{cell_id: status}`` of the finished cells (of ``cell_ids`` if given).

        A damaged row (see :meth:`damaged`) does not count as finished: a rerun computes the
        cell again and overwrites it, and a warning says how many rows that concerned.
        """
        rows = self._conn.execute("SELECT cell_id, status FROM cells").fetchall()
        out = dict(rows)
        if cell_ids is not None:
            wanted = set(cell_ids)
            out = {k: v for k, v in out.items() if k in wanted}
        bad = self.damaged(out)
        if bad:
            log.warning("store: %d damaged row(s) in %s (e.g. %s: %s) will be computed again",
                        len(bad), self.path, next(iter(bad)), next(iter(bad.values())))
            out = {k: v for k, v in out.items() if k not in bad}
        return out

    @_db_errors
    def damaged(self, cell_ids: Iterable[str] | None = None) -> dict[str, str]:
        """``{cell_id: what is wrong}`` of rows that cannot be used: a spec or result that is not
        valid JSON, or a row marked ok without a result."""
        wanted = None if cell_ids is None else set(cell_ids)
        out = {}
        for cid, status, spec, result in self._conn.execute(
                "SELECT cell_id, status, spec, result FROM cells"):
            if wanted is not None and cid not in wanted:
                continue
            if status == "ok" and result is None:
                out[cid] = "marked ok without a result"
                continue
            for name, text in (("spec", spec), ("result", result)):
                if text is None:
                    continue
                try:
                    value = json.loads(text)
                except (TypeError, ValueError):
                    out[cid] = f"its {name} is not valid JSON"
                    break
                problem = (check_row(cid, value) if name == "result" and status == "ok"
                           else None if isinstance(value, dict) else f"its {name} is not an object")
                if problem:
                    out[cid] = problem
                    break
        return out

    def rows(self, cell_ids: Iterable[str] | None = None, status: Status = "ok") -> list[dict[str, Any]]:
        """Result rows (dicts as :func:`acakit.engine.single.run_cell` returned them)."""
        recs = self.records(cell_ids, status)
        return [r["result"] for r in recs if r["result"] is not None]

    @_db_errors
    def records(self, cell_ids: Iterable[str] | None = None, status: Status = "all") -> list[dict[str, Any]]:
        """Full records (every column; ``spec`` and ``result`` parsed from JSON)."""
        sql = "SELECT * FROM cells"
        args: tuple[Any, ...] = ()
        if status != "all":
            sql += " WHERE status=?"
            args = (status,)
        cur = self._conn.execute(sql + " ORDER BY finished_at, cell_id", args)
        names = [d[0] for d in cur.description]
        wanted = None if cell_ids is None else set(cell_ids)
        bad = self._damaged_once()
        out = []
        for values in cur.fetchall():
            rec = dict(zip(names, values, strict=True))
            if wanted is not None and rec["cell_id"] not in wanted:
                continue
            if rec["cell_id"] in bad:  # a damaged row: left out, counted (see damaged())
                continue
            rec["spec"] = json.loads(rec["spec"])
            rec["result"] = None if rec["result"] is None else json.loads(rec["result"])
            out.append(rec)
        return out

    def _damaged_once(self) -> dict[str, str]:
        """:meth:`damaged` of every row, worked out once per open store; a reader is told once
        how many rows it leaves out (``acakit run`` computes them again)."""
        if getattr(self, "_bad", None) is None:
            self._bad = self.damaged()
            if self._bad and self.readonly:
                cid, why = next(iter(self._bad.items()))
                log.warning("store: %d damaged row(s) in %s left out (e.g. %s: %s); acakit run "
                            "computes them again", len(self._bad), self.path, cid, why)
        return self._bad

    @_db_errors
    def counts(self) -> dict[str, int]:
        """``{"ok": n, "failed": m}`` of the usable rows (a damaged row is in neither; see
        :meth:`damaged`)."""
        out = {"ok": 0, "failed": 0}
        bad = self._damaged_once()
        for cid, status in self._conn.execute("SELECT cell_id, status FROM cells"):
            if cid not in bad and status in out:
                out[status] += 1
        return out

    @_db_errors
    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    def frame(self, status: Status = "all") -> pd.DataFrame:
        """All cells as a DataFrame (see :func:`load`)."""
        rows = []
        for rec in self.records(status=status):
            spec = rec["spec"]
            coll = spec.get("collective", {}) if isinstance(spec, dict) else {}
            base: dict[str, Any] = {
                "cell_id": rec["cell_id"], "status": rec["status"], "variant": rec["variant"],
                "dataset": (spec.get("dataset") or {}).get("name"),
                "firm": (spec.get("firm") or {}).get("name"),
                "strategy": coll.get("strategy"), "target": coll.get("target"),
                "alpha_requested": coll.get("alpha"), "seed": spec.get("seed"),
            }
            tail = {"error": rec["error"], "traceback": rec["traceback"],
                    "seconds": rec["seconds"], "started_at": rec["started_at"],
                    "finished_at": rec["finished_at"], "attempts": rec["attempts"],
                    "worker": rec["worker"], "node": rec.get("node"),
                    "acakit_version": rec["acakit_version"],
                    "spec": _dumps(spec)}
            for sub in expand_rows(rec["result"] or {}):
                rows.append(base | {k: v for k, v in sub.items() if k != "variant"} | tail)
        df = pd.DataFrame(rows)
        if df.empty:
            df = pd.DataFrame(columns=["cell_id", "status", "variant", "dataset", "firm", "strategy",
                                       "target", "alpha_requested", "seed", "error", "seconds"])
        return df


def expand_rows(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lines of one cell's result row: itself, or one per element of its ``rows`` list.

    A cell with several collectives (or several settings) stores its per-collective results as
    ``row["rows"]``; each becomes one line carrying the cell's other fields too.

    Examples
    --------
    >>> expand_rows({"seed": 0, "rows": [{"name": "a"}, {"name": "b"}]})
    [{'seed': 0, 'name': 'a'}, {'seed': 0, 'name': 'b'}]
    >>> expand_rows({"seed": 0, "success": 0.5})
    [{'seed': 0, 'success': 0.5}]
    """
    subs = row.get("rows")
    if not isinstance(subs, list):
        return [dict(row)]
    top = {k: v for k, v in row.items() if k != "rows"}
    return [top | dict(sub) for sub in subs]


def load(path: str | Path, status: Status = "all") -> pd.DataFrame:
    """Load a store as a DataFrame: one row per cell (per collective of a multi-collective cell).

    Parameters
    ----------
    path : str or Path
        The store file.
    status : {"all", "ok", "failed"}, default="all"
        Which cells.

    Returns
    -------
    pandas.DataFrame
        ``cell_id``, ``status``, ``variant``, the spec's main fields (``dataset``, ``firm``,
        ``strategy``, ``target``, ``alpha_requested``, ``seed``), every field of the result row
        (metrics, ``n_members``, ``fit_seconds``, ...; NaN for failed cells), ``error``,
        ``traceback``, timings, ``worker``, ``node`` (None in rows stored before it was recorded),
        ``acakit_version`` and the ``spec`` as JSON.

    Raises
    ------
    StoreError
        If the file is missing, corrupt or not an acakit store.
    """
    with ResultStore(path, readonly=True) as store:
        return store.frame(status)


def export(path: str | Path, dest: str | Path, status: Status = "all") -> Path:
    """Export a store to CSV or Parquet (chosen by ``dest``'s suffix).

    Parameters
    ----------
    path : str or Path
        The store file.
    dest : str or Path
        ``*.csv`` or ``*.parquet`` (Parquet needs ``pyarrow``).
    status : {"all", "ok", "failed"}, default="all"

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    StoreError
        Unknown suffix, missing pyarrow, or an unreadable store.
    """
    dest = Path(dest)
    suffix = dest.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise StoreError(f"export: {dest.name!r} must end in .csv or .parquet")
    df = load(path, status)
    if suffix == ".csv":
        return _export_write(dest, lambda t: df.to_csv(t, index=False))
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise StoreError("export: Parquet needs pyarrow (pip install pyarrow)") from None
    # mixed-type object columns (e.g. target "1" vs 1) are written as text
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: v if v is None or (isinstance(v, float) and math.isnan(v))
                                  else str(v))
    return _export_write(dest, lambda t: df.to_parquet(t, index=False))


def _export_write(dest: Path, write: Any) -> Path:
    """Write an export through a temporary file (a symlink at ``dest`` is replaced, not
    followed); a full disk or a refused write is one :class:`StoreError` naming ``dest``, and an
    existing ``dest`` keeps what it held."""
    from acakit._safe import write_atomic

    try:
        return write_atomic(dest, write)
    except OSError as e:
        raise StoreError(f"--export: cannot write {str(dest)!r} ({e.strerror or e})") from None


def summary(path: str | Path) -> pd.DataFrame:
    """Per-variant counts and mean metrics of a store (what ``acakit results`` prints).

    Returns
    -------
    pandas.DataFrame
        One row per (variant, dataset, firm): ``cells``, ``ok``, ``failed``, mean ``success`` (or
        the main metric present), mean ``accuracy`` and the total ``seconds``.
    """
    df = load(path)
    if df.empty:
        return pd.DataFrame(columns=["variant", "dataset", "firm", "cells", "ok", "failed"])
    df["variant"] = df["variant"].fillna("base")
    keys = ["variant", "dataset", "firm"]
    g = df.groupby(keys, dropna=False, sort=True)
    # a multi-collective cell has one line per collective: count cells, not lines
    out = g["cell_id"].nunique().rename("cells").to_frame()
    out["ok"] = df[df["status"] == "ok"].groupby(keys, dropna=False)["cell_id"].nunique()
    out["ok"] = out["ok"].fillna(0).astype(int)
    out["failed"] = out["cells"] - out["ok"]
    for metric in ("success", "erasure_success", "accuracy"):
        if metric in df:
            out[metric] = g[metric].mean()
    out["seconds"] = g["seconds"].sum()
    return out.reset_index()
