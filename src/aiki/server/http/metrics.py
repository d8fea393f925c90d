"""``GET /metrics`` (Prometheus text) and the middleware that counts HTTP requests by route and status.

``/metrics`` is server-wide (every namespace): while the server has API keys, it needs one, of any
namespace, like the API (Prometheus sends it with ``authorization: {credentials: KEY}``).
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiki.errors import AikiError
from aiki.server.commands import Commands
from aiki.server.engine.metrics import ServerMetrics
from aiki.server.http.auth import request_namespace
from aiki.server.http.errors import error_response
from aiki.server.http.openapi_schema import JSON

METRICS_PATH = "/metrics"
#: the route label of a request no route matched (a bounded label, whatever paths clients try)
UNMATCHED = "unmatched"


def metrics_route(commands: Commands, server_metrics: ServerMetrics) -> Route:
    """``GET /metrics``: every metric of the server, with the gauges read from the store now."""

    async def metrics(request: Request) -> Response:
        try:
            await request_namespace(commands.keys, request)
        except AikiError as error:
            return error_response(error)
        async with commands.core.read() as connection:
            counts = await connection.run_gauges()
        return Response(server_metrics.render(counts), media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, metrics, methods=["GET"])


def metrics_paths() -> JSON:
    """The OpenAPI description of ``metrics_route``."""
    return {
        METRICS_PATH: {
            "get": {
                "summary": "Prometheus metrics of the server (every namespace), in the text exposition format",
                "responses": {
                    "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": {
                        "description": "an API key is required (once keys exist) and none, or a revoked one, was sent"
                    },
                },
            }
        }
    }


class HttpMetrics:
    """ASGI middleware: counts each request and its duration by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # An exception that escapes the app becomes a 500 in the middleware outside this one.
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            # The router records the route it matched in the scope; its template is a bounded label.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = str(scope.get("method", ""))
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_duration.labels(method, route).observe(time.perf_counter() - started)
