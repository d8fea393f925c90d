"""Mistakes a newcomer makes with running code: a run that fails loudly with an error naming the mistake and
its fix, or an error at the call that made the mistake. Workflows are defined per test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from aiki import (
    ConfigurationError,
    InvalidTransitionError,
    RunStatus,
    WorkflowVersion,
    event,
    schedule,
    task,
    worker,
    workflow,
)
from tests.conftest import Env
from tests.integration.run_watch import until


async def _failure(env: Env, version: WorkflowVersion, input: Any = None) -> dict[str, Any]:
    """Run ``version`` to its end; the error it failed with (the test fails if it did not fail)."""
    await env.start_worker(version)
    handle = await version.start(env.client, input)
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})
    assert result.success, result
    assert result.state is not None and result.state.error is not None
    assert handle.run.attempts == 1  # a mistake in the code is not retried, whatever the retry policy
    return result.state.error


async def test_a_handler_returning_an_unawaited_task_start_fails_the_run_asking_to_await_it(env: Env) -> None:
    ran: list[str] = []

    @task(name="charge")
    async def charge(input: Any) -> str:
        ran.append(input)
        return "charged"

    @workflow(name="forgetful").v(
        "1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 1}}
    )
    async def forgetful_v1(run: Any, input: Any) -> Any:
        return charge.start(run, input)  # the missing await

    error = await _failure(env, forgetful_v1, "order-1")

    assert error["type"] == "TypeError"
    assert "returned an un-awaited coroutine" in error["message"]
    assert "`return await charge.start(run, input)`" in error["message"]
    assert ran == []
    assert (await env.client.get_history((await env.client.list_runs()).runs[0].id)).tasks == []


async def test_a_sleep_without_a_name_fails_the_run_showing_the_name_first(env: Env) -> None:
    @workflow(name="sleepy").v("1.0.0")
    async def sleepy_v1(run: Any, input: Any) -> None:
        await run.sleep({"seconds": 1})

    error = await _failure(env, sleepy_v1)

    assert error["type"] == "InvalidOptionError"
    assert 'run.sleep takes a name, then the duration: run.sleep("name", {"seconds": 1})' in error["message"]


async def test_a_sleep_without_a_duration_fails_the_run_asking_for_one(env: Env) -> None:
    @workflow(name="sleepy").v("1.0.0")
    async def sleepy_v1(run: Any, input: Any) -> None:
        await run.sleep("cool-down")

    error = await _failure(env, sleepy_v1)

    assert "run.sleep('cool-down') needs a duration too" in error["message"]


async def _noop(run: Any, input: Any) -> None:
    return None


async def test_starting_a_worker_with_a_server_instead_of_a_client_raises_showing_how_to_make_one(
    env: Env,
) -> None:
    version = workflow(name="noop").v("1.0.0", handler=_noop)

    with pytest.raises(ConfigurationError) as caught:
        await worker(workflows=[version]).start(env.server)  # type: ignore[arg-type]

    assert caught.value.message.startswith(
        "worker(...).start() takes a client, got <aiki.server.server.Server"
    )
    assert "aiki.client(server=srv)" in caught.value.message


async def test_every_call_that_takes_a_client_refuses_a_server_the_same_way(env: Env) -> None:
    version = workflow(name="noop").v("1.0.0", handler=_noop)
    hourly = schedule(type="interval", every={"hours": 1})
    srv: Any = env.server
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("start of workflow 'noop' version '1.0.0'", lambda: version.start(srv)),
        ("start of workflow 'noop' version '1.0.0'", lambda: version.with_().opt("shard", "eu").start(srv)),
        ("get_handle of workflow 'noop' version '1.0.0'", lambda: version.get_handle(srv, "run-1")),
        ("schedule.activate()", lambda: hourly.activate(srv, version)),
    ]
    for call, attempt in calls:
        with pytest.raises(ConfigurationError) as caught:
            await attempt()
        assert caught.value.message.startswith(f"{call} takes a client, got <aiki.server.server.Server")
        assert "aiki.client(server=srv)" in caught.value.message
    assert (await env.client.list_runs()).runs == []
    assert await env.client.list_schedules() == []


async def test_starting_a_run_with_the_handlers_run_fails_the_run_pointing_to_start_as_child(
    env: Env,
) -> None:
    other_v1 = workflow(name="other").v("1.0.0", handler=_noop)

    @workflow(name="starter").v("1.0.0")
    async def starter_v1(run: Any, input: Any) -> None:
        await other_v1.start(run, input)

    error = await _failure(env, starter_v1)

    assert error["type"] == "ConfigurationError"
    assert "got the run of a workflow handler" in error["message"]
    assert "await version.start_as_child(run, input)" in error["message"]


async def test_resuming_a_running_run_says_only_a_paused_run_can_be_resumed(env: Env) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    @task(name="slow")
    async def slow() -> str:
        entered.set()
        await release.wait()
        return "done"

    @workflow(name="busy").v("1.0.0")
    async def busy_v1(run: Any) -> str:
        return await slow.start(run)

    await env.start_worker(busy_v1)
    handle = await busy_v1.start(env.client)
    await asyncio.wait_for(entered.wait(), 15)

    with pytest.raises(InvalidTransitionError) as caught:
        await handle.resume()

    release.set()
    assert caught.value.message.endswith("Only a paused run can be resumed; this one is running.")
    assert "its status before the pause" not in caught.value.message
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success


class ReportV1(BaseModel):
    pages: int


class ReportV2(BaseModel):
    pages: int
    author: str  # a new required field: outputs recorded under ReportV1 lack it


def _deployment(report: type[BaseModel]) -> tuple[WorkflowVersion, WorkflowVersion]:
    """A child ``report@1.0.0`` whose output schema is ``report``, and a parent that waits for it, then
    for the event ``go``: another call is another deployment of the same two versions."""

    @workflow(name="report").v("1.0.0", schema={"output": report})
    async def report_v1(run: Any) -> dict[str, Any]:
        return {"pages": 3}

    @workflow(name="publisher").v("1.0.0", events={"go": event()})
    async def publisher_v1(run: Any) -> Any:
        child = await report_v1.start_as_child(run)
        finished = await child.wait_for_status("completed")
        await run.events.go.wait()
        return finished.success

    return publisher_v1, report_v1


async def test_a_redeploy_that_breaks_a_childs_recorded_output_fails_the_parent_asking_for_a_new_version(
    env: Env,
) -> None:
    publisher_v1, report_v1 = _deployment(ReportV1)
    first = await env.start_worker(publisher_v1, report_v1)
    handle = await publisher_v1.start(env.client)
    await until(handle, RunStatus.AWAITING_EVENT)
    await first.stop()

    await env.start_worker(*_deployment(ReportV2))
    await handle.events.go.send()
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and result.state is not None and result.state.error is not None
    message = result.state.error["message"]
    assert result.state.error["type"] == "SchemaValidationError"
    assert message.startswith("Invalid recorded output of workflow 'report' version '1.0.0' (child run ")
    assert "author" in message
    assert "deploy the change as a new workflow version" in message
