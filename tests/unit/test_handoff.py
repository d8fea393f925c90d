"""Which waiting claim a new run is handed to (``engine/handoff.py``)."""

from __future__ import annotations

from aiki.contract import ClaimRequest
from aiki.server.engine.handoff import Handoff
from aiki.server.engine.notifier import Notifier


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
