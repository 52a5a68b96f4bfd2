"""A fault at a chosen moment, in one worker process: the fetch loop loses its connection while
an outcome is being written. When it reconnects it releases the jobs it does not know it holds
(a fetch whose answer was lost); a finished job whose outcome is still being written must not
be one of them, or it would run again."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from support.processes import DEADLINE_S

from trigger_compat import AsyncClient
from trigger_compat.core import ops
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

T = TypeVar("T")
FETCHES = ("fetch_jobs", "settle_and_fetch")


class StagedClient(AsyncClient):
    """Holds the first outcome write until the fetch loop has failed a fetch (its connection
    is terminated under it) and then released its unknown jobs."""

    def __init__(self, pool: AsyncConnectionPool, schema: str, url: str) -> None:
        super().__init__(pool, schema=schema)
        self.pool = pool
        self.url = url
        self.writing = asyncio.Event()
        self.reconciled = asyncio.Event()
        self.failed_fetch = False

    async def execute(self, op: ops.Op[T], tx: psycopg.AsyncConnection[Any] | None = None) -> T:
        if tx is not None:
            return await super().execute(op, tx)
        if op.query == "settle_jobs" and not self.writing.is_set():
            self.writing.set()
            await asyncio.wait_for(self.reconciled.wait(), DEADLINE_S)
        if op.query in FETCHES and self.writing.is_set() and not self.failed_fetch:
            self.failed_fetch = True
            async with self.pool.connection() as conn:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as k:
                    await k.execute("select pg_terminate_backend(%s)", (conn.info.backend_pid,))
                return await super().execute(op, conn)  # fails: the connection is gone
        result = await super().execute(op, tx)
        if op.query == "release_unknown_jobs":
            self.reconciled.set()
        return result


async def test_an_outcome_being_written_is_not_released(
    database_url: str, aclient: AsyncClient, schema: str
) -> None:
    runs: Counter[int] = Counter()

    async def handler(payload: Any, job: Job) -> None:
        runs[job.id] += 1

    job = await aclient.add_job("t", {})
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    client = StagedClient(pool, schema, database_url)
    options = WorkerOptions(concurrency=2, poll_interval=0.3, listen=False, rescue_after=30)
    worker = Worker(client, {"t": Task("t", handler)}, options=options)
    await worker.start()
    try:
        await asyncio.wait_for(client.reconciled.wait(), DEADLINE_S)
        assert client.failed_fetch

        async def settled() -> bool:
            return await aclient.get_job(job.id) is None

        end = asyncio.get_running_loop().time() + DEADLINE_S
        while not await settled():
            assert asyncio.get_running_loop().time() < end, "the job was never settled"
            await asyncio.sleep(0.02)
    finally:
        await asyncio.wait_for(worker.stop(timeout=5), DEADLINE_S)
        await pool.close()
    assert runs == {job.id: 1}
