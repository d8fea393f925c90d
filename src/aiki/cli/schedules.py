"""``aiki schedules list|pause|resume|deactivate``."""

from __future__ import annotations

import argparse
from typing import Any

from aiki.cli.connect import open_client
from aiki.cli.tables import format_time, render_table


async def run_schedules(arguments: argparse.Namespace) -> int:
    async with open_client(arguments) as c:
        action = arguments.schedules_action
        if action == "list":
            schedules: list[dict[str, Any]] = await c.transport.call_extension("schedules", "list", {})
            print(render_table(
                ["id", "workflow", "version", "spec", "status", "overlap", "next run"],
                [
                    [s.get("id"), s.get("workflow_name"), s.get("version_id"), s.get("spec_text", s.get("spec")),
                     s.get("status"), s.get("overlap_policy"), format_time(s.get("next_run_at_ms"))]
                    for s in schedules
                ],
            ))
            return 0
        result = await c.transport.call_extension("schedules", action, {"id": arguments.schedule_id})
        status = result.get("status") if isinstance(result, dict) else None
        print(f"{arguments.schedule_id}: {status or action}")
        return 0
