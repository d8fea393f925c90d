"""Steering many runs: bulk cancel, pause, resume and requeue, each run changed atomically and
independently; and one event sent to many runs, all or none."""

from __future__ import annotations

from typing import Any

import pytest

from aiki import InvalidOptionError, NotFoundError, RunStatus, event, workflow
from tests.integration.run_watch import awaiting_event, until
from tests.transport_support import TransportEnv

parked = workflow(name="parked")


@parked.v("1.0.0", events={"go": event()})
async def parked_v1(run: Any, input: Any) -> Any:
    got = await run.events.go.wait()
    return got.data


async def test_a_bulk_cancel_changes_what_it_can_and_says_why_it_skipped_the_rest(
    transport_env: TransportEnv,
) -> None:
    c = transport_env.client
    first = await parked_v1.start(c, 1)
    second = await parked_v1.start(c, 2)
    finished = await parked_v1.start(c, 3)
    await finished.cancel()

    result = await c.cancel_runs(
        [first.id, "no-such-run", finished.id, second.id, first.id], reason="bad batch"
    )

    assert result.done == [first.id, second.id]
    assert set(result.skipped) == {"no-such-run", finished.id}
    assert "unknown" in result.skipped["no-such-run"]
    assert "already finished" in result.skipped[finished.id]
    assert (await first.refresh()).state.reason == "bad batch"


async def test_bulk_pause_and_resume(transport_env: TransportEnv) -> None:
    c = transport_env.client
    handles = [await parked_v1.start(c, n) for n in range(3)]
    ids = [handle.id for handle in handles]

    paused = await c.pause_runs(ids)
    again = await c.pause_runs(ids)
    resumed = await c.resume_runs(ids)

    assert paused.done == ids and paused.skipped == {}
    assert again.done == [] and set(again.skipped) == set(ids)
    assert resumed.done == ids
    assert {(await handle.refresh()).status for handle in handles} == {RunStatus.QUEUED}


async def test_a_bulk_requeue_skips_runs_that_are_not_stalled(transport_env: TransportEnv) -> None:
    c = transport_env.client
    queued = await parked_v1.start(c, 1)

    result = await c.requeue_runs([queued.id])

    assert result.done == []
    assert "Only a stalled run can be requeued; this one is queued" in result.skipped[queued.id]


@pytest.mark.parametrize(
    ("run_ids", "message"),
    [([], "empty"), ([f"r{n}" for n in range(1001)], "the most is 1000"), ("one-id", "not one string")],
)
async def test_bulk_calls_take_one_to_a_thousand_ids(
    transport_env: TransportEnv, run_ids: Any, message: str
) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        await transport_env.client.pause_runs(run_ids)


async def test_one_event_reaches_many_runs_and_a_reference_id_dedupes_it(transport_env: TransportEnv) -> None:
    await transport_env.start_worker(parked_v1)
    c = transport_env.client
    first = await parked_v1.start(c, 1)
    second = await parked_v1.start(c, 2)
    for handle in (first, second):
        await until(handle, awaiting_event("go"))

    sent = (
        await parked_v1.events.go.with_().opt("reference.id", "wave-1").send(c, [first.id, second.id], "go!")
    )
    again = await parked_v1.events.go.with_().opt("reference.id", "wave-1").send(c, [first.id], "again")

    assert sent == [True, True] and again == [False]
    for handle in (first, second):
        result = await handle.wait_for_status("completed", timeout={"seconds": 15})
        assert result.state is not None and result.state.output == "go!"


async def test_a_run_named_twice_gets_the_event_once(transport_env: TransportEnv) -> None:
    c = transport_env.client
    waiting = await parked_v1.start(c, 1)
    await transport_env.start_worker(parked_v1)
    await until(waiting, awaiting_event("go"))

    sent = await parked_v1.events.go.send(c, [waiting.id, waiting.id], "once")

    assert sent == [True]  # one answer per distinct run, in the order given
    assert (await waiting.wait_for_status("completed", timeout={"seconds": 15})).output == "once"
    assert [entry.data for entry in (await c.get_history(waiting.id)).events] == ["once"]


async def test_an_unknown_run_id_sends_the_event_to_no_run(transport_env: TransportEnv) -> None:
    c = transport_env.client
    known = await parked_v1.start(c, 1)

    with pytest.raises(NotFoundError, match="missing-run"):
        await parked_v1.events.go.send(c, [known.id, "missing-run"], "x")

    assert (await c.get_history(known.id)).events == []


async def test_an_event_reaches_the_run_a_reference_id_names(transport_env: TransportEnv) -> None:
    await transport_env.start_worker(parked_v1)
    c = transport_env.client
    handle = await parked_v1.with_().opt("reference.id", "order-9").start(c, 1)
    await until(handle, awaiting_event("go"))

    assert await parked_v1.events.go.send_by_reference_id(c, "order-9", {"paid": True}) is True
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"paid": True}
    with pytest.raises(NotFoundError, match="order-10"):
        await parked_v1.events.go.send_by_reference_id(c, "order-10", {})


async def test_an_undeclared_event_of_a_version_is_not_found(transport_env: TransportEnv) -> None:
    with pytest.raises(NotFoundError, match="declares these events: go"):
        parked_v1.events.shipped  # noqa: B018
