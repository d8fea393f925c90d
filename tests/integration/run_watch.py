"""Waiting for a run to reach a state, on the server's change notifications (never fixed sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiki import RunStatus, WorkflowRun, WorkflowRunHandle

#: How long a test waits for a run to get somewhere before it fails (wall-clock; generous for loaded CI).
PATIENCE_S = 15.0


async def until(
    handle: WorkflowRunHandle,
    wanted: RunStatus | Callable[[WorkflowRun], bool],
    timeout_s: float = PATIENCE_S,
) -> WorkflowRun:
    """Return the run once it is in status ``wanted`` (or ``wanted(run)`` holds); fail after ``timeout_s``.

    Aim at states a run stays in (parked, paused, terminal): a passing state such as ``queued`` may be
    left again before it is seen.
    """
    check = wanted if callable(wanted) and not isinstance(wanted, RunStatus) else _has_status(wanted)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    run = await handle.refresh()
    while not check(run):
        remaining_s = deadline - loop.time()
        if remaining_s <= 0:
            raise AssertionError(f"run {run.id} is still {run.status.value} ({run.state}) after {timeout_s}s")
        run = await handle.client.transport.wait_for_change(run.id, run.revision, int(remaining_s * 1000) + 1)
    handle.run = run
    return run


def _has_status(status: RunStatus) -> Callable[[WorkflowRun], bool]:
    return lambda run: run.status is status


def sleeping_at(index: int, name: str | None = None) -> Callable[[WorkflowRun], bool]:
    """A predicate: the run sleeps on entry ``index`` of a sleep queue (of ``name``, if given)."""
    return lambda run: (
        run.status is RunStatus.SLEEPING
        and run.state.index == index
        and (name is None or run.state.sleep_name == name)
    )


def awaiting_event(name: str, index: int = 0) -> Callable[[WorkflowRun], bool]:
    """A predicate: the run waits for entry ``index`` of the event queue ``name``."""
    return lambda run: (
        run.status is RunStatus.AWAITING_EVENT and run.state.event_name == name and run.state.index == index
    )
