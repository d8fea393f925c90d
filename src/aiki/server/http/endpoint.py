"""One endpoint of the HTTP API: authenticate, call the handler, turn an ``AikiError`` into its response."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.contract.wire import API_PREFIX, NAMESPACE_HEADER
from aiki.errors import AikiError, InvalidRequestError
from aiki.server.commands import Commands
from aiki.server.http.auth import request_namespace
from aiki.server.http.body import RequestRefused
from aiki.server.http.errors import error_response

T = TypeVar("T")

#: ``handler(request, namespace)``: the namespace is the caller's, from its API key
Handler = Callable[[Request, str], Awaitable[Response]]


class Api:
    """Builds the routes of one server's API."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands
        #: (method, path) -> the query parameters its description names; a request with any other is refused
        self.query_parameters: dict[tuple[str, str], frozenset[str]] = {}

    def describe(self, paths: dict[str, Any]) -> None:
        """Learn the query parameters of each operation from the API's description."""
        for path, methods in paths.items():
            for method, operation in methods.items():
                names = {item["name"] for item in operation.get("parameters", []) if item["in"] == "query"}
                self.query_parameters[(method.upper(), path)] = frozenset(names)

    def _check_query(self, request: Request, path: str) -> None:
        allowed = self.query_parameters.get((request.method, path))
        if allowed is None:
            return
        empty = sorted(name for name, value in request.query_params.multi_items() if value == "")
        if empty:
            raise InvalidRequestError(
                f"the query parameter {empty[0][:40]!r} is empty; give it a value or leave it out.",
                empty[0][:40],
            )
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise InvalidRequestError(
                f"unknown query parameter(s) {', '.join(repr(name[:40]) for name in unknown)}; "
                f"this operation takes: {known}.",
                "query",
            )

    def route(self, path: str, methods: list[str], handler: Handler) -> Route:
        """A route under ``/api/v1`` whose handler runs in the caller's namespace."""

        described_path = API_PREFIX + re.sub(r":\w+}", "}", path)

        async def endpoint(request: Request) -> Response:
            try:
                self._check_query(request, described_path)
                namespace = await request_namespace(self.commands.keys, request)
                response = await handler(request, namespace)
            except RequestRefused as refused:
                return error_response(refused.error, refused.status_code)
            except AikiError as error:
                return error_response(error)
            response.headers[NAMESPACE_HEADER] = namespace
            return response

        return Route(f"{API_PREFIX}{path}", endpoint, methods=methods, name=handler.__name__)


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    """Await ``work``, or cancel it and return ``None`` if the client hangs up first (a long poll)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        if task.cancelled() and watcher.done():
            return None
        raise


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection; a receive channel that fails is treated as open."""
    try:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return
    except Exception:
        await asyncio.Event().wait()
