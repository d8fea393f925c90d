"""A PostgreSQL cluster of its own for fault tests: made with ``initdb`` in a temporary folder, served on a
free port, stopped and started at will (the shared server of the other tests is never touched).

As root, the cluster is made and run by the ``postgres`` system user (``initdb`` refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import free_port

#: how long the cluster may take to start or stop on a loaded machine
READY_S = 60.0


def postgres_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest installed major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if not found:
        on_path = shutil.which("initdb")
        if on_path is None:
            raise AssertionError("initdb not found: install PostgreSQL's server binaries")
        return Path(on_path).parent
    return Path(found[-1]).parent


@dataclass
class PrivateCluster:
    """One cluster in ``folder`` on ``port``; ``url`` reaches its ``postgres`` database as ``postgres``."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = READY_S) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        finished = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=timeout, cwd=self.folder
        )
        if finished.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{finished.stdout}\n{finished.stderr}")

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        binaries = postgres_binaries()
        self._run(
            str(binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"
        )
        self.start()

    def start(self) -> None:
        """Start the cluster and return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(postgres_binaries() / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(READY_S)),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster: ``fast`` ends every session, ``immediate`` is a crash (recovery at start)."""
        self._run(str(postgres_binaries() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new, empty database of the cluster; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def private_cluster() -> PrivateCluster:
    """A new cluster in a new folder under the system's temporary folder (whose parents the ``postgres``
    user can enter, unlike pytest's), started on a free port; ``destroy()`` removes it."""
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="aiki-private-postgres-")), free_port())
    cluster.create()
    return cluster


def wait_until(condition: object, what: str, timeout_s: float = READY_S) -> None:
    """Poll ``condition()`` (a state of other processes, which announce nothing) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
