"""What start options do to the run they create: trigger (delayed or at a time), retry override, shard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiki import RunStatus, task, workflow
from aiki.execution.task_runner import task_address
from tests.conftest import Env
from tests.integration.run_watch import until

failures_left: list[int] = []
greeter = workflow(name="greeter")


@greeter.v("1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 1_000}})
async def greeter_v1(run: Any, input: Any) -> str:
    if failures_left and failures_left[0] > 0:
        failures_left[0] -= 1
        raise RuntimeError("not yet")
    return f"hello {input}"


async def test_a_delayed_start_stays_scheduled_until_its_time_then_runs(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(greeter_v1)
    started_at_ms = fake_env.clock.now_ms()

    handle = await greeter_v1.with_().opt("trigger", {"delay": {"minutes": 5}}).start(fake_env.client, "ada")

    assert handle.run.status is RunStatus.SCHEDULED
    assert handle.run.state.scheduled_at_ms == started_at_ms + 300_000
    fake_env.clock.advance(299_999)
    assert await fake_env.server.runtime.tick() == 0
    assert (await handle.refresh()).status is RunStatus.SCHEDULED
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "hello ada"


async def test_a_start_at_a_time_is_scheduled_for_that_time(fake_env: Env) -> None:
    assert fake_env.clock is not None
    at_ms = fake_env.clock.now_ms() + 60_000
    at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)

    handle = await greeter_v1.with_().opt("trigger", {"at": at}).start(fake_env.client, "bob")

    assert handle.run.status is RunStatus.SCHEDULED
    assert handle.run.state.scheduled_at_ms == at_ms


async def test_a_start_at_a_time_already_past_is_queued_at_once(fake_env: Env) -> None:
    assert fake_env.clock is not None
    past = datetime.fromtimestamp((fake_env.clock.now_ms() - 60_000) / 1000, tz=UTC)

    handle = await greeter_v1.with_().opt("trigger", {"at": past}).start(fake_env.client, "cy")

    assert handle.run.status is RunStatus.QUEUED


async def test_the_retry_option_overrides_the_version_retry_for_that_run(env: Env) -> None:
    failures_left[:] = [1]
    await env.start_worker(greeter_v1)

    handle = await greeter_v1.with_().opt("retry", {"type": "never"}).start(env.client, "dee")

    assert handle.run.options == {"retry": {"type": "never"}}
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})
    assert result.success and handle.run.attempts == 1


async def test_without_a_retry_option_the_run_keeps_the_version_retry(fake_env: Env) -> None:
    failures_left[:] = [1]
    await fake_env.start_worker(greeter_v1)

    handle = await greeter_v1.start(fake_env.client, "eve")

    assert handle.run.options == {"retry": {"type": "fixed", "max_attempts": 3, "delay_ms": 1_000}}
    assert (await until(handle, RunStatus.AWAITING_RETRY)).state.retry_kind == "workflow"


async def test_the_shard_option_is_stored_on_the_run(env: Env) -> None:
    handle = await greeter_v1.with_().opt("shard", "eu-west").start(env.client, "fay")
    assert (await handle.refresh()).shard == "eu-west"


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
    assert pong.state is not None and pong.state.output == "pong"
    result = await second.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == "from a task without parameters"
    assert first.run.input is None
    history = await env.client.transport.get_history(second.id)
    assert [(entry.name, entry.address) for entry in history.tasks] == [
        ("no-input", task_address("no-input", None))
    ]
