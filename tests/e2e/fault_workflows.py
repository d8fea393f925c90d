"""The workflow the fault tests run in real worker processes: two tasks and a short durable sleep, with an
output that says whether anything was lost or mixed up (``{"n": n, "value": n * n + 1}``)."""

from __future__ import annotations

from typing import Any

from aiki import task, workflow


@task(name="square")
async def square(n: int) -> int:
    return n * n


@task(name="plus-one")
async def plus_one(value: int) -> int:
    return value + 1


arithmetic = workflow(name="fault-arithmetic")


@arithmetic.v("1.0.0")
async def arithmetic_v1(run: Any, n: int) -> dict[str, int]:
    squared = await square.start(run, n)
    await run.sleep("breath", {"milliseconds": 20})
    return {"n": n, "value": await plus_one.start(run, squared)}


def expected_output(n: int) -> dict[str, int]:
    return {"n": n, "value": n * n + 1}
