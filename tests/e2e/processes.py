"""Real ``aiki`` processes for end-to-end tests: start them, wait until they serve, and always end them.

Every wait here has a deadline; a process that dies early fails the wait with its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPOSITORY = Path(__file__).resolve().parents[2]
#: how long a process may take to start serving on a loaded machine
STARTUP_S = 30.0
#: how long a process may take to stop after SIGTERM before it is killed
STOP_S = 10.0


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without aiki's connection settings, plus ``extra``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AIKI_URL", "AIKI_DB", "AIKI_API_KEY")
    }
    environment.update(extra)
    return environment


@dataclass
class AikiProcess:
    """One ``python -m aiki.cli.main ...`` process and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM (and SIGCONT, should it be stopped), then SIGKILL after :data:`STOP_S`; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGCONT)
            try:
                return self.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=STOP_S)


def start_aiki(arguments: list[str], log: Path, environment: dict[str, str] | None = None) -> AikiProcess:
    """Start ``aiki <arguments>`` from the repository root (so ``tests.*`` modules are importable)."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "aiki.cli.main", *arguments],
            cwd=REPOSITORY,
            env=environment if environment is not None else clean_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return AikiProcess(process, log)


def wait_until_serving(server: AikiProcess, url: str) -> None:
    """Return once ``GET {url}/healthz`` answers 200; fail with the server's log if it dies or never does."""
    deadline = time.monotonic() + STARTUP_S
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"aiki server exited with {server.process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(
                f"aiki server did not answer /healthz within {STARTUP_S}s:\n{server.output()}"
            )
        # Another process is starting up: there is nothing to wait on but its socket, so look again shortly.
        time.sleep(0.05)


def start_server(db_url: str, log: Path, *options: str) -> tuple[AikiProcess, str]:
    """``aiki server`` on ``db_url`` and a free port, serving; the process and its base URL."""
    port = free_port()
    server = start_aiki(["server", "--db", db_url, "--port", str(port), *options], log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url)
    except BaseException:
        server.stop()
        raise
    return server, url
