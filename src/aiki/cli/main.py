"""Argument parsing and dispatch for the ``aiki`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiki.cli.connect import add_connection_arguments
from aiki.errors import AikiError

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiki", description="aiki: durable execution for Python.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("server", help="serve the HTTP API and run the timers")
    serve.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9850)
    serve.add_argument("--max-connections", type=int, default=10, help="PostgreSQL pool size")
    serve.add_argument("--claim-timeout-ms", type=int, default=None)
    serve.add_argument("--no-migrate", action="store_true", help="do not create/migrate the schema on start")
    serve.add_argument(
        "--auth",
        choices=["open", "keys"],
        default=os.environ.get("AIKI_AUTH") or None,
        help="keys: every request needs an API key; open: none does (default: open until the first key is "
        "created, keys from then on; env AIKI_AUTH)",
    )
    serve.add_argument("--log-level", default="warning")

    work = commands.add_parser("worker", help="run a worker for module:attribute workflow versions")
    work.add_argument("targets", nargs="+", help="package.module:attribute (a version, a workflow or a list)")
    add_connection_arguments(work)
    work.add_argument("--concurrency", type=int, default=10, help="max concurrent workflow runs")
    work.add_argument("--shard", action="append", help="claim runs of this shard (repeatable)")
    work.add_argument("--claim-refresh-interval-ms", type=int, default=None, help="refresh claims this often")
    work.add_argument("--poll-interval-ms", type=int, default=None, help="longest wait of one claim request")

    migrate = commands.add_parser("migrate", help="create or migrate the database schema")
    migrate.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")

    runs = commands.add_parser("runs", help="list, inspect and steer runs")
    runs_actions = runs.add_subparsers(dest="runs_action", required=True)
    listing = runs_actions.add_parser("list", help="newest runs first")
    add_connection_arguments(listing)
    listing.add_argument("--status")
    listing.add_argument("--workflow")
    listing.add_argument("--limit", type=int, default=50)
    for action in ("show", "cancel", "pause", "resume", "awake"):
        sub = runs_actions.add_parser(action, help=f"{action} one run")
        add_connection_arguments(sub)
        sub.add_argument("run_id")
        if action == "cancel":
            sub.add_argument("--reason")

    keys = commands.add_parser("keys", help="API keys (run against the database)")
    keys_actions = keys.add_subparsers(dest="keys_action", required=True)
    create = keys_actions.add_parser("create", help="create a key for a namespace")
    create.add_argument("--db", default=os.environ.get("AIKI_DB"))
    create.add_argument("--namespace", default="default")
    create.add_argument("--name", required=True, help="what the key is for")
    list_keys = keys_actions.add_parser("list", help="list keys")
    list_keys.add_argument("--db", default=os.environ.get("AIKI_DB"))
    list_keys.add_argument("--namespace", default=None)
    revoke = keys_actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--db", default=os.environ.get("AIKI_DB"))
    revoke.add_argument("key_id")

    schedules = commands.add_parser("schedules", help="list and steer schedules")
    schedule_actions = schedules.add_subparsers(dest="schedules_action", required=True)
    add_connection_arguments(schedule_actions.add_parser("list", help="all schedules"))
    for action in ("pause", "resume", "deactivate"):
        sub = schedule_actions.add_parser(action, help=f"{action} a schedule")
        add_connection_arguments(sub)
        sub.add_argument("schedule_id")
    return parser


def command_for(arguments: argparse.Namespace) -> Command:
    from aiki.cli import keys, runs, schedules, serve

    table: dict[str, Command] = {
        "server": serve.run_server,
        "worker": serve.run_worker,
        "migrate": serve.run_migrate,
        "runs": runs.run_runs,
        "keys": keys.run_keys,
        "schedules": schedules.run_schedules,
    }
    return table[arguments.command]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiki`` command."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(command_for(arguments)(arguments))
    except AikiError as error:
        print(f"aiki: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``aiki runs list | head``): no traceback, and no second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
