"""A run left waiting for a timer on a server whose runtime was never started: nothing would wake it, so one
warning per server says why and how to fix it, unless the timers are said to be fired elsewhere."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aiki import RunStatus, Server, client, database, schedule, server, worker, workflow
from aiki.execution.worker import WorkerHandle
from tests.integration.run_watch import until

WARNING_START = "aiki: run "
SILENT = "this server's runtime was never started"

napping = workflow(name="napping")


@napping.v("1.0.0")
async def napping_v1(run: Any, input: Any) -> str:
    await run.sleep("nap", {"milliseconds": 100})
    return "rested"


def silent_wait_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "aiki.server"
        and record.levelno == logging.WARNING
        and SILENT in record.getMessage()
    ]


async def _sleep_twice(srv: Server) -> list[str]:
    """Run two runs of ``napping_v1`` to their sleep on ``srv``; their ids."""
    c = client(server=srv)
    running: WorkerHandle = await worker(workflows=[napping_v1]).start(c)
    try:
        ids = []
        for _ in range(2):
            handle = await napping_v1.start(c, None)
            await until(handle, RunStatus.SLEEPING)
            ids.append(handle.run.id)
        return ids
    finally:
        await running.stop()


async def test_a_sleep_on_a_server_whose_runtime_never_started_logs_one_warning_naming_the_fix(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiki.server")
    srv = server(db=database(db_url))
    try:
        first, second = await _sleep_twice(srv)
        assert (await client(server=srv).get_run(first)).status == "sleeping"
    finally:
        await srv.close()

    [message] = silent_wait_warnings(caplog)  # once per server, not once per run
    assert message.startswith(f"{WARNING_START}{first} (workflow 'napping' version '1.0.0') is sleeping")
    assert "unless another process runs a runtime on this database" in message
    assert "await srv.runtime.start()" in message and "aiki server" in message
    assert "srv.runtime.served_elsewhere()" in message
    assert second not in message


async def test_a_server_whose_runtime_runs_wakes_the_sleeper_and_says_nothing(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiki.server")
    srv = server(db=database(db_url))
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=[napping_v1]).start(c)
    try:
        handle = await napping_v1.start(c, None)
        result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()

    assert result.output == "rested"
    assert silent_wait_warnings(caplog) == []


async def test_a_server_whose_timers_are_fired_elsewhere_says_nothing(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiki.server")
    srv = server(db=database(db_url))
    srv.runtime.served_elsewhere()
    try:
        await _sleep_twice(srv)
    finally:
        await srv.close()

    assert silent_wait_warnings(caplog) == []


async def test_a_delayed_start_on_a_server_whose_runtime_never_started_warns_too(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiki.server")
    srv = server(db=database(db_url))
    try:
        handle = (
            await napping_v1.with_().opt("trigger", {"delay": {"seconds": 5}}).start(client(server=srv), None)
        )
    finally:
        await srv.close()

    [message] = silent_wait_warnings(caplog)
    assert f"run {handle.run.id} (workflow 'napping' version '1.0.0') is scheduled" in message


async def test_a_schedule_activated_on_a_server_whose_runtime_never_started_warns_too(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiki.server")
    srv = server(db=database(db_url))
    try:
        handle = await schedule(type="interval", every={"minutes": 1}).activate(
            client(server=srv), napping_v1
        )
    finally:
        await srv.close()

    [message] = silent_wait_warnings(caplog)
    assert message.startswith(
        f"aiki: schedule {handle.id} (workflow 'napping') is active with a timer due at"
    )
    assert "unless another process runs a runtime on this database" in message
