"""Child workflows: durable waits on a child's status, reference ids, cancellation cascade, replay, shards."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiki import RunStatus, WorkflowRunHandle, WorkflowVersion, event, task, workflow
from tests.conftest import Env
from tests.integration.run_watch import awaiting_event, until

child = workflow(name="child")


@child.v("1.0.0", events={"go": event()})
async def child_v1(run: Any, input: Any) -> dict[str, Any]:
    """Ends as the test tells it: ``send("complete")`` completes it, ``send("fail")`` fails it."""
    order = (await run.events.go.wait()).data
    if order == "fail":
        raise RuntimeError(f"child {input} was told to fail")
    return {"child": input}


parent = workflow(name="parent")


@parent.v("1.0.0")
async def parent_v1(run: Any, input: Any) -> dict[str, Any]:
    handle = await child_v1.start_as_child(run, input.get("child_input", "c1"))
    waited = await handle.wait_for_status(input.get("status", "completed"), timeout=input.get("timeout"))
    return {
        "child_id": handle.id,
        "success": waited.success,
        "cause": waited.cause,
        "timeout": waited.timeout,
        "output": waited.state.output if waited.state is not None else None,
    }


async def _child_of(env: Env, parent_run_id: str) -> WorkflowRunHandle:
    history = await env.client.get_history(parent_run_id)
    assert len(history.children) == 1, history.children
    return await child_v1.get_handle(env.client, history.children[0].child_run_id)


async def test_a_parent_waiting_for_its_child_is_suspended_until_the_child_completes(fake_env: Env) -> None:
    await fake_env.start_worker(parent_v1, child_v1)
    handle = await parent_v1.start(fake_env.client, {"child_input": "c1"})

    waiting = await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    kid = await _child_of(fake_env, handle.id)
    assert waiting.state.child_run_id == kid.id
    assert waiting.state.child_status == "completed"
    assert kid.run.parent_run_id == handle.id
    await until(kid, awaiting_event("go"))

    await kid.events.go.send("complete")

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None
    assert result.state.output == {
        "child_id": kid.id,
        "success": True,
        "cause": None,
        "timeout": False,
        "output": {"child": "c1"},
    }


async def test_a_child_that_fails_wakes_its_parent_waiting_for_completed_with_the_cause(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(parent_v1, child_v1)
    handle = await parent_v1.start(fake_env.client, {})
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    kid = await _child_of(fake_env, handle.id)
    await until(kid, awaiting_event("go"))

    await kid.events.go.send("fail")

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None
    assert result.state.output["success"] is False
    assert result.state.output["cause"] == "failed"
    assert result.state.output["timeout"] is False


async def test_a_cancelled_child_wakes_its_parent_with_cause_cancelled(fake_env: Env) -> None:
    await fake_env.start_worker(parent_v1, child_v1)
    handle = await parent_v1.start(fake_env.client, {})
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    kid = await _child_of(fake_env, handle.id)

    await kid.cancel("not needed")

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None
    assert (result.state.output["success"], result.state.output["cause"]) == (False, "cancelled")


async def test_a_parent_waiting_for_failed_succeeds_when_the_child_fails(fake_env: Env) -> None:
    await fake_env.start_worker(parent_v1, child_v1)
    handle = await parent_v1.start(fake_env.client, {"status": "failed"})
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    kid = await _child_of(fake_env, handle.id)
    await until(kid, awaiting_event("go"))

    await kid.events.go.send("fail")

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None
    assert (result.state.output["success"], result.state.output["cause"]) == (True, None)


async def test_a_child_wait_that_times_out_returns_timeout_true(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(parent_v1, child_v1)
    started_at_ms = fake_env.clock.now_ms()
    handle = await parent_v1.start(fake_env.client, {"timeout": {"minutes": 10}})
    waiting = await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    assert waiting.state.timeout_at_ms == started_at_ms + 600_000
    await until(await _child_of(fake_env, handle.id), awaiting_event("go"))

    fake_env.clock.advance(599_999)
    assert await fake_env.server.runtime.tick() == 0
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None
    assert result.state.output["success"] is False
    assert result.state.output["timeout"] is True
    assert result.state.output["cause"] is None
    kid = await _child_of(fake_env, handle.id)
    assert (await kid.refresh()).status is RunStatus.AWAITING_EVENT


twins = workflow(name="twins")


@twins.v("1.0.0")
async def twins_v1(run: Any, input: Any) -> list[Any]:
    first = await child_v1.start_as_child(run, "first")
    second = await child_v1.start_as_child(run, "second")
    waited = await asyncio.gather(first.wait_for_status("completed"), second.wait_for_status("completed"))
    return [result.state.output["child"] for result in waited if result.state is not None]


async def test_gather_of_two_child_waits_continues_once_both_children_completed(fake_env: Env) -> None:
    await fake_env.start_worker(twins_v1, child_v1)
    handle = await twins_v1.start(fake_env.client)
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    history = await fake_env.client.get_history(handle.id)
    first, second = [
        await child_v1.get_handle(fake_env.client, entry.child_run_id) for entry in history.children
    ]
    await until(second, awaiting_event("go"))
    await second.events.go.send("complete")
    await until(second, RunStatus.COMPLETED)
    assert (await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)).state.child_run_id == first.id

    await until(first, awaiting_event("go"))
    await first.events.go.send("complete")

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == ["first", "second"]


late_parent = workflow(name="late-parent")


@late_parent.v("1.0.0")
async def late_parent_v1(run: Any, input: Any) -> Any:
    handle = await child_v1.start_as_child(run, "early")
    await run.sleep("let-the-child-finish", 1_000)
    waited = await handle.wait_for_status("completed")
    return [waited.success, waited.state.output if waited.state else None]


async def test_a_child_that_finished_before_the_wait_returns_its_result_without_parking(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(late_parent_v1, child_v1)
    handle = await late_parent_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    kid = await _child_of(fake_env, handle.id)
    await until(kid, awaiting_event("go"))
    await kid.events.go.send("complete")
    await until(kid, RunStatus.COMPLETED)

    await handle.awake()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == [True, {"child": "early"}]
    timeline = await fake_env.client.get_timeline(handle.id)
    assert RunStatus.AWAITING_CHILD_WORKFLOW.value in [step.to_status for step in timeline]
    assert [step.reason for step in timeline if step.from_status == "awaiting_child_workflow"] == [
        "child_workflow"
    ]


by_reference = workflow(name="by-reference")


@by_reference.v("1.0.0")
async def by_reference_v1(run: Any, input: Any) -> str:
    starter = child_v1.with_().opt("reference", {"id": "shared-child", "conflict_policy": input["policy"]})
    handle = await starter.start_as_child(run, input["child_input"])
    return handle.id


async def test_a_child_with_a_reference_id_already_used_with_the_same_input_is_that_run(
    fake_env: Env,
) -> None:
    existing = await child_v1.with_().opt("reference.id", "shared-child").start(fake_env.client, "same")
    await fake_env.start_worker(by_reference_v1)

    handle = await by_reference_v1.start(fake_env.client, {"policy": "error", "child_input": "same"})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == existing.id
    history = await fake_env.client.get_history(handle.id)
    assert [entry.child_run_id for entry in history.children] == [existing.id]
    assert history.children[0].address == "child:1.0.0:shared-child"


async def test_a_child_reference_id_used_with_another_input_fails_the_parent_by_default(
    fake_env: Env,
) -> None:
    existing = await child_v1.with_().opt("reference.id", "shared-child").start(fake_env.client, "first")
    await fake_env.start_worker(by_reference_v1)

    handle = await by_reference_v1.start(fake_env.client, {"policy": "error", "child_input": "second"})

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})
    assert result.success and result.state is not None and result.state.error is not None
    assert result.state.error["type"] == "WorkflowRunConflictError"
    assert existing.id in result.state.error["message"]
    children = await fake_env.client.list_runs(workflow="child")
    assert [run.id for run in children] == [existing.id]


async def test_a_child_reference_conflict_with_return_existing_gets_the_existing_run(fake_env: Env) -> None:
    existing = await child_v1.with_().opt("reference.id", "shared-child").start(fake_env.client, "first")
    await fake_env.start_worker(by_reference_v1)

    handle = await by_reference_v1.start(
        fake_env.client, {"policy": "return_existing", "child_input": "second"}
    )

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == existing.id


family = workflow(name="family")


@family.v("1.0.0")
async def family_v1(run: Any, input: Any) -> None:
    """Starts two children and a grandchild (through a nested family) and waits for the first child."""
    first = await child_v1.start_as_child(run, f"{input}-a")
    await child_v1.start_as_child(run, f"{input}-b")
    if input == "top":
        await family_v1.start_as_child(run, "nested")
    await first.wait_for_status("completed")


async def test_cancelling_a_parent_cancels_its_children_and_their_children(fake_env: Env) -> None:
    await fake_env.start_worker(family_v1, child_v1)
    handle = await family_v1.start(fake_env.client, "top")
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    history = await fake_env.client.get_history(handle.id)
    nested = await family_v1.get_handle(fake_env.client, history.children[2].child_run_id)
    await until(nested, RunStatus.AWAITING_CHILD_WORKFLOW)
    finished_child = await child_v1.get_handle(fake_env.client, history.children[1].child_run_id)
    await until(finished_child, awaiting_event("go"))
    await finished_child.events.go.send("complete")
    await until(finished_child, RunStatus.COMPLETED)

    await handle.cancel("order withdrawn")

    runs = {run.input: run for run in await fake_env.client.list_runs(limit=100, include_values=True)}
    assert runs["top"].status is RunStatus.CANCELLED
    assert runs["top-b"].status is RunStatus.COMPLETED
    for name in ("top-a", "nested", "nested-a", "nested-b"):
        assert runs[name].status is RunStatus.CANCELLED, name
        assert runs[name].state.reason is not None and "was cancelled" in runs[name].state.reason


def _counted() -> tuple[WorkflowVersion[Any, list[str]], list[str]]:
    """A fresh ``counted@1.0.0`` that starts the same child twice around a sleep; and the ids of the runs
    its executions belonged to (one entry per execution of the handler)."""
    executions: list[str] = []

    @workflow(name="counted").v("1.0.0")
    async def counted_v1(run: Any, input: Any) -> list[str]:
        executions.append(run.id)
        first = await child_v1.start_as_child(run, "twin")
        await run.sleep("between", 1_000)
        second = await child_v1.start_as_child(run, "twin")
        await first.wait_for_status("completed", timeout={"minutes": 1})
        await second.wait_for_status("completed", timeout={"minutes": 1})
        return [first.id, second.id]

    return counted_v1, executions


async def test_replay_never_starts_a_child_twice(fake_env: Env) -> None:
    assert fake_env.clock is not None
    counted_v1, executions = _counted()
    await fake_env.start_worker(counted_v1, child_v1)
    handle = await counted_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    fake_env.clock.advance(1_000)
    await fake_env.server.runtime.tick()
    first_wait = await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    for child_run in await fake_env.client.list_runs(workflow="child"):
        await until(await child_v1.get_handle(fake_env.client, child_run.id), awaiting_event("go"))
    fake_env.clock.advance(60_000)
    await fake_env.server.runtime.tick()
    await until(
        handle,
        lambda run: (
            run.status is RunStatus.AWAITING_CHILD_WORKFLOW
            and run.state.child_run_id != first_wait.state.child_run_id
        ),
    )
    fake_env.clock.advance(60_000)
    await fake_env.server.runtime.tick()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert len(executions) == 4
    children = await fake_env.client.list_runs(workflow="child")
    assert len(children) == 2
    assert result.state is not None
    assert sorted(result.state.output) == sorted(run.id for run in children)
    history = await fake_env.client.get_history(handle.id)
    assert [(entry.address, entry.occurrence) for entry in history.children] == [
        (history.children[0].address, 0),
        (history.children[0].address, 1),
    ]


@dataclass(frozen=True, slots=True)
class Crashing:
    """A fresh ``crashing@1.0.0``: it starts a child, then a task whose first execution sets ``started``
    and never returns (its worker dies there); ``calls`` counts the task's executions."""

    version: WorkflowVersion[Any, str]
    started: asyncio.Event
    calls: list[int]


def _crashing() -> Crashing:
    started = asyncio.Event()
    calls: list[int] = []

    @task(name="hang-the-first-time")
    async def hang_the_first_time() -> str:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            started.set()
            await asyncio.Event().wait()
        return "went through"

    @workflow(name="crashing").v("1.0.0")
    async def crashing_v1(run: Any, input: Any) -> str:
        kid = await child_v1.start_as_child(run, "only-once")
        await hang_the_first_time.start(run)
        return kid.id

    return Crashing(crashing_v1, started, calls)


async def test_a_parent_recovered_after_its_worker_died_does_not_start_its_child_again(fake_env: Env) -> None:
    assert fake_env.clock is not None
    crashing = _crashing()
    crashing_v1 = crashing.version
    dying = await fake_env.start_worker(crashing_v1, graceful_shutdown_timeout_ms=1)
    handle = await crashing_v1.start(fake_env.client)
    await asyncio.wait_for(crashing.started.wait(), 15)
    children_before = await fake_env.client.list_runs(workflow="child")
    assert len(children_before) == 1
    await dying.stop()

    await fake_env.start_worker(crashing_v1)
    fake_env.clock.advance(90_000)
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == children_before.runs[0].id
    assert len(await fake_env.client.list_runs(workflow="child")) == 1
    assert len(crashing.calls) == 2
    reasons = [step.reason for step in await fake_env.client.get_timeline(handle.id)]
    assert "recovery" in reasons


sharded_parent = workflow(name="sharded-parent")


@sharded_parent.v("1.0.0")
async def sharded_parent_v1(run: Any, input: Any) -> list[str | None]:
    inherited = await child_v1.start_as_child(run, "inherits")
    chosen = await child_v1.with_().opt("shard", "us").start_as_child(run, "chooses")
    return [inherited.run.shard, chosen.run.shard]


async def test_a_child_runs_on_its_parents_shard_unless_given_one(fake_env: Env) -> None:
    await fake_env.start_worker(sharded_parent_v1, shards=["eu"])
    handle = await sharded_parent_v1.with_().opt("shard", "eu").start(fake_env.client)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == ["eu", "us"]


pinned_child = workflow(name="pinned-child")


@pinned_child.v("1.0.0", opts={"shard": "gpu"})
async def pinned_child_v1(run: Any, input: Any) -> str:
    return "ran on gpu"


unsharded_parent = workflow(name="unsharded-parent")


@unsharded_parent.v("1.0.0")
async def unsharded_parent_v1(run: Any, input: Any) -> Any:
    kid = await pinned_child_v1.start_as_child(run)
    waited = await kid.wait_for_status("completed")
    return [kid.run.shard, waited.state.output if waited.state else None]


async def test_a_child_of_an_unsharded_parent_keeps_the_shard_of_its_own_version(fake_env: Env) -> None:
    await fake_env.start_worker(unsharded_parent_v1)
    await fake_env.start_worker(pinned_child_v1, shards=["gpu"])
    handle = await unsharded_parent_v1.start(fake_env.client)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == ["gpu", "ran on gpu"]


async def test_a_child_completes_and_wakes_its_parent_on_the_real_clock(env: Env) -> None:
    await env.start_worker(parent_v1, child_v1)
    handle = await parent_v1.start(env.client, {"child_input": "real"})
    await until(handle, RunStatus.AWAITING_CHILD_WORKFLOW)
    kid = await _child_of(env, handle.id)
    await until(kid, awaiting_event("go"))

    await kid.events.go.send("complete")

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output["output"] == {"child": "real"}
