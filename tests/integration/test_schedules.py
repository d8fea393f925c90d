"""Schedules on a real database and a fake clock: firing, overlap policies, catch-up after downtime,
pause/resume/deactivate, idempotent activation, references, options, and several servers at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aiki import (
    FakeClock,
    InvalidRequestError,
    NotFoundError,
    RunStatus,
    ScheduleConflictError,
    ScheduleHandle,
    ScheduleStatus,
    Server,
    WorkflowRun,
    client,
    database,
    schedule,
    server,
    workflow,
)
from aiki.contract.schedules import ActivateScheduleRequest
from tests.conftest import Env
from tests.transport_support import TransportEnv

MINUTE_MS = 60_000
BERLIN = ZoneInfo("Europe/Berlin")

report = workflow(name="report")


@report.v("1.0.0")
async def report_v1(run: Any, input: Any) -> Any:
    return {"report": input}


pinned = workflow(name="pinned-report")


@pinned.v("1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 4, "delay_ms": 250}, "shard": "eu"})
async def pinned_v1(run: Any, input: Any) -> Any:
    return input


def every_minute(overlap_policy: Any = "allow") -> Any:
    return schedule(type="interval", every={"minutes": 1}, overlap_policy=overlap_policy)


def clock_of(env: Env) -> FakeClock:
    assert env.clock is not None
    return env.clock


async def advance(env: Env, ms: int) -> int:
    """Move the fake clock and fire what is due; returns how many timers fired."""
    clock_of(env).advance(ms)
    return await env.server.runtime.tick()


async def runs_of(handle: ScheduleHandle) -> list[WorkflowRun]:
    """The schedule's runs in occurrence order."""
    return sorted(await handle.runs(limit=1000), key=occurrence_of)


def occurrence_of(run: WorkflowRun) -> int:
    assert run.reference_id is not None
    return int(run.reference_id.rsplit(":", 1)[1])


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


async def test_an_interval_schedule_starts_nothing_before_its_first_occurrence(fake_env: Env) -> None:
    handle = await every_minute().activate(fake_env.client, report_v1, {"kind": "sales"})
    assert handle.info.next_run_at_ms == clock_of(fake_env).now_ms() + MINUTE_MS

    await advance(fake_env, MINUTE_MS - 1)

    assert await handle.runs() == []


async def test_an_interval_schedule_starts_one_queued_run_per_occurrence(fake_env: Env) -> None:
    activated_at_ms = clock_of(fake_env).now_ms()
    handle = await every_minute().activate(fake_env.client, report_v1, {"kind": "sales"})

    await advance(fake_env, MINUTE_MS)
    await advance(fake_env, MINUTE_MS)

    runs = await runs_of(handle)
    assert [occurrence_of(run) for run in runs] == [
        activated_at_ms + MINUTE_MS,
        activated_at_ms + 2 * MINUTE_MS,
    ]
    assert all(run.status is RunStatus.QUEUED and run.input == {"kind": "sales"} for run in runs)


async def test_a_scheduled_run_is_named_by_its_schedule_and_occurrence(fake_env: Env) -> None:
    handle = await every_minute().activate(fake_env.client, report_v1)
    await advance(fake_env, MINUTE_MS)

    [run] = await handle.runs()
    assert run.schedule_id == handle.id
    assert run.reference_id == f"schedule:{handle.id}:{handle.info.next_run_at_ms}"


async def test_a_worker_runs_a_scheduled_run_to_completion(fake_env: Env) -> None:
    await fake_env.start_worker(report_v1)
    handle = await every_minute().activate(fake_env.client, report_v1, {"kind": "sales"})
    await advance(fake_env, MINUTE_MS)

    [run] = await handle.runs()
    result = await (await report_v1.get_handle(fake_env.client, run.id)).wait_for_status(
        "completed", timeout={"seconds": 15}
    )
    assert result.success and result.state is not None
    assert result.state.output == {"report": {"kind": "sales"}}


async def test_the_versions_retry_and_shard_travel_with_scheduled_runs(fake_env: Env) -> None:
    handle = await every_minute().activate(fake_env.client, pinned_v1)
    await advance(fake_env, MINUTE_MS)

    [run] = await handle.runs()
    assert run.options["retry"] == {"type": "fixed", "max_attempts": 4, "delay_ms": 250}
    assert run.shard == "eu"


async def test_options_set_on_the_version_with_opt_travel_with_scheduled_runs(fake_env: Env) -> None:
    starter = pinned_v1.with_().opt("retry", {"type": "never"}).opt("shard", "us")
    handle = await every_minute().activate(fake_env.client, starter)
    await advance(fake_env, MINUTE_MS)

    [run] = await handle.runs()
    assert run.options["retry"] == {"type": "never"}
    assert run.shard == "us"


async def test_a_cron_in_berlin_fires_at_the_jump_when_spring_skips_its_time(fake_env: Env) -> None:
    clock_of(fake_env).set(int(datetime(2024, 3, 29, 12, 0, tzinfo=BERLIN).timestamp() * 1000))
    nightly = schedule(type="cron", expression="30 2 * * *", timezone="Europe/Berlin")
    handle = await nightly.activate(fake_env.client, report_v1)

    for _ in range(3):
        due_ms = (await handle.refresh()).next_run_at_ms
        clock_of(fake_env).set(due_ms - 1)
        assert await fake_env.server.runtime.tick() == 0
        clock_of(fake_env).set(due_ms)
        assert await fake_env.server.runtime.tick() == 1

    assert [occurrence_of(run) for run in await runs_of(handle)] == [
        utc("2024-03-30T01:30:00"),  # 02:30 CET
        utc("2024-03-31T01:00:00"),  # 02:30 does not exist that night: 03:00 CEST, at the jump
        utc("2024-04-01T00:30:00"),  # 02:30 CEST
    ]


async def test_a_cron_in_berlin_fires_once_when_autumn_repeats_its_time(fake_env: Env) -> None:
    clock_of(fake_env).set(int(datetime(2024, 10, 25, 12, 0, tzinfo=BERLIN).timestamp() * 1000))
    nightly = schedule(type="cron", expression="30 2 * * *", timezone="Europe/Berlin")
    handle = await nightly.activate(fake_env.client, report_v1)

    clock_of(fake_env).set(int(datetime(2024, 10, 28, 12, 0, tzinfo=BERLIN).timestamp() * 1000))
    await fake_env.server.runtime.tick()

    assert [occurrence_of(run) for run in await runs_of(handle)] == [
        utc("2024-10-26T00:30:00"),  # 02:30 CEST
        utc("2024-10-27T00:30:00"),  # the first 02:30 (CEST); the repeated one (CET) does not fire
        utc("2024-10-28T01:30:00"),  # 02:30 CET
    ]


async def test_allow_starts_every_occurrence_missed_during_downtime(fake_env: Env) -> None:
    handle = await every_minute("allow").activate(fake_env.client, report_v1)
    first_ms = handle.info.next_run_at_ms

    await advance(fake_env, 5 * MINUTE_MS + 30_000)

    assert [occurrence_of(run) for run in await runs_of(handle)] == [
        first_ms + k * MINUTE_MS for k in range(5)
    ]
    assert (await handle.refresh()).next_run_at_ms == first_ms + 5 * MINUTE_MS


async def test_allow_catches_up_in_batches_when_more_occurrences_were_missed_than_a_batch(
    db_url: str,
) -> None:
    clock = FakeClock()
    srv = server(db=database(db_url), clock=clock, opts={"timer_batch_size": 7})
    try:
        handle = await every_minute("allow").activate(client(server=srv), report_v1)
        clock.advance(30 * MINUTE_MS)

        assert await srv.runtime.tick() == 30
        runs = await runs_of(handle)
        assert [occurrence_of(run) for run in runs] == [
            handle.info.next_run_at_ms + k * MINUTE_MS for k in range(30)
        ]
    finally:
        await srv.close()


async def test_skip_starts_only_the_latest_occurrence_missed_during_downtime(fake_env: Env) -> None:
    handle = await every_minute("skip").activate(fake_env.client, report_v1)
    first_ms = handle.info.next_run_at_ms

    await advance(fake_env, 5 * MINUTE_MS + 30_000)

    assert [occurrence_of(run) for run in await runs_of(handle)] == [first_ms + 4 * MINUTE_MS]
    assert (await handle.refresh()).next_run_at_ms == first_ms + 5 * MINUTE_MS


async def test_cancel_previous_starts_only_the_latest_occurrence_missed_during_downtime(
    fake_env: Env,
) -> None:
    handle = await every_minute("cancel_previous").activate(fake_env.client, report_v1)
    first_ms = handle.info.next_run_at_ms

    await advance(fake_env, 5 * MINUTE_MS + 30_000)

    assert [occurrence_of(run) for run in await runs_of(handle)] == [first_ms + 4 * MINUTE_MS]


async def test_skip_starts_no_run_while_one_of_its_runs_is_still_going(fake_env: Env) -> None:
    handle = await every_minute("skip").activate(fake_env.client, report_v1)
    await advance(fake_env, MINUTE_MS)
    [first] = await handle.runs()

    await advance(fake_env, MINUTE_MS)

    assert [run.id for run in await handle.runs()] == [first.id]
    assert (await handle.refresh()).last_occurrence_ms == occurrence_of(first)


async def test_skip_starts_a_run_again_once_the_previous_one_has_finished(fake_env: Env) -> None:
    handle = await every_minute("skip").activate(fake_env.client, report_v1)
    await advance(fake_env, MINUTE_MS)
    [first] = await handle.runs()
    await (await report_v1.get_handle(fake_env.client, first.id)).cancel("done by hand")

    await advance(fake_env, MINUTE_MS)

    previous, latest = await runs_of(handle)
    assert previous.id == first.id
    assert latest.status is RunStatus.QUEUED


async def test_cancel_previous_cancels_the_run_still_going_then_starts_a_new_one(fake_env: Env) -> None:
    handle = await every_minute("cancel_previous").activate(fake_env.client, report_v1)
    await advance(fake_env, MINUTE_MS)
    [first] = await handle.runs()

    await advance(fake_env, MINUTE_MS)

    previous, latest = await runs_of(handle)
    assert previous.id == first.id
    assert previous.status is RunStatus.CANCELLED
    assert previous.state.reason is not None and handle.id in previous.state.reason
    assert latest.status is RunStatus.QUEUED


async def test_allow_starts_a_run_even_while_the_previous_one_is_still_going(fake_env: Env) -> None:
    handle = await every_minute("allow").activate(fake_env.client, report_v1)
    await advance(fake_env, MINUTE_MS)
    await advance(fake_env, MINUTE_MS)

    assert [run.status for run in await runs_of(handle)] == [RunStatus.QUEUED, RunStatus.QUEUED]


async def test_a_paused_schedule_starts_no_runs(fake_env: Env) -> None:
    handle = await every_minute().activate(fake_env.client, report_v1)
    assert (await handle.pause()).status is ScheduleStatus.PAUSED

    await advance(fake_env, 3 * MINUTE_MS)

    assert await handle.runs() == []


async def test_resume_with_allow_starts_every_occurrence_missed_while_paused(fake_env: Env) -> None:
    handle = await every_minute("allow").activate(fake_env.client, report_v1)
    first_ms = handle.info.next_run_at_ms
    await handle.pause()
    await advance(fake_env, 3 * MINUTE_MS)

    assert (await handle.resume()).status is ScheduleStatus.ACTIVE
    await fake_env.server.runtime.tick()

    assert [occurrence_of(run) for run in await runs_of(handle)] == [
        first_ms + k * MINUTE_MS for k in range(3)
    ]


async def test_resume_with_skip_starts_only_the_latest_occurrence_missed_while_paused(fake_env: Env) -> None:
    handle = await every_minute("skip").activate(fake_env.client, report_v1)
    first_ms = handle.info.next_run_at_ms
    await handle.pause()
    await advance(fake_env, 3 * MINUTE_MS)

    await handle.resume()
    await fake_env.server.runtime.tick()

    assert [occurrence_of(run) for run in await runs_of(handle)] == [first_ms + 2 * MINUTE_MS]


async def test_a_deactivated_schedule_starts_no_runs(fake_env: Env) -> None:
    handle = await every_minute().activate(fake_env.client, report_v1)
    assert (await handle.deactivate()).status is ScheduleStatus.INACTIVE

    await advance(fake_env, 3 * MINUTE_MS)

    assert await handle.runs() == []


async def test_activating_a_deactivated_definition_restarts_it_from_now_without_catching_up(
    fake_env: Env,
) -> None:
    handle = await every_minute().activate(fake_env.client, report_v1)
    await handle.deactivate()
    await advance(fake_env, 3 * MINUTE_MS + 10_000)

    again = await every_minute().activate(fake_env.client, report_v1)

    assert again.id == handle.id
    assert again.info.status is ScheduleStatus.ACTIVE
    assert again.info.next_run_at_ms == clock_of(fake_env).now_ms() + MINUTE_MS
    await advance(fake_env, MINUTE_MS)
    assert [occurrence_of(run) for run in await runs_of(again)] == [again.info.next_run_at_ms]


async def test_activating_the_same_definition_twice_returns_the_same_schedule(fake_env: Env) -> None:
    first = await every_minute().activate(fake_env.client, report_v1, {"kind": "sales"})
    second = await every_minute().activate(fake_env.client, report_v1, {"kind": "sales"})

    assert second.id == first.id
    assert second.info == first.info


async def test_activating_a_paused_definition_again_reactivates_it(fake_env: Env) -> None:
    first = await every_minute().activate(fake_env.client, report_v1)
    await first.pause()

    second = await every_minute().activate(fake_env.client, report_v1)

    assert second.id == first.id
    assert second.info.status is ScheduleStatus.ACTIVE


async def test_the_default_overlap_policy_and_timezone_are_the_same_definition_as_explicit_ones(
    fake_env: Env,
) -> None:
    implicit = schedule(type="cron", expression="0 9 * * *")
    explicit = schedule(type="cron", expression="0  9 * * *", timezone="UTC", overlap_policy="allow")

    first = await implicit.activate(fake_env.client, report_v1)
    second = await explicit.activate(fake_env.client, report_v1)

    assert second.id == first.id


@pytest.mark.parametrize(
    ("other", "other_input"),
    [
        (schedule(type="interval", every={"minutes": 1}), {"kind": "stock"}),
        (schedule(type="interval", every={"minutes": 2}), {"kind": "sales"}),
        (schedule(type="interval", every={"minutes": 1}, overlap_policy="skip"), {"kind": "sales"}),
    ],
    ids=["another input", "another timing", "another overlap policy"],
)
async def test_a_different_definition_is_an_independent_schedule(
    fake_env: Env, other: Any, other_input: Any
) -> None:
    first = await every_minute().activate(fake_env.client, report_v1, {"kind": "sales"})
    second = await other.activate(fake_env.client, report_v1, other_input)
    assert second.id != first.id

    await second.pause()

    assert (await first.refresh()).status is ScheduleStatus.ACTIVE


async def test_a_reference_id_with_the_same_definition_returns_the_same_schedule(fake_env: Env) -> None:
    named = every_minute().with_().opt("reference.id", "sales-report")

    first = await named.activate(fake_env.client, report_v1, {"kind": "sales"})
    second = await named.activate(fake_env.client, report_v1, {"kind": "sales"})

    assert second.id == first.id
    assert first.info.reference_id == "sales-report"


async def test_a_different_definition_under_a_taken_reference_id_is_a_conflict(fake_env: Env) -> None:
    named = every_minute().with_().opt("reference.id", "sales-report")
    first = await named.activate(fake_env.client, report_v1, {"kind": "sales"})

    with pytest.raises(ScheduleConflictError, match="sales-report") as caught:
        await named.activate(fake_env.client, report_v1, {"kind": "stock"})

    assert caught.value.existing_schedule_id == first.id


async def test_return_existing_gives_the_schedule_a_taken_reference_id_names_unchanged(fake_env: Env) -> None:
    first = (
        await every_minute()
        .with_()
        .opt("reference.id", "sales-report")
        .activate(fake_env.client, report_v1, {"kind": "sales"})
    )
    lenient = (
        every_minute().with_().opt("reference", {"id": "sales-report", "conflict_policy": "return_existing"})
    )

    second = await lenient.activate(fake_env.client, report_v1, {"kind": "stock"})

    assert second.id == first.id
    assert second.info.input == {"kind": "sales"}


async def test_a_reference_id_adopts_an_unnamed_schedule_of_the_same_definition(fake_env: Env) -> None:
    unnamed = await every_minute().activate(fake_env.client, report_v1)

    named = await every_minute().with_().opt("reference.id", "adopted").activate(fake_env.client, report_v1)

    assert named.id == unnamed.id
    assert named.info.reference_id == "adopted"


async def test_two_reference_ids_with_one_definition_are_two_schedules(fake_env: Env) -> None:
    first = await every_minute().with_().opt("reference.id", "tenant-a").activate(fake_env.client, report_v1)
    second = await every_minute().with_().opt("reference.id", "tenant-b").activate(fake_env.client, report_v1)

    assert second.id != first.id


async def test_schedules_are_listed_newest_first_and_filtered_by_status(fake_env: Env) -> None:
    older = await every_minute().activate(fake_env.client, report_v1, 1)
    newer = await every_minute().activate(fake_env.client, report_v1, 2)
    await (await fake_env.client.get_schedule_handle(older.id)).pause()

    assert [info.id for info in await fake_env.client.list_schedules()] == [newer.id, older.id]
    assert [info.id for info in await fake_env.client.list_schedules(status="paused")] == [older.id]
    assert await fake_env.client.list_schedules(workflow="another") == []


async def test_schedules_are_paused_resumed_and_deactivated_by_id(fake_env: Env) -> None:
    handle = await every_minute().activate(fake_env.client, report_v1)

    by_id = await fake_env.client.get_schedule_handle(handle.id)
    assert (await by_id.pause()).status is ScheduleStatus.PAUSED
    assert (await by_id.resume()).status is ScheduleStatus.ACTIVE
    assert (await by_id.deactivate()).status is ScheduleStatus.INACTIVE
    assert (await by_id.refresh()).status is ScheduleStatus.INACTIVE


@pytest.mark.parametrize(
    "operation", ["get_schedule", "pause_schedule", "resume_schedule", "deactivate_schedule"]
)
async def test_an_unknown_schedule_id_is_not_found(fake_env: Env, operation: str) -> None:
    with pytest.raises(NotFoundError, match="no-such-schedule"):
        await getattr(fake_env.client.transport, operation)("no-such-schedule")


async def until_asleep(clock: FakeClock) -> None:
    """Return once the timer loop sleeps on the fake clock (it found nothing due)."""
    # The fake clock has no event for "someone sleeps on me": look at it between turns of the loop.
    for _ in range(1_500):
        if clock.sleeper_count:
            break
        await asyncio.sleep(0.01)
    assert clock.sleeper_count == 1, "the timer loop never went to sleep"


async def until_runs(srv: Server, handle: ScheduleHandle, count: int) -> list[WorkflowRun]:
    """Return the schedule's runs once it has at least ``count``; fail after 15 s of real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while len(runs := await handle.runs()) < count and loop.time() < deadline:
        await srv.core.notifier.wait_for_work(0.2)
    assert len(runs) >= count
    return runs


async def test_activation_wakes_the_sleeping_timer_loop_for_an_earlier_deadline(db_url: str) -> None:
    clock = FakeClock()
    # Unless woken, the loop sleeps an hour of fake time before it looks at the database again.
    srv = server(db=database(db_url), clock=clock, opts={"poll_interval_ms": 3_600_000})
    runtime = await srv.runtime.start()
    try:
        await until_asleep(clock)
        handle = await every_minute().activate(client(server=srv), report_v1)
        clock.advance(MINUTE_MS)

        await until_runs(srv, handle, 1)
    finally:
        await runtime.stop()
        await srv.close()


async def test_resume_wakes_the_sleeping_timer_loop_for_an_overdue_schedule(db_url: str) -> None:
    clock = FakeClock()
    srv = server(db=database(db_url), clock=clock, opts={"poll_interval_ms": 3_600_000})
    handle = await every_minute().activate(client(server=srv), report_v1)
    await handle.pause()
    runtime = await srv.runtime.start()
    try:
        await until_asleep(clock)
        clock.advance(MINUTE_MS)

        await handle.resume()

        await until_runs(srv, handle, 1)
    finally:
        await runtime.stop()
        await srv.close()


async def test_two_servers_on_one_database_start_each_occurrence_once(db_url: str) -> None:
    start_ms = 1_700_000_000_000
    clocks = [FakeClock(start_ms), FakeClock(start_ms)]
    servers = [server(db=database(db_url), clock=clock, opts={"timer_batch_size": 3}) for clock in clocks]
    try:
        await servers[0].open()
        await servers[1].open()
        handles = [
            await every_minute(policy).activate(client(server=servers[index % 2]), report_v1, policy)
            for index, policy in enumerate(("allow", "skip", "allow"))
        ]
        for _ in range(4):
            for clock in clocks:
                clock.advance(5 * MINUTE_MS)
            if db_url.startswith("postgres"):
                await asyncio.gather(*(srv.runtime.tick() for srv in servers for _ in range(2)))
            else:
                # One event loop cannot hold two SQLite writers: the second's BEGIN IMMEDIATE would block
                # the loop that the first needs to commit. Separate processes interleave; here, take turns.
                for srv in servers * 2:
                    await srv.runtime.tick()

        allow_runs = await runs_of(handles[0])
        occurrences = [occurrence_of(run) for run in allow_runs]
        assert occurrences == [start_ms + k * MINUTE_MS for k in range(1, 21)]
        assert len(await runs_of(handles[2])) == 20
        # skip: one run per catch-up at most, and none while the first is still queued.
        assert len(await runs_of(handles[1])) == 1
    finally:
        for srv in servers:
            await srv.close()


async def test_schedules_are_activated_and_steered_alike_over_both_transports(
    transport_env: TransportEnv,
) -> None:
    daily = schedule(type="cron", expression="0 9 * * *", timezone="Europe/Berlin", overlap_policy="skip")
    handle = await daily.activate(transport_env.client, report_v1, {"kind": "sales"})
    again = await daily.activate(transport_env.client, report_v1, {"kind": "sales"})
    assert again.id == handle.id

    assert (await handle.pause()).status is ScheduleStatus.PAUSED
    [listed] = await transport_env.client.list_schedules(status="paused")
    assert listed == handle.info
    assert listed.timing == {"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Berlin"}
    assert (await handle.resume()).status is ScheduleStatus.ACTIVE
    assert (await handle.deactivate()).status is ScheduleStatus.INACTIVE
    assert (await transport_env.client.get_schedule_handle(handle.id)).info.status is ScheduleStatus.INACTIVE


async def test_a_reference_conflict_is_a_schedule_conflict_error_over_both_transports(
    transport_env: TransportEnv,
) -> None:
    named = every_minute().with_().opt("reference.id", "sales-report")
    first = await named.activate(transport_env.client, report_v1, {"kind": "sales"})

    with pytest.raises(ScheduleConflictError, match="sales-report") as caught:
        await named.activate(transport_env.client, report_v1, {"kind": "stock"})

    assert caught.value.existing_schedule_id == first.id


async def test_a_bad_timing_sent_to_the_server_is_refused_over_both_transports(
    transport_env: TransportEnv,
) -> None:
    request = ActivateScheduleRequest(
        workflow_name="report",
        version_id="1.0.0",
        timing={"type": "cron", "expression": "0 9 * * *", "timezone": "Mars/Olympus"},
        overlap_policy="allow",
        input=None,
        run_options={},
    )
    with pytest.raises(InvalidRequestError, match="Mars/Olympus") as caught:
        await transport_env.client.transport.activate_schedule(request)
    assert caught.value.field == "timing"


async def test_a_short_interval_schedule_runs_for_real_over_both_transports(
    transport_env: TransportEnv,
) -> None:
    await transport_env.start_worker(report_v1)
    often = schedule(type="interval", every={"milliseconds": 100}, overlap_policy="skip")
    handle = await often.activate(transport_env.client, report_v1, {"kind": "live"})

    [run, *_] = await until_runs(transport_env.server, handle, 1)
    result = await (await report_v1.get_handle(transport_env.client, run.id)).wait_for_status(
        "completed", timeout={"seconds": 15}
    )
    await handle.deactivate()

    assert result.success and result.state is not None
    assert result.state.output == {"report": {"kind": "live"}}
