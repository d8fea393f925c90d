"""A worker's fenced writes survive transient failures: a dropped connection (before or after the server
committed), a 500 or a 503 is followed by the same write again, with a growing pause, within a budget. A
retried task result that the server already holds is recognised as its own earlier success: the task is
recorded once and runs once, and the run ends as if nothing had happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from aiki import Client, RunStatus, Server, ServerUnreachableError, database, server, task, worker, workflow
from aiki.client.http import HttpTransport
from aiki.contract import ClaimRequest, TaskWrite
from aiki.execution.task_runner import task_address
from tests.transport_support import IN_PROCESS_URL

INTERNAL_ERROR = {"error": {"type": "InternalServerError", "code": "INTERNAL", "message": "boom", "data": {}}}
BUSY = {"error": {"type": "ServerBusyError", "code": "SERVER_BUSY", "message": "busy", "data": {}}}
TOO_LARGE = {
    "error": {
        "type": "ValueLimitError",
        "code": "VALUE_LIMIT",
        "message": "output of run r is too large to record",
        "data": {"what": "output of run r", "limit": "size", "maximum": 10, "actual": 20},
    }
}
ANSWERS = {"500": INTERNAL_ERROR, "503": BUSY, "400": TOO_LARGE}


@dataclass
class FlakyNetwork(httpx.AsyncBaseTransport):
    """Serves the app in-process, but fails the next requests to a path as ``failures[path]`` says:

    - ``"answer lost"``: the server handles the request (and commits), then the connection drops;
    - ``"refused"``: the connection fails before the server sees the request;
    - ``"500"`` / ``"503"``: an answer with that status, the server having done nothing;
    - ``"400"``: a refusal of the value, as a server with a stricter limit than the client's would answer.
    """

    app: Any
    failures: dict[str, list[str]] = field(default_factory=dict)
    handled: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.inner = httpx.ASGITransport(self.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        planned = self.failures.get(path)
        if planned:
            failure = planned.pop(0)
            if failure == "answer lost":
                answer = await self.inner.handle_async_request(request)
                await answer.aread()
                self.handled[path] += 1
                raise httpx.ReadError("the connection dropped before the answer arrived", request=request)
            if failure == "refused":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(int(failure), json=ANSWERS[failure], headers={"Retry-After": "1"})
        self.handled[path] += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def srv(db_url: str) -> AsyncIterator[Server]:
    instance = server(db=database(db_url), opts={"poll_interval_ms": 200})
    await instance.runtime.start()
    yield instance
    await instance.close()


def flaky_client(srv: Server, network: FlakyNetwork, write_retry_s: float = 30.0) -> Client:
    return Client(
        HttpTransport(IN_PROCESS_URL, http_transport=network, write_retry_s=write_retry_s, timeout_s=10)
    )


@dataclass(frozen=True)
class Payment:
    """A fresh ``payment@1.0.0`` of two tasks, and how often each task body ran."""

    version: Any
    executions: Counter[str]


def payment() -> Payment:
    executions: Counter[str] = Counter()

    @task(name="charge")
    async def charge(amount: int) -> dict[str, int]:
        executions["charge"] += 1
        return {"charged": amount}

    @task(name="receipt")
    async def receipt(charged: dict[str, int]) -> str:
        executions["receipt"] += 1
        return f"receipt for {charged['charged']}"

    flow = workflow(name="payment")

    @flow.v("1.0.0")
    async def payment_v1(run: Any, amount: int) -> Any:
        charged = await charge.start(run, amount)
        return await receipt.start(run, charged)

    return Payment(payment_v1, executions)


async def run_once_through(srv: Server, network: FlakyNetwork) -> tuple[Any, Payment]:
    flow = payment()
    c = flaky_client(srv, network)
    w = None
    try:
        w = await worker(workflows=[flow.version], opts={"poll_interval_ms": 200}).start(c)
        handle = await flow.version.start(c, 5)
        result = await handle.wait_for_status("completed", timeout={"seconds": 30})
        history = await c.transport.get_history(handle.id)
        timeline = await c.transport.get_timeline(handle.id)
    finally:
        if w is not None:
            await w.stop()
        await c.close()
    assert result.success, handle.run.state
    assert result.state is not None and result.state.output == "receipt for 5"
    assert [entry.name for entry in history.tasks] == ["charge", "receipt"]
    assert handle.run.attempts == 1
    assert [t.to_status for t in timeline].count("running") == 1, timeline
    return handle, flow


@pytest.mark.parametrize("failure", ["answer lost", "refused", "500", "503"])
async def test_a_task_result_that_failed_in_transit_is_sent_again_and_recorded_once(
    srv: Server, failure: str
) -> None:
    network = FlakyNetwork(srv.app, {"/worker/tasks": [failure, failure]})

    _handle, flow = await run_once_through(srv, network)

    assert flow.executions == Counter({"charge": 1, "receipt": 1})
    assert network.failures["/worker/tasks"] == []


@pytest.mark.parametrize("failure", ["answer lost", "refused", "500", "503"])
async def test_an_outcome_that_failed_in_transit_is_sent_again_and_the_run_completes(
    srv: Server, failure: str
) -> None:
    network = FlakyNetwork(srv.app, {"/worker/finish": [failure, failure]})

    _handle, flow = await run_once_through(srv, network)

    assert flow.executions == Counter({"charge": 1, "receipt": 1})


async def test_a_write_that_keeps_failing_is_given_up_after_the_budget(srv: Server) -> None:
    flow = workflow(name="payment")

    @flow.v("1.0.0")
    async def stub(run: Any, input: Any) -> Any:
        return input

    network = FlakyNetwork(srv.app, {"/worker/tasks": ["refused"] * 1000})
    c = flaky_client(srv, network, write_retry_s=0.3)
    try:
        await stub.start(c, 1)
        (claimed,) = await c.transport.claim(ClaimRequest("w", [("payment", "1.0.0")], None, 1))
        write = TaskWrite(
            run_id=claimed.run.id,
            claim_token=claimed.claim_token,
            name="t",
            address=task_address("t", 1),
            occurrence=0,
            status="completed",
            attempts=1,
            input=1,
            output=2,
        )
        with pytest.raises(ServerUnreachableError):
            await c.transport.record_task(write)
    finally:
        await c.close()
    assert len(network.failures["/worker/tasks"]) < 1000 - 1
    assert (await srv.runs.get("default", claimed.run.id)).status is RunStatus.RUNNING


async def test_a_refusal_is_not_sent_again(srv: Server) -> None:
    network = FlakyNetwork(srv.app)
    c = flaky_client(srv, network)
    try:
        write = TaskWrite(
            run_id="no-such-run",
            claim_token="t",
            name="t",
            address="t:0",
            occurrence=0,
            status="completed",
            attempts=1,
        )
        with pytest.raises(Exception, match="changed by someone else"):
            await c.transport.record_task(write)
    finally:
        await c.close()
    assert network.handled["/worker/tasks"] == 1


async def test_an_outcome_the_server_refuses_fails_the_run_with_the_refusal(srv: Server) -> None:
    """A refusal is not sent again: the run cannot end that way, so the worker fails it with the refusal as its
    error instead of leaving it to be recovered and refused for ever."""
    flow = payment()
    network = FlakyNetwork(srv.app, {"/worker/finish": ["400"]})
    c = flaky_client(srv, network)
    w = await worker(workflows=[flow.version], opts={"poll_interval_ms": 200}).start(c)
    try:
        handle = await flow.version.start(c, 5)
        result = await handle.wait_for_status("failed", timeout={"seconds": 30})
    finally:
        await w.stop()
        await c.close()

    assert result.success, handle.run.state
    assert (handle.run.state.error or {})["type"] == "ValueLimitError"
    assert handle.run.attempts == 1
