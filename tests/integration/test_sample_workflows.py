"""The workflows a user describes in the product brief (order processing, onboarding versions, retries,
schemas, shards, starting, pausing and cancelling), written in Python and run as tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from aiki import InvalidTransitionError, RunStatus, SchemaValidationError, WorkflowVersion, task, workflow
from tests.conftest import Env
from tests.integration.run_watch import until


class OrderIn(BaseModel):
    order_id: str
    items: list[str]


class OrderOut(BaseModel):
    success: bool
    total: float


@dataclass(frozen=True, slots=True)
class Samples:
    """The workflow versions of one test, and what they did: ``executed`` lists task bodies
    (``validate-order``, ``email:<user>``...) and retried attempts in order, ``failures_left`` says per order id
    how many more attempts of ``retried-orders`` fail, ``received`` holds the inputs ``schema-orders``
    received, ``steps_run`` the ``step`` bodies that ran."""

    order_workflow_v1: WorkflowVersion[dict[str, Any], dict[str, Any]]
    user_onboarding_v1: WorkflowVersion[dict[str, Any], None]
    user_onboarding_v2: WorkflowVersion[dict[str, Any], None]
    retried_orders_v1: WorkflowVersion[dict[str, Any], dict[str, Any]]
    schema_orders_v1: WorkflowVersion[OrderIn, dict[str, Any]]
    controlled_v1: WorkflowVersion[Any, list[int]]
    executed: list[str]
    failures_left: dict[str, int]
    received: list[object]
    steps_run: list[str]


@pytest.fixture
def samples() -> Samples:
    executed: list[str] = []
    failures_left: dict[str, int] = {}
    received: list[object] = []
    steps_run: list[str] = []

    @task(name="validate-order")
    async def validate_order(input: dict[str, Any]) -> dict[str, Any]:
        executed.append("validate-order")
        return {"order_id": input["order_id"], "valid": True}

    @task(name="process-payment")
    def process_payment(input: dict[str, Any]) -> dict[str, Any]:
        executed.append("process-payment")
        return {"paid": input["amount"]}

    @workflow(name="order-processing").v("1.0.0")
    async def order_workflow_v1(run: Any, input: dict[str, Any]) -> dict[str, Any]:
        validation = await validate_order.start(run, input)
        await process_payment.start(run, {"order_id": validation["order_id"], "amount": input["amount"]})
        return {"success": True, "order_id": validation["order_id"]}

    @task(name="send-welcome-email")
    async def send_welcome_email(input: dict[str, Any]) -> None:
        executed.append(f"email:{input['user_id']}")

    @task(name="create-user-profile")
    async def create_user_profile(input: dict[str, Any]) -> None:
        executed.append(f"profile:{input['user_id']}")

    user_onboarding = workflow(name="user-onboarding")

    @user_onboarding.v("1.0.0")
    async def user_onboarding_v1(run: Any, input: dict[str, Any]) -> None:
        await send_welcome_email.start(run, {"user_id": input["user_id"]})

    @user_onboarding.v("2.0.0")
    async def user_onboarding_v2(run: Any, input: dict[str, Any]) -> None:
        await send_welcome_email.start(run, {"user_id": input["user_id"]})
        await create_user_profile.start(run, {"user_id": input["user_id"]})

    @task(name="charge-card")
    async def charge_card(input: dict[str, Any]) -> str:
        return "charged"

    retry = {"type": "exponential", "max_attempts": 3, "base_delay_ms": 5000}

    @workflow(name="retried-orders").v("1.0.0", opts={"retry": retry})
    async def retried_orders_v1(run: Any, input: dict[str, Any]) -> dict[str, Any]:
        await charge_card.start(run, input)
        executed.append(f"attempt {run.attempts}")
        if failures_left.get(input["order_id"], 0) > 0:
            failures_left[input["order_id"]] -= 1
            raise ConnectionError("warehouse unreachable")
        return {"order_id": input["order_id"], "attempts": run.attempts}

    @workflow(name="schema-orders").v("1.0.0", schema={"input": OrderIn, "output": OrderOut})
    async def schema_orders_v1(run: Any, input: OrderIn) -> dict[str, Any]:
        received.append(input)
        if input.order_id == "bad-output":
            return {"success": "not quite", "total": "a lot"}
        return {"success": True, "total": 100}

    @task(name="step")
    async def step(number: int) -> int:
        steps_run.append(f"step {number}")
        return number

    @workflow(name="controlled").v("1.0.0")
    async def controlled_v1(run: Any, input: Any) -> list[int]:
        first = await step.start(run, 1)
        await run.sleep("between", {"seconds": 30})
        second = await step.start(run, 2)
        return [first, second]

    return Samples(
        order_workflow_v1,
        user_onboarding_v1,
        user_onboarding_v2,
        retried_orders_v1,
        schema_orders_v1,
        controlled_v1,
        executed,
        failures_left,
        received,
        steps_run,
    )


signup = workflow(name="signup")


@signup.v("1.0.0")
async def signup_v1(run: Any, input: dict[str, Any]) -> dict[str, Any]:
    if input["email"] == "":
        raise ValueError("email is required")
    return {"welcomed": input["user_id"]}


# --- "Defining a Workflow": order processing with validation and payment tasks ---------------------------


async def test_the_order_workflow_validates_then_pays_and_returns_its_output(
    env: Env, samples: Samples
) -> None:
    await env.start_worker(samples.order_workflow_v1)
    handle = await samples.order_workflow_v1.start(env.client, {"order_id": "123", "amount": 42.5})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.success and result.state is not None
    assert result.state.output == {"success": True, "order_id": "123"}
    assert samples.executed == ["validate-order", "process-payment"]
    history = await env.client.get_history(handle.id)
    assert [(entry.name, entry.status, entry.output) for entry in history.tasks] == [
        ("validate-order", "completed", {"order_id": "123", "valid": True}),
        ("process-payment", "completed", {"paid": 42.5}),
    ]


# --- "Workflow Versioning": 1.0.0 and 2.0.0 side by side ---------------------------------------------------


async def test_two_versions_run_side_by_side_each_with_its_own_handler(env: Env, samples: Samples) -> None:
    await env.start_worker(samples.user_onboarding_v1, samples.user_onboarding_v2)
    first = await samples.user_onboarding_v1.start(env.client, {"user_id": "u1"})
    second = await samples.user_onboarding_v2.start(env.client, {"user_id": "u2"})

    assert (await first.wait_for_status("completed", timeout={"seconds": 15})).success
    assert (await second.wait_for_status("completed", timeout={"seconds": 15})).success

    assert sorted(samples.executed) == ["email:u1", "email:u2", "profile:u2"]
    assert (first.run.version_id, second.run.version_id) == ("1.0.0", "2.0.0")


async def test_a_worker_never_runs_a_version_it_did_not_register(env: Env, samples: Samples) -> None:
    await env.start_worker(samples.user_onboarding_v1)
    newer = await samples.user_onboarding_v2.start(env.client, {"user_id": "u2"})
    older = await samples.user_onboarding_v1.start(env.client, {"user_id": "u1"})

    # The older run was queued after the newer one, so by the time it completes the worker has looked.
    assert (await older.wait_for_status("completed", timeout={"seconds": 15})).success
    assert (await newer.refresh()).status is RunStatus.QUEUED
    assert samples.executed == ["email:u1"]


# --- "Workflow Retry": exponential, max 3 attempts, base 5 s; awaiting_retry between attempts -------------


async def test_a_failing_workflow_waits_in_awaiting_retry_then_completes_on_its_next_attempt(
    fake_env: Env,
    samples: Samples,
) -> None:
    assert fake_env.clock is not None
    samples.failures_left["o1"] = 1
    await fake_env.start_worker(samples.retried_orders_v1)
    handle = await samples.retried_orders_v1.start(fake_env.client, {"order_id": "o1"})

    parked = await until(handle, RunStatus.AWAITING_RETRY)
    assert parked.state.next_attempt_at_ms == fake_env.clock.now_ms() + 5000
    assert parked.state.error is not None and parked.state.error["type"] == "ConnectionError"
    assert parked.attempts == 1

    fake_env.clock.advance(4999)
    assert await fake_env.server.runtime.tick() == 0
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success and result.state is not None
    assert result.state.output == {"order_id": "o1", "attempts": 2}
    assert samples.executed == ["attempt 1", "attempt 2"]
    # The task completed in attempt 1 replays from the record in attempt 2.
    history = await fake_env.client.get_history(handle.id)
    assert [entry.name for entry in history.tasks] == ["charge-card"]


async def test_a_workflow_that_keeps_failing_waits_5_then_10_seconds_then_fails_after_3_attempts(
    fake_env: Env,
    samples: Samples,
) -> None:
    assert fake_env.clock is not None
    samples.failures_left["o2"] = 99
    await fake_env.start_worker(samples.retried_orders_v1)
    handle = await samples.retried_orders_v1.start(fake_env.client, {"order_id": "o2"})

    for attempt, delay_ms in ((1, 5000), (2, 10_000)):
        parked = await until(
            handle, lambda run, n=attempt: run.status is RunStatus.AWAITING_RETRY and run.attempts == n
        )
        assert parked.state.next_attempt_at_ms == fake_env.clock.now_ms() + delay_ms
        fake_env.clock.advance(delay_ms)
        assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert not result.success and result.cause == "failed"
    assert handle.run.attempts == 3
    assert result.state is not None and result.state.error is not None
    assert result.state.error["type"] == "ConnectionError"
    assert result.state.error["message"] == "warehouse unreachable"
    assert "ConnectionError: warehouse unreachable" in result.state.error["traceback"]
    assert samples.executed == ["attempt 1", "attempt 2", "attempt 3"]


# --- "Schema Validation": pydantic models in and out ------------------------------------------------------


async def test_the_handler_receives_the_parsed_input_and_the_output_is_stored_as_json(
    env: Env, samples: Samples
) -> None:
    await env.start_worker(samples.schema_orders_v1)
    handle = await samples.schema_orders_v1.start(env.client, {"order_id": "o1", "items": ["a", "b"]})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == {"success": True, "total": 100.0}
    assert samples.received == [OrderIn(order_id="o1", items=["a", "b"])]


async def test_a_start_whose_input_breaks_the_schema_raises_and_creates_no_run(
    env: Env, samples: Samples
) -> None:
    with pytest.raises(SchemaValidationError, match=r"input of workflow 'schema-orders'.*items") as caught:
        await samples.schema_orders_v1.start(env.client, {"order_id": "o1", "items": "not a list"})
    assert caught.value.field == "items"
    assert (await env.client.list_runs()).runs == []


async def test_an_output_that_breaks_the_schema_fails_the_run(env: Env, samples: Samples) -> None:
    await env.start_worker(samples.schema_orders_v1)
    handle = await samples.schema_orders_v1.start(env.client, {"order_id": "bad-output", "items": []})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.cause == "failed" and result.state is not None and result.state.error is not None
    assert result.state.error["type"] == "SchemaValidationError"
    assert "output of workflow 'schema-orders'" in result.state.error["message"]
    assert "success" in result.state.error["message"]


# --- "Sharding" ---------------------------------------------------------------------------------------------


async def test_a_sharded_run_is_never_taken_by_a_worker_without_shards(env: Env, samples: Samples) -> None:
    await env.start_worker(samples.order_workflow_v1)
    sharded = (
        await samples.order_workflow_v1.with_()
        .opt("shard", "us-east")
        .start(env.client, {"order_id": "s", "amount": 1})
    )
    plain = await samples.order_workflow_v1.start(env.client, {"order_id": "p", "amount": 1})

    assert (await plain.wait_for_status("completed", timeout={"seconds": 15})).success
    assert (await sharded.refresh()).status is RunStatus.QUEUED
    assert sharded.run.shard == "us-east"


async def test_a_worker_listening_to_the_shard_takes_the_sharded_run(env: Env, samples: Samples) -> None:
    await env.start_worker(samples.order_workflow_v1, shards=["us-east"])
    handle = (
        await samples.order_workflow_v1.with_()
        .opt("shard", "us-east")
        .start(env.client, {"order_id": "s", "amount": 1})
    )

    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success


async def test_a_worker_with_shards_does_not_take_unsharded_or_other_shards_runs(
    env: Env, samples: Samples
) -> None:
    await env.start_worker(samples.order_workflow_v1, shards=["us-east"])
    plain = await samples.order_workflow_v1.start(env.client, {"order_id": "p", "amount": 1})
    europe = (
        await samples.order_workflow_v1.with_()
        .opt("shard", "eu")
        .start(env.client, {"order_id": "e", "amount": 1})
    )
    mine = (
        await samples.order_workflow_v1.with_()
        .opt("shard", "us-east")
        .start(env.client, {"order_id": "m", "amount": 1})
    )

    assert (await mine.wait_for_status("completed", timeout={"seconds": 15})).success
    assert (await plain.refresh()).status is RunStatus.QUEUED
    assert (await europe.refresh()).status is RunStatus.QUEUED


# --- "Starting Workflows" -----------------------------------------------------------------------------------


async def test_the_handle_holds_the_new_run_and_waits_for_its_output(env: Env) -> None:
    handle = await signup_v1.start(env.client, {"user_id": "123", "email": "user@example.com"})
    run = handle.run
    assert run.id and run.name == "signup" and run.version_id == "1.0.0"
    assert run.input == {"user_id": "123", "email": "user@example.com"}
    assert run.state.status is RunStatus.QUEUED
    assert run.attempts == 1 and run.created_at_ms > 0 and run.updated_at_ms >= run.created_at_ms

    await env.start_worker(signup_v1)
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.success and result.cause is None and not result.timeout
    assert result.state is not None and result.state.output == {"welcomed": "123"}
    assert handle.run.state.status is RunStatus.COMPLETED


async def test_waiting_for_completed_on_a_failed_run_reports_the_cause(env: Env) -> None:
    await env.start_worker(signup_v1)
    handle = await signup_v1.start(env.client, {"user_id": "123", "email": ""})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert not result.success and result.cause == "failed" and not result.timeout
    assert result.state is not None and result.state.error is not None
    assert (result.state.error["type"], result.state.error["message"]) == ("ValueError", "email is required")


async def test_waiting_for_the_status_a_run_ended_in_succeeds(env: Env) -> None:
    await env.start_worker(signup_v1)
    handle = await signup_v1.start(env.client, {"user_id": "123", "email": ""})

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and result.cause is None


async def test_waiting_on_a_run_nobody_runs_times_out(env: Env) -> None:
    handle = await signup_v1.start(env.client, {"user_id": "123", "email": "x@y.z"})

    result = await handle.wait_for_status("completed", timeout={"milliseconds": 50})

    assert result.timeout and not result.success and result.cause is None


async def test_a_handle_got_again_by_id_returns_at_once_for_a_finished_run(env: Env) -> None:
    await env.start_worker(signup_v1)
    started = await signup_v1.start(env.client, {"user_id": "1", "email": "a@b.c"})
    await started.wait_for_status("completed", timeout={"seconds": 15})

    again = await signup_v1.get_handle(env.client, started.id)
    result = await again.wait_for_status("cancelled", timeout={"seconds": 15})

    assert not result.success and result.cause == "completed"


# --- "Controlling Workflow Execution": pause, resume, cancel ------------------------------------------------


async def test_a_paused_run_does_not_wake_and_resume_puts_it_back_where_it_was(
    fake_env: Env, samples: Samples
) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(samples.controlled_v1)
    handle = await samples.controlled_v1.start(fake_env.client, None)
    await until(handle, RunStatus.SLEEPING)

    paused = await handle.pause()
    assert paused.status is RunStatus.PAUSED and handle.run is paused
    fake_env.clock.advance(60_000)
    assert await fake_env.server.runtime.tick() == 0
    assert (await handle.refresh()).status is RunStatus.PAUSED

    resumed = await handle.resume()
    assert resumed.status is RunStatus.SLEEPING  # back where it was; its wake-up time has passed
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == [1, 2]
    assert samples.steps_run == ["step 1", "step 2"]


async def test_a_queued_run_paused_is_not_taken_until_resumed(env: Env, samples: Samples) -> None:
    handle = await signup_v1.start(env.client, {"user_id": "1", "email": "a@b.c"})
    await handle.pause()
    control = await samples.order_workflow_v1.start(env.client, {"order_id": "c", "amount": 1})
    await env.start_worker(signup_v1, samples.order_workflow_v1)

    assert (await control.wait_for_status("completed", timeout={"seconds": 15})).success
    assert (await handle.refresh()).status is RunStatus.PAUSED

    assert (await handle.resume()).status is RunStatus.QUEUED
    assert (await handle.wait_for_status("completed", timeout={"seconds": 15})).success


async def test_cancel_ends_the_run_with_the_reason_given(fake_env: Env, samples: Samples) -> None:
    await fake_env.start_worker(samples.controlled_v1)
    handle = await samples.controlled_v1.start(fake_env.client, None)
    await until(handle, RunStatus.SLEEPING)

    cancelled = await handle.cancel("User requested cancellation")

    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.state.reason == "User requested cancellation"
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert not result.success and result.cause == "cancelled"
    assert samples.steps_run == ["step 1"]


async def test_a_cancelled_run_cannot_be_resumed(env: Env) -> None:
    handle = await signup_v1.start(env.client, {"user_id": "1", "email": "a@b.c"})
    await handle.cancel()

    with pytest.raises(InvalidTransitionError, match=handle.id):
        await handle.resume()
