"""Recurring tasks inside ZodWorker: failing handlers, cron validation, cleanup, reporter."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from trigger_compat import Job
from trigger_compat.cli import main as cli
from trigger_compat.core.catalog import Catalog, parse_catalog
from trigger_compat.errors import CatalogError
from trigger_compat.runtime.zodworker import WorkerConfigError, ZodWorker
from trigger_compat.testing.clock import FakeClock

from ._support import T0, eventually, iso, rows

M = timedelta(minutes=1)
DAY_MS = 86_400_000


def catalog(text: str) -> Catalog:
    report = parse_catalog(text)
    assert report.catalog is not None, [str(p) for p in report.problems]
    return report.catalog


@pytest.fixture()
async def workers(database_url: str, schema: str) -> AsyncIterator[Callable[..., ZodWorker]]:
    made: list[ZodWorker] = []

    def factory(cat: Catalog, clock: FakeClock, **kw: Any) -> ZodWorker:
        kw.setdefault("poll_interval", 0.05)
        w = ZodWorker("w", cat, database_url=database_url, schema=schema, clock=clock, **kw)
        made.append(w)
        return w

    yield factory
    for w in made:
        await w.stop(timeout=5)


async def test_failing_recurring_handler_retries_while_ticks_keep_their_own_job(
    workers: Callable[..., ZodWorker], db: psycopg.Connection[Any], schema: str
) -> None:
    cat = catalog(
        """
workers:
  w:
    recurringTasks:
      flaky: {match: "* * * * *", options: {maxAttempts: 3}}
"""
    )
    calls: list[tuple[datetime, bool, int]] = []

    async def flaky(payload: dict[str, Any], job: Any) -> None:
        calls.append((payload["ts"], payload["backfilled"], job.attempts))
        raise RuntimeError("always fails")

    clock = FakeClock(T0 - timedelta(seconds=30))
    w = workers(cat, clock, handlers={"flaky": flaky})
    await w.initialize()
    clock.set(T0)  # the 12:00 tick
    first = await eventually(
        lambda: [r for r in rows(db, schema) if r["attempts"] == 1 and r["locked_at"] is None],
        what="the first attempt to fail",
    )
    (job,) = first
    assert job["payload"] == {"_cron": {"ts": iso(T0), "backfilled": False}}
    assert job["last_error"] and "always fails" in job["last_error"]
    # graphile's backoff: exp(attempts) seconds after max(now, run_at).
    assert job["run_at"] == T0 + timedelta(seconds=math.exp(1))
    assert calls == [(T0, False, 1)]

    clock.advance(seconds=3)  # the retry is due; no new tick yet
    await eventually(lambda: len(calls) == 2, what="the retry")
    await eventually(lambda: rows(db, schema)[0]["locked_at"] is None, what="the retry to settle")
    (job,) = rows(db, schema)
    assert job["attempts"] == 2
    # exp(2) seconds after max(now, run_at): now is 12:00:03 by the clock (or earlier by the
    # database's own clock, which is behind the fake 2030 one).
    backoff = timedelta(seconds=math.exp(2))
    assert T0 + timedelta(seconds=math.exp(1)) + backoff <= job["run_at"]
    assert job["run_at"] <= T0 + timedelta(seconds=3) + backoff

    clock.set(T0 + M)  # the 12:01 tick: its own job; the 12:00 job takes its last attempt
    await eventually(lambda: len(calls) == 4, what="the third attempt and the new tick")
    await eventually(
        lambda: all(r["locked_at"] is None for r in rows(db, schema)), what="settled jobs"
    )
    by_tick = {r["payload"]["_cron"]["ts"]: r for r in rows(db, schema)}
    assert set(by_tick) == {iso(T0), iso(T0 + M)}
    assert by_tick[iso(T0)]["attempts"] == 3  # permanently failed, kept (not swallowed)
    assert by_tick[iso(T0 + M)]["attempts"] == 1
    assert by_tick[iso(T0 + M)]["run_at"] == T0 + M + timedelta(seconds=math.exp(1))
    assert sorted(calls) == [(T0, False, 1), (T0, False, 2), (T0, False, 3), (T0 + M, False, 1)]


BAD_CRON = """\
workers:
  w:
    recurringTasks:
      tick:
        match: "*/5 * * * MON"
"""


async def test_invalid_cron_fails_validate_and_initialize_with_the_same_message(
    tmp_path: Path, database_url: str, schema: str
) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(BAD_CRON)
    result = CliRunner().invoke(cli, ["catalog", "validate", str(path)])
    assert result.exit_code == 1
    line = result.output.splitlines()[0]
    message = line.split(" ", 1)[1]  # after "file:line:col "
    assert message == (
        "workers.w.recurringTasks.tick.match: invalid cron expression '*/5 * * * MON': "
        "day of week: weekday names are not supported ('MON'); use numbers 0-7"
    )
    # Loading the file for a worker fails with the same words.
    with pytest.raises(CatalogError) as loading:
        ZodWorker("w", path, database_url=database_url, schema=schema)
    assert message in str(loading.value)

    # A catalog built in code that slipped an invalid expression past validation:
    good = catalog(BAD_CRON.replace("MON", "1"))
    settings = good.workers["w"]
    tick = settings.recurring_tasks["tick"].model_copy(update={"match": "*/5 * * * MON"})
    bad = good.model_copy(
        update={"workers": {"w": settings.model_copy(update={"recurring_tasks": {"tick": tick}})}}
    )
    worker = ZodWorker(
        "w", bad, database_url=database_url, schema=schema, handlers={"tick": lambda p, j: None}
    )
    with pytest.raises(WorkerConfigError) as starting:
        await worker.initialize()
    assert str(starting.value) == message
    assert worker.worker is None and worker.scheduler is None


def _arrange(db: psycopg.Connection[Any], schema: str, spec: dict[str, Any]) -> int:
    """Insert a job row with exactly these columns; return its id."""
    cols = list(spec)
    query = sql.SQL(
        "insert into {}.jobs (task_identifier, {}) values (%s, {}) returning id"
    ).format(
        sql.Identifier(schema),
        sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)),
    )
    row = db.execute(query, ["old", *spec.values()]).fetchone()
    assert row is not None
    return int(row[0])


async def test_cleanup_deletes_exactly_the_expired_failed_unlocked_jobs_and_reports(
    workers: Callable[..., ZodWorker], db: psycopg.Connection[Any], schema: str
) -> None:
    cat = catalog(
        f"""
workers:
  w:
    cleanup: {{frequencyExpression: "0 * * * *", ttl: {DAY_MS}, maxCount: 2}}
"""
    )
    events: list[tuple[str, dict[str, Any]]] = []

    def reporter(event: str, properties: dict[str, Any]) -> None:  # a sync reporter
        events.append((event, properties))

    clock = FakeClock(T0 - timedelta(seconds=30))
    w = workers(cat, clock, reporter=reporter, tasks=["__cleanupOldJobs"])
    await w.initialize()  # migrates
    ts = T0
    dead = {"attempts": 5, "max_attempts": 5}
    ids = {
        "oldest": _arrange(db, schema, {**dead, "run_at": ts - timedelta(days=4)}),
        "older": _arrange(db, schema, {**dead, "run_at": ts - timedelta(days=3)}),
        "old": _arrange(db, schema, {**dead, "run_at": ts - timedelta(days=2)}),  # > maxCount
        "locked": _arrange(
            db,
            schema,
            {**dead, "run_at": ts - timedelta(days=9), "locked_at": ts, "locked_by": "x"},
        ),
        "recent": _arrange(db, schema, {**dead, "run_at": ts - timedelta(hours=12)}),
        "retrying": _arrange(
            db, schema, {"attempts": 2, "max_attempts": 5, "run_at": ts - timedelta(days=9)}
        ),
    }
    ident = sql.Identifier(schema)
    db.execute(
        sql.SQL("insert into {}.job_queues (queue_name) values ('empty:1'), ('empty:2')").format(
            ident
        )
    )
    db.execute(sql.SQL("insert into {}.job_queues (queue_name) values ('busy')").format(ident))
    db.execute(
        sql.SQL("insert into {}.jobs (task_identifier, queue_name) values ('x', 'busy')").format(
            ident
        )
    )
    clock.set(ts)
    await eventually(lambda: events, what="cleanup_stats")
    assert events == [
        (
            "cleanup_stats",
            {"found": 2, "deleted": 2, "expirationDate": ts - timedelta(days=1), "ts": ts},
        )
    ]
    left = {r["id"] for r in rows(db, schema, "task_identifier = 'old'")}
    assert left == {ids["old"], ids["locked"], ids["recent"], ids["retrying"]}
    # Then up to maxCount rows of queues without jobs go (a queue with a job stays).
    remaining = db.execute(
        sql.SQL("select count(*) from {}.job_queues").format(sql.Identifier(schema))
    ).fetchone()
    assert remaining == (1,)


async def test_reporter_queue_metrics_at_minute_50(
    workers: Callable[..., ZodWorker], db: psycopg.Connection[Any], schema: str
) -> None:
    cat = catalog(
        """
workers:
  w:
    tasks:
      noop: {}
"""
    )
    events: list[tuple[str, dict[str, Any]]] = []

    async def reporter(event: str, properties: dict[str, Any]) -> None:  # an async reporter
        events.append((event, properties))

    ts = T0 + 50 * M
    clock = FakeClock(ts - 2 * M - timedelta(seconds=30))
    w = workers(cat, clock, reporter=reporter, handlers={"noop": lambda p, j: None})
    reporter_runs: list[Job] = []  # the reporter's job, seen as it starts

    def on_start(event: dict[str, Any]) -> None:
        if event["job"].task_identifier == "__reporter":
            reporter_runs.append(event["job"])

    w.on("job:start", on_start)
    await w.initialize()
    for created in (ts - timedelta(minutes=59), ts - timedelta(minutes=1), ts - 30 * M):
        _arrange(db, schema, {"created_at": created, "run_at": ts + timedelta(days=1)})
    for created in (ts - timedelta(hours=2), ts - timedelta(hours=1)):
        _arrange(db, schema, {"created_at": created, "run_at": ts + timedelta(days=1)})
    clock.set(ts - M)  # 12:49: nothing
    await eventually(lambda: w.scheduler and w.scheduler.processed == ts - M, what="12:49")
    assert events == []
    clock.set(ts)
    await eventually(lambda: events, what="queue_metrics")
    # The reporter's own job is in the table while it runs; it was created "now" (real time).
    assert events == [("queue_metrics", {"addedCount": 3, "totalCount": 6, "ts": ts})]
    assert [job.run_at for job in reporter_runs] == [ts]
    await eventually(
        lambda: not rows(db, schema, "task_identifier = '__reporter'"), what="reporter job done"
    )
