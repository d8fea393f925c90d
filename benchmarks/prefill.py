"""Bulk rows written with the plain driver, not through the engine: a history of finished runs (``--prefill``)
and a backlog of queued runs (W5).

A prefilled history of ``N`` runs looks like a month of a busy server: 20 workflow names x 2 versions, 90%
completed, 7% failed, 3% cancelled, created over the last 30 days (oldest first, ids in creation order as
the engine makes them), each with its retention deadline (``due_at_ms`` = finished + 30 days, moved past
the prefill's own duration: see ``History.due_shift_ms``), three
``tasks`` rows, a five-row timeline in ``transitions`` (new, claimed, released by a worker that stopped,
claimed again, finished), one ``sleeps`` row per 10 runs and one ``events`` row per 20 runs. Every table is
filled by one ``INSERT ... SELECT`` over a generated series (PostgreSQL ``generate_series``; SQLite a
recursive CTE, in transactions of ``SQLITE_CHUNK_ROWS`` rows), so a million runs take under a minute instead
of hours through the engine; then the statistics are refreshed, so the planner sees the grown tables.

Every row is a pure function of its run's index ``i``, so child rows find their run's id without a join.
Inserts name their columns: a later migration that adds a nullable column or an index leaves this working.
The schema must exist first (``create_schema``).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 24 * 3600 * 1000
HISTORY_MS = 30 * DAY_MS  # the prefilled runs were created over the last 30 days
RETENTION_MS = 30 * DAY_MS  # the server's default retention: a finished run's due_at_ms is finished + this

#: the prefilled workflows: the benchmark's own four (so their queries see history of the same names and
#: versions), and 16 others
WORKFLOW_NAMES = ("bench-w1", "bench-w2", "bench-w3", "bench-w4", *(f"orders-{n:02d}" for n in range(16)))
VERSIONS = ("1.0.0", "0.9.0")
TASKS_PER_RUN = 3
TRANSITIONS_PER_RUN = 5
SLEEP_EVERY = 10  # one sleeps row per SLEEP_EVERY runs
EVENT_EVERY = 20  # one events row per EVENT_EVERY runs
TABLES = ("runs", "tasks", "transitions", "sleeps", "events")

RUN_INSERT_COLUMNS = (
    "id, namespace, workflow_name, version_id, status, state, input, input_hash, options, shard, "
    "reference_id, parent_run_id, schedule_id, waiting_on, revision, attempts, due_at_ms, claim_token, "
    "worker_id, created_at_ms, updated_at_ms"
)
TASK_INSERT_COLUMNS = (
    "run_id, name, address, occurrence, status, attempts, input, output, error, next_attempt_at_ms, "
    "created_at_ms, updated_at_ms"
)
TRANSITION_INSERT_COLUMNS = "run_id, revision, attempt, from_status, to_status, reason, state, created_at_ms"
SLEEP_INSERT_COLUMNS = "run_id, name, occurrence, status, duration_ms, started_at_ms, wake_at_ms, ended_at_ms"
EVENT_INSERT_COLUMNS = "run_id, name, status, data, reference_id, created_at_ms"

OPTIONS_JSON = '{"retry":{"type":"never"}}'  # what the engine stores for a workflow without retry options
QUEUED_STATE_JSON = '{"status":"queued","reason":"new"}'
FAILED_ERROR_JSON = '{"type":"ValueError","message":"prefilled failure","task":"t3"}'
CANCEL_REASON = "cancelled by an operator"
FAILED_STATE_JSON = '{"status":"failed","error":' + FAILED_ERROR_JSON + "}"
CANCELLED_STATE_JSON = '{"status":"cancelled","reason":"' + CANCEL_REASON + '"}'
RUNNING_CLAIMED_JSON = '{"status":"running","reason":"claimed"}'
QUEUED_RELEASED_JSON = '{"status":"queued","reason":"released"}'


def lit(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_number(prefix: str, number: str, suffix: str = "}") -> str:
    """SQL for the JSON text ``prefix <number> suffix``, e.g. ``{"i":42}``."""
    return f"({lit(prefix)} || ({number}) || {lit(suffix)})"


@dataclass
class FillReport:
    """What a bulk fill wrote and how long it took."""

    runs: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per table, then "analyze"
    total_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "rows": self.rows, "seconds": self.seconds, "total_s": self.total_s}

    def describe(self) -> str:
        tables = ", ".join(f"{name} {count:,}" for name, count in self.rows.items())
        analyze = self.seconds.get("analyze", 0.0)
        return (
            f"prefill of {self.runs:,} runs: {self.total_s:.1f} s (analyze {analyze:.1f} s); rows: {tables}"
        )


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between PostgreSQL and SQLite."""

    #: ``WITH`` clause defining the series ``s(g)`` = first .. last - 1 (empty on PostgreSQL)
    series_with: Callable[[int, int], str]
    #: the FROM item of that series
    series_from: Callable[[int, int], str]
    #: 26-character run id from a millisecond and a sequence number, as ``aiki.ids.new_id`` spells them
    run_id: Callable[[str, str], str]
    #: 64 hex characters derived from an integer expression (stands for a sha256 hash)
    hex64: Callable[[str], str]


POSTGRES = Dialect(
    series_with=lambda first, last: "",
    series_from=lambda first, last: f"generate_series({first}::bigint, {last - 1}::bigint) AS s(g)",
    run_id=lambda ms, seq: f"(lpad(to_hex({ms}), 12, '0') || lpad(to_hex({seq}), 14, '0'))",
    hex64=lambda value: f"(md5(({value})::text) || md5((-({value}))::text))",
)
SQLITE = Dialect(
    series_with=lambda first, last: (
        f"WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s WHERE g < {last - 1}) "
    ),
    series_from=lambda first, last: "s",
    run_id=lambda ms, seq: f"printf('%012x%014x', {ms}, {seq})",
    hex64=lambda value: f"printf('%032x%032x', {value}, ({value}) * 7919)",
)


@dataclass(frozen=True)
class SeriesInsert:
    """``INSERT INTO table (columns) SELECT <select> FROM`` the series ``g`` = 0 .. count - 1."""

    table: str
    columns: str
    count: int
    select: str

    def sql(self, dialect: Dialect, first: int, last: int) -> str:
        """The INSERT of rows ``first`` .. ``last - 1``."""
        return (
            f"INSERT INTO {self.table} ({self.columns}) {dialect.series_with(first, last)}"
            f"SELECT {self.select} FROM {dialect.series_from(first, last)}"
        )

    def chunks(self, dialect: Dialect, rows: int | None) -> list[str]:
        """The INSERTs of every row, ``rows`` at a time (all at once if None)."""
        size = rows or self.count
        return [
            self.sql(dialect, first, min(first + size, self.count)) for first in range(0, self.count, size)
        ]


class History:
    """SQL for the prefilled history of ``runs`` runs ending at ``now_ms``; ``i`` is a run's index."""

    def __init__(self, dialect: Dialect, runs: int, now_ms: int, expired: bool = False) -> None:
        self.d = dialect
        self.runs = runs
        self.now_ms = now_ms
        self.start_ms = now_ms - HISTORY_MS
        #: every run's retention deadline is its finish (all are due at once: ``benchmarks/purge.py``)
        self.expired = expired

    # -- per-run values, as SQL expressions of i -------------------------------------------------------
    def created(self, i: str) -> str:
        return f"({self.start_ms} + ({i}) * {HISTORY_MS} / {self.runs})"

    @staticmethod
    def duration(i: str) -> str:
        """How long the run took: 5 ms to 2 s, scattered."""
        return f"(5 + (({i}) * 7919) % 1995)"

    def updated(self, i: str) -> str:
        return f"({self.created(i)} + {self.duration(i)})"

    def run_id(self, i: str) -> str:
        return self.d.run_id(self.created(i), i)

    @staticmethod
    def status_code(i: str) -> str:
        """0..99 with no tie to the workflow name (i % 20) or the version."""
        return f"((({i}) / 40 + ({i}) * 3) % 100)"

    def status(self, i: str) -> str:
        code = self.status_code(i)
        return f"(CASE WHEN {code} < 90 THEN 'completed' WHEN {code} < 97 THEN 'failed' ELSE 'cancelled' END)"

    def final_state(self, i: str) -> str:
        code = self.status_code(i)
        completed = json_number('{"status":"completed","output":', i)
        return (
            f"(CASE WHEN {code} < 90 THEN {completed} WHEN {code} < 97 THEN {lit(FAILED_STATE_JSON)} "
            f"ELSE {lit(CANCELLED_STATE_JSON)} END)"
        )

    def final_reason(self, i: str) -> str:
        return f"(CASE WHEN {self.status_code(i)} < 97 THEN NULL ELSE {lit(CANCEL_REASON)} END)"

    @staticmethod
    def pick(values: tuple[str, ...], index: str) -> str:
        whens = " ".join(f"WHEN {n} THEN {lit(value)}" for n, value in enumerate(values))
        return f"(CASE {index} {whens} END)"

    # -- one INSERT per table ---------------------------------------------------------------------------
    def due_shift_ms(self) -> int:
        """How far the retention deadlines move past ``updated_at_ms`` + 30 days.

        With none, the runs whose retention ends while the prefill is still writing (a million runs take a
        minute) would all be due at once when the engine starts, and their purges would come as one burst
        that a server in steady state never sees. So the deadlines start after the prefill: the time already
        spent (the runs are written last), plus a margin for the runs INSERT and the statistics (about 20 us
        a run). From then on runs come due at the steady rate, ``runs`` per 30 days, and are purged.
        """
        return (now_ms() - self.now_ms) + 30_000 + self.runs // 50

    def runs_insert(self, due_shift_ms: int = 0) -> SeriesInsert:
        i = "g"
        values = [
            self.run_id(i),
            "'default'",
            self.pick(WORKFLOW_NAMES, f"({i}) % {len(WORKFLOW_NAMES)}"),
            self.pick(VERSIONS, f"(({i}) / {len(WORKFLOW_NAMES)}) % {len(VERSIONS)}"),
            self.status(i),
            self.final_state(i),
            json_number('{"i":', i),
            self.d.hex64(i),
            lit(OPTIONS_JSON),
            *(["NULL"] * 5),  # shard, reference_id, parent_run_id, schedule_id, waiting_on
            str(TRANSITIONS_PER_RUN - 1),  # revision: one per status change after the first row
            "1",  # attempts
            f"({self.updated(i)} + {RETENTION_MS + due_shift_ms})",  # due_at_ms: end of retention
            "NULL",
            "NULL",
            self.created(i),
            self.updated(i),
        ]
        return SeriesInsert("runs", RUN_INSERT_COLUMNS, self.runs, ", ".join(values))

    def tasks_insert(self) -> SeriesInsert:
        i, k = f"(g / {TASKS_PER_RUN})", f"(g % {TASKS_PER_RUN})"
        failed = f"({k} = {TASKS_PER_RUN - 1} AND {self.status(i)} = 'failed')"
        name = f"('t' || ({k} + 1))"
        at = f"({self.created(i)} + ({k} + 1) * {self.duration(i)} / {TASKS_PER_RUN + 1})"
        values = [
            self.run_id(i),
            name,
            f"({name} || ':' || {self.d.hex64('g')})",
            "0",
            f"(CASE WHEN {failed} THEN 'failed' ELSE 'completed' END)",
            "1",
            f"({i} || '')",
            f"(CASE WHEN {failed} THEN NULL ELSE {i} || '' END)",
            f"(CASE WHEN {failed} THEN {lit(FAILED_ERROR_JSON)} ELSE NULL END)",
            "NULL",
            at,
            at,
        ]
        return SeriesInsert("tasks", TASK_INSERT_COLUMNS, self.runs * TASKS_PER_RUN, ", ".join(values))

    def transitions_insert(self) -> SeriesInsert:
        """new -> claimed -> released (a worker stopped) -> claimed -> finished: five rows, revisions 0..4."""
        i, k = f"(g / {TRANSITIONS_PER_RUN})", f"(g % {TRANSITIONS_PER_RUN})"
        values = [
            self.run_id(i),
            k,
            "1",
            f"(CASE {k} WHEN 0 THEN NULL WHEN 1 THEN 'queued' WHEN 2 THEN 'running' "
            "WHEN 3 THEN 'queued' ELSE 'running' END)",
            f"(CASE {k} WHEN 0 THEN 'queued' WHEN 1 THEN 'running' WHEN 2 THEN 'queued' "
            f"WHEN 3 THEN 'running' ELSE {self.status(i)} END)",
            f"(CASE {k} WHEN 0 THEN 'new' WHEN 1 THEN 'claimed' WHEN 2 THEN 'released' "
            f"WHEN 3 THEN 'claimed' ELSE {self.final_reason(i)} END)",
            f"(CASE {k} WHEN 0 THEN {lit(QUEUED_STATE_JSON)} WHEN 1 THEN {lit(RUNNING_CLAIMED_JSON)} "
            f"WHEN 2 THEN {lit(QUEUED_RELEASED_JSON)} WHEN 3 THEN {lit(RUNNING_CLAIMED_JSON)} "
            f"ELSE {self.final_state(i)} END)",
            f"({self.created(i)} + {k} * {self.duration(i)} / {TRANSITIONS_PER_RUN - 1})",
        ]
        count = self.runs * TRANSITIONS_PER_RUN
        return SeriesInsert("transitions", TRANSITION_INSERT_COLUMNS, count, ", ".join(values))

    def sleeps_insert(self) -> SeriesInsert:
        i = f"(g * {SLEEP_EVERY} + 3)"
        started = f"({self.created(i)} + {self.duration(i)} / 4)"
        length = f"({self.duration(i)} / 2)"
        values = [
            self.run_id(i),
            "'nap'",
            "0",
            "'completed'",
            length,
            started,
            f"({started} + {length})",
            f"({started} + {length})",
        ]
        return SeriesInsert("sleeps", SLEEP_INSERT_COLUMNS, self.runs // SLEEP_EVERY, ", ".join(values))

    def events_insert(self) -> SeriesInsert:
        i = f"(g * {EVENT_EVERY} + 7)"
        values = [
            self.run_id(i),
            "'approval'",
            "'received'",
            lit('{"approved":true}'),
            "NULL",
            f"({self.created(i)} + {self.duration(i)} / 2)",
        ]
        return SeriesInsert("events", EVENT_INSERT_COLUMNS, self.runs // EVENT_EVERY, ", ".join(values))

    def inserts(self) -> dict[str, Callable[[], SeriesInsert]]:
        """The INSERT of each table, made when it is about to run: ``runs`` last, so that its retention
        deadlines are placed after the time the others took (``due_shift_ms``). A table with no rows at
        this size is left out (a series of zero rows is not expressible as the recursive CTE)."""
        statements: dict[str, Callable[[], SeriesInsert]] = {
            "tasks": self.tasks_insert,
            "transitions": self.transitions_insert,
        }
        if self.runs >= SLEEP_EVERY:
            statements["sleeps"] = self.sleeps_insert
        if self.runs >= EVENT_EVERY:
            statements["events"] = self.events_insert
        statements["runs"] = lambda: self.runs_insert(-RETENTION_MS if self.expired else self.due_shift_ms())
        return statements


class Backlog:
    """SQL for ``count`` queued runs of one workflow version (W5), exactly as the engine's ``insert_run``
    writes a new run: revision 0, attempts 1, no deadline, and its first timeline row.

    Run ``i`` (``first`` .. ``first + count - 1``) is created at ``start_ms + i - first``: the queue drains
    oldest first, in index order.
    """

    def __init__(
        self,
        dialect: Dialect,
        workflow: str,
        version: str,
        count: int,
        first: int,
        start_ms: int,
        marker: str,
    ) -> None:
        self.d = dialect
        self.workflow, self.version = workflow, version
        self.count, self.first, self.start_ms = count, first, start_ms
        self.marker = marker  # the input_hash of every run of this backlog, to find them again

    def index(self) -> str:
        return f"(g + {self.first})"

    def created(self) -> str:
        return f"({self.start_ms} + g)"

    def runs_insert(self) -> SeriesInsert:
        i = self.index()
        values = [
            self.d.run_id(self.created(), i),
            "'default'",
            lit(self.workflow),
            lit(self.version),
            "'queued'",
            lit(QUEUED_STATE_JSON),
            json_number('{"i":', i),
            lit(self.marker),
            lit(OPTIONS_JSON),
            *(["NULL"] * 5),  # shard, reference_id, parent_run_id, schedule_id, waiting_on
            "0",  # revision
            "1",  # attempts
            "NULL",  # due_at_ms: a queued run has no deadline
            "NULL",
            "NULL",
            self.created(),
            self.created(),
        ]
        return SeriesInsert("runs", RUN_INSERT_COLUMNS, self.count, ", ".join(values))

    def outcome_select(self) -> str:
        """``(status, updated_at_ms)`` of every run of this backlog (through ``runs_by_namespace``)."""
        return (
            "SELECT status, updated_at_ms FROM runs WHERE namespace = 'default' "
            f"AND created_at_ms >= {self.start_ms} AND created_at_ms < {self.start_ms + self.count} "
            f"AND workflow_name = {lit(self.workflow)} AND input_hash = {lit(self.marker)}"
        )

    def transitions_insert(self) -> SeriesInsert:
        values = [
            self.d.run_id(self.created(), self.index()),
            "0",
            "1",
            "NULL",
            "'queued'",
            "'new'",
            lit(QUEUED_STATE_JSON),
            self.created(),
        ]
        return SeriesInsert("transitions", TRANSITION_INSERT_COLUMNS, self.count, ", ".join(values))

    def inserts(self) -> dict[str, str]:
        """The runs, then their first timeline rows: one INSERT each, to run in one transaction."""
        return {
            spec.table: spec.sql(self.d, 0, spec.count)
            for spec in (self.runs_insert(), self.transitions_insert())
        }


async def create_schema(aiki: Any, url: str) -> None:
    """The aiki schema on an empty database, made by aiki itself (all migrations)."""
    database = aiki.database(url)
    await database.open(migrate=True)
    await database.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- SQLite ------------------------------------------------------------------------------------------------
#: rows per SQLite transaction: each holds the file's write lock for well under a second, so an engine
#: running on the same file (grown mode) is never locked out for long
SQLITE_CHUNK_ROWS = 200_000


def sqlite_connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    # The engine may hold the file (grown mode): wait for its write lock rather than fail.
    connection.execute("PRAGMA busy_timeout = 60000")
    # A large page cache keeps the index B-trees in memory while millions of rows go in.
    connection.execute("PRAGMA cache_size = -524288")
    return connection


def checkpoint_wal(connection: sqlite3.Connection, attempts: int = 20) -> None:
    """Fold the WAL back into the file, so the measurement does not start behind a gigabyte of WAL.

    In grown mode the engine's own connection may be reading at that moment (the checkpoint then reports
    busy): try again for a few seconds.
    """
    for _ in range(attempts):
        busy, _frames, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        time.sleep(0.25)
    print("prefill: the WAL could not be checkpointed (the engine kept reading)", file=sys.stderr)


def sqlite_fill(
    connection: sqlite3.Connection, inserts: dict[str, Callable[[], SeriesInsert]], report: FillReport
) -> None:
    for table, make in inserts.items():
        started = time.perf_counter()
        report.rows[table] = 0
        for sql in make().chunks(SQLITE, SQLITE_CHUNK_ROWS):
            connection.execute("BEGIN IMMEDIATE")
            report.rows[table] += connection.execute(sql).rowcount
            connection.execute("COMMIT")
        report.seconds[table] = round(time.perf_counter() - started, 2)


def prefill_sqlite(path: str, runs: int, expired: bool = False) -> FillReport:
    """Write a history of ``runs`` finished runs into the SQLite file at ``path``; refresh its statistics.
    ``expired``: each run's retention deadline is its finish (see ``History``)."""
    report = FillReport(runs)
    started = time.perf_counter()
    connection = sqlite_connect(path)
    try:
        sqlite_fill(connection, History(SQLITE, runs, now_ms(), expired).inserts(), report)
        analyzed = time.perf_counter()
        connection.execute("ANALYZE")
        checkpoint_wal(connection)
        report.seconds["analyze"] = round(time.perf_counter() - analyzed, 2)
    finally:
        connection.close()
    report.total_s = round(time.perf_counter() - started, 2)
    return report


def backlog_sqlite(path: str, backlog: Backlog) -> FillReport:
    """Queue the backlog's runs in the SQLite file at ``path``, in one transaction."""
    report = FillReport(backlog.count)
    started = time.perf_counter()
    connection = sqlite_connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        for table, sql in backlog.inserts().items():
            report.rows[table] = connection.execute(sql).rowcount
        connection.execute("COMMIT")
    finally:
        connection.close()
    report.total_s = round(time.perf_counter() - started, 2)
    return report


# -- PostgreSQL --------------------------------------------------------------------------------------------
def prefill_postgres(url: str, runs: int, expired: bool = False) -> FillReport:
    """Write a history of ``runs`` finished runs into the PostgreSQL database at ``url``; then VACUUM ANALYZE.

    VACUUM as well as ANALYZE: after millions of inserts autovacuum would otherwise start vacuuming these
    tables a minute later, in the middle of the measurement; a long-lived database has been vacuumed.
    """
    import psycopg

    report = FillReport(runs)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        for table, make in History(POSTGRES, runs, now_ms(), expired).inserts().items():
            table_started = time.perf_counter()
            spec = make()
            report.rows[table] = connection.execute(spec.sql(POSTGRES, 0, spec.count)).rowcount
            report.seconds[table] = round(time.perf_counter() - table_started, 2)
        analyzed = time.perf_counter()
        for table in TABLES:
            connection.execute(f"VACUUM (ANALYZE) {table}")
        report.seconds["analyze"] = round(time.perf_counter() - analyzed, 2)
    report.total_s = round(time.perf_counter() - started, 2)
    return report


def backlog_postgres(url: str, backlog: Backlog) -> FillReport:
    """Queue the backlog's runs in the PostgreSQL database at ``url``, in one transaction."""
    import psycopg

    report = FillReport(backlog.count)
    started = time.perf_counter()
    with psycopg.connect(url) as connection, connection.transaction():
        for table, sql in backlog.inserts().items():
            report.rows[table] = connection.execute(sql).rowcount
    report.total_s = round(time.perf_counter() - started, 2)
    return report


def backlog_outcomes(backend: str, url: str, backlog: Backlog) -> list[tuple[str, int]]:
    """``(status, updated_at_ms)`` of every run of ``backlog``, read with the plain driver."""
    if backend == "sqlite":
        from common import sqlite_path

        connection = sqlite3.connect(sqlite_path(url))
        try:
            return [(str(s), int(ms)) for s, ms in connection.execute(backlog.outcome_select())]
        finally:
            connection.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        return [(str(s), int(ms)) for s, ms in pg.execute(backlog.outcome_select())]


# -- either backend ----------------------------------------------------------------------------------------
def prefill(backend: str, url: str, runs: int, expired: bool = False) -> FillReport:
    """Prefill the (already migrated) database at ``url`` with ``runs`` finished runs (``expired``: all of
    them due for deletion as soon as the engine starts)."""
    if backend == "sqlite":
        from common import sqlite_path

        return prefill_sqlite(sqlite_path(url), runs, expired)
    return prefill_postgres(url, runs, expired)


def dialect_for(backend: str) -> Dialect:
    return SQLITE if backend == "sqlite" else POSTGRES


def queue_backlog(backend: str, url: str, backlog: Backlog) -> FillReport:
    """Queue ``backlog`` (built with ``dialect_for(backend)``) in the (already migrated) database at ``url``."""
    if backend == "sqlite":
        from common import sqlite_path

        return backlog_sqlite(sqlite_path(url), backlog)
    return backlog_postgres(url, backlog)
