"""The quick start (what ``scripts/demo.sh`` runs) completes an order end to end, as a real process; its
workflow is also tested in an ``aiki.testing`` environment, as a user would test it."""

from __future__ import annotations

import asyncio
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiki import WaitResult, client
from aiki.testing import environment
from tests.e2e.processes import clean_environment, free_port, start_aiki, wait_until_serving

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


def readme_block(section: str, language: str) -> str:
    """The first ``language`` code block after the heading ``section`` of README.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(section, 1)[1].split(f"```{language}", 1)[1].split("```", 1)[0]


def test_the_readme_quick_start_code_runs_a_run_to_its_result_and_prints_its_timeline(tmp_path: Path) -> None:
    code = readme_block("## Quick start", "python")
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert [line.split("->")[1].split()[0] for line in lines[:-1]] == [
        "queued",
        "running",
        "sleeping",
        "queued",
        "running",
        "completed",
    ]
    assert lines[-1] == "result: {'done': True}"
    assert finished.stderr == ""  # nothing warned: the runtime runs


async def wait_for_receipt(url: str, run_id: str) -> WaitResult[Any]:
    """Wait over HTTP for run ``run_id`` of the quick start's order workflow to complete."""
    async with client(url=url) as c:
        handle = await load_example().order_v1.get_handle(c, run_id)
        return await handle.wait_for_status("completed", timeout=PATIENCE)


def test_the_readme_dashboard_commands_run_an_order_to_completion(tmp_path: Path) -> None:
    commands = [
        shlex.split(line.split("#", 1)[0])
        for line in readme_block("### See it in the dashboard", "bash").splitlines()
        if line.strip()
    ]
    assert [command[:2] for command in commands] == [
        [".venv/bin/aiki", "server"],
        [".venv/bin/aiki", "worker"],
        [".venv/bin/aiki", "runs"],
    ]
    port = str(free_port())

    def local(command: list[str]) -> list[str]:
        """The command's arguments, on a database in ``tmp_path`` and a free port."""
        arguments = [
            argument.replace("sqlite:///aiki.db", f"sqlite:///{tmp_path}/aiki.db").replace("9850", port)
            for argument in command[1:]
        ]
        return [*arguments, "--port", port] if arguments[0] == "server" else arguments

    server_process = start_aiki(local(commands[0]), tmp_path / "server.log")
    worker_process = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(server_process, url)
        worker_process = start_aiki(local(commands[1]), tmp_path / "worker.log")
        started = subprocess.run(
            [sys.executable, "-m", "aiki.cli.main", *local(commands[2])],
            cwd=ROOT,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.split(":")[0]
        result = asyncio.run(wait_for_receipt(url, run_id))
    finally:
        if worker_process is not None:
            worker_process.stop()
        server_process.stop()

    assert result.output is not None and result.output.model_dump() == {
        "success": True,
        "order_id": "o-1",
        "charged": 42.5,
    }
    assert worker_process is not None and "process-payment o-1, attempt 2" in worker_process.output()


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
