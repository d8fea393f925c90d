"""``worker(workflows=[...])``: claims runs of the versions it registers, executes them, keeps claims fresh."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiki.client.client import Client
from aiki.clock import Clock
from aiki.contract import ClaimedRun, ClaimRequest
from aiki.contract.limits import MAX_PAGE_SIZE
from aiki.contract.wire import MAX_CLAIM_WAIT_MS
from aiki.definitions.starting_client import not_a_client
from aiki.definitions.workflow import Workflow
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError, ServerUnreachableError, UnauthorizedError
from aiki.execution.execution import Execution, ExecutionSettings
from aiki.execution.executor import execute
from aiki.execution.presence import Presence
from aiki.ids import new_id

logger = logging.getLogger("aiki.worker")

#: how long one claim request may wait at the server for work to arrive
CLAIM_LONG_POLL_MS = 20_000

WORKER_OPTIONS = {
    "max_concurrent_workflow_runs": 10,
    "shards": None,
    "claim_refresh_interval_ms": 30_000,
    "graceful_shutdown_timeout_ms": 5_000,
    "poll_interval_ms": 1_000,
    "max_inline_retry_delay_ms": 1_000,
    "context": None,
    "id": None,
    "name": None,
}


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Worker options (``worker(opts=...)``)."""

    max_concurrent_workflow_runs: int = 10
    shards: list[str] | None = None
    claim_refresh_interval_ms: int = 30_000
    graceful_shutdown_timeout_ms: int = 5_000
    poll_interval_ms: int = 1_000
    max_inline_retry_delay_ms: int = 1_000
    context: Any = None
    id: str | None = None
    #: how ``list_workers`` names it (default: its id)
    name: str | None = None


def parse_worker_options(opts: Mapping[str, Any] | None) -> WorkerSettings:
    values = dict(opts or {})
    unknown = set(values) - set(WORKER_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"Unknown worker option(s) {sorted(unknown)}; the options are {sorted(WORKER_OPTIONS)}."
        )
    for key, value in values.items():
        if key in ("context",):
            continue
        if key == "shards":
            if value is not None and (
                isinstance(value, str) or not all(isinstance(item, str) and item for item in value)
            ):
                raise ConfigurationError(
                    f"Worker option 'shards' must be a list of shard names, got {value!r}."
                )
            values[key] = list(value) if value is not None else None
        elif key in ("id", "name"):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"Worker option {key!r} must be a non-empty string, got {value!r}.")
        elif (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < (0 if key.startswith("max_inline") else 1)
        ):
            raise ConfigurationError(f"Worker option {key!r} must be a positive integer, got {value!r}.")
    return WorkerSettings(**values)


class Worker:
    """A set of registered workflow versions and how to run them. ``await start(client)`` starts it."""

    def __init__(self, workflows: Iterable[WorkflowVersion[Any, Any]], settings: WorkerSettings) -> None:
        self.registry: dict[tuple[str, str], WorkflowVersion[Any, Any]] = {}
        for version in _versions(workflows):
            key = (version.name, version.version_id)
            if key in self.registry:
                raise ConfigurationError(
                    f"Workflow {version.name!r} version {version.version_id!r} is registered twice in this worker."
                )
            self.registry[key] = version
        self.settings = settings

    async def start(self, client: Client, *, clock: Clock | None = None) -> WorkerHandle:
        """Start claiming and executing runs in the background.

        Args:
            client: the client to claim runs through (``aiki.client(server=srv)`` or ``aiki.client(url=...)``).
            clock: the clock to read; by default the client's (an embedded server's own clock).
        """
        if not isinstance(client, Client):
            raise not_a_client("worker(...).start()", client)
        handle = WorkerHandle(self, client, clock or client.clock)
        await handle._presence.announce(0)
        handle._begin()
        return handle


def _versions(workflows: object) -> list[WorkflowVersion[Any, Any]]:
    """``workflows`` as a list of versions, or an error that shows how to pass them."""
    if isinstance(workflows, WorkflowVersion):
        raise ConfigurationError(
            f"worker(workflows=...) takes a list of workflow versions, got the single version {workflows!r}: "
            f"write worker(workflows=[{_variable(workflows)}])."
        )
    if isinstance(workflows, Workflow):
        raise ConfigurationError(
            f"worker(workflows=...) takes workflow versions, got the workflow {workflows.name!r} itself: pass "
            f"the versions to run, e.g. worker(workflows=[order_v1]) where order_v1 = "
            f'workflow(name=...).v("1.0.0", ...).'
        )
    if isinstance(workflows, str | bytes | Mapping) or not isinstance(workflows, Iterable):
        raise ConfigurationError(
            f"worker(workflows=...) takes a list of workflow versions, e.g. worker(workflows=[order_v1]); "
            f"got {workflows!r}."
        )
    versions = list(workflows)
    for version in versions:
        if not isinstance(version, WorkflowVersion):
            raise ConfigurationError(
                f"worker(workflows=...) takes workflow versions (workflow(...).v(...)), got {version!r}."
            )
    return versions


def _variable(version: WorkflowVersion[Any, Any]) -> str:
    """The name the user's code most likely has for ``version``: its handler's name."""
    name = getattr(version.handler, "__name__", "")
    return name if name.isidentifier() else "v1"


class WorkerHandle:
    """A running worker: ``await stop()`` drains it gracefully."""

    def __init__(self, worker: Worker, client: Client, clock: Clock) -> None:
        self.worker = worker
        self.client = client
        self.clock = clock
        settings = worker.settings
        self.id = settings.id or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"
        self.settings = settings
        self._execution_settings = ExecutionSettings(
            max_inline_retry_delay_ms=settings.max_inline_retry_delay_ms
        )
        self._active: dict[str, tuple[Execution, asyncio.Task[None]]] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopped = False
        #: set when the server refused this worker (a wrong or revoked API key): it stopped claiming
        self.fatal_error: UnauthorizedError | None = None
        self._presence = Presence(
            client.transport,
            self.id,
            settings.name,
            list(worker.registry),
            settings.shards,
            settings.max_concurrent_workflow_runs,
        )

    def _begin(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name=f"aiki-worker-{self.id}-claims"),
            asyncio.create_task(self._refresh_loop(), name=f"aiki-worker-{self.id}-refresh"),
        ]

    @property
    def active_run_ids(self) -> list[str]:
        return list(self._active)

    async def _claim_loop(self) -> None:
        workflows = list(self.worker.registry)
        backoff_s = 0.1
        while not self._stopping.is_set():
            capacity = self.settings.max_concurrent_workflow_runs - len(self._active)
            if capacity <= 0:
                self._slot_freed.clear()
                await self._wait_or_stop(self._slot_freed.wait(), None)
                continue
            request = ClaimRequest(
                worker_id=self.id,
                workflows=workflows,
                shards=self.settings.shards,
                limit=min(capacity, MAX_PAGE_SIZE),
                # A long poll: the server answers the moment a run is queued (and itself looks at the
                # database every poll interval for other processes' work), so idle workers cost nothing.
                wait_ms=min(max(self.settings.poll_interval_ms, CLAIM_LONG_POLL_MS), MAX_CLAIM_WAIT_MS),
            )
            try:
                claimed = await self._wait_or_stop(self.client.transport.claim(request), [])
                backoff_s = 0.1
            except UnauthorizedError as refused:
                # A wrong or revoked key does not get better by waiting: stop, and say why.
                logger.error("worker %s: the server refuses this worker: %s", self.id, refused)
                self.fatal_error = refused
                self._stopping.set()
                return
            except ServerUnreachableError as unreachable:
                logger.warning("worker %s: %s; trying again in %.1fs", self.id, unreachable, backoff_s)
                await self._wait_or_stop(asyncio.sleep(backoff_s), None)
                backoff_s = min(backoff_s * 2, 30.0)
                continue
            except Exception:
                logger.exception("worker %s: claiming runs failed; retrying in %.1fs", self.id, backoff_s)
                await self._wait_or_stop(asyncio.sleep(backoff_s), None)
                backoff_s = min(backoff_s * 2, 30.0)
                continue
            for item in claimed or []:
                if self._stopping.is_set():
                    await self.client.transport.release(item.run.id, item.claim_token)
                else:
                    self._spawn(item)

    async def _wait_or_stop(self, awaitable: Any, default: Any) -> Any:
        """Await ``awaitable`` unless the worker is asked to stop first (then return ``default``)."""
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if work.done():
            return work.result()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            result = await work
            if isinstance(result, list):
                # The claim committed just as we stopped: hand those runs straight back.
                for item in result:
                    await self.client.transport.release(item.run.id, item.claim_token)
        return default

    def _spawn(self, claimed: ClaimedRun) -> None:
        version = self.worker.registry[(claimed.run.name, claimed.run.version_id)]
        execution = Execution(
            claimed, version, self.client, self.clock, self._execution_settings, self.settings.context
        )
        stale = self._active.get(claimed.run.id)
        if stale is not None:
            # This worker's earlier execution of the run lost its claim (the run was recovered and claimed
            # anew): it starts nothing more, and the new execution is the one tracked and refreshed.
            stale[0].closing = True
        task = asyncio.create_task(self._execute(execution), name=f"aiki-run-{claimed.run.id}")
        self._active[claimed.run.id] = (execution, task)

    async def _execute(self, execution: Execution) -> None:
        try:
            await execute(execution)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "worker %s: run %s failed unexpectedly; its claim will expire", self.id, execution.run.id
            )
        finally:
            entry = self._active.get(execution.run.id)
            if entry is not None and entry[0] is execution:
                del self._active[execution.run.id]
            self._slot_freed.set()

    async def _refresh_loop(self) -> None:
        interval_s = self.settings.claim_refresh_interval_ms / 1000
        while not self._stopping.is_set():
            await self._wait_or_stop(asyncio.sleep(interval_s), None)
            if self._stopping.is_set():
                return
            await self._presence.announce(len(self._active))
            if not self._active:
                continue
            claims = [(run_id, execution.claim_token) for run_id, (execution, _task) in self._active.items()]
            lost: list[str] = []
            try:
                for start in range(0, len(claims), MAX_PAGE_SIZE):
                    lost += await self.client.transport.refresh_claims(claims[start : start + MAX_PAGE_SIZE])
            except Exception:
                logger.exception("worker %s: refreshing claims failed", self.id)
                continue
            for run_id in lost:
                entry = self._active.get(run_id)
                if entry is not None:
                    # Another worker owns the run now: start nothing new; writes would be rejected anyway.
                    entry[0].closing = True

    async def stopping(self) -> None:
        """Return once the worker stops claiming: ``stop()`` was called, or the server refused it
        (``fatal_error``)."""
        await self._stopping.wait()

    async def stop(self) -> None:
        """Stop claiming, wait for runs in flight (up to the graceful timeout), then return."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        tasks = [task for _execution, task in self._active.values()]
        if tasks:
            _done, pending = await asyncio.wait(
                tasks, timeout=self.settings.graceful_shutdown_timeout_ms / 1000
            )
            for task in pending:
                task.cancel()
            if pending:
                logger.warning(
                    "worker %s: %d run(s) still running after the graceful timeout were abandoned; "
                    "their claims expire and other workers recover them",
                    self.id,
                    len(pending),
                )
                await asyncio.wait(pending)
        await self._presence.withdraw()

    async def __aenter__(self) -> WorkerHandle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def worker(
    workflows: Iterable[WorkflowVersion[Any, Any]],
    opts: Mapping[str, Any] | None = None,
    *,
    context: Any = None,
) -> Worker:
    """Create a worker for ``workflows``.

    Args:
        workflows: the workflow versions it runs.
        opts: ``max_concurrent_workflow_runs`` (10), ``shards`` (None: unsharded runs only),
            ``claim_refresh_interval_ms`` (30 000), ``graceful_shutdown_timeout_ms`` (5 000),
            ``poll_interval_ms`` (1 000), ``max_inline_retry_delay_ms`` (1 000), ``context`` (as below), ``id``.
        context: handed to handlers as ``run.context`` (a database pool, API clients); a callable is a
            factory instead, called (sync or async) with the ``WorkflowRun`` before each execution, and
            what it returns is ``run.context``.
    """
    options = dict(opts or {})
    if context is not None:
        if options.get("context") is not None:
            raise ConfigurationError(
                "worker(...) was given a context twice, as context= and as opts={'context': ...}; keep one."
            )
        options["context"] = context
    return Worker(workflows, parse_worker_options(options))
