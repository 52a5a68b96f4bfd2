"""The client, the worker, cron ticks, the admin CLI and migrations through a real PgBouncer in
transaction pooling mode (2 server connections), and what a pooler adds to the faults: a
server connection killed under it, PgBouncer itself restarted.

Prepared statements and session state break silently there: the first test shows that the
fixture is strict enough to catch them (psycopg's automatic prepare fails through it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from support.clock import T0
from support.pgbouncer import PgBouncer
from support.processes import q, rows

from trigger_compat import AsyncClient, Client
from trigger_compat.cli import main
from trigger_compat.core.cron import parse_cron
from trigger_compat.core.jobs import Job, JobSpec
from trigger_compat.core.migrations import latest_version
from trigger_compat.core.schedule import CronItem
from trigger_compat.errors import DatabaseUnavailableError
from trigger_compat.runtime.scheduler import Scheduler
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions
from trigger_compat.runtime.zodworker import ZodWorker
from trigger_compat.testing.clock import FakeClock

DEADLINE = 30.0


async def eventually(predicate: Any, what: str, timeout: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def count_jobs(db: psycopg.Connection[Any], schema: str, where: str = "true") -> int:
    row = db.execute(q(schema, "select count(*) from {s}.jobs where " + where)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture()
async def pooled(bouncer: PgBouncer, schema: str) -> AsyncIterator[AsyncClient]:
    """A client through PgBouncer, marked as trigger.dev marked it (``?pgbouncer=true``), on a
    migrated schema. Its pool (4) is larger than PgBouncer's (2): client connections share
    server connections transaction by transaction."""
    async with AsyncClient(bouncer.url(marked=True), schema=schema) as c:
        await c.migrate()
        yield c


def test_the_fixture_catches_automatic_prepare(bouncer: PgBouncer) -> None:
    """Without prepare off, psycopg's automatic prepare fails through the pooler within a few
    transactions: a statement prepared on one server connection is missing (or already there)
    on the next."""
    a = psycopg.connect(bouncer.url(), autocommit=True)
    b = psycopg.connect(bouncer.url(), autocommit=True)
    with a, b, pytest.raises(psycopg.errors.ProgrammingError, match="prepared statement"):
        for i in range(20):
            for conn in (a, b):
                with conn.transaction():
                    conn.execute("select %s::int", [i]).fetchone()


def test_the_url_marker_and_the_option(bouncer: PgBouncer, schema: str) -> None:
    assert AsyncClient(bouncer.url(marked=True)).pooled
    assert AsyncClient(bouncer.url(marked=True)).conninfo == bouncer.url()
    assert not AsyncClient(bouncer.url()).pooled
    assert AsyncClient(bouncer.url(), pooled=True).pooled
    assert not AsyncClient(bouncer.url(marked=True), pooled=False).pooled
    # The synchronous client, told by the option.
    with Client(bouncer.url(), schema=schema, pooled=True) as c:
        c.migrate()
        for i in range(30):
            c.add_job("sync", {"i": i})
        assert len(c.fetch_jobs("w", 30)) == 30


async def test_client_calls(pooled: AsyncClient, db: psycopg.Connection[Any], schema: str) -> None:
    """Every kind of producer call, many times each (past psycopg's prepare threshold) and
    from many tasks at once (client connections interleave on 2 server connections)."""

    async def producer(n: int) -> None:
        for i in range(8):
            await pooled.add_job("plain", {"n": n, "i": i})
            await pooled.add_job("keyed", {"n": n}, job_key=f"k{n}", job_key_mode="replace")
            await pooled.add_job("keyed", {"n": n}, job_key=f"p{n}", job_key_mode="preserve_run_at")
            await pooled.add_job("keyed", {"n": n}, job_key=f"d{n}", job_key_mode="unsafe_dedupe")
            await pooled.add_jobs(
                [JobSpec(identifier="batch", payload={"n": n, "i": i, "j": j}) for j in range(3)]
                + [JobSpec(identifier="batch", payload={"n": n}, job_key=f"b{n}")]
            )

    await asyncio.gather(*(producer(n) for n in range(10)))
    assert count_jobs(db, schema, "task_identifier = 'plain'") == 80
    assert count_jobs(db, schema, "task_identifier = 'keyed'") == 30
    assert count_jobs(db, schema, "task_identifier = 'batch'") == 10 * 8 * 3 + 10

    # dequeue / remove_job
    for n in range(10):
        removed = await pooled.remove_job(f"k{n}")
        assert removed is not None
    assert count_jobs(db, schema, "task_identifier = 'keyed'") == 20

    # A caller's transaction: its SQL and its jobs commit together, or not at all.
    db.execute(q(schema, "create table {s}.orders (id int primary key)"))
    for i in range(8):
        async with pooled.transaction() as tx:
            await tx.execute(q(schema, "insert into {s}.orders values (%s)"), [i])
            await tx.add_job("receipt", {"order": i}, job_key=f"r{i}")
    with pytest.raises(RuntimeError):
        async with pooled.transaction() as tx:
            await tx.execute(q(schema, "insert into {s}.orders values (%s)"), [99])
            await tx.add_job("receipt", {"order": 99})
            raise RuntimeError("roll back")
    assert count_jobs(db, schema, "task_identifier = 'receipt'") == 8
    assert db.execute(q(schema, "select count(*) from {s}.orders")).fetchone() == (8,)

    # Fetch and settle through the pooler.
    fetched: list[Job] = []
    while batch := await pooled.fetch_jobs("w1", 50):
        fetched += batch
        assert await pooled.complete_jobs([j.id for j in batch], worker_id="w1")
    assert len(fetched) == 80 + 20 + 250 + 8
    assert count_jobs(db, schema) == 0


def _tasks(seen: list[int]) -> dict[str, Task]:
    async def handler(payload: Any, job: Job) -> None:
        seen.append(payload["i"])
        await asyncio.sleep(0)

    return {"t": Task("t", handler)}


async def test_poll_only_worker_drains_and_warns_once(
    pooled: AsyncClient,
    db: psycopg.Connection[Any],
    schema: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pooled worker with no direct URL polls (one warning, no LISTEN) and drains the jobs
    with several slots; nothing runs twice."""
    await pooled.add_jobs([JobSpec(identifier="t", payload={"i": i}) for i in range(300)])
    seen: list[int] = []
    caplog.set_level(logging.WARNING, logger="trigger_compat.worker")
    worker = Worker(pooled, _tasks(seen), options=WorkerOptions(concurrency=6, poll_interval=0.05))
    await worker.start()
    try:
        assert worker._conninfo is None
        assert not any("listen" in t.get_name() for t in worker._background)
        await eventually(lambda: len(seen) >= 300, "300 jobs to run")
        await pooled.add_job("t", {"i": 300})  # found by polling
        await eventually(lambda: len(seen) >= 301, "a job added later to run")
    finally:
        await worker.stop()
    assert sorted(seen) == list(range(301))
    assert count_jobs(db, schema) == 0
    warnings = [r for r in caplog.records if "no direct_url" in r.getMessage()]
    assert len(warnings) == 1
    listening = db.execute(
        "select count(*) from pg_stat_activity where query ilike 'listen %%' and query like %s",
        [f"%{schema}%"],
    ).fetchone()
    assert listening == (0,)


async def test_worker_with_direct_url_wakes_on_notify(
    bouncer: PgBouncer,
    pooled: AsyncClient,
    database_url: str,
    db: psycopg.Connection[Any],
    schema: str,
) -> None:
    """Queries through the pooler, LISTEN on the direct connection: a job added (through
    the pooler) wakes the worker at once, though its poll interval is an hour."""
    seen: list[int] = []
    worker = Worker(
        pooled,
        _tasks(seen),
        options=WorkerOptions(concurrency=2, poll_interval=3600),
        direct_url=database_url,
    )
    listening = asyncio.Event()
    worker.on("pool:listen:success", lambda _: listening.set())
    await worker.start()
    try:
        await asyncio.wait_for(listening.wait(), DEADLINE)
        # The LISTEN session is a direct backend, not one of PgBouncer's server connections.
        listeners = [
            r["pid"]
            for r in rows(
                db,
                sql.SQL(
                    "select pid from pg_stat_activity where query ilike 'listen %%' "
                    "and query like {}"
                ).format(sql.Literal(f"%{schema}%")),
            )
        ]
        assert len(listeners) == 1
        assert listeners[0] not in bouncer.server_pids()
        for i in range(3):
            await pooled.add_job("t", {"i": i})
            await eventually(lambda i=i: len(seen) > i, f"job {i} to run on NOTIFY")
    finally:
        await worker.stop()
    assert sorted(seen) == [0, 1, 2]


async def test_cron_ticks_through_the_pooler(
    bouncer: PgBouncer, pooled: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """Three schedulers, each with its own pooled client: one job per tick."""
    clock = FakeClock(T0 - timedelta(seconds=30))
    items = [
        CronItem("everyMinute", parse_cron("* * * * *"), 0),
        CronItem("keyed", parse_cron("*/5 * * * *"), 0, job_key="tick", job_key_mode="replace"),
    ]
    clients = [AsyncClient(bouncer.url(marked=True), schema=schema, pool_size=1) for _ in range(3)]
    scheds = [Scheduler(c, items, clock=clock, name=f"s{i}") for i, c in enumerate(clients)]
    try:
        await asyncio.gather(*(s.start() for s in scheds))
        for minute in range(12):
            tick = T0 + timedelta(minutes=minute)
            clock.set(tick + timedelta(seconds=30))
            await eventually(
                lambda tick=tick: all(
                    s.processed is not None and s.processed >= tick for s in scheds
                ),
                f"every scheduler to handle {tick}",
            )
    finally:
        for s in scheds:
            await s.stop()
        for c in clients:
            await c.close()
    assert count_jobs(db, schema, "task_identifier = 'everyMinute'") == 12
    assert count_jobs(db, schema, "task_identifier = 'keyed'") == 1


@pytest.mark.parametrize("marked", [True, False], ids=["pgbouncer=true", "plain-url"])
def test_admin_cli_through_the_pooler(
    bouncer: PgBouncer, db: psycopg.Connection[Any], schema: str, marked: bool
) -> None:
    """The admin commands never prepare a statement, so they work through the pooler with
    or without the URL's marker."""
    runner = CliRunner()
    env = {"DATABASE_URL": bouncer.url(marked=marked), "NO_COLOR": "1"}

    def run(*args: str) -> str:
        result = runner.invoke(main, [*args, "--schema", schema], env=env)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    run("migrate")
    with Client(bouncer.url(), schema=schema, pooled=True) as c:
        specs = [JobSpec(identifier="a", payload={"i": i}, max_attempts=1) for i in range(20)]
        jobs = c.add_jobs(specs)
        failed = c.fetch_jobs("w", 5)
        for j in failed:
            c.fail_job(j.id, "boom", worker_id="w")
    for _ in range(6):  # past psycopg's prepare threshold, had it been on
        run("status")
        assert "a" in run("jobs", "list")
    run("jobs", "show", str(jobs[0].id))
    run("retry", "--yes", *(str(j.id) for j in failed))
    assert count_jobs(db, schema, "attempts = 0") == 20
    run("pause", "--task", "a")
    run("resume", "--task", "a")


async def test_concurrent_migrations_through_the_pooler(
    bouncer: PgBouncer, db: psycopg.Connection[Any], schema: str
) -> None:
    """migrate() takes a transaction-level advisory lock (never a session's), so several
    processes migrating one schema through the pooler serialize and all succeed."""
    clients = [AsyncClient(bouncer.url(marked=True), schema=schema) for _ in range(4)]
    try:
        results = await asyncio.gather(*(c.migrate() for c in clients))
        again = await clients[0].migrate()
    finally:
        for c in clients:
            await c.close()
    assert sorted(v for r in results for v in r) == sorted(
        int(v) for (v,) in db.execute(q(schema, "select version from {s}.migrations")).fetchall()
    )
    assert again == []
    assert max(v for r in results for v in r) == latest_version()


async def test_server_connections_killed_under_the_pooler(
    bouncer: PgBouncer, pooled: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """PgBouncer's server connections are terminated while a pooled worker drains: the
    worker retries, every job runs, none twice."""
    n = 120
    await pooled.add_jobs([JobSpec(identifier="t", payload={"i": i}) for i in range(n)])
    seen: list[int] = []
    worker = Worker(pooled, _tasks(seen), options=WorkerOptions(concurrency=4, poll_interval=0.05))
    await worker.start()
    try:
        kills = 0
        for threshold in (30, 60):
            await eventually(lambda t=threshold: len(seen) >= t, f"{threshold} jobs to run")
            for pid in bouncer.server_pids():
                db.execute("select pg_terminate_backend(%s)", [pid])
                kills += 1
        assert kills >= 2
        await eventually(lambda: count_jobs(db, schema) == 0, "every job to be settled", 90)
    finally:
        await worker.stop()
    assert sorted(seen) == list(range(n))


async def test_pgbouncer_restart(
    private_bouncer: PgBouncer, database_url: str, db: psycopg.Connection[Any], schema: str
) -> None:
    """PgBouncer restarts (every client connection dropped) while a pooled worker drains
    and a producer adds jobs: the worker and the producer's pool reconnect; every job runs
    once."""
    url = private_bouncer.url(marked=True)
    async with AsyncClient(url, schema=schema) as producer:
        await producer.migrate()
        await producer.add_jobs([JobSpec(identifier="t", payload={"i": i}) for i in range(200)])
        seen: list[int] = []
        async with AsyncClient(url, schema=schema) as wclient:
            worker = Worker(
                wclient, _tasks(seen), options=WorkerOptions(concurrency=4, poll_interval=0.05)
            )
            await worker.start()
            try:
                await eventually(lambda: len(seen) >= 50, "50 jobs to run")
                await asyncio.to_thread(private_bouncer.restart)
                # The producer's pooled connections died with PgBouncer: a call on one fails
                # (DatabaseUnavailableError) and the pool drops it; the next call gets a new one.
                added = failures = 0
                for i in range(200, 300):
                    for _ in range(5):
                        try:
                            await producer.add_job("t", {"i": i})
                        except DatabaseUnavailableError:
                            failures += 1
                            continue
                        added += 1
                        break
                assert failures <= 4  # at most once per connection of the producer's pool
                assert added == 100
                await eventually(lambda: count_jobs(db, schema) == 0, "every job to be settled")
            finally:
                await worker.stop()
    assert sorted(seen) == list(range(300))


ZOD_CATALOG = """
workers:
  w:
    concurrency: 3
    pollInterval: 3600000
    tasks:
      greet: {}
"""


async def test_zodworker_as_trigger_dev_ran_it(
    tmp_path: Path,
    bouncer: PgBouncer,
    database_url: str,
    db: psycopg.Connection[Any],
    schema: str,
) -> None:
    """ZodWorker with trigger.dev's two URLs: DATABASE_URL through PgBouncer
    (``?pgbouncer=true``) for migrate, enqueue, fetch and settle; DIRECT_URL for LISTEN. Its
    poll interval is an hour, so jobs that run at once were announced by NOTIFY."""
    path = tmp_path / "catalog.yaml"
    path.write_text(ZOD_CATALOG, encoding="utf-8")
    seen: list[str] = []

    async def greet(payload: Any, job: Job) -> None:
        seen.append(payload["name"])

    zw = ZodWorker(
        "w",
        path,
        handlers={"greet": greet},
        database_url=bouncer.url(marked=True),
        direct_url=database_url,
        schema=schema,
    )
    listening = asyncio.Event()
    zw.on("pool:listen:success", lambda _: listening.set())
    await zw.initialize()
    try:
        await asyncio.wait_for(listening.wait(), DEADLINE)
        later = datetime.now(UTC) + timedelta(hours=1)
        await zw.enqueue("greet", {"name": "later"}, {"jobKey": "later", "runAt": later})
        for i in range(9):
            await zw.enqueue("greet", {"name": f"n{i}"}, {"jobKey": f"k{i}"})
        assert await zw.dequeue("later") is not None
        await eventually(lambda: len(seen) >= 9, "nine jobs to run on NOTIFY")
    finally:
        await zw.stop()
    assert sorted(seen) == [f"n{i}" for i in range(9)]
    assert count_jobs(db, schema) == 0
