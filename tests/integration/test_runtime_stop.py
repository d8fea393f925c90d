"""Stopping the timer loop works even when a database driver swallows the cancellation mid-statement."""

from __future__ import annotations

import asyncio

from aiki import database, server
from aiki.server.engine.changes import Changes
from aiki.store.database import Connection


class SwallowingSource:
    """A timer source whose work, once started, absorbs one cancellation (as psycopg can mid-query)."""

    def __init__(self) -> None:
        self.busy = asyncio.Event()
        self.swallowed = 0

    async def fire_due(self, connection: Connection, changes: Changes, now_ms: int, limit: int) -> int:
        self.busy.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.swallowed += 1
        return 0

    async def next_deadline(self, connection: Connection) -> int | None:
        return None


async def test_stop_returns_even_if_the_cancellation_is_swallowed_during_a_tick(db_url: str) -> None:
    srv = server(db=database(db_url), opts={"poll_interval_ms": 60_000})
    source = SwallowingSource()
    srv.runtime.add_source(source)
    try:
        runtime = await srv.runtime.start()
        await asyncio.wait_for(source.busy.wait(), timeout=15)

        stopping = asyncio.create_task(runtime.stop())
        # Not wait_for: runtime.stop() suppresses CancelledError, so a timed-out wait_for would look fine.
        done, _ = await asyncio.wait({stopping}, timeout=15)

        assert stopping in done, "runtime.stop() hangs: the loop went on waiting after its cancellation"
        assert source.swallowed == 1
        assert not runtime.running
    finally:
        await srv.close()
