"""Commands on runs from outside a workflow: start, read, list, cancel, pause, resume, awake, wait."""

from __future__ import annotations

import asyncio
import builtins

from aiki.contract.checks import StartTexts, check_start
from aiki.contract.limits import check_limit
from aiki.contract.listing import Cursor, Order, RunFilter, RunPage, WorkflowStats
from aiki.contract.messages import ClaimedRun, StartRequest
from aiki.errors import InvalidTransitionError, NotFoundError
from aiki.ids import new_secret
from aiki.server.engine.core import ServerCore
from aiki.server.engine.starts import HandedClaim, StartConflict, create_run
from aiki.server.engine.transitions import apply_transition, enter_state
from aiki.store.connection import Connection
from aiki.store.queries.listing import Listed
from aiki.types import (
    TERMINAL_STATUSES,
    RunHistory,
    RunState,
    RunStatus,
    Transition,
    WorkflowRun,
)

PAUSABLE = frozenset(
    {
        RunStatus.SCHEDULED,
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        RunStatus.SLEEPING,
        RunStatus.AWAITING_EVENT,
        RunStatus.AWAITING_RETRY,
        RunStatus.AWAITING_CHILD_WORKFLOW,
    }
)
NO_FILTER = RunFilter()
#: the most bytes of values (inputs and states) one page with ``include_values`` carries
VALUES_BUDGET_BYTES = 4 * 1024 * 1024
#: how often a start runs again after losing a race for its reference id or child address
START_ATTEMPTS = 4


async def get_run_in(
    connection: Connection, namespace: str, run_id: str, *, for_update: bool = False
) -> WorkflowRun:
    """The run, or ``NotFoundError``."""
    run = await connection.get_run(namespace, run_id, for_update=for_update)
    if run is None:
        raise NotFoundError("workflow run", run_id, "Check the id (and the namespace of your API key).")
    return run


def _moved(run: WorkflowRun, known_revision: int, until_terminal: bool) -> bool:
    return run.revision != known_revision and (not until_terminal or run.status in TERMINAL_STATUSES)


class RunCommands:
    """Start and steer runs."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        #: starts under way in this process
        self._starting = 0

    async def start(self, namespace: str, request: StartRequest) -> WorkflowRun:
        """Create a run, or return the one its reference id already names (same input)."""
        texts = check_start(request)
        self._starting += 1
        try:
            return await self._start(namespace, request, texts)
        finally:
            self._starting -= 1

    async def _start(self, namespace: str, request: StartRequest, texts: StartTexts) -> WorkflowRun:
        # A plain start (no parent, no reference id) is one statement: one round trip on PostgreSQL.
        plain = request.parent is None and request.reference_id is None
        waiter = None
        if plain and request.at_ms is None and not request.delay_ms and self._starting == 1:
            # A worker of this process waits for a run like this one: create it claimed for that worker.
            # Only a lone start: in a burst of starts the waiting claim takes them by the batch, and a
            # claim taken by the first would sit out the rest of the burst until that start commits.
            waiter = self.core.handoff.take(namespace, request.name, request.version_id, request.shard)
        handed: list[ClaimedRun] = []
        try:
            for attempt in range(START_ATTEMPTS):
                claim = None if waiter is None else HandedClaim(waiter.request.worker_id, new_secret())
                try:
                    async with self.core.write(single_statement=plain) as (connection, changes):
                        now_ms = self.core.clock.now_ms()
                        run = await create_run(
                            connection, changes, namespace, request, now_ms, self.core.settings, texts, claim
                        )
                except StartConflict:
                    # Two starts raced on one reference id (or one child address): the loser looks again.
                    if attempt == START_ATTEMPTS - 1:
                        raise
                    continue
                if claim is not None and run.status is RunStatus.RUNNING:
                    # Committed: the waiting claim returns it.
                    handed = [ClaimedRun(run, RunHistory(), claim.claim_token)]
                return run
            raise AssertionError("unreachable")
        finally:
            if waiter is not None:
                waiter.delivered.set_result(handed)

    async def get(self, namespace: str, run_id: str) -> WorkflowRun:
        async with self.core.read() as connection:
            return await get_run_in(connection, namespace, run_id)

    async def get_by_reference(
        self, namespace: str, workflow: str, version: str, reference_id: str
    ) -> WorkflowRun:
        """The run that a reference id names within a workflow version, or ``NotFoundError``."""
        async with self.core.read() as connection:
            run = await connection.get_run_by_reference(namespace, workflow, version, reference_id)
        if run is None:
            raise NotFoundError(
                f"run of workflow {workflow!r} version {version!r} with reference id",
                reference_id,
                "Check the reference id, the workflow version (reference ids are unique per version) and the "
                "namespace of your API key.",
            )
        return run

    async def history(self, namespace: str, run_id: str) -> RunHistory:
        async with self.core.read() as connection:
            await get_run_in(connection, namespace, run_id)
            return await connection.load_history(run_id)

    async def timeline(self, namespace: str, run_id: str) -> list[Transition]:
        async with self.core.read() as connection:
            await get_run_in(connection, namespace, run_id)
            return await connection.list_transitions(run_id)

    async def list(
        self,
        namespace: str,
        run_filter: RunFilter = NO_FILTER,
        *,
        order: Order = "newest",
        limit: int = 50,
        cursor: str | None = None,
        include_values: bool = False,
    ) -> RunPage:
        """One page of the runs ``run_filter`` matches, in ``order``; ``cursor`` continues a list.

        The runs are summaries (``values_omitted``), unless ``include_values``: then the page holds whole runs
        up to ``VALUES_BUDGET_BYTES`` of values (and at least one run), and its cursor continues after them.
        """
        run_filter = run_filter.checked()
        limit = check_limit(limit)
        after = None if cursor is None else Cursor.decode(cursor, order)
        async with self.core.read() as connection:
            listed = await connection.list_runs(
                namespace, run_filter, order=order, limit=limit + 1, after=after
            )
            more = len(listed) > limit
            listed = listed[:limit]
            if include_values:
                kept: builtins.list[Listed] = []
                budget = VALUES_BUDGET_BYTES
                for item in listed:
                    if kept and item.values_size > budget:
                        more = True
                        break
                    kept.append(item)
                    budget -= item.values_size
                full = await connection.get_runs(namespace, [item.run.id for item in kept])
                runs = [full.get(item.run.id, item.run) for item in kept]
            else:
                runs = [item.run for item in listed]
        if not more or not runs:
            return RunPage(runs=runs)
        last = runs[-1]
        return RunPage(runs=runs, next_cursor=Cursor(order, last.created_at_ms, last.id).encode())

    async def count(self, namespace: str, run_filter: RunFilter = NO_FILTER) -> int:
        """How many runs ``run_filter`` matches."""
        run_filter = run_filter.checked()
        async with self.core.read() as connection:
            return await connection.count_runs(namespace, run_filter)

    async def workflow_stats(self, namespace: str) -> builtins.list[WorkflowStats]:
        """Per workflow version, how many runs are in each status, and whether a live worker serves it."""
        async with self.core.read() as connection:
            counts = await connection.run_counts(namespace)
            live_since_ms = self.core.clock.now_ms() - self.core.settings.claim_timeout_ms
            served = await connection.served_versions(live_since_ms)
        stats: dict[tuple[str, str], dict[str, int]] = {}
        for name, version_id, status, runs in counts:
            stats.setdefault((name, version_id), {})[status] = runs
        return [
            WorkflowStats(
                name=name,
                version_id=version_id,
                counts=by_status,
                served=(namespace, name, version_id) in served,
            )
            for (name, version_id), by_status in stats.items()
        ]

    async def cancel(self, namespace: str, run_id: str, reason: str | None = None) -> WorkflowRun:
        """Cancel the run (and its children that are still going)."""
        # Cancelling a parent while a child finishes may deadlock on PostgreSQL (parent then child, child
        # then parent): the database aborts one side, which then simply runs again.
        return await self.core.retrying(lambda: self._cancel(namespace, run_id, reason))

    async def _cancel(self, namespace: str, run_id: str, reason: str | None) -> WorkflowRun:
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status in TERMINAL_STATUSES:
                raise InvalidTransitionError(
                    run.id, run.status.value, "cancelled", "The run has already finished; nothing to cancel."
                )
            state = RunState(RunStatus.CANCELLED, reason=reason)
            return await apply_transition(
                connection, run, state, changes, self.core.clock.now_ms(), self.core.settings
            )

    async def pause(self, namespace: str, run_id: str) -> WorkflowRun:
        """Pause: no new task starts, no timer fires, until ``resume``."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status not in PAUSABLE:
                raise InvalidTransitionError(
                    run.id,
                    run.status.value,
                    "paused",
                    "A stalled run cannot be paused: requeue or cancel it."
                    if run.status is RunStatus.STALLED
                    else "Only a run that has not finished and is not paused can be paused.",
                )
            state = RunState(RunStatus.PAUSED, reason="paused", previous=run.state)
            return await apply_transition(
                connection, run, state, changes, self.core.clock.now_ms(), self.core.settings
            )

    async def resume(self, namespace: str, run_id: str) -> WorkflowRun:
        """Put a paused run back where it was; a deadline that passed meanwhile fires at once."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            previous = run.state.previous
            if run.status is not RunStatus.PAUSED or previous is None:
                raise InvalidTransitionError(
                    run.id,
                    run.status.value,
                    "resumed",
                    f"Only a paused run can be resumed; this one is {run.status.value}.",
                )
            now_ms = self.core.clock.now_ms()
            if previous.status in (RunStatus.QUEUED, RunStatus.RUNNING):
                target = RunState(RunStatus.QUEUED, reason="resumption")
                return await apply_transition(connection, run, target, changes, now_ms, self.core.settings)
            restored = RunState.from_dict({**previous.to_dict(), "reason": "resumption"})
            return await enter_state(connection, run, restored, changes, now_ms, self.core.settings)

    async def requeue(self, namespace: str, run_id: str) -> WorkflowRun:
        """Put a stalled run back in the queue, with a fresh stall clock."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status is not RunStatus.STALLED:
                raise InvalidTransitionError(
                    run.id,
                    run.status.value,
                    "queued",
                    f"Only a stalled run can be requeued; this one is {run.status.value}.",
                )
            target = RunState(RunStatus.QUEUED, reason="requeue")
            return await apply_transition(
                connection, run, target, changes, self.core.clock.now_ms(), self.core.settings
            )

    async def awake(self, namespace: str, run_id: str) -> WorkflowRun:
        """Wake a sleeping run early: its ``run.sleep`` returns ``cancelled=True``."""
        async with self.core.write() as (connection, changes):
            run = await get_run_in(connection, namespace, run_id, for_update=True)
            if run.status is not RunStatus.SLEEPING:
                raise InvalidTransitionError(
                    run.id, run.status.value, "queued", "Only a sleeping run can be awoken."
                )
            now_ms = self.core.clock.now_ms()
            await connection.end_active_sleep(run.id, "cancelled", now_ms)
            target = RunState(RunStatus.QUEUED, reason="wakeup_early")
            return await apply_transition(connection, run, target, changes, now_ms, self.core.settings)

    def _remembered(self, run_id: str, namespace: str, known_revision: int) -> WorkflowRun | None:
        """The run as this process last committed it, at ``known_revision`` or later, if it remembers it
        (see ``Notifier.latest``): a waiter for the run's end need not read it then. Not finished, it is
        still going (another process would have announced its end); finished, that is the answer."""
        run: WorkflowRun | None = self.core.notifier.latest(run_id)
        if run is None or run.namespace != namespace or run.revision < known_revision:
            return None
        return run

    async def wait_for_change(
        self,
        namespace: str,
        run_id: str,
        known_revision: int,
        timeout_ms: int,
        *,
        until_terminal: bool = False,
    ) -> WorkflowRun:
        """Return the run once its revision differs from ``known_revision`` (or after ``timeout_ms``).

        With ``until_terminal``, only once the run is also terminal (``wait_for_status`` needs nothing
        less, and is spared a read and a round trip for every step of the run).
        """
        # A caller's patience is wall-clock time, not the server's (possibly fake) clock.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, timeout_ms) / 1000
        poll_s = self.core.settings.poll_interval_ms / 1000
        notifier = self.core.notifier
        first = True
        while True:
            watch = notifier.watch_run(run_id)
            try:
                run = (
                    self._remembered(run_id, namespace, known_revision) if first and until_terminal else None
                )
                first = False
                if run is None:
                    run = await self.get(namespace, run_id)
                remaining_s = deadline - loop.time()
                if _moved(run, known_revision, until_terminal) or remaining_s <= 0:
                    return run
                while remaining_s > 0:
                    changed = await notifier.wait_for_run(run_id, min(poll_s, remaining_s), watch)
                    if changed is None or changed.namespace != namespace:
                        break  # a timeout, or another process's change: read the run again
                    if _moved(changed, known_revision, until_terminal):
                        moved: WorkflowRun = changed
                        return moved  # this process made the change: no need to read it back
                    watch = notifier.watch_run(run_id)
                    remaining_s = deadline - loop.time()
            finally:
                notifier.unwatch_run(run_id, watch)
