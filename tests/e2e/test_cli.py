"""The ``aiki`` command for real: ``main([...])`` in this process where no server is needed, and
``aiki server`` / ``aiki worker`` as processes. The database is seeded with runs in many statuses and a
schedule (tests/e2e/cli_seed.py).

Tests call ``main`` from plain (not async) test functions: it runs its own event loop, as the command does.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from aiki import client, database, server
from aiki.cli.main import main
from tests.conftest import BACKENDS
from tests.e2e.cli_seed import greeting_v1, seed
from tests.e2e.processes import REPOSITORY, AikiProcess, clean_environment, start_aiki, start_server

MIGRATIONS = "0001_initial.sql, 0002_schedules.sql, 0003_indexes_for_scale.sql, 0005_server_flags.sql"
RUN_COLUMNS = ["ID", "WORKFLOW", "VERSION", "STATUS", "ATTEMPTS", "CREATED", "UPDATED"]
PATIENCE = {"seconds": 20}


@dataclass(frozen=True)
class Outcome:
    """What a command did: its exit status and what it printed."""

    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def no_connection_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIKI_URL", "AIKI_DB", "AIKI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


Aiki = Callable[..., Outcome]


@pytest.fixture
def aiki(capsys: pytest.CaptureFixture[str]) -> Iterator[Aiki]:
    """``aiki(*arguments)``: run the command in this process; its exit status and output."""

    def run(*arguments: str) -> Outcome:
        code = main(list(arguments))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    yield run


@dataclass(frozen=True)
class Seeded:
    """A seeded SQLite database, an ``aiki server`` on it, and the ids of its runs and schedule."""

    db: str
    url: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    folder = tmp_path_factory.mktemp("cli")
    db = f"sqlite:///{folder}/aiki.db"
    ids = asyncio.run(seed(db))
    process, url = start_server(db, folder / "server.log")
    try:
        yield Seeded(db, url, ids)
    finally:
        process.stop()


def aiki_process(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m aiki.cli.main ...`` to its end (bounded), as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "aiki.cli.main", *arguments],
        cwd=REPOSITORY,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def table(text: str) -> list[list[str]]:
    """A printed table as rows of cells (cells are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def assert_one_line_error(outcome: Outcome | subprocess.CompletedProcess[str], *words: str) -> None:
    code = outcome.code if isinstance(outcome, Outcome) else outcome.returncode
    err = outcome.err if isinstance(outcome, Outcome) else outcome.stderr
    assert code == 2, err
    assert err.startswith("aiki: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


# --- migrate -------------------------------------------------------------------------------------------


def test_migrate_creates_the_schema_of_a_new_sqlite_database(aiki: Aiki, tmp_path: Path) -> None:
    outcome = aiki("migrate", "--db", f"sqlite:///{tmp_path}/new.db")

    assert outcome.code == 0
    assert outcome.out == f"sqlite:///{tmp_path}/new.db: schema up to date ({MIGRATIONS})\n"
    with sqlite3.connect(tmp_path / "new.db") as connection:
        tables = {
            name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert {"runs", "tasks", "transitions", "api_keys", "schedules"} <= tables


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL is not among AIKI_TEST_BACKENDS")
def test_migrate_creates_the_schema_of_a_new_postgresql_database(
    aiki: Aiki, request: pytest.FixtureRequest
) -> None:
    from tests.postgres_support import fresh_postgres_url

    url = fresh_postgres_url(request, migrated=False)

    first = aiki("migrate", "--db", url)
    again = aiki("migrate", "--db", url)

    assert first.code == again.code == 0
    assert first.out == again.out == f"{url}: schema up to date ({MIGRATIONS})\n"
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert {"runs", "tasks", "transitions", "api_keys", "schedules"} <= {name for (name,) in rows}


# --- runs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["--db", "--url"])
def test_runs_list_prints_every_run_as_a_table_row(aiki: Aiki, seeded: Seeded, target: str) -> None:
    where = seeded.db if target == "--db" else seeded.url

    outcome = aiki("runs", "list", target, where)

    assert outcome.code == 0
    header, *rows = table(outcome.out)
    assert header == RUN_COLUMNS
    by_id = {row[0]: row for row in rows}
    run_ids = {name: run_id for name, run_id in seeded.ids.items() if name != "schedule"}
    assert set(by_id) == set(run_ids.values())
    assert by_id[seeded.ids["completed"]][1:4] == ["greeting", "1.0.0", "completed"]
    assert by_id[seeded.ids["failed"]][1:4] == ["billing", "1.0.0", "failed"]
    assert by_id[seeded.ids["awaiting_event"]][3] == "awaiting_event"
    # Columns line up: every status starts where the STATUS header does.
    lines = outcome.out.splitlines()
    column = lines[0].index("STATUS")
    assert all(line[column:].split()[0] in {row[3] for row in rows} for line in lines[1:])


def test_runs_list_filters_by_status_and_workflow(aiki: Aiki, seeded: Seeded) -> None:
    by_status = aiki("runs", "list", "--db", seeded.db, "--status", "awaiting_event")
    by_workflow = aiki("runs", "list", "--db", seeded.db, "--workflow", "billing")
    neither = aiki("runs", "list", "--db", seeded.db, "--workflow", "billing", "--status", "completed")

    assert [row[0] for row in table(by_status.out)[1:]] == [seeded.ids["awaiting_event"]]
    assert [row[0] for row in table(by_workflow.out)[1:]] == [seeded.ids["failed"]]
    assert (neither.code, neither.out) == (0, "(none)\n")


@pytest.mark.parametrize("target", ["--db", "--url"])
def test_runs_show_prints_the_facts_tasks_and_timeline_of_a_run(
    aiki: Aiki, seeded: Seeded, target: str
) -> None:
    where = seeded.db if target == "--db" else seeded.url

    outcome = aiki("runs", "show", seeded.ids["completed"], target, where)

    assert outcome.code == 0
    facts, tasks, timeline = outcome.out.split("\n\n")
    assert facts.splitlines()[:5] == [
        f"run       {seeded.ids['completed']}",
        "workflow  greeting 1.0.0",
        "status    completed  (revision 2, attempt 1)",
        'input     {"name": "Ada"}',
        'state     {"output": "hello Ada"}',
    ]
    assert table(tasks.removeprefix("tasks\n")) == [
        ["NAME", "OCCURRENCE", "STATUS", "ATTEMPTS"],
        ["greet", "0", "completed", "1"],
    ]
    steps = [row[1:4] for row in table(timeline.removeprefix("timeline\n"))[1:]]
    assert steps == [["-", "queued", "new"], ["queued", "running", "claimed"], ["running", "completed", "-"]]


def test_runs_show_prints_a_failed_runs_error_and_traceback_on_lines_of_their_own(
    aiki: Aiki, seeded: Seeded
) -> None:
    outcome = aiki("runs", "show", seeded.ids["failed"], "--db", seeded.db)

    assert outcome.code == 0
    assert "error     ValueError: card declined for 42 (in task charge)\n" in outcome.out
    assert "          Traceback (most recent call last):\n" in outcome.out
    assert "\\n" not in outcome.out


def test_runs_pause_and_resume_steer_a_run_over_http(aiki: Aiki, seeded: Seeded) -> None:
    run_id = seeded.ids["queued"]

    paused = aiki("runs", "pause", run_id, "--url", seeded.url)
    resumed = aiki("runs", "resume", run_id, "--url", seeded.url)

    assert (paused.code, paused.out) == (0, f"{run_id}: paused\n")
    assert (resumed.code, resumed.out) == (0, f"{run_id}: queued\n")


def test_runs_awake_wakes_a_sleeping_run_over_http(aiki: Aiki, seeded: Seeded) -> None:
    run_id = seeded.ids["sleeping_2"]

    outcome = aiki("runs", "awake", run_id, "--url", seeded.url)

    assert (outcome.code, outcome.out) == (0, f"{run_id}: queued\n")
    timeline = aiki("runs", "show", run_id, "--db", seeded.db).out
    assert re.search(r"sleeping\s+queued\s+wakeup_early", timeline)


@pytest.mark.parametrize(("target", "name"), [("--db", "queued_2"), ("--url", "queued_3")])
def test_runs_cancel_cancels_a_run_with_the_reason_given(
    aiki: Aiki, seeded: Seeded, target: str, name: str
) -> None:
    where = seeded.db if target == "--db" else seeded.url
    run_id = seeded.ids[name]

    outcome = aiki("runs", "cancel", run_id, target, where, "--reason", "duplicate order")

    assert (outcome.code, outcome.out) == (0, f"{run_id}: cancelled\n")
    shown = aiki("runs", "show", run_id, "--db", seeded.db).out
    assert 'state     {"reason": "duplicate order"}' in shown


# --- schedules ---------------------------------------------------------------------------------------


def test_schedules_list_prints_each_schedule_with_its_timing(aiki: Aiki, seeded: Seeded) -> None:
    outcome = aiki("schedules", "list", "--db", seeded.db)

    assert outcome.code == 0
    header, *rows = table(outcome.out)
    assert header == ["ID", "WORKFLOW", "VERSION", "TIMING", "STATUS", "OVERLAP", "NEXT RUN"]
    assert [row[:6] for row in rows] == [
        [seeded.ids["schedule"], "greeting", "1.0.0", "every 1h", "active", "allow"]
    ]


def test_schedules_pause_resume_and_deactivate_steer_a_schedule_over_http(aiki: Aiki, seeded: Seeded) -> None:
    schedule_id = seeded.ids["schedule"]
    answers = [
        aiki("schedules", action, schedule_id, "--url", seeded.url)
        for action in ("pause", "resume", "deactivate")
    ]

    assert [(answer.code, answer.out) for answer in answers] == [
        (0, f"{schedule_id}: paused\n"),
        (0, f"{schedule_id}: active\n"),
        (0, f"{schedule_id}: inactive\n"),
    ]
    listed = aiki("schedules", "list", "--url", seeded.url).out
    assert table(listed)[1][4] == "inactive"


# --- keys ----------------------------------------------------------------------------------------------


def test_once_a_key_exists_the_server_requires_it_and_a_revoked_key_is_refused(
    aiki: Aiki, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path}/keys.db"
    created = aiki("keys", "create", "--db", db, "--name", "ci workers")
    assert created.code == 0
    key_id = re.search(r"created key (\S+) for namespace 'default'", created.out)
    secret = re.search(r"secret \(shown once, store it now\): (\S+)", created.out)
    assert key_id and secret
    listed = table(aiki("keys", "list", "--db", db).out)
    assert listed[0] == ["ID", "NAMESPACE", "NAME", "CREATED", "REVOKED"]
    assert [row[:3] + row[4:] for row in listed[1:]] == [[key_id[1], "default", "ci workers", "-"]]

    process, url = start_server(db, tmp_path / "server.log")
    try:
        assert httpx.get(f"{url}/api/v1/runs", timeout=10).status_code == 401
        headers = {"authorization": f"Bearer {secret[1]}"}
        assert httpx.get(f"{url}/api/v1/runs", headers=headers, timeout=10).status_code == 200
        assert_one_line_error(aiki("runs", "list", "--url", url), "requires an API key")
        with_key = aiki("runs", "list", "--url", url, "--api-key", secret[1])
        assert (with_key.code, with_key.out) == (0, "(none)\n")

        revoked = aiki("keys", "revoke", "--db", db, key_id[1])
        assert (revoked.code, revoked.out) == (0, f"revoked key {key_id[1]}\n")
        assert httpx.get(f"{url}/api/v1/runs", headers=headers, timeout=10).status_code == 403
    finally:
        process.stop()
    assert table(aiki("keys", "list", "--db", db).out)[1][4] != "-"


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["--db", "--url"])
def test_an_unknown_run_id_exits_2_with_one_line(aiki: Aiki, seeded: Seeded, target: str) -> None:
    where = seeded.db if target == "--db" else seeded.url

    assert_one_line_error(aiki("runs", "show", "no-such-run", target, where), "no-such-run")


def test_steering_a_run_its_status_does_not_allow_exits_2_with_one_line(aiki: Aiki, seeded: Seeded) -> None:
    outcome = aiki("runs", "resume", seeded.ids["completed"], "--db", seeded.db)

    assert_one_line_error(outcome, seeded.ids["completed"], "paused")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["runs", "list"], ["needs --db"]),
        (["server"], ["needs --db"]),
        (["migrate"], ["needs --db"]),
        (["keys", "list"], ["needs --db"]),
        (["runs", "list", "--db", "mysql://localhost/aiki"], ["mysql"]),
    ],
)
def test_a_command_without_a_usable_database_exits_2_with_one_line(
    arguments: list[str], words: list[str]
) -> None:
    assert_one_line_error(aiki_process(*arguments), *words)


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("tests.e2e.cli_seed", ["must look like 'package.module:attribute'"]),
        ("tests.e2e.no_such_module:flow", ["Cannot import 'tests.e2e.no_such_module'"]),
        ("tests.e2e.cli_seed:no_such_flow", ["has no attribute 'no_such_flow'"]),
        ("tests.e2e.cli_seed:PATIENCE_S", ["expected a workflow version"]),
    ],
)
def test_a_worker_given_a_bad_target_exits_2_with_one_line(aiki: Aiki, target: str, words: list[str]) -> None:
    assert_one_line_error(aiki("worker", target, "--url", "http://127.0.0.1:9"), *words)


def test_a_worker_given_a_bad_option_or_no_connection_exits_2_with_one_line(aiki: Aiki) -> None:
    target = "tests.e2e.cli_seed:greeting"
    zero = aiki("worker", target, "--url", "http://127.0.0.1:9", "--poll-interval-ms", "0")
    nowhere = aiki("worker", target)

    assert_one_line_error(zero, "poll_interval_ms", "positive integer")
    assert_one_line_error(nowhere, "--url", "--db")


# --- worker ----------------------------------------------------------------------------------------------


async def test_a_worker_process_on_a_database_runs_the_workflows_it_imports_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path}/worker.db"
    srv = server(db=database(db), opts={"poll_interval_ms": 100})
    worker: AikiProcess | None = None
    try:
        handle = await greeting_v1.start(client(server=srv), {"name": "Grace"})
        worker = start_aiki(
            ["worker", "tests.e2e.cli_seed:greeting", "--db", db, "--poll-interval-ms", "100"],
            tmp_path / "worker.log",
        )
        result = await handle.wait_for_status("completed", timeout=PATIENCE)
    finally:
        code = worker.stop() if worker is not None else None
        await srv.close()

    assert result.success and result.state is not None and result.state.output == "hello Grace"
    assert worker is not None and code == 0, worker.output()
    assert re.match(r"aiki worker \S+ on sqlite:///\S+: greeting@1\.0\.0\n", worker.output()), worker.output()
