"""The one deadline loop: one due time per run covers every timer, and a write that sets an earlier deadline
wakes the loop at once (DESIGN decision 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from aiki import FakeClock, RunStatus, client, database, event, server, workflow
from aiki.contract import ClaimRequest
from aiki.server.engine.runtime import Runtime
from tests.conftest import Env
from tests.integration.run_watch import until

#: So long that only a wake-up by a write, never the loop's own polling, can explain a prompt timer.
NEVER_POLL_MS = 600_000


@pytest.fixture
async def patient_env(db_url: str) -> AsyncIterator[Env]:
    """A server on the real clock whose timer loop polls only every ten minutes."""
    srv = server(db=database(db_url), opts={"poll_interval_ms": NEVER_POLL_MS})
    await srv.runtime.start()
    environment = Env(srv, client(server=srv), None)
    yield environment
    await environment.close()


@pytest.fixture
async def patient_fake_env(db_url: str) -> AsyncIterator[Env]:
    """A server on a fake clock whose timer loop runs (and polls only every ten minutes)."""
    clock = FakeClock()
    srv = server(db=database(db_url), clock=clock, opts={"poll_interval_ms": NEVER_POLL_MS})
    await srv.runtime.start()
    environment = Env(srv, client(server=srv), clock)
    yield environment
    await environment.close()


async def _loop_sleeps_toward(runtime: Runtime, due_at_ms: int | None) -> None:
    """Wait until the loop has gone to sleep toward ``due_at_ms`` (a private field: there is no other way
    to observe what the loop sleeps toward)."""
    async with asyncio.timeout(15):
        while runtime._sleeping_until != due_at_ms:  # noqa: ASYNC110 -- the loop signals nothing to await
            await asyncio.sleep(0.005)


async def _loop_sleeps_past(runtime: Runtime, now_ms: int) -> None:
    """Wait until the loop has gone to sleep toward a time after ``now_ms`` (nothing is due before)."""
    async with asyncio.timeout(15):
        while (runtime._sleeping_until or now_ms) <= now_ms:  # noqa: ASYNC110 -- as above
            await asyncio.sleep(0.005)


nap = workflow(name="nap")


@nap.v("1.0.0", events={"never": event()})
async def nap_v1(run: Any, input: Any) -> str:
    if input["kind"] == "sleep":
        await run.sleep("nap", input["ms"])
    elif input["kind"] == "event-timeout":
        assert (await run.events.never.wait(timeout=input["ms"])).timeout
    return "done"


async def _far_sleeper(env: Env) -> int:
    """Start a run that sleeps 10 s and wait until the loop sleeps toward its wake-up."""
    far = await nap_v1.start(env.client, {"kind": "sleep", "ms": 10_000})
    wake_at_ms = (await until(far, RunStatus.SLEEPING)).state.wake_at_ms
    assert wake_at_ms is not None
    await _loop_sleeps_toward(env.server.runtime, wake_at_ms)
    return wake_at_ms


async def _sleep_50_ms(env: Env) -> Any:
    return await nap_v1.start(env.client, {"kind": "sleep", "ms": 50})


async def _time_out_in_50_ms(env: Env) -> Any:
    return await nap_v1.start(env.client, {"kind": "event-timeout", "ms": 50})


async def _start_in_50_ms(env: Env) -> Any:
    return await nap_v1.with_().opt("trigger", {"delay": 50}).start(env.client, {"kind": "none"})


EARLIER_DEADLINES: dict[str, Callable[[Env], Awaitable[Any]]] = {
    "sleep": _sleep_50_ms,
    "event-timeout": _time_out_in_50_ms,
    "delayed-start": _start_in_50_ms,
}


@pytest.mark.parametrize("kind", list(EARLIER_DEADLINES))
async def test_a_50_ms_deadline_set_while_the_loop_sleeps_toward_10_s_fires_within_seconds_on_the_real_clock(
    patient_env: Env, kind: str
) -> None:
    await patient_env.start_worker(nap_v1, poll_interval_ms=NEVER_POLL_MS)
    await _far_sleeper(patient_env)

    handle = await EARLIER_DEADLINES[kind](patient_env)

    # Without the wake-up the loop would sleep on for ~10 s; the margin is for a loaded machine.
    result = await handle.wait_for_status("completed", timeout={"seconds": 5})
    assert result.success, result


@pytest.mark.parametrize("kind", list(EARLIER_DEADLINES))
async def test_a_write_setting_an_earlier_deadline_wakes_the_loop_on_the_fake_clock(
    patient_fake_env: Env, kind: str
) -> None:
    assert patient_fake_env.clock is not None
    await patient_fake_env.start_worker(nap_v1)
    await _far_sleeper(patient_fake_env)

    handle = await EARLIER_DEADLINES[kind](patient_fake_env)
    due_at_ms = patient_fake_env.clock.now_ms() + 50
    await _loop_sleeps_toward(patient_fake_env.server.runtime, due_at_ms)
    patient_fake_env.clock.advance(50)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success, result


async def test_a_write_setting_a_later_deadline_leaves_the_loop_asleep(patient_fake_env: Env) -> None:
    assert patient_fake_env.clock is not None
    await patient_fake_env.start_worker(nap_v1)
    wake_at_ms = await _far_sleeper(patient_fake_env)

    later = await nap_v1.start(patient_fake_env.client, {"kind": "sleep", "ms": 20_000})
    await until(later, RunStatus.SLEEPING)

    assert patient_fake_env.server.runtime._sleeping_until == wake_at_ms


async def test_resuming_a_run_whose_deadline_passed_while_paused_wakes_the_loop_at_once(
    patient_fake_env: Env,
) -> None:
    assert patient_fake_env.clock is not None
    await patient_fake_env.start_worker(nap_v1)
    handle = await nap_v1.start(patient_fake_env.client, {"kind": "sleep", "ms": 5_000})
    await until(handle, RunStatus.SLEEPING)
    await handle.pause()
    patient_fake_env.clock.advance(10_000)
    # Past the wake-up it was sleeping toward, the loop finds nothing due and sleeps for a poll interval.
    await _loop_sleeps_past(patient_fake_env.server.runtime, patient_fake_env.clock.now_ms())

    await handle.resume()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success, result


flaky = workflow(name="flaky")


@flaky.v("1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 2, "delay_ms": 4_000}})
async def flaky_v1(run: Any, input: Any) -> None:
    raise ConnectionError("always")


parent = workflow(name="parent")


@parent.v("1.0.0")
async def parent_v1(run: Any, input: Any) -> None:
    kid = await nap_v1.start_as_child(run, {"kind": "sleep", "ms": 3_600_000})
    await kid.wait_for_status("completed", timeout=2_000)


async def test_one_due_time_per_run_drives_every_kind_of_timer_in_time_order(fake_env: Env) -> None:
    assert fake_env.clock is not None
    clock = fake_env.clock
    start_ms = clock.now_ms()
    worker = await fake_env.start_worker(nap_v1, flaky_v1, parent_v1)
    scheduled = await nap_v1.with_().opt("trigger", {"delay": 5_000}).start(fake_env.client, {"kind": "none"})
    sleeper = await nap_v1.start(fake_env.client, {"kind": "sleep", "ms": 3_000})
    waiter = await nap_v1.start(fake_env.client, {"kind": "event-timeout", "ms": 1_000})
    retrying = await flaky_v1.start(fake_env.client)
    guardian = await parent_v1.start(fake_env.client)
    for handle, status in [
        (sleeper, RunStatus.SLEEPING),
        (waiter, RunStatus.AWAITING_EVENT),
        (retrying, RunStatus.AWAITING_RETRY),
        (guardian, RunStatus.AWAITING_CHILD_WORKFLOW),
    ]:
        await until(handle, status)
    child_run_id = (await fake_env.client.transport.get_history(guardian.id)).children[0].child_run_id
    await until(await nap_v1.get_handle(fake_env.client, child_run_id), RunStatus.SLEEPING)
    await worker.stop()
    # A claim whose worker vanished expires after the claim timeout (90 s by default).
    orphan = await nap_v1.start(fake_env.client, {"kind": "none"})
    claimed = await fake_env.client.transport.claim(
        ClaimRequest(worker_id="vanished", workflows=[("nap", "1.0.0")], shards=None, limit=1)
    )
    assert [item.run.id for item in claimed] == [orphan.id]

    fired = []
    while (due_at_ms := await fake_env.server.runtime.next_deadline()) is not None:
        clock.set(due_at_ms)
        assert await fake_env.server.runtime.tick() == 1
        for name, handle in [
            ("event timeout", waiter),
            ("child wait timeout", guardian),
            ("sleep", sleeper),
            ("retry", retrying),
            ("scheduled start", scheduled),
            ("claim expiry", orphan),
        ]:
            run = await handle.refresh()
            if run.status is RunStatus.QUEUED and name not in [entry[0] for entry in fired]:
                fired.append((name, due_at_ms - start_ms, run.state.reason))

    # The sleeping child's wake-up (one hour) is the last deadline, and it fires too.
    assert fired == [
        ("event timeout", 1_000, "event_wait_timeout"),
        ("child wait timeout", 2_000, "child_workflow_wait_timeout"),
        ("sleep", 3_000, "wakeup"),
        ("retry", 4_000, "retry"),
        ("scheduled start", 5_000, "due"),
        ("claim expiry", 90_000, "recovery"),
    ]


async def test_a_tick_fires_every_due_run_even_beyond_one_batch(db_url: str) -> None:
    clock = FakeClock()
    srv = server(db=database(db_url), clock=clock, opts={"timer_batch_size": 3})
    c = client(server=srv)
    try:
        handles = [
            await nap_v1.with_().opt("trigger", {"delay": 1_000}).start(c, {"kind": "none", "n": n})
            for n in range(7)
        ]
        clock.advance(1_000)

        assert await srv.runtime.tick() == 7

        assert {(await handle.refresh()).status for handle in handles} == {RunStatus.QUEUED}
        # What is left is the time the queued runs would stall, if no worker claimed them.
        assert await srv.runtime.next_deadline() == clock.now_ms() + srv.settings.stall_after_ms
    finally:
        await srv.close()
