"""``aiki schedules list|pause|resume|deactivate``."""

from __future__ import annotations

import argparse

from aiki.cli.connect import open_client
from aiki.cli.tables import format_time, render_table
from aiki.client import schedule_handle


async def run_schedules(arguments: argparse.Namespace) -> int:
    async with open_client(arguments) as c:
        action = arguments.schedules_action
        if action == "list":
            schedules = await schedule_handle.list_schedules(c, limit=1000)
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
        operations = {
            "pause": schedule_handle.pause_schedule,
            "resume": schedule_handle.resume_schedule,
            "deactivate": schedule_handle.deactivate_schedule,
        }
        schedule = await operations[action](c, arguments.schedule_id)
        print(f"{schedule.id}: {schedule.status.value}")
        return 0
