"""``aiki runs``: list, count, show, start, send-event, cancel, pause, resume, requeue, awake, purge."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from aiki.canonical_json import hash_input, to_jsonable
from aiki.cli.arguments import (
    add_connection_arguments,
    add_filter_arguments,
    filter_keywords,
    json_value,
    moment,
    page_limit,
    statuses,
    version_ref,
)
from aiki.cli.connect import open_client
from aiki.cli.run_display import print_bulk, print_run, print_runs
from aiki.client.client import Client
from aiki.contract import StartRequest

BULK_ACTIONS = ("cancel", "pause", "resume", "requeue")


def add_runs_commands(commands: Any) -> None:
    """``aiki runs ...``: the sub-commands and their arguments."""
    runs = commands.add_parser("runs", help="find, inspect and steer runs")
    actions = runs.add_subparsers(dest="runs_action", required=True)

    listing = actions.add_parser("list", help="a page of runs, newest first")
    count = actions.add_parser("count", help="how many runs match")
    for parser in (listing, count):
        add_connection_arguments(parser)
        add_filter_arguments(parser)
    listing.add_argument("--limit", type=page_limit, default=50, help="runs per page (1 to 1000)")
    listing.add_argument("--cursor", help="the cursor the previous page printed")
    listing.add_argument("--oldest", action="store_true", help="oldest first")
    listing.add_argument("--json", action="store_true", help="the page as JSON")

    show = actions.add_parser("show", help="one run: state, input, output, error, tasks, timeline")
    add_connection_arguments(show)
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true", help="the run, history and timeline as JSON")

    start = actions.add_parser("start", help="start a run of NAME@VERSION (no input schema is checked)")
    add_connection_arguments(start)
    start.add_argument("version", type=version_ref, metavar="NAME@VERSION")
    start.add_argument("--input", type=json_value, default=None, help="the input, as JSON")
    start.add_argument("--reference", help="a reference id (an idempotent start)")
    start.add_argument("--shard", help="the shard to run on")

    send = actions.add_parser("send-event", help="send an event to a run")
    add_connection_arguments(send)
    send.add_argument("run_id")
    send.add_argument("name", help="the event's name")
    send.add_argument("--data", type=json_value, default=None, help="the event's data, as JSON")
    send.add_argument("--reference", help="a reference id: a second send with it is dropped")

    for action in BULK_ACTIONS:
        steer = actions.add_parser(action, help=f"{action} runs (up to 1,000 ids)")
        add_connection_arguments(steer)
        steer.add_argument("run_ids", nargs="+", metavar="RUN_ID")
        if action == "cancel":
            steer.add_argument("--reason", help="why (shown with the run)")

    awake = actions.add_parser("awake", help="wake a sleeping run early")
    add_connection_arguments(awake)
    awake.add_argument("run_id")

    purge = actions.add_parser("purge", help="delete runs that finished before a time")
    add_connection_arguments(purge)
    purge.add_argument("--before", type=moment, required=True, help="2026-11-01, or a time ago: 30d")
    purge.add_argument(
        "--status", type=statuses, help="completed, failed and/or cancelled (default: all three)"
    )


async def run_runs(arguments: argparse.Namespace) -> int:
    async with open_client(arguments) as c:
        action = arguments.runs_action
        if action in BULK_ACTIONS:
            return await _steer(c, action, arguments)
        handlers = {
            "list": _list,
            "count": _count,
            "show": _show,
            "start": _start,
            "send-event": _send_event,
            "awake": _awake,
            "purge": _purge,
        }
        return await handlers[action](c, arguments)


async def _list(c: Client, arguments: argparse.Namespace) -> int:
    page = await c.list_runs(
        order="oldest" if arguments.oldest else "newest",
        limit=arguments.limit,
        cursor=arguments.cursor,
        **filter_keywords(arguments),
    )
    if arguments.json:
        print(
            json.dumps(
                {"runs": [run.to_dict() for run in page], "next_cursor": page.next_cursor}, default=str
            )
        )
    else:
        print_runs(page.runs, page.next_cursor)
    return 0


async def _count(c: Client, arguments: argparse.Namespace) -> int:
    print(await c.count_runs(**filter_keywords(arguments)))
    return 0


async def _show(c: Client, arguments: argparse.Namespace) -> int:
    run = await c.get_run(arguments.run_id)
    history = await c.get_history(run.id)
    timeline = await c.get_timeline(run.id)
    if arguments.json:
        answer = {
            "run": run.to_dict(),
            "history": history.to_dict(),
            "timeline": [asdict(t) for t in timeline],
        }
        print(json.dumps(answer, default=str))
    else:
        print_run(run, history, timeline)
    return 0


async def _start(c: Client, arguments: argparse.Namespace) -> int:
    name, version = arguments.version
    payload = to_jsonable(arguments.input, "the --input of aiki runs start")
    run = await c.transport.start_run(
        StartRequest(
            name=name,
            version_id=version,
            input=payload,
            input_hash=hash_input(payload),
            options={},
            shard=arguments.shard,
            reference_id=arguments.reference,
        )
    )
    print(f"{run.id}: {run.status.value}")
    return 0


async def _send_event(c: Client, arguments: argparse.Namespace) -> int:
    data = to_jsonable(arguments.data, "the --data of aiki runs send-event")
    delivered = await c.transport.send_event(arguments.run_id, arguments.name, data, arguments.reference)
    print(
        f"{arguments.run_id}: event {arguments.name!r} "
        + ("sent" if delivered else "already sent (reference)")
    )
    return 0


async def _steer(c: Client, action: str, arguments: argparse.Namespace) -> int:
    operations = {
        "cancel": lambda ids: c.cancel_runs(ids, reason=arguments.reason),
        "pause": c.pause_runs,
        "resume": c.resume_runs,
        "requeue": c.requeue_runs,
    }
    result = await operations[action](arguments.run_ids)
    print_bulk(action, result)
    return 0 if not result.skipped else 1


async def _awake(c: Client, arguments: argparse.Namespace) -> int:
    run = await c.transport.awake_run(arguments.run_id)
    print(f"{run.id}: {run.status.value}")
    return 0


async def _purge(c: Client, arguments: argparse.Namespace) -> int:
    deleted = await c.purge_runs(before=arguments.before, status=arguments.status)
    print(f"deleted {deleted} run(s) (and everything recorded of them)")
    return 0
