"""PostgreSQL's notifications between processes: one connection that LISTENs and dispatches, and one that
sends the notifications of committed transactions in batches.

Best effort both ways: polling covers whatever a lost connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger("aiki.store.postgres")

#: how long to wait between reconnection attempts of the notification listener (doubling up to the max)
LISTENER_RETRY_MIN_S = 0.1
LISTENER_RETRY_MAX_S = 5.0
#: how long ``listen`` waits for its ``LISTEN`` to be in place before returning anyway (polling covers it)
LISTEN_READY_TIMEOUT_S = 5.0
#: how long ``close`` waits for the listener to end
LISTENER_STOP_TIMEOUT_S = 2.0

Callback = Callable[[str], Awaitable[None] | None]


class Listener:
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


class NotificationSender:
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
