"""``examples/scheduled_report.py`` runs for real: its schedule starts runs that its worker finishes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scheduled_report.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scheduled_report_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_scheduled_report_example_completes_runs_started_by_its_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example()

    completed = await example.main(f"sqlite:///{tmp_path}/aiki.db", runs=2, every_ms=100)

    assert len(completed) == 2
    printed = capsys.readouterr().out
    assert "activated again: the same schedule? True" in printed
    assert printed.count("'orders': 28") == 2
    assert "is now inactive" in printed
