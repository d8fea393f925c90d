"""The optional Redis accelerator: servers that share a database also share wake-ups over Redis pub/sub.

It only speeds things up. Each server publishes what its committed transactions changed (new work, earlier
deadlines, changed runs) and feeds what the others publish to its notifier. The database stays the only
source of truth: when Redis is gone, wake-ups come from PostgreSQL notifications (or polling) until it is
back, and one warning says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from typing import Any

from aiki.errors import ConfigurationError
from aiki.extras import require
from aiki.server.engine.changes import Changes
from aiki.server.engine.notifier import Notifier

logger = logging.getLogger("aiki.redis")

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
#: wait between reconnection attempts while Redis is unreachable (doubling up to the max)
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
#: how long ``start`` waits for the first subscription attempt (the loop keeps trying after it)
SUBSCRIBE_TIMEOUT_S = 5.0
#: messages kept while Redis is slow; beyond this the oldest are dropped (polling covers them)
MAX_QUEUED = 10_000
#: how long ``stop`` waits for the loops to end
STOP_TIMEOUT_S = 2.0


def check_redis_url(url: object) -> str:
    """``url`` if it is a Redis URL, else ``ConfigurationError``."""
    if not isinstance(url, str) or not url.startswith(REDIS_SCHEMES):
        raise ConfigurationError(
            f"Server option 'redis_url' must be a Redis URL such as 'redis://127.0.0.1:6379/0', got {url!r}."
        )
    return url


class RedisWakeups:
    """Publishes this server's changes to Redis and feeds other servers' changes to its notifier."""

    def __init__(self, url: str, prefix: str, notifier: Notifier) -> None:
        require("redis.asyncio", "redis", "Server option 'redis_url'")
        self.url = check_redis_url(url)
        self.work_channel = f"{prefix}work"
        self.deadline_channel = f"{prefix}deadline"
        self.run_channel = f"{prefix}run"
        self._notifier = notifier
        #: tags this server's messages so that its own subscription skips them
        self._origin = os.urandom(6).hex()
        self._client: Any = None
        self._queue: list[tuple[str, str]] = []
        self._queued = asyncio.Event()
        #: set once the first subscription attempt has succeeded or failed
        self._first_attempt = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._reachable = True

    async def start(self) -> None:
        """Connect and subscribe (idempotent). If Redis is unreachable, a warning is logged, the server goes
        on without it, and the connection keeps being retried in the background."""
        if self._tasks:
            return
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # Failures surface at once: the loops below retry, and nothing waits on Redis meanwhile.
        self._client = redis.asyncio.Redis.from_url(
            self.url, decode_responses=True, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        self._first_attempt = asyncio.Event()
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._subscribe_loop(), name="aiki-redis-subscriber"),
            asyncio.create_task(self._publish_loop(), name="aiki-redis-publisher"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                await self._first_attempt.wait()

    async def stop(self) -> None:
        """Stop both loops and close the connections."""
        tasks, self._tasks = self._tasks, []
        # The loops also check this flag: the redis client may swallow a cancellation in flight.
        self._stopping = True
        self._queued.set()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()
        self._queue.clear()

    def publish(self, changes: Changes) -> None:
        """Queue what a committed transaction changed; the publisher sends it without delaying the caller."""
        if not self._tasks:
            return
        if changes.queued:
            self._enqueue(self.work_channel, "")
        if changes.earliest_deadline_ms is not None:
            self._enqueue(self.deadline_channel, str(changes.earliest_deadline_ms))
        for run_id in changes.runs:
            self._enqueue(self.run_channel, run_id)

    def _enqueue(self, channel: str, payload: str) -> None:
        if len(self._queue) >= MAX_QUEUED:
            del self._queue[: MAX_QUEUED // 2]
        self._queue.append((channel, f"{self._origin}:{payload}"))
        self._queued.set()

    async def _publish_loop(self) -> None:
        retry_s = RETRY_MIN_S
        while not self._stopping:
            await self._queued.wait()
            self._queued.clear()
            if self._stopping:
                return
            batch, self._queue = list(dict.fromkeys(self._queue)), []
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except Exception as error:
                # The batch is dropped: waiters fall back to PostgreSQL notifications and polling.
                self._set_reachable(False, error)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            self._set_reachable(True, None)
            retry_s = RETRY_MIN_S

    async def _subscribe_loop(self) -> None:
        retry_s = RETRY_MIN_S
        while not self._stopping:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.work_channel, self.deadline_channel, self.run_channel)
                self._set_reachable(True, None)
                self._first_attempt.set()
                retry_s = RETRY_MIN_S
                while not self._stopping:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._dispatch(str(message["channel"]), str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._set_reachable(False, error)
                self._first_attempt.set()
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _dispatch(self, channel: str, data: str) -> None:
        origin, _, payload = data.partition(":")
        if origin == self._origin:
            return
        if channel == self.work_channel:
            self._notifier.work_available()
        elif channel == self.deadline_channel:
            with contextlib.suppress(ValueError):
                self._notifier.deadline_set(int(payload))
        elif channel == self.run_channel:
            self._notifier.run_changed(payload)

    def _set_reachable(self, reachable: bool, error: BaseException | None) -> None:
        """Log once when Redis goes away and once when it is back."""
        if reachable == self._reachable:
            return
        self._reachable = reachable
        if reachable:
            logger.info("aiki: Redis at %s is reachable again; wake-ups go through it", _redact(self.url))
        else:
            logger.warning(
                "aiki: Redis at %s is unreachable (%s); wake-ups fall back to database notifications and "
                "polling until it is back",
                _redact(self.url),
                error,
            )


def _redact(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", url)
