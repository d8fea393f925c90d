"""Quick start: an order-processing workflow on the embedded SQLite default.

Run it with ``bash scripts/demo.sh`` (or ``python examples/quickstart.py [--db sqlite:///path.db]``).
It starts a server and a worker in this process, runs one order through validation, payment (which fails
once and is retried) and a durable cool-down sleep, prints each step and the run's timeline, then the result.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from pydantic import BaseModel

from aiki import WorkflowRunContext, client, database, server, task, worker, workflow


class Order(BaseModel):
    order_id: str
    amount: float


class Receipt(BaseModel):
    success: bool
    order_id: str
    charged: float


payment_attempts: dict[str, int] = {}


@task(name="validate-order")
async def validate_order(order: dict[str, object]) -> dict[str, object]:
    print(f"  [task] validate-order {order['order_id']}")
    if float(str(order["amount"])) <= 0:
        raise ValueError("amount must be positive")
    return {"order_id": order["order_id"], "valid": True}


@task(name="process-payment", retry={"type": "fixed", "max_attempts": 3, "delay_ms": 200})
def process_payment(payment: dict[str, object]) -> dict[str, float]:
    # A plain ``def`` runs in a worker thread. It fails on its first attempt to show a retry.
    order_id = str(payment["order_id"])
    payment_attempts[order_id] = payment_attempts.get(order_id, 0) + 1
    attempt = payment_attempts[order_id]
    print(f"  [task] process-payment {order_id}, attempt {attempt}")
    if attempt == 1:
        raise ConnectionError("payment gateway timed out")
    return {"charged": float(str(payment["amount"]))}


order_workflow = workflow(name="order-processing")


@order_workflow.v("1.0.0", schema={"input": Order, "output": Receipt})
async def order_v1(run: WorkflowRunContext, order: Order) -> Receipt:
    run.logger.info("processing order %s", order.order_id)
    validation = await validate_order.start(run, order.model_dump())
    payment = await process_payment.start(run, {"order_id": validation["order_id"], "amount": order.amount})
    # The handler replays from the top after the sleep: finished tasks return their recorded results.
    print("  [run] at the 'cool-down' sleep (300 ms; the run holds no worker while it sleeps)")
    await run.sleep("cool-down", {"milliseconds": 300})
    return Receipt(success=True, order_id=order.order_id, charged=payment["charged"])


async def main(db_url: str) -> Receipt:
    srv = server(db=database(db_url))
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=[order_v1]).start(c)
    try:
        print(f"aiki demo on {db_url}")
        handle = await order_v1.start(c, Order(order_id="order-123", amount=42.5))
        print(f"started run {handle.run.id}: {handle.run.state.status}")
        result = await handle.wait_for_status("completed", timeout={"seconds": 30})
        print("timeline:")
        for step in await c.get_timeline(handle.run.id):
            print(f"  {step.from_status or '-':>10} -> {step.to_status:<10} {step.reason or ''}")
        receipt = result.output  # a Receipt: the version's output schema parses the stored JSON
        if receipt is None:
            raise SystemExit(f"run did not complete: {result}")
        print(f"result: {receipt.model_dump()}")
        return receipt
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temporary folder)")
    arguments = parser.parse_args()
    url = arguments.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='aiki-demo-')) / 'aiki.db'}"
    asyncio.run(main(url))
