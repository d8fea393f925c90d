"""``srv.app``: the HTTP API of a server, a Starlette app serving every client operation as JSON.

Routes live under ``/api/v1`` (runs, worker, schedules) plus ``/healthz`` and ``/metrics`` (Prometheus
text); ``/api/v1/openapi.json`` describes them. The dashboard's static files are served at ``/``. Mount the
app in any ASGI app, or serve it with ``aiki server`` (uvicorn).
"""

from __future__ import annotations

import asyncio
from importlib import metadata

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aiki.contract.wire import API_PREFIX
from aiki.errors import ConfigurationError, ServerBusyError
from aiki.server.commands import Commands
from aiki.server.http.dashboard import dashboard_routes
from aiki.server.http.endpoint import Api
from aiki.server.http.errors import http_exception_response, internal_error_response
from aiki.server.http.headers import NoSniff
from aiki.server.http.io import json_response
from aiki.server.http.metrics import HttpMetrics, metrics_paths, metrics_route
from aiki.server.http.openapi_schema import JSON, document, operation
from aiki.server.http.routes_finding import FINDING_SCHEMAS, finding_paths, finding_routes
from aiki.server.http.routes_operate import OPERATE_SCHEMAS, operate_paths, operate_routes
from aiki.server.http.routes_runs import RUN_SCHEMAS, run_paths, run_routes
from aiki.server.http.routes_schedules import SCHEDULE_SCHEMAS, schedule_paths, schedule_routes
from aiki.server.http.routes_workers import WORKER_SCHEMAS, worker_paths, worker_routes

#: the longest /healthz waits for the database before it reports the server degraded
HEALTH_WAIT_S = 2.0


def openapi_document() -> JSON:
    """The OpenAPI description of every route."""
    paths: JSON = {
        "/healthz": {
            "get": {
                **operation(
                    "Liveness: 200 when the server and its database answer; 503 (degraded) when the database "
                    "does not answer within 2 s",
                    {"type": "object"},
                    errors=(),
                ),
                "security": [],
            }
        },
        f"{API_PREFIX}/openapi.json": {"get": operation("This description", {"type": "object"})},
    }
    for described in (
        finding_paths(),
        run_paths(),
        operate_paths(),
        worker_paths(),
        schedule_paths(),
        metrics_paths(),
    ):
        for path, operations in described.items():
            paths.setdefault(path, {}).update(operations)
    schemas = (*FINDING_SCHEMAS, *RUN_SCHEMAS, *OPERATE_SCHEMAS, *WORKER_SCHEMAS, *SCHEDULE_SCHEMAS)
    return document(_version(), paths, schemas)


def api_routes(commands: Commands) -> list[BaseRoute]:
    """Every route of the API, to mount into another app (``Mount("/aiki", routes=api_routes(...))``)."""
    api = Api(commands)
    described = openapi_document()
    api.describe(described["paths"])

    async def openapi(request: Request, namespace: str) -> Response:
        return json_response(described)

    async def healthz(request: Request) -> Response:
        # Answers within HEALTH_WAIT_S whatever the database does: a pool whose every connection is busy
        # (or a database that does not answer) is reported as degraded, not left hanging.
        try:
            async with asyncio.timeout(HEALTH_WAIT_S):
                async with commands.core.read() as connection:
                    await connection.ping()
        except (TimeoutError, ServerBusyError):
            detail = (
                f"the database did not answer within {HEALTH_WAIT_S:g} s (every connection busy, or down)"
            )
            return json_response({"status": "degraded", "detail": detail}, 503, {"Retry-After": "1"})
        return json_response({"status": "ok"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        api.route("/openapi.json", ["GET"], openapi),
        # Before the routes of one run: /runs/count is not the run "count", /runs/bulk/cancel not run "bulk".
        *finding_routes(api),
        *operate_routes(api),
        *run_routes(api),
        *worker_routes(api),
        *schedule_routes(api),
    ]


def build_app(commands: Commands) -> Starlette:
    """The ASGI app: the API, ``/metrics`` and the dashboard (static files at ``/``, public: no data)."""
    metrics = commands.core.metrics
    if metrics is None:  # this package requires prometheus_client; a server made before it was importable
        raise ConfigurationError(
            "This server was created without prometheus_client, so it has no metrics to serve: "
            "pip install 'aiki[server]' and create the server again."
        )
    return Starlette(
        routes=[*api_routes(commands), metrics_route(commands, metrics), *dashboard_routes()],
        middleware=[Middleware(NoSniff), Middleware(HttpMetrics, metrics=metrics)],
        exception_handlers={HTTPException: http_exception_response, Exception: internal_error_response},
    )


def _version() -> str:
    try:
        return metadata.version("aiki")
    except metadata.PackageNotFoundError:
        return "0.0.0"
