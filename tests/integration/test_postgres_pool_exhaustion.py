"""A PostgreSQL pool whose every connection is busy: requests are answered 503 with ``Retry-After`` once
``connection_wait_ms`` has passed (a busy server, not a bug), ``/healthz`` still answers (degraded), and a
worker's write waits the busy spell out and goes through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from aiki import Server, ServerBusyError, client, database, server
from aiki.contract import ClaimRequest, StartRequest
from tests.conftest import BACKENDS
from tests.postgres_support import fresh_postgres_url
from tests.transport_support import raw_http

if "postgres" not in BACKENDS:
    pytest.skip("PostgreSQL is not among AIKI_TEST_BACKENDS", allow_module_level=True)

START = StartRequest(name="busy", version_id="1.0.0", input=1, input_hash="h", options={})


@pytest.fixture
async def srv(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    db = database(fresh_postgres_url(request), max_connections=1, connection_wait_ms=200)
    instance = server(db=db)
    await instance.open()
    yield instance
    await instance.close()


async def test_a_request_finding_every_connection_busy_is_answered_503_with_retry_after(srv: Server) -> None:
    async with raw_http(srv) as http:
        async with srv.core.read():  # the pool's only connection, held
            refused = await http.get("/api/v1/runs")
            health = await http.get("/healthz")
        served = await http.get("/api/v1/runs")
        healthy = await http.get("/healthz")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["type"] == "ServerBusyError" and "all 1 database connections" in error["message"]
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert (served.status_code, healthy.json()) == (200, {"status": "ok"})


async def test_the_embedded_client_raises_server_busy(srv: Server) -> None:
    async with srv.core.read():
        with pytest.raises(ServerBusyError, match="Try again"):
            await srv.runs.list("default")


async def test_a_worker_write_waits_out_a_busy_pool_and_goes_through(srv: Server) -> None:
    c = client(server=srv)
    started = await srv.runs.start("default", START)
    (claimed,) = await c.transport.claim(ClaimRequest("w", [("busy", "1.0.0")], None, 1))
    release = asyncio.Event()

    async def hold_the_pool() -> None:
        async with srv.core.read():
            await release.wait()

    busy_once = asyncio.Event()
    retries = logging.getLogger("aiki.client")
    handler = logging.Handler()
    handler.emit = lambda record: busy_once.set()  # type: ignore[method-assign]
    retries.addHandler(handler)
    holder = asyncio.create_task(hold_the_pool())
    await asyncio.sleep(0)
    refreshing = asyncio.create_task(c.transport.refresh_claims([(started.id, claimed.claim_token)]))
    # Let the refresh find the pool busy at least once (it says so in the log), then free the pool.
    await asyncio.wait_for(busy_once.wait(), 30)
    assert not refreshing.done()
    release.set()
    await holder

    retries.removeHandler(handler)
    assert await refreshing == []
