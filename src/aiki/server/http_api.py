"""``srv.app``: the HTTP API of a server, a Starlette app serving every client operation as JSON.

Routes live under ``/api/v1`` (runs, worker, ext) plus ``/healthz``; ``/api/v1/openapi.json`` describes them.
The dashboard's static files are served at ``/``.
Mount the app in any ASGI app, or serve it with ``aiki server`` (uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aiki.server.http_dashboard import dashboard_routes
from aiki.server.http_endpoint import Api
from aiki.server.http_errors import http_exception_response, internal_error_response
from aiki.server.http_io import json_response
from aiki.server.http_openapi import openapi_document
from aiki.server.http_routes_extensions import extension_routes
from aiki.server.http_routes_runs import run_routes
from aiki.server.http_routes_workers import worker_routes

if TYPE_CHECKING:
    from aiki.server.server import Server


def api_routes(server: Server) -> list[BaseRoute]:
    """Every route of the API, to mount into another app (``Mount("/aiki", routes=api_routes(srv))``)."""
    api = Api(server)
    document = openapi_document(_version())

    async def openapi(request: Request, namespace: str) -> Response:
        return json_response(document)

    async def healthz(request: Request) -> Response:
        async with server.core.read() as connection:
            await connection.fetch_one("SELECT 1 AS alive")
        return json_response({"status": "ok"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        api.route("/openapi.json", ["GET"], openapi),
        *run_routes(api),
        *worker_routes(api),
        *extension_routes(api),
    ]


def build_app(server: Server) -> Starlette:
    """The ASGI app of ``server``: the API and the dashboard (static files at ``/``, public: no data)."""
    return Starlette(
        routes=[*api_routes(server), *dashboard_routes()],
        exception_handlers={HTTPException: http_exception_response, Exception: internal_error_response},
    )


def _version() -> str:
    from aiki import __version__

    return __version__
