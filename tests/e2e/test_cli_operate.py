"""The CLI of operating runs (list with filters and pages, count, start, send-event, bulk steering, workers)
and how it fails: one line and exit 1 for a server that cannot be reached or a refused key, exit 2 for a
usage error, never a traceback, never a password printed, never a database file created by a read-only
command."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from aiki.cli.main import main
from tests.e2e.processes import free_port, start_aiki, start_server
from tests.e2e.test_cli import (
    Aiki,
    Seeded,
    aiki,
    assert_one_line_error,
    no_connection_settings,
    seeded,
    table,
)

__all__ = ["aiki", "no_connection_settings", "seeded"]


def test_runs_list_pages_with_a_cursor_and_prints_json(aiki: Aiki, seeded: Seeded) -> None:
    first = aiki("runs", "list", "--db", seeded.db, "--limit", "2")
    cursor = re.search(r"more: add --cursor (\S+)", first.out)
    assert first.code == 0 and cursor, first.out
    second = aiki("runs", "list", "--db", seeded.db, "--limit", "2", "--cursor", cursor[1], "--json")

    page = json.loads(second.out)
    first_ids = [row[0] for row in table(first.out.split("\n\n")[0])[1:]]
    assert len(first_ids) == 2 and len(page["runs"]) == 2
    assert not set(first_ids) & {run["id"] for run in page["runs"]}
    assert all(run["values_omitted"] for run in page["runs"])


def test_runs_list_and_count_filter_by_several_statuses_and_a_time_range(aiki: Aiki, seeded: Seeded) -> None:
    listed = aiki("runs", "list", "--db", seeded.db, "--status", "failed,cancelled", "--since", "1h")
    counted = aiki("runs", "count", "--url", seeded.url, "--status", "failed,cancelled", "--until", "now")

    statuses = sorted(row[3] for row in table(listed.out)[1:])
    assert statuses == ["cancelled", "failed"]
    assert (counted.code, counted.out) == (0, "2\n")
    failed = [row for row in table(listed.out)[1:] if row[3] == "failed"]
    assert "ValueError: card declined" in failed[0][-1]


def test_runs_start_send_event_and_bulk_steering_over_http(aiki: Aiki, seeded: Seeded) -> None:
    started = aiki("runs", "start", "approval@1.0.0", "--url", seeded.url, "--input", '{"item": "cli"}')
    run_id = started.out.split(":")[0]
    assert started.code == 0 and started.out == f"{run_id}: queued\n"

    sent = aiki(
        "runs", "send-event", run_id, "approved", "--url", seeded.url, "--data", '"yes"', "--reference", "r1"
    )
    again = aiki(
        "runs", "send-event", run_id, "approved", "--url", seeded.url, "--data", '"yes"', "--reference", "r1"
    )
    assert sent.out == f"{run_id}: event 'approved' sent\n"
    assert again.out == f"{run_id}: event 'approved' already sent (reference)\n"

    paused = aiki("runs", "pause", run_id, "no-such-run", "--url", seeded.url)
    assert paused.code == 1 and paused.out == f"{run_id}: paused\n"
    assert paused.err == "aiki: no-such-run skipped: unknown: no run with this id in this namespace\n"
    requeued = aiki("runs", "requeue", run_id, "--url", seeded.url)
    assert_one_line_error(requeued, "Only a stalled run can be requeued; this one is paused", exit_code=1)
    assert (
        aiki("runs", "cancel", run_id, "--url", seeded.url, "--reason", "done").out
        == f"{run_id}: cancelled\n"
    )


def test_workers_list_shows_a_live_worker(aiki: Aiki, seeded: Seeded, tmp_path: Path) -> None:
    worker = start_aiki(
        ["worker", "tests.e2e.cli_seed:greeting", "--url", seeded.url, "--name", "greeter"],
        tmp_path / "worker.log",
    )
    try:
        deadline = time.monotonic() + 30
        while "greeter" not in (listed := aiki("workers", "list", "--url", seeded.url)).out:
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.1)
    finally:
        worker.stop()
    row = next(row for row in table(listed.out)[1:] if row[1] == "greeter")
    assert row[4] == "greeting@1.0.0" and row[5] == "(none)" and row[6] == "0/10"


def test_the_version_is_printed(aiki: Aiki) -> None:
    outcome = aiki("--version")
    assert outcome.code == 0 and re.fullmatch(r"aiki \S+\n", outcome.out)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["runs", "list", "--limit", "0"], "argument --limit: 0 must be at least 1"),
        (["runs", "list", "--limit", "5000"], "more than the most runs a page holds (1000)"),
        (["server", "--port", "99999"], "argument --port: 99999 is not a TCP port"),
        (["runs", "list", "--status", "sleepy"], "sleepy is not a run status"),
        (["runs", "list", "--since", "last tuesday"], "is not a time"),
        (["runs", "start", "no-version"], "NAME@VERSION"),
        (["runs", "start", "a@1", "--input", "{bad"], "is not JSON"),
    ],
)
def test_bad_arguments_are_usage_errors(aiki: Aiki, arguments: list[str], message: str) -> None:
    outcome = aiki(*arguments)

    assert outcome.code == 2 and message in outcome.err and "Traceback" not in outcome.err


def test_a_server_that_cannot_be_reached_is_one_line_and_exit_1(aiki: Aiki) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(
        aiki("runs", "list", "--url", url), f"cannot reach {url}: connection refused", exit_code=1
    )


def test_a_read_only_command_never_creates_a_database_file(aiki: Aiki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"

    assert_one_line_error(aiki("runs", "list", "--db", f"sqlite:///{missing}"), "no aiki database")
    assert_one_line_error(aiki("workers", "list", "--db", f"sqlite:///{missing}"), "no aiki database")
    assert not missing.exists()


def test_a_database_password_is_never_printed(aiki: Aiki, tmp_path: Path) -> None:
    unreachable = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/test"

    outcome = aiki("runs", "list", "--db", unreachable)

    assert outcome.code == 2 and "hunter2" not in outcome.err and "***" in outcome.err
    server, url = start_server("postgresql://postgres:hunter2@127.0.0.1:5432/test", tmp_path / "server.log")
    try:
        banner = server.output()
    finally:
        server.stop()
    assert f"listening on {url}" in banner and "hunter2" not in banner and "postgres:***@" in banner


def test_the_server_says_it_listens_only_once_it_does(tmp_path: Path) -> None:
    port = free_port()
    server = start_aiki(
        ["server", "--db", f"sqlite:///{tmp_path}/a.db", "--port", str(port)], tmp_path / "s.log"
    )
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in server.output():
            assert time.monotonic() < deadline and server.process.poll() is None, server.output()
            time.sleep(0.02)
        # No retry: the port is bound and served before the line is printed.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        taken = start_aiki(
            ["server", "--db", f"sqlite:///{tmp_path}/b.db", "--port", str(port)], tmp_path / "t.log"
        )
        assert taken.process.wait(timeout=30) == 2
        assert (
            f"aiki: cannot listen on 127.0.0.1:{port}" in taken.output() and "Traceback" not in taken.output()
        )
    finally:
        server.stop()


def test_a_worker_retries_an_unreachable_server_in_one_line_per_attempt(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    worker = start_aiki(["worker", "tests.e2e.cli_seed:greeting", "--url", url], tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while worker.output().count("cannot reach") < 3:
            assert time.monotonic() < deadline and worker.process.poll() is None, worker.output()
            time.sleep(0.1)
    finally:
        code = worker.stop()
    assert code == 0 and "Traceback" not in worker.output()
    assert all(len(line) < 300 for line in worker.output().splitlines())


def test_a_worker_with_a_refused_key_stops_with_exit_1(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/keys.db"
    assert main(["keys", "create", "--db", db, "--name", "ops"]) == 0
    server, url = start_server(db, tmp_path / "server.log")
    try:
        worker = start_aiki(
            ["worker", "tests.e2e.cli_seed:greeting", "--url", url, "--api-key", "aiki_wrong"],
            tmp_path / "worker.log",
        )
        assert worker.process.wait(timeout=30) == 1
    finally:
        server.stop()
    assert "aiki: the server refused this worker: Unknown API key" in worker.output()
    assert "Traceback" not in worker.output()
