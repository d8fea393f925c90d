"""Who is asking: the namespace of an HTTP request, from its API key.

- While the server is open (server option ``auth="open"``, or by default until the first key is created), a
  request without a key works in the namespace named by its ``X-Aiki-Namespace`` header, or ``default``.
- Otherwise (``auth="keys"``, or once any key was ever created) every request carries
  ``Authorization: Bearer <key>`` and works in the key's namespace; revoking every key does not change that.
  No key or an unknown one is ``UnauthorizedError`` (401); a revoked key, or a namespace header naming
  another namespace, is ``ForbiddenError`` (403). Another namespace's runs are simply not there (404).
"""

from __future__ import annotations

from starlette.requests import Request

from aiki.contract.wire import NAMESPACE_HEADER
from aiki.errors import ForbiddenError, InvalidOptionError, InvalidRequestError, UnauthorizedError
from aiki.server.commands.keys import DEFAULT_NAMESPACE, KeyCommands, check_namespace


async def request_namespace(keys: KeyCommands, request: Request) -> str:
    """The namespace this request works in, or the auth error that refuses it."""
    wanted = _wanted_namespace(request)
    authorization = request.headers.get("authorization")
    if authorization is None:
        if await keys.required():
            raise UnauthorizedError(
                "This server requires an API key: send the header 'Authorization: Bearer <key>' "
                "(client(url=..., api_key=KEY)); create a key with `aiki keys create`."
            )
        return wanted or DEFAULT_NAMESPACE
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise UnauthorizedError("The Authorization header must be 'Bearer <key>'.")
    key = await keys.find(secret)
    if key is None:
        raise UnauthorizedError("Unknown API key. Check the key, or create one with `aiki keys create`.")
    if key.revoked:
        raise ForbiddenError(
            f"API key {key.id} ({key.name!r}) was revoked. Create a new one with `aiki keys create`."
        )
    if wanted is not None and wanted != key.namespace:
        raise ForbiddenError(
            f"API key {key.id} belongs to namespace {key.namespace!r} and cannot act in namespace "
            f"{wanted!r}. Use a key of {wanted!r}, or leave the namespace out."
        )
    return key.namespace


def _wanted_namespace(request: Request) -> str | None:
    value = request.headers.get(NAMESPACE_HEADER)
    if value is None:
        return None
    try:
        return check_namespace(value)
    except InvalidOptionError as error:
        raise InvalidRequestError(error.message, NAMESPACE_HEADER) from None
