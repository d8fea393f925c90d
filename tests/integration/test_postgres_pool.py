"""The PostgreSQL pool under cancellation: a task cancelled while it waits for a connection stops."""

from __future__ import annotations

import asyncio

import pytest

from aiki.store.postgres.database import PostgresDatabase
from tests.conftest import BACKENDS
from tests.postgres_support import fresh_postgres_url

if "postgres" not in BACKENDS:
    pytest.skip("PostgreSQL is not among AIKI_TEST_BACKENDS", allow_module_level=True)


async def use_the_database(db: PostgresDatabase, finished: list[bool]) -> None:
    async with db.transaction() as connection:
        await connection._fetch_one("SELECT 1 AS one")
    finished.append(True)


@pytest.mark.parametrize("steps_before_cancel", range(8))
async def test_a_task_cancelled_as_it_is_handed_a_pooled_connection_is_cancelled(
    request: pytest.FixtureRequest, steps_before_cancel: int
) -> None:
    db = PostgresDatabase(fresh_postgres_url(request), max_connections=1)
    await db.open()
    finished: list[bool] = []
    try:
        async with db.transaction():
            waiting = asyncio.create_task(use_the_database(db, finished))
            # Wait until the task queues for the pool's only connection, which this transaction holds.
            for _ in range(10_000):
                if db._require_pool().get_stats().get("requests_queued"):
                    break
                await asyncio.sleep(0.001)
        for _ in range(steps_before_cancel):
            await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        await db.close()

    assert finished == []
