"""SQLite backend: one file in WAL mode, one connection per process, transactions serialised in-process.

Statements run on the event loop's thread: each is tens of microseconds, and a thread hop would cost more
than the statement. Other processes on the same file are serialised by ``BEGIN IMMEDIATE`` and
``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiki.errors import ConfigurationError
from aiki.store.database import Connection, Dialect, Row
from aiki.store.migrations import migrate

BUSY_TIMEOUT_MS = 10_000
#: at most this many transactions share one commit (bounds the latency a batch adds)
MAX_BATCH = 256


@dataclass(slots=True)
class _Batch:
    """Transactions that share one COMMIT."""

    committed: asyncio.Future[None]
    size: int = 0
    scheduled: bool = False


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite://`` URL (``sqlite:///rel.db``, ``sqlite:////abs.db``, ``:memory:``)."""
    rest = url.split("://", 1)[1]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(
            f"SQLite URL {url!r} has no file path: use 'sqlite:///relative.db' or 'sqlite:////abs/path.db'."
        )
    return rest[1:]


def _nothing_else_ready() -> bool:
    """Whether no other callback is ready to run: then no other transaction could join a batch now."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return ready is not None and len(ready) == 0


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteConnection:
    """The process's one connection, inside one transaction."""

    dialect: Dialect = "sqlite"

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._raw.execute(sql, params).rowcount

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._raw.execute(sql, params).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = self._raw.execute(sql, params).fetchall()
        return rows


class _SqliteFile:
    """The one connection of this event loop to one SQLite file, with its lock and its open batch.

    Every ``SqliteDatabase`` of a process that names the same file on the same event loop shares it: their
    transactions then join one group commit instead of blocking each other on SQLite's file lock (a batch
    stays open across a turn of the event loop, and a second connection's ``BEGIN IMMEDIATE`` would block
    the very thread that has to commit it).
    """

    def __init__(self, raw: sqlite3.Connection, key: tuple[str, asyncio.AbstractEventLoop] | None) -> None:
        self._raw: sqlite3.Connection | None = raw
        self._lock: asyncio.Lock | None = asyncio.Lock()
        self._batch: _Batch | None = None
        self.key = key
        self.users = 0

    def _connection(self) -> sqlite3.Connection:
        if self._raw is None:
            raise ConfigurationError("The SQLite database is not open (or was closed).")
        return self._raw

    async def close(self) -> None:
        if self._batch is not None and self._lock is not None:
            async with self._lock:
                self._commit(self._batch)
        if self._raw is not None:
            raw, self._raw = self._raw, None
            raw.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A write transaction, committed together with the others that are ready at the same moment.

        Group commit: each transaction body runs inside a SAVEPOINT of one open batch; the batch commits
        (one fsync) on the next turn of the event loop, and every body's ``async with`` returns only once
        that commit is durable. A body that raises rolls back to its savepoint alone.
        """
        raw = self._connection()
        assert self._lock is not None
        async with self._lock:
            batch = self._batch
            if batch is None:
                raw.execute("BEGIN IMMEDIATE")
                batch = self._batch = _Batch(asyncio.get_running_loop().create_future())
            batch.size += 1
            # The first body of a batch needs no savepoint: if it fails, the whole (one-body) batch rolls back.
            savepoint = f"aiki_{batch.size}" if batch.size > 1 else None
            if savepoint is not None:
                raw.execute(f"SAVEPOINT {savepoint}")
            try:
                yield SqliteConnection(raw)
            except BaseException:
                if savepoint is not None:
                    raw.execute(f"ROLLBACK TO {savepoint}")
                    raw.execute(f"RELEASE {savepoint}")
                else:
                    # The first body runs before anyone can join its batch: it is alone, roll it all back.
                    self._abort_if_alone(batch)
                raise
            if savepoint is not None:
                raw.execute(f"RELEASE {savepoint}")
            if batch.size >= MAX_BATCH or (batch.size == 1 and _nothing_else_ready()):
                self._commit(batch)
            elif not batch.scheduled:
                batch.scheduled = True
                asyncio.get_running_loop().call_soon(self._schedule_commit, batch)
        if not batch.committed.done():
            await asyncio.shield(batch.committed)
        elif batch.committed.exception() is not None:
            raise batch.committed.exception()  # type: ignore[misc]

    def _abort_if_alone(self, batch: _Batch) -> None:
        """Roll back a batch whose only body failed."""
        self._batch = None
        self._connection().execute("ROLLBACK")
        if not batch.committed.done():
            batch.committed.set_result(None)

    def _schedule_commit(self, batch: _Batch) -> None:
        # Runs after the bodies that were ready alongside the first one have joined the batch. Bodies never
        # suspend mid-way (SQLite calls are synchronous), so the lock is normally free here.
        assert self._lock is not None
        if not self._lock.locked():
            self._commit(batch)
        else:
            asyncio.get_running_loop().create_task(self._commit_when_free(batch))

    async def _commit_when_free(self, batch: _Batch) -> None:
        assert self._lock is not None
        async with self._lock:
            self._commit(batch)

    def _commit(self, batch: _Batch) -> None:
        if self._batch is not batch:
            return
        self._batch = None
        try:
            self._connection().execute("COMMIT")
        except BaseException as error:
            with contextlib.suppress(sqlite3.Error):
                self._connection().execute("ROLLBACK")
            if not batch.committed.done():
                batch.committed.set_exception(error)
                batch.committed.exception()  # every waiter re-raises it; mark it retrieved
            return
        if not batch.committed.done():
            batch.committed.set_result(None)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        raw = self._connection()
        assert self._lock is not None
        async with self._lock:
            if self._batch is not None:
                # A batch is open on this connection: read inside it. Only this process can see its
                # writes before they commit, and it commits within this turn of the event loop.
                yield SqliteConnection(raw)
                return
            raw.execute("BEGIN")
            try:
                yield SqliteConnection(raw)
            finally:
                raw.execute("COMMIT")


#: The shared connections, by (absolute file path, event loop). See ``_SqliteFile``.
_OPEN_FILES: dict[tuple[str, asyncio.AbstractEventLoop], _SqliteFile] = {}


class SqliteDatabase:
    """An aiki database in one SQLite file."""

    dialect: Dialect = "sqlite"
    skip_locked = ""

    def __init__(self, url: str, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(
                f"synchronous={synchronous!r} is not a SQLite synchronous level: use FULL or NORMAL."
            )
        self.url = url
        self.path = sqlite_path(url)
        #: the file, resolved against the working directory when the database object is made
        self.real_path = os.path.realpath(self.path) if self.path != ":memory:" else self.path
        self.synchronous = synchronous.upper()
        self._file: _SqliteFile | None = None
        self._open_lock: asyncio.Lock | None = None

    async def open(self, *, migrate: bool = True) -> None:
        if self._file is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._file is not None:
                return
            key = None
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                key = (self.real_path, asyncio.get_running_loop())
                shared = _OPEN_FILES.get(key)
                if shared is not None:
                    shared.users += 1
                    self._file = shared
                    return
            raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            raw.row_factory = _dict_row
            raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute(f"PRAGMA synchronous = {self.synchronous}")
            if migrate:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    await _migrate(SqliteConnection(raw))
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raw.close()
                    raise
            opened = _SqliteFile(raw, key)
            opened.users = 1
            if key is not None:
                _OPEN_FILES[key] = opened
            self._file = opened

    async def close(self) -> None:
        opened, self._file = self._file, None
        if opened is None:
            return
        opened.users -= 1
        if opened.users > 0:
            return
        if opened.key is not None and _OPEN_FILES.get(opened.key) is opened:
            del _OPEN_FILES[opened.key]
        await opened.close()

    def _opened(self) -> _SqliteFile:
        if self._file is None:
            raise ConfigurationError(f"The database {self.url} is not open (or was closed).")
        return self._file

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A write transaction (see ``_SqliteFile.transaction``: group commit)."""
        return self._opened().transaction()

    def read(self) -> AbstractAsyncContextManager[Connection]:
        """A read-only snapshot."""
        return self._opened().read()

    def statement(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction of exactly one statement (here simply a transaction)."""
        return self._opened().transaction()

    async def listen(self, channel: str, callback: Callable[[str], Awaitable[None] | None]) -> None:
        """SQLite has no cross-process notifications: other processes are found by polling."""

    async def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """No-op: see ``listen``."""


async def _migrate(connection: SqliteConnection) -> None:
    await migrate(connection, int(time.time() * 1000))
