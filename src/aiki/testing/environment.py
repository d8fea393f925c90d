"""``aiki.testing.environment(workflows=[...])``: a server, a worker and a fake clock in the test's process,
where a run that sleeps for days finishes in milliseconds.

See ``docs/testing.md`` for the whole story; in short, the server runs on a SQLite file in a temporary
folder (or the database given) without its runtime loop, a timer driver fires its timers on the fake clock
instead (``timers``), and one worker with a fixed id runs the given workflows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from types import TracebackType
from typing import Any, TypeVar

from aiki.client.client import Client
from aiki.clock import FakeClock
from aiki.definitions.handler import count_parameters
from aiki.definitions.task import Task
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.durations import Duration, to_milliseconds
from aiki.errors import ConfigurationError
from aiki.execution.worker import Worker, WorkerHandle, worker
from aiki.server.engine.settings import DAY_MS, parse_server_options
from aiki.server.server import Server, server
from aiki.store.factory import database
from aiki.testing.activity import Activity, Signal
from aiki.testing.timers import TimerDriver
from aiki.testing.wiring import EnvironmentTransport, WorkerClock

T = TypeVar("T")

#: the id of the environment's worker (``worker_options={"id": ...}`` changes it)
WORKER_ID = "aiki-testing-worker"

#: server options the environment sets unless ``server_options`` says otherwise: finished runs are kept
#: (time skipping would otherwise reach their retention and delete them under the test), and claims never
#: expire (the one worker never dies, and the fake clock may pass any claim timeout while a run is blocked
#: in an inline retry delay)
SERVER_DEFAULTS: dict[str, Any] = {"retention": None, "claim_timeout_ms": 3650 * DAY_MS}

#: worker options the environment sets unless ``worker_options`` says otherwise: a fixed id, and a short
#: graceful stop (a run still going when the test ends is abandoned)
WORKER_DEFAULTS: dict[str, Any] = {"id": WORKER_ID, "graceful_shutdown_timeout_ms": 1_000}


class Environment:
    """A test environment: ``async with environment(workflows=[...]) as env``. See :func:`environment`."""

    def __init__(
        self,
        workflows: Iterable[WorkflowVersion[Any, Any]],
        *,
        db: str | None,
        time_skipping: bool,
        clock: FakeClock | None,
        server_options: Mapping[str, Any] | None,
        worker_options: Mapping[str, Any] | None,
    ) -> None:
        if not isinstance(time_skipping, bool):
            raise ConfigurationError(
                f"environment(time_skipping=...) takes True or False, got {time_skipping!r}."
            )
        if clock is not None and not isinstance(clock, FakeClock):
            raise ConfigurationError(
                f"environment(clock=...) takes an aiki.testing.FakeClock (or nothing), got {clock!r}."
            )
        if db is not None and not isinstance(db, str):
            raise ConfigurationError(
                f"environment(db=...) takes a database URL such as 'sqlite:////tmp/test.db' (or nothing, for a "
                f"temporary SQLite file), got {db!r}."
            )
        # Checked now, so that a wrong workflow list or option fails at the call, naming what is wrong.
        self._worker: Worker = worker(workflows=workflows, opts={**WORKER_DEFAULTS, **(worker_options or {})})
        self._server_options = {**SERVER_DEFAULTS, **(server_options or {})}
        parse_server_options(self._server_options)
        self._db_url = db
        self._time_skipping = time_skipping
        self._clock = clock or FakeClock()
        self._stack: AsyncExitStack | None = None
        self._server: Server | None = None
        self._client: Client | None = None
        self._worker_handle: WorkerHandle | None = None
        self._activity: Activity | None = None
        self._driver: TimerDriver | None = None

    @property
    def clock(self) -> FakeClock:
        """The fake clock the server and the worker read."""
        return self._clock

    @property
    def server(self) -> Server:
        """The in-process server (its runtime loop is not started: the environment fires its timers)."""
        return _started(self._server, "server")

    @property
    def client(self) -> Client:
        """An embedded client of :attr:`server`: start runs with it, and wait for them."""
        return _started(self._client, "client")

    @property
    def worker(self) -> WorkerHandle:
        """The running worker of the environment's workflows."""
        return _started(self._worker_handle, "worker")

    @property
    def time_skipping(self) -> bool:
        """Whether the clock jumps to the next deadline by itself (see :func:`environment`)."""
        return self._time_skipping

    async def __aenter__(self) -> Environment:
        if self._stack is not None:
            raise ConfigurationError("An environment is entered once: make a new one with environment(...).")
        self._stack = AsyncExitStack()
        try:
            await self._start(self._stack)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self, stack: AsyncExitStack) -> None:
        """Start everything, each part registered with ``stack`` to be stopped in reverse order."""
        url = self._db_url
        if url is None:
            directory = tempfile.TemporaryDirectory(prefix="aiki-test-")
            stack.callback(directory.cleanup)
            url = f"sqlite:///{directory.name}/aiki.db"
        self._server = server(db=database(url), clock=self._clock, opts=self._server_options)
        self._server.runtime.served_elsewhere()  # the environment's timer driver fires the timers
        stack.push_async_callback(self._server.close)
        await self._server.open()
        changed = Signal()
        transport = EnvironmentTransport(self._server, changed)
        self._client = Client(transport, clock=self._clock)
        settings = self._worker.settings
        self._activity = Activity(
            self._server, self._client, self._clock, self._worker.registry, settings.shards, changed
        )
        self._worker_handle = await self._worker.start(self._client, clock=WorkerClock(self._clock, changed))
        stack.push_async_callback(self._worker_handle.stop)
        self._driver = TimerDriver(
            self._server, self._activity, self._clock, transport, time_skipping=self._time_skipping
        )
        self._driver.start()
        stack.push_async_callback(self._driver.stop)

    async def __aexit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        failure = self._driver.failure if self._driver is not None else None
        if failure is not None and error is None:
            raise failure

    async def run_until_idle(self) -> None:
        """Return once no run is queued or running (a run blocked in an inline retry delay counts as
        waiting) and no timer is due now. Never moves the clock itself."""
        _driver, activity = self._parts()
        await activity.until_idle(self._raise_failure)

    async def advance(self, duration: Duration) -> None:
        """Move time forward by ``duration`` and fire what became due, in order.

        Each deadline up to the new time fires at its own time, and the runs it wakes run (until the
        environment is idle) before the clock moves on: a run that sleeps an hour twice is done after
        ``advance({"hours": 2})``. Returns once the environment is idle at the new time.
        """
        milliseconds = to_milliseconds(duration, "env.advance(duration)")
        driver, activity = self._parts()
        async with driver.lock:
            target = self._clock.now_ms() + milliseconds
            while True:
                await activity.until_idle(self._raise_failure, settled=True)
                due = await activity.next_due_ms()
                if due is None or due > target:
                    break
                driver.jump(due)
                await driver.tick()
            driver.jump(target)

    @contextmanager
    def mock_task(self, task: Task[Any, Any], handler: Callable[..., Any]) -> Iterator[None]:
        """Within the ``with`` block, ``task`` runs ``handler`` instead of its own; restored afterwards,
        even if the block raises.

        ``handler`` takes the task's input (or nothing) and may be ``async def`` or a plain ``def``, like a
        task's. The task object is changed in place, so the mock applies wherever the task runs in this
        process during the block. A recorded result is replayed as before: only new attempts run the mock.

        Example:
            with env.mock_task(send_email, lambda input: {"sent_to": "test"}):
                result = await (await signup_v1.start(env.client, user)).wait_for_status("completed")
        """
        if not isinstance(task, Task):
            raise ConfigurationError(
                f"env.mock_task(task, handler) takes the task object (made with aiki.task), got {task!r}."
            )
        if not callable(handler):
            raise ConfigurationError(
                f"env.mock_task({task.name!r}, handler): the handler must be a function, got {handler!r}; to "
                f"return a fixed value, write lambda input: value."
            )
        parameter_count = count_parameters(handler, f"the mock of task {task.name!r}", 1)
        saved = (task.handler, task.parameter_count)
        task.handler, task.parameter_count = handler, parameter_count
        try:
            yield
        finally:
            task.handler, task.parameter_count = saved

    def _parts(self) -> tuple[TimerDriver, Activity]:
        driver, activity = _started(self._driver, "timer driver"), _started(self._activity, "activity")
        self._raise_failure()
        return driver, activity

    def _raise_failure(self) -> None:
        if self._driver is not None and self._driver.failure is not None:
            raise self._driver.failure


def _started(part: T | None, name: str) -> T:
    if part is None:
        raise ConfigurationError(
            f"The environment's {name} exists only inside `async with environment(...) as env:`."
        )
    return part


def environment(
    workflows: Iterable[WorkflowVersion[Any, Any]],
    *,
    db: str | None = None,
    time_skipping: bool = True,
    clock: FakeClock | None = None,
    server_options: Mapping[str, Any] | None = None,
    worker_options: Mapping[str, Any] | None = None,
) -> Environment:
    """A test environment for ``workflows``: an in-process server, a worker and a fake clock.

    Used as ``async with environment(workflows=[order_v1]) as env:``; everything stops when the block ends.

    Args:
        workflows: the versions the environment's worker runs.
        db: a database URL; by default a SQLite file in a temporary folder, deleted afterwards.
        time_skipping: when the test waits for a run to end (``wait_for_status`` through ``env.client``)
            and nothing else can happen (no run to claim, none running, nothing due now), the clock jumps to
            the next deadline and what is due there fires. ``False``: time moves only by ``env.advance``.
        clock: the fake clock to use (``FakeClock(start_ms=...)`` to start at a given time).
        server_options: ``server(opts=...)``, over the environment's: ``retention`` off, claims that do not
            expire.
        worker_options: ``worker(opts=...)``, over the environment's: ``id`` ``"aiki-testing-worker"``, a
            1-second graceful stop.

    Example:
        async with environment(workflows=[reminder_v1]) as env:
            handle = await reminder_v1.start(env.client, {"email": "a@b.c"})
            result = await handle.wait_for_status("completed")   # a 3-day sleep inside: milliseconds
    """
    return Environment(
        workflows,
        db=db,
        time_skipping=time_skipping,
        clock=clock,
        server_options=server_options,
        worker_options=worker_options,
    )
