"""Waiting for a fact outside the run record (a task body ran, a worker let go of a run), with a deadline.

Facts in the run record are waited for with ``run_watch.until``, which wakes on the server's notifications;
these facts change without a notification, so they are looked at every few milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: How long a test waits before it fails (wall-clock; generous for a loaded machine).
PATIENCE_S = 15.0


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = PATIENCE_S) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {timeout_s}s: {what}")
        await asyncio.sleep(0.005)
