"""``server(db=...)``: the aiki server as a library. Embed it, or serve ``srv.app`` over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiki.clock import Clock, SystemClock
from aiki.server.commands import Commands
from aiki.server.engine.core import ServerCore
from aiki.server.engine.runtime import Runtime
from aiki.server.engine.schedule_timers import ScheduleTimers
from aiki.server.engine.settings import ServerSettings, parse_server_options
from aiki.store.database import Database
from aiki.store.factory import database


class Server:
    """The commands, the timer runtime and the HTTP app of one aiki server."""

    def __init__(self, db: Database, clock: Clock, settings: ServerSettings) -> None:
        self.core = ServerCore(db, clock, settings)
        self.commands = Commands.on(self.core)
        self.runs = self.commands.runs
        self.workers = self.commands.workers
        self.events = self.commands.events
        self.schedules = self.commands.schedules
        #: API keys: ``await srv.keys.create(namespace, name)``, ``list``, ``revoke``
        self.keys = self.commands.keys
        self.runtime = Runtime(self.core)
        self.runtime.add_source(ScheduleTimers(settings))

        self._app: Any = None

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def settings(self) -> ServerSettings:
        return self.core.settings

    @property
    def app(self) -> Any:
        """The ASGI app of the HTTP API and the dashboard (Starlette), built on first use."""
        if self._app is None:
            from aiki.server.http.app import build_app

            self._app = build_app(self.commands)
        return self._app

    async def open(self) -> Server:
        """Open the database (and migrate it unless ``migrate`` is off). Commands do this on first use."""
        await self.core.ensure_open()
        return self

    async def close(self) -> None:
        """Stop the runtime and release the database; the server cannot be used after this."""
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
