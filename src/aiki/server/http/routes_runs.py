"""Routes on runs: start, read, list, history, timeline, steer, send events, long-poll for a change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract.codec import decode
from aiki.contract.messages import StartRequest
from aiki.contract.wire import API_PREFIX, MAX_CHANGE_WAIT_MS
from aiki.server.http.endpoint import Api, unless_disconnected
from aiki.server.http.io import (
    json_response,
    path_text,
    query_int,
    read_body,
    read_no_fields,
    read_request,
)
from aiki.server.http.openapi_schema import JSON, array, obj, operation, path_parameter, query, ref
from aiki.types import RunHistory, Transition, WorkflowRun


@dataclass(frozen=True, slots=True)
class CancelBody:
    """``POST /runs/{id}/cancel``."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventBody:
    """``POST /runs/{id}/events/{name}``: the event's data, and a reference id that dedupes the send."""

    data: Any = None
    reference_id: str | None = None


#: the bodies and answers of these routes, for the OpenAPI description
RUN_SCHEMAS = (
    WorkflowRun,
    RunHistory,
    Transition,
    StartRequest,
    CancelBody,
    EventBody,
)


def run_routes(api: Api) -> list[Route]:
    """The routes under ``/api/v1/runs``."""
    runs = api.commands.runs

    async def start_run(request: Request, namespace: str) -> Response:
        return json_response(await runs.start(namespace, await read_request(request, StartRequest)))

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

    async def requeue_run(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await runs.requeue(namespace, path_text(request, "run_id")))

    async def send_event(request: Request, namespace: str) -> Response:
        body = decode(EventBody, await read_body(request))
        delivered = await api.commands.events.send(
            namespace, path_text(request, "run_id"), path_text(request, "name"), body.data, body.reference_id
        )
        return json_response({"delivered": delivered})

    async def wait_for_change(request: Request, namespace: str) -> Response:
        run_id = path_text(request, "run_id")
        known_revision = query_int(request, "known_revision", -1, minimum=-1)
        timeout_ms = query_int(request, "timeout_ms", 30_000, maximum=MAX_CHANGE_WAIT_MS)
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
        api.route("/runs/{run_id}", ["GET"], get_run),
        api.route("/runs/{run_id}/history", ["GET"], get_history),
        api.route("/runs/{run_id}/timeline", ["GET"], get_timeline),
        api.route("/runs/{run_id}/cancel", ["POST"], cancel_run),
        api.route("/runs/{run_id}/pause", ["POST"], pause_run),
        api.route("/runs/{run_id}/resume", ["POST"], resume_run),
        api.route("/runs/{run_id}/awake", ["POST"], awake_run),
        api.route("/runs/{run_id}/requeue", ["POST"], requeue_run),
        api.route("/runs/{run_id}/events/{name:path}", ["POST"], send_event),
        api.route("/runs/{run_id}/wait", ["GET"], wait_for_change),
    ]


#: a steering operation may find the run in a status that does not allow it (409)
STEER_ERRORS = (400, 401, 403, 404, 409)


def run_paths() -> JSON:
    """The OpenAPI description of ``run_routes``."""
    run_id = path_parameter("run_id", "the run's id")
    runs = f"{API_PREFIX}/runs"
    return {
        runs: {
            "post": operation(
                "Start a run (or return the one its reference id names)",
                ref("WorkflowRun"),
                body="StartRequest",
                # 404: a child's start names a parent run that does not exist (in this namespace)
                errors=(400, 401, 403, 404, 409, 422),
            ),
        },
        f"{runs}/{{run_id}}": {"get": operation("Get a run", ref("WorkflowRun"), parameters=[run_id])},
        f"{runs}/{{run_id}}/history": {
            "get": operation(
                "A run's recorded history (tasks, sleeps, events, children)",
                ref("RunHistory"),
                parameters=[run_id],
            )
        },
        f"{runs}/{{run_id}}/timeline": {
            "get": operation(
                "A run's status transitions, oldest first",
                obj(transitions=array(ref("Transition"))),
                parameters=[run_id],
            )
        },
        f"{runs}/{{run_id}}/cancel": {
            "post": operation(
                "Cancel a run and its unfinished children",
                ref("WorkflowRun"),
                parameters=[run_id],
                body="CancelBody",
                errors=STEER_ERRORS,
            )
        },
        f"{runs}/{{run_id}}/pause": {
            "post": operation("Pause a run", ref("WorkflowRun"), parameters=[run_id], errors=STEER_ERRORS)
        },
        f"{runs}/{{run_id}}/resume": {
            "post": operation(
                "Resume a paused run", ref("WorkflowRun"), parameters=[run_id], errors=STEER_ERRORS
            )
        },
        f"{runs}/{{run_id}}/awake": {
            "post": operation(
                "Wake a sleeping run early", ref("WorkflowRun"), parameters=[run_id], errors=STEER_ERRORS
            )
        },
        f"{runs}/{{run_id}}/requeue": {
            "post": operation(
                "Put a stalled run back in the queue",
                ref("WorkflowRun"),
                parameters=[run_id],
                errors=STEER_ERRORS,
            )
        },
        f"{runs}/{{run_id}}/events/{{name}}": {
            "post": operation(
                "Send an event; 'delivered' is false when the reference id was used before",
                obj(delivered={"type": "boolean"}),
                parameters=[run_id, path_parameter("name", "the event's name")],
                body="EventBody",
            )
        },
        f"{runs}/{{run_id}}/wait": {
            "get": operation(
                "Long poll: the run once its revision differs from known_revision, or at the timeout",
                ref("WorkflowRun"),
                parameters=[
                    run_id,
                    query(
                        "known_revision",
                        {"type": "integer", "minimum": -1},
                        "the revision the caller has",
                        required=True,
                    ),
                    query(
                        "timeout_ms",
                        {"type": "integer", "default": 30_000, "minimum": 0, "maximum": MAX_CHANGE_WAIT_MS},
                        "how long to wait, at most 60 000",
                    ),
                    query(
                        "until_terminal",
                        {"type": "integer", "enum": [0, 1], "default": 0},
                        "1: return only once the run is terminal (or at the timeout)",
                    ),
                ],
            )
        },
    }
