"""The bytes of a request body, read within the body limit and only when they are declared as JSON.

A body over :data:`MAX_BODY_BYTES` is refused with 413 as soon as that is known: at once from its
``Content-Length``, or while it streams in (a chunked body is never buffered past the limit). A body that is
not declared ``application/json`` is refused with 415; a request without a body needs no content type.
"""

from __future__ import annotations

from starlette.requests import Request

from aiki.contract.limits import MAX_BODY_BYTES
from aiki.errors import AikiError, InvalidRequestError

#: the one media type the API reads
JSON_MEDIA_TYPE = "application/json"


class RequestRefused(Exception):
    """A request refused with a status that its error's class does not decide (413, 415): the endpoint
    answers ``error`` with ``status_code``."""

    def __init__(self, status_code: int, error: AikiError) -> None:
        super().__init__(error.message)
        self.status_code = status_code
        self.error = error


async def read_body_bytes(request: Request) -> bytes:
    """The body, at most ``MAX_BODY_BYTES`` of it, declared as JSON unless it is empty."""
    declared = _declared_length(request)
    if declared is not None and declared > MAX_BODY_BYTES:
        raise _too_large(f"its Content-Length is {declared:,} bytes")
    # A body of declared length that is not JSON is refused unread; a chunked one (no length) may still be
    # empty, which needs no content type: it is judged once read.
    if declared and not _is_json(request):
        raise _unsupported(request)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(f"more than {MAX_BODY_BYTES:,} bytes arrived")
        chunks.append(chunk)
    body = b"".join(chunks)
    if body.strip() and not _is_json(request):
        raise _unsupported(request)
    return body


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise InvalidRequestError(f"Content-Length must be a number of bytes, got {value[:40]!r}.") from None
    if length < 0:
        raise InvalidRequestError(f"Content-Length must not be negative, got {length}.")
    return length


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == JSON_MEDIA_TYPE


def _too_large(how: str) -> RequestRefused:
    return RequestRefused(
        413,
        InvalidRequestError(
            f"the body is too large: {how}, and the limit is {MAX_BODY_BYTES:,} bytes (16 MiB). A value aiki "
            "records may be at most 4 MiB; keep larger data outside aiki and pass a reference to it."
        ),
    )


def _unsupported(request: Request) -> RequestRefused:
    declared = request.headers.get("content-type")
    shown = "no Content-Type" if declared is None else f"Content-Type {declared[:60]!r}"
    return RequestRefused(
        415,
        InvalidRequestError(
            f"the body has {shown}; send JSON with the header 'Content-Type: application/json'.",
            "content-type",
        ),
    )
