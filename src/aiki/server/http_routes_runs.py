"""Routes on runs: start, read, list, history, timeline, steer, send events, long-poll for a change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract import StartRequest
from aiki.contract_json import decode
from aiki.server.http_endpoint import Api, unless_disconnected
from aiki.server.http_io import (
    json_response,
    path_text,
    query_int,
    query_text,
    read_body,
    read_no_fields,
    read_request,
)

#: a long poll for a run's change answers after this long at most; clients simply ask again
MAX_WAIT_MS = 60_000


@dataclass(frozen=True, slots=True)
class CancelBody:
    """``POST /runs/{id}/cancel``."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventBody:
    """``POST /runs/{id}/events/{name}``: the event's data, and a reference id that dedupes the send."""

    data: Any = None
    reference_id: str | None = None


def run_routes(api: Api) -> list[Route]:
    """The routes under ``/api/v1/runs``."""
    runs = api.server.runs

    async def start_run(request: Request, namespace: str) -> Response:
        return json_response(await runs.start(namespace, await read_request(request, StartRequest)))

    async def list_runs(request: Request, namespace: str) -> Response:
        found = await runs.list(
            namespace,
            status=query_text(request, "status"),
            workflow=query_text(request, "workflow"),
            limit=query_int(request, "limit", 50, minimum=-(2**31)),
            before_id=query_text(request, "before_id"),
        )
        return json_response({"runs": found})

    async def get_run(request: Request, namespace: str) -> Response:
        return json_response(await runs.get(namespace, path_text(request, "run_id")))

    async def get_history(request: Request, namespace: str) -> Response:
        return json_response(await runs.history(namespace, path_text(request, "run_id")))

    async def get_timeline(request: Request, namespace: str) -> Response:
        return json_response({"transitions": await runs.timeline(namespace, path_text(request, "run_id"))})

    async def cancel_run(request: Request, namespace: str) -> Response:
        body = decode(CancelBody, await read_body(request))
        return json_response(await runs.cancel(namespace, path_text(request, "run_id"), body.reason))

    async def pause_run(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await runs.pause(namespace, path_text(request, "run_id")))

    async def resume_run(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await runs.resume(namespace, path_text(request, "run_id")))

    async def awake_run(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await runs.awake(namespace, path_text(request, "run_id")))

    async def send_event(request: Request, namespace: str) -> Response:
        body = decode(EventBody, await read_body(request))
        delivered = await api.server.events.send(
            namespace, path_text(request, "run_id"), path_text(request, "name"), body.data, body.reference_id
        )
        return json_response({"delivered": delivered})

    async def wait_for_change(request: Request, namespace: str) -> Response:
        run_id = path_text(request, "run_id")
        known_revision = query_int(request, "known_revision", -1, minimum=-1)
        timeout_ms = min(query_int(request, "timeout_ms", 30_000), MAX_WAIT_MS)
        until_terminal = query_int(request, "until_terminal", 0, maximum=1) == 1
        run = await unless_disconnected(
            request,
            runs.wait_for_change(
                namespace, run_id, known_revision, timeout_ms, until_terminal=until_terminal
            ),
        )
        return json_response(run)

    return [
        api.route("/runs", ["POST"], start_run),
        api.route("/runs", ["GET"], list_runs),
        api.route("/runs/{run_id}", ["GET"], get_run),
        api.route("/runs/{run_id}/history", ["GET"], get_history),
        api.route("/runs/{run_id}/timeline", ["GET"], get_timeline),
        api.route("/runs/{run_id}/cancel", ["POST"], cancel_run),
        api.route("/runs/{run_id}/pause", ["POST"], pause_run),
        api.route("/runs/{run_id}/resume", ["POST"], resume_run),
        api.route("/runs/{run_id}/awake", ["POST"], awake_run),
        api.route("/runs/{run_id}/events/{name:path}", ["POST"], send_event),
        api.route("/runs/{run_id}/wait", ["GET"], wait_for_change),
    ]
