"""The public API as a typed program sees it: ``mypy --strict`` must accept every line of this file.

It is checked, never run (``test_typing.py``). Each ``assert_type`` pins a type the API promises: tasks and
versions typed by their handlers, handles and wait results typed by the run's output.
"""

from __future__ import annotations

from typing import Any, assert_type

from pydantic import BaseModel

from aiki import (
    ChildRunHandle,
    Client,
    ScheduleHandle,
    Task,
    WaitResult,
    WorkerHandle,
    WorkflowRunContext,
    WorkflowRunHandle,
    WorkflowVersion,
    event,
    schedule,
    task,
    worker,
    workflow,
)
from aiki.execution.context import SleepResult


class Order(BaseModel):
    order_id: str
    amount: float


class Receipt(BaseModel):
    order_id: str
    charged: float


@task(name="charge")
async def charge(order: Order) -> Receipt:
    return Receipt(order_id=order.order_id, charged=order.amount)


@task(name="count-words")
def count_words(text: str) -> int:  # a plain def task: typed the same way
    return len(text.split())


@task(name="now")
async def now() -> float:
    return 0.0


def refund_receipt(receipt: Receipt) -> bool:
    return receipt.charged > 0


refund = task(name="refund", handler=refund_receipt, retry={"type": "never"})

assert_type(charge, Task[Order, Receipt])
assert_type(count_words, Task[str, int])
assert_type(now, Task[Any, float])
assert_type(refund, Task[Receipt, bool])


@task(name="loose")
async def loose(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


# With Any in the handler's signature, mypy cannot choose between the async and the plain def reading.
assert_type(loose, Task[Any, Any])

audit = workflow(name="audit")


@audit.v("1.0.0")
async def audit_v1(run: WorkflowRunContext, receipt: Receipt) -> bool:
    return await refund.start(run, receipt)


orders = workflow(name="orders")


# One model per schema literal: mypy (2.4) rejects a dict literal holding two pydantic models with the same
# number of fields when it is passed to an overloaded function, such as {"input": Order, "output": Receipt}.
@orders.v("1.0.0", schema={"output": Receipt}, events={"approved": event()})
async def order_v1(run: WorkflowRunContext, order: Order) -> Receipt:
    receipt = await charge.start(run, order)
    assert_type(receipt, Receipt)
    assert_type(await count_words.start(run, order.order_id), int)
    assert_type(await now.start(run), float)
    assert_type(await run.sleep("cool-down", {"minutes": 5}), SleepResult)
    child = await audit_v1.start_as_child(run, receipt)
    assert_type(child, ChildRunHandle[bool])
    audited = await child.wait_for_status("completed", timeout={"hours": 1})
    assert_type(audited, WaitResult[bool])
    assert_type(audited.output, bool | None)
    named = await audit_v1.with_().opt("reference.id", order.order_id).start_as_child(run, receipt)
    assert_type(named, ChildRunHandle[bool])
    return receipt


async def build_report(run: WorkflowRunContext, kind: str) -> list[str]:
    return [kind]


async def ping() -> str:
    return "pong"


report_v1 = workflow(name="report").v("1.0.0", handler=build_report)
ping_v1 = workflow(name="ping").v("1.0.0", handler=ping)

assert_type(order_v1, WorkflowVersion[Order, Receipt])
assert_type(audit_v1, WorkflowVersion[Receipt, bool])
assert_type(report_v1, WorkflowVersion[str, list[str]])
assert_type(ping_v1, WorkflowVersion[Any, str])


async def from_outside(client: Client) -> None:
    handle = await order_v1.start(client, Order(order_id="o-1", amount=12.5))
    assert_type(handle, WorkflowRunHandle[Receipt])
    result = await handle.wait_for_status("completed", timeout={"seconds": 30})
    assert_type(result, WaitResult[Receipt])
    assert_type(result.output, Receipt | None)
    if result.output is not None:
        assert_type(result.output.charged, float)
    assert_type(await handle.events.approved.send({"by": "ana"}), bool)

    sharded = await order_v1.with_().opt("shard", "eu").start(client, Order(order_id="o-2", amount=1))
    assert_type(sharded, WorkflowRunHandle[Receipt])
    assert_type(await order_v1.get_handle(client, handle.id), WorkflowRunHandle[Receipt])
    assert_type(await order_v1.get_handle_by_reference_id(client, "o-1"), WorkflowRunHandle[Receipt])
    assert_type(await ping_v1.start(client), WorkflowRunHandle[str])

    daily = schedule(type="cron", expression="0 9 * * *", timezone="UTC")
    assert_type(await daily.activate(client, report_v1, "sales"), ScheduleHandle)

    running = await worker(workflows=[order_v1, audit_v1, report_v1, ping_v1]).start(client)
    assert_type(running, WorkerHandle)

    # A bare annotation means "any output": old code that did not parametrize keeps passing.
    untyped: WorkflowRunHandle = handle
    assert_type(untyped, WorkflowRunHandle[Any])
