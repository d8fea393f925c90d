"""A worker process is killed with SIGKILL in the middle of a run; another worker finishes the run after the
claim times out, without re-running the tasks that had finished."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiki import RunStatus, Server, client, database, server, worker
from tests.e2e.crash_worker import SERVER_OPTIONS, WORKER_OPTIONS, executions_of, marker_file, pipeline_v1

REPOSITORY = Path(__file__).resolve().parents[2]
PATIENCE_S = 30.0


@pytest.fixture
def markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv("AIKI_CRASH_MARKERS", str(folder))
    monkeypatch.delenv("AIKI_CRASH_HANG_IN", raising=False)
    return folder


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/crash.db"


@pytest.fixture
async def survivor(db_url: str) -> AsyncIterator[Server]:
    """The test process's own server on the same SQLite file (its runtime is started by the test)."""
    srv = server(db=database(db_url), opts=SERVER_OPTIONS)
    yield srv
    await srv.close()


@pytest.fixture
def doomed_worker(db_url: str, markers: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process that hangs inside ``step-2``; killed by the test, or at teardown at the latest."""
    environment = {**os.environ, "AIKI_CRASH_HANG_IN": "step-2"}
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.crash_worker", db_url],
            cwd=REPOSITORY,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def _reached(path: Path, process: subprocess.Popen[bytes], log: Path, timed_out: bool) -> bool:
    """Whether the worker process has reached a task (it writes a line to the task's marker file first)."""
    if path.exists() and path.read_text().strip():  # the file exists a moment before its line
        return True
    if process.poll() is not None or timed_out:
        raise AssertionError(f"the worker process never reached {path.name}:\n{log.read_text()}")
    return False


async def _until_file_exists(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_S
    # Another process writes the file: there is no in-process event to wait on, so look every 20 ms.
    while not _reached(path, process, log, loop.time() > deadline):  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_a_run_interrupted_by_a_killed_worker_process_is_finished_by_another_worker(
    survivor: Server, doomed_worker: subprocess.Popen[bytes], markers: Path, tmp_path: Path
) -> None:
    c = client(server=survivor)
    handle = await pipeline_v1.start(c, {"order": "o-1"})

    await _until_file_exists(marker_file("step-2"), doomed_worker, tmp_path / "worker.log")
    history = await c.transport.get_history(handle.id)
    assert [(entry.name, entry.status) for entry in history.tasks] == [("step-1", "completed")]

    os.kill(doomed_worker.pid, signal.SIGKILL)
    assert doomed_worker.wait(timeout=10) == -signal.SIGKILL
    assert (await handle.refresh()).status is RunStatus.RUNNING  # still claimed by the dead process

    runtime = await survivor.runtime.start()
    rescuer = await worker(workflows=[pipeline_v1], opts=WORKER_OPTIONS).start(c)
    try:
        result = await handle.wait_for_status("completed", timeout={"seconds": PATIENCE_S})
    finally:
        await rescuer.stop()
        await runtime.stop()

    assert result.success and result.state is not None
    assert result.state.output == ["o-1:step-1", "o-1:step-2", "o-1:step-3"]
    # step-1 finished before the crash and is replayed; step-2 was interrupted and runs again.
    assert [executions_of(name) for name in ("step-1", "step-2", "step-3")] == [1, 2, 1]
    pids = {name: set(marker_file(name).read_text().split()) for name in ("step-1", "step-2", "step-3")}
    assert pids["step-1"] == {str(doomed_worker.pid)}
    assert pids["step-3"] == {str(os.getpid())}
    timeline = await c.transport.get_timeline(handle.id)
    assert ("running", "queued", "recovery") in [(t.from_status, t.to_status, t.reason) for t in timeline]
    assert handle.run.attempts == 1  # a crash charges no workflow attempt
