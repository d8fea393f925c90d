"""One connection per SQLite file and event loop, with group commit.

Every ``SqliteDatabase`` of a process that names the same file on the same event loop shares it: their
transactions then join one group commit instead of blocking each other on SQLite's file lock (a batch stays
open across a turn of the event loop, and a second connection's ``BEGIN IMMEDIATE`` would block the very
thread that has to commit it).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiki.errors import ConfigurationError
from aiki.store.sqlite.connection import SqliteConnection

#: at most this many transactions share one commit (bounds the latency a batch adds)
MAX_BATCH = 256
#: after this many batches in a row that nobody joined, a lone transaction commits at once (see ``Pace``)
ALONE_AFTER = 2
#: ... except every this-many-th, which still waits a turn to see whether others would join
PROBE_EVERY = 8


@dataclass(slots=True)
class Pace:
    """Whether a lone transaction waits a turn of the event loop for others to join its batch.

    Waiting costs a turn of the event loop per transaction, which is most of a checkpoint's Python time when
    one workflow runs alone. So the wait adapts to what it finds: after ``ALONE_AFTER`` batches in a row that
    nobody joined, transactions commit at once, except one in ``PROBE_EVERY``, which waits as before; the
    first batch that others join restores the wait for every transaction. Under load at most
    ``PROBE_EVERY - 1`` transactions commit alone before batching resumes. Only public asyncio is used.
    """

    alone: int = 0
    skipped: int = 0

    def wait_turn(self) -> bool:
        """Whether the next lone transaction should wait a turn (``False``: commit it at once)."""
        if self.alone < ALONE_AFTER or self.skipped >= PROBE_EVERY - 1:
            self.skipped = 0
            return True
        self.skipped += 1
        return False

    def committed(self, size: int) -> None:
        """A batch that waited its turn committed with ``size`` transactions."""
        self.alone = self.alone + 1 if size == 1 else 0


@dataclass(slots=True)
class Batch:
    """Transactions that share one COMMIT."""

    committed: asyncio.Future[None]
    size: int = 0


class SharedFile:
    """The one connection of this event loop to one SQLite file, with its lock and its open batch."""

    def __init__(self, raw: sqlite3.Connection, key: tuple[str, asyncio.AbstractEventLoop] | None) -> None:
        self._raw: sqlite3.Connection | None = raw
        self._lock = asyncio.Lock()
        self._batch: Batch | None = None
        self._pace = Pace()
        self.key = key
        self.users = 0

    def _connection(self) -> sqlite3.Connection:
        if self._raw is None:
            raise ConfigurationError("The SQLite database is not open (or was closed).")
        return self._raw

    async def close(self) -> None:
        if self._batch is not None:
            async with self._lock:
                if self._batch is not None:
                    self._commit(self._batch)
        if self._raw is not None:
            raw, self._raw = self._raw, None
            raw.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteConnection]:
        """A write transaction, committed together with the others that are ready at the same moment.

        Group commit: each transaction body runs inside a SAVEPOINT of one open batch. When its body is done,
        a transaction yields the event loop once, so that every writer that is ready to run joins the batch;
        the first to come back commits it (one fsync), and each ``async with`` returns only once that commit
        is durable. A body that raises rolls back to its savepoint alone. When nobody has joined the recent
        batches, a lone transaction commits without the wait (``Pace``).
        """
        raw = self._connection()
        async with self._lock:
            batch = self._batch
            if batch is None:
                raw.execute("BEGIN IMMEDIATE")
                batch = self._batch = Batch(asyncio.get_running_loop().create_future())
            batch.size += 1
            # The first body of a batch needs no savepoint: it runs before anyone can join its batch, so if
            # it fails, the whole (one-body) batch rolls back.
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
                    self._abort_alone(batch)
                raise
            if savepoint is not None:
                raw.execute(f"RELEASE {savepoint}")
            if batch.size >= MAX_BATCH or (batch.size == 1 and not self._pace.wait_turn()):
                self._commit(batch)
        if not batch.committed.done():
            try:
                # Let the writers that are ready now run their bodies into this batch.
                await asyncio.sleep(0)
            finally:
                self._pace.committed(batch.size)
                self._commit_soon(batch)
            await asyncio.shield(batch.committed)
        elif batch.committed.exception() is not None:
            raise batch.committed.exception()  # type: ignore[misc]

    def _abort_alone(self, batch: Batch) -> None:
        """Roll back a batch whose only body failed."""
        self._batch = None
        self._connection().execute("ROLLBACK")
        if not batch.committed.done():
            batch.committed.set_result(None)

    def _commit_soon(self, batch: Batch) -> None:
        """Commit ``batch`` now if no body is running, else as soon as the running one ends."""
        if batch.committed.done():
            return
        if not self._lock.locked():
            self._commit(batch)
        else:
            asyncio.get_running_loop().create_task(self._commit_when_free(batch))

    async def _commit_when_free(self, batch: Batch) -> None:
        async with self._lock:
            self._commit(batch)

    def _commit(self, batch: Batch) -> None:
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
    async def read(self) -> AsyncIterator[SqliteConnection]:
        raw = self._connection()
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


#: The shared connections, by (absolute file path, event loop). See ``SharedFile``.
OPEN_FILES: dict[tuple[str, asyncio.AbstractEventLoop], SharedFile] = {}
