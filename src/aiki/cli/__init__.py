"""The ``aiki`` command line: server, worker, migrate, runs, keys, schedules."""

from aiki.cli.main import main

__all__ = ["main"]
