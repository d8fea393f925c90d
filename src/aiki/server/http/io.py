"""Reading requests and writing responses of the HTTP API: strict JSON in, compact JSON out."""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from aiki.contract.codec import MAX_SAFE_INTEGER, check_text, decode, encode
from aiki.contract.limits import MAX_VALUE_DEPTH
from aiki.errors import InvalidRequestError
from aiki.server.http.body import read_body_bytes

T = TypeVar("T")


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}`` (see ``read_body_bytes`` for the limits)."""
    raw = await read_body_bytes(request)
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise InvalidRequestError("the body is not UTF-8 text; send JSON encoded as UTF-8.") from None
    except RecursionError:
        raise InvalidRequestError(
            f"the body nests lists and objects too deeply to parse; a value may nest at most "
            f"{MAX_VALUE_DEPTH} levels."
        ) from None
    except ValueError as error:
        raise InvalidRequestError(f"the body is not valid JSON ({error}).") from None
    if not isinstance(data, dict):
        raise InvalidRequestError(f"the body must be a JSON object, got {type(data).__name__}.")
    return data


async def read_no_fields(request: Request) -> None:
    """Check that the body, if any, is an empty JSON object (the operation takes no arguments)."""
    body = await read_body(request)
    if body:
        fields = ", ".join(map(repr, sorted(body)))
        raise InvalidRequestError(f"this operation takes no fields, got {fields}.")


async def read_request(request: Request, cls: type[T]) -> T:
    """The body as a contract value ``cls``, every field checked."""
    return decode(cls, await read_body(request))


def path_text(request: Request, name: str) -> str:
    """A path parameter that the database can store."""
    return check_text(request.path_params[name], name)


def query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return None if value is None or value == "" else check_text(value, name)


def query_int(
    request: Request, name: str, default: int, *, minimum: int = 0, maximum: int = MAX_SAFE_INTEGER
) -> int:
    """An integer query parameter within ``[minimum, maximum]``."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequestError(f"must be an integer, got {value[:40]!r}.", name) from None
    if not minimum <= number <= maximum:
        raise InvalidRequestError(f"must be between {minimum} and {maximum}, got {number}.", name)
    return number


def query_optional_int(request: Request, name: str) -> int | None:
    """An optional integer query parameter (a safe integer)."""
    if request.query_params.get(name) in (None, ""):
        return None
    return query_int(request, name, 0, minimum=-MAX_SAFE_INTEGER)


def json_response(value: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of a contract value (or plain JSON)."""
    body = json.dumps(encode(value), separators=(",", ":"), allow_nan=False)
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float")
    return number
