"""``server(db=...)``: the aiki server as a library. Embed it, or serve ``srv.app`` over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiki.clock import Clock, SystemClock
from aiki.errors import ConfigurationError
from aiki.server.core import ServerCore, ServerSettings
from aiki.server.event_commands import EventCommands
from aiki.server.redis_wakeups import check_redis_url
from aiki.server.run_commands import RunCommands
from aiki.server.runtime import Runtime
from aiki.server.schedule_commands import ScheduleCommands
from aiki.server.schedule_timers import ScheduleTimers
from aiki.server.worker_commands import WorkerCommands
from aiki.store.database import Database
from aiki.store.factory import database

SERVER_OPTIONS = {
    "claim_timeout_ms",
    "migrate",
    "poll_interval_ms",
    "timer_batch_size",
    "redis_url",
    "redis_prefix",
}


def parse_server_options(opts: Mapping[str, Any] | None) -> ServerSettings:
    """``opts`` as settings; unknown keys and wrong types are a ``ConfigurationError``."""
    values = dict(opts or {})
    unknown = set(values) - SERVER_OPTIONS
    if unknown:
        raise ConfigurationError(
            f"Unknown server option(s) {sorted(unknown)}; the options are {sorted(SERVER_OPTIONS)}."
        )
    for key, value in values.items():
        if key == "redis_url":
            if value is not None:
                check_redis_url(value)
            continue
        if key == "redis_prefix":
            if not isinstance(value, str) or not value:
                raise ConfigurationError(
                    f"Server option 'redis_prefix' must be a non-empty string, got {value!r}."
                )
            continue
        expected = bool if key == "migrate" else int
        if not isinstance(value, expected) or (expected is int and (isinstance(value, bool) or value <= 0)):
            kind = "true or false" if expected is bool else "a positive integer"
            raise ConfigurationError(f"Server option {key!r} must be {kind}, got {value!r}.")
    return ServerSettings(**values)


class Server:
    """The commands, the timer runtime and the HTTP app of one aiki server."""

    def __init__(self, db: Database, clock: Clock, settings: ServerSettings) -> None:
        self.core = ServerCore(db, clock, settings)
        self.runs = RunCommands(self.core)
        self.workers = WorkerCommands(self.core)
        self.events = EventCommands(self.core)
        self.runtime = Runtime(self.core)
        self._app: Any = None
        self.extensions: dict[str, Any] = {}
        self.extensions["schedules"] = ScheduleCommands(self.core)
        self.runtime.add_source(ScheduleTimers(self.runs, db.skip_locked))

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def app(self) -> Any:
        """The ASGI app of the HTTP API (Starlette), built on first use."""
        if self._app is None:
            from aiki.server.http_api import build_app

            self._app = build_app(self)
        return self._app

    async def open(self) -> Server:
        """Open the database (and migrate it unless ``migrate`` is off). Commands do this on first use."""
        await self.core.ensure_open()
        return self

    async def close(self) -> None:
        """Stop the runtime and release the database."""
        await self.runtime.stop()
        await self.core.close()


def server(
    db: Database | str | None = None,
    *,
    opts: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
) -> Server:
    """Create a server on ``db`` (a ``database(...)`` or a URL; default ``sqlite:///aiki.db``).

    Example:
        srv = server(db=database("sqlite:///aiki.db"))
        runtime = await srv.runtime.start()
    """
    if db is None:
        db = database("sqlite:///aiki.db")
    elif isinstance(db, str):
        db = database(db)
    return Server(db, clock or SystemClock(), parse_server_options(opts))
