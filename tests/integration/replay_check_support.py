"""The code deployed so far (``order_v1``), runs of it in every kind of status, and what the database holds.

``ran`` lists every task body that ran: a replay check must never add to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from aiki import event, task, workflow
from aiki.testing import environment

ran: list[str] = []


@task(name="rc-reserve")
async def reserve(order_id: str) -> dict[str, str]:
    ran.append(f"reserve {order_id}")
    return {"reserved": order_id}


@task(name="rc-charge")
async def charge(order_id: str) -> dict[str, int]:
    ran.append(f"charge {order_id}")
    return {"amount_cents": 1_900}


@task(name="rc-ship")
async def ship(order_id: str) -> str:
    ran.append(f"ship {order_id}")
    return f"shipped {order_id}"


order = workflow(name="rc-order")


@order.v("1.0.0", events={"paid": event()})
async def order_v1(run: Any, order_id: str) -> str:
    await reserve.start(run, order_id)
    await run.events.paid.wait()
    await charge.start(run, order_id)
    await run.sleep("cool-down", {"hours": 1})
    return await ship.start(run, order_id)


@order.v("2.0.0", events={"paid": event()})
async def order_v2(run: Any, order_id: str) -> str:
    await run.events.paid.wait()
    return await ship.start(run, order_id)


@dataclass(frozen=True)
class Seeded:
    """The ids of the runs seeded, by what they are doing."""

    waiting: str  # awaiting_event after reserve
    sleeping: str  # reserve, paid, charge, then sleeping
    paused: str  # as sleeping, then paused
    scheduled: str  # starts tomorrow: no history
    completed: str  # finished: not in flight
    other_version: str  # a run of 2.0.0


async def seed(db_url: str) -> Seeded:
    """Runs of ``order_v1`` (and one of ``order_v2``) in the statuses ``Seeded`` names."""
    async with environment(workflows=[order_v1, order_v2], db=db_url, time_skipping=False) as env:
        completed = await order_v1.start(env.client, "o-completed")
        await env.run_until_idle()
        await completed.events.paid.send()
        await env.advance({"hours": 1})
        waiting = await order_v1.start(env.client, "o-waiting")
        sleeping = await order_v1.start(env.client, "o-sleeping")
        paused = await order_v1.start(env.client, "o-paused")
        await env.run_until_idle()
        for handle in (sleeping, paused):
            await handle.events.paid.send()
        await env.run_until_idle()
        await paused.pause()
        scheduled = await order_v1.with_().opt("trigger", {"delay": {"days": 1}}).start(env.client, "o-later")
        other = await order_v2.start(env.client, "o-other")
        await env.run_until_idle()
        ids = Seeded(waiting.id, sleeping.id, paused.id, scheduled.id, completed.id, other.id)
    ran.clear()
    return ids


def database_digest(db_url: str) -> str:
    """A digest of everything stored: the SQLite file's bytes and times, or every row of every table."""
    if db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        digest = hashlib.sha256()
        for file in sorted(path.parent.glob(path.name + "*")):
            if file.name.endswith("-shm") or (file.name.endswith("-wal") and not file.stat().st_size):
                continue  # SQLite's shared-memory index of the log, and an empty log: any reader makes them
            digest.update(f"{file.name} {file.stat().st_mtime_ns} {file.stat().st_size}".encode())
            digest.update(file.read_bytes())
        return digest.hexdigest()
    with psycopg.connect(db_url, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        parts = []
        for table in tables:
            row = connection.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            ).fetchone()
            parts.append(f"{table}:{row}")
        return "\n".join(parts)
