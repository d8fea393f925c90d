"""The HTTP API, ``/metrics`` and the dashboard as one ASGI app (the ``server`` extra: Starlette and
prometheus-client)."""

from aiki.extras import require

# One clear error for every way in (``srv.app``, ``aiki server``, or an import of this package).
for _module in ("starlette", "prometheus_client"):
    require(_module, "server", "The HTTP app (srv.app, aiki server, GET /metrics)")
