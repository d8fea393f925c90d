"""What every server command needs: the database, the clock, the notifier and the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from aiki.clock import Clock
from aiki.errors import ConfigurationError
from aiki.server.engine.changes import Changes
from aiki.server.engine.handoff import Handoff
from aiki.server.engine.notifier import Notifier
from aiki.server.engine.redis_wakeups import RedisWakeups
from aiki.server.engine.settings import ServerSettings
from aiki.server.engine.silent_waits import SilentWaits
from aiki.store.connection import Connection
from aiki.store.database import Database

if TYPE_CHECKING:
    from aiki.server.engine.metrics import ServerMetrics

WORK_CHANNEL = "aiki_work"
DEADLINE_CHANNEL = "aiki_deadline"
RUN_CHANNEL = "aiki_run"

T = TypeVar("T")


class ServerCore:
    """The database, clock and notifier shared by the command groups of one server."""

    def __init__(self, db: Database, clock: Clock, settings: ServerSettings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.notifier = Notifier()
        #: claims of this process waiting for work: a new run goes straight to one of them
        self.handoff = Handoff(self.notifier)
        #: warns once when a run waits for a timer that no runtime of this server fires
        self.silent_waits = SilentWaits()
        #: the server's Prometheus metrics (``GET /metrics``); ``None`` without prometheus_client (the
        #: ``server`` extra), which an embedded server does not need
        self.metrics: ServerMetrics | None = None
        try:
            # Imported here: prometheus_client is loaded by processes that serve, not by workers and clients.
            from aiki.server.engine.metrics import ServerMetrics
        except ImportError:
            pass
        else:
            self.metrics = ServerMetrics()
        self.redis: RedisWakeups | None = None
        if settings.redis_url is not None:
            self.redis = RedisWakeups(settings.redis_url, settings.redis_prefix, self.notifier)
        self._opened = False
        self._listening = False
        self._closed = False

    async def ensure_open(self) -> None:
        if self._opened:
            return
        if self._closed:
            raise ConfigurationError(
                "This server was closed (srv.close()); make a new one with aiki.server(...) to go on."
            )
        await self.db.open(migrate=self.settings.migrate)
        if not self._listening:
            self._listening = True
            await self.db.listen(WORK_CHANNEL, lambda _payload: self.notifier.work_available())
            await self.db.listen(DEADLINE_CHANNEL, lambda payload: self.notifier.deadline_set(int(payload)))
            await self.db.listen(RUN_CHANNEL, self.notifier.run_changed)
        if self.redis is not None:
            await self.redis.start()
        self._opened = True

    @asynccontextmanager
    async def write(self, *, single_statement: bool = False) -> AsyncIterator[tuple[Connection, Changes]]:
        """A write transaction; what it changed is published to waiters once it commits.

        ``single_statement``: the block calls exactly one store method that writes, and it is one statement
        on every backend that can do it so (the claim, the checkpoint, the finish): a backend may then send
        it without BEGIN and COMMIT (one round trip on PostgreSQL). Reads may follow it in the block (they
        see it committed).
        """
        await self.ensure_open()
        changes = Changes()
        try:
            async with self.db.statement() if single_statement else self.db.transaction() as connection:
                yield connection, changes
                if changes.runs or changes.queued or changes.earliest_deadline_ms is not None:
                    self._forget_distant_deadline(changes)
                    await self._notify_other_processes(connection, changes)
        except BaseException:
            changes.ended(committed=False)
            raise
        changes.ended(committed=True)
        if self.metrics is not None:
            self.metrics.observe(changes)
        if (
            not (changes.runs or changes.queued or changes.schedule_waits)
            and changes.earliest_deadline_ms is None
        ):
            return  # a task checkpoint, say: nobody waits on it
        self.notifier.publish(changes)
        if changes.timer_waits or changes.schedule_waits:
            self.silent_waits.check(changes, self.clock.now_ms())
        if self.redis is not None:
            self.redis.publish(changes)

    async def retrying(self, operation: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
        """Run ``operation`` (which opens its own write transaction) again when the database aborted it for
        a transient reason: a deadlock, a serialisation failure or a lock timeout."""
        for attempt in range(attempts):
            try:
                return await operation()
            except Exception as error:
                if not self.db.is_transient(error) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        await self.ensure_open()
        async with self.db.read() as connection:
            yield connection

    def _forget_distant_deadline(self, changes: Changes) -> None:
        """A deadline beyond the next poll wakes nobody: every timer loop looks at the database by then
        (a queued run's stall time, a day ahead, is written on every start)."""
        due = changes.earliest_deadline_ms
        if due is not None and due > self.clock.now_ms() + self.settings.poll_interval_ms:
            changes.earliest_deadline_ms = None

    async def _notify_other_processes(self, connection: Connection, changes: Changes) -> None:
        if changes.queued:
            await self.db.notify(connection, WORK_CHANNEL, "")
        if changes.earliest_deadline_ms is not None:
            await self.db.notify(connection, DEADLINE_CHANNEL, str(changes.earliest_deadline_ms))
        for run_id in changes.finished:
            await self.db.notify(connection, RUN_CHANNEL, run_id)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.stop()
        await self.db.close()
        self._opened = False
        self._closed = True
        # Closing the database ends its listeners.
        self._listening = False
