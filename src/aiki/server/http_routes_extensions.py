"""``POST /api/v1/ext/{name}/{operation}``: operations of optional server features (``server.extensions``).

A feature registers itself as ``server.extensions[name]``: an object with
``async call(namespace, operation, payload) -> JSON`` that raises ``AikiError`` for bad payloads. The body is
the payload (a JSON object); the answer is ``{"result": ...}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiki.canonical_json import to_jsonable
from aiki.errors import NotFoundError
from aiki.server.http_endpoint import Api
from aiki.server.http_io import json_response, path_text, read_body


def extension_routes(api: Api) -> list[Route]:
    """The generic route of every server extension."""

    async def call_extension(request: Request, namespace: str) -> Response:
        name = path_text(request, "name")
        operation = path_text(request, "operation")
        payload = await read_body(request)
        extension = api.server.extensions.get(name)
        if extension is None:
            known = ", ".join(sorted(api.server.extensions)) or "none"
            raise NotFoundError("server feature", name, f"This server has these features: {known}.")
        result = await extension.call(namespace, operation, payload)
        return json_response({"result": to_jsonable(result, f"result of {name}.{operation}")})

    return [api.route("/ext/{name}/{operation}", ["POST"], call_extension)]
