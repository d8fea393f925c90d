"""The state of one execution of a handler: the claimed run, its manifest, cursors and tasks in flight."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiki.clock import Clock
from aiki.contract import ClaimedRun
from aiki.execution.manifest import ReplayManifest
from aiki.execution.signals import StopExecution
from aiki.types import ChildWaitEntry, EventEntry, SleepEntry, WorkflowRun

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from aiki.client.client import Client
    from aiki.definitions.workflow_version import WorkflowVersion


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    """Worker settings that shape an execution."""

    #: task retry delays up to this are waited in the worker; longer ones park the run (awaiting_retry)
    max_inline_retry_delay_ms: int = 1_000


class Execution:
    """Everything a replay consults, built once from the claimed run."""

    def __init__(
        self,
        claimed: ClaimedRun,
        version: WorkflowVersion[Any, Any],
        client: Client,
        clock: Clock,
        settings: ExecutionSettings,
        context: Any = None,
    ) -> None:
        self.run: WorkflowRun = claimed.run
        self.claim_token = claimed.claim_token
        self.version = version
        self.client = client
        self.clock = clock
        self.settings = settings
        self.context = context
        history = claimed.history
        self.manifest = ReplayManifest(history.tasks, history.children)
        self.sleeps: dict[str, list[SleepEntry]] = defaultdict(list)
        for sleep in history.sleeps:
            self.sleeps[sleep.name].append(sleep)
        self.events: dict[str, list[EventEntry]] = defaultdict(list)
        for event in history.events:
            self.events[event.name].append(event)
        self.child_waits: dict[tuple[str, str], list[ChildWaitEntry]] = defaultdict(list)
        for wait in history.child_waits:
            self.child_waits[(wait.child_run_id, wait.awaited_status)].append(wait)
        #: recorded sleeps, events and child waits the handler has not reached yet (tasks and children: the
        #: manifest's count)
        self._recorded_left = len(history.sleeps) + len(history.events) + len(history.child_waits)
        self.sleep_cursor: dict[str, int] = defaultdict(int)
        self.event_cursor: dict[str, int] = defaultdict(int)
        self.child_wait_cursor: dict[tuple[str, str], int] = defaultdict(int)
        self.in_flight: set[asyncio.Future[None]] = set()
        #: set once the execution is ending (suspension, failure, lost claim): no new task may start
        self.closing = False
        #: the tracer of this execution's spans, looked up once when it starts (``None``: no tracing)
        self.tracer: Tracer | None = None

    def replaying(self) -> bool:
        """Whether recorded entries of any kind (tasks, sleeps, events, children, child waits) remain
        unconsumed: the handler is still going over what an earlier execution ran."""
        return self._recorded_left > 0 or self.manifest.has_unconsumed()

    def consumed_recorded(self) -> None:
        """The handler consumed a recorded sleep, event or child wait."""
        self._recorded_left -= 1

    def check_open(self) -> None:
        """Refuse new work once the execution is ending."""
        if self.closing:
            raise StopExecution()

    def begin_work(self, kind: str, address: str) -> asyncio.Future[None]:
        """Track new work in flight (``kind`` ``task`` or ``child`` at ``address``), so that a suspension
        waits for it to be recorded."""
        self.check_open()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.in_flight.add(done)
        return done

    def end_work(self, done: asyncio.Future[None]) -> None:
        self.in_flight.discard(done)
        if not done.done():
            done.set_result(None)

    async def drain(self) -> None:
        """Close the execution and wait for the tasks still in flight to be recorded."""
        self.closing = True
        while self.in_flight:
            await asyncio.wait(set(self.in_flight))
