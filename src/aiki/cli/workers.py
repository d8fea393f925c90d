"""``aiki workers list``: the workers the server has seen within its claim timeout."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from aiki.cli.arguments import add_connection_arguments
from aiki.cli.connect import open_client
from aiki.cli.tables import format_ago, format_time, render_table


def add_workers_commands(commands: Any) -> None:
    workers = commands.add_parser("workers", help="the live workers")
    actions = workers.add_subparsers(dest="workers_action", required=True)
    listing = actions.add_parser("list", help="workers seen within the claim timeout")
    add_connection_arguments(listing)
    listing.add_argument("--json", action="store_true", help="as JSON")


async def run_workers(arguments: argparse.Namespace) -> int:
    async with open_client(arguments) as c:
        workers = await c.list_workers()
    if arguments.json:
        print(json.dumps([asdict(worker) for worker in workers]))
        return 0
    print(
        render_table(
            ["id", "name", "host", "pid", "workflows", "shards", "load", "started", "seen"],
            [
                [
                    worker.id,
                    worker.name,
                    worker.host,
                    worker.pid,
                    ", ".join(f"{name}@{version}" for name, version in worker.workflows),
                    ", ".join(worker.shards) if worker.shards else "(none)",
                    f"{worker.active_runs}/{worker.concurrency}",
                    format_time(worker.started_at_ms),
                    format_ago(worker.last_seen_at_ms),
                ]
                for worker in workers
            ],
        )
    )
    return 0
