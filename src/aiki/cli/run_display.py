"""How the CLI prints runs: a page as a table, one run in full, the outcome of a bulk action."""

from __future__ import annotations

import json
import sys
import textwrap

from aiki.cli.tables import format_ago, format_time, render_table
from aiki.contract.steering import BulkResult
from aiki.types import RunHistory, Transition, WorkflowRun


def print_runs(runs: list[WorkflowRun], next_cursor: str | None) -> None:
    print(
        render_table(
            ["id", "workflow", "version", "status", "attempts", "created", "updated", "error"],
            [
                [
                    run.id,
                    run.name,
                    run.version_id,
                    run.status.value,
                    run.attempts,
                    format_time(run.created_at_ms),
                    format_ago(run.updated_at_ms),
                    _error_summary(run),
                ]
                for run in runs
            ],
        )
    )
    if next_cursor is not None:
        print(f"\nmore: add --cursor {next_cursor}")


def _error_summary(run: WorkflowRun) -> str | None:
    error = run.state.error
    if not error:
        return None
    text = f"{error.get('type')}: {error.get('message')}"
    return text if len(text) <= 60 else text[:57] + "..."


def print_run(run: WorkflowRun, history: RunHistory, timeline: list[Transition]) -> None:
    print(f"run       {run.id}")
    print(f"workflow  {run.name} {run.version_id}")
    print(f"status    {run.status.value}  (revision {run.revision}, attempt {run.attempts})")
    print(f"created   {format_time(run.created_at_ms)}  ({format_ago(run.created_at_ms)})")
    for label, value in (
        ("reference", run.reference_id),
        ("shard", run.shard),
        ("parent", run.parent_run_id),
    ):
        if value:
            print(f"{label:<9} {value}")
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
    if history.tasks:
        print("\ntasks")
        print(
            render_table(
                ["name", "occurrence", "status", "attempts"],
                [[task.name, task.occurrence, task.status, task.attempts] for task in history.tasks],
            )
        )
    print("\ntimeline")
    print(
        render_table(
            ["at", "from", "to", "reason", "attempt"],
            [
                [format_time(t.created_at_ms), t.from_status, t.to_status, t.reason, t.attempt]
                for t in timeline
            ],
        )
    )


def print_bulk(action: str, result: BulkResult) -> None:
    """The runs changed on standard output; each one skipped, and why, on one line of standard error."""
    past = {"cancel": "cancelled", "pause": "paused", "resume": "resumed", "requeue": "requeued"}[action]
    for run_id in result.done:
        print(f"{run_id}: {past}")
    for run_id, reason in result.skipped.items():
        print(f"aiki: {run_id} skipped: {reason}", file=sys.stderr)
