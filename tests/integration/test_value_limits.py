"""One limit for every recorded value (inputs, outputs, event data, options, errors): depth and size, checked
in the client before it sends and in the server before it stores. A value over a limit is refused with a
``ValueLimitError`` naming the value and the limit; nothing is stored, and the namespace keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aiki import RunStatus, Server, ValueLimitError, database, event, server, task, workflow
from aiki.contract import ClaimRequest
from aiki.contract.limits import MAX_VALUE_BYTES, MAX_VALUE_DEPTH
from tests.transport_support import TransportEnv, raw_http

OVER_SIZE = "x" * (MAX_VALUE_BYTES + 1)

echo = workflow(name="echo")


@echo.v("1.0.0", events={"poke": event()})
async def echo_v1(run: Any, input: Any) -> Any:
    if input == "wait":
        await run.events.poke.wait()
    if input == "too large":
        return {"blob": OVER_SIZE}
    return input


@task(name="blow-up")
async def blow_up(input: Any) -> Any:
    return {"blob": OVER_SIZE}


big_task = workflow(name="big-task")


@big_task.v("1.0.0")
async def big_task_v1(run: Any, input: Any) -> Any:
    return await blow_up.start(run, input)


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
async def srv(db_url: str) -> AsyncIterator[Server]:
    instance = server(db=database(db_url), opts={"poll_interval_ms": 200})
    await instance.runtime.start()
    yield instance
    await instance.close()


def start_body(input_text: str) -> bytes:
    return (
        '{"name":"echo","version_id":"1.0.0","input_hash":"h","options":{},"input":' + input_text + "}"
    ).encode()


async def assert_namespace_still_works(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Lists, reads and claims in the default namespace answer 200 (the refused value broke nothing)."""
    listed = await http.get("/api/v1/runs", params={"include_values": "1"})
    assert listed.status_code == 200, listed.text
    for run in listed.json()["runs"]:
        assert (await http.get(f"/api/v1/runs/{run['id']}")).status_code == 200
    claim = await http.post(
        "/api/v1/worker/claim",
        json={"worker_id": "w", "workflows": [["echo", "1.0.0"]], "shards": None, "limit": 10},
    )
    assert claim.status_code == 200, claim.text
    runs: list[dict[str, Any]] = listed.json()["runs"]
    return runs


@pytest.mark.parametrize("depth", [MAX_VALUE_DEPTH + 1, 600, 5000])
async def test_a_run_input_nested_too_deep_is_refused_with_400_and_nothing_is_stored(
    srv: Server, depth: int
) -> None:
    async with raw_http(srv, {"content-type": "application/json"}) as http:
        response = await http.post("/api/v1/runs", content=start_body(nested_text(depth)))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] in ("ValueLimitError", "InvalidRequestError")
        assert str(MAX_VALUE_DEPTH) in error["message"] or "deep" in error["message"]
        assert await assert_namespace_still_works(http) == []


async def test_a_value_at_the_depth_limit_is_accepted_and_read_back(srv: Server) -> None:
    async with raw_http(srv, {"content-type": "application/json"}) as http:
        response = await http.post("/api/v1/runs", content=start_body(nested_text(MAX_VALUE_DEPTH)))
        assert response.status_code == 200, response.text
        (run,) = await assert_namespace_still_works(http)
    expected: Any = []
    for _ in range(MAX_VALUE_DEPTH - 1):
        expected = [expected]
    assert run["input"] == expected


async def test_event_data_nested_too_deep_is_refused_and_the_run_keeps_working(srv: Server) -> None:
    async with raw_http(srv, {"content-type": "application/json"}) as http:
        started = await http.post("/api/v1/runs", content=start_body('"wait"'))
        run_id = started.json()["id"]
        response = await http.post(
            f"/api/v1/runs/{run_id}/events/poke", content=('{"data":' + nested_text(600) + "}").encode()
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["data"]["limit"] == "depth"
        assert (await http.get(f"/api/v1/runs/{run_id}/history")).json()["events"] == []
        await assert_namespace_still_works(http)


async def test_the_size_limit_names_the_value_the_limit_and_the_size(srv: Server) -> None:
    async with raw_http(srv) as http:
        response = await http.post(
            "/api/v1/runs",
            json={
                "name": "echo",
                "version_id": "1.0.0",
                "input_hash": "h",
                "options": {},
                "input": OVER_SIZE,
            },
        )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "ValueLimitError"
    assert error["data"]["limit"] == "size" and error["data"]["maximum"] == MAX_VALUE_BYTES
    assert error["data"]["actual"] == MAX_VALUE_BYTES + 3
    assert "input of the run" in error["message"]


async def test_the_client_refuses_an_input_over_a_limit_before_sending_it(
    transport_env: TransportEnv,
) -> None:
    with pytest.raises(ValueLimitError, match="input of workflow 'echo'") as too_large:
        await echo_v1.start(transport_env.client, OVER_SIZE)
    with pytest.raises(ValueLimitError, match="levels deep") as too_deep:
        await echo_v1.start(transport_env.client, nested(MAX_VALUE_DEPTH + 1))

    assert too_large.value.limit == "size" and too_deep.value.limit == "depth"
    assert (await transport_env.client.list_runs()).runs == []


async def test_event_data_over_the_size_limit_is_refused_by_the_client(transport_env: TransportEnv) -> None:
    handle = await echo_v1.start(transport_env.client, "wait")
    with pytest.raises(ValueLimitError, match="data of event 'poke'"):
        await handle.events.poke.send(OVER_SIZE)
    assert (await transport_env.client.transport.get_history(handle.id)).events == []


async def test_a_workflow_output_over_the_size_limit_fails_the_run_with_the_size_error(
    transport_env: TransportEnv,
) -> None:
    await transport_env.start_worker(echo_v1)
    handle = await echo_v1.start(transport_env.client, "too large")

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success, handle.run.state
    error = handle.run.state.error or {}
    assert error["type"] == "ValueLimitError"
    assert "output of run" in error["message"] and f"{MAX_VALUE_BYTES:,}" in error["message"]
    assert handle.run.attempts == 1


async def test_a_task_output_over_the_size_limit_fails_the_run_with_the_size_error(
    transport_env: TransportEnv,
) -> None:
    await transport_env.start_worker(big_task_v1)
    handle = await big_task_v1.start(transport_env.client, 1)

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success
    assert (handle.run.state.error or {})["type"] == "ValueLimitError"


async def test_an_outcome_the_server_refuses_fails_the_run_instead_of_stranding_it(srv: Server) -> None:
    """A worker whose client skipped the checks (or a newer limit on the server): the finish is refused
    with a 400, and the worker fails the run with that refusal instead of dropping it."""
    async with raw_http(srv) as http:
        started = await http.post(
            "/api/v1/runs",
            json={"name": "echo", "version_id": "1.0.0", "input_hash": "h", "options": {}, "input": 1},
        )
        run_id = started.json()["id"]
        (claimed,) = (
            await http.post(
                "/api/v1/worker/claim",
                json={"worker_id": "w", "workflows": [["echo", "1.0.0"]], "shards": None, "limit": 1},
            )
        ).json()["claimed"]
        finish = {
            "run_id": run_id,
            "claim_token": claimed["claim_token"],
            "expected_revision": claimed["run"]["revision"],
        }
        refused = await http.post(
            "/api/v1/worker/finish", json={**finish, "kind": "complete", "output": OVER_SIZE}
        )
        assert refused.status_code == 400
        assert (await http.get(f"/api/v1/runs/{run_id}")).json()["state"]["status"] == "running"
        failed = await http.post(
            "/api/v1/worker/finish",
            json={**finish, "kind": "fail", "error": {"type": "ValueLimitError", "message": "too large"}},
        )
    assert failed.status_code == 200, failed.text
    assert failed.json()["state"]["status"] == "failed"


async def test_a_claim_after_a_refused_value_hands_out_only_sound_runs(transport_env: TransportEnv) -> None:
    handle = await echo_v1.start(transport_env.client, {"fine": True})
    with pytest.raises(ValueLimitError):
        await echo_v1.start(transport_env.client, nested(MAX_VALUE_DEPTH + 5))

    claimed = await transport_env.client.transport.claim(
        ClaimRequest(worker_id="w", workflows=[("echo", "1.0.0")], shards=None, limit=10)
    )

    assert [item.run.id for item in claimed] == [handle.id]
    assert claimed[0].run.status is RunStatus.RUNNING
