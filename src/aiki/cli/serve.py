"""``aiki server``, ``aiki worker`` and ``aiki migrate``: long-running processes and schema set-up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
from typing import Any

from aiki.client.client import client
from aiki.definitions.workflow import Workflow
from aiki.definitions.workflow_version import WorkflowVersion
from aiki.errors import ConfigurationError
from aiki.execution.worker import worker
from aiki.server.server import server
from aiki.store.factory import database


async def run_server(arguments: argparse.Namespace) -> int:
    """Serve the HTTP API with uvicorn and run the timer loop in the same process."""
    import uvicorn

    if not arguments.db:
        raise ConfigurationError("aiki server needs --db (or AIKI_DB), e.g. --db postgresql://user@host/aiki")
    opts: dict[str, Any] = {"migrate": not arguments.no_migrate}
    if arguments.claim_timeout_ms:
        opts["claim_timeout_ms"] = arguments.claim_timeout_ms
    if arguments.auth:
        opts["auth"] = arguments.auth
    srv = server(db=database(arguments.db, max_connections=arguments.max_connections), opts=opts)
    await srv.open()
    runtime = await srv.runtime.start()
    config = uvicorn.Config(srv.app, host=arguments.host, port=arguments.port, log_level=arguments.log_level)
    http = uvicorn.Server(config)
    print(
        f"aiki server on http://{arguments.host}:{arguments.port} (database {srv.db.redacted_url})\n"
        f"{await srv.keys.describe_mode()}",
        flush=True,
    )
    try:
        await http.serve()
    finally:
        await runtime.stop()
        await srv.close()
    return 0


def load_workflows(targets: list[str]) -> list[WorkflowVersion]:
    """Import ``module:attribute`` targets: a version, a workflow (all its versions) or a list of them."""
    versions: list[WorkflowVersion] = []
    for target in targets:
        module_name, _, attribute = target.partition(":")
        if not module_name or not attribute:
            raise ConfigurationError(f"Worker target {target!r} must look like 'package.module:attribute'.")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ConfigurationError(
                f"Cannot import {module_name!r} for worker target {target!r}: {error}"
            ) from error
        value: Any = module
        for part in attribute.split("."):
            if not hasattr(value, part):
                raise ConfigurationError(
                    f"Module {module_name!r} has no attribute {attribute!r} (target {target!r})."
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
                    f"Worker target {target!r} is {item!r}: expected a workflow version, a workflow, or a list of them."
                )
    if not versions:
        raise ConfigurationError("aiki worker needs at least one workflow version to run.")
    return versions


async def run_worker(arguments: argparse.Namespace) -> int:
    """Run a worker until SIGINT/SIGTERM, then stop gracefully."""
    sys.path.insert(0, ".")
    versions = load_workflows(arguments.targets)
    opts: dict[str, Any] = {"max_concurrent_workflow_runs": arguments.concurrency}
    if arguments.shard:
        opts["shards"] = arguments.shard
    for option in ("claim_refresh_interval_ms", "poll_interval_ms"):
        if getattr(arguments, option) is not None:
            opts[option] = getattr(arguments, option)
    running_worker = worker(workflows=versions, opts=opts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop.set)
    names = ", ".join(f"{v.name}@{v.version_id}" for v in versions)
    if arguments.url:
        c = client(url=arguments.url, api_key=arguments.api_key)
        handle = await running_worker.start(c)
        print(f"aiki worker {handle.id} on {arguments.url}: {names}", flush=True)
        await stop.wait()
        await handle.stop()
        await c.close()
        return 0
    if not arguments.db:
        raise ConfigurationError("aiki worker needs --url (an aiki server) or --db (a database URL).")
    srv = server(db=database(arguments.db))
    runtime = await srv.runtime.start()
    handle = await running_worker.start(client(server=srv))
    print(f"aiki worker {handle.id} on {arguments.db}: {names}", flush=True)
    await stop.wait()
    await handle.stop()
    await runtime.stop()
    await srv.close()
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
