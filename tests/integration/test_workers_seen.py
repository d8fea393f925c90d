"""Workers seen by the server: announced at start and at every claim refresh, gone when they stop or go
silent; and the warning about queued runs of a version that no live worker serves."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import pytest

from aiki import workflow
from tests.conftest import Env
from tests.transport_support import TransportEnv

served = workflow(name="served")


@served.v("1.0.0")
async def served_v1(run: Any, input: Any) -> Any:
    return input


unserved = workflow(name="unserved")


@unserved.v("1.0.0")
async def unserved_v1(run: Any, input: Any) -> Any:
    return input


async def test_a_started_worker_is_listed_and_a_stopped_one_is_not(transport_env: TransportEnv) -> None:
    handle = await transport_env.start_worker(
        served_v1, name="billing", shards=["eu"], max_concurrent_workflow_runs=7
    )

    [seen] = await transport_env.client.list_workers()

    assert (seen.id, seen.name, seen.host, seen.pid) == (
        handle.id,
        "billing",
        socket.gethostname(),
        os.getpid(),
    )
    assert seen.workflows == [("served", "1.0.0")] and seen.shards == ["eu"]
    assert (seen.concurrency, seen.active_runs) == (7, 0)
    assert seen.started_at_ms <= seen.last_seen_at_ms
    await handle.stop()
    assert await transport_env.client.list_workers() == []


async def test_a_worker_silent_for_the_claim_timeout_is_gone(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(served_v1)
    assert len(await fake_env.client.list_workers()) == 1

    fake_env.clock.advance(fake_env.server.settings.claim_timeout_ms + 1)

    assert await fake_env.client.list_workers() == []


async def test_queued_runs_of_a_version_no_live_worker_serves_are_logged_once(
    fake_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(served_v1)
    await unserved_v1.start(fake_env.client, 1)
    await unserved_v1.start(fake_env.client, 2)
    watch = fake_env.server.runtime._queue_watch

    with caplog.at_level(logging.WARNING, logger="aiki.server"):
        for _ in range(3):
            async with fake_env.server.core.write() as (connection, _changes):
                await watch.watch(connection, fake_env.clock.now_ms())

    warnings = [record.getMessage() for record in caplog.records if "no live worker" in record.getMessage()]
    assert len(warnings) == 1 and "'unserved' version '1.0.0'" in warnings[0]
