"""``aiki schedules list|pause|resume|deactivate``."""

from __future__ import annotations

import argparse

from aiki.cli.connect import open_client
from aiki.cli.tables import format_time, render_table


async def run_schedules(arguments: argparse.Namespace) -> int:
    async with open_client(arguments) as c:
        action = arguments.schedules_action
        if action == "list":
            schedules = await c.list_schedules(limit=1000)
            print(
                render_table(
                    ["id", "workflow", "version", "timing", "status", "overlap", "next run"],
                    [
                        [
                            s.id,
                            s.workflow_name,
                            s.version_id,
                            s.timing_text,
                            s.status.value,
                            s.overlap_policy,
                            format_time(s.next_run_at_ms),
                        ]
                        for s in schedules
                    ],
                )
            )
            return 0
        handle = await c.get_schedule_handle(arguments.schedule_id)
        operations = {"pause": handle.pause, "resume": handle.resume, "deactivate": handle.deactivate}
        schedule = await operations[action]()
        print(f"{schedule.id}: {schedule.status.value}")
        return 0
