"""PostgreSQL backend: psycopg 3 with an async connection pool, row locks for claims and timers, and
``LISTEN/NOTIFY`` so that other processes learn of new work and deadlines without polling.

Write transactions run at READ COMMITTED; the server's SQL takes the row locks that matter
(``FOR UPDATE [SKIP LOCKED]``, ``FOR SHARE``) and compare-and-sets every run update on its revision.
Reads run in a read-only REPEATABLE READ snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from aiki.errors import ConfigurationError, InvalidRequestError
from aiki.store.database import Connection, Dialect, Row
from aiki.store.migrations import migrate

logger = logging.getLogger("aiki.store.postgres")

#: ``pg_advisory_xact_lock`` key that serialises migrations of concurrent servers ("aiki" in ASCII).
MIGRATION_LOCK_KEY = 0x61696B69
#: how long to wait between reconnection attempts of the notification listener (doubling up to the max)
LISTENER_RETRY_MIN_S = 0.1
LISTENER_RETRY_MAX_S = 5.0
#: how long ``listen`` waits for its ``LISTEN`` to be in place before returning anyway (polling covers it)
LISTEN_READY_TIMEOUT_S = 5.0
#: how long ``close`` waits for the listener to end
LISTENER_STOP_TIMEOUT_S = 2.0

Callback = Callable[[str], Awaitable[None] | None]
RawConnection = psycopg.AsyncConnection[DictRow]


@functools.lru_cache(maxsize=1024)
def to_psycopg(statement: str) -> str:
    """``statement`` with ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` escaped as ``%%``).

    A ``?`` inside a quoted literal or identifier is left alone; psycopg reads ``%`` everywhere, so every
    ``%`` is escaped.
    """
    out: list[str] = []
    quote: str | None = None
    for char in statement:
        if char == "%":
            out.append("%%")
        elif quote is not None:
            out.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def psycopg_url(url: str) -> str:
    """The libpq form of an aiki PostgreSQL URL (``postgresql+psycopg://`` is accepted as an alias)."""
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigurationError(f"{redact(url)!r} is not a PostgreSQL URL: use 'postgresql://user@host/db'.")
    return f"postgresql://{rest}"


class PostgresConnection:
    """One pooled connection inside one transaction."""

    dialect: Dialect = "postgres"

    def __init__(self, raw: RawConnection) -> None:
        self._raw = raw
        #: ``(channel, payload)`` sent in one statement just before the transaction commits
        self.pending_notifications: list[tuple[str, str]] = []

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return (await self._run(sql, params)).rowcount

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await (await self._run(sql, params)).fetchone()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await (await self._run(sql, params)).fetchall()

    async def _run(self, sql: str, params: Sequence[Any]) -> psycopg.AsyncCursor[DictRow]:
        try:
            return await self._raw.execute(to_psycopg(sql), tuple(params))
        except psycopg.DataError as error:
            # SQLite stores a NUL character; PostgreSQL text cannot hold one, and psycopg refuses to send it.
            if "NUL" in str(error):
                raise InvalidRequestError(
                    "a text value (an id, name or reference) contains a NUL character, which cannot be stored"
                ) from error
            raise


class PostgresDatabase:
    """An aiki database on a PostgreSQL server, used through a pool of at most ``max_connections``."""

    dialect: Dialect = "postgres"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigurationError(
                f"max_connections={max_connections!r} must be a positive integer "
                "(the bound of the connection pool in each process)."
            )
        self.url = url
        self.max_connections = max_connections
        self._conninfo = psycopg_url(url)
        self._pool: AsyncConnectionPool[RawConnection] | None = None
        self._open_lock: asyncio.Lock | None = None
        #: tags this object's notifications so that its own listener skips them (its server already knows)
        self._origin = os.urandom(6).hex()
        self._listener: _Listener | None = None
        self._notification_sender: _NotificationSender | None = None

    async def open(self, *, migrate: bool = True) -> None:
        if self._pool is not None:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._pool is not None:
                return
            if migrate:
                await self._migrate()
            pool: AsyncConnectionPool[RawConnection] = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=self.max_connections,
                kwargs={"autocommit": True, "row_factory": dict_row},
                open=False,
                name="aiki",
            )
            try:
                await pool.open(wait=True, timeout=10.0)
            except Exception as error:
                await pool.close()
                raise self._unreachable(error) from error
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
                applied = await migrate(PostgresConnection(raw), int(time.time() * 1000))
            if applied:
                logger.info("aiki: applied migrations %s to %s", ", ".join(applied), redact(self.url))

    def _unreachable(self, error: BaseException) -> ConfigurationError:
        return ConfigurationError(
            f"Cannot connect to PostgreSQL at {redact(self.url)}: {error}. Check that the server runs, "
            "and the host, port, user and database name in the URL."
        )

    def _sender(self) -> _NotificationSender:
        if self._notification_sender is None:
            self._notification_sender = _NotificationSender(self._conninfo)
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
        raw = await pool.getconn()
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
            self._listener = _Listener(self._conninfo, self._origin)
        await self._listener.add(channel, callback)

    async def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """Send ``payload`` on ``channel`` when the transaction of ``connection`` commits."""
        if not isinstance(connection, PostgresConnection):
            raise TypeError("notify() takes a connection of this PostgreSQL database's transaction")
        connection.pending_notifications.append((channel, f"{self._origin}:{payload}"))


class _Listener:
    """One dedicated connection that ``LISTEN``s and dispatches notifications, reconnecting if it drops."""

    def __init__(self, conninfo: str, origin: str) -> None:
        self._conninfo = conninfo
        self._origin = origin
        self._callbacks: dict[str, list[Callback]] = {}
        self._listening: set[str] = set()
        self._channels_changed = asyncio.Event()
        #: notified whenever ``_listening`` grows
        self._synced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def add(self, channel: str, callback: Callback) -> None:
        known = channel in self._callbacks
        self._callbacks.setdefault(channel, []).append(callback)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="aiki-postgres-listener")
        if known:
            return
        self._channels_changed.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LISTEN_READY_TIMEOUT_S), self._synced:
                await self._synced.wait_for(lambda: channel in self._listening)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            # The loop also checks this flag, in case a driver call swallows the cancellation.
            self._stopping = True
            task.cancel()
            await asyncio.wait([task], timeout=LISTENER_STOP_TIMEOUT_S)

    async def _run(self) -> None:
        retry_s = LISTENER_RETRY_MIN_S
        lost = False
        while not self._stopping:
            try:
                raw = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except psycopg.OperationalError as error:
                if not lost:
                    logger.warning(
                        "aiki: cannot open the PostgreSQL notification connection (%s); retrying", error
                    )
                    lost = True
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, LISTENER_RETRY_MAX_S)
                continue
            try:
                if lost:
                    logger.info("aiki: the PostgreSQL notification connection is back")
                    lost = False
                retry_s = LISTENER_RETRY_MIN_S
                await self._serve(raw)
            except Exception as error:
                logger.warning(
                    "aiki: lost the PostgreSQL notification connection (%s); reconnecting, polling meanwhile",
                    error,
                )
                lost = True
                await asyncio.sleep(retry_s)
            finally:
                self._listening = set()
                with contextlib.suppress(Exception):
                    await raw.close()

    async def _serve(self, raw: psycopg.AsyncConnection[Any]) -> None:
        """LISTEN on every channel, then dispatch; re-LISTENs when ``add`` brings a new channel."""
        while not self._stopping:
            self._channels_changed.clear()
            for channel in list(self._callbacks):
                if channel not in self._listening:
                    await raw.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._listening.add(channel)
            async with self._synced:
                self._synced.notify_all()
            reader = asyncio.create_task(self._dispatch(raw))
            changed = asyncio.create_task(self._channels_changed.wait())
            try:
                await asyncio.wait({reader, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                if not reader.done():
                    # The reader waits for input with no query in flight: cancelling leaves the connection
                    # idle, and notifications arriving meanwhile are kept for the next ``notifies()``.
                    reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            if reader.done() and not reader.cancelled():
                reader.result()
                return

    async def _dispatch(self, raw: psycopg.AsyncConnection[Any]) -> None:
        async for notification in raw.notifies():
            origin, _, payload = notification.payload.partition(":")
            if origin == self._origin:
                continue
            for callback in self._callbacks.get(notification.channel, ()):
                try:
                    result = callback(payload)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("aiki: a notification callback for %r failed", notification.channel)


class _NotificationSender:
    """Sends the notifications of committed transactions in batches, over one dedicated connection.

    Best effort: a notification lost with the connection only delays other processes until they poll.
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._pending: list[tuple[str, str]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def send(self, notifications: list[tuple[str, str]]) -> None:
        self._pending.extend(notifications)
        self._ready.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="aiki-postgres-notifier")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            self._stopping = True
            self._ready.set()
            await asyncio.wait([task], timeout=LISTENER_STOP_TIMEOUT_S)
            if not task.done():
                task.cancel()

    async def _run(self) -> None:
        raw: psycopg.AsyncConnection[Any] | None = None
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                batch, self._pending = self._pending, []
                if batch:
                    raw = await self._deliver(raw, batch)
                if self._stopping and not self._pending:
                    return
        finally:
            if raw is not None:
                with contextlib.suppress(Exception):
                    await raw.close()

    async def _deliver(
        self, raw: psycopg.AsyncConnection[Any] | None, batch: list[tuple[str, str]]
    ) -> psycopg.AsyncConnection[Any] | None:
        unique = list(dict.fromkeys(batch))
        try:
            if raw is None or raw.closed:
                raw = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            await raw.execute(
                "SELECT pg_notify(channel, payload) FROM unnest(%s::text[], %s::text[]) AS n(channel, payload)",
                ([channel for channel, _payload in unique], [payload for _channel, payload in unique]),
            )
            return raw
        except Exception as error:
            logger.warning(
                "aiki: could not send %d PostgreSQL notification(s) (%s); polling covers", len(unique), error
            )
            if raw is not None:
                with contextlib.suppress(Exception):
                    await raw.close()
            return None
