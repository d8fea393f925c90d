"""Sending a worker's write again after a transient failure, with a growing pause, within a time budget.

Only writes that are safe to send twice go through here: each is fenced by the run's claim token (and, for a
status change, the revision the worker saw), so a copy that arrives after the first one committed changes
nothing. The server answers a task result sent again under the same claim as the success it already was; an
outcome sent again after it committed is refused as a conflict, which the worker takes as "the run moved on"
(the run holds what the first copy wrote).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

logger = logging.getLogger("aiki.client")

#: how long a write is tried again before its failure is given up to the caller: a claim outlives it
#: (90 s by default), so a write that gets through within it still counts
WRITE_RETRY_BUDGET_S = 60.0
#: the first pause, and the longest, between two tries
FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 5.0


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    is_transient: Callable[[BaseException], bool],
    what: str | Callable[[], str],
    budget_s: float = WRITE_RETRY_BUDGET_S,
) -> T:
    """``await operation()``, tried again while it fails transiently and the budget lasts.

    Args:
        operation: sends the write once.
        is_transient: whether a failure may pass (a dropped connection, a 5xx, a busy server).
        what: names the write in log lines (or makes that name, only when a try fails).
        budget_s: how long to keep trying, from the first try.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    try:
        return await operation()
    except Exception as error:
        if not is_transient(error):
            raise
        failure: Exception = error
    pause_s = FIRST_PAUSE_S
    tries = 1
    while True:
        remaining_s = deadline - loop.time()
        if remaining_s <= 0:
            raise failure
        # Full jitter: many workers cut off by one outage do not all come back in the same instant.
        wait_s = min(remaining_s, random.uniform(pause_s / 2, pause_s))
        name = what() if callable(what) else what
        logger.warning("%s failed (try %d: %r); sending it again in %.2fs", name, tries, failure, wait_s)
        await asyncio.sleep(wait_s)
        pause_s = min(pause_s * 2, LONGEST_PAUSE_S)
        tries += 1
        try:
            return await operation()
        except Exception as next_error:
            if not is_transient(next_error):
                raise
            failure = next_error
