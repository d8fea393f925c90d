"""``aiki.testing.check_replay``: the runs in flight of a version replayed against new code, from a database
opened read-only, with no task run and nothing written; each run ok, reaching new code, or failing with the
error it would fail with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from aiki import (
    Client,
    NonDeterminismError,
    SchemaValidationError,
    client,
    database,
    event,
    server,
    task,
    workflow,
)
from aiki.testing import ReplayOutcome, check_replay
from tests.integration.replay_check_support import (
    Seeded,
    charge,
    database_digest,
    order_v1,
    ran,
    reserve,
    seed,
    ship,
)


@pytest.fixture
async def seeded(db_url: str) -> Seeded:
    return await seed(db_url)


@pytest.fixture
async def reader(db_url: str, seeded: Seeded) -> AsyncIterator[Client]:
    """A client of the seeded database, opened read-only (as ``aiki replay-check --db`` opens it)."""
    srv = server(db=database(db_url, read_only=True), opts={"migrate": False})
    yield client(server=srv)
    await srv.close()


def redeployed(handler: Any) -> Any:
    """``handler`` as new code of ``rc-order`` ``1.0.0``: another workflow object, as another process makes."""
    return workflow(name="rc-order").v("1.0.0", events={"paid": event()})(handler)


async def test_unchanged_code_replays_every_run_in_flight_up_to_new_code(
    db_url: str, seeded: Seeded, reader: Client
) -> None:
    before = database_digest(db_url)

    report = await check_replay(reader, order_v1)

    assert report.ok and report.failures == []
    verdicts = {result.run_id: (result.outcome, result.stopped_at) for result in report.results}
    assert verdicts == {
        seeded.waiting: (ReplayOutcome.REACHED_NEW_CODE, "wait for event 'paid'"),
        seeded.sleeping: (ReplayOutcome.REACHED_NEW_CODE, "sleep 'cool-down'"),
        seeded.paused: (ReplayOutcome.REACHED_NEW_CODE, "sleep 'cool-down'"),
        seeded.scheduled: (ReplayOutcome.REACHED_NEW_CODE, verdicts[seeded.scheduled][1]),
    }
    assert verdicts[seeded.scheduled][1].startswith("task rc-reserve:")
    assert ran == []
    assert database_digest(db_url) == before


async def test_a_changed_task_input_is_reported_as_non_determinism_with_the_addresses(
    seeded: Seeded, reader: Client
) -> None:
    @redeployed
    async def changed(run: Any, order_id: str) -> str:
        await reserve.start(run, {"order": order_id})
        await run.events.paid.wait()
        return await ship.start(run, order_id)

    report = await check_replay(reader, changed)

    assert not report.ok
    failed = dict(report.failures)
    assert set(failed) == {seeded.waiting, seeded.sleeping, seeded.paused}
    error = failed[seeded.waiting]
    assert isinstance(error, NonDeterminismError)
    assert error.address.startswith("rc-reserve:") and error.unconsumed[0].startswith("task rc-reserve:")
    assert ran == []


class Charged(BaseModel):
    amount_cents: int
    currency: str


async def test_a_recorded_output_that_no_longer_fits_its_schema_is_reported(
    seeded: Seeded, reader: Client
) -> None:
    strict_charge = task(name="rc-charge", handler=charge.handler, schema={"output": Charged})

    @redeployed
    async def stricter(run: Any, order_id: str) -> str:
        await reserve.start(run, order_id)
        await run.events.paid.wait()
        await strict_charge.start(run, order_id)
        await run.sleep("cool-down", {"hours": 1})
        return await ship.start(run, order_id)

    report = await check_replay(reader, stricter)

    failed = dict(report.failures)
    assert set(failed) == {seeded.sleeping, seeded.paused}
    assert isinstance(failed[seeded.sleeping], SchemaValidationError)
    assert "recorded output of task 'rc-charge'" in str(failed[seeded.sleeping])


async def test_an_exception_of_the_handler_is_reported_and_new_work_before_it_is_not_run(
    seeded: Seeded, reader: Client
) -> None:
    audited: list[str] = []

    @task(name="rc-audit")
    async def audit(order_id: str) -> None:
        audited.append(order_id)

    @redeployed
    async def broken(run: Any, order_id: str) -> str:
        await reserve.start(run, order_id)
        if order_id == "o-waiting":
            await audit.start(run, order_id)
        raise LookupError(f"no warehouse for {order_id}")

    report = await check_replay(reader, broken)

    results = {result.run_id: result for result in report.results}
    assert results[seeded.waiting].outcome is ReplayOutcome.REACHED_NEW_CODE
    assert results[seeded.waiting].stopped_at is not None
    assert results[seeded.waiting].stopped_at.startswith("task rc-audit:")
    assert results[seeded.scheduled].outcome is ReplayOutcome.REACHED_NEW_CODE
    for run_id in (seeded.sleeping, seeded.paused):
        assert isinstance(results[run_id].error, LookupError)
        assert [entry.split(":")[0] for entry in results[run_id].unconsumed] == ["task rc-charge"]
    assert audited == [] and ran == []


async def test_only_runs_in_flight_of_that_name_and_version_are_replayed(
    seeded: Seeded, reader: Client
) -> None:
    report = await check_replay(reader, order_v1)

    replayed = {result.run_id for result in report.results}
    assert seeded.completed not in replayed and seeded.other_version not in replayed
    assert report.summary() == "rc-order 1.0.0: 4 runs in flight, 4 ok, 0 would fail"


async def test_a_database_opened_read_only_refuses_every_write(
    db_url: str, seeded: Seeded, reader: Client
) -> None:
    with pytest.raises(Exception, match=r"read-only|readonly"):
        await order_v1.start(reader, "o-new")
