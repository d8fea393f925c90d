"""Routes that operate many runs at once, and the workers seen by the server: bulk cancel, pause, resume
and requeue; one event to many runs; the live workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract.codec import decode
from aiki.contract.steering import BULK_ACTIONS, BulkAction, BulkRequest, BulkResult
from aiki.contract.wire import API_PREFIX
from aiki.contract.workers import WorkerInfo
from aiki.errors import InvalidRequestError
from aiki.server.http.endpoint import Api
from aiki.server.http.io import json_response, path_text, read_body, read_request
from aiki.server.http.openapi_schema import JSON, array, obj, operation, path_parameter, ref
from aiki.types import RunStatus


@dataclass(frozen=True, slots=True)
class MulticastBody:
    """``POST /events/{name}``: the runs that get the event, its data, and a reference id that dedupes it."""

    run_ids: list[str]
    data: Any = None
    reference_id: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeBody:
    """``POST /runs/purge``: delete the runs that finished before ``before_ms`` (of these statuses)."""

    before_ms: int
    statuses: list[RunStatus] | None = None


#: the bodies and answers of these routes, for the OpenAPI description
OPERATE_SCHEMAS = (BulkRequest, BulkResult, MulticastBody, PurgeBody, WorkerInfo)


def _action(request: Request) -> BulkAction:
    action = path_text(request, "action")
    for known in BULK_ACTIONS:
        if action == known:
            return known
    raise InvalidRequestError(f"must be one of {', '.join(BULK_ACTIONS)}, got {action[:40]!r}.", "action")


def operate_routes(api: Api) -> list[Route]:
    """``POST /runs/bulk/{action}``, ``POST /events/{name}`` and ``GET /workers``."""
    commands = api.commands

    async def bulk(request: Request, namespace: str) -> Response:
        action = _action(request)
        body = await read_request(request, BulkRequest)
        return json_response(await commands.steering.apply(namespace, action, body.run_ids, body.reason))

    async def multicast(request: Request, namespace: str) -> Response:
        body = decode(MulticastBody, await read_body(request))
        delivered = await commands.events.send_many(
            namespace, body.run_ids, path_text(request, "name"), body.data, body.reference_id
        )
        return json_response({"delivered": delivered})

    async def purge(request: Request, namespace: str) -> Response:
        body = await read_request(request, PurgeBody)
        return json_response(
            {"deleted": await commands.purge.purge(namespace, body.before_ms, body.statuses)}
        )

    async def workers(request: Request, namespace: str) -> Response:
        return json_response({"workers": await commands.registry.list(namespace)})

    return [
        api.route("/runs/bulk/{action}", ["POST"], bulk),
        api.route("/runs/purge", ["POST"], purge),
        api.route("/events/{name:path}", ["POST"], multicast),
        api.route("/workers", ["GET"], workers),
    ]


def operate_paths() -> JSON:
    """The OpenAPI description of ``operate_routes``."""
    return {
        f"{API_PREFIX}/runs/bulk/{{action}}": {
            "post": operation(
                "Cancel, pause, resume or requeue up to 1,000 runs, each atomically and independently",
                ref("BulkResult"),
                parameters=[path_parameter("action", "cancel, pause, resume or requeue")],
                body="BulkRequest",
            )
        },
        f"{API_PREFIX}/runs/purge": {
            "post": operation(
                "Delete the runs that finished before a time, with the children they created",
                obj(deleted={"type": "integer"}),
                body="PurgeBody",
            )
        },
        f"{API_PREFIX}/events/{{name}}": {
            "post": operation(
                "Send an event to many runs at once (all or none: an unknown run id sends nothing)",
                obj(delivered=array({"type": "boolean"})),
                parameters=[path_parameter("name", "the event's name")],
                body="MulticastBody",
            )
        },
        f"{API_PREFIX}/workers": {
            "get": operation("The live workers of the namespace", obj(workers=array(ref("WorkerInfo"))))
        },
    }
