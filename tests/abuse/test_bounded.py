"""Bounded resources under abuse: a backlog of big payloads, a burst of concurrent enqueues
through one pool, a user's transaction holding a job's row. The full-size versions (a million
100 KiB payloads) are in bench/abuse.py."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from support.processes import q

from trigger_compat import AsyncClient
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

DEADLINE = 60.0
KIB = 1024
MIB = 1024 * KIB
BURST = 2_000


async def eventually(predicate: Any, what: str, timeout: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def count_jobs(db: psycopg.Connection[Any], schema: str, where: str = "true") -> int:
    row = db.execute(q(schema, "select count(*) from {s}.jobs where " + where)).fetchone()
    assert row is not None
    return int(row[0])


def add_big_jobs(db: psycopg.Connection[Any], schema: str, n: int, size: int) -> None:
    """``n`` jobs whose payload holds ``size`` bytes of text, built by the server (nothing
    crosses the wire; the text compresses, so the table stays small)."""
    db.execute(
        q(
            schema,
            "select count(*) from generate_series(1, %s) as i, lateral {s}.add_job("
            "identifier => 'big', payload => jsonb_build_object('i', i, 'blob', "
            "repeat(md5(i::text), %s)), wake => false)",
        ),
        [n, size // 32],
    )


async def test_a_backlog_of_big_payloads_stays_out_of_memory(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """1,000 jobs of 100 KiB each wait (100 MiB of payloads); a worker of concurrency 8
    holds at most 8 of them at a time: never more jobs than free slots are fetched, so the
    peak of the memory Python allocates while draining stays within a few MiB of 8 payloads,
    nowhere near the backlog."""
    n, size, concurrency = 1000, 100 * KIB, 8
    add_big_jobs(db, schema, n, size)
    held: list[int] = []
    done: list[int] = []
    worker: Worker | None = None

    async def handler(payload: Any, job: Job) -> None:
        assert worker is not None
        assert len(payload["blob"]) == size
        held.append(len(worker._running))
        await asyncio.sleep(0)
        done.append(payload["i"])

    worker = Worker(
        aclient,
        {"big": Task("big", handler)},
        options=WorkerOptions(concurrency=concurrency, poll_interval=0.05, listen=False),
    )
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        await worker.start()
        try:
            await eventually(lambda: len(done) == n, f"{n} big jobs to run")
        finally:
            await worker.stop()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert sorted(done) == list(range(1, n + 1))
    assert max(held) <= concurrency  # fetched-but-unfinished jobs never exceed the slots
    backlog = n * size
    # Each held job costs its payload a few times over (the text from libpq, the decoded
    # str, the job's copy): a bound of 4 MiB per slot is generous and still 3x below the
    # backlog.
    print(f"peak {peak / MIB:.1f} MiB for a backlog of {backlog / MIB:.0f} MiB")
    assert peak < concurrency * 4 * MIB < backlog, (peak, backlog)


async def test_a_burst_of_concurrent_enqueues_uses_the_pool_only(
    database_url: str, schema: str, aclient: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    """2,000 add_job calls at once (asyncio.gather) on one client of pool_size 4 (10,000 in
    bench/abuse.py): they
    queue for the pool's connections (for as long as it takes: pool_timeout) and all
    succeed; the database never sees more than 4 of its sessions."""
    tag = f"abuse-{uuid.uuid4().hex[:8]}"
    url = make_conninfo(database_url, application_name=tag)
    peak = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
            while not stop.is_set():
                row = await (
                    await c.execute(
                        "select count(*) from pg_stat_activity where application_name = %s",
                        [tag],
                    )
                ).fetchone()
                assert row is not None
                peak = max(peak, int(row[0]))
                await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    async with AsyncClient(url, schema=schema, pool_size=4, pool_timeout=600) as producer:
        jobs = await asyncio.gather(*(producer.add_job("burst", {"i": i}) for i in range(BURST)))
    stop.set()
    await sampler
    assert len({j.id for j in jobs}) == BURST
    assert count_jobs(db, schema, "task_identifier = 'burst'") == BURST
    assert 1 <= peak <= 4, peak


async def test_a_held_row_does_not_stall_other_fetches(
    database_url: str, aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """A user's transaction holds a keyed job's row (a keyed add_job replacing it, left
    open) and another job's row (SELECT … FOR UPDATE) while a worker runs: every other job
    runs meanwhile; the held jobs run once the transaction ends."""
    keyed = await aclient.add_job("slow", {"i": -1}, job_key="held-key")
    locked = await aclient.add_job("slow", {"i": -2})
    seen: list[int] = []

    async def handler(payload: Any, job: Job) -> None:
        seen.append(payload["i"])

    worker = Worker(
        aclient,
        {"slow": Task("slow", handler), "other": Task("other", handler)},
        options=WorkerOptions(concurrency=4, poll_interval=0.05, listen=False),
    )
    async with await psycopg.AsyncConnection.connect(database_url) as user:
        # The user's transaction: it replaces the keyed job (its row is now locked until
        # commit) and locks another job's row.
        async with AsyncClient(user, schema=schema) as their_client:
            await their_client.add_job(
                "slow", {"i": -3}, job_key="held-key", job_key_mode="replace", tx=user
            )
        await user.execute(
            q(schema, "select 1 from {s}.jobs where id = %s for update"), [locked.id]
        )
        await worker.start()
        try:
            for i in range(200):
                await aclient.add_job("slow" if i % 2 else "other", {"i": i})
            await eventually(lambda: len(seen) >= 200, "the other 200 jobs to run while held")
            assert -1 not in seen and -2 not in seen and -3 not in seen
            assert sorted(seen) == list(range(200))
            await user.commit()  # the held transaction ends
            await eventually(lambda: len(seen) >= 202, "the held jobs to run")
        finally:
            await worker.stop()
    assert sorted(seen) == [-3, -2, *range(200)]
    assert keyed.id  # the keyed job was replaced in place: it ran once, with the new payload
    assert count_jobs(db, schema) == 0
