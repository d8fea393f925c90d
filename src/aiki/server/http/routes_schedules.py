"""Routes on schedules: activate, read, list, pause, resume, deactivate, and the runs a schedule started."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract.limits import check_limit
from aiki.contract.schedules import ActivateScheduleRequest, ScheduleInfo, ScheduleStatus
from aiki.contract.wire import API_PREFIX
from aiki.errors import InvalidOptionError, InvalidRequestError
from aiki.server.http.endpoint import Api
from aiki.server.http.io import json_response, path_text, query_int, query_text, read_no_fields, read_request
from aiki.server.http.openapi_schema import JSON, array, obj, operation, path_parameter, query, ref

#: the bodies and answers of these routes, for the OpenAPI description
SCHEDULE_SCHEMAS = (ActivateScheduleRequest, ScheduleInfo)


def _limit(request: Request) -> int:
    try:
        return check_limit(query_int(request, "limit", 50, minimum=-(2**31)))
    except InvalidOptionError as error:
        raise InvalidRequestError(error.message, "limit") from None


def _status(request: Request) -> ScheduleStatus | None:
    value = query_text(request, "status")
    if value is None:
        return None
    try:
        return ScheduleStatus(value)
    except ValueError:
        valid = ", ".join(status.value for status in ScheduleStatus)
        raise InvalidRequestError(f"must be one of {valid}, got {value[:40]!r}.", "status") from None


def schedule_routes(api: Api) -> list[Route]:
    """The routes under ``/api/v1/schedules``."""
    schedules = api.commands.schedules

    async def activate(request: Request, namespace: str) -> Response:
        return json_response(
            await schedules.activate(namespace, await read_request(request, ActivateScheduleRequest))
        )

    async def list_schedules(request: Request, namespace: str) -> Response:
        found = await schedules.list(
            namespace,
            status=_status(request),
            workflow=query_text(request, "workflow"),
            limit=_limit(request),
            before_id=query_text(request, "before_id"),
        )
        return json_response({"schedules": found})

    async def get_schedule(request: Request, namespace: str) -> Response:
        return json_response(await schedules.get(namespace, path_text(request, "schedule_id")))

    async def pause(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await schedules.pause(namespace, path_text(request, "schedule_id")))

    async def resume(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await schedules.resume(namespace, path_text(request, "schedule_id")))

    async def deactivate(request: Request, namespace: str) -> Response:
        await read_no_fields(request)
        return json_response(await schedules.deactivate(namespace, path_text(request, "schedule_id")))

    async def schedule_runs(request: Request, namespace: str) -> Response:
        runs = await schedules.list_runs(namespace, path_text(request, "schedule_id"), _limit(request))
        return json_response({"runs": runs})

    return [
        api.route("/schedules", ["POST"], activate),
        api.route("/schedules", ["GET"], list_schedules),
        api.route("/schedules/{schedule_id}", ["GET"], get_schedule),
        api.route("/schedules/{schedule_id}/pause", ["POST"], pause),
        api.route("/schedules/{schedule_id}/resume", ["POST"], resume),
        api.route("/schedules/{schedule_id}/deactivate", ["POST"], deactivate),
        api.route("/schedules/{schedule_id}/runs", ["GET"], schedule_runs),
    ]


def schedule_paths() -> JSON:
    """The OpenAPI description of ``schedule_routes``."""
    schedule_id = path_parameter("schedule_id", "the schedule's id")
    base = f"{API_PREFIX}/schedules"
    limit = query("limit", {"type": "integer", "default": 50, "minimum": 1, "maximum": 1000}, "page size")
    steer = {
        action: {"post": operation(summary, ref("ScheduleInfo"), parameters=[schedule_id])}
        for action, summary in (
            ("pause", "Stop firing until resumed"),
            ("resume", "Fire again, catching up per the overlap policy"),
            ("deactivate", "Stop firing; activating the same definition restarts it"),
        )
    }
    return {
        base: {
            "post": operation(
                "Activate a schedule (idempotent by definition, or by reference id)",
                ref("ScheduleInfo"),
                body="ActivateScheduleRequest",
                errors=(400, 401, 403, 409),
            ),
            "get": operation(
                "List schedules, newest first",
                obj(schedules=array(ref("ScheduleInfo"))),
                parameters=[
                    query(
                        "status", {"type": "string", "enum": [s.value for s in ScheduleStatus]}, "only these"
                    ),
                    query("workflow", {"type": "string"}, "only schedules of this workflow name"),
                    limit,
                    query("before_id", {"type": "string"}, "only schedules older than this id (paging)"),
                ],
            ),
        },
        f"{base}/{{schedule_id}}": {
            "get": operation("Get a schedule", ref("ScheduleInfo"), parameters=[schedule_id])
        },
        **{f"{base}/{{schedule_id}}/{action}": item for action, item in steer.items()},
        f"{base}/{{schedule_id}}/runs": {
            "get": operation(
                "The runs a schedule started, latest occurrence first",
                obj(runs=array(ref("WorkflowRun"))),
                parameters=[schedule_id, limit],
            )
        },
    }
