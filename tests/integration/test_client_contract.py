"""The client contract: every operation behaves the same over the embedded and the HTTP transport.

Each test runs twice (``transport_env`` is parametrised over both); a few tests compare the two directly.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiki import (
    InvalidOptionError,
    InvalidTransitionError,
    NotFoundError,
    RevisionConflictError,
    RunStatus,
    WorkflowRunConflictError,
    client,
    event,
    task,
    workflow,
)
from aiki.contract import ClaimRequest, RunOutcome, TaskWrite
from aiki.contract.listing import RunFilter
from aiki.errors import AikiError
from tests.integration.run_watch import awaiting_event, sleeping_at, until
from tests.transport_support import TransportEnv, http_client


@task(name="greet")
async def greet(input: dict[str, str]) -> str:
    return f"hello {input['name']}"


@task(name="explode")
async def explode(input: Any) -> None:
    raise ValueError("the task blew up")


approval_flow = workflow(name="approval-flow")


@approval_flow.v("1.0.0", events={"approval": event()})
async def approval_v1(run: Any, input: dict[str, Any]) -> dict[str, Any]:
    greeting = await greet.start(run, {"name": input["name"]})
    nap = await run.sleep("nap", input.get("nap_ms", 20))
    approval = await run.events.approval.wait()
    return {"greeting": greeting, "approved_by": approval.data, "nap_cancelled": nap.cancelled}


long_sleep = workflow(name="long-sleep")


@long_sleep.v("1.0.0")
async def long_sleep_v1(run: Any, input: Any) -> dict[str, bool]:
    nap = await run.sleep("long", {"hours": 1})
    return {"cancelled": nap.cancelled}


failing = workflow(name="failing")


@failing.v("1.0.0")
async def failing_v1(run: Any, input: Any) -> None:
    await explode.start(run, input)


child_flow = workflow(name="child-flow")


@child_flow.v("1.0.0")
async def child_v1(run: Any, input: int) -> int:
    return input * 10


parent_flow = workflow(name="parent-flow")


@parent_flow.v("1.0.0")
async def parent_v1(run: Any, input: int) -> Any:
    child = await child_v1.start_as_child(run, input)
    result = await child.wait_for_status("completed")
    return result.state.output if result.state is not None else None


idle = workflow(name="idle")


@idle.v("1.0.0")
async def idle_v1(run: Any, input: Any) -> Any:
    return input


def claim_request(limit: int = 1, wait_ms: int = 0) -> ClaimRequest:
    return ClaimRequest(
        worker_id="test-worker", workflows=[("idle", "1.0.0")], shards=None, limit=limit, wait_ms=wait_ms
    )


# Starting and reading runs


async def test_a_started_run_is_queued_and_reads_back_identically(transport_env: TransportEnv) -> None:
    handle = await idle_v1.start(transport_env.client, {"order": 7, "items": ["a", "b"], "price": 1.5})

    assert handle.run.status is RunStatus.QUEUED
    assert handle.run.state.reason == "new"
    assert handle.run.input == {"order": 7, "items": ["a", "b"], "price": 1.5}
    assert handle.run.namespace == "default"
    assert await transport_env.client.get_run(handle.id) == handle.run


async def test_get_handle_of_an_unknown_run_raises_not_found(transport_env: TransportEnv) -> None:
    with pytest.raises(NotFoundError, match="No workflow run 'no-such-run'"):
        await idle_v1.get_handle(transport_env.client, "no-such-run")


async def test_a_run_id_with_reserved_url_characters_is_simply_not_found(transport_env: TransportEnv) -> None:
    for run_id in ("a/b", "..", "a?b=c#d", "ü ß"):
        with pytest.raises(NotFoundError):
            await transport_env.client.get_run(run_id)


async def test_list_runs_filters_by_status_and_workflow_newest_first(transport_env: TransportEnv) -> None:
    first = await idle_v1.start(transport_env.client, 1)
    second = await idle_v1.start(transport_env.client, 2)
    other = await long_sleep_v1.start(transport_env.client)
    await transport_env.client.transport.cancel_run(second.id, "not needed")

    by_workflow = await transport_env.client.list_runs(workflow="idle")
    assert [run.id for run in by_workflow] == sorted([first.id, second.id], reverse=True)
    cancelled = await transport_env.client.list_runs(status="cancelled")
    assert [run.id for run in cancelled] == [second.id]
    everything = await transport_env.client.list_runs()
    assert [run.id for run in everything] == sorted([first.id, second.id, other.id], reverse=True)


async def test_list_runs_pages_with_a_cursor_until_the_last_page(transport_env: TransportEnv) -> None:
    ids = [(await idle_v1.start(transport_env.client, index)).id for index in range(5)]
    c = transport_env.client

    page_one = await c.list_runs(limit=2)
    page_two = await c.list_runs(limit=2, cursor=page_one.next_cursor)
    page_three = await c.list_runs(limit=2, cursor=page_two.next_cursor)

    # Ids order runs by creation time (to the millisecond), newest first.
    assert [run.id for page in (page_one, page_two, page_three) for run in page] == sorted(ids, reverse=True)
    assert page_three.next_cursor is None and len(page_three) == 1


async def test_list_runs_with_an_unknown_status_raises_invalid_option(transport_env: TransportEnv) -> None:
    with pytest.raises(InvalidOptionError, match="'sleepy' is not a run status"):
        await transport_env.client.list_runs(status="sleepy")


# Reference ids


async def test_a_reference_id_with_the_same_input_returns_the_existing_run(
    transport_env: TransportEnv,
) -> None:
    starter = idle_v1.with_().opt("reference.id", "order-1")
    first = await starter.start(transport_env.client, {"n": 1})
    again = await starter.start(transport_env.client, {"n": 1})
    assert again.id == first.id


async def test_a_reference_id_with_another_input_raises_a_conflict(transport_env: TransportEnv) -> None:
    starter = idle_v1.with_().opt("reference.id", "order-2")
    first = await starter.start(transport_env.client, {"n": 1})

    with pytest.raises(WorkflowRunConflictError) as raised:
        await starter.start(transport_env.client, {"n": 2})

    assert raised.value.existing_run_id == first.id
    assert raised.value.reference_id == "order-2"
    existing = idle_v1.with_().opt("reference", {"id": "order-2", "conflict_policy": "return_existing"})
    assert (await existing.start(transport_env.client, {"n": 2})).id == first.id


# Steering runs


async def test_cancel_records_the_reason_and_a_second_cancel_is_an_invalid_transition(
    transport_env: TransportEnv,
) -> None:
    handle = await idle_v1.start(transport_env.client)

    run = await handle.cancel("changed my mind")

    assert run.status is RunStatus.CANCELLED
    assert run.state.reason == "changed my mind"
    with pytest.raises(InvalidTransitionError) as raised:
        await handle.cancel()
    assert raised.value.status == "cancelled"


async def test_pause_and_resume_return_a_queued_run_to_the_queue(transport_env: TransportEnv) -> None:
    handle = await idle_v1.start(transport_env.client)

    paused = await handle.pause()
    assert paused.status is RunStatus.PAUSED
    assert paused.state.previous is not None and paused.state.previous.status is RunStatus.QUEUED
    resumed = await handle.resume()

    assert resumed.status is RunStatus.QUEUED
    assert resumed.state.reason == "resumption"


async def test_resume_of_a_run_that_is_not_paused_is_an_invalid_transition(
    transport_env: TransportEnv,
) -> None:
    handle = await idle_v1.start(transport_env.client)
    with pytest.raises(InvalidTransitionError, match="Only a paused run can be resumed"):
        await handle.resume()


async def test_awake_of_a_run_that_is_not_sleeping_is_an_invalid_transition(
    transport_env: TransportEnv,
) -> None:
    handle = await idle_v1.start(transport_env.client)
    with pytest.raises(InvalidTransitionError, match="Only a sleeping run can be awoken"):
        await handle.awake()


async def test_steering_an_unknown_run_raises_not_found(transport_env: TransportEnv) -> None:
    transport = transport_env.client.transport
    for operation in (transport.pause_run, transport.resume_run, transport.awake_run):
        with pytest.raises(NotFoundError):
            await operation("missing")
    with pytest.raises(NotFoundError):
        await transport.cancel_run("missing", None)
    with pytest.raises(NotFoundError):
        await transport.send_event("missing", "approval", None, None)


async def test_awake_wakes_a_sleeping_run_whose_sleep_reports_cancelled(transport_env: TransportEnv) -> None:
    await transport_env.start_worker(long_sleep_v1)
    handle = await long_sleep_v1.start(transport_env.client)
    await until(handle, sleeping_at(0, "long"))

    await handle.awake()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success and result.state is not None
    assert result.state.output == {"cancelled": True}


# Events and waiting


async def test_an_event_with_a_used_reference_id_is_dropped(transport_env: TransportEnv) -> None:
    handle = await approval_v1.start(transport_env.client, {"name": "x"})
    sender = handle.events.approval.with_().opt("reference.id", "approval-1")

    assert await sender.send("ann") is True
    assert await sender.send("bob") is False
    history = await transport_env.client.transport.get_history(handle.id)
    assert [(entry.name, entry.data, entry.reference_id) for entry in history.events] == [
        ("approval", "ann", "approval-1")
    ]


async def test_wait_for_status_reports_a_timeout_when_the_run_does_not_finish(
    transport_env: TransportEnv,
) -> None:
    handle = await idle_v1.start(transport_env.client)

    result = await handle.wait_for_status("completed", timeout=50)

    assert result.timeout and not result.success
    assert result.state is not None and result.state.status is RunStatus.QUEUED


async def test_wait_for_change_returns_at_once_when_the_revision_is_already_newer(
    transport_env: TransportEnv,
) -> None:
    handle = await idle_v1.start(transport_env.client)
    await handle.pause()

    run = await transport_env.client.transport.wait_for_change(handle.id, 0, 10_000)

    assert run.revision == 1 and run.status is RunStatus.PAUSED


# Workers


async def test_a_worker_completes_a_workflow_with_a_task_a_sleep_and_an_event(
    transport_env: TransportEnv,
) -> None:
    await transport_env.start_worker(approval_v1)
    handle = await approval_v1.start(transport_env.client, {"name": "ada"})
    await until(handle, awaiting_event("approval"))

    assert await handle.events.approval.send("grace") is True

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.success and result.state is not None
    assert result.state.output == {"greeting": "hello ada", "approved_by": "grace", "nap_cancelled": False}
    history = await transport_env.client.transport.get_history(handle.id)
    assert [(entry.name, entry.status, entry.output) for entry in history.tasks] == [
        ("greet", "completed", "hello ada")
    ]
    assert [(entry.name, entry.status) for entry in history.sleeps] == [("nap", "completed")]
    timeline = await transport_env.client.transport.get_timeline(handle.id)
    statuses = [transition.to_status for transition in timeline]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert "sleeping" in statuses and "awaiting_event" in statuses


async def test_a_failing_task_fails_the_run_with_the_task_error(transport_env: TransportEnv) -> None:
    await transport_env.start_worker(failing_v1)
    handle = await failing_v1.start(transport_env.client)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert not result.success and result.cause == "failed"
    assert result.state is not None and result.state.error is not None
    assert "the task blew up" in result.state.error["message"]


async def test_a_parent_waits_for_its_child_started_through_the_transport(
    transport_env: TransportEnv,
) -> None:
    await transport_env.start_worker(parent_v1, child_v1)
    handle = await parent_v1.start(transport_env.client, 4)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.success and result.state is not None and result.state.output == 40
    children = await transport_env.client.list_runs(workflow="child-flow")
    assert [run.parent_run_id for run in children] == [handle.id]


async def test_claim_hands_out_a_queued_run_with_its_history_and_finish_completes_it(
    transport_env: TransportEnv,
) -> None:
    transport = transport_env.client.transport
    handle = await idle_v1.start(transport_env.client, "payload")

    (claimed,) = await transport.claim(claim_request())
    status = await transport.record_task(
        TaskWrite(
            run_id=handle.id,
            claim_token=claimed.claim_token,
            name="greet",
            address="greet:x",
            occurrence=0,
            status="completed",
            attempts=1,
            input={"name": "x"},
            output="hello x",
        )
    )
    finished = await transport.finish(
        RunOutcome(
            run_id=handle.id,
            claim_token=claimed.claim_token,
            expected_revision=claimed.run.revision,
            kind="complete",
            output={"done": True},
        )
    )

    assert claimed.run.id == handle.id and claimed.run.status is RunStatus.RUNNING
    assert claimed.history.tasks == []
    assert status == "running"
    assert finished.status is RunStatus.COMPLETED and finished.state.output == {"done": True}
    assert [entry.output for entry in (await transport.get_history(handle.id)).tasks] == ["hello x"]


async def test_a_waiting_claim_returns_the_run_started_while_it_waits(transport_env: TransportEnv) -> None:
    transport = transport_env.client.transport
    waiting = asyncio.create_task(transport.claim(claim_request(wait_ms=10_000)))
    await asyncio.sleep(0)  # let the claim start waiting before the run exists
    handle = await idle_v1.start(transport_env.client)

    claimed = await asyncio.wait_for(waiting, timeout=15)

    assert [item.run.id for item in claimed] == [handle.id]


async def test_a_claim_with_nothing_queued_returns_nothing(transport_env: TransportEnv) -> None:
    assert await transport_env.client.transport.claim(claim_request(wait_ms=50)) == []


async def test_writes_with_a_claim_token_that_is_not_held_are_revision_conflicts(
    transport_env: TransportEnv,
) -> None:
    transport = transport_env.client.transport
    handle = await idle_v1.start(transport_env.client)
    (claimed,) = await transport.claim(claim_request())

    with pytest.raises(RevisionConflictError):
        await transport.finish(
            RunOutcome(run_id=handle.id, claim_token="stale", expected_revision=1, kind="complete")
        )
    with pytest.raises(RevisionConflictError):
        await transport.record_task(
            TaskWrite(
                run_id=handle.id,
                claim_token="stale",
                name="t",
                address="t:1",
                occurrence=0,
                status="completed",
                attempts=1,
            )
        )
    with pytest.raises(RevisionConflictError, match="expected revision 0"):
        await transport.finish(
            RunOutcome(
                run_id=handle.id, claim_token=claimed.claim_token, expected_revision=0, kind="complete"
            )
        )
    assert await transport.refresh_claims([(handle.id, claimed.claim_token), (handle.id, "stale")]) == [
        handle.id
    ]


async def test_release_puts_a_claimed_run_back_in_the_queue(transport_env: TransportEnv) -> None:
    transport = transport_env.client.transport
    handle = await idle_v1.start(transport_env.client)
    (claimed,) = await transport.claim(claim_request())

    await transport.release(handle.id, claimed.claim_token)

    run = await transport.get_run(handle.id)
    assert run.status is RunStatus.QUEUED and run.state.reason == "released"


# Server features (extensions)


# The two transports side by side


@pytest.mark.parametrize("transport_env", ["http"], indirect=True)
async def test_both_transports_read_the_same_records_of_a_finished_run(transport_env: TransportEnv) -> None:
    embedded = client(server=transport_env.server).transport
    over_http = transport_env.client.transport
    await transport_env.start_worker(approval_v1)
    handle = await approval_v1.start(transport_env.client, {"name": "lin", "nap_ms": 5})
    await until(handle, awaiting_event("approval"))
    await handle.events.approval.send({"by": "max", "note": "ok ✓"})
    await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert await over_http.get_run(handle.id) == await embedded.get_run(handle.id)
    assert await over_http.get_history(handle.id) == await embedded.get_history(handle.id)
    assert await over_http.get_timeline(handle.id) == await embedded.get_timeline(handle.id)
    assert await over_http.list_runs(RunFilter()) == await embedded.list_runs(RunFilter())
    assert await over_http.workflow_stats() == await embedded.workflow_stats()
    assert await over_http.count_runs(RunFilter()) == await embedded.count_runs(RunFilter()) == 1


@pytest.mark.parametrize("transport_env", ["http"], indirect=True)
async def test_both_transports_raise_the_same_errors_with_the_same_fields(
    transport_env: TransportEnv,
) -> None:
    embedded = client(server=transport_env.server).transport
    over_http = transport_env.client.transport
    conflicted = await idle_v1.with_().opt("reference.id", "r").start(transport_env.client, 1)
    finished = await idle_v1.start(transport_env.client)
    await finished.cancel()

    failing_calls = [
        lambda transport: transport.get_run("missing"),
        lambda transport: transport.cancel_run(finished.id, None),
        lambda transport: transport.awake_run(conflicted.id),
        lambda transport: transport.list_runs(RunFilter(), cursor="not-a-cursor"),
        lambda transport: transport.start_run(idle_v1.with_().opt("reference.id", "r").request(2)),
        lambda transport: transport.finish(
            RunOutcome(run_id=conflicted.id, claim_token="t", expected_revision=0, kind="complete")
        ),
    ]
    for call in failing_calls:
        errors: list[AikiError] = []
        for transport in (embedded, over_http):
            with pytest.raises(AikiError) as raised:
                await call(transport)
            errors.append(raised.value)
        assert type(errors[1]) is type(errors[0])
        assert errors[1].to_dict() == errors[0].to_dict()
        assert str(errors[1]) == str(errors[0])


async def test_an_http_client_of_another_server_namespace_sees_none_of_the_default_runs(
    transport_env: TransportEnv,
) -> None:
    handle = await idle_v1.start(transport_env.client)
    other = http_client(transport_env.server, namespace="elsewhere")
    try:
        with pytest.raises(NotFoundError):
            await other.get_run(handle.id)
        assert (await other.list_runs()).runs == []
        assert other.namespace == "elsewhere"
    finally:
        await other.close()
