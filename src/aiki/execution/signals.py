"""Signals that unwind a workflow handler. They derive from ``BaseException`` so that ``except Exception``
in user code cannot swallow them."""

from __future__ import annotations

from typing import Any


class HandlerSignal(BaseException):
    """Base of the signals that end one execution of a handler."""


class Suspend(HandlerSignal):
    """The run waits (sleep, event, child, task retry): the execution ends and the run is parked.

    ``outcome`` holds the fields of the ``RunOutcome`` the worker reports (without run id and claim).
    """

    def __init__(self, **outcome: Any) -> None:
        super().__init__(outcome.get("kind"))
        self.outcome = outcome


class FailRun(HandlerSignal):
    """The run fails now, without workflow retries (non-determinism, schema mismatch)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class StopExecution(HandlerSignal):
    """This worker must stop executing the run (claim lost, run paused or cancelled): quietly."""


class ReachedNewCode(HandlerSignal):
    """A replay check reached work the recorded history does not hold (``what``: ``task <address>`` or
    ``child <address>``): a real execution would run or start it now; the check stops there instead."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
