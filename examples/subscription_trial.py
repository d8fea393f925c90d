"""Subscription trial: activate a trial, wait for a payment event or time out, then upgrade or downgrade.

Run it with ``python examples/subscription_trial.py`` (``--trial-ms`` sets the trial's length, ``--db`` the
database; by default a new SQLite file in a temporary folder). It starts a server and a worker in this
process and two trials: one customer pays before the trial ends and keeps the paid plan, the other never
pays and is downgraded when the trial times out. While a run waits for its payment it holds no worker: the
wait is a row in the database with a deadline, and the payment event (or the deadline) wakes it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aiki import (
    RunStatus,
    WorkflowRunContext,
    WorkflowRunHandle,
    client,
    database,
    event,
    server,
    task,
    worker,
    workflow,
)


class Trial(BaseModel):
    customer: str
    trial_ms: int


class Payment(BaseModel):
    amount_cents: int
    reference: str


class Outcome(BaseModel):
    customer: str
    plan: str
    paid_cents: int = 0


@task(name="activate-trial")
async def activate_trial(customer: str) -> str:
    print(f"  [task] activate-trial: {customer} gets the premium plan on trial")
    return "premium-trial"


@task(name="activate-paid-plan")
async def activate_paid_plan(payment: dict[str, Any]) -> str:
    print(f"  [task] activate-paid-plan: {payment['customer']} paid {payment['amount_cents']} cents")
    return "premium"


@task(name="downgrade-to-free")
async def downgrade_to_free(customer: str) -> str:
    print(f"  [task] downgrade-to-free: the trial of {customer} ended unpaid")
    return "free"


subscription = workflow(name="subscription-trial")


@subscription.v(
    "1.0.0",
    schema={"input": Trial, "output": Outcome},
    events={"payment_received": event(schema=Payment)},
)
async def subscription_trial_v1(run: WorkflowRunContext, trial: Trial) -> Outcome:
    await activate_trial.start(run, trial.customer)
    # The run parks here (awaiting_event) until a payment arrives or the trial ends.
    payment = await run.events.payment_received.wait(timeout=trial.trial_ms)
    if payment.timeout:
        return Outcome(customer=trial.customer, plan=await downgrade_to_free.start(run, trial.customer))
    paid: Payment = payment.data
    plan = await activate_paid_plan.start(
        run, {"customer": trial.customer, "amount_cents": paid.amount_cents}
    )
    return Outcome(customer=trial.customer, plan=plan, paid_cents=paid.amount_cents)


async def _until_waiting_for_payment(handle: WorkflowRunHandle[Outcome]) -> None:
    run = await handle.refresh()
    while run.status is not RunStatus.AWAITING_EVENT:
        run = await handle.wait_for_change()


async def main(db_url: str, trial_ms: int = 2_000) -> dict[str, Outcome]:
    """Run two trials, one paid and one not; returns each customer's outcome."""
    srv = server(db=database(db_url))
    runtime = await srv.runtime.start()
    c = client(server=srv)
    running = await worker(workflows=[subscription_trial_v1]).start(c)
    try:
        print(f"subscription trials on {db_url}, each trial lasting {trial_ms} ms")
        paying = await subscription_trial_v1.start(c, Trial(customer="ada", trial_ms=trial_ms))
        lapsing = await subscription_trial_v1.start(c, Trial(customer="bob", trial_ms=trial_ms))
        for handle in (paying, lapsing):
            await _until_waiting_for_payment(handle)
            print(f"  [run] {handle.run.input['customer']}: {handle.run.status.value}, holding no worker")

        print("  [app] ada pays (sent twice with one reference id: the second send is dropped)")
        sender = paying.events.payment_received.with_().opt("reference.id", "invoice-ada-1")
        first = await sender.send({"amount_cents": 1_900, "reference": "invoice-ada-1"})
        again = await sender.send({"amount_cents": 1_900, "reference": "invoice-ada-1"})
        print(f"  [app] delivered: {first}, duplicate delivered: {again}")

        outcomes: dict[str, Outcome] = {}
        patience = {"milliseconds": trial_ms + 30_000}
        for handle in (paying, lapsing):
            result = await handle.wait_for_status("completed", timeout=patience)
            outcome = result.output  # an Outcome: the version's output schema parses it
            if outcome is None:
                raise SystemExit(f"run {handle.id} did not complete: {result}")
            outcomes[outcome.customer] = outcome
            print(
                f"result: {outcome.customer} is on the {outcome.plan} plan (paid {outcome.paid_cents} cents)"
            )
        return outcomes
    finally:
        await running.stop()
        await runtime.stop()
        await srv.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument(
        "--trial-ms", type=int, default=2_000, help="how long a trial lasts (default 2000 ms)"
    )
    arguments = parser.parse_args()
    url = arguments.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='aiki-trial-')) / 'aiki.db'}"
    asyncio.run(main(url, arguments.trial_ms))
