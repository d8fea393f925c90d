"""What every server command needs: the database, the clock, the notifier and the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from aiki.clock import Clock
from aiki.server.changes import Changes
from aiki.server.notifier import Notifier
from aiki.store.database import Connection, Database

if TYPE_CHECKING:
    from aiki.server.redis_wakeups import RedisWakeups

WORK_CHANNEL = "aiki_work"
DEADLINE_CHANNEL = "aiki_deadline"
RUN_CHANNEL = "aiki_run"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Server options (``server(opts=...)``)."""

    #: a claim not refreshed for this long is taken back and its run requeued (fences the old worker)
    claim_timeout_ms: int = 90_000
    #: create or migrate the schema when the server first opens the database
    migrate: bool = True
    #: how often the timer loop and idle waiters look at the database for other processes' writes
    poll_interval_ms: int = 1_000
    #: how many due timers one transaction handles
    timer_batch_size: int = 200
    #: optional Redis (``redis://host:port/db``) that carries wake-ups between servers; only an accelerator
    redis_url: str | None = None
    #: prefix of the Redis channels: servers of one deployment share it, other deployments use their own
    redis_prefix: str = "aiki:"


T = TypeVar("T")

TRANSIENT_CONFLICTS = frozenset(
    {"IntegrityError", "UniqueViolation", "DeadlockDetected", "SerializationFailure"}
)


def is_transient_conflict(error: BaseException) -> bool:
    """Whether the database aborted a transaction that is worth running again from the start."""
    return type(error).__name__ in TRANSIENT_CONFLICTS


class ServerCore:
    """The database, clock and notifier shared by the command groups of one server."""

    def __init__(self, db: Database, clock: Clock, settings: ServerSettings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.notifier = Notifier()
        self.redis: RedisWakeups | None = None
        if settings.redis_url is not None:
            from aiki.server.redis_wakeups import RedisWakeups

            self.redis = RedisWakeups(settings.redis_url, settings.redis_prefix, self.notifier)
        self._opened = False
        self._listening = False

    async def ensure_open(self) -> None:
        if self._opened:
            return
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

        ``single_statement``: the block runs exactly one statement, which a backend may then send without
        BEGIN and COMMIT (one round trip on PostgreSQL).
        """
        await self.ensure_open()
        changes = Changes()
        async with self.db.statement() if single_statement else self.db.transaction() as connection:
            yield connection, changes
            await self._notify_other_processes(connection, changes)
        self.notifier.publish(changes)
        if self.redis is not None:
            self.redis.publish(changes)

    async def retrying(self, operation: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
        """Run ``operation`` (which opens its own write transaction) again when the database aborted it for a
        transient conflict: a lost race on a unique key, a deadlock or a serialisation failure (PostgreSQL)."""
        for attempt in range(attempts):
            try:
                return await operation()
            except Exception as error:
                if not is_transient_conflict(error) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[Connection]:
        """A write of exactly one statement that changes nothing anyone waits on (no notifications)."""
        await self.ensure_open()
        async with self.db.statement() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        await self.ensure_open()
        async with self.db.read() as connection:
            yield connection

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
        # Closing the database ends its listeners: a reopened server listens again.
        self._listening = False
