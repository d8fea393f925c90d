"""``examples/scheduled_report.py`` runs for real: its schedule starts runs that its worker finishes. Its
workflow on an hourly schedule is tested in an ``aiki.testing`` environment: three hours in milliseconds."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from aiki import RunStatus, schedule
from aiki.testing import environment

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


async def test_an_hourly_schedule_starts_a_report_every_hour_of_fake_time() -> None:
    example = load_example()
    async with environment(workflows=[example.report_v1]) as env:
        start_ms = env.clock.now_ms()
        hourly = await schedule(type="interval", every={"hours": 1}).activate(
            env.client, example.report_v1, {"region": "emea"}
        )

        await env.advance({"hours": 3})

        runs = sorted(await hourly.runs(), key=lambda run: run.created_at_ms)
        assert [run.created_at_ms - start_ms for run in runs] == [3_600_000, 7_200_000, 10_800_000]
        assert [run.status for run in runs] == [RunStatus.COMPLETED] * 3
        outputs = [(await env.client.get_run(run.id)).state.output for run in runs]
        assert outputs == [{"region": "emea", "orders": 28}] * 3
