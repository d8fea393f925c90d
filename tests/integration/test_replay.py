"""Replay by content address across a redeploy, and cached outputs re-validated.

A redeploy is another workflow object with the same name and version and a changed
handler, registered by another worker, picking up a run the first one left suspended on an event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from aiki import RunStatus, Task, WorkflowVersion, event, task, workflow
from aiki.execution.task_runner import task_address
from tests.conftest import Env
from tests.integration.run_watch import until

NAME, VERSION = "cam", "1.0.0"


@dataclass(frozen=True, slots=True)
class Steps:
    """The tasks ``a``, ``b``, ``c``, ``x`` and ``a-renamed`` of one test (each returns ``name(input)``), and
    how often each body ran."""

    a: Task[Any, str]
    b: Task[Any, str]
    c: Task[Any, str]
    x: Task[Any, str]
    a_renamed: Task[Any, str]
    executions: Counter[str]


@pytest.fixture
def steps() -> Steps:
    executions: Counter[str] = Counter()

    def counted(name: str) -> Task[Any, str]:
        async def handler(input: Any) -> str:
            executions[name] += 1
            return f"{name}({input})"

        return task(name=name, handler=handler)

    return Steps(*(counted(name) for name in ("a", "b", "c", "x", "a-renamed")), executions=executions)


Body = Callable[[Any], Awaitable[list[str]]]


def _deployment(body: Body) -> WorkflowVersion:
    """A fresh workflow object ``cam@1.0.0`` whose handler runs ``body`` then waits for the ``go`` event."""

    async def handler(run: Any, input: Any) -> list[str]:
        results = await body(run)
        await run.events.go.wait()
        return results

    version: WorkflowVersion = workflow(name=NAME).v(VERSION, handler=handler, events={"go": event()})
    return version


def _original(steps: Steps) -> Body:
    async def body(run: Any) -> list[str]:
        return [await steps.a.start(run, 1), await steps.b.start(run, 2)]

    return body


async def _redeploy(env: Env, steps: Steps, body: Body) -> Any:
    """Run the original up to its event wait, redeploy ``body``, deliver the event; the run's final state."""
    first = await env.start_worker(_deployment(_original(steps)))
    handle = await _deployment(_original(steps)).start(env.client, None)
    await until(handle, RunStatus.AWAITING_EVENT)
    await first.stop()
    assert steps.executions == Counter({"a": 1, "b": 1})

    await env.start_worker(_deployment(body))
    await handle.events.go.send()
    await handle.wait_for_status("completed", timeout={"seconds": 15})
    return handle.run.state


async def test_reordering_tasks_with_different_addresses_replays_both(env: Env, steps: Steps) -> None:
    async def reordered(run: Any) -> list[str]:
        return [await steps.b.start(run, 2), await steps.a.start(run, 1)]

    state = await _redeploy(env, steps, reordered)

    assert state.status is RunStatus.COMPLETED
    assert state.output == ["b(2)", "a(1)"]
    assert steps.executions == Counter({"a": 1, "b": 1})


async def test_removing_a_recorded_task_completes_without_running_anything(env: Env, steps: Steps) -> None:
    async def removed(run: Any) -> list[str]:
        return [await steps.a.start(run, 1)]

    state = await _redeploy(env, steps, removed)

    assert state.status is RunStatus.COMPLETED and state.output == ["a(1)"]
    assert steps.executions == Counter({"a": 1, "b": 1})


async def test_appending_a_task_after_the_recorded_ones_runs_it_once(env: Env, steps: Steps) -> None:
    async def appended(run: Any) -> list[str]:
        return [await steps.a.start(run, 1), await steps.b.start(run, 2), await steps.c.start(run, 3)]

    state = await _redeploy(env, steps, appended)

    assert state.status is RunStatus.COMPLETED and state.output == ["a(1)", "b(2)", "c(3)"]
    assert steps.executions == Counter({"a": 1, "b": 1, "c": 1})


def _assert_non_determinism(state: Any, new_address: str) -> None:
    assert state.status is RunStatus.FAILED
    assert state.error["type"] == "NonDeterminismError"
    message = state.error["message"]
    assert repr(new_address) in message
    for recorded in (task_address("a", 1), task_address("b", 2)):
        assert f"task {recorded} #0" in message


async def test_inserting_a_task_before_recorded_ones_fails_the_run_with_non_determinism(
    env: Env, steps: Steps
) -> None:
    async def inserted(run: Any) -> list[str]:
        return [await steps.x.start(run, 0), await steps.a.start(run, 1), await steps.b.start(run, 2)]

    state = await _redeploy(env, steps, inserted)

    _assert_non_determinism(state, task_address("x", 0))
    assert steps.executions["x"] == 0  # the new task never ran


async def test_changing_a_task_input_fails_the_run_with_non_determinism(env: Env, steps: Steps) -> None:
    async def changed(run: Any) -> list[str]:
        return [await steps.a.start(run, 100), await steps.b.start(run, 2)]

    state = await _redeploy(env, steps, changed)

    _assert_non_determinism(state, task_address("a", 100))
    assert steps.executions == Counter({"a": 1, "b": 1})


async def test_renaming_a_task_fails_the_run_with_non_determinism(env: Env, steps: Steps) -> None:
    async def renamed(run: Any) -> list[str]:
        return [await steps.a_renamed.start(run, 1), await steps.b.start(run, 2)]

    state = await _redeploy(env, steps, renamed)

    _assert_non_determinism(state, task_address("a-renamed", 1))
    assert steps.executions["a-renamed"] == 0


async def test_taking_another_branch_fails_the_run_with_non_determinism_naming_the_old_tasks(
    env: Env,
    steps: Steps,
) -> None:
    async def other_branch(run: Any) -> list[str]:
        return [await steps.c.start(run, 3)]

    state = await _redeploy(env, steps, other_branch)

    _assert_non_determinism(state, task_address("c", 3))
    assert steps.executions["c"] == 0


async def test_adding_an_event_wait_before_the_recorded_tasks_is_safe(env: Env, steps: Steps) -> None:
    async def waits_first(run: Any) -> list[str]:
        await run.events.go.wait()  # takes the first event; the deployment's final wait needs a second
        return [await steps.a.start(run, 1), await steps.b.start(run, 2)]

    first = await env.start_worker(_deployment(_original(steps)))
    handle = await _deployment(_original(steps)).start(env.client, None)
    await until(handle, RunStatus.AWAITING_EVENT)
    await first.stop()
    await env.start_worker(_deployment(waits_first))
    await handle.events.go.send()
    await until(handle, RunStatus.AWAITING_EVENT)  # the redeployed handler's second wait
    await handle.events.go.send()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == ["a(1)", "b(2)"]
    assert steps.executions == Counter({"a": 1, "b": 1})


async def test_non_determinism_is_not_retried_even_with_a_retry_policy(env: Env, steps: Steps) -> None:
    first = await env.start_worker(_deployment(_original(steps)))
    handle = (
        await _deployment(_original(steps))
        .with_()
        .opt("retry", {"type": "fixed", "max_attempts": 5, "delay_ms": 1})
        .start(env.client, None)
    )
    await until(handle, RunStatus.AWAITING_EVENT)
    await first.stop()

    async def inserted(run: Any) -> list[str]:
        return [await steps.x.start(run, 0)]

    await env.start_worker(_deployment(inserted))
    await handle.events.go.send()
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and handle.run.attempts == 1


async def test_the_same_task_called_twice_with_the_same_input_replays_in_order(
    env: Env, steps: Steps
) -> None:
    async def twice(run: Any) -> list[str]:
        return [await steps.a.start(run, 1), await steps.a.start(run, 1)]

    first = await env.start_worker(_deployment(twice))
    handle = await _deployment(twice).start(env.client, None)
    await until(handle, RunStatus.AWAITING_EVENT)
    await first.stop()
    history = await env.client.get_history(handle.id)
    assert [(entry.address, entry.occurrence) for entry in history.tasks] == [
        (task_address("a", 1), 0),
        (task_address("a", 1), 1),
    ]

    await env.start_worker(_deployment(twice))
    await handle.events.go.send()
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success and steps.executions == Counter({"a": 2})


# --- cached outputs are validated against the output schema on replay -------------------------------------


class PriceV1(BaseModel):
    total: int


class PriceV2(BaseModel):
    total: int
    currency: str


def _price_task(schema: type[BaseModel], executions: Counter[str]) -> Task:
    async def handler(input: Any) -> dict[str, Any]:
        executions["price"] += 1
        return {"total": 5}

    return task(name="price", handler=handler, schema={"output": schema})


def _pricing(schema: type[BaseModel], executions: Counter[str]) -> WorkflowVersion:
    price = _price_task(schema, executions)

    async def handler(run: Any, input: Any) -> int:
        quote = await price.start(run, "cart-1")
        # The handler sees a model instance both when the task runs and when it replays.
        assert isinstance(quote, schema)
        await run.events.go.wait()
        return quote.total

    version: WorkflowVersion = workflow(name="pricing").v("1.0.0", handler=handler, events={"go": event()})
    return version


async def _replay_pricing(
    env: Env, recorded_with: type[BaseModel], replayed_with: type[BaseModel]
) -> tuple[Any, Counter[str]]:
    """Record a price with one schema, replay it with another: the run's final state, and how often the
    task body ran."""
    executions: Counter[str] = Counter()
    first = await env.start_worker(_pricing(recorded_with, executions))
    handle = await _pricing(recorded_with, executions).start(env.client, None)
    await until(handle, RunStatus.AWAITING_EVENT)
    await first.stop()
    await env.start_worker(_pricing(replayed_with, executions))
    await handle.events.go.send()
    await handle.wait_for_status("completed", timeout={"seconds": 15})
    return handle.run.state, executions


async def test_a_cached_output_that_still_fits_its_schema_replays_as_a_model(env: Env) -> None:
    state, executions = await _replay_pricing(env, PriceV1, PriceV1)

    assert state.status is RunStatus.COMPLETED and state.output == 5
    assert executions["price"] == 1


async def test_a_cached_output_that_no_longer_fits_its_schema_fails_the_run_clearly(env: Env) -> None:
    state, executions = await _replay_pricing(env, PriceV1, PriceV2)

    assert state.status is RunStatus.FAILED
    assert state.error["type"] == "SchemaValidationError"
    assert "recorded output of task 'price'" in state.error["message"]
    assert "currency" in state.error["message"]
    assert executions["price"] == 1  # the task is not run again to get a fitting output
