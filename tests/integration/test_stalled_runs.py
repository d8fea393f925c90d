"""Stalled runs: a run queued longer than ``stall_after_ms`` that no worker claimed becomes ``stalled``
(not terminal) until it is requeued or cancelled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiki import FakeClock, InvalidTransitionError, RunStatus, client, database, server, workflow
from aiki.server.server import Server

STALL_AFTER_MS = 60_000

orphan = workflow(name="orphan")


@orphan.v("1.0.0")
async def orphan_v1(run: Any, input: Any) -> Any:
    return input


@pytest.fixture
async def srv(db_url: str) -> AsyncIterator[Server]:
    instance = server(db=database(db_url), clock=FakeClock(), opts={"stall_after_ms": STALL_AFTER_MS})
    yield instance
    await instance.close()


def clock_of(srv: Server) -> FakeClock:
    assert isinstance(srv.clock, FakeClock)
    return srv.clock


async def test_a_run_no_worker_claims_stalls_and_says_why_once_per_version(
    srv: Server, caplog: pytest.LogCaptureFixture
) -> None:
    c = client(server=srv)
    handles = [await orphan_v1.start(c, n) for n in range(3)]

    clock_of(srv).advance(STALL_AFTER_MS - 1)
    assert await srv.runtime.tick() == 0
    clock_of(srv).advance(1)
    with caplog.at_level(logging.WARNING, logger="aiki.server"):
        assert await srv.runtime.tick() == 3

    for handle in handles:
        run = await handle.refresh()
        assert run.status is RunStatus.STALLED and run.state.reason == "undeliverable"
    stalls = [record for record in caplog.records if "stalled" in record.getMessage()]
    assert len(stalls) == 1 and "'orphan' version '1.0.0'" in stalls[0].getMessage()


async def test_a_stalled_run_is_requeued_with_a_fresh_stall_clock_or_cancelled(srv: Server) -> None:
    c = client(server=srv)
    requeued = await orphan_v1.start(c, 1)
    cancelled = await orphan_v1.start(c, 2)
    clock_of(srv).advance(STALL_AFTER_MS)
    await srv.runtime.tick()

    assert (await requeued.requeue()).status is RunStatus.QUEUED
    assert (await cancelled.cancel("nobody serves it")).status is RunStatus.CANCELLED
    timeline = await c.get_timeline(requeued.id)
    assert [(row.to_status, row.reason) for row in timeline][-2:] == [
        ("stalled", "undeliverable"),
        ("queued", "requeue"),
    ]
    clock_of(srv).advance(STALL_AFTER_MS - 1)
    assert await srv.runtime.tick() == 0
    clock_of(srv).advance(1)
    assert await srv.runtime.tick() == 1
    assert (await requeued.refresh()).status is RunStatus.STALLED


async def test_only_a_stalled_run_can_be_requeued_and_a_stalled_run_cannot_be_paused(srv: Server) -> None:
    c = client(server=srv)
    handle = await orphan_v1.start(c, 1)
    with pytest.raises(
        InvalidTransitionError, match="Only a stalled run can be requeued; this one is queued"
    ):
        await handle.requeue()
    clock_of(srv).advance(STALL_AFTER_MS)
    await srv.runtime.tick()
    with pytest.raises(InvalidTransitionError, match="requeue or cancel it"):
        await handle.pause()


async def test_a_stalled_run_is_not_finished_a_waiter_keeps_waiting(srv: Server) -> None:
    c = client(server=srv)
    handle = await orphan_v1.start(c, 1)
    clock_of(srv).advance(STALL_AFTER_MS)
    await srv.runtime.tick()

    result = await handle.wait_for_status("completed", timeout={"milliseconds": 50})

    assert result.timeout and result.state is not None and result.state.status is RunStatus.STALLED
