"""Starting runs: reference ids with both conflict policies, triggers (a delay or a time), the retry and
shard options, and handlers without parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiki import InvalidOptionError, RunStatus, WorkflowRunConflictError, WorkflowVersion, task, workflow
from aiki.execution.task_runner import task_address
from tests.conftest import Env
from tests.integration.run_watch import until

greet = workflow(name="greet")


@greet.v("1.0.0")
async def greet_v1(run: Any, input: Any) -> str:
    return f"hello {input}"


@greet.v("2.0.0")
async def greet_v2(run: Any, input: Any) -> str:
    return f"hi {input}"


# --- reference ids --------------------------------------------------------------------------------------


async def test_a_second_start_with_the_same_reference_id_and_input_returns_the_first_run(
    fake_env: Env,
) -> None:
    first = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")

    second = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")

    assert second.id == first.id
    assert len(await fake_env.client.list_runs(workflow="greet")) == 1


async def test_a_reference_id_reused_with_another_input_is_a_conflict_by_default(fake_env: Env) -> None:
    first = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")

    with pytest.raises(WorkflowRunConflictError, match="return_existing") as raised:
        await (
            greet_v1.with_()
            .opt("reference", {"id": "greet-ana", "conflict_policy": "error"})
            .start(fake_env.client, "bob")
        )

    assert raised.value.existing_run_id == first.id
    assert raised.value.reference_id == "greet-ana"
    assert len(await fake_env.client.list_runs(workflow="greet")) == 1


async def test_return_existing_gives_the_existing_run_even_for_another_input(fake_env: Env) -> None:
    first = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")

    again = (
        await greet_v1.with_()
        .opt("reference", {"id": "greet-ana", "conflict_policy": "return_existing"})
        .start(fake_env.client, "bob")
    )

    assert again.id == first.id
    assert again.run.input == "ana"


async def test_a_reference_id_returns_the_existing_run_even_after_it_finished(fake_env: Env) -> None:
    await fake_env.start_worker(greet_v1)
    first = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")
    await first.wait_for_status("completed", timeout={"seconds": 15})

    again = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")

    assert again.id == first.id
    assert again.status is RunStatus.COMPLETED


async def test_reference_ids_are_scoped_to_one_version(fake_env: Env) -> None:
    first = await greet_v1.with_().opt("reference.id", "greet-ana").start(fake_env.client, "ana")

    other = await greet_v2.with_().opt("reference.id", "greet-ana").start(fake_env.client, "bob")

    assert other.id != first.id


# --- triggers -------------------------------------------------------------------------------------------


async def test_a_start_delayed_by_a_duration_stays_scheduled_until_it_is_due(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(greet_v1)
    started_at_ms = fake_env.clock.now_ms()

    handle = await greet_v1.with_().opt("trigger", {"delay": {"minutes": 5}}).start(fake_env.client, "later")

    assert handle.status is RunStatus.SCHEDULED
    assert handle.run.state.scheduled_at_ms == started_at_ms + 300_000
    fake_env.clock.advance(299_999)
    assert await fake_env.server.runtime.tick() == 0
    assert (await handle.refresh()).status is RunStatus.SCHEDULED
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == "hello later"
    reasons = [(step.to_status, step.reason) for step in await fake_env.client.get_timeline(handle.id)]
    assert reasons[:2] == [("scheduled", "new"), ("queued", "due")]


async def test_a_start_at_a_time_stays_scheduled_until_that_time(fake_env: Env) -> None:
    assert fake_env.clock is not None
    due = datetime.fromtimestamp(fake_env.clock.now_ms() / 1000, UTC) + timedelta(hours=2)

    handle = await greet_v1.with_().opt("trigger", {"at": due}).start(fake_env.client, "at two")

    assert handle.status is RunStatus.SCHEDULED
    assert handle.run.state.scheduled_at_ms == int(due.timestamp() * 1000)
    fake_env.clock.advance(2 * 3_600_000 - 1)
    assert await fake_env.server.runtime.tick() == 0
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1
    assert (await handle.refresh()).status is RunStatus.QUEUED


async def test_a_start_at_a_time_already_past_is_queued_at_once(fake_env: Env) -> None:
    assert fake_env.clock is not None
    past = datetime.fromtimestamp(fake_env.clock.now_ms() / 1000, UTC) - timedelta(minutes=1)

    handle = await greet_v1.with_().opt("trigger", {"at": past}).start(fake_env.client, "past")

    assert handle.status is RunStatus.QUEUED


@pytest.mark.parametrize(
    ("trigger", "complaint"),
    [
        ({"at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"delay": -1}, "must not be negative"),
        ({"delay": {"weeks": 1}}, "unknown unit 'weeks'"),
        ({"in": {"minutes": 1}}, "'delay'.*'at'"),
        ({"delay": 1, "at": datetime(2030, 1, 1, tzinfo=UTC)}, "'delay'.*'at'"),
    ],
    ids=["naive-datetime", "negative-delay", "unknown-unit", "unknown-key", "both"],
)
def test_a_malformed_trigger_is_rejected_when_the_option_is_set(
    trigger: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidOptionError, match=complaint):
        greet_v1.with_().opt("trigger", trigger)


async def test_a_scheduled_run_can_be_cancelled_before_it_starts(fake_env: Env) -> None:
    assert fake_env.clock is not None
    handle = await greet_v1.with_().opt("trigger", {"delay": {"minutes": 1}}).start(fake_env.client, "never")

    await handle.cancel()

    fake_env.clock.advance(60_000)
    assert await fake_env.server.runtime.tick() == 0
    assert (await handle.refresh()).status is RunStatus.CANCELLED


async def test_a_delayed_start_runs_by_itself_on_the_real_clock(env: Env) -> None:
    await env.start_worker(greet_v1)

    handle = await greet_v1.with_().opt("trigger", {"delay": {"milliseconds": 100}}).start(env.client, "soon")

    assert handle.status is RunStatus.SCHEDULED
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == "hello soon"


# --- retry and shard options ------------------------------------------------------------------------------

VERSION_RETRY = {"type": "fixed", "max_attempts": 3, "delay_ms": 1_000}


def _failing_once() -> WorkflowVersion[Any, str]:
    """A fresh ``flaky@1.0.0`` (retried by its version's policy) whose first attempt fails."""
    attempts: list[int] = []

    @workflow(name="flaky").v("1.0.0", opts={"retry": VERSION_RETRY})
    async def flaky_v1(run: Any, input: Any) -> str:
        attempts.append(run.attempts)
        if len(attempts) == 1:
            raise RuntimeError("not yet")
        return f"hello {input}"

    return flaky_v1


async def test_the_retry_option_overrides_the_version_retry_for_that_run(env: Env) -> None:
    flaky_v1 = _failing_once()
    await env.start_worker(flaky_v1)

    handle = await flaky_v1.with_().opt("retry", {"type": "never"}).start(env.client, "dee")

    assert handle.run.options == {"retry": {"type": "never"}}
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})
    assert result.success and handle.run.attempts == 1


async def test_without_a_retry_option_the_run_keeps_the_version_retry(fake_env: Env) -> None:
    flaky_v1 = _failing_once()
    await fake_env.start_worker(flaky_v1)

    handle = await flaky_v1.start(fake_env.client, "eve")

    assert handle.run.options == {"retry": VERSION_RETRY}
    assert (await until(handle, RunStatus.AWAITING_RETRY)).state.retry_kind == "workflow"


async def test_the_shard_option_is_stored_on_the_run(env: Env) -> None:
    handle = await greet_v1.with_().opt("shard", "eu-west").start(env.client, "fay")
    assert (await handle.refresh()).shard == "eu-west"


# --- handlers without parameters -------------------------------------------------------------------------


@task(name="no-input")
def no_input() -> str:  # a plain def without parameters: called with nothing, in a thread
    return "from a task without parameters"


pinger = workflow(name="pinger")


@pinger.v("1.0.0")
async def pinger_v1() -> str:
    return "pong"


@pinger.v("2.0.0")
async def pinger_v2(run: Any) -> str:
    return str(await no_input.start(run))


async def test_handlers_without_parameters_are_called_without_arguments(env: Env) -> None:
    await env.start_worker(pinger_v1, pinger_v2)
    first = await pinger_v1.start(env.client)
    second = await pinger_v2.start(env.client)

    pong = await first.wait_for_status("completed", timeout={"seconds": 15})
    assert pong.output == "pong"
    result = await second.wait_for_status("completed", timeout={"seconds": 15})
    assert result.output == "from a task without parameters"
    assert first.run.input is None
    history = await env.client.get_history(second.id)
    assert [(entry.name, entry.address) for entry in history.tasks] == [
        ("no-input", task_address("no-input", None))
    ]
