"""Events: typed definitions, waits with timeouts, per-name queues kept in order, validation on send,
reference-id dedupe, AND/OR of several events, and the errors for unknown names and missing runs."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from aiki import NotFoundError, RunStatus, SchemaValidationError, event, workflow
from tests.conftest import Env
from tests.integration.run_watch import awaiting_event, until


class Payment(BaseModel):
    amount: int


invoice = workflow(name="invoice")


@invoice.v("1.0.0", events={"payment": event(schema=Payment), "note": event()})
async def invoice_v1(run: Any, input: Any) -> dict[str, Any]:
    received = await run.events.payment.wait(timeout=input.get("timeout") if input else None)
    if received.timeout:
        return {"timeout": True}
    assert isinstance(received.data, Payment)
    return {"timeout": False, "amount": received.data.amount}


async def test_a_waiting_run_receives_the_event_data_parsed_by_its_schema(fake_env: Env) -> None:
    await fake_env.start_worker(invoice_v1)
    handle = await invoice_v1.start(fake_env.client)
    run = await until(handle, awaiting_event("payment"))
    assert run.state.timeout_at_ms is None

    assert await handle.events.payment.send({"amount": "42"}) is True

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"timeout": False, "amount": 42}


async def test_a_wait_with_a_timeout_returns_timeout_when_no_event_comes(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(invoice_v1)
    started_at_ms = fake_env.clock.now_ms()
    handle = await invoice_v1.start(fake_env.client, {"timeout": {"minutes": 5}})
    run = await until(handle, awaiting_event("payment"))
    assert run.state.timeout_at_ms == started_at_ms + 300_000

    fake_env.clock.advance(299_999)
    assert await fake_env.server.runtime.tick() == 0
    fake_env.clock.advance(1)
    assert await fake_env.server.runtime.tick() == 1

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"timeout": True}
    history = await fake_env.client.transport.get_history(handle.id)
    assert [(entry.name, entry.status) for entry in history.events] == [("payment", "timeout")]


async def test_an_event_that_comes_before_the_timeout_wins_and_the_timeout_never_fires(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(invoice_v1)
    handle = await invoice_v1.start(fake_env.client, {"timeout": {"minutes": 5}})
    await until(handle, awaiting_event("payment"))

    await handle.events.payment.send({"amount": 7})
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    fake_env.clock.advance(300_000)

    assert await fake_env.server.runtime.tick() == 0
    assert result.state is not None and result.state.output == {"timeout": False, "amount": 7}


collector = workflow(name="collector")


@collector.v("1.0.0", events={"item": event(schema=int), "other": event(schema=str)})
async def collector_v1(run: Any, input: Any) -> dict[str, Any]:
    await run.sleep("let-events-pile-up", 1_000)
    items = [(await run.events.item.wait()).data for _ in range(3)]
    other = (await run.events.other.wait()).data
    return {"items": items, "other": other}


async def test_events_sent_before_the_wait_are_kept_and_delivered_in_order(fake_env: Env) -> None:
    await fake_env.start_worker(collector_v1)
    handle = await collector_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)

    for item in (3, 1, 2):
        await handle.events.item.send(item)
    await handle.events.other.send("last")
    await handle.awake()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"items": [3, 1, 2], "other": "last"}


async def test_each_event_name_has_its_own_queue_and_another_name_leaves_the_run_waiting(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(collector_v1)
    handle = await collector_v1.start(fake_env.client)
    await until(handle, RunStatus.SLEEPING)
    await handle.events.other.send("first of other")
    await handle.awake()
    waiting = await until(handle, awaiting_event("item"))

    await handle.events.other.send("second of other")
    assert (await handle.refresh()).revision == waiting.revision
    for item in (10, 20, 30):
        await handle.events.item.send(item)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {
        "items": [10, 20, 30],
        "other": "first of other",
    }


async def test_event_data_that_fails_the_schema_is_rejected_on_send_and_nothing_is_stored(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(invoice_v1)
    handle = await invoice_v1.start(fake_env.client)
    waiting = await until(handle, awaiting_event("payment"))

    with pytest.raises(SchemaValidationError, match="event 'payment'") as raised:
        await handle.events.payment.send({"amount": "not a number"})

    assert raised.value.field == "amount"
    history = await fake_env.client.transport.get_history(handle.id)
    assert history.events == []
    assert (await handle.refresh()).revision == waiting.revision


pair = workflow(name="pair")


@pair.v("1.0.0", events={"payment": event(schema=Payment), "note": event()})
async def pair_v1(run: Any, input: Any) -> dict[str, Any]:
    first = await run.events.payment.wait(timeout={"minutes": 1})
    second = await run.events.payment.wait(timeout={"minutes": 1})
    return {
        "first": None if first.timeout else first.data.amount,
        "second": "timeout" if second.timeout else second.data.amount,
    }


async def test_a_second_send_with_the_same_reference_id_returns_false_and_is_dropped(fake_env: Env) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(pair_v1)
    handle = await pair_v1.start(fake_env.client)
    await until(handle, awaiting_event("payment"))

    sender = handle.events.payment.with_().opt("reference.id", "charge-1")
    assert await sender.send({"amount": 5}) is True
    assert await sender.send({"amount": 6}) is False
    await until(handle, awaiting_event("payment", index=1))
    fake_env.clock.advance(60_000)
    await fake_env.server.runtime.tick()

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"first": 5, "second": "timeout"}
    history = await fake_env.client.transport.get_history(handle.id)
    assert [(entry.status, entry.data, entry.reference_id) for entry in history.events] == [
        ("received", {"amount": 5}, "charge-1"),
        ("timeout", None, None),
    ]


async def test_sends_without_a_reference_id_are_never_deduplicated(fake_env: Env) -> None:
    await fake_env.start_worker(pair_v1)
    handle = await pair_v1.start(fake_env.client)
    await until(handle, awaiting_event("payment"))

    assert await handle.events.payment.send({"amount": 5}) is True
    assert await handle.events.payment.send({"amount": 5}) is True

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"first": 5, "second": 5}


both = workflow(name="both")


@both.v("1.0.0", events={"approved_by_legal": event(), "approved_by_finance": event()})
async def both_v1(run: Any, input: Any) -> list[Any]:
    legal, finance = await asyncio.gather(
        run.events.approved_by_legal.wait(), run.events.approved_by_finance.wait()
    )
    return [legal.data, finance.data]


async def test_gather_of_two_event_waits_continues_only_once_both_events_came(fake_env: Env) -> None:
    await fake_env.start_worker(both_v1)
    handle = await both_v1.start(fake_env.client)
    await until(handle, awaiting_event("approved_by_legal"))

    await handle.events.approved_by_legal.send("legal ok")
    still_waiting = await until(handle, awaiting_event("approved_by_finance"))
    assert still_waiting.status is RunStatus.AWAITING_EVENT

    await handle.events.approved_by_finance.send("finance ok")
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == ["legal ok", "finance ok"]


class Approved(BaseModel):
    kind: Literal["approved"]
    approver: str


class Rejected(BaseModel):
    kind: Literal["rejected"]
    reason: str


Decision = Annotated[Approved | Rejected, Field(discriminator="kind")]

review = workflow(name="review")


@review.v("1.0.0", events={"decision": event(schema=Decision)})
async def review_v1(run: Any, input: Any) -> str:
    """Wait for whichever of "approved" or "rejected" comes first (OR).

    A run parks on one event name at a time, so "the first of several events" is one event name whose
    payload is a discriminated union: each sender sends its own alternative, and the handler branches on
    the ``kind`` it received. Several *different* names waited with ``asyncio.gather`` mean AND instead.
    """
    decision = (await run.events.decision.wait()).data
    if isinstance(decision, Approved):
        return f"approved by {decision.approver}"
    return f"rejected: {decision.reason}"


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        ({"kind": "approved", "approver": "ana"}, "approved by ana"),
        ({"kind": "rejected", "reason": "too expensive"}, "rejected: too expensive"),
    ],
    ids=["approved", "rejected"],
)
async def test_a_discriminated_union_event_wakes_the_run_on_whichever_alternative_comes(
    fake_env: Env, payload: dict[str, str], outcome: str
) -> None:
    await fake_env.start_worker(review_v1)
    handle = await review_v1.start(fake_env.client)
    await until(handle, awaiting_event("decision"))

    await handle.events.decision.send(payload)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == outcome


async def test_a_payload_matching_no_alternative_of_the_union_is_rejected_on_send(fake_env: Env) -> None:
    handle = await review_v1.start(fake_env.client)

    with pytest.raises(SchemaValidationError, match="event 'decision'"):
        await handle.events.decision.send({"kind": "maybe"})


async def test_sending_an_event_the_version_does_not_declare_is_a_clear_error(fake_env: Env) -> None:
    handle = await invoice_v1.start(fake_env.client)

    with pytest.raises(NotFoundError, match=r"'refund'.*defines these events: note, payment"):
        await handle.events.refund.send({"amount": 1})


lost = workflow(name="lost")


@lost.v("1.0.0", events={"payment": event()})
async def lost_v1(run: Any, input: Any) -> Any:
    return (await run.events.refund.wait()).data


async def test_waiting_for_an_event_the_version_does_not_declare_fails_the_run_with_a_clear_error(
    fake_env: Env,
) -> None:
    await fake_env.start_worker(lost_v1)
    handle = await lost_v1.start(fake_env.client)

    result = await handle.wait_for_status("failed", timeout={"seconds": 15})

    assert result.success and result.state is not None and result.state.error is not None
    assert result.state.error["type"] == "NotFoundError"
    assert "'refund'" in result.state.error["message"]
    assert "declares: payment" in result.state.error["message"]


async def test_sending_an_event_to_a_run_that_does_not_exist_is_not_found(fake_env: Env) -> None:
    with pytest.raises(NotFoundError, match="workflow run 'no-such-run'"):
        await fake_env.client.transport.send_event("no-such-run", "payment", {"amount": 1}, None)
    with pytest.raises(NotFoundError, match="no-such-run"):
        await invoice_v1.get_handle(fake_env.client, "no-such-run")


async def test_an_event_sent_to_a_finished_run_is_accepted_and_ignored(fake_env: Env) -> None:
    await fake_env.start_worker(invoice_v1)
    handle = await invoice_v1.start(fake_env.client)
    await until(handle, awaiting_event("payment"))
    await handle.events.payment.send({"amount": 1})
    finished = await until(handle, RunStatus.COMPLETED)

    assert await handle.events.payment.send({"amount": 2}) is True

    after = await handle.refresh()
    assert after.status is RunStatus.COMPLETED
    assert after.revision == finished.revision
    assert after.state.output == {"timeout": False, "amount": 1}


async def test_an_event_arriving_after_a_timeout_is_kept_for_the_next_wait_of_that_name(
    fake_env: Env,
) -> None:
    assert fake_env.clock is not None
    await fake_env.start_worker(pair_v1)
    handle = await pair_v1.start(fake_env.client)
    await until(handle, awaiting_event("payment"))
    fake_env.clock.advance(60_000)
    await fake_env.server.runtime.tick()
    await until(handle, awaiting_event("payment", index=1))

    await handle.events.payment.send({"amount": 9})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"first": None, "second": 9}


async def test_an_event_wakes_a_waiting_run_on_the_real_clock(env: Env) -> None:
    await env.start_worker(invoice_v1)
    handle = await invoice_v1.start(env.client, {"timeout": {"seconds": 30}})
    await until(handle, awaiting_event("payment"))

    await handle.events.payment.send({"amount": 3})

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == {"timeout": False, "amount": 3}


async def test_an_event_sent_before_any_worker_claimed_the_run_is_delivered_on_its_first_execution(
    fake_env: Env,
) -> None:
    handle = await invoice_v1.start(fake_env.client)
    assert await handle.events.payment.send({"amount": 7}) is True
    await fake_env.start_worker(invoice_v1)

    result = await handle.wait_for_status("completed", timeout={"seconds": 15})

    assert result.state is not None and result.state.output == {"timeout": False, "amount": 7}
    timeline = await fake_env.client.transport.get_timeline(handle.id)
    assert [step.to_status for step in timeline] == ["queued", "running", "completed"]
