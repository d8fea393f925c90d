"""PostgreSQL backend: psycopg 3 with an async connection pool, row locks for claims and timers, and
``LISTEN/NOTIFY`` so that other processes learn of new work and deadlines without polling.

Write transactions run at READ COMMITTED; the store's SQL takes the row locks that matter
(``FOR UPDATE [SKIP LOCKED]``, ``FOR SHARE``) and compare-and-sets every run update on its revision.
Reads and one-statement writes run in autocommit: one round trip each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from aiki.errors import ConfigurationError, ServerBusyError
from aiki.store.connection import Connection
from aiki.store.migrations import check_schema_current, migrate, migration_files
from aiki.store.postgres.connection import PostgresConnection, RawConnection
from aiki.store.postgres.notifications import Callback, Listener, NotificationSender

logger = logging.getLogger("aiki.store.postgres")

#: ``pg_advisory_xact_lock`` key that serialises migrations of concurrent servers ("aiki" in ASCII).
MIGRATION_LOCK_KEY = 0x61696B69

#: errors after which a transaction is worth running again from the start
TRANSIENT_ERRORS = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
)


async def _configure(raw: RawConnection) -> None:
    """Settings of every pooled connection.

    Every statement of aiki is written for an index; a sequential scan of a large table is never what it
    wants. A plan cached while a table was empty (psycopg prepares statements, and PostgreSQL may keep a
    generic plan for them) would otherwise keep scanning that table once it has grown, until the next
    ``ANALYZE``: with sequential scans priced out, such a plan takes the index from the start. A table with
    no index for a condition is still scanned (the price only ranks the choices), and since that price
    would wake the JIT compiler (tens of milliseconds for a one-row lookup), the JIT is off: no statement
    of aiki runs long enough to gain from it.
    """
    await raw.execute("SET enable_seqscan = off")
    await raw.execute("SET jit = off")


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def psycopg_url(url: str) -> str:
    """The libpq form of an aiki PostgreSQL URL (``postgresql+psycopg://`` is accepted as an alias)."""
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigurationError(f"{redact(url)!r} is not a PostgreSQL URL: use 'postgresql://user@host/db'.")
    return f"postgresql://{rest}"


def read_only_conninfo(conninfo: str) -> str:
    """``conninfo`` whose sessions start read-only: every transaction refuses to write."""
    options = conninfo_to_dict(conninfo).get("options") or ""
    return make_conninfo(conninfo, options=f"{options} -c default_transaction_read_only=on".strip())


class PostgresDatabase:
    """An aiki database on a PostgreSQL server, used through a pool of at most ``max_connections``."""

    def __init__(
        self, url: str, *, max_connections: int = 10, read_only: bool = False, connection_wait_ms: int = 5_000
    ) -> None:
        for name, value in (("max_connections", max_connections), ("connection_wait_ms", connection_wait_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"{name}={value!r} must be a positive integer (max_connections bounds the connection pool "
                    "of each process; connection_wait_ms is how long a request waits for a busy pool)."
                )
        self.url = url
        self.max_connections = max_connections
        self.connection_wait_ms = connection_wait_ms
        #: sessions are read-only, and the schema is checked instead of migrated
        self.read_only = read_only
        self._conninfo = read_only_conninfo(psycopg_url(url)) if read_only else psycopg_url(url)
        self._pool: AsyncConnectionPool[RawConnection] | None = None
        self._open_lock: asyncio.Lock | None = None
        #: tags this object's notifications so that its own listener skips them (its server already knows)
        self._origin = os.urandom(6).hex()
        self._listener: Listener | None = None
        self._notification_sender: NotificationSender | None = None

    @property
    def redacted_url(self) -> str:
        return redact(self.url)

    async def exists(self) -> bool:
        return True

    async def open(self, *, migrate: bool = True) -> None:
        if self._pool is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._pool is not None:
                return
            if migrate and not self.read_only:
                await self._migrate()
            pool: AsyncConnectionPool[RawConnection] = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=self.max_connections,
                kwargs={"autocommit": True, "row_factory": dict_row},
                configure=_configure,
                open=False,
                name="aiki",
            )
            try:
                await pool.open(wait=True, timeout=10.0)
            except Exception as error:
                await pool.close()
                raise self._unreachable(error) from error
            if self.read_only:
                try:
                    async with pool.connection() as raw:
                        await check_schema_current(PostgresConnection(raw), "postgres", self.redacted_url)
                except BaseException:
                    await pool.close()
                    raise
            self._pool = pool

    async def _migrate(self) -> None:
        """Apply pending migrations; an advisory lock makes concurrent servers take turns."""
        try:
            raw = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as error:
            raise self._unreachable(error) from error
        async with raw:
            async with raw.transaction():
                await raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                applied = await migrate(PostgresConnection(raw), "postgres", int(time.time() * 1000))
            if applied:
                logger.info("aiki: applied migrations %s to %s", ", ".join(applied), redact(self.url))

    def _unreachable(self, error: BaseException) -> ConfigurationError:
        return ConfigurationError(
            f"Cannot connect to PostgreSQL at {redact(self.url)}: {error}. Check that the server runs, "
            "and the host, port, user and database name in the URL."
        )

    def _sender(self) -> NotificationSender:
        if self._notification_sender is None:
            self._notification_sender = NotificationSender(self._conninfo)
        return self._notification_sender

    async def close(self) -> None:
        if self._notification_sender is not None:
            sender, self._notification_sender = self._notification_sender, None
            await sender.stop()
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _require_pool(self) -> AsyncConnectionPool[RawConnection]:
        if self._pool is None:
            raise ConfigurationError(f"The database {redact(self.url)} is not open (or was closed).")
        return self._pool

    @asynccontextmanager
    async def _pooled(self) -> AsyncIterator[RawConnection]:
        """A connection of the pool, given back when the block ends (the pool resets it if need be)."""
        pool = self._require_pool()
        task = asyncio.current_task()
        requested = task.cancelling() if task is not None else 0
        try:
            raw = await pool.getconn(timeout=self.connection_wait_ms / 1000)
        except PoolTimeout:
            # Every connection stayed busy (or none could be opened: the database is down or refuses
            # more): a busy server, answered at once, rather than a request that hangs and then fails.
            raise ServerBusyError(
                f"all {self.max_connections} database connections of this server stayed busy (or the "
                f"database did not answer) for {self.connection_wait_ms} ms"
            ) from None
        try:
            if task is not None and task.cancelling() > requested:
                # Python 3.11's ``wait_for`` (inside the pool) swallows a cancellation that arrives just as a
                # connection is handed over; deliver it, or a task being stopped would go on running.
                raise asyncio.CancelledError()
            yield raw
        finally:
            await pool.putconn(raw)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pooled() as raw:
            connection = PostgresConnection(raw)
            async with raw.transaction():
                yield connection
            # Sent after the commit, from another connection: a transaction that NOTIFYs holds PostgreSQL's
            # notification-queue lock through its commit, which would serialise every writer's fsync.
            if connection.pending_notifications:
                self._sender().send(connection.pending_notifications)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        # Autocommit: each statement reads its own snapshot, in one round trip (no BEGIN, no ROLLBACK).
        # The server's reads are single queries, or lists whose rows are only ever appended.
        async with self._pooled() as raw:
            yield PostgresConnection(raw)

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[Connection]:
        # Autocommit: the one statement is its own transaction, in one round trip.
        async with self._pooled() as raw:
            connection = PostgresConnection(raw)
            yield connection
            if connection.pending_notifications:
                self._sender().send(connection.pending_notifications)

    async def listen(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` for notifications that other processes send on ``channel``.

        Returns once the ``LISTEN`` is in place (or after a few seconds if the server cannot be reached:
        the listener keeps reconnecting in the background, and polling covers the gap).
        """
        if self._listener is None:
            self._listener = Listener(self._conninfo, self._origin)
        await self._listener.add(channel, callback)

    async def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """Send ``payload`` on ``channel`` when the transaction of ``connection`` commits."""
        if not isinstance(connection, PostgresConnection):
            raise TypeError("notify() takes a connection of this PostgreSQL database's transaction")
        connection.pending_notifications.append((channel, f"{self._origin}:{payload}"))

    def is_transient(self, error: BaseException) -> bool:
        """A deadlock, a serialisation failure or a lock timeout: the transaction may simply run again."""
        return isinstance(error, TRANSIENT_ERRORS)

    def migration_names(self) -> list[str]:
        return [name for _number, name, _sql in migration_files("postgres")]
