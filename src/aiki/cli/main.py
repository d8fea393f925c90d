"""Argument parsing and dispatch for the ``aiki`` command, and how it fails, always in one line
(``aiki: ...``), never with a traceback: a usage error (a bad argument, a setting that cannot work) exits 2,
any other error (a server that cannot be reached, a refused key, an unknown run) exits 1."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib import metadata
from typing import Any

from aiki.cli.arguments import add_connection_arguments
from aiki.errors import AikiError, ConfigurationError, InvalidOptionError

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    from aiki.cli.keys import add_keys_commands
    from aiki.cli.runs import add_runs_commands
    from aiki.cli.serve import add_serve_commands
    from aiki.cli.workers import add_workers_commands

    parser = argparse.ArgumentParser(prog="aiki", description="aiki: durable execution for Python.")
    parser.add_argument("--version", action="version", version=f"aiki {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_commands(commands)
    add_runs_commands(commands)
    add_workers_commands(commands)
    add_keys_commands(commands)

    schedules = commands.add_parser("schedules", help="list and steer schedules")
    schedule_actions = schedules.add_subparsers(dest="schedules_action", required=True)
    add_connection_arguments(schedule_actions.add_parser("list", help="all schedules"))
    for action in ("pause", "resume", "deactivate"):
        sub = schedule_actions.add_parser(action, help=f"{action} a schedule")
        add_connection_arguments(sub)
        sub.add_argument("schedule_id")

    check = commands.add_parser(
        "replay-check", help="replay the runs in flight against new code; runs no task"
    )
    check.add_argument(
        "targets", nargs="+", help="package.module:attribute (a version, a workflow or a list)"
    )
    add_connection_arguments(check)
    check.add_argument("--json", action="store_true", help="print the verdict on every run as JSON")
    return parser


def command_for(arguments: argparse.Namespace) -> Command:
    if arguments.command == "replay-check":
        from aiki.cli.replay_check import run_replay_check

        return run_replay_check
    from aiki.cli import keys, runs, schedules, serve, workers

    table: dict[str, Command] = {
        "server": serve.run_server,
        "worker": serve.run_worker,
        "migrate": serve.run_migrate,
        "runs": runs.run_runs,
        "workers": workers.run_workers,
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
    except (ConfigurationError, InvalidOptionError) as error:
        print(f"aiki: {error}", file=sys.stderr)
        return 2
    except AikiError as error:
        print(f"aiki: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``aiki runs list | head``): no traceback, and no second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _version() -> str:
    try:
        return metadata.version("aiki")
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
