"""``aiki server``, ``aiki worker`` and ``aiki migrate``: long-running processes and schema set-up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import socket
import sys
from typing import Any

from aiki.cli.arguments import add_connection_arguments, port, positive_int, retention_span, span
from aiki.client.client import Client, client
from aiki.definitions.workflow import Workflow
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError
from aiki.execution.worker import Worker, worker
from aiki.extras import require
from aiki.server.server import server
from aiki.store.factory import database


def add_serve_commands(commands: Any) -> None:
    """``aiki server``, ``aiki worker`` and ``aiki migrate``."""
    serve = commands.add_parser("server", help="serve the HTTP API and the dashboard, and run the timers")
    serve.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=port, default=9850)
    serve.add_argument("--max-connections", type=positive_int, default=10, help="PostgreSQL pool size")
    serve.add_argument("--claim-timeout-ms", type=positive_int, default=None)
    serve.add_argument("--no-migrate", action="store_true", help="do not create/migrate the schema on start")
    serve.add_argument(
        "--auth",
        choices=["open", "keys"],
        default=os.environ.get("AIKI_AUTH") or None,
        help="keys: every request needs an API key; open: none does (default: open until the first key is "
        "created, keys from then on; env AIKI_AUTH)",
    )
    serve.add_argument(
        "--retention",
        type=retention_span,
        default=None,
        help="delete finished runs this long after they finish: 30d, 12h, 2w, or none to keep them (default 30d)",
    )
    serve.add_argument(
        "--stall-after",
        type=span,
        default=None,
        help="a queued run no worker claims within this long becomes stalled: 24h, 30m ... (default 24h)",
    )
    serve.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )

    work = commands.add_parser("worker", help="run a worker for module:attribute workflow versions")
    work.add_argument("targets", nargs="+", help="package.module:attribute (a version, a workflow or a list)")
    add_connection_arguments(work)
    work.add_argument("--concurrency", type=positive_int, default=10, help="max concurrent workflow runs")
    work.add_argument("--shard", action="append", help="claim runs of this shard (repeatable)")
    work.add_argument("--name", help="how `aiki workers list` names this worker")
    work.add_argument(
        "--claim-refresh-interval-ms", type=positive_int, default=None, help="refresh claims this often"
    )
    work.add_argument(
        "--poll-interval-ms", type=positive_int, default=None, help="longest wait of one claim request"
    )

    migrate = commands.add_parser("migrate", help="create or migrate the database schema")
    migrate.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")


async def run_server(arguments: argparse.Namespace) -> int:
    """Serve the HTTP API with uvicorn and run the timer loop in the same process."""
    uvicorn = require("uvicorn", "server", "aiki server")
    if not arguments.db:
        raise ConfigurationError("aiki server needs --db (or AIKI_DB), e.g. --db postgresql://user@host/aiki")
    opts: dict[str, Any] = {"migrate": not arguments.no_migrate}
    if arguments.claim_timeout_ms:
        opts["claim_timeout_ms"] = arguments.claim_timeout_ms
    if arguments.auth:
        opts["auth"] = arguments.auth
    if arguments.retention is not None:
        opts["retention"] = arguments.retention or None
    if arguments.stall_after is not None:
        opts["stall_after_ms"] = arguments.stall_after
    db = database(arguments.db, max_connections=arguments.max_connections)
    srv = server(db=db, opts=opts)
    app = srv.app  # before anything listens: without the server extra, this is the error that says so
    # The port is taken before anything is said: "listening" is printed only once it is true.
    listening = _listen(arguments.host, arguments.port)
    try:
        await srv.open()
        runtime = await srv.runtime.start()
        config = uvicorn.Config(app, log_level=arguments.log_level)
        http = uvicorn.Server(config)
        print(
            f"aiki server listening on http://{arguments.host}:{arguments.port} (database {db.redacted_url})\n"
            f"{await srv.keys.describe_mode()}",
            flush=True,
        )
        try:
            await http.serve(sockets=[listening])
        finally:
            await runtime.stop()
    finally:
        await srv.close()
        listening.close()
    return 0


def _listen(host: str, port_number: int) -> socket.socket:
    """A socket bound to ``host:port_number`` and listening, or a clear error."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port_number))
        listening.listen(2048)
    except OSError as error:
        raise ConfigurationError(
            f"cannot listen on {host}:{port_number}: {error.strerror or error}"
        ) from None
    listening.set_inheritable(True)
    return listening


def load_workflows(targets: list[str], command: str = "aiki worker") -> list[WorkflowVersion]:
    """Import ``module:attribute`` targets: a version, a workflow (all its versions) or a list of them.

    ``command`` names the command the targets were given to, in error messages.
    """
    versions: list[WorkflowVersion] = []
    for target in targets:
        module_name, _, attribute = target.partition(":")
        if not module_name or not attribute:
            raise ConfigurationError(
                f"{command} target {target!r} must look like 'package.module:attribute'."
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ConfigurationError(
                f"Cannot import {module_name!r} for {command} target {target!r}: {error}"
            ) from error
        value: Any = module
        for part in attribute.split("."):
            if not hasattr(value, part):
                raise ConfigurationError(
                    f"Module {module_name!r} has no attribute {attribute!r} ({command} target {target!r})."
                )
            value = getattr(value, part)
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, WorkflowVersion):
                versions.append(item)
            elif isinstance(item, Workflow):
                versions.extend(item.versions.values())
            else:
                raise ConfigurationError(
                    f"{command} target {target!r} is {item!r}: expected a workflow version, a workflow, or a "
                    f"list of them."
                )
    if not versions:
        raise ConfigurationError(f"{command} needs at least one workflow version.")
    return versions


async def run_worker(arguments: argparse.Namespace) -> int:
    """Run a worker until SIGINT/SIGTERM, then stop gracefully; exit 1 if the server refuses it."""
    sys.path.insert(0, ".")
    versions = load_workflows(arguments.targets)
    opts: dict[str, Any] = {"max_concurrent_workflow_runs": arguments.concurrency}
    if arguments.shard:
        opts["shards"] = arguments.shard
    if arguments.name:
        opts["name"] = arguments.name
    for option in ("claim_refresh_interval_ms", "poll_interval_ms"):
        if getattr(arguments, option) is not None:
            opts[option] = getattr(arguments, option)
    running_worker = worker(workflows=versions, opts=opts)
    names = ", ".join(f"{v.name}@{v.version_id}" for v in versions)
    if arguments.url:
        c = client(url=arguments.url, api_key=arguments.api_key)
        try:
            return await _work(running_worker, c, arguments.url, names)
        finally:
            await c.close()
    if not arguments.db:
        raise ConfigurationError("aiki worker needs --url (an aiki server) or --db (a database URL).")
    srv = server(db=database(arguments.db))
    runtime = await srv.runtime.start()
    try:
        return await _work(running_worker, client(server=srv), srv.db.redacted_url, names)
    finally:
        await runtime.stop()
        await srv.close()


async def _work(running_worker: Worker, c: Client, where: str, names: str) -> int:
    """Run ``running_worker`` until a signal asks it to stop, or the server refuses it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    handle = await running_worker.start(c)
    print(f"aiki worker {handle.id} on {where}: {names}", flush=True)
    asked = asyncio.ensure_future(stop.wait())
    refused = asyncio.ensure_future(handle.stopping())
    await asyncio.wait({asked, refused}, return_when=asyncio.FIRST_COMPLETED)
    asked.cancel()
    refused.cancel()
    await handle.stop()
    if handle.fatal_error is not None:
        print(f"aiki: the server refused this worker: {handle.fatal_error}", file=sys.stderr)
        return 1
    return 0


async def run_migrate(arguments: argparse.Namespace) -> int:
    """Create or migrate the schema of ``--db``."""
    if not arguments.db:
        raise ConfigurationError("aiki migrate needs --db (or AIKI_DB).")
    db = database(arguments.db)
    await db.open(migrate=True)
    await db.close()
    print(f"{db.redacted_url}: schema up to date ({', '.join(db.migration_names())})")
    return 0
