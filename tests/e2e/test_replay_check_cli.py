"""``aiki replay-check``: a summary table (or JSON) of the runs in flight replayed against new code; exit 0
when all can go on, 1 when any would fail, 2 for a usage error. ``--db`` is opened read-only; ``--url``
reads through an ``aiki server``. ``main([...])`` runs in this process, as in test_cli.py; the server runs
as a process."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiki.cli.main import main
from tests.e2e.processes import start_server
from tests.e2e.test_cli import Outcome, assert_one_line_error, table
from tests.integration.replay_check_support import Seeded, database_digest, ran, seed

DEPLOYED = "tests.integration.replay_check_support:order_v1"

#: new code for ``rc-order`` 1.0.0 that reserves with another input: every run past its reserve fails
CHANGED = """
from aiki import event, task, workflow

@task(name="rc-reserve")
async def reserve(order):
    raise AssertionError("a replay check must not run a task")

@workflow(name="rc-order").v("1.0.0", events={"paid": event()})
async def order_v1(run, order_id):
    await reserve.start(run, {"order": order_id})
    await run.events.paid.wait()
"""

Aiki = Callable[..., Outcome]


@pytest.fixture
def aiki(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Aiki]:
    """``aiki(*arguments)`` in this process, with no connection settings from the environment."""
    for name in ("AIKI_URL", "AIKI_DB", "AIKI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    # The command puts "." on the import path; keep that to this test.
    monkeypatch.setattr(sys, "path", list(sys.path))

    def run(*arguments: str) -> Outcome:
        code = main(list(arguments))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    yield run


@pytest.fixture
def seeded(db_url: str) -> Seeded:
    return asyncio.run(seed(db_url))


@pytest.fixture
def changed_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The target of the changed code: a module in the current directory, as a project's would be."""
    module = f"redeploy_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(CHANGED))
    monkeypatch.chdir(tmp_path)
    # Finders cache what "." held when this process first looked there (another test's directory).
    importlib.invalidate_caches()
    return f"{module}:order_v1"


def test_a_safe_change_passes_with_a_summary_of_where_each_run_reaches_new_code(
    aiki: Aiki, db_url: str, seeded: Seeded
) -> None:
    before = database_digest(db_url)

    outcome = aiki("replay-check", DEPLOYED, "--db", db_url)

    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == "rc-order 1.0.0: 4 runs in flight, 4 ok, 0 would fail"
    assert table("\n".join(lines[2:])) == [
        ["RESULT", "RUNS", "DETAIL"],
        ["reached new code", "2", "sleep 'cool-down'"],
        ["reached new code", "1", "task rc-reserve"],
        ["reached new code", "1", "wait for event 'paid'"],
    ]
    assert database_digest(db_url) == before and ran == []


def test_a_breaking_change_fails_with_exit_status_1_and_names_each_run_that_would_fail(
    aiki: Aiki, db_url: str, seeded: Seeded, changed_code: str
) -> None:
    outcome = aiki("replay-check", changed_code, "--db", db_url)

    assert outcome.code == 1, outcome.err
    summary, failing = outcome.out.split("would fail:\n")
    assert summary.startswith("rc-order 1.0.0: 4 runs in flight, 1 ok, 3 would fail")
    rows = table(failing)
    assert rows[0] == ["RUN", "STATUS", "ERROR"]
    assert {row[0] for row in rows[1:]} == {seeded.waiting, seeded.sleeping, seeded.paused}
    assert all(row[2].startswith("NonDeterminismError: Replay divergence") for row in rows[1:])


def test_json_gives_the_verdict_on_every_run(
    aiki: Aiki, db_url: str, seeded: Seeded, changed_code: str
) -> None:
    outcome = aiki("replay-check", changed_code, "--db", db_url, "--json")

    assert outcome.code == 1
    document = json.loads(outcome.out)
    assert document["ok"] is False
    (report,) = document["reports"]
    assert (report["workflow"], report["version"], report["checked"], report["failed"]) == (
        "rc-order",
        "1.0.0",
        4,
        3,
    )
    runs = {run["run_id"]: run for run in report["runs"]}
    waiting = runs[seeded.waiting]
    assert (waiting["status"], waiting["outcome"], waiting["ok"]) == ("awaiting_event", "failed", False)
    assert waiting["error"]["type"] == "NonDeterminismError"
    assert waiting["error"]["address"].startswith("rc-reserve:")
    assert runs[seeded.scheduled]["outcome"] == "reached_new_code"


def test_the_check_reads_through_a_server_given_by_url(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/aiki.db"
    asyncio.run(seed(db))
    process, url = start_server(db, tmp_path / "server.log")
    try:
        from tests.e2e.test_cli import aiki_process

        finished = aiki_process("replay-check", DEPLOYED, "--url", url)
    finally:
        process.stop()

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("rc-order 1.0.0: 4 runs in flight, 4 ok, 0 would fail\n")


def test_usage_errors_exit_with_status_2_and_say_what_to_do(aiki: Aiki, tmp_path: Path) -> None:
    assert_one_line_error(aiki("replay-check", DEPLOYED), "needs --url", "--db")
    assert_one_line_error(
        aiki("replay-check", DEPLOYED, "--db", f"sqlite:///{tmp_path}/missing.db"),
        "There is no aiki database at",
    )
    assert_one_line_error(
        aiki("replay-check", "no_such_module_here:v1", "--db", "sqlite:///x.db"), "Cannot import"
    )
    assert_one_line_error(
        aiki("replay-check", "tests.integration.replay_check_support:seed", "--db", "sqlite:///x.db"),
        "expected a workflow version",
    )
    with pytest.raises(SystemExit) as exited:
        main(["replay-check"])
    assert exited.value.code == 2
