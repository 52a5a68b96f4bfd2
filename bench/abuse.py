"""Bounded resources under abuse (the full-size versions of tests/abuse/).

    python bench/abuse.py [--database-url URL] [--jobs 1000000] [--size-kib 100]
                          [--concurrency 10] [--burst 10000] [--pool-size 4]

A1  a backlog of --jobs jobs with --size-kib KiB payloads; one worker of --concurrency slots
    drains it. Reported: the backlog's raw payload bytes and its size on disk, drain rate,
    the worker's resident memory before the drain and its peak growth during it (sampled
    every 50 ms from /proc/self/statm), the most jobs it held at once. Baseline, same run:
    a raw-SQL consumer (lock --concurrency ready rows FOR UPDATE SKIP LOCKED in id order, read
    their payloads, delete them) over a copy of the same backlog (id its primary key), with
    the same memory sampling.
    The payloads are text built by the server (``repeat(md5(i), …)``), so they compress:
    1,000,000 × 100 KiB is ~98 GiB raw, a few GiB on disk. Each handler still receives the
    whole 100 KiB decoded payload.
A2  --burst add_job calls at once (asyncio.gather) on one AsyncClient of --pool-size
    connections. Reported: wall time, calls/s, the peak number of the client's sessions in
    pg_stat_activity (sampled every 5 ms). Baseline: the same calls through a raw
    psycopg_pool.AsyncConnectionPool of the same size (``select add_job(...)``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent))
from enqueue import database

from trigger_compat import AsyncClient, Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

KIB = 1024
MIB = 1024 * KIB
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE


class RssSampler:
    """The peak resident memory of this process while it runs (a thread, every 50 ms)."""

    def __init__(self) -> None:
        self.start = rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def q(schema: str, text: str) -> sql.Composed:
    return sql.SQL(text).format(s=sql.Identifier(schema))


def fill(url: str, schema: str, jobs: int, size: int) -> tuple[int, float]:
    """Add the backlog (server-side, 10,000 jobs a transaction); its bytes on disk, seconds."""
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=True) as db:
        for start in range(1, jobs + 1, 10_000):
            end = min(jobs, start + 9_999)
            db.execute(
                q(
                    schema,
                    "select count(*) from generate_series(%s::int, %s::int) as i, lateral "
                    "{s}.add_job(identifier => 'big', payload => jsonb_build_object('i', i, "
                    "'blob', repeat(md5(i::text), %s)), wake => false)",
                ),
                [start, end, size // 32],
            )
        row = db.execute(
            "select pg_total_relation_size(%s::regclass)", [f'"{schema}".jobs']
        ).fetchone()
    assert row is not None
    return int(row[0]), time.monotonic() - t0


async def drain_ours(
    url: str, schema: str, jobs: int, size: int, concurrency: int
) -> dict[str, Any]:
    done = 0
    held = 0
    worker: Worker | None = None

    async def handler(payload: Any, job: Job) -> None:
        nonlocal done, held
        assert worker is not None and len(payload["blob"]) == size
        held = max(held, len(worker._running))
        done += 1

    async with AsyncClient(url, schema=schema) as client:
        worker = Worker(
            client,
            {"big": Task("big", handler)},
            options=WorkerOptions(concurrency=concurrency, poll_interval=0.05, listen=False),
        )
        with RssSampler() as mem:
            t0 = time.monotonic()
            await worker.start()
            while done < jobs:
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - t0
            await worker.stop()
    return {"seconds": seconds, "rss0": mem.start, "growth": mem.peak - mem.start, "held": held}


def drain_raw(url: str, table: str, jobs: int, size: int, concurrency: int) -> dict[str, Any]:
    done = 0
    statement = sql.SQL(
        "delete from {t} where id in (select id from {t} order by id limit %s "
        "for update skip locked) returning payload"
    ).format(t=sql.SQL(table))
    with psycopg.connect(url, autocommit=True) as db, RssSampler() as mem:
        t0 = time.monotonic()
        while done < jobs:
            got = db.execute(statement, [concurrency]).fetchall()
            for (payload,) in got:
                assert len(payload["blob"]) == size
            done += len(got)
            if not got:
                break
        seconds = time.monotonic() - t0
    return {
        "seconds": seconds,
        "rss0": mem.start,
        "growth": mem.peak - mem.start,
        "held": concurrency,
    }


async def peak_sessions(database_url: str, tag: str, stop: asyncio.Event) -> int:
    peak = 0
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        while not stop.is_set():
            cur = await c.execute(
                "select count(*) from pg_stat_activity where application_name = %s", [tag]
            )
            row = await cur.fetchone()
            peak = max(peak, int(row[0]) if row else 0)
            await asyncio.sleep(0.005)
    return peak


async def burst(url: str, schema: str, n: int, pool_size: int, raw: bool) -> dict[str, Any]:
    tag = f"abuse-{uuid.uuid4().hex[:8]}"
    tagged = make_conninfo(url, application_name=tag)
    stop = asyncio.Event()
    sampler = asyncio.create_task(peak_sessions(url, tag, stop))
    t0 = time.monotonic()
    if raw:
        statement = q(schema, "select id from {s}.add_job(identifier => 'raw', payload => %s)")
        async with AsyncConnectionPool(
            tagged, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, timeout=600
        ) as pool:

            async def one(i: int) -> None:
                async with pool.connection() as conn:
                    await conn.execute(statement, [psycopg.types.json.Jsonb({"i": i})])

            await asyncio.gather(*(one(i) for i in range(n)))
    else:
        async with AsyncClient(tagged, schema=schema, pool_size=pool_size, pool_timeout=600) as c:
            await asyncio.gather(*(c.add_job("burst", {"i": i}) for i in range(n)))
    seconds = time.monotonic() - t0
    stop.set()
    return {"seconds": seconds, "peak": await sampler}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--size-kib", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--pool-size", type=int, default=4)
    args = parser.parse_args()
    with database(args.database_url) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    schema = f"bench_abuse_{uuid.uuid4().hex[:8]}"
    size = args.size_kib * KIB
    try:
        asyncio.run(AsyncClient(url, schema=schema).migrate())
        disk, fill_s = fill(url, schema, args.jobs, size)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(
                q(schema, "create table {s}.raw_backlog as select id, payload from {s}.jobs")
            )
            db.execute(q(schema, "alter table {s}.raw_backlog add primary key (id)"))
        raw_table = f'"{schema}".raw_backlog'
        print(
            f"A1 backlog: {args.jobs:,} jobs x {args.size_kib} KiB = "
            f"{args.jobs * size / MIB / 1024:.1f} GiB of payloads raw, {disk / MIB:,.0f} MiB on "
            f"disk (filled in {fill_s:.0f} s)"
        )
        ours = asyncio.run(drain_ours(url, schema, args.jobs, size, args.concurrency))
        base = drain_raw(url, raw_table, args.jobs, size, args.concurrency)
        print(
            f"\n| A1 drain, concurrency {args.concurrency} | jobs/s | RSS before "
            "| peak RSS growth | jobs held at most |"
        )
        print("| --- | --- | --- | --- | --- |")
        for name, r in (("trigger-compat worker", ours), ("raw SQL (baseline)", base)):
            print(
                f"| {name} | {args.jobs / r['seconds']:,.0f} | {r['rss0'] / MIB:.0f} MiB | "
                f"{r['growth'] / MIB:.1f} MiB | {r['held']} |"
            )
        print(
            f"\n| A2 {args.burst:,} add_job at once, pool {args.pool_size} | seconds | calls/s "
            "| peak sessions |"
        )
        print("| --- | --- | --- | --- |")
        for name, raw in (("AsyncClient", False), ("raw psycopg_pool (baseline)", True)):
            r = asyncio.run(burst(url, schema, args.burst, args.pool_size, raw))
            print(
                f"| {name} | {r['seconds']:.1f} | {args.burst / r['seconds']:,.0f} | {r['peak']} |"
            )
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(q(schema, "drop schema if exists {s} cascade"))


if __name__ == "__main__":
    main()
