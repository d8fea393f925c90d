"""Optional dependencies, imported where a feature first needs them.

``pip install aiki`` installs the core only (pydantic, croniter, typing_extensions): workflows, tasks,
workers and the embedded server on SQLite. Everything else is an extra:

| extra      | installs                                   | for                                                  |
|------------|--------------------------------------------|------------------------------------------------------|
| `postgres` | psycopg[binary], psycopg-pool              | ``database("postgresql://...")``                     |
| `http`     | httpx                                      | ``client(url=...)``: clients, workers and CLI        |
|            |                                            | commands that talk to a server over HTTP             |
| `server`   | starlette, uvicorn, prometheus-client,     | ``srv.app``, ``aiki server``, ``GET /metrics`` (and  |
|            | httpx                                      | the HTTP client, to reach the server it serves)      |
| `redis`    | redis                                      | the server option ``redis_url``                      |
| `otel`     | opentelemetry-api                          | spans (without it, tracing does nothing)             |
| `all`      | every extra above                          |                                                      |

``require`` imports a module of an extra, or raises one ``ConfigurationError`` that names the feature, the
missing package and the ``pip install`` line that fixes it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from aiki.errors import ConfigurationError

#: the extras of ``pyproject.toml``, for messages and the test that checks they agree
EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg", "psycopg_pool"),
    "http": ("httpx",),
    "server": ("starlette", "uvicorn", "prometheus_client", "httpx"),
    "redis": ("redis",),
    "otel": ("opentelemetry",),
}


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` (a package of the extra ``extra``) for ``feature``, or raise a clear error.

    Example:
        psycopg = require("psycopg", "postgres", "PostgreSQL (database('postgresql://...'))")
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigurationError(
            f"{feature} needs the {extra} extra: pip install 'aiki[{extra}]' (or 'aiki[all]'); "
            f"{module} cannot be imported ({error})."
        ) from error
