"""Bad input raises a clear ``AikiError`` subclass at the call site, and leaves nothing half-written."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from aiki import (
    AikiError,
    ConfigurationError,
    InvalidOptionError,
    InvalidTransitionError,
    NotFoundError,
    RunStatus,
    SchemaValidationError,
    SerializationError,
    WorkflowRunConflictError,
    WorkflowRunHandle,
    WorkflowVersion,
    event,
    task,
    workflow,
)
from tests.conftest import Env
from tests.integration.run_watch import until


class Payment(BaseModel):
    amount: int


class Strict(BaseModel):
    count: int


@dataclass(frozen=True, slots=True)
class Shop:
    """A fresh ``shop@1.0.0`` whose handler does what its input's ``mode`` says, and how often each of its
    tasks' bodies ran."""

    version: WorkflowVersion[dict[str, Any], Any]
    executions: Counter[str]


def _shop() -> Shop:
    executions: Counter[str] = Counter()

    @task(name="record")
    async def record(input: Any) -> Any:
        executions["record"] += 1
        return datetime(2030, 1, 1) if input == "make a datetime" else "ok"

    @task(name="strict", schema={"input": Strict})
    async def strict(input: Strict) -> int:
        executions["strict"] += 1
        return input.count

    @workflow(name="shop").v("1.0.0", events={"paid": event(schema=Payment), "note": event()})
    async def shop_v1(run: Any, input: dict[str, Any]) -> Any:
        mode = input.get("mode")
        if mode == "wait":
            paid = await run.events.paid.wait()
            return paid.data.amount
        if mode == "task-output":
            return await record.start(run, "make a datetime")
        if mode == "task-input":
            return await record.start(run, {"when": {1, 2}})
        if mode == "task-schema":
            return await strict.start(run, {"count": "many"})
        if mode == "workflow-output":
            return {"value": object()}
        if mode == "zero-sleep":
            await run.sleep("nap", 0)
        return "done"

    return Shop(shop_v1, executions)


@pytest.fixture
def shop() -> Shop:
    return _shop()


async def _no_runs(env: Env) -> None:
    assert (await env.client.list_runs()).runs == []


# --- non-JSON values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_input",
    [{"when": datetime(2030, 1, 1)}, {"tags": {"a", "b"}}, {"ratio": math.nan}, {1: "int key"}, object()],
    ids=["datetime", "set", "nan", "int-key", "object"],
)
async def test_a_start_with_a_non_json_input_raises_and_creates_no_run(
    env: Env, shop: Shop, bad_input: Any
) -> None:
    with pytest.raises(SerializationError, match=r"input of workflow 'shop'.*not JSON-serialisable"):
        await shop.version.start(env.client, bad_input)
    await _no_runs(env)


async def test_the_serialisation_error_names_the_bad_part_of_the_value(env: Env, shop: Shop) -> None:
    with pytest.raises(SerializationError, match=r'value\["order"\]\["when"\]'):
        await shop.version.start(env.client, {"order": {"when": datetime(2030, 1, 1)}})


async def _failed_state(env: Env, shop: Shop, mode: str) -> Any:
    await env.start_worker(shop.version)
    handle = await shop.version.start(env.client, {"mode": mode})
    result = await handle.wait_for_status("failed", timeout={"seconds": 15})
    assert result.success, result
    return handle


async def test_a_non_json_workflow_output_fails_the_run_with_a_serialisation_error(
    env: Env, shop: Shop
) -> None:
    handle = await _failed_state(env, shop, "workflow-output")

    error = handle.run.state.error
    assert error["type"] == "SerializationError"
    assert "output of run" in error["message"] and 'value["value"]' in error["message"]
    assert handle.run.state.output is None


async def test_a_non_json_task_output_fails_the_run_and_records_no_task(env: Env, shop: Shop) -> None:
    handle = await _failed_state(env, shop, "task-output")

    assert handle.run.state.error["type"] == "SerializationError"
    assert "output of task 'record'" in handle.run.state.error["message"]
    assert (await env.client.get_history(handle.id)).tasks == []
    assert shop.executions["record"] == 1


async def test_a_non_json_task_input_fails_the_run_before_the_task_runs(env: Env, shop: Shop) -> None:
    handle = await _failed_state(env, shop, "task-input")

    assert handle.run.state.error["type"] == "SerializationError"
    assert "input of task 'record'" in handle.run.state.error["message"]
    assert (await env.client.get_history(handle.id)).tasks == []
    assert shop.executions["record"] == 0


async def _waiting_shop(env: Env, shop: Shop) -> WorkflowRunHandle:
    await env.start_worker(shop.version)
    handle = await shop.version.start(env.client, {"mode": "wait"})
    await until(handle, RunStatus.AWAITING_EVENT)
    return handle


async def test_sending_non_json_event_data_raises_and_stores_nothing(env: Env, shop: Shop) -> None:
    handle = await shop.version.start(env.client, {"mode": "wait"})
    with pytest.raises(SerializationError, match="data of event 'note'"):
        await handle.events.note.send({"at": datetime(2030, 1, 1)})
    assert (await env.client.get_history(handle.id)).events == []


async def test_sending_event_data_that_breaks_its_schema_raises_and_stores_nothing(
    env: Env, shop: Shop
) -> None:
    handle = await _waiting_shop(env, shop)
    revision = handle.run.revision

    with pytest.raises(SchemaValidationError, match="amount"):
        await handle.events.paid.send({"amount": "lots"})

    assert (await env.client.get_history(handle.id)).events == []
    run = await handle.refresh()
    assert (run.status, run.revision) == (RunStatus.AWAITING_EVENT, revision)
    await handle.events.paid.send({"amount": 12})
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).state.output == 12  # type: ignore[union-attr]


async def test_an_event_the_version_does_not_declare_raises_not_found(env: Env, shop: Shop) -> None:
    handle = await shop.version.start(env.client, {"mode": "wait"})
    with pytest.raises(NotFoundError, match=r"'refunded'.*note, paid"):
        handle.events.refunded  # noqa: B018


# --- schema violations inside a run ----------------------------------------------------------------------


async def test_a_task_input_that_breaks_its_schema_fails_the_run_without_running_the_task(
    env: Env, shop: Shop
) -> None:
    await env.start_worker(shop.version)
    handle = (
        await shop.version.with_()
        .opt("retry", {"type": "fixed", "max_attempts": 3, "delay_ms": 1})
        .start(env.client, {"mode": "task-schema"})
    )

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and handle.run.attempts == 1  # a schema violation is not retried
    assert handle.run.state.error is not None
    assert handle.run.state.error["type"] == "SchemaValidationError"
    assert "input of task 'strict'" in handle.run.state.error["message"]
    assert shop.executions["strict"] == 0


async def test_a_zero_sleep_fails_the_run_with_a_clear_error(env: Env, shop: Shop) -> None:
    handle = await _failed_state(env, shop, "zero-sleep")

    assert handle.run.state.error["type"] == "InvalidOptionError"
    assert "longer than zero" in handle.run.state.error["message"]


# --- options ----------------------------------------------------------------------------------------------


async def test_a_bad_option_raises_before_anything_is_written(env: Env, shop: Shop) -> None:
    with pytest.raises(InvalidOptionError):
        await shop.version.with_().opt("shard", "eu").opt("pool", "eu").start(env.client, {})
    with pytest.raises(InvalidOptionError):
        await shop.version.with_().opt("trigger", {"delay": "soon"}).start(env.client, {})
    await _no_runs(env)


ACCEPTED_STATUSES = "wait for 'completed', 'failed' or 'cancelled'."


async def test_waiting_for_a_status_that_is_not_terminal_raises_naming_the_statuses_it_accepts(
    env: Env,
    shop: Shop,
) -> None:
    handle = await shop.version.start(env.client, {})
    with pytest.raises(InvalidOptionError) as caught:
        await handle.wait_for_status("running")  # type: ignore[arg-type]
    assert caught.value.message.endswith(ACCEPTED_STATUSES)
    assert "'running' is not a status a run ends in" in caught.value.message


async def test_waiting_for_an_unknown_status_lists_only_the_statuses_it_accepts(env: Env, shop: Shop) -> None:
    handle = await shop.version.start(env.client, {})
    with pytest.raises(InvalidOptionError) as caught:
        await handle.wait_for_status("done")  # type: ignore[arg-type]
    assert caught.value.message == f"wait_for_status('done'): 'done' is not a run status; {ACCEPTED_STATUSES}"


# --- reference ids --------------------------------------------------------------------------------------


async def test_the_same_reference_and_input_returns_the_existing_run(env: Env, shop: Shop) -> None:
    first = await shop.version.with_().opt("reference.id", "order-1").start(env.client, {"n": 1})
    again = await shop.version.with_().opt("reference.id", "order-1").start(env.client, {"n": 1})
    assert again.id == first.id
    assert len(await env.client.list_runs()) == 1


async def test_the_same_reference_with_another_input_raises_and_creates_nothing(env: Env, shop: Shop) -> None:
    first = await shop.version.with_().opt("reference.id", "order-1").start(env.client, {"n": 1})

    with pytest.raises(WorkflowRunConflictError, match=rf"'order-1'.*{first.id}.*return_existing") as caught:
        await shop.version.with_().opt("reference.id", "order-1").start(env.client, {"n": 2})

    assert caught.value.existing_run_id == first.id
    assert [run.id for run in await env.client.list_runs()] == [first.id]


async def test_return_existing_gives_the_existing_run_for_another_input(env: Env, shop: Shop) -> None:
    first = await shop.version.with_().opt("reference.id", "order-1").start(env.client, {"n": 1})
    again = (
        await shop.version.with_()
        .opt("reference", {"id": "order-1", "conflict_policy": "return_existing"})
        .start(env.client, {"n": 2})
    )
    assert again.id == first.id and again.run.input == {"n": 1}


# --- handles --------------------------------------------------------------------------------------------


async def test_get_handle_of_an_unknown_id_raises_not_found(env: Env, shop: Shop) -> None:
    with pytest.raises(NotFoundError, match="no-such-run"):
        await shop.version.get_handle(env.client, "no-such-run")


async def test_get_handle_of_a_run_of_another_version_raises_not_found(env: Env, shop: Shop) -> None:
    async def other_v1(run: Any, input: Any) -> None:
        return None

    other = workflow(name="other").v("1.0.0", handler=other_v1)
    handle = await other.start(env.client, None)
    with pytest.raises(NotFoundError, match=r"workflow 'other' version '1\.0\.0'"):
        await shop.version.get_handle(env.client, handle.id)


Operation = Callable[[WorkflowRunHandle], Awaitable[Any]]


async def _pause(handle: WorkflowRunHandle) -> Any:
    return await handle.pause()


async def _resume(handle: WorkflowRunHandle) -> Any:
    return await handle.resume()


async def _awake(handle: WorkflowRunHandle) -> Any:
    return await handle.awake()


async def _cancel(handle: WorkflowRunHandle) -> Any:
    return await handle.cancel("again")


async def _completed(env: Env, shop: Shop) -> WorkflowRunHandle:
    await env.start_worker(shop.version)
    handle = await shop.version.start(env.client, {})
    await handle.wait_for_status("completed", timeout={"seconds": 15})
    return handle


async def _queued(env: Env, shop: Shop) -> WorkflowRunHandle:
    return await shop.version.start(env.client, {})


async def _paused(env: Env, shop: Shop) -> WorkflowRunHandle:
    handle = await shop.version.start(env.client, {})
    await handle.pause()
    return handle


async def _cancelled(env: Env, shop: Shop) -> WorkflowRunHandle:
    handle = await shop.version.start(env.client, {})
    await handle.cancel()
    return handle


CASES: list[tuple[str, Callable[[Env, Shop], Awaitable[WorkflowRunHandle]], Operation]] = [
    ("cancel a completed run", _completed, _cancel),
    ("cancel a cancelled run", _cancelled, _cancel),
    ("pause a completed run", _completed, _pause),
    ("pause a paused run", _paused, _pause),
    ("resume a queued run", _queued, _resume),
    ("resume a completed run", _completed, _resume),
    ("awake a queued run", _queued, _awake),
    ("awake a paused run", _paused, _awake),
    ("awake a completed run", _completed, _awake),
]


@pytest.mark.parametrize(
    ("setup", "operation"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_an_operation_the_status_does_not_allow_raises_and_changes_nothing(
    env: Env, shop: Shop, setup: Callable[[Env, Shop], Awaitable[WorkflowRunHandle]], operation: Operation
) -> None:
    handle = await setup(env, shop)
    before = await handle.refresh()
    timeline = await env.client.get_timeline(handle.id)

    with pytest.raises(InvalidTransitionError) as caught:
        await operation(handle)

    error = caught.value
    assert isinstance(error, AikiError)
    assert error.run_id == handle.id and error.status == before.status.value
    assert handle.id in error.message and repr(before.status.value) in error.message
    after = await handle.refresh()
    assert (after.status, after.revision, after.state) == (before.status, before.revision, before.state)
    assert await env.client.get_timeline(handle.id) == timeline


# --- API misuse -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [123, "", ["why"]], ids=["int", "empty", "list"])
async def test_a_cancel_reason_that_is_not_a_non_empty_string_raises_and_cancels_nothing(
    env: Env, shop: Shop, reason: Any
) -> None:
    handle = await shop.version.start(env.client, {})

    with pytest.raises(InvalidOptionError, match="reason"):
        await handle.cancel(reason)

    assert (await handle.refresh()).status is RunStatus.QUEUED


async def test_starting_a_task_outside_a_workflow_handler_raises_a_clear_error() -> None:
    @task(name="record")
    async def record(input: str) -> str:
        return input

    with pytest.raises(ConfigurationError, match=r"task 'record'.*inside a workflow handler"):
        await record.start(None, "x")  # type: ignore[arg-type]


async def test_starting_with_a_server_instead_of_a_client_raises_a_clear_error(env: Env, shop: Shop) -> None:
    with pytest.raises(ConfigurationError, match=r"client\(server=srv\)"):
        await shop.version.start(env.server, {})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"client\(server=srv\)"):
        await shop.version.get_handle(env.server, "some-id")  # type: ignore[arg-type]
    await _no_runs(env)


async def test_start_as_child_outside_a_workflow_handler_raises_a_configuration_error() -> None:
    from aiki import ConfigurationError, workflow

    async def lonely(run: Any, input: Any) -> None:
        return None

    child_v1 = workflow(name="lonely-child").v("1.0.0", handler=lonely)
    with pytest.raises(ConfigurationError, match="only inside a workflow handler"):
        await child_v1.start_as_child(None, {"x": 1})  # type: ignore[arg-type]
