"""Arguments the commands share, checked as they are parsed: a bad value is a usage error (exit code 2)
that says what was wrong, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from datetime import datetime
from typing import Any

from aiki.contract.limits import MAX_PAGE_SIZE
from aiki.types import RunStatus

_RELATIVE = re.compile(r"(\d+)\s*(s|m|h|d|w)")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def page_limit(text: str) -> int:
    value = positive_int(text)
    if value > MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"{value} is more than the most runs a page holds ({MAX_PAGE_SIZE})")
    return value


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65_535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1 to 65535)")
    return value


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r} is not JSON ({error}); quote strings: '\"text\"'"
        ) from None


def statuses(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    valid = {status.value for status in RunStatus}
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or repr(text)} is not a run status; use one or more of: {', '.join(sorted(valid))}"
        )
    return names


def moment(text: str) -> int:
    """Epoch milliseconds of ``2026-12-07``, ``2026-12-07T09:30`` (local time unless it has a zone),
    ``now``, or a time ago: ``90s``, ``15m``, ``2h``, ``3d``, ``1w``."""
    if text == "now":
        return int(time.time() * 1000)
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        return int(time.time() * 1000) - int(relative.group(1)) * _UNIT_MS[relative.group(2)]
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 2026-12-07, 2026-12-07T09:30, now, or a time ago such as 15m, 2h, 3d"
        ) from None
    return int((at if at.tzinfo is not None else at.astimezone()).timestamp() * 1000)


def span(text: str) -> int:
    """Milliseconds of a length of time: ``90s``, ``15m``, ``2h``, ``3d``, ``1w``."""
    relative = _RELATIVE.fullmatch(text.strip())
    if not relative or int(relative.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a length of time: use e.g. 90s, 15m, 2h, 3d or 1w")
    return int(relative.group(1)) * _UNIT_MS[relative.group(2)]


def retention_span(text: str) -> int:
    """A retention: a length of time (``span``), or ``none`` (0: keep finished runs)."""
    return 0 if text.strip().lower() == "none" else span(text)


def version_ref(text: str) -> tuple[str, str]:
    name, separator, version = text.rpartition("@")
    if not separator or not name or not version:
        raise argparse.ArgumentTypeError(
            f"{text!r} must name a workflow version as NAME@VERSION, e.g. order@1.0.0"
        )
    return name, version


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("AIKI_URL"), help="aiki server URL (env AIKI_URL)")
    parser.add_argument(
        "--api-key", default=os.environ.get("AIKI_API_KEY"), help="API key (env AIKI_API_KEY)"
    )
    parser.add_argument("--db", default=os.environ.get("AIKI_DB"), help="database URL (env AIKI_DB)")


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The run filters of ``aiki runs list`` and ``aiki runs count``."""
    parser.add_argument("--status", type=statuses, help="one status or several: failed,cancelled")
    parser.add_argument("--workflow", help="workflow name")
    parser.add_argument("--version", help="workflow version (with --workflow)")
    parser.add_argument("--reference", help="reference id")
    parser.add_argument("--parent", help="only children of this run")
    parser.add_argument("--schedule", help="only runs this schedule started")
    parser.add_argument(
        "--since", type=moment, help="created at or after: 2026-12-07, 2026-12-07T09:30, 2h, 3d"
    )
    parser.add_argument("--until", type=moment, help="created before (same forms as --since)")


def filter_keywords(arguments: argparse.Namespace) -> dict[str, Any]:
    """The filter arguments as the keywords of ``client.list_runs``/``count_runs``."""
    keywords = {
        "status": arguments.status,
        "workflow": arguments.workflow,
        "version": arguments.version,
        "reference_id": arguments.reference,
        "parent_run_id": arguments.parent,
        "schedule_id": arguments.schedule,
        "created_after": arguments.since,
        "created_before": arguments.until,
    }
    return {name: value for name, value in keywords.items() if value is not None}
