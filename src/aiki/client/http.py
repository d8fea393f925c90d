"""The HTTP transport: the client's operations as JSON calls to an aiki server (``srv.app``) over httpx.

Errors come back as the same ``AikiError`` subclasses the embedded transport raises. A server that cannot be
reached (or a connection lost before the answer) raises ``ServerUnreachableError``; workers retry them with a
backoff.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from aiki.canonical_json import dumps
from aiki.client.retrying import WRITE_RETRY_BUDGET_S, retry_transient
from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, StartRequest, TaskWrite
from aiki.contract.codec import decode, encode
from aiki.contract.limits import check_limit
from aiki.contract.listing import Order, RunFilter, RunPage, WorkflowStats, filter_query
from aiki.contract.schedules import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.contract.steering import BulkAction, BulkRequest, BulkResult
from aiki.contract.wire import API_PREFIX, MAX_CHANGE_WAIT_MS, MAX_CLAIM_WAIT_MS, NAMESPACE_HEADER
from aiki.contract.workers import WorkerAnnouncement, WorkerInfo
from aiki.errors import (
    AikiError,
    ConfigurationError,
    InvalidRequestError,
    ServerUnreachableError,
    error_from_dict,
)
from aiki.extras import require
from aiki.types import RunHistory, RunStatus, Transition, WorkflowRun

if TYPE_CHECKING:
    import httpx
else:
    httpx = require("httpx", "http", "The HTTP client (client(url=...), HttpTransport)")

T = TypeVar("T")

#: requests of one client in flight at once, long polls (waits, claims) and the others counted apart;
#: more wait here, in order. httpx's pool holds a connection for each (twice this), so it never queues a
#: request itself: its queue costs a scan of every connection for every request, which a worker with
#: hundreds of runs in flight would pay on each of its writes.
IN_FLIGHT = 50
#: idle connections kept open: httpcore checks each (a few system calls) whenever it hands out a connection
KEPT_OPEN = 10


class HttpTransport:
    """A client of the aiki server at ``url``.

    Args:
        url: the server's base URL (``http://localhost:9850``, or where ``srv.app`` is mounted).
        api_key: sent as ``Authorization: Bearer <key>``; required once the server has any key.
        timeout_s: how long one call may take (long polls get their own wait on top of it).
        namespace: the namespace to work in. With a key, leave it out (the key's namespace is used); naming
            another namespace than the key's is refused. Without keys, it selects the namespace.
        http_transport: an httpx transport to send requests through (``httpx.ASGITransport(srv.app)`` serves
            an app in-process).
        write_retry_s: how long a worker's fenced write (a task result, an outcome, a claim refresh or
            release) is sent again after a dropped connection, a timeout or a 5xx answer before the failure
            is raised.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        namespace: str | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        write_retry_s: float = WRITE_RETRY_BUDGET_S,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"The server URL {url!r} is not an http(s) URL; use one like 'http://localhost:9850'."
            )
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
            raise ConfigurationError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}.")
        self.url = url.rstrip("/")
        #: the namespace calls work in; with a key and no explicit namespace, learnt from the first answer
        self.namespace = namespace or "default"
        self.timeout_s = float(timeout_s)
        self.write_retry_s = write_retry_s
        headers = {"accept": "application/json"}
        if api_key is not None:
            headers["authorization"] = f"Bearer {api_key}"
        if namespace is not None:
            headers[NAMESPACE_HEADER] = namespace
        self._http = httpx.AsyncClient(
            base_url=f"{self.url}{API_PREFIX}",
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=2 * IN_FLIGHT, max_keepalive_connections=KEPT_OPEN),
            transport=http_transport,
        )
        #: the gates of short requests (False) and long polls (True); see ``IN_FLIGHT``
        self._gates = {False: asyncio.Semaphore(IN_FLIGHT), True: asyncio.Semaphore(IN_FLIGHT)}

    async def start_run(self, request: StartRequest) -> WorkflowRun:
        return _decode(WorkflowRun, await self._call("POST", "/runs", encode(request)))

    async def get_run(self, run_id: str) -> WorkflowRun:
        return _decode(WorkflowRun, await self._call("GET", f"/runs/{_segment(run_id)}"))

    async def list_runs(
        self,
        run_filter: RunFilter,
        *,
        order: Order = "newest",
        limit: int = 50,
        cursor: str | None = None,
        include_values: bool = False,
    ) -> RunPage:
        params = filter_query(run_filter)
        params.update(order=order, limit=check_limit(limit), include_values=int(include_values))
        if cursor is not None:
            params["cursor"] = cursor
        return _decode(RunPage, await self._call("GET", "/runs", params=params))

    async def count_runs(self, run_filter: RunFilter) -> int:
        answer = await self._call("GET", "/runs/count", params=filter_query(run_filter))
        return _decode(int, answer["count"])

    async def workflow_stats(self) -> list[WorkflowStats]:
        answer = await self._call("GET", "/workflows/stats")
        return _decode(list[WorkflowStats], answer["workflows"])

    async def get_run_by_reference(self, workflow: str, version: str, reference_id: str) -> WorkflowRun:
        params: dict[str, str | int] = {
            "workflow": workflow,
            "version": version,
            "reference_id": reference_id,
        }
        return _decode(WorkflowRun, await self._call("GET", "/runs/by-reference", params=params))

    async def requeue_run(self, run_id: str) -> WorkflowRun:
        return await self._steer(run_id, "requeue", {})

    async def purge_runs(self, before_ms: int, statuses: list[RunStatus] | None) -> int:
        body = {"before_ms": before_ms, "statuses": None if statuses is None else [s.value for s in statuses]}
        return _decode(int, (await self._call("POST", "/runs/purge", body))["deleted"])

    async def steer_runs(
        self, action: BulkAction, run_ids: list[str], reason: str | None = None
    ) -> BulkResult:
        body = encode(BulkRequest(run_ids=list(run_ids), reason=reason))
        return _decode(BulkResult, await self._call("POST", f"/runs/bulk/{_segment(action)}", body))

    async def send_events(
        self, run_ids: list[str], name: str, data: Any, reference_id: str | None
    ) -> list[bool]:
        body = {"run_ids": list(run_ids), "data": data, "reference_id": reference_id}
        answer = await self._call("POST", f"/events/{_segment(name)}", body)
        return _decode(list[bool], answer["delivered"])

    async def announce_worker(self, worker: WorkerAnnouncement) -> None:
        await self._call("POST", "/worker/announce", encode(worker))

    async def worker_stopped(self, worker_id: str) -> None:
        await self._call("POST", "/worker/stopped", {"worker_id": worker_id})

    async def list_workers(self) -> list[WorkerInfo]:
        return _decode(list[WorkerInfo], (await self._call("GET", "/workers"))["workers"])

    async def get_history(self, run_id: str) -> RunHistory:
        return _decode(RunHistory, await self._call("GET", f"/runs/{_segment(run_id)}/history"))

    async def get_timeline(self, run_id: str) -> list[Transition]:
        answer = await self._call("GET", f"/runs/{_segment(run_id)}/timeline")
        return _decode(list[Transition], answer["transitions"])

    async def cancel_run(self, run_id: str, reason: str | None) -> WorkflowRun:
        return await self._steer(run_id, "cancel", {"reason": reason})

    async def pause_run(self, run_id: str) -> WorkflowRun:
        return await self._steer(run_id, "pause", {})

    async def resume_run(self, run_id: str) -> WorkflowRun:
        return await self._steer(run_id, "resume", {})

    async def awake_run(self, run_id: str) -> WorkflowRun:
        return await self._steer(run_id, "awake", {})

    async def send_event(self, run_id: str, name: str, data: Any, reference_id: str | None) -> bool:
        path = f"/runs/{_segment(run_id)}/events/{_segment(name)}"
        answer = await self._call("POST", path, {"data": data, "reference_id": reference_id})
        return bool(answer["delivered"])

    async def wait_for_change(
        self, run_id: str, known_revision: int, timeout_ms: int, *, until_terminal: bool = False
    ) -> WorkflowRun:
        timeout_ms = max(0, min(timeout_ms, MAX_CHANGE_WAIT_MS))
        answer = await self._call(
            "GET",
            f"/runs/{_segment(run_id)}/wait",
            params={
                "known_revision": known_revision,
                "timeout_ms": timeout_ms,
                "until_terminal": int(until_terminal),
            },
            wait_ms=timeout_ms,
        )
        return _decode(WorkflowRun, answer)

    async def claim(self, request: ClaimRequest) -> list[ClaimedRun]:
        wait_ms = max(0, min(request.wait_ms, MAX_CLAIM_WAIT_MS))
        answer = await self._call("POST", "/worker/claim", encode(request), wait_ms=wait_ms)
        return _decode(list[ClaimedRun], answer["claimed"])

    async def refresh_claims(self, claims: list[tuple[str, str]]) -> list[str]:
        body = {"claims": [list(claim) for claim in claims]}
        answer = await self._write("/worker/refresh", body, "refreshing claims")
        return _decode(list[str], answer["lost"])

    async def record_task(self, write: TaskWrite) -> str:
        what = f"recording task {write.address} #{write.occurrence} of run {write.run_id}"
        answer = await self._write("/worker/tasks", encode(write), what)
        return _decode(str, answer["status"])

    async def finish(self, outcome: RunOutcome) -> WorkflowRun:
        what = f"recording the {outcome.kind} outcome of run {outcome.run_id}"
        return _decode(WorkflowRun, await self._write("/worker/finish", encode(outcome), what))

    async def release(self, run_id: str, claim_token: str) -> None:
        body = {"run_id": run_id, "claim_token": claim_token}
        await self._write("/worker/release", body, f"releasing run {run_id}")

    async def _write(self, path: str, body: dict[str, Any], what: str) -> Any:
        """A fenced worker write: safe to send again, and sent again while it fails transiently."""
        try:
            return await retry_transient(
                lambda: self._call("POST", path, body, retryable=True),
                is_transient_http_failure,
                what,
                self.write_retry_s,
            )
        except _ServerFailure as failure:
            raise failure.error from None

    async def activate_schedule(self, request: ActivateScheduleRequest) -> ScheduleInfo:
        return _decode(ScheduleInfo, await self._call("POST", "/schedules", encode(request)))

    async def get_schedule(self, schedule_id: str) -> ScheduleInfo:
        return _decode(ScheduleInfo, await self._call("GET", f"/schedules/{_segment(schedule_id)}"))

    async def list_schedules(
        self,
        *,
        status: ScheduleStatus | None = None,
        workflow: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[ScheduleInfo]:
        params: dict[str, str | int] = {"limit": check_limit(limit)}
        for name, value in (("status", status), ("workflow", workflow), ("before_id", before_id)):
            if value is not None:
                params[name] = str(value)
        answer = await self._call("GET", "/schedules", params=params)
        return _decode(list[ScheduleInfo], answer["schedules"])

    async def pause_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self._steer_schedule(schedule_id, "pause")

    async def resume_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self._steer_schedule(schedule_id, "resume")

    async def deactivate_schedule(self, schedule_id: str) -> ScheduleInfo:
        return await self._steer_schedule(schedule_id, "deactivate")

    async def list_schedule_runs(self, schedule_id: str, *, limit: int = 50) -> list[WorkflowRun]:
        answer = await self._call(
            "GET", f"/schedules/{_segment(schedule_id)}/runs", params={"limit": check_limit(limit)}
        )
        return _decode(list[WorkflowRun], answer["runs"])

    async def _steer_schedule(self, schedule_id: str, action: str) -> ScheduleInfo:
        return _decode(
            ScheduleInfo, await self._call("POST", f"/schedules/{_segment(schedule_id)}/{action}", {})
        )

    async def close(self) -> None:
        """Close the connections to the server."""
        await self._http.aclose()

    async def _steer(self, run_id: str, action: str, body: dict[str, Any]) -> WorkflowRun:
        return _decode(WorkflowRun, await self._call("POST", f"/runs/{_segment(run_id)}/{action}", body))

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, str | int] | None = None,
        wait_ms: int | None = None,
        retryable: bool = False,
    ) -> Any:
        """One request; the parsed JSON answer, or the server's error raised as its ``AikiError``
        (``retryable``: a 5xx is raised as ``_ServerFailure``, for the caller to send the request again)."""
        content = None
        headers = None
        if body is not None:
            # The storage text (lone surrogates escaped, so UTF-8 can hold it): a value measured against
            # the value limit takes exactly as many bytes in the body.
            content = dumps(body, "request body").encode("utf-8")
            headers = {"content-type": "application/json"}
        timeout: httpx.Timeout | None = None
        if wait_ms is not None:
            # A long poll legitimately stays silent for wait_ms: the read timeout starts counting after it.
            timeout = httpx.Timeout(self.timeout_s, read=self.timeout_s + wait_ms / 1000)
        try:
            async with self._gates[wait_ms is not None]:
                response = await self._http.request(
                    method,
                    path,
                    content=content,
                    headers=headers,
                    params=params,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
        except httpx.TransportError as error:
            raise ServerUnreachableError(self.url, _network_failure(error)) from error
        namespace = response.headers.get(NAMESPACE_HEADER)
        if namespace:
            self.namespace = namespace
        if response.status_code >= 400:
            refused = self._error(method, path, response)
            if retryable and response.status_code >= 500:
                raise _ServerFailure(refused)
            raise refused
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise AikiError(
                f"The server at {self.url} answered {method} {path} with something that is not JSON "
                f"(HTTP {response.status_code}): {response.text[:200]!r}. Is the URL that of an aiki server?"
            ) from None

    def _error(self, method: str, path: str, response: httpx.Response) -> AikiError:
        try:
            error = response.json()["error"]
            if isinstance(error, dict):
                return error_from_dict(error)
        except (ValueError, KeyError, TypeError):
            pass
        return AikiError(
            f"The server at {self.url} answered {method} {path} with HTTP {response.status_code}: "
            f"{response.text[:200]!r}. Is the URL that of an aiki server?"
        )

    def __repr__(self) -> str:
        return f"<HttpTransport {self.url} namespace={self.namespace!r}>"


def _network_failure(error: httpx.TransportError) -> str:
    """What went wrong on the network, in a few words (``connection refused``, ``timed out``, ...)."""
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


def is_transient_http_failure(error: BaseException) -> bool:
    """A failure after which the same request may well succeed: no answer at all (a refused or dropped
    connection, a timeout) or a 5xx answer (a crashed handler, a busy server, a proxy without a backend)."""
    return isinstance(error, ServerUnreachableError | httpx.TransportError | _ServerFailure)


class _ServerFailure(Exception):
    """A 5xx answer to a write that may be sent again; ``error`` is what the server said."""

    def __init__(self, error: AikiError) -> None:
        super().__init__(error.message)
        self.error = error


def _segment(value: str) -> str:
    """``value`` as one path segment: every reserved character escaped, dots too (no ``..`` tricks)."""
    return quote(value, safe="").replace(".", "%2E")


def _decode(cls: type[T], data: Any) -> T:
    try:
        return decode(cls, data, allow_unknown=True)
    except InvalidRequestError as error:
        raise AikiError(f"The server sent an answer this client cannot read: {error.message}") from None
