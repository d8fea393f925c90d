"""``aiki.testing.environment``: time skips over sleeps, recorded retries, event timeouts, child waits and
schedules while a test waits for a run to end; it stands still otherwise, and without time skipping."""

from __future__ import annotations

from typing import Any

import pytest

from aiki import RunStatus, WorkflowVersion, event, schedule, task, workflow
from aiki.testing import environment
from tests.integration.run_watch import awaiting_event, until

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
#: the test waits at most this long in real time for what the environment does in milliseconds
PATIENCE = {"seconds": 30}


@pytest.fixture
def db(db_url: str) -> str:
    """The environment's database: a SQLite file or a PostgreSQL database of this test."""
    return db_url


def offsets(timeline: list[Any], start_ms: int) -> list[tuple[str | None, str, str | None, int]]:
    """A timeline as (from, to, reason, milliseconds since ``start_ms``)."""
    return [
        (step.from_status, step.to_status, step.reason, step.created_at_ms - start_ms) for step in timeline
    ]


@task(name="env-note")
async def note(text: str) -> str:
    return text


sleeper = workflow(name="env-sleeper")


@sleeper.v("1.0.0")
async def sleeper_v1(run: Any, days: int) -> str:
    await note.start(run, "before")
    await run.sleep("long", {"days": days})
    return await note.start(run, "after")


async def test_a_run_that_sleeps_three_days_completes_while_the_test_waits_for_it(db: str) -> None:
    async with environment(workflows=[sleeper_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        handle = await sleeper_v1.start(env.client, 3)

        result = await handle.wait_for_status("completed", timeout=PATIENCE)

        assert result.success and result.output == "after"
        assert env.clock.now_ms() == start_ms + 3 * DAY_MS
        timeline = offsets(await env.client.get_timeline(handle.id), start_ms)
        assert ("running", "sleeping", None, 0) in timeline
        assert ("sleeping", "queued", "wakeup", 3 * DAY_MS) in timeline


async def test_waiting_until_idle_leaves_the_clock_where_it_is(db: str) -> None:
    async with environment(workflows=[sleeper_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        handle = await sleeper_v1.start(env.client, 3)

        await env.run_until_idle()

        assert (await handle.refresh()).status is RunStatus.SLEEPING
        assert env.clock.now_ms() == start_ms


def retrying_workflow() -> tuple[WorkflowVersion[Any, str], dict[str, int]]:
    """A version whose task fails twice with a one-hour retry delay, then once with a 200 ms delay; and the
    attempts each task made."""
    attempts = {"slow": 0, "quick": 0}

    @task(name="env-slow-retry", retry={"type": "fixed", "max_attempts": 3, "delay_ms": HOUR_MS})
    async def slow(_input: None) -> str:
        attempts["slow"] += 1
        if attempts["slow"] < 3:
            raise ConnectionError("the gateway is down")
        return "slow done"

    @task(name="env-quick-retry", retry={"type": "fixed", "max_attempts": 2, "delay_ms": 200})
    async def quick(_input: None) -> str:
        attempts["quick"] += 1
        if attempts["quick"] < 2:
            raise ConnectionError("a blip")
        return "quick done"

    @workflow(name="env-retrier").v("1.0.0")
    async def retrier_v1(run: Any) -> list[str]:
        return [await slow.start(run), await quick.start(run)]

    return retrier_v1, attempts


async def test_retry_delays_above_the_inline_limit_park_the_run_and_time_skips_over_them(db: str) -> None:
    retrier_v1, attempts = retrying_workflow()
    async with environment(workflows=[retrier_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        handle = await retrier_v1.start(env.client)

        result = await handle.wait_for_status("completed", timeout=PATIENCE)

        assert result.output == ["slow done", "quick done"]
        assert attempts == {"slow": 3, "quick": 2}
        timeline = offsets(await env.client.get_timeline(handle.id), start_ms)
        retried_at = [at for _from, to, reason, at in timeline if to == "queued" and reason == "task_retry"]
        assert retried_at == [HOUR_MS, 2 * HOUR_MS]
        # The 200 ms delay is under max_inline_retry_delay_ms: the worker waited it, on the fake clock.
        assert timeline[-1] == ("running", "completed", None, 2 * HOUR_MS + 200)


trial = workflow(name="env-trial")


@trial.v("1.0.0", events={"paid": event()})
async def trial_v1(run: Any) -> str:
    payment = await run.events.paid.wait(timeout={"days": 14})
    return "lapsed" if payment.timeout else f"paid {payment.data}"


async def test_an_event_wait_times_out_when_nothing_sends_the_event(db: str) -> None:
    async with environment(workflows=[trial_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        handle = await trial_v1.start(env.client)

        result = await handle.wait_for_status("completed", timeout=PATIENCE)

        assert result.output == "lapsed"
        assert env.clock.now_ms() == start_ms + 14 * DAY_MS


async def test_an_event_sent_while_the_run_waits_arrives_before_its_timeout(db: str) -> None:
    async with environment(workflows=[trial_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        handle = await trial_v1.start(env.client)
        # Watching the run step by step does not move time: the wait is still open when the event comes.
        await until(handle, awaiting_event("paid"))

        await handle.events.paid.send(1_900)
        result = await handle.wait_for_status("completed", timeout=PATIENCE)

        assert result.output == "paid 1900"
        assert env.clock.now_ms() == start_ms


napper = workflow(name="env-napper")


@napper.v("1.0.0")
async def napper_v1(run: Any, hours: int) -> int:
    await run.sleep("nap", {"hours": hours})
    return hours


parent = workflow(name="env-parent")


@parent.v("1.0.0")
async def parent_v1(run: Any, child_hours: int) -> str:
    child = await napper_v1.start_as_child(run, child_hours)
    waited = await child.wait_for_status("completed", timeout={"days": 2})
    return "child timed out" if waited.timeout else f"child slept {waited.output} hours"


@pytest.mark.parametrize(
    ("child_hours", "outcome", "elapsed_hours"),
    [(24, "child slept 24 hours", 24), (120, "child timed out", 48)],
)
async def test_a_parent_waiting_for_its_child_goes_on_when_the_child_ends_or_the_wait_times_out(
    db: str, child_hours: int, outcome: str, elapsed_hours: int
) -> None:
    async with environment(workflows=[parent_v1, napper_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        handle = await parent_v1.start(env.client, child_hours)

        result = await handle.wait_for_status("completed", timeout=PATIENCE)

        assert result.output == outcome
        assert env.clock.now_ms() == start_ms + elapsed_hours * HOUR_MS


@task(name="env-report")
async def build_report(day: str) -> str:
    return f"report of {day}"


report = workflow(name="env-report")


@report.v("1.0.0")
async def report_v1(run: Any, day: str) -> str:
    return await build_report.start(run, day)


async def test_a_schedule_starts_its_runs_at_their_times_while_time_skips(db: str) -> None:
    async with environment(workflows=[report_v1, napper_v1], db=db) as env:
        start_ms = env.clock.now_ms()
        daily = await schedule(type="interval", every={"days": 1}).activate(env.client, report_v1, "any")
        watcher = await napper_v1.start(env.client, 3 * 24 + 12)

        await watcher.wait_for_status("completed", timeout=PATIENCE)

        # Each occurrence ran to its end before time moved on; time stopped when the awaited run ended.
        runs = sorted(await daily.runs(), key=lambda run: run.created_at_ms)
        assert [run.created_at_ms - start_ms for run in runs] == [DAY_MS, 2 * DAY_MS, 3 * DAY_MS]
        assert [run.status for run in runs] == [RunStatus.COMPLETED] * 3


twice = workflow(name="env-twice")


@twice.v("1.0.0")
async def twice_v1(run: Any) -> str:
    await run.sleep("first", {"hours": 1})
    await run.sleep("second", {"hours": 1})
    return "rested"


async def test_advance_fires_each_deadline_at_its_own_time_and_runs_what_it_woke(db: str) -> None:
    async with environment(workflows=[twice_v1], db=db, time_skipping=False) as env:
        start_ms = env.clock.now_ms()
        handle = await twice_v1.start(env.client)

        await env.advance({"hours": 2})

        assert (await handle.refresh()).status is RunStatus.COMPLETED
        assert env.clock.now_ms() == start_ms + 2 * HOUR_MS
        wakeups = [
            at
            for _from, to, reason, at in offsets(await env.client.get_timeline(handle.id), start_ms)
            if reason == "wakeup"
        ]
        assert wakeups == [HOUR_MS, 2 * HOUR_MS]


async def test_without_time_skipping_time_moves_only_when_the_test_advances_it(db: str) -> None:
    async with environment(workflows=[sleeper_v1], db=db, time_skipping=False) as env:
        start_ms = env.clock.now_ms()
        handle = await sleeper_v1.start(env.client, 3)
        await env.run_until_idle()

        await env.advance(3 * DAY_MS - 1)
        assert (await handle.refresh()).status is RunStatus.SLEEPING
        assert env.clock.now_ms() == start_ms + 3 * DAY_MS - 1

        await env.advance(1)
        assert (await handle.refresh()).status is RunStatus.COMPLETED
