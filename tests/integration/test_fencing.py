"""Revision fencing: once a claim goes stale and the run is recovered, the old claim's writes are rejected,
nothing it sends is stored, and another execution finishes the run."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import pytest

from aiki import (
    RevisionConflictError,
    RunStatus,
    WorkflowVersion,
    client,
    database,
    server,
    task,
    worker,
    workflow,
)
from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, TaskWrite
from aiki.execution.task_runner import task_address
from tests.conftest import Env
from tests.integration.eventually import eventually

CLAIM_TIMEOUT_MS = 90_000  # the server default, which the fixtures keep


async def _noop(run: Any, input: Any) -> None:
    return None


fenced: WorkflowVersion = workflow(name="fenced").v("1.0.0", handler=_noop)


async def _claim(env: Env, worker_id: str) -> ClaimedRun:
    request = ClaimRequest(worker_id=worker_id, workflows=[("fenced", "1.0.0")], shards=None, limit=1)
    claimed = await env.client.transport.claim(request)
    assert len(claimed) == 1
    return claimed[0]


async def _recover(env: Env) -> None:
    """Let the claim go stale and the timer loop requeue the run."""
    assert env.clock is not None
    env.clock.advance(CLAIM_TIMEOUT_MS + 1)
    assert await env.server.runtime.tick() == 1


def _task_write(claimed: ClaimedRun) -> TaskWrite:
    return TaskWrite(
        run_id=claimed.run.id,
        claim_token=claimed.claim_token,
        name="charge",
        address=task_address("charge", 1),
        occurrence=0,
        status="completed",
        attempts=1,
        input=1,
        output="charged",
    )


def _outcome(claimed: ClaimedRun, revision: int | None = None) -> RunOutcome:
    return RunOutcome(
        run_id=claimed.run.id,
        claim_token=claimed.claim_token,
        expected_revision=claimed.run.revision if revision is None else revision,
        kind="complete",
        output="stale result",
    )


async def _stale_and_fresh(fake_env: Env) -> tuple[ClaimedRun, ClaimedRun]:
    await fenced.start(fake_env.client, None)
    stale = await _claim(fake_env, "worker-a")
    await _recover(fake_env)
    fresh = await _claim(fake_env, "worker-b")
    assert fresh.claim_token != stale.claim_token
    return stale, fresh


async def test_a_stale_claim_loses_its_run_to_recovery_which_bumps_the_revision(fake_env: Env) -> None:
    handle = await fenced.start(fake_env.client, None)
    claimed = await _claim(fake_env, "worker-a")

    await _recover(fake_env)

    run = await handle.refresh()
    assert (run.status, run.state.reason) == (RunStatus.QUEUED, "recovery")
    assert run.revision == claimed.run.revision + 1
    assert run.attempts == 1  # recovery charges no attempt


async def test_a_task_write_under_a_stale_claim_is_rejected_and_nothing_is_stored(fake_env: Env) -> None:
    stale, _fresh = await _stale_and_fresh(fake_env)

    with pytest.raises(RevisionConflictError, match=stale.run.id):
        await fake_env.client.transport.record_task(_task_write(stale))

    assert (await fake_env.client.get_history(stale.run.id)).tasks == []


async def test_an_outcome_under_a_stale_claim_is_rejected_and_the_run_is_untouched(fake_env: Env) -> None:
    stale, fresh = await _stale_and_fresh(fake_env)

    with pytest.raises(RevisionConflictError, match=stale.run.id):
        await fake_env.client.transport.finish(_outcome(stale))

    run = await fake_env.client.get_run(stale.run.id)
    assert (run.status, run.revision) == (RunStatus.RUNNING, fresh.run.revision)


async def test_the_new_claim_writes_normally(fake_env: Env) -> None:
    _stale, fresh = await _stale_and_fresh(fake_env)

    assert await fake_env.client.transport.record_task(_task_write(fresh)) == "running"
    finished = await fake_env.client.transport.finish(_outcome(fresh))

    assert finished.status is RunStatus.COMPLETED and finished.state.output == "stale result"


async def test_refreshing_a_stale_claim_reports_it_lost(fake_env: Env) -> None:
    stale, fresh = await _stale_and_fresh(fake_env)

    lost = await fake_env.client.transport.refresh_claims([(stale.run.id, stale.claim_token)])
    kept = await fake_env.client.transport.refresh_claims([(fresh.run.id, fresh.claim_token)])

    assert (lost, kept) == ([stale.run.id], [])


async def test_an_outcome_with_a_stale_revision_is_rejected_even_under_the_right_claim(fake_env: Env) -> None:
    handle = await fenced.start(fake_env.client, None)
    claimed = await _claim(fake_env, "worker-a")
    await handle.pause()  # a pause keeps the claim (an in-flight task may still record) but moves the run

    with pytest.raises(RevisionConflictError, match=f"expected revision {claimed.run.revision}"):
        await fake_env.client.transport.finish(_outcome(claimed))

    assert (await handle.refresh()).status is RunStatus.PAUSED


async def test_another_result_at_an_address_already_recorded_is_rejected(fake_env: Env) -> None:
    await fenced.start(fake_env.client, None)
    claimed = await _claim(fake_env, "worker-a")
    await fake_env.client.transport.record_task(_task_write(claimed))

    with pytest.raises(RevisionConflictError, match="already recorded"):
        await fake_env.client.transport.record_task(replace(_task_write(claimed), output="charged twice"))
    with pytest.raises(RevisionConflictError, match="already recorded"):
        await fake_env.client.transport.record_task(replace(_task_write(claimed), attempts=2))


async def test_the_same_task_result_sent_again_is_answered_as_its_earlier_success(fake_env: Env) -> None:
    """A worker whose write committed but whose answer was lost (a dropped connection, a 502) sends it again:
    under the same claim, the very same result is its own, and is answered as recorded, once."""
    await fenced.start(fake_env.client, None)
    claimed = await _claim(fake_env, "worker-a")
    first = await fake_env.client.transport.record_task(_task_write(claimed))

    again = await fake_env.client.transport.record_task(_task_write(claimed))

    assert first == again == "running"
    assert [
        entry.output for entry in (await fake_env.client.transport.get_history(claimed.run.id)).tasks
    ] == ["charged"]


async def test_the_same_task_result_under_a_lost_claim_is_rejected(fake_env: Env) -> None:
    stale, fresh = await _stale_and_fresh(fake_env)
    await fake_env.client.transport.record_task(_task_write(fresh))

    with pytest.raises(RevisionConflictError, match="taken back"):
        await fake_env.client.transport.record_task(_task_write(stale))


# --- through workers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TwoSteps:
    """A fresh ``two-steps@1.0.0`` (``slow-step`` then ``last-step``), how often each task body ran, and the
    gates its bodies wait at: ``gates[n]`` holds the n-th execution of ``slow-step``, ``gates[100 + n]``
    the n-th of ``last-step``."""

    version: WorkflowVersion[Any, list[str]]
    executions: Counter[str]
    gates: dict[int, asyncio.Event]


@pytest.fixture
def two_steps() -> TwoSteps:
    executions: Counter[str] = Counter()
    gates: dict[int, asyncio.Event] = {}

    @task(name="slow-step")
    async def slow_step(input: Any) -> str:
        executions["slow-step"] += 1
        gate = gates.get(executions["slow-step"])
        if gate is not None:
            await gate.wait()
        return "stepped"

    @task(name="last-step")
    async def last_step(input: Any) -> str:
        executions["last-step"] += 1
        gate = gates.get(100 + executions["last-step"])
        if gate is not None:
            await gate.wait()
        return "last"

    @workflow(name="two-steps").v("1.0.0")
    async def two_steps_v1(run: Any, input: Any) -> list[str]:
        return [await slow_step.start(run, None), await last_step.start(run, None)]

    return TwoSteps(two_steps_v1, executions, gates)


def _executions_of(run_id: str) -> int:
    """How many executions of the run are alive in this process (worker tasks are named after the run)."""
    return sum(1 for job in asyncio.all_tasks() if job.get_name() == f"aiki-run-{run_id}" and not job.done())


async def test_a_worker_whose_claim_went_stale_cannot_record_and_another_worker_finishes(
    fake_env: Env, two_steps: TwoSteps
) -> None:
    two_steps_v1, executions = two_steps.version, two_steps.executions
    first_attempt = two_steps.gates[1] = asyncio.Event()
    stuck = await fake_env.start_worker(two_steps_v1, max_concurrent_workflow_runs=1)
    handle = await two_steps_v1.start(fake_env.client, None)
    await eventually(lambda: executions["slow-step"] == 1, "the first attempt of slow-step started")

    await _recover(fake_env)
    await fake_env.start_worker(two_steps_v1)
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    first_attempt.set()  # the stale execution's task now finishes; its write must be refused
    await eventually(lambda: not stuck.active_run_ids, "the stale execution ended")

    assert result.state is not None and result.state.output == ["stepped", "last"]
    history = await fake_env.client.get_history(handle.id)
    assert [entry.name for entry in history.tasks] == ["slow-step", "last-step"]
    assert executions == Counter({"slow-step": 2, "last-step": 1})


async def test_a_worker_that_reclaims_its_own_recovered_run_keeps_tracking_the_new_execution(
    fake_env: Env, two_steps: TwoSteps
) -> None:
    two_steps_v1, executions = two_steps.version, two_steps.executions
    stale_attempt = two_steps.gates[1] = asyncio.Event()
    new_execution_at_last_step = two_steps.gates[101] = asyncio.Event()
    worker_handle = await fake_env.start_worker(two_steps_v1, max_concurrent_workflow_runs=2)
    handle = await two_steps_v1.start(fake_env.client, None)
    await eventually(lambda: executions["slow-step"] == 1, "the first attempt of slow-step started")

    await _recover(fake_env)  # the same worker claims the run again, while its first execution hangs
    await eventually(lambda: executions["last-step"] == 1, "the second execution reached last-step")
    stale_attempt.set()
    await eventually(lambda: _executions_of(handle.id) == 1, "the stale execution ended")

    # The new execution is still in flight: the worker must still track it (and refresh its claim).
    assert worker_handle.active_run_ids == [handle.id]
    new_execution_at_last_step.set()
    result = await handle.wait_for_status("completed", timeout={"seconds": 15})
    assert result.state is not None and result.state.output == ["stepped", "last"]


# --- a live worker keeps its claim ----------------------------------------------------------------------


def _long_run() -> tuple[WorkflowVersion[int, str], Counter[str]]:
    """A fresh ``long-run@1.0.0`` whose one task works for ``input`` ms; and how often the task body ran."""
    executions: Counter[str] = Counter()

    @task(name="long-step")
    async def long_step(input: int) -> str:
        executions["long-step"] += 1
        await asyncio.sleep(input / 1000)  # the work itself, several claim timeouts long
        return "long done"

    async def long_run_v1(run: Any, input: int) -> str:
        return await long_step.start(run, input)

    return workflow(name="long-run").v("1.0.0", handler=long_run_v1), executions


async def test_a_worker_that_refreshes_its_claim_keeps_its_run_past_the_claim_timeout(db_url: str) -> None:
    srv = server(db=database(db_url), opts={"claim_timeout_ms": 800, "poll_interval_ms": 50})
    runtime = await srv.runtime.start()
    c = client(server=srv)
    long_run, executions = _long_run()
    options = {"claim_refresh_interval_ms": 100, "poll_interval_ms": 50}
    busy = await worker(workflows=[long_run], opts=options).start(c)
    try:
        handle = await long_run.start(c, 2_000)
        result = await handle.wait_for_status("completed", timeout={"seconds": 15})
        timeline = [(step.to_status, step.reason) for step in await c.get_timeline(handle.id)]
    finally:
        await busy.stop()
        await runtime.stop()
        await srv.close()

    assert result.state is not None and result.state.output == "long done"
    assert executions == Counter({"long-step": 1})
    assert ("queued", "recovery") not in timeline
