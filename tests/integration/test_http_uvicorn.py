"""The HTTP API over a real socket: ``srv.app`` served by uvicorn on a free 127.0.0.1 port, a worker and a
client connected by URL with an API key."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from aiki import RunStatus, Server, client, database, event, server, task, worker, workflow
from aiki.contract import ClaimRequest
from tests.integration.run_watch import awaiting_event, until


@task(name="shout")
async def shout(text: str) -> str:
    return text.upper()


greeting = workflow(name="greeting")


@greeting.v("1.0.0", events={"reply": event()})
async def greeting_v1(run: Any, input: str) -> dict[str, Any]:
    loud = await shout.start(run, input)
    await run.sleep("pause", 30)
    reply = await run.events.reply.wait()
    return {"loud": loud, "reply": reply.data}


@dataclass
class LiveServer:
    server: Server
    url: str
    secret: str


async def _wait_until(condition: Any, what: str, timeout_s: float = 15.0) -> None:
    """Poll a condition that no event announces (uvicorn's start, a request reaching the server)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def live(db_url: str) -> AsyncIterator[LiveServer]:
    srv = server(db=database(db_url), opts={"poll_interval_ms": 200})
    await srv.runtime.start()
    _key_id, secret = await srv.keys.create("live", "tests")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    http = uvicorn.Server(uvicorn.Config(srv.app, log_level="warning", lifespan="off", ws="none"))
    serving = asyncio.create_task(http.serve(sockets=[listener]))
    await _wait_until(lambda: http.started or serving.done(), "uvicorn to start")
    yield LiveServer(srv, f"http://127.0.0.1:{port}", secret)
    http.should_exit = True
    await serving
    listener.close()
    await srv.close()


async def test_a_worker_over_a_real_socket_completes_a_workflow_with_a_task_a_sleep_and_an_event(
    live: LiveServer,
) -> None:
    c = client(url=live.url, api_key=live.secret)
    w = await worker(workflows=[greeting_v1], opts={"poll_interval_ms": 500}).start(c)
    try:
        handle = await greeting_v1.start(c, "hi")
        await until(handle, awaiting_event("reply"))
        await handle.events.reply.send("hello back")
        result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    finally:
        await w.stop()
        await c.close()

    assert result.success and result.state is not None
    assert result.state.output == {"loud": "HI", "reply": "hello back"}
    assert handle.run.namespace == "live"


async def test_a_claim_abandoned_by_its_worker_does_not_take_the_next_run(live: LiveServer) -> None:
    c = client(url=live.url, api_key=live.secret)
    request = ClaimRequest(
        worker_id="gone", workflows=[("greeting", "1.0.0")], shards=None, limit=1, wait_ms=20_000
    )
    notifier = live.server.core.notifier
    try:
        abandoned = asyncio.create_task(c.transport.claim(request))
        await _wait_until(lambda: bool(notifier._work_waiters), "the claim to wait on the server")
        abandoned.cancel()
        await asyncio.gather(abandoned, return_exceptions=True)
        await _wait_until(lambda: not notifier._work_waiters, "the server to notice the hang-up")

        handle = await greeting_v1.start(c, "x")
        claimed = await c.transport.claim(
            ClaimRequest("next", [("greeting", "1.0.0")], None, 1, wait_ms=5_000)
        )
    finally:
        await c.close()

    assert [item.run.id for item in claimed] == [handle.id]
    assert claimed[0].run.status is RunStatus.RUNNING
