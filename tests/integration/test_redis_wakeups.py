"""The optional Redis accelerator: wake-ups between servers, and correctness when Redis dies mid-run.

Each test runs its own ``redis-server`` on a free port, so that it can kill it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aiki import RunStatus, Server, client, database, server, task, worker, workflow
from aiki.server.engine.changes import Changes
from aiki.server.engine.notifier import Notifier
from aiki.server.engine.redis_wakeups import RedisWakeups
from tests.integration.run_watch import PATIENCE_S


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisProcess:
    """A ``redis-server`` of this test only, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_it_answers()

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    process = RedisProcess()
    yield process
    process.kill()


def prefix() -> str:
    """A channel prefix of this test only (other tests may share a Redis)."""
    return f"aiki-test-{os.getpid()}-{time.monotonic_ns()}:"


async def test_a_change_published_by_one_server_wakes_the_waiters_of_another(
    redis_process: RedisProcess,
) -> None:
    shared = prefix()
    publisher = RedisWakeups(redis_process.url, shared, Notifier())
    listener_notifier = Notifier()
    listener = RedisWakeups(redis_process.url, shared, listener_notifier)
    await publisher.start()
    await listener.start()
    try:
        waiting = asyncio.create_task(listener_notifier.wait_for_work(PATIENCE_S))
        await asyncio.sleep(0)
        began = time.perf_counter()
        publisher.publish(Changes(queued_runs={"run-1"}))
        await waiting
        took_s = time.perf_counter() - began
    finally:
        await publisher.stop()
        await listener.stop()

    assert took_s < 1.0


async def test_a_server_is_not_woken_by_its_own_messages(redis_process: RedisProcess) -> None:
    shared = prefix()
    own, other = DeadlineLog(), DeadlineLog()
    wakeups = RedisWakeups(redis_process.url, shared, own.notifier)
    neighbour = RedisWakeups(redis_process.url, shared, other.notifier)
    await wakeups.start()
    await neighbour.start()
    try:
        wakeups.publish(Changes(earliest_deadline_ms=1))
        await other.next()
        # Redis delivers in publish order: when the neighbour's message arrives, ours has been skipped.
        neighbour.publish(Changes(earliest_deadline_ms=2))
        await own.next()
    finally:
        await wakeups.stop()
        await neighbour.stop()

    assert own.seen == [2]
    assert other.seen == [1]


class DeadlineLog:
    """The deadlines a notifier was told of, with a way to wait for the next one."""

    def __init__(self) -> None:
        self.notifier = Notifier()
        self.seen: list[int] = []
        self._arrived = asyncio.Event()
        self.notifier.on_deadline(self._record)

    def _record(self, due_at_ms: int) -> None:
        self.seen.append(due_at_ms)
        self._arrived.set()

    async def next(self) -> None:
        await asyncio.wait_for(self._arrived.wait(), PATIENCE_S)
        self._arrived.clear()


relay = workflow(name="relay")


@task(name="hop")
async def hop(value: int) -> int:
    return value + 1


@relay.v("1.0.0")
async def relay_v1(run: Any, value: int) -> int:
    first = await hop.start(run, value)
    await run.sleep("pause", 50)
    return await hop.start(run, first)


def servers_with_redis(db_url: str, redis_url: str) -> list[Server]:
    """A starting server and an executing one on the same database (one object on SQLite)."""
    opts = {"poll_interval_ms": 200, "redis_url": redis_url, "redis_prefix": prefix()}
    if db_url.startswith("sqlite"):
        shared = server(db=database(db_url), opts=opts)
        return [shared, shared]
    return [server(db=database(db_url), opts=opts) for _ in range(2)]


async def test_runs_still_complete_when_redis_dies_mid_run_and_the_loss_is_logged_once(
    db_url: str, redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiki.redis")
    starter, executor = servers_with_redis(db_url, redis_process.url)
    await starter.open()
    await executor.runtime.start()
    running = await worker(workflows=[relay_v1], opts={"poll_interval_ms": 200}).start(
        client(server=executor)
    )
    try:
        before = [await relay_v1.start(client(server=starter), n) for n in range(5)]
        await before[0].wait_for_status("completed", timeout={"seconds": PATIENCE_S})
        redis_process.kill()
        after = [await relay_v1.start(client(server=starter), n) for n in range(5, 10)]
        results = [
            await handle.wait_for_status("completed", timeout={"seconds": PATIENCE_S})
            for handle in before + after
        ]
    finally:
        await running.stop()
        for srv in {starter, executor}:
            await srv.close()

    assert [result.state.output for result in results if result.state is not None] == [
        n + 2 for n in range(10)
    ]
    assert all(result.state is not None and result.state.status is RunStatus.COMPLETED for result in results)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == len({starter, executor})
    assert all("unreachable" in record.getMessage() for record in warnings)
