"""Steering many runs: the single-run commands, applied to each run in its own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiki.contract.steering import BulkAction, BulkResult, check_run_ids
from aiki.errors import InvalidTransitionError, NotFoundError
from aiki.server.commands.runs import RunCommands
from aiki.types import WorkflowRun

#: runs changed at once: their transactions share commits (SQLite) or connections (PostgreSQL)
CONCURRENT_CHANGES = 16


class SteeringCommands:
    """Cancel, pause, resume or requeue many runs; each changes atomically and independently."""

    def __init__(self, runs: RunCommands) -> None:
        self.runs = runs

    async def apply(
        self, namespace: str, action: BulkAction, run_ids: list[str], reason: str | None = None
    ) -> BulkResult:
        """Apply ``action`` to every run of ``run_ids``; the ones it cannot apply to are skipped, with why."""
        ids = check_run_ids(run_ids)
        operations: dict[str, Callable[[str], Awaitable[WorkflowRun]]] = {
            "cancel": lambda run_id: self.runs.cancel(namespace, run_id, reason),
            "pause": lambda run_id: self.runs.pause(namespace, run_id),
            "resume": lambda run_id: self.runs.resume(namespace, run_id),
            "requeue": lambda run_id: self.runs.requeue(namespace, run_id),
        }
        operation = operations[action]
        skipped: dict[str, str] = {}
        gate = asyncio.Semaphore(CONCURRENT_CHANGES)

        async def change(run_id: str) -> None:
            async with gate:
                try:
                    await operation(run_id)
                except NotFoundError:
                    skipped[run_id] = "unknown: no run with this id in this namespace"
                except InvalidTransitionError as error:
                    skipped[run_id] = error.message

        await asyncio.gather(*(change(run_id) for run_id in ids))
        return BulkResult(done=[run_id for run_id in ids if run_id not in skipped], skipped=skipped)
