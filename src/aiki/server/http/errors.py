"""Errors as HTTP responses: ``{"error": {"type", "code", "message", "data"}}`` with a fitting status.

This is the only place that knows HTTP status codes. The HTTP transport turns the body back into the same
``AikiError`` subclass (``aiki.errors.error_from_dict``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from aiki.errors import (
    AikiError,
    ForbiddenError,
    InvalidRequestError,
    InvalidTransitionError,
    NotFoundError,
    RevisionConflictError,
    ScheduleConflictError,
    SchemaValidationError,
    ServerBusyError,
    UnauthorizedError,
    WorkflowRunConflictError,
)

logger = logging.getLogger("aiki.http")

#: the first class an error is an instance of decides its status; any other AikiError is a 400
STATUS_CODES: tuple[tuple[type[AikiError], int], ...] = (
    (ForbiddenError, 403),
    (UnauthorizedError, 401),
    (NotFoundError, 404),
    (WorkflowRunConflictError, 409),
    (ScheduleConflictError, 409),
    (RevisionConflictError, 409),
    # The request is well formed but the run's current status does not allow it: a conflict with state.
    (InvalidTransitionError, 409),
    (SchemaValidationError, 422),
    (ServerBusyError, 503),
)


def status_code_of(error: AikiError) -> int:
    for cls, status_code in STATUS_CODES:
        if isinstance(error, cls):
            return status_code
    return 400


def error_response(error: AikiError, status_code: int | None = None) -> Response:
    """The JSON response for ``error`` (a busy server says when to come back: ``Retry-After``)."""
    response = _error_body(error.to_dict(), status_code or status_code_of(error))
    if isinstance(error, ServerBusyError):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def http_exception_response(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the same JSON shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: AikiError = NotFoundError(
            "route",
            f"{request.method} {request.url.path}",
            "The API is under /api/v1; see /api/v1/openapi.json.",
        )
    elif exc.status_code == 405:
        allowed = allowed_methods(request)
        error = InvalidRequestError(
            f"{request.method} is not allowed on {request.url.path}; it takes {', '.join(allowed)}. "
            "See /api/v1/openapi.json for the methods of each route."
        )
        response = error_response(error, 405)
        response.headers["Allow"] = ", ".join(allowed)
        return response
    else:
        error = InvalidRequestError(str(exc.detail))
    return error_response(error, exc.status_code)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves on this request's path (one path may have a route per
    method, so the route that refused the request knows only its own)."""
    matching = [
        route
        for route in request.app.router.routes
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE
    ]
    # A fixed path (``/runs/purge``) wins over a template it also matches (``/runs/{run_id}``), as routing does.
    fixed = [route for route in matching if "{" not in route.path]
    methods: set[str] = set()
    for route in fixed or matching:
        methods |= route.methods or set()
    return sorted(methods)


async def internal_error_response(request: Request, exc: Exception) -> Response:
    """A bug or an unreachable database: a 500 whose body says where to look (the server log)."""
    logger.error("%s %s failed: %r", request.method, request.url.path, exc)
    body = {
        "type": "InternalServerError",
        "code": "INTERNAL",
        "message": f"The aiki server failed to handle {request.method} {request.url.path} "
        f"({type(exc).__name__}). The server log has the details.",
        "data": {},
    }
    return _error_body(body, 500)


def _error_body(error: dict[str, Any], status_code: int) -> Response:
    # ``default=repr``: an error's extra fields are data for humans; one that is not JSON must not turn the
    # error into a second failure.
    text = json.dumps({"error": error}, separators=(",", ":"), default=repr)
    return Response(text, status_code=status_code, media_type="application/json")
