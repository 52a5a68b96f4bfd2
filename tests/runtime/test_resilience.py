"""A worker survives its connections being terminated and a full database restart mid-run:
every job still completes exactly once (counted by the handlers, in memory: the database is
what fails here)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import psycopg
from support.servers import restart_server

from trigger_compat import AsyncClient, JobSpec
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from ._support import DEADLINE_S, wait_for

OPTIONS = WorkerOptions(concurrency=4, poll_interval=0.2, rescue_after=20, shutdown_timeout=10)


def _with_app_name(url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(url, application_name=name)


async def _count_jobs(url: str, schema: str) -> int | None:
    """Jobs left in the table, or None while the server cannot answer."""
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=2) as conn:
            cur = await conn.execute(
                psycopg.sql.SQL("select count(*) from {}.jobs").format(
                    psycopg.sql.Identifier(schema)
                )
            )
            row = await cur.fetchone()
            return None if row is None else int(row[0])
    except psycopg.OperationalError:
        return None


async def _drain_through(
    url: str, schema: str, total: int, disrupt: Any, *, disrupt_after: int
) -> tuple[Counter[int], Counter[str]]:
    """Run ``total`` jobs in a worker; call ``disrupt()`` once ``disrupt_after`` have run.
    Returns the runs per job id and the worker's connection events."""
    executed: Counter[int] = Counter()
    events: Counter[str] = Counter()
    gate = asyncio.Event()

    async def handler(payload: Any, job: Job) -> None:
        if len(executed) >= disrupt_after:
            await gate.wait()  # a few jobs are running while the database goes away
        await asyncio.sleep(0.005)
        executed[job.id] += 1

    async with AsyncClient(url, schema=schema) as setup:
        await setup.migrate()
        ids = [j.id for j in await setup.add_jobs([JobSpec(identifier="t", payload={})] * total)]
    client = AsyncClient(_with_app_name(url, f"tcw_{schema}"), schema=schema)
    worker = Worker(client, {"t": Task("t", handler)}, options=OPTIONS)
    for name in ("pool:listen:success", "pool:listen:error"):
        worker.on(name, lambda e: events.update([e["event"]]))
    await worker.start()
    try:
        await wait_for(lambda: len(executed) >= disrupt_after, "the first jobs")
        await wait_for(lambda: events["pool:listen:success"] == 1, "LISTEN")
        await disrupt()
        gate.set()
        await wait_for(lambda: len(executed) == total, "every job to run", timeout=90)

        async def table_empty() -> bool:
            return await _count_jobs(url, schema) == 0

        await wait_for(table_empty, "every job to be settled", timeout=60, interval=0.1)
    finally:
        await asyncio.wait_for(worker.stop(timeout=5), DEADLINE_S)
        await client.close()
    assert sorted(executed) == sorted(ids)
    return executed, events


async def test_terminated_backends_mid_run(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    app = f"tcw_{schema}"

    async def terminate() -> None:
        for _ in range(2):  # the pool and the LISTEN connection, twice over
            found = db.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where application_name = %s",
                (app,),
            ).fetchall()
            assert found, "the worker has connections"
            await asyncio.sleep(0.2)

    executed, events = await _drain_through(database_url, schema, 200, terminate, disrupt_after=40)
    assert set(executed.values()) == {1}
    # The LISTEN connection was lost and re-established.
    assert events["pool:listen:error"] >= 1 and events["pool:listen:success"] >= 2, events


async def test_database_restart_mid_run(private_server: Any) -> None:
    url = str(private_server.get_uri())
    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def restart() -> None:
        await asyncio.to_thread(restart_server, private_server, "fast")

    executed, events = await _drain_through(url, schema, 200, restart, disrupt_after=40)
    assert set(executed.values()) == {1}
    # The LISTEN connection was lost and re-established.
    assert events["pool:listen:error"] >= 1 and events["pool:listen:success"] >= 2, events
