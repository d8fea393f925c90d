"""Mistakes ``mypy --strict`` must reject: each line ending in an ``error`` comment that names an error code
has to be reported with that code, and nothing else may be (``test_typing.py``). Checked, never run."""

from __future__ import annotations

from pydantic import BaseModel

from aiki import Client, WorkflowRunContext, task, worker, workflow


class Order(BaseModel):
    order_id: str


class Receipt(BaseModel):
    charged: float


@task(name="charge")
async def charge(order: Order) -> Receipt:
    return Receipt(charged=1.0)


orders = workflow(name="orders")


@orders.v("1.0.0")
async def order_v1(run: WorkflowRunContext, order: Order) -> Receipt:
    wrong: str = await charge.start(run, order)  # error: [assignment]
    await charge.start(run, "not an order")  # error: [arg-type]
    charge(order)  # error: [operator]
    await run.sleep({"seconds": 1})  # error: [arg-type]
    child = await order_v1.start_as_child(run, order)
    waited = await child.wait_for_status("completed")
    text: str | None = waited.output  # error: [assignment]
    return Receipt(charged=len(wrong) + len(str(text)))


def plain_handler(run: WorkflowRunContext, order: Order) -> Receipt:
    return Receipt(charged=1.0)


orders.v("2.0.0", handler=plain_handler)  # error: [arg-type]
orders.v("3.0.0", handler=order_v1.handler, events=["paid"])  # error: [call-overload]


async def from_outside(client: Client) -> None:
    handle = await order_v1.start(client, {"order_id": "o-1"})  # error: [arg-type]
    result = await handle.wait_for_status("done")  # error: [arg-type]
    charged: str | None = result.output  # error: [assignment]
    worker(workflows=order_v1)  # error: [arg-type]
    print(charged)
