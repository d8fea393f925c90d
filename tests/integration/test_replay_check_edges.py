"""The replay check at its edges: over HTTP, a run awaiting a workflow retry, a handler that steers another
run, many pages of runs, and wrong use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiki import ConfigurationError, RunStatus, client, database, event, server, task, workflow
from aiki.execution import replay_check
from aiki.testing import ReplayOutcome, check_replay, environment
from tests.integration.replay_check_support import Seeded, database_digest, order_v1, ran, seed
from tests.transport_support import http_client


async def test_the_check_gives_the_same_verdicts_over_http(db_url: str) -> None:
    seeded = await seed(db_url)
    srv = server(db=database(db_url))
    over_http = http_client(srv)
    try:
        report = await check_replay(over_http, order_v1)
    finally:
        await over_http.close()
        await srv.close()

    assert report.ok
    assert [result.run_id for result in report.results] == [
        seeded.waiting,
        seeded.sleeping,
        seeded.paused,
        seeded.scheduled,
    ]
    assert ran == []


def failing_once() -> tuple[Any, list[str]]:
    """A version retried as a whole after an hour, whose task fails on its first attempt; and the attempts."""
    attempts: list[str] = []

    @task(name="edge-flaky")
    async def flaky(_input: None) -> str:
        attempts.append("flaky")
        if len(attempts) == 1:
            raise ConnectionError("the first attempt fails")
        return "fine"

    @workflow(name="edge-retried").v(
        "1.0.0", opts={"retry": {"type": "fixed", "max_attempts": 2, "delay_ms": 3_600_000}}
    )
    async def retried_v1(run: Any) -> str:
        return await flaky.start(run)

    return retried_v1, attempts


async def test_a_run_awaiting_a_workflow_retry_replays_without_the_tasks_its_retry_runs_again(
    db_url: str,
) -> None:
    retried_v1, attempts = failing_once()
    async with environment(workflows=[retried_v1], db=db_url, time_skipping=False) as env:
        handle = await retried_v1.start(env.client)
        await env.run_until_idle()
        assert (await handle.refresh()).state.retry_kind == "workflow"

        report = await check_replay(env.client, retried_v1)

    # The failed attempt is set aside by the retry: replaying it would raise TaskFailedError, wrongly.
    assert report.ok
    assert report.results[0].status is RunStatus.AWAITING_RETRY
    assert report.results[0].stopped_at is not None and report.results[0].stopped_at.startswith(
        "task edge-flaky:"
    )
    assert attempts == ["flaky"]


async def test_a_handler_that_steers_another_run_stops_the_check_before_the_write(db_url: str) -> None:
    child = workflow(name="edge-child")

    @child.v("1.0.0", events={"go": event()})
    async def child_v1(run: Any) -> None:
        await run.events.go.wait()

    @workflow(name="edge-parent").v("1.0.0")
    async def parent_v1(run: Any) -> None:
        await child_v1.start_as_child(run, None)
        await run.sleep("a-while", {"hours": 1})

    @workflow(name="edge-parent").v("1.0.0")
    async def cancelling_parent_v1(run: Any) -> None:
        started = await child_v1.start_as_child(run, None)
        await started.cancel("no longer needed")
        await run.sleep("a-while", {"hours": 1})

    async with environment(workflows=[parent_v1, child_v1], db=db_url, time_skipping=False) as env:
        await parent_v1.start(env.client)
        await env.run_until_idle()

        # A client that could write: the check's own client refuses the cancel all the same.
        report = await check_replay(env.client, cancelling_parent_v1)
        children = await env.client.list_runs(workflow="edge-child")

    assert report.ok
    assert report.results[0].outcome is ReplayOutcome.REACHED_NEW_CODE
    assert report.results[0].stopped_at == "a write (cancel_run), which the check does not make"
    assert [run.status for run in children] == [RunStatus.AWAITING_EVENT]


@pytest.fixture
async def seeded_reader(db_url: str) -> AsyncIterator[tuple[Seeded, Any]]:
    seeded = await seed(db_url)
    srv = server(db=database(db_url, read_only=True))
    yield seeded, client(server=srv)
    await srv.close()


async def test_runs_on_many_pages_are_all_replayed_oldest_first(
    monkeypatch: pytest.MonkeyPatch, db_url: str, seeded_reader: tuple[Seeded, Any]
) -> None:
    seeded, reader = seeded_reader
    monkeypatch.setattr(replay_check, "PAGE_SIZE", 3)
    before = database_digest(db_url)

    report = await check_replay(reader, order_v1, concurrency=2)

    assert [result.run_id for result in report.results] == [
        seeded.waiting,
        seeded.sleeping,
        seeded.paused,
        seeded.scheduled,
    ]
    assert database_digest(db_url) == before


async def test_wrong_use_of_the_check_is_refused_with_a_message_that_says_what_to_do(
    seeded_reader: tuple[Seeded, Any],
) -> None:
    _seeded, reader = seeded_reader
    with pytest.raises(ConfigurationError, match=r"takes a client, got 'sqlite:///aiki.db'"):
        await check_replay("sqlite:///aiki.db", order_v1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"workflow\(\.\.\.\)\.v\(\.\.\.\)"):
        await check_replay(reader, "rc-order")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="positive integer"):
        await check_replay(reader, order_v1, concurrency=0)
