"""Testing workflows without waiting, and checking a change against the runs in flight before deploying it.

- :func:`environment`: an in-process server, a worker and a :class:`FakeClock`, with time skipping, so a
  run that sleeps for days finishes in milliseconds (``docs/testing.md``).
- :func:`check_replay`: replay the runs in flight of a version against new code, running no task, and say
  which would fail (``docs/deploying-changes.md``).
- A pytest fixture, ``aiki_env``, from the plugin :mod:`aiki.testing.pytest_plugin` (registered when aiki is
  installed).

Example:
    async with environment(workflows=[reminder_v1]) as env:
        handle = await reminder_v1.start(env.client, {"email": "a@b.c"})
        assert (await handle.wait_for_status("completed")).success
"""

from aiki.clock import FakeClock
from aiki.execution.replay_check import check_replay
from aiki.execution.replay_report import ReplayCheckReport, ReplayOutcome, RunReplayResult
from aiki.testing.environment import Environment, environment

__all__ = [
    "Environment",
    "FakeClock",
    "ReplayCheckReport",
    "ReplayOutcome",
    "RunReplayResult",
    "check_replay",
    "environment",
]
