"""The web dashboard: static files served next to the JSON API they read (no build step)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.server.http.headers import DASHBOARD_HEADERS

#: the page, its style sheet and its ES modules (no build step: the browser loads them as they are)
MODULES = ("main.js", "api.js", "ui.js", "actions.js", "runs.js", "run.js", "waterfall.js", "admin.js")
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    **{f"/{name}": (name, "text/javascript; charset=utf-8") for name in MODULES},
}


def _read(name: str) -> bytes:
    return resources.files("aiki.dashboard").joinpath(name).read_bytes()


def dashboard_routes() -> list[Route]:
    """Routes for ``/`` (the dashboard page), its style sheet and its script modules."""

    def serve(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(_request: Request) -> Response:
            return Response(_read(name), media_type=media_type, headers=DASHBOARD_HEADERS)

        return endpoint

    return [
        Route(path, serve(name, media_type), methods=["GET"]) for path, (name, media_type) in FILES.items()
    ]
