"""The quick start (what ``scripts/demo.sh`` runs) completes an order end to end, as a real process; its
workflow is also tested in an ``aiki.testing`` environment, as a user would test it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aiki.testing import environment

ROOT = Path(__file__).resolve().parents[2]
PATIENCE = {"seconds": 30}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart_example", ROOT / "examples" / "quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quickstart_example_prints_its_progress_the_timeline_and_the_receipt(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--db", f"sqlite:///{tmp_path}/demo.db"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    out = finished.stdout
    assert "process-payment order-123, attempt 2" in out
    assert "running -> sleeping" in out and "sleeping -> queued" in out
    assert "result: {'success': True, 'order_id': 'order-123', 'charged': 42.5}" in out
    # Finished tasks are not re-run when the handler replays after the sleep.
    assert out.count("[task] validate-order") == 1


def test_the_readme_quick_start_code_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("## Quick start", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split()[1] == "queued"


async def test_an_order_is_charged_after_one_payment_retry_and_completes_after_its_cool_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = load_example()
    async with environment(workflows=[example.order_v1]) as env:
        start_ms = env.clock.now_ms()
        handle = await example.order_v1.start(env.client, example.Order(order_id="order-7", amount=12.5))

        result = await handle.wait_for_status("completed", timeout=PATIENCE)
        timeline = await env.client.get_timeline(handle.id)

    assert result.output == example.Receipt(success=True, order_id="order-7", charged=12.5)
    # The payment's retry (200 ms, waited by the worker) and the 300 ms cool-down took fake time only.
    assert [(step.to_status, step.created_at_ms - start_ms) for step in timeline] == [
        ("queued", 0),
        ("running", 0),
        ("sleeping", 200),
        ("queued", 500),
        ("running", 500),
        ("completed", 500),
    ]
    assert capsys.readouterr().out.count("[task] validate-order order-7") == 1


async def test_with_the_payment_gateway_mocked_the_order_needs_no_retry() -> None:
    example = load_example()
    async with environment(workflows=[example.order_v1]) as env:
        with env.mock_task(example.process_payment, lambda payment: {"charged": 99.0}):
            handle = await example.order_v1.start(env.client, example.Order(order_id="order-8", amount=12.5))
            result = await handle.wait_for_status("completed", timeout=PATIENCE)

    assert result.output is not None and result.output.charged == 99.0
    assert "order-8" not in example.payment_attempts
