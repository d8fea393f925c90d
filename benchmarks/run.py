"""Run the aiki vs DBOS benchmark: one command, every figure, one table.

    python benchmarks/run.py                                   # everything, 3 repetitions (~4-8 min)
    python benchmarks/run.py --quick                           # smoke test: small sizes, 1 repetition
    python benchmarks/run.py --only W1,W3 --backend sqlite --reps 5
    python benchmarks/run.py --systems dbos                    # DBOS and the floor only

Each (system, backend, workload) runs in a fresh process (DBOS keeps a global instance) on a fresh
database: a new SQLite file in a temporary directory, or a PostgreSQL database created for it and dropped
afterwards (``aiki_bench``, ``aiki_bench_dbos``, ``aiki_bench_floor``). The floor runs beside W2. All
results go to one JSON file under ``benchmarks/results/`` and the table is printed from it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from common import BACKENDS, WORKLOADS, machine_info
from report import render

BENCH_DIR = Path(__file__).resolve().parent
MODULES = {"aiki": "aiki_workloads.py", "dbos": "dbos_workloads.py", "floor": "floor.py"}
PG_DATABASES = {"aiki": "aiki_bench", "dbos": "aiki_bench_dbos", "floor": "aiki_bench_floor"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(WORKLOADS), help="workloads, e.g. W1,W3 (default: all)")
    parser.add_argument("--backend", default="both", choices=[*BACKENDS, "both"])
    parser.add_argument("--systems", default="aiki,dbos", help="aiki,dbos (the floor runs with W2)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 repetition: a smoke test")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor measurement")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="an existing database on the server, used to create and drop the benchmark databases",
    )
    parser.add_argument("--aiki-mode", default=None, help="passed to aiki_workloads.py --mode")
    parser.add_argument("--dbos-mode", default=None, help="passed to dbos_workloads.py --mode")
    parser.add_argument(
        "--w4-rate",
        type=float,
        default=None,
        help="W4: start the runs at this many per second instead of all together (same for both systems)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per process")
    parser.add_argument("--out", default=None, help="results JSON (default benchmarks/results/...)")
    args = parser.parse_args()
    args.workloads = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    args.system_list = [s.strip() for s in args.systems.split(",") if s.strip()]
    if set(args.system_list) - {"aiki", "dbos"}:
        parser.error("--systems takes aiki and/or dbos")
    args.backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    return args


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Databases:
    """Creates a fresh database per process and removes it afterwards."""

    def __init__(self, postgres_admin_url: str) -> None:
        self.postgres_admin_url = postgres_admin_url

    def postgres_execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.postgres_admin_url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def create(self, system: str, backend: str) -> tuple[str, Any]:
        if backend == "sqlite":
            directory = tempfile.mkdtemp(prefix=f"aiki-bench-{system}-")
            return f"sqlite:///{directory}/{system}.db", directory
        name = PG_DATABASES[system]
        self.postgres_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        return with_database(self.postgres_admin_url, name), name

    def remove(self, backend: str, token: Any) -> None:
        if backend == "sqlite":
            shutil.rmtree(token, ignore_errors=True)
        else:
            self.postgres_execute(f"DROP DATABASE IF EXISTS {token} WITH (FORCE)")

    def describe_postgres(self) -> str:
        try:
            import psycopg

            with psycopg.connect(self.postgres_admin_url, autocommit=True) as connection:
                values = [
                    connection.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                    for name in ("server_version", "synchronous_commit", "fsync")
                ]
            return f"PostgreSQL {values[0].split()[0]} (synchronous_commit={values[1]}, fsync={values[2]})"
        except Exception as error:
            return f"PostgreSQL unreachable ({error})"


def run_one(
    args: argparse.Namespace, databases: Databases, system: str, backend: str, workload: str
) -> dict[str, Any]:
    url, token = databases.create(system, backend)
    out = Path(tempfile.mkstemp(prefix=f"aiki-bench-{system}-", suffix=".json")[1])
    command = [
        sys.executable,
        str(BENCH_DIR / MODULES[system]),
        *("--workload", workload, "--backend", backend, "--url", url),
        *("--reps", str(args.reps), "--out", str(out)),
    ]
    if args.quick:
        command.append("--quick")
    if args.w4_rate and workload == "W4":
        command += ["--w4-rate", str(args.w4_rate)]
    mode = {"aiki": args.aiki_mode, "dbos": args.dbos_mode}.get(system)
    if mode:
        command += ["--mode", mode]
    label = f"{system:5} {backend:8} {workload:5}"
    print(f"{label} ...", end="", flush=True, file=sys.stderr)
    started = time.perf_counter()
    failure = None
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
        if completed.returncode != 0:
            failure = f"exit {completed.returncode}: {completed.stderr.strip()[-2000:]}"
    except subprocess.TimeoutExpired:
        failure = f"timed out after {args.timeout:.0f} s"
    finally:
        databases.remove(backend, token)
    try:
        result: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        result = {
            "system": system,
            "backend": backend,
            "workload": workload,
            "available": True,
            "metrics": {},
        }
    out.unlink(missing_ok=True)
    if failure and not result.get("error"):
        result["error"] = failure
    elif failure:
        result.setdefault("extra", {})["stderr"] = failure
    status = "n/a" if not result.get("available", True) else ("FAILED" if result.get("error") else "ok")
    print(f" {status} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if result.get("error"):
        print(f"    {result['error'][:500]}", file=sys.stderr)
    return result


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(system, backend, workload) in run order: per backend and workload, the floor, DBOS, then aiki."""
    steps = []
    for backend in args.backends:
        for workload in args.workloads:
            if workload == "W2" and not args.no_floor:
                steps.append(("floor", backend, "floor"))
            for system in ("dbos", "aiki"):
                if system in args.system_list:
                    steps.append((system, backend, workload))
    return steps


def main() -> None:
    args = parse_args()
    databases = Databases(args.postgres)
    created = time.strftime("%Y-%m-%d %H:%M")
    document: dict[str, Any] = {
        "created": created,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine_info(),
        "postgres": databases.describe_postgres() if "postgres" in args.backends else "",
        "load_average_before": os.getloadavg(),
        "quick": args.quick,
        "w4_rate": args.w4_rate,
        "reps": args.reps,
        "results": [],
    }
    for system, backend, workload in plan(args):
        document["results"].append(run_one(args, databases, system, backend, workload))
    document["load_average_after"] = os.getloadavg()
    if args.out:
        out = Path(args.out)
    else:
        name = "-".join(sorted({"floor", *args.system_list} if not args.no_floor else args.system_list))
        suffix = "-quick" if args.quick else ""
        out = BENCH_DIR / "results" / f"{name}-{time.strftime('%Y%m%d-%H%M')}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, sort_keys=True))
    print(render(document))
    print(f"\nresults: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
