"""A worker process for the fault tests: ``fault_worker.py WORKER_URL SIDE_URL SCHEMA [options]``.

Runs a :class:`Worker` (through ``WORKER_URL``: maybe a proxy, maybe a connection the test
terminates) with one task, ``probe``, whose handler records each execution in the side tables
of ``tests/faults/_harness.py`` through ``SIDE_URL`` (a direct connection, retried across
outages):

* ``starts``: one row per (payload ``p``, attempt) when the handler starts;
* ``ends``: one row per (``p``, attempt) when it ends (outcome ``ok`` or ``error``);
* ``duplicates``: a second, different execution of the same (``p``, attempt);
* ``faults``: every fault this process injects into itself (claimed once per ``p`` and point).

The payload ``{"p": n, "kind": "ok" | "flaky" | "fail", "ms": duration, "kill": {"at": point,
"attempt": a}}`` asks the process to SIGKILL itself at attempt ``a`` of that job, at ``point``:

* ``fetch``: after the fetch that locked the job ran, before its transaction commits
  (only with ``--fetch-hooks``, which runs each fetch in an explicit transaction);
* ``mid``: in the middle of the handler;
* ``after``: after the handler ended, before its outcome is written.

``flaky`` fails its first attempt; ``fail`` fails every attempt. Failed attempts retry at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from trigger_compat import AsyncClient
from trigger_compat.core import ops
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

T = TypeVar("T")
SIDE_DEADLINE_S = 60.0
FETCH_QUERIES = ("fetch_jobs", "settle_and_fetch")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("worker_url")
    parser.add_argument("side_url")
    parser.add_argument("schema")
    parser.add_argument("--name", default="fault")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--rescue-after", type=float, default=2.0)
    parser.add_argument("--fetch-hooks", action="store_true")
    return parser.parse_args()


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Side:
    """The side tables, through a direct pool; every statement is retried across outages."""

    def __init__(self, url: str, schema: str) -> None:
        self.schema = schema
        self.pool = AsyncConnectionPool(
            url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
        )

    async def execute(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        stmt = sql.SQL(text).format(s=sql.Identifier(self.schema))
        end = time.monotonic() + SIDE_DEADLINE_S
        delay = 0.02
        while True:
            try:
                async with self.pool.connection(timeout=5) as conn:
                    cur = await conn.execute(stmt, params)
                    return await cur.fetchall() if cur.description is not None else []
            except (psycopg.OperationalError, PoolTimeout):
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(delay)  # back off while the database is away
                delay = min(delay * 2, 0.25)

    async def record(self, table: str, p: int, attempt: int, values: dict[str, Any]) -> None:
        """Insert the row of (p, attempt) once; a different execution of the same pair (not
        this one's retried insert, which carries the same token) goes to ``duplicates``."""
        token = values["token"]
        cols = ["p", "attempt", *values]
        text = (
            f"insert into {{s}}.{table} ({', '.join(cols)}) values "
            f"({', '.join(['%s'] * len(cols))}) on conflict do nothing"
        )
        await self.execute(text, (p, attempt, *values.values()))
        found = await self.execute(
            f"select token from {{s}}.{table} where p = %s and attempt = %s", (p, attempt)
        )
        if found and found[0][0] != token:
            await self.execute(
                "insert into {s}.duplicates (p, attempt, what, pid) values (%s, %s, %s, %s)",
                (p, attempt, table, os.getpid()),
            )

    async def claim_fault(self, kind: str, p: int) -> bool:
        """True the first time (kind, p) is claimed, by any process."""
        found = await self.execute(
            "insert into {s}.faults (kind, p, pid) values (%s, %s, %s) "
            "on conflict do nothing returning id",
            (kind, p, os.getpid()),
        )
        return bool(found)


def _wants(job: Job, point: str) -> bool:
    kill = job.payload.get("kill") if isinstance(job.payload, dict) else None
    if not isinstance(kill, dict):
        return False
    return kill.get("at") == point and kill.get("attempt") == job.attempts


class FaultClient(AsyncClient):
    """An AsyncClient that can kill its process before a fetch commits, or before the outcome
    of a given job is written."""

    def __init__(self, pool: AsyncConnectionPool, schema: str, side: Side, hooks: bool) -> None:
        super().__init__(pool, schema=schema)
        self.hook_pool = pool
        self.side = side
        self.fetch_hooks = hooks
        self.kill_before_writing: set[int] = set()

    async def execute(self, op: ops.Op[T], tx: psycopg.AsyncConnection[Any] | None = None) -> T:
        if tx is None and self.kill_before_writing.intersection(op.params.get("job_ids") or ()):
            die()
        if tx is None and self.fetch_hooks and op.query in FETCH_QUERIES:
            async with self.hook_pool.connection() as conn, conn.transaction():
                result = await super().execute(op, conn)
                assert isinstance(result, list)
                for job in result:
                    if _wants(job, "fetch") and await self.side.claim_fault(
                        "fetch", job.payload["p"]
                    ):
                        die()  # the transaction that locked the job never commits
                return result
        return await super().execute(op, tx)


async def main() -> None:
    args = _parse()
    pid = os.getpid()
    side = Side(args.side_url, args.schema)
    await side.pool.open(wait=True)
    pool = AsyncConnectionPool(
        args.worker_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    client = FaultClient(pool, args.schema, side, args.fetch_hooks)

    async def probe(payload: dict[str, Any], job: Job) -> None:
        p = int(payload["p"])
        token = uuid.uuid4().hex
        await side.record(
            "starts",
            p,
            job.attempts,
            {
                "token": token,
                "job_id": job.id,
                "pid": pid,
                "worker_id": worker.worker_id,
                "queue_name": job.queue_name,
                "last_error": job.last_error,
            },
        )
        if _wants(job, "mid") and await side.claim_fault("mid", p):
            die()
        await asyncio.sleep(float(payload.get("ms", 5)) / 1000)  # the job's work
        kind = payload.get("kind", "ok")
        failing = kind == "fail" or (kind == "flaky" and job.attempts == 1)
        outcome = "error" if failing else "ok"
        await side.record("ends", p, job.attempts, {"token": token, "pid": pid, "outcome": outcome})
        if _wants(job, "after") and await side.claim_fault("after", p):
            client.kill_before_writing.add(job.id)
        if failing:
            raise RuntimeError(f"payload {p} fails attempt {job.attempts}")

    worker = Worker(
        client,
        {"probe": Task("probe", probe, next_retry=lambda job, exc: datetime.now(UTC))},
        name=args.name,
        options=WorkerOptions(
            concurrency=args.concurrency,
            poll_interval=args.poll,
            rescue_after=args.rescue_after,
            shutdown_timeout=5.0,
        ),
        conninfo=args.worker_url,
    )
    await side.execute(
        "insert into {s}.procs (pid, worker_id, name) values (%s, %s, %s)",
        (pid, worker.worker_id, args.name),
    )
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopping.append(loop.create_task(worker.stop())))
    await worker.start()
    await worker.wait_stopped()
    await asyncio.gather(*stopping)
    await pool.close()
    await side.pool.close()


if __name__ == "__main__":
    asyncio.run(main())
