"""``aiki replay-check module:attribute (--db URL | --url URL) [--json]``: would the runs in flight of a
version go on with the code about to be deployed? Exit status 1 when any would fail."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from aiki.cli.connect import open_client
from aiki.cli.serve import load_workflows
from aiki.cli.tables import render_table
from aiki.execution.replay_check import check_replay
from aiki.execution.replay_report import ReplayCheckReport, ReplayOutcome, RunReplayResult


async def run_replay_check(arguments: argparse.Namespace) -> int:
    """Replay the runs in flight of each target version; 0 when all can go on, 1 when any would fail."""
    # The targets are the project's own modules, imported from where the command runs (as ``aiki worker``).
    sys.path.insert(0, ".")
    # A version named twice (itself, and through its workflow) is checked once.
    loaded = load_workflows(arguments.targets, "aiki replay-check")
    versions = list({(version.name, version.version_id): version for version in loaded}.values())
    # --db is opened read-only: the check never writes, and a mistake in it could not either.
    async with open_client(arguments, read_only=True) as reader:
        reports = [await check_replay(reader, version) for version in versions]
    ok = all(report.ok for report in reports)
    if arguments.json:
        print(json.dumps({"ok": ok, "reports": [report.to_dict() for report in reports]}, indent=2))
    else:
        print("\n\n".join(_render(report) for report in reports))
    return 0 if ok else 1


def _render(report: ReplayCheckReport) -> str:
    """The summary line, the runs counted by outcome and where they stopped, then every failing run."""
    groups = Counter((result.outcome, _where(result)) for result in report.results)
    lines = [report.summary()]
    if groups:
        rows = [
            [outcome.value.replace("_", " "), count, where]
            for (outcome, where), count in sorted(
                groups.items(),
                key=lambda item: (item[0][0] is not ReplayOutcome.FAILED, -item[1], item[0][1]),
            )
        ]
        lines += ["", render_table(["result", "runs", "detail"], rows)]
    failures = [result for result in report.results if not result.ok]
    if failures:
        rows = [[result.run_id, result.status.value, result.describe()] for result in failures]
        lines += ["", "would fail:", render_table(["run", "status", "error"], rows)]
    return "\n".join(lines)


def _where(result: RunReplayResult) -> str:
    """What a group of results has in common: the error type, or the step new code starts at (a task or
    child without its input hash, so that runs stopped at one task make one group)."""
    if result.error is not None:
        return type(result.error).__name__
    if result.outcome is ReplayOutcome.COMPLETED or result.stopped_at is None:
        return "the handler returned"
    kind, _, address = result.stopped_at.partition(" ")
    if kind in ("task", "child"):
        return f"{kind} {address.split(':', 1)[0]}"
    return result.stopped_at
