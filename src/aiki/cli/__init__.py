"""The ``aiki`` command line: server, worker, migrate, runs, keys, schedules."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiki`` command (imported lazily, so ``python -m aiki.cli.main`` runs cleanly)."""
    from aiki.cli.main import main as run

    return run(argv)


__all__ = ["main"]
