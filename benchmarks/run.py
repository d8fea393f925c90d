"""Run the aiki vs DBOS benchmark: one command, every figure, one table.

    python benchmarks/run.py                                   # everything, 3 repetitions (~4-8 min)
    python benchmarks/run.py --quick                           # smoke test: small sizes, 1 repetition
    python benchmarks/run.py --only W1,W3 --backend sqlite --reps 5
    python benchmarks/run.py --systems dbos                    # DBOS and the floor only
    python benchmarks/run.py --systems aiki --prefill 1000000  # aiki on a database of a million finished runs
    python benchmarks/run.py --prefill 1000000 --prefill-mode grown --backend postgres

Each (system, backend, workload) runs in a fresh process (DBOS keeps a global instance) on a fresh
database: a new SQLite file in a temporary directory, or a PostgreSQL database created for it and dropped
afterwards (``aiki_bench``, ``aiki_bench_dbos``, ``aiki_bench_floor``, each followed by ``--db-suffix``). The
floor runs beside W2. All results go to one JSON file under ``benchmarks/results/`` and the table is printed
from it.

``--prefill N`` and W5 concern aiki alone (they write aiki's tables), so they run no DBOS process.
``--prefill-mode grown`` runs W1-W3 in one aiki process per backend: measured on the empty database, then
again after the prefill (see ``aiki_workloads.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from common import AIKI_ONLY_WORKLOADS, BACKENDS, GROWN_WORKLOADS, PREFILL_MODES, WORKLOADS, machine_info
from report import describe_prefill, render
from tracing_modes import ENVIRONMENT_VARIABLE as TRACING_VARIABLE
from tracing_modes import MODES as TRACING_MODES

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
    parser.add_argument("--w5-runs", type=int, default=None, help="W5: runs in the backlog (default 100,000)")
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        help="aiki only: measure on a database that already holds this many finished runs",
    )
    parser.add_argument(
        "--prefill-mode",
        default="fresh",
        choices=PREFILL_MODES,
        help="fresh: prefill, then start the engine; grown: W1-W3 in one process, empty then prefilled",
    )
    parser.add_argument(
        "--db-suffix",
        default="",
        help="appended to the PostgreSQL database names, so that two benchmarks can share a server",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per process")
    parser.add_argument(
        "--tracing",
        default="off",
        choices=TRACING_MODES,
        help="aiki processes: OpenTelemetry off (not importable), noop (no-op provider) or sdk (SDK, batch "
        "exporter to nowhere)",
    )
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
    if not re.fullmatch(r"[a-z0-9_]*", args.db_suffix):
        parser.error("--db-suffix takes lower-case letters, digits and underscores")
    if args.prefill < 0 or (args.prefill_mode == "grown" and args.prefill == 0):
        parser.error("--prefill takes a positive number of runs (and --prefill-mode grown needs it)")
    if args.prefill and "aiki" not in args.system_list:
        parser.error("--prefill writes aiki's tables: it needs --systems aiki")
    if args.prefill_mode == "grown" and not set(args.workloads) & set(GROWN_WORKLOADS):
        parser.error(f"--prefill-mode grown measures {', '.join(GROWN_WORKLOADS)}: --only must name one")
    return args


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Databases:
    """Creates a fresh database per process and removes it afterwards."""

    def __init__(self, postgres_admin_url: str, suffix: str = "") -> None:
        self.postgres_admin_url = postgres_admin_url
        self.suffix = suffix

    def postgres_execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.postgres_admin_url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def create(self, system: str, backend: str) -> tuple[str, Any]:
        if backend == "sqlite":
            directory = tempfile.mkdtemp(prefix=f"aiki-bench-{system}-")
            return f"sqlite:///{directory}/{system}.db", directory
        name = PG_DATABASES[system] + self.suffix
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


def workload_command(
    args: argparse.Namespace, system: str, backend: str, workload: str, url: str, out: Path
) -> list[str]:
    """The command line of one workload process."""
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
    if args.w5_runs and workload == "W5":
        command += ["--w5-runs", str(args.w5_runs)]
    if system == "aiki" and args.prefill:
        command += ["--prefill", str(args.prefill), "--prefill-mode", args.prefill_mode]
    mode = {"aiki": args.aiki_mode, "dbos": args.dbos_mode}.get(system)
    if mode:
        command += ["--mode", mode]
    return command


def run_one(
    args: argparse.Namespace, databases: Databases, system: str, backend: str, workload: str
) -> list[dict[str, Any]]:
    """Run one workload process on a fresh database; its result records (several in grown mode)."""
    url, token = databases.create(system, backend)
    out = Path(tempfile.mkstemp(prefix=f"aiki-bench-{system}-", suffix=".json")[1])
    command = workload_command(args, system, backend, workload, url, out)
    label = f"{system:5} {backend:8} {workload:5}"
    print(f"{label} ...", end="", flush=True, file=sys.stderr)
    started = time.perf_counter()
    failure = None
    try:
        environment = {**os.environ, TRACING_VARIABLE: args.tracing}
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, check=False, env=environment
        )
        if completed.returncode != 0:
            failure = f"exit {completed.returncode}: {completed.stderr.strip()[-2000:]}"
    except subprocess.TimeoutExpired:
        failure = f"timed out after {args.timeout:.0f} s"
    finally:
        databases.remove(backend, token)
    try:
        written = json.loads(out.read_text())
    except (OSError, ValueError):
        written = {
            "system": system,
            "backend": backend,
            "workload": workload.split(",")[0],
            "available": True,
            "metrics": {},
        }
    out.unlink(missing_ok=True)
    results: list[dict[str, Any]] = written if isinstance(written, list) else [written]
    for result in results:
        if failure and not result.get("error"):
            result["error"] = failure
        elif failure:
            result.setdefault("extra", {})["stderr"] = failure
    first = results[0]
    status = "n/a" if not first.get("available", True) else ("FAILED" if first.get("error") else "ok")
    print(f" {status} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if first.get("error"):
        print(f"    {first['error'][:500]}", file=sys.stderr)
    if first.get("extra", {}).get("prefill"):
        print(f"    {describe_prefill(first['extra']['prefill'])}", file=sys.stderr)
    return results


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(system, backend, workload) in run order: per backend and workload, the floor, DBOS, then aiki.

    Grown mode: one aiki process per backend, for all its workloads. A prefilled database and W5 are
    aiki's alone: no DBOS process for them.
    """
    if args.prefill_mode == "grown":
        grown = ",".join(name for name in GROWN_WORKLOADS if name in args.workloads)
        return [("aiki", backend, grown) for backend in args.backends]
    steps = []
    for backend in args.backends:
        for workload in args.workloads:
            if workload == "W2" and not args.no_floor:
                steps.append(("floor", backend, "floor"))
            for system in ("dbos", "aiki"):
                aiki_only = bool(args.prefill) or workload in AIKI_ONLY_WORKLOADS
                if system in args.system_list and (system == "aiki" or not aiki_only):
                    steps.append((system, backend, workload))
    return steps


def main() -> None:
    args = parse_args()
    databases = Databases(args.postgres, args.db_suffix)
    created = time.strftime("%Y-%m-%d %H:%M")
    document: dict[str, Any] = {
        "created": created,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine_info(),
        "postgres": databases.describe_postgres() if "postgres" in args.backends else "",
        "load_average_before": os.getloadavg(),
        "quick": args.quick,
        "w4_rate": args.w4_rate,
        "w5_runs": args.w5_runs,
        "prefill": args.prefill,
        "prefill_mode": args.prefill_mode,
        "reps": args.reps,
        "results": [],
    }
    for system, backend, workload in plan(args):
        document["results"].extend(run_one(args, databases, system, backend, workload))
    document["load_average_after"] = os.getloadavg()
    if args.out:
        out = Path(args.out)
    else:
        name = "-".join(sorted({"floor", *args.system_list} if not args.no_floor else args.system_list))
        suffix = (f"-prefill{args.prefill}" if args.prefill else "") + (
            "-grown" if args.prefill_mode == "grown" else ""
        )
        suffix += "-quick" if args.quick else ""
        out = BENCH_DIR / "results" / f"{name}-{time.strftime('%Y%m%d-%H%M')}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, sort_keys=True))
    print(render(document))
    print(f"\nresults: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
