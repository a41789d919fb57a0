"""The SQLite file under the disk outbox. Synchronous: only ever called from the outbox thread.

One table of readings (deleted when the broker has them) and one of the last ``seq`` per topic,
written in the same transaction, so after a restart seq continues where the committed readings
end. WAL journal with ``synchronous = FULL``: every commit is synced, so it survives a process
crash and a power cut; commits are batched, so that is a few syncs a second (see README,
"Delivery guarantees").
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import OutboxLocked

__all__ = ["Loaded", "Row", "Store", "is_corruption", "move_aside"]

log = logging.getLogger("gateway.outbox")

Row = tuple[int, str, str, bytes, float]  # id, device, topic, payload, ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS seqs (topic TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Loaded:
    rows: list[Row] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)
    moved_aside: Path | None = None
    unclean: bool = False  # the last run did not close the file (SIGKILL, crash, power cut)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock: int | None = None

    def open(self) -> Loaded:
        """Open (or create) the file and read it; a corrupt one is moved aside first."""
        self._take_lock()
        moved = None
        try:
            loaded = self._open_and_load()
        except sqlite3.DatabaseError as exc:
            self.close(clean=False)
            if not is_corruption(exc):
                raise
            moved = move_aside(self.path)
            log.error(  # noqa: TRY400 - one loud line, no traceback
                "outbox %s is unreadable (%s): moved aside to %s; starting a fresh one. "
                "The readings in it were NOT delivered.", self.path, exc, moved)
            loaded = self._open_and_load()
        loaded.moved_aside = moved
        return loaded

    def _take_lock(self) -> None:
        """``<path>.lock``, held while open: one daemon per outbox."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutboxLocked(f"outbox {self.path} is in use by another process") from None
        self._lock = fd

    def _open_and_load(self) -> Loaded:
        conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn = conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
        conn.executescript(SCHEMA)
        rows: list[Row] = conn.execute(
            "SELECT id, device, topic, payload, ts FROM readings ORDER BY id").fetchall()
        seqs = dict(conn.execute("SELECT topic, seq FROM seqs").fetchall())
        clean = conn.execute("SELECT value FROM meta WHERE key = 'clean'").fetchone()
        with contextlib.suppress(sqlite3.OperationalError):  # a full disk: not worth failing
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '0')")
        return Loaded(rows, seqs, unclean=clean is not None and clean[0] == "0")

    def write(self, rows: list[Row], deletes: list[int], seqs: list[tuple[str, int]]) -> None:
        """One transaction; on any error nothing of it is written (and it raises)."""
        conn = self._connection()
        try:
            conn.execute("BEGIN")
            if rows:
                conn.executemany("INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?)", rows)
            if deletes:
                conn.executemany("DELETE FROM readings WHERE id = ?", [(i,) for i in deletes])
            if seqs:
                conn.executemany("INSERT OR REPLACE INTO seqs VALUES (?, ?)", seqs)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def checkpoint(self) -> None:
        self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.OperationalError("outbox is not open")
        return self._conn

    def close(self, *, clean: bool = True) -> None:
        if self._conn is not None:
            if clean:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('clean', '1')")
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if clean and self._lock is not None:
            os.close(self._lock)
            self._lock = None


# Errors that say nothing about the file's content: do not move a healthy outbox aside for them.
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR",
              "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_NOMEM", "SQLITE_AUTH")


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Not a database, corrupt, failed ``quick_check`` or a foreign schema (``SQLITE_ERROR``)."""
    name = getattr(exc, "sqlite_errorname", None)
    return name is None or not name.startswith(_TRANSIENT)


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its -wal/-shm files) to ``<name>.corrupt-<UTC time>``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{target}{suffix}"))
    return target
