"""Run deadlines: past its deadline a run fails with ``DeadlineExceededError`` from any status that has not
ended (paused included), its unfinished children are cancelled, and a late write of its worker is refused.
A child's deadline is never later than its parent's. Driven on a fake clock: nothing here waits in real
time for a deadline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiki import (
    InvalidOptionError,
    InvalidRequestError,
    InvalidTransitionError,
    RevisionConflictError,
    RunStatus,
    WorkflowRun,
    WorkflowRunHandle,
    event,
    schedule,
    task,
    workflow,
)
from aiki.contract import ClaimRequest, RunOutcome, StartRequest, TaskWrite
from aiki.contract.schedules import ActivateScheduleRequest
from aiki.execution.task_runner import task_address
from tests.conftest import Env
from tests.integration.eventually import eventually
from tests.integration.run_watch import until

MINUTE_MS = 60_000

napper = workflow(name="deadline-napper")


@napper.v("1", events={"go": event()})
async def napper_v1(run: Any, input: dict[str, Any]) -> str:
    if input.get("wait") == "event":
        await run.events.go.wait(timeout={"hours": 2})
    await run.sleep("nap", {"hours": 1})
    return "rested"


@workflow(name="deadline-child").v("1")
async def child_v1(run: Any, input: Any) -> str:
    await run.sleep("child-nap", {"hours": 1})
    return "child rested"


@workflow(name="deadline-parent").v("1", opts={"deadline": {"minutes": 10}})
async def parent_v1(run: Any, input: dict[str, Any]) -> Any:
    starter = child_v1.with_()
    if "child_deadline_minutes" in input:
        starter = starter.opt("deadline", {"minutes": input["child_deadline_minutes"]})
    child = await starter.start_as_child(run, input)
    return (await child.wait_for_status("completed")).output


def _fake(env: Env) -> Any:
    assert env.clock is not None
    return env.clock


async def _pass_deadline(env: Env, handle: WorkflowRunHandle[Any], minutes: int = 10) -> WorkflowRun:
    """Move the fake clock to the run's deadline, fire what is due, and return the run as stored."""
    _fake(env).advance(minutes * MINUTE_MS)
    await env.server.runtime.tick()
    return await handle.refresh()


def _assert_failed_by_deadline(run: WorkflowRun, status: str) -> None:
    assert run.status is RunStatus.FAILED
    assert run.state.reason == "deadline"
    assert run.state.error is not None
    assert run.state.error["type"] == "DeadlineExceededError"
    assert f"passed its deadline (epoch ms {run.deadline_at_ms}) while {status}" in run.state.error["message"]


async def test_a_deadline_that_passes_while_the_run_sleeps_fails_it_and_ends_the_sleep(fake_env: Env) -> None:
    await fake_env.start_worker(napper_v1)
    handle = await napper_v1.with_().opt("deadline", {"minutes": 10}).start(fake_env.client, {})
    assert handle.run.deadline_at_ms == _fake(fake_env).now_ms() + 10 * MINUTE_MS
    await until(handle, RunStatus.SLEEPING)

    _fake(fake_env).advance(10 * MINUTE_MS - 1)
    await fake_env.server.runtime.tick()
    assert (await handle.refresh()).status is RunStatus.SLEEPING

    _fake(fake_env).advance(1)
    await fake_env.server.runtime.tick()
    _assert_failed_by_deadline(await handle.refresh(), "sleeping")
    (sleep,) = (await fake_env.client.get_history(handle.id)).sleeps
    assert sleep.status == "cancelled"
    result = await handle.wait_for_status("completed", timeout={"seconds": 5})
    assert (result.success, result.cause) == (False, "failed")


async def test_a_pause_does_not_stop_the_deadline(fake_env: Env) -> None:
    await fake_env.start_worker(napper_v1)
    handle = await napper_v1.with_().opt("deadline", {"minutes": 10}).start(fake_env.client, {})
    await until(handle, RunStatus.SLEEPING)
    await handle.pause()

    run = await _pass_deadline(fake_env, handle)

    _assert_failed_by_deadline(run, "paused")
    with pytest.raises(InvalidTransitionError):
        await handle.resume()


async def test_a_deadline_fails_a_run_waiting_for_an_event_before_its_wait_times_out(fake_env: Env) -> None:
    await fake_env.start_worker(napper_v1)
    handle = (
        await napper_v1.with_().opt("deadline", {"minutes": 10}).start(fake_env.client, {"wait": "event"})
    )
    await until(handle, RunStatus.AWAITING_EVENT)

    _assert_failed_by_deadline(await _pass_deadline(fake_env, handle), "awaiting_event")


async def test_a_deadline_fails_a_scheduled_run_and_a_queued_run_no_worker_serves(fake_env: Env) -> None:
    later = await (
        napper_v1.with_().opt("trigger", {"delay": {"hours": 1}}).opt("deadline", {"minutes": 10})
    ).start(fake_env.client, {})
    unserved = await napper_v1.with_().opt("deadline", {"minutes": 10}).start(fake_env.client, {"n": 2})
    assert (later.status, unserved.status) == (RunStatus.SCHEDULED, RunStatus.QUEUED)

    _assert_failed_by_deadline(await _pass_deadline(fake_env, later), "scheduled")
    _assert_failed_by_deadline(await unserved.refresh(), "queued")


async def test_a_deadline_fails_the_parent_and_cancels_its_children(fake_env: Env) -> None:
    await fake_env.start_worker(parent_v1, child_v1)
    parent = await parent_v1.start(fake_env.client, {})
    waiting = await until(parent, RunStatus.AWAITING_CHILD_WORKFLOW)
    assert waiting.state.child_run_id is not None
    child = await child_v1.get_handle(fake_env.client, waiting.state.child_run_id)
    await until(child, RunStatus.SLEEPING)
    assert child.run.deadline_at_ms == parent.run.deadline_at_ms

    _assert_failed_by_deadline(await _pass_deadline(fake_env, parent), "awaiting_child_workflow")
    child_run = await child.refresh()
    assert child_run.status is RunStatus.CANCELLED
    assert child_run.state.reason == f"parent run {parent.id} passed its deadline"
    (sleep,) = (await fake_env.client.get_history(child.id)).sleeps
    assert sleep.status == "cancelled"


@pytest.mark.parametrize(("own_minutes", "expected_minutes"), [(60, 10), (3, 3)])
async def test_a_childs_deadline_is_its_own_but_never_later_than_its_parents(
    fake_env: Env, own_minutes: int, expected_minutes: int
) -> None:
    await fake_env.start_worker(parent_v1, child_v1)
    started_at_ms = _fake(fake_env).now_ms()
    parent = await parent_v1.start(fake_env.client, {"child_deadline_minutes": own_minutes})
    waiting = await until(parent, RunStatus.AWAITING_CHILD_WORKFLOW)
    assert waiting.state.child_run_id is not None
    child = await fake_env.client.get_run(waiting.state.child_run_id)

    assert parent.run.deadline_at_ms == started_at_ms + 10 * MINUTE_MS
    assert child.deadline_at_ms == started_at_ms + expected_minutes * MINUTE_MS


async def test_a_start_option_deadline_overrides_the_versions(fake_env: Env) -> None:
    now_ms = _fake(fake_env).now_ms()
    default = await parent_v1.start(fake_env.client, {"n": 1})
    shorter = await parent_v1.with_().opt("deadline", 30_000).start(fake_env.client, {"n": 2})
    without = await napper_v1.start(fake_env.client, {})

    assert default.run.deadline_at_ms == now_ms + 10 * MINUTE_MS
    assert default.run.options["deadline_ms"] == 10 * MINUTE_MS
    assert shorter.run.deadline_at_ms == now_ms + 30_000
    assert without.run.deadline_at_ms is None
    assert "deadline_ms" not in without.run.options


async def test_a_running_run_fails_at_its_deadline_and_its_late_task_result_is_refused(fake_env: Env) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    @task(name="slow-step")
    async def slow_step() -> str:
        entered.set()
        await release.wait()
        return "late"

    @workflow(name="deadline-runner").v("1")
    async def runner_v1(run: Any) -> str:
        return await slow_step.start(run)

    running = await fake_env.start_worker(runner_v1)
    handle = await runner_v1.with_().opt("deadline", {"minutes": 10}).start(fake_env.client)
    await asyncio.wait_for(entered.wait(), 15)

    run = await _pass_deadline(fake_env, handle)
    release.set()
    await eventually(lambda: not running.active_run_ids, "the worker let go of the failed run")

    _assert_failed_by_deadline(run, "running")
    assert (await handle.refresh()).revision == run.revision
    assert (await fake_env.client.get_history(handle.id)).tasks == []


async def test_a_refreshed_claim_keeps_the_deadline_and_the_stale_writer_is_fenced(fake_env: Env) -> None:
    handle = await napper_v1.with_().opt("deadline", {"minutes": 10}).start(fake_env.client, {})
    request = ClaimRequest(worker_id="w", workflows=[("deadline-napper", "1")], shards=None, limit=1)
    (claimed,) = await fake_env.client.transport.claim(request)
    _fake(fake_env).advance(9 * MINUTE_MS)
    assert await fake_env.client.transport.refresh_claims([(handle.id, claimed.claim_token)]) == []

    run = await _pass_deadline(fake_env, handle, 1)

    _assert_failed_by_deadline(run, "running")
    write = TaskWrite(
        run_id=handle.id,
        claim_token=claimed.claim_token,
        name="charge",
        address=task_address("charge", 1),
        occurrence=0,
        status="completed",
        attempts=1,
        input=1,
        output=2,
    )
    with pytest.raises(RevisionConflictError):
        await fake_env.client.transport.record_task(write)
    outcome = RunOutcome(
        run_id=handle.id,
        claim_token=claimed.claim_token,
        expected_revision=claimed.run.revision,
        kind="complete",
        output="too late",
    )
    with pytest.raises(RevisionConflictError):
        await fake_env.client.transport.finish(outcome)
    assert (await handle.refresh()).status is RunStatus.FAILED


async def test_a_stored_deadline_that_is_not_a_positive_whole_number_of_ms_is_refused(fake_env: Env) -> None:
    request = StartRequest(
        name="deadline-napper", version_id="1", input={}, input_hash="h", options={"deadline_ms": "soon"}
    )
    schedule = ActivateScheduleRequest(
        workflow_name="deadline-napper",
        version_id="1",
        timing={"type": "interval", "every_ms": MINUTE_MS},
        overlap_policy="allow",
        input={},
        run_options={"deadline_ms": 0},
    )
    with pytest.raises(InvalidRequestError, match=r"options\.deadline_ms"):
        await fake_env.server.runs.start("default", request)
    with pytest.raises(InvalidRequestError, match=r"run_options\.deadline_ms"):
        await fake_env.server.schedules.activate("default", schedule)


async def test_each_run_of_a_schedule_gets_the_versions_deadline_from_its_own_start(fake_env: Env) -> None:
    hourly = schedule(type="interval", every={"hours": 1})
    await hourly.activate(fake_env.client, parent_v1, {})
    clock = _fake(fake_env)
    clock.advance(60 * MINUTE_MS)
    await fake_env.server.runtime.tick()

    (run,) = (await fake_env.client.list_runs(workflow="deadline-parent")).runs
    assert run.deadline_at_ms == clock.now_ms() + 10 * MINUTE_MS


BAD_DEADLINES = [0, -5, "ten minutes", {"fortnights": 1}]


@pytest.mark.parametrize("value", [*BAD_DEADLINES, None])
def test_a_start_deadline_that_is_not_a_positive_duration_is_refused_at_once(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match="option 'deadline'"):
        napper_v1.with_().opt("deadline", value)


@pytest.mark.parametrize("value", BAD_DEADLINES)
def test_a_version_deadline_that_is_not_a_positive_duration_is_refused_at_once(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match="deadline of workflow 'bad-deadline'"):
        workflow(name="bad-deadline").v("1", handler=napper_v1.handler, opts={"deadline": value})
