"""``aiki runs list|show|cancel|pause|resume|awake``."""

from __future__ import annotations

import argparse
import json
import textwrap

from aiki.cli.connect import open_client
from aiki.cli.tables import format_time, render_table


async def run_runs(arguments: argparse.Namespace) -> int:
    async with open_client(arguments) as c:
        transport = c.transport
        action = arguments.runs_action
        if action == "list":
            runs = await c.list_runs(
                status=arguments.status, workflow=arguments.workflow, limit=arguments.limit
            )
            print(
                render_table(
                    ["id", "workflow", "version", "status", "attempts", "created", "updated"],
                    [
                        [
                            r.id,
                            r.name,
                            r.version_id,
                            r.status.value,
                            r.attempts,
                            format_time(r.created_at_ms),
                            format_time(r.updated_at_ms),
                        ]
                        for r in runs
                    ],
                )
            )
            return 0
        if action == "show":
            run = await transport.get_run(arguments.run_id)
            print(f"run       {run.id}")
            print(f"workflow  {run.name} {run.version_id}")
            print(f"status    {run.status.value}  (revision {run.revision}, attempt {run.attempts})")
            if run.reference_id:
                print(f"reference {run.reference_id}")
            if run.shard:
                print(f"shard     {run.shard}")
            print(f"input     {json.dumps(run.input)}")
            state = run.state.to_dict()
            state.pop("status")
            error = state.pop("error", None)
            if state:
                print(f"state     {json.dumps(state, default=str)}")
            if error:
                where = f" (in task {error['task']})" if error.get("task") else ""
                print(f"error     {error.get('type')}: {error.get('message')}{where}")
                if error.get("traceback"):
                    print(textwrap.indent(str(error["traceback"]).rstrip(), " " * 10))
            history = await transport.get_history(run.id)
            if history.tasks:
                print("\ntasks")
                print(
                    render_table(
                        ["name", "occurrence", "status", "attempts"],
                        [[t.name, t.occurrence, t.status, t.attempts] for t in history.tasks],
                    )
                )
            print("\ntimeline")
            timeline = await transport.get_timeline(run.id)
            print(
                render_table(
                    ["at", "from", "to", "reason", "attempt"],
                    [
                        [format_time(t.created_at_ms), t.from_status, t.to_status, t.reason, t.attempt]
                        for t in timeline
                    ],
                )
            )
            return 0
        operations = {
            "cancel": lambda run_id: transport.cancel_run(run_id, arguments.reason),
            "pause": transport.pause_run,
            "resume": transport.resume_run,
            "awake": transport.awake_run,
        }
        run = await operations[action](arguments.run_id)
        print(f"{run.id}: {run.status.value}")
        return 0
