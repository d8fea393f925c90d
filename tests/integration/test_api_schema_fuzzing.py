"""Schemathesis against a live ``aiki server`` with API keys: every check of every operation, on examples
from a fixed seed, finds nothing (no 5xx, answers as described, bad data refused, good data accepted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import REPOSITORY, clean_environment, start_aiki, start_server

HERE = Path(__file__).resolve().parent / "schemathesis"
#: examples per operation and phase: enough to reach every branch of the checks, quick enough for CI
EXAMPLES = 10
SEED = 14


@pytest.mark.timeout(240)
def test_schemathesis_finds_no_failure_in_any_operation(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/aiki.db"
    keys = start_aiki(
        ["keys", "create", "--db", db_url, "--namespace", "fuzz", "--name", "fuzz"], tmp_path / "k"
    )
    assert keys.process.wait(timeout=60) == 0, keys.output()
    secret = keys.output().split()[-1]
    server, url = start_server(db_url, tmp_path / "server.log", "--auth", "keys")
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("st")),
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "run",
                f"{url}/api/v1/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {secret}",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(SEED),
                "--workers",
                "1",
                "--request-timeout",
                "20",
            ],
            # Schemathesis keeps a cache of what it found in its working folder: the test's own.
            cwd=tmp_path,
            env=clean_environment(
                SCHEMATHESIS_HOOKS="tests.integration.schemathesis.hooks", PYTHONPATH=str(REPOSITORY)
            ),
            capture_output=True,
            text=True,
            timeout=200,
        )
    finally:
        server.stop()
    assert "auth: API keys required (--auth keys)" in server.output()
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-12_000:]
    assert "No issues found" in report or " passed" in report, report[-4_000:]
