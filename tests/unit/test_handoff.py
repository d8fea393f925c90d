"""Which waiting claim a new run, or a run a timer queues, is handed to (``engine/handoff.py``)."""

from __future__ import annotations

from aiki.contract import ClaimRequest
from aiki.server.engine.changes import Changes
from aiki.server.engine.handoff import Handoff, HandoffRound
from aiki.server.engine.notifier import Notifier
from aiki.types import RunState, RunStatus, WorkflowRun


def request(shards: list[str] | None = None, limit: int = 5) -> ClaimRequest:
    return ClaimRequest(worker_id="w1", workflows=[("orders", "1")], shards=shards, limit=limit, wait_ms=1000)


async def test_a_waiting_claim_is_taken_once_for_a_run_of_its_version_namespace_and_shard() -> None:
    notifier = Notifier()
    handoff = Handoff(notifier)
    waiter = handoff.wait("default", request(), notifier.work_generation)

    assert handoff.take("other", "orders", "1", None) is None
    assert handoff.take("default", "orders", "2", None) is None
    assert handoff.take("default", "orders", "1", "eu") is None  # the claim reads the unsharded queue
    assert handoff.take("default", "orders", "1", None) is waiter
    assert waiter.taken
    assert handoff.take("default", "orders", "1", None) is None


async def test_a_sharded_claim_takes_runs_of_its_shards_only() -> None:
    notifier = Notifier()
    handoff = Handoff(notifier)
    waiter = handoff.wait("default", request(shards=["eu", "us"]), notifier.work_generation)

    assert handoff.take("default", "orders", "1", None) is None
    assert handoff.take("default", "orders", "1", "asia") is None
    assert handoff.take("default", "orders", "1", "us") is waiter


async def test_no_claim_is_taken_once_work_was_announced_since_it_looked() -> None:
    notifier = Notifier()
    handoff = Handoff(notifier)
    handoff.wait("default", request(), notifier.work_generation)

    notifier.work_available()  # a run was queued: it goes before any new one

    assert handoff.take("default", "orders", "1", None) is None


async def test_a_claim_that_left_is_not_taken() -> None:
    notifier = Notifier()
    handoff = Handoff(notifier)
    waiter = handoff.wait("default", request(), notifier.work_generation)
    handoff.leave(waiter)

    assert handoff.take("default", "orders", "1", None) is None
    assert not waiter.taken


def queued_run(run_id: str, version: str = "1") -> WorkflowRun:
    return WorkflowRun(
        id=run_id,
        namespace="default",
        name="orders",
        version_id=version,
        input=None,
        input_hash="",
        state=RunState(RunStatus.QUEUED, reason="wakeup"),
        revision=3,
        attempts=1,
        options={},
        created_at_ms=0,
        updated_at_ms=0,
    )


async def test_a_round_hands_a_claim_runs_up_to_its_limit_then_takes_the_next_claim() -> None:
    notifier = Notifier()
    handoff = Handoff(notifier)
    first = handoff.wait("default", request(limit=2), notifier.work_generation)
    second = handoff.wait("default", request(limit=1), notifier.work_generation)
    changes = Changes()
    handoffs = HandoffRound(handoff, changes)

    taken = [handoffs.claim_for(queued_run(f"r{index}")) for index in range(4)]

    assert [claim.waiter if claim else None for claim in taken] == [first, first, second, None]
    assert handoffs.claim_for(queued_run("other", version="2")) is None
    assert taken[0] is taken[1] and taken[0] is not None and taken[2] is not None
    assert taken[0].claim_token != taken[2].claim_token  # one claim token per claim, as a claim statement
    for claim, run_id in zip(taken[:3], ["r0", "r1", "r2"], strict=True):
        assert claim is not None
        claim.runs.append(queued_run(run_id))

    changes.ended(committed=True)

    assert [item.run.id for item in first.delivered.result()] == ["r0", "r1"]
    assert {item.claim_token for item in first.delivered.result()} == {taken[0].claim_token}
    assert [item.run.id for item in second.delivered.result()] == ["r2"]


async def test_the_claims_of_a_round_that_is_given_up_get_no_runs() -> None:
    notifier = Notifier()
    handoff = Handoff(notifier)
    waiter = handoff.wait("default", request(), notifier.work_generation)
    changes = Changes()
    taken = HandoffRound(handoff, changes).claim_for(queued_run("r0"))
    assert taken is not None
    taken.runs.append(queued_run("r0"))

    changes.ended(committed=False)  # the timer's transaction rolled back: nothing was claimed

    assert waiter.delivered.result() == []
