"""A worker process for the runtime tests: ``worker_proc.py URL SCHEMA [options]``.

Runs a :class:`Worker` over the schema with instrumented handlers that write to the side
tables of ``tests/runtime/_support.create_side_tables`` through their own connections:

* ``record``: appends an ``executions`` row (after ``payload["hold"]`` seconds, if given);
* ``gauge``: counts itself in ``gauge`` and ``runs`` while it runs; waits until the peak
  reaches ``payload["want_peak"]`` (or ``payload["max_wait"]`` seconds pass), then holds for
  ``payload["hold"]`` seconds;
* ``block``: records its start in ``runs``; with ``--block`` it then never returns, otherwise
  it appends an ``executions`` row.

Stops gracefully on SIGTERM/SIGINT (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from trigger_compat import AsyncClient
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("schema")
    parser.add_argument("--name", default="proc")
    parser.add_argument("--tasks", default="record,gauge,block")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--rescue-after", type=float, default=30.0)
    parser.add_argument("--shutdown-timeout", type=float, default=10.0)
    parser.add_argument("--block", action="store_true")
    parser.add_argument("--no-listen", action="store_true")
    return parser.parse_args()


async def main() -> None:
    args = _parse()
    pid = os.getpid()
    side = AsyncConnectionPool(
        args.url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await side.open(wait=True)

    def stmt(text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(args.schema))

    async def execute(text: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with side.connection() as conn:
            cur = await conn.execute(stmt(text), params)
            return await cur.fetchall() if cur.description is not None else []

    async def record(payload: Any, job: Job) -> None:
        hold = float((payload or {}).get("hold", 0))
        if hold:
            await asyncio.sleep(hold)
        await execute(
            "insert into {s}.executions (job_id, worker, pid, attempt, last_error) "
            "values (%s, %s, %s, %s, %s)",
            (job.id, args.name, pid, job.attempts, job.last_error),
        )

    async def gauge(payload: Any, job: Job) -> None:
        payload = payload or {}
        want = int(payload.get("want_peak", 0))
        deadline = time.monotonic() + float(payload.get("max_wait", 15))
        run = await execute(
            "insert into {s}.runs (job_id, pid) values (%s, %s) returning id", (job.id, pid)
        )
        await execute(
            "update {s}.gauge set current = current + 1, peak = greatest(peak, current + 1)", ()
        )
        while want and time.monotonic() < deadline:
            peak = await execute("select peak from {s}.gauge", ())
            if peak[0][0] >= want:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(float(payload.get("hold", 0.05)))
        await execute("update {s}.gauge set current = current - 1", ())
        await execute(
            "update {s}.runs set ended_at = clock_timestamp() where id = %s", (run[0][0],)
        )

    async def block(payload: Any, job: Job) -> None:
        await execute("insert into {s}.runs (job_id, pid) values (%s, %s)", (job.id, pid))
        if args.block:
            await asyncio.Event().wait()
        await record(payload, job)

    handlers = {"record": record, "gauge": gauge, "block": block}
    tasks = {t: Task(t, handlers[t]) for t in args.tasks.split(",")}
    client = AsyncClient(args.url, schema=args.schema)
    worker = Worker(
        client,
        tasks,
        name=args.name,
        options=WorkerOptions(
            concurrency=args.concurrency,
            poll_interval=args.poll,
            listen=not args.no_listen,
            rescue_after=args.rescue_after,
            shutdown_timeout=args.shutdown_timeout,
        ),
    )
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopping.append(loop.create_task(worker.stop())))
    await worker.start()
    await worker.wait_stopped()
    await asyncio.gather(*stopping)
    await client.close()
    await side.close()


if __name__ == "__main__":
    asyncio.run(main())
