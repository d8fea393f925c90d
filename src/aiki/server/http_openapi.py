"""The OpenAPI 3.1 description of the HTTP API, served at ``/api/v1/openapi.json``.

Paths are written out here; the schemas of request and response bodies are derived from the contract
dataclasses, so they cannot drift from what the server decodes.
"""

from __future__ import annotations

import dataclasses
import types
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from aiki.contract import ClaimedRun, ClaimRequest, RunOutcome, StartRequest, TaskWrite
from aiki.server.http_routes_runs import CancelBody, EventBody
from aiki.server.http_routes_workers import RefreshBody, ReleaseBody
from aiki.types import RunHistory, Transition, WorkflowRun

JSON = dict[str, Any]


def openapi_document(version: str) -> JSON:
    """The whole description, as plain JSON."""
    components: dict[str, JSON] = {}
    for cls in (
        WorkflowRun,
        RunHistory,
        Transition,
        StartRequest,
        ClaimRequest,
        ClaimedRun,
        TaskWrite,
        RunOutcome,
        CancelBody,
        EventBody,
        RefreshBody,
        ReleaseBody,
    ):
        _component(cls, components)
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "code", "message", "data"],
                "properties": {
                    "type": {"type": "string", "description": "the AikiError subclass, e.g. NotFoundError"},
                    "code": {"type": "string", "description": "stable machine-readable code, e.g. NOT_FOUND"},
                    "message": {"type": "string", "description": "what happened and what to do"},
                    "data": {"type": "object", "description": "the error's fields (run_id, status, ...)"},
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "aiki",
            "version": version,
            "description": "Durable workflows. Every operation of the aiki client, as JSON. "
            "Authenticate with 'Authorization: Bearer <key>' once any API key exists; "
            "the key's namespace scopes every call.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
        "paths": _paths(),
    }


def _paths() -> JSON:
    run_id = _path_parameter("run_id", "the run's id")
    return {
        "/healthz": {
            "get": {
                **_operation("Liveness: the server and its database answer", {"type": "object"}, errors=()),
                "security": [],
            }
        },
        "/api/v1/openapi.json": {"get": _operation("This description", {"type": "object"})},
        "/api/v1/runs": {
            "post": _operation(
                "Start a run (or return the one its reference id names)",
                _ref("WorkflowRun"),
                body="StartRequest",
                errors=(400, 401, 403, 409, 422),
            ),
            "get": _operation(
                "List runs, newest first",
                _object(runs=_array(_ref("WorkflowRun"))),
                parameters=[
                    _query("status", {"type": "string"}, "only runs in this status"),
                    _query("workflow", {"type": "string"}, "only runs of this workflow name"),
                    _query("limit", {"type": "integer", "default": 50}, "at most this many (1 to 1000)"),
                    _query("before_id", {"type": "string"}, "only runs older than this id (paging)"),
                ],
            ),
        },
        "/api/v1/runs/{run_id}": {"get": _operation("Get a run", _ref("WorkflowRun"), parameters=[run_id])},
        "/api/v1/runs/{run_id}/history": {
            "get": _operation(
                "A run's recorded history (tasks, sleeps, events, children)",
                _ref("RunHistory"),
                parameters=[run_id],
            )
        },
        "/api/v1/runs/{run_id}/timeline": {
            "get": _operation(
                "A run's status transitions, oldest first",
                _object(transitions=_array(_ref("Transition"))),
                parameters=[run_id],
            )
        },
        "/api/v1/runs/{run_id}/cancel": {
            "post": _operation(
                "Cancel a run and its unfinished children",
                _ref("WorkflowRun"),
                parameters=[run_id],
                body="CancelBody",
            )
        },
        "/api/v1/runs/{run_id}/pause": {
            "post": _operation("Pause a run", _ref("WorkflowRun"), parameters=[run_id])
        },
        "/api/v1/runs/{run_id}/resume": {
            "post": _operation("Resume a paused run", _ref("WorkflowRun"), parameters=[run_id])
        },
        "/api/v1/runs/{run_id}/awake": {
            "post": _operation("Wake a sleeping run early", _ref("WorkflowRun"), parameters=[run_id])
        },
        "/api/v1/runs/{run_id}/events/{name}": {
            "post": _operation(
                "Send an event; 'delivered' is false when the reference id was used before",
                _object(delivered={"type": "boolean"}),
                parameters=[run_id, _path_parameter("name", "the event's name")],
                body="EventBody",
            )
        },
        "/api/v1/runs/{run_id}/wait": {
            "get": _operation(
                "Long poll: the run once its revision differs from known_revision, or at the timeout",
                _ref("WorkflowRun"),
                parameters=[
                    run_id,
                    _query(
                        "known_revision", {"type": "integer"}, "the revision the caller has", required=True
                    ),
                    _query("timeout_ms", {"type": "integer", "default": 30_000}, "at most 60 000"),
                    _query(
                        "until_terminal",
                        {"type": "integer", "enum": [0, 1], "default": 0},
                        "1: return only once the run is terminal (or at the timeout)",
                    ),
                ],
            )
        },
        "/api/v1/worker/claim": {
            "post": _operation(
                "Long poll: claim queued runs of the given versions (wait_ms at most 30 000)",
                _object(claimed=_array(_ref("ClaimedRun"))),
                body="ClaimRequest",
            )
        },
        "/api/v1/worker/refresh": {
            "post": _operation(
                "Extend claims; returns the runs whose claim was taken back",
                _object(lost=_array({"type": "string"})),
                body="RefreshBody",
            )
        },
        "/api/v1/worker/tasks": {
            "post": _operation(
                "Record a task's result under the run's claim; returns the run's status",
                _object(status={"type": "string"}),
                body="TaskWrite",
                errors=(400, 401, 403, 409),
            )
        },
        "/api/v1/worker/finish": {
            "post": _operation(
                "End one execution of a run (suspend, retry, complete or fail)",
                _ref("WorkflowRun"),
                body="RunOutcome",
                errors=(400, 401, 403, 409),
            )
        },
        "/api/v1/worker/release": {
            "post": {
                **_operation("Give a claimed, unstarted run back to the queue", None, body="ReleaseBody")
            }
        },
        "/api/v1/ext/{name}/{operation}": {
            "post": _operation(
                "An operation of an optional server feature (e.g. schedules); the body is its payload",
                _object(result={}),
                parameters=[
                    _path_parameter("name", "the feature"),
                    _path_parameter("operation", "its operation"),
                ],
                body_schema={"type": "object"},
            )
        },
    }


_ERROR_DESCRIPTIONS = {
    400: "invalid request or operation (InvalidRequestError, InvalidOptionError, InvalidTransitionError)",
    401: "missing or unknown API key (UnauthorizedError)",
    403: "revoked key, or a key of another namespace (ForbiddenError)",
    404: "no such run, event or feature in the key's namespace (NotFoundError)",
    409: "conflict (WorkflowRunConflictError, ScheduleConflictError, RevisionConflictError)",
    422: "a payload rejected by its schema (SchemaValidationError)",
}


def _operation(
    summary: str,
    response: JSON | None,
    *,
    parameters: list[JSON] | None = None,
    body: str | None = None,
    body_schema: JSON | None = None,
    errors: tuple[int, ...] = (400, 401, 403, 404),
) -> JSON:
    responses: JSON = {}
    if response is None:
        responses["204"] = {"description": "done"}
    else:
        responses["200"] = {"description": "OK", "content": {"application/json": {"schema": response}}}
    for status in errors:
        responses[str(status)] = {
            "description": _ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    operation: JSON = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    schema = _ref(body) if body is not None else body_schema
    if schema is not None:
        # A body whose fields all have defaults may be left out.
        required = body not in ("CancelBody", "EventBody")
        operation["requestBody"] = {"required": required, "content": {"application/json": {"schema": schema}}}
    return operation


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(**properties: JSON) -> JSON:
    return {"type": "object", "required": list(properties), "properties": properties}


def _array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


def _path_parameter(name: str, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query(name: str, schema: JSON, description: str, *, required: bool = False) -> JSON:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _component(cls: type[Any], components: dict[str, JSON]) -> JSON:
    """Register the schema of dataclass ``cls`` (and the dataclasses it holds); returns a reference to it."""
    name = cls.__name__
    if name not in components:
        components[name] = {}  # placed first so that a self-reference (RunState.previous) terminates
        hints = get_type_hints(cls)
        fields = dataclasses.fields(cls)
        components[name] = {
            "type": "object",
            "description": (cls.__doc__ or "").strip().splitlines()[0],
            "required": [
                item.name
                for item in fields
                if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
            ],
            "properties": {item.name: _schema(hints[item.name], components) for item in fields},
        }
    return _ref(name)


def _schema(hint: Any, components: dict[str, JSON]) -> JSON:
    origin = get_origin(hint)
    if hint is Any:
        return {}
    if origin is Union or origin is types.UnionType:
        options = [_schema(argument, components) for argument in get_args(hint) if argument is not type(None)]
        nullable = type(None) in get_args(hint)
        return {"oneOf": [*options, {"type": "null"}]} if nullable else {"oneOf": options}
    if origin is Literal:
        return {"type": "string", "enum": list(get_args(hint))}
    if origin is list:
        return _array(_schema(get_args(hint)[0], components))
    if origin is tuple:
        items = [_schema(item, components) for item in get_args(hint)]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(get_args(hint)[1], components)}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"type": "string", "enum": [member.value for member in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _component(hint, components)
    scalar = {str: "string", int: "integer", bool: "boolean", float: "number"}
    return {"type": scalar[hint]}
