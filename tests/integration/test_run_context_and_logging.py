"""Per-execution context (``worker(context=value_or_factory)``) and ``run.logger``: a factory is called with
the run before each execution; the logger adds the run's fields and is silent while the handler replays, so
each line is logged once per run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from aiki import ConfigurationError, RunStatus, WorkflowRun, WorkflowVersion, event, task, worker, workflow
from aiki.execution.worker import WorkerHandle
from tests.conftest import Env
from tests.integration.run_watch import until


class Collected(logging.Handler):
    """The records logged through ``aiki.run``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def run_log() -> Iterator[Collected]:
    collected = Collected()
    run_logger = logging.getLogger("aiki.run")
    previous = run_logger.level
    run_logger.addHandler(collected)
    run_logger.setLevel(logging.DEBUG)
    yield collected
    run_logger.removeHandler(collected)
    run_logger.setLevel(previous)


async def _start_worker(env: Env, version: WorkflowVersion[Any, Any], **keywords: Any) -> WorkerHandle:
    handle = await worker(workflows=[version], opts={"poll_interval_ms": 200}, **keywords).start(env.client)
    env.workers.append(handle)
    return handle


@task(name="note")
async def note(value: int) -> int:
    return value


@workflow(name="context-napper").v("1")
async def context_napper_v1(run: Any) -> list[Any]:
    first = run.context
    await run.sleep("nap", {"minutes": 1})
    return [first, run.context]


async def _finish_after_nap(env: Env, version: WorkflowVersion[Any, Any]) -> Any:
    handle = await version.start(env.client)
    await until(handle, RunStatus.SLEEPING)
    assert env.clock is not None
    env.clock.advance(60_000)
    await env.server.runtime.tick()
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success, result
    return handle, result.output


async def test_a_context_value_is_run_context_in_every_execution(fake_env: Env) -> None:
    await _start_worker(fake_env, context_napper_v1, context={"pool": "db"})

    _handle, output = await _finish_after_nap(fake_env, context_napper_v1)

    assert output == [{"pool": "db"}, {"pool": "db"}]


async def test_a_sync_factory_is_called_with_the_run_before_each_execution(fake_env: Env) -> None:
    seen: list[WorkflowRun] = []

    def make_context(run: WorkflowRun) -> str:
        seen.append(run)
        return f"context {len(seen)} of {run.id}"

    await _start_worker(fake_env, context_napper_v1, context=make_context)
    handle, output = await _finish_after_nap(fake_env, context_napper_v1)

    assert output == [f"context 2 of {handle.id}"] * 2
    assert [run.id for run in seen] == [handle.id, handle.id]
    assert all(run.status is RunStatus.RUNNING for run in seen)


async def test_an_async_factory_given_as_an_option_is_awaited(fake_env: Env) -> None:
    async def make_context(run: WorkflowRun) -> str:
        return f"made for {run.name}"

    await fake_env.start_worker(context_napper_v1, context=make_context)

    _handle, output = await _finish_after_nap(fake_env, context_napper_v1)

    assert output == ["made for context-napper"] * 2


async def test_a_factory_that_raises_fails_the_run_with_its_error(fake_env: Env) -> None:
    def broken(run: WorkflowRun) -> None:
        raise RuntimeError("the pool is down")

    await _start_worker(fake_env, context_napper_v1, context=broken)
    handle = await context_napper_v1.start(fake_env.client)

    assert (await handle.wait_for_status("failed", timeout={"seconds": 15})).success
    assert handle.run.state.error is not None
    assert (handle.run.state.error["type"], handle.run.state.error["message"]) == (
        "RuntimeError",
        "the pool is down",
    )


def test_a_context_given_twice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="context twice"):
        worker(workflows=[context_napper_v1], opts={"context": 1}, context=2)


@workflow(name="chatty").v("1", events={"go": event()})
async def chatty_v1(run: Any) -> str:
    run.logger.info("starting")
    await note.start(run, 1)
    run.logger.info("before the nap")
    await run.sleep("nap", {"minutes": 1})
    run.logger.info("after the nap", extra={"detail": "rested"})
    await run.events.go.wait()
    child = await chatty_child_v1.start_as_child(run)
    await child.wait_for_status("completed")
    run.logger.warning("done")
    return "ok"


@workflow(name="chatty-child").v("1")
async def chatty_child_v1(run: Any) -> None:
    run.logger.info("child here")


async def test_each_line_is_logged_once_per_run_with_the_runs_fields(
    fake_env: Env, run_log: Collected
) -> None:
    await fake_env.start_worker(chatty_v1, chatty_child_v1)
    handle = await chatty_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    assert fake_env.clock is not None
    fake_env.clock.advance(60_000)
    await fake_env.server.runtime.tick()
    await until(handle, RunStatus.AWAITING_EVENT)
    await handle.events.go.send()
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success

    mine = [record for record in run_log.records if getattr(record, "aiki_run_id", None) == handle.id]
    assert [record.getMessage() for record in mine] == ["starting", "before the nap", "after the nap", "done"]
    assert {record.name for record in run_log.records} == {"aiki.run"}
    first = mine[0]
    assert (first.aiki_workflow, first.aiki_version, first.aiki_attempt) == ("chatty", "1", 1)  # type: ignore[attr-defined]
    assert mine[2].detail == "rested"  # type: ignore[attr-defined]
    assert [record.getMessage() for record in run_log.records if record not in mine] == ["child here"]
