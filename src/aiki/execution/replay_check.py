"""The replay check: would the runs in flight of a version go on with this handler?

Each run's recorded history is replayed against the handler with the worker's own machinery (the manifest,
the task and child runners, the run context), in an execution that never does new work: where a real
execution would run a task, start a child, retry a task, sleep or wait, the check stops and counts the run
as passing, because what follows is new code that no recorded result constrains. Nothing is written: the
execution's client refuses every call that would change something (a handler that steers another run stops
the check there too).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiki.client.client import Client
from aiki.client.transport import Transport
from aiki.contract import ClaimedRun
from aiki.definitions.starting_client import not_a_client
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError
from aiki.execution.context import WorkflowRunContext
from aiki.execution.execution import Execution, ExecutionSettings
from aiki.execution.executor import invoke_handler
from aiki.execution.replay_report import ReplayCheckReport, ReplayOutcome, RunReplayResult
from aiki.execution.signals import FailRun, ReachedNewCode, StopExecution, Suspend
from aiki.types import TERMINAL_STATUSES, RunHistory, RunState, RunStatus, WorkflowRun

#: the statuses of a run in flight: every one that is not terminal
IN_FLIGHT = tuple(status for status in RunStatus if status not in TERMINAL_STATUSES)

#: runs listed per page, and replayed per batch (at most ``concurrency`` at a time)
PAGE_SIZE = 1000

#: the transport calls that only read: a replay check lets these through and refuses every other
READS = frozenset(
    {
        "get_run",
        "list_runs",
        "count_runs",
        "workflow_stats",
        "get_history",
        "get_timeline",
        "wait_for_change",
        "get_schedule",
        "list_schedules",
        "list_schedule_runs",
    }
)


class ReplayOnlyTransport:
    """A transport that reads through ``inner`` and refuses to write: a write stops the check's replay.

    Read calls (``READS``) go to ``inner``; any other call raises ``ReachedNewCode`` naming it, so the
    handler unwinds there (its ``except Exception`` cannot catch it) and nothing is changed.
    """

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.namespace = inner.namespace

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name in READS or not callable(attribute):
            return attribute

        async def refuse(*arguments: object, **keywords: object) -> None:
            raise ReachedNewCode(f"a write ({name}), which the check does not make")

        return refuse


class ReplayCheckExecution(Execution):
    """An execution that only replays: new work raises ``ReachedNewCode`` instead of running."""

    def begin_work(self, kind: str, address: str) -> asyncio.Future[None]:
        # Siblings in an ``asyncio.gather`` stop at their next step rather than going on replaying.
        self.closing = True
        raise ReachedNewCode(f"{kind} {address}")


async def check_replay(
    client: Client,
    version: WorkflowVersion[Any, Any],
    *,
    context: Any = None,
    concurrency: int = 8,
) -> ReplayCheckReport:
    """Replay every run in flight of ``version``'s workflow name and version id against its handler.

    In flight means not terminal. No task body runs and nothing is written: recorded results are replayed,
    and a run whose replay reaches work the history does not hold passes (from there on it is new code).

    Args:
        client: a client of the server holding the runs (``aiki.client(url=...)``, or an embedded client
            of a server on the database, opened read-only: ``database(url, read_only=True)``).
        version: the version as the new code defines it: same workflow name and version id, new handler.
        context: what handlers see as ``run.context`` (the worker's ``context`` option), if they read it
            outside tasks.
        concurrency: how many runs are read and replayed at a time.

    Example:
        report = await check_replay(client, order_v1)
        if not report.ok:
            for run_id, error in report.failures:
                print(run_id, error)
    """
    if not isinstance(client, Client):
        raise not_a_client("check_replay(client, version)", client)
    if not isinstance(version, WorkflowVersion):
        raise ConfigurationError(
            f"check_replay(client, version) takes a workflow version (workflow(...).v(...)), got {version!r}."
        )
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(
            f"check_replay(concurrency=...) must be a positive integer, got {concurrency!r}."
        )
    replay_client = Client(ReplayOnlyTransport(client.transport), clock=client.clock)
    slots = asyncio.Semaphore(concurrency)

    async def check(run: WorkflowRun) -> RunReplayResult:
        async with slots:
            history = await client.get_history(run.id)
            return await replay_run(replay_client, version, run, history, context)

    results: list[RunReplayResult] = []
    batch: list[WorkflowRun] = []
    runs = client.iter_runs(
        status=IN_FLIGHT,
        workflow=version.name,
        version=version.version_id,
        order="oldest",
        page_size=PAGE_SIZE,
        include_values=True,  # a replay needs each run's input; a list gives summaries otherwise
    )
    async for run in runs:
        batch.append(run)
        if len(batch) == PAGE_SIZE:
            results += await asyncio.gather(*(check(run) for run in batch))
            batch = []
    results += await asyncio.gather(*(check(run) for run in batch))
    return ReplayCheckReport(version.name, version.version_id, tuple(results))


async def replay_run(
    client: Client,
    version: WorkflowVersion[Any, Any],
    run: WorkflowRun,
    history: RunHistory,
    context: Any = None,
) -> RunReplayResult:
    """Replay ``run`` (with its recorded ``history``) against ``version``'s handler: the verdict.

    ``client`` must not write (``check_replay`` hands a ``ReplayOnlyTransport``): a replayed child start
    reads the child through it.
    """
    claimed = ClaimedRun(run, _history_of_next_execution(run, history), claim_token="")
    execution = ReplayCheckExecution(claimed, version, client, client.clock, ExecutionSettings(), context)

    def verdict(outcome: ReplayOutcome, **facts: Any) -> RunReplayResult:
        unconsumed = tuple(execution.manifest.unconsumed())
        return RunReplayResult(run.id, run.status, outcome, unconsumed=unconsumed, **facts)

    try:
        await invoke_handler(execution, WorkflowRunContext(execution))
    except ReachedNewCode as reached:
        return verdict(ReplayOutcome.REACHED_NEW_CODE, stopped_at=reached.what)
    except Suspend as suspension:
        return verdict(ReplayOutcome.REACHED_NEW_CODE, stopped_at=_waiting_for(suspension.outcome))
    except StopExecution:
        # Raised only once a sibling branch ended the replay: that branch reached new code first.
        return verdict(ReplayOutcome.REACHED_NEW_CODE, stopped_at="a step after new code began")
    except FailRun as failure:
        return verdict(ReplayOutcome.FAILED, error=failure.error)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        return verdict(ReplayOutcome.FAILED, error=error)
    return verdict(ReplayOutcome.COMPLETED)


def _history_of_next_execution(run: WorkflowRun, history: RunHistory) -> RunHistory:
    """The history the run's next execution replays: a workflow retry first sets aside the tasks that did
    not complete (they run again in the new attempt)."""
    state: RunState | None = run.state
    while state is not None and state.status is RunStatus.PAUSED:
        state = state.previous
    if state is None or state.status is not RunStatus.AWAITING_RETRY or state.retry_kind != "workflow":
        return history
    return replace(history, tasks=[entry for entry in history.tasks if entry.status == "completed"])


def _waiting_for(outcome: dict[str, Any]) -> str:
    """Where a suspension stopped the replay, in words."""
    kind = outcome.get("kind")
    if kind == "sleep":
        return f"sleep {outcome.get('name')!r}"
    if kind == "event_wait":
        return f"wait for event {outcome.get('name')!r}"
    if kind == "child_wait":
        return f"wait for child run {outcome.get('child_run_id')}"
    return f"a {kind} wait"
