"""Headers every response of the app carries, and those of the dashboard's pages.

Every response says ``X-Content-Type-Options: nosniff``: a browser reads each answer as the type it is
declared as (JSON stays data, never a script or a page). The dashboard may not be framed by another site
(clickjacking), and its page runs only the script and style sheet the server itself serves.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the dashboard's page loads its own script, style sheet and API, nothing else, and is never framed
DASHBOARD_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

#: what every dashboard file is served with
DASHBOARD_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": DASHBOARD_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class NoSniff:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` on every response (a plain ASGI wrapper, so
    long polls still notice a client that hangs up)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_header)
