"""The scheduler against a real PostgreSQL, driven by a FakeClock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from trigger_compat import AsyncClient
from trigger_compat.core.cron import parse_cron
from trigger_compat.core.schedule import CronItem
from trigger_compat.runtime.events import EventEmitter
from trigger_compat.runtime.scheduler import Scheduler
from trigger_compat.testing.clock import FakeClock

from ._support import T0, eventually, iso, known, rows

M = timedelta(minutes=1)
HOUR_MS = 3_600_000


def cron(name: str, expr: str = "* * * * *", backfill: int = 0, **options: Any) -> CronItem:
    return CronItem(name, parse_cron(expr), backfill, **options)


@pytest.fixture()
async def make(
    database_url: str, schema: str, aclient: AsyncClient
) -> AsyncIterator[Callable[..., Any]]:
    """Build schedulers, each with its own client (connection); all stopped afterwards."""
    made: list[tuple[Scheduler, AsyncClient]] = []

    def factory(items: list[CronItem], clock: FakeClock, **kw: Any) -> Scheduler:
        c = AsyncClient(database_url, schema=schema, pool_size=1)
        s = Scheduler(c, items, clock=clock, **kw)
        made.append((s, c))
        return s

    yield factory
    for s, c in made:
        await s.stop()
        await c.close()


def by_task(db: psycopg.Connection[Any], schema: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows(db, schema):
        out.setdefault(r["task_identifier"], []).append(r)
    return out


async def advance_to(clock: FakeClock, scheds: list[Scheduler], tick: datetime) -> None:
    """Move the clock half a minute past ``tick``; wait until every scheduler handled it."""
    clock.set(tick + timedelta(seconds=30))
    await eventually(
        lambda: all(s.processed is not None and s.processed >= tick for s in scheds),
        what=f"every scheduler to handle {tick}",
    )


async def test_ten_schedulers_one_job_per_tick(
    make: Callable[..., Scheduler], db: psycopg.Connection[Any], schema: str
) -> None:
    clock = FakeClock(T0 - timedelta(seconds=30))
    items = [
        cron("everyMinute"),
        cron("everyFive", "*/5 * * * *", queue_name="five", priority=-2, max_attempts=3),
        cron("halfPast", "30 * * * *"),
        cron("keyed", "*/10 * * * *", job_key="keyed-tick", job_key_mode="replace"),
    ]
    scheds = [make(items, clock, name=f"s{i}") for i in range(10)]
    await asyncio.gather(*(s.start() for s in scheds))  # the same instant for all ten
    for minute in range(60):
        await advance_to(clock, scheds, T0 + minute * M)

    jobs = by_task(db, schema)
    every = jobs["everyMinute"]
    assert len(every) == 60
    assert [r["payload"] for r in every] == [
        {"_cron": {"ts": iso(T0 + m * M), "backfilled": False}} for m in range(60)
    ]
    assert [r["run_at"] for r in every] == [T0 + m * M for m in range(60)]
    five = jobs["everyFive"]
    assert [r["run_at"] for r in five] == [T0 + m * M for m in range(0, 60, 5)]
    assert {(r["queue_name"], r["priority"], r["max_attempts"]) for r in five} == {("five", -2, 3)}
    assert [r["payload"]["_cron"]["ts"] for r in jobs["halfPast"]] == [iso(T0 + 30 * M)]
    # A job key: each tick replaced the waiting job (6 ticks, one row, revision 5).
    (keyed,) = jobs["keyed"]
    assert (keyed["key"], keyed["revision"], keyed["run_at"]) == ("keyed-tick", 5, T0 + 50 * M)
    assert {k: r["last_execution"] for k, r in known(db, schema).items()} == {
        "everyMinute": T0 + 59 * M,
        "everyFive": T0 + 55 * M,
        "halfPast": T0 + 30 * M,
        "keyed": T0 + 50 * M,
    }
    assert sum(len(s.backfilled) for s in scheds) == 0


async def test_late_timer_catches_up_minute_by_minute(
    make: Callable[..., Scheduler], db: psycopg.Connection[Any], schema: str
) -> None:
    clock = FakeClock(T0 - timedelta(seconds=30))
    events = EventEmitter()
    overdue: list[dict[str, Any]] = []
    events.on("cron:overdueTimer", overdue.append)
    scheds = [make([cron("tick")], clock, events=events) for _ in range(3)]
    for s in scheds:
        await s.start()
    await advance_to(clock, scheds, T0 + 9 * M)  # one jump of ten minutes
    assert [r["run_at"] for r in rows(db, schema)] == [T0 + m * M for m in range(10)]
    assert {r["payload"]["_cron"]["backfilled"] for r in rows(db, schema)} == {False}
    assert overdue  # the timer was late


async def test_clock_jump_backwards_rearms_without_duplicates(
    make: Callable[..., Scheduler], db: psycopg.Connection[Any], schema: str
) -> None:
    clock = FakeClock(T0 - timedelta(seconds=30))
    events = EventEmitter()
    premature: list[dict[str, Any]] = []
    events.on("cron:prematureTimer", premature.append)
    s = make([cron("tick")], clock, events=events)
    await s.start()
    await advance_to(clock, [s], T0 + 5 * M)
    await eventually(lambda: clock.sleepers == 1, what="the scheduler to sleep")
    # The timer fires, but before the scheduler looks the clock goes back 20 minutes.
    clock.set(T0 + 6 * M)
    clock.set(T0 - 14 * M)
    await eventually(lambda: premature, what="cron:prematureTimer")
    await eventually(lambda: clock.sleeping_until() == [T0 + 6 * M], what="re-armed")
    clock.advance(minutes=10)  # 11:56: still before the next tick
    assert len(rows(db, schema)) == 6
    await advance_to(clock, [s], T0 + 8 * M)
    assert [r["run_at"] for r in rows(db, schema)] == [T0 + m * M for m in range(9)]

    # A process that starts with its clock behind the last tick schedules nothing twice.
    await s.stop()
    behind = FakeClock(T0 - timedelta(minutes=5, seconds=30))
    again = make([cron("tick", backfill=HOUR_MS)], behind)
    await again.start()
    assert again.backfilled == []
    await advance_to(behind, [again], T0 + 10 * M)
    run_ats = [r["run_at"] for r in rows(db, schema)]
    assert run_ats == [T0 + m * M for m in range(11)]
    assert Counter(run_ats).most_common(1)[0][1] == 1


async def _run_until(
    make: Callable[..., Scheduler], items: list[CronItem], start: datetime, last: datetime
) -> Scheduler:
    clock = FakeClock(start)
    s = make(items, clock)
    await s.start()
    await advance_to(clock, [s], last)
    await s.stop()
    return s


@pytest.mark.parametrize(
    ("period_minutes", "expected_backfill"),
    [
        # downtime 12:06..12:20 (15 ticks); a 10-minute period reaches back to 12:11 only
        (10, [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]),
        # a 1-hour period covers the whole downtime, from the tick after the last one run
        (60, list(range(6, 21))),
    ],
)
async def test_backfill_after_downtime(
    make: Callable[..., Scheduler],
    db: psycopg.Connection[Any],
    schema: str,
    period_minutes: int,
    expected_backfill: list[int],
) -> None:
    def items() -> list[CronItem]:
        return [cron("tick", backfill=period_minutes * 60_000), cron("noFill")]

    await _run_until(make, items(), T0 - timedelta(seconds=30), T0 + 5 * M)
    # Down from 12:05:30 to 12:20:30; then a new process starts.
    clock = FakeClock(T0 + 20 * M + timedelta(seconds=30))
    s = make(items(), clock)
    await s.start()
    backfilled = [r for r in rows(db, schema) if r["payload"]["_cron"]["backfilled"]]
    assert [r["run_at"] for r in backfilled] == [T0 + m * M for m in expected_backfill]
    assert [r["payload"]["_cron"]["ts"] for r in backfilled] == [
        iso(T0 + m * M) for m in expected_backfill
    ]
    assert {r["task_identifier"] for r in backfilled} == {"tick"}
    assert [j.id for j in s.backfilled] == [r["id"] for r in backfilled]  # oldest first
    await advance_to(clock, [s], T0 + 22 * M)
    tick_run_ats = [r["run_at"] for r in rows(db, schema, "task_identifier = 'tick'")]
    assert tick_run_ats == sorted(set(tick_run_ats))
    assert tick_run_ats[-2:] == [T0 + 21 * M, T0 + 22 * M]
    no_fill = [r["run_at"] for r in rows(db, schema, "task_identifier = 'noFill'")]
    assert no_fill == [T0 + m * M for m in [0, 1, 2, 3, 4, 5, 21, 22]]


async def test_new_identifier_is_registered_without_backfill(
    make: Callable[..., Scheduler], db: psycopg.Connection[Any], schema: str
) -> None:
    await _run_until(make, [cron("old")], T0 - timedelta(seconds=30), T0 + 2 * M)
    start = T0 + 30 * M + timedelta(seconds=30)
    clock = FakeClock(start)
    s = make([cron("old"), cron("brandNew", backfill=HOUR_MS)], clock)
    await s.start()
    assert s.backfilled == []
    assert known(db, schema)["brandNew"]["known_since"] == start
    assert known(db, schema)["brandNew"]["last_execution"] is None
    await advance_to(clock, [s], T0 + 31 * M)
    assert [r["run_at"] for r in rows(db, schema, "task_identifier = 'brandNew'")] == [T0 + 31 * M]


async def test_concurrent_backfill_from_many_processes_is_single(
    make: Callable[..., Scheduler], db: psycopg.Connection[Any], schema: str
) -> None:
    await _run_until(make, [cron("tick", backfill=HOUR_MS)], T0 - timedelta(seconds=30), T0)
    clock = FakeClock(T0 + 10 * M + timedelta(seconds=30))
    scheds = [make([cron("tick", backfill=HOUR_MS)], clock) for _ in range(5)]
    await asyncio.gather(*(s.start() for s in scheds))
    run_ats = [r["run_at"] for r in rows(db, schema)]
    assert run_ats == [T0 + m * M for m in range(11)]
    assert sum(len(s.backfilled) for s in scheds) == 10
