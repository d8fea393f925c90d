"""The store's connection: every query of aiki, as methods, inside one transaction (or one statement).

The server holds nothing else of the database: it asks this object, and each backend's connection class
(``SqliteConnection``, ``PostgresConnection``) supplies the driver and its dialect.
"""

from __future__ import annotations

from aiki.store.queries.children import ChildQueries
from aiki.store.queries.claims import ClaimQueries
from aiki.store.queries.events import EventQueries
from aiki.store.queries.gauges import GaugeQueries
from aiki.store.queries.history import HistoryQueries
from aiki.store.queries.keys import KeyQueries
from aiki.store.queries.listing import ListingQueries
from aiki.store.queries.retention import RetentionQueries
from aiki.store.queries.runs import RunQueries
from aiki.store.queries.schedules import ScheduleQueries
from aiki.store.queries.sleeps import SleepQueries
from aiki.store.queries.tasks import TaskQueries
from aiki.store.queries.timers import TimerQueries
from aiki.store.queries.transitions import TransitionQueries
from aiki.store.queries.workers import WorkerQueries


class Connection(
    ClaimQueries,
    RunQueries,
    TaskQueries,
    SleepQueries,
    EventQueries,
    ChildQueries,
    TransitionQueries,
    HistoryQueries,
    TimerQueries,
    ScheduleQueries,
    KeyQueries,
    ListingQueries,
    RetentionQueries,
    WorkerQueries,
    GaugeQueries,
):
    """One connection inside one transaction; the backends subclass it."""
