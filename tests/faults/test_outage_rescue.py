"""After an outage that cut every worker off the database for longer than rescue_after, the
first worker back must not rescue the jobs of the others (alive, running them, and only a
moment behind it in reconnecting): their heartbeats are as old as its own. It waits two
heartbeat intervals before rescuing, so each job still runs once."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from support.processes import DEADLINE_S, q

from trigger_compat import AsyncClient, Job
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from ._proxy import DropProxy

pytestmark = pytest.mark.timeout(120)

RESCUE_AFTER_S = 3.0
OPTIONS = WorkerOptions(concurrency=2, poll_interval=0.2, rescue_after=RESCUE_AFTER_S)


async def _until(predicate: Any, what: str) -> None:
    end = asyncio.get_running_loop().time() + DEADLINE_S
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)  # poll interval


async def test_the_first_worker_back_does_not_rescue_live_workers(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    release = asyncio.Event()
    runs: list[int] = []

    async def hold(payload: Any, job: Job) -> None:
        runs.append(job.id)
        await release.wait()

    def heartbeat_age(worker: Worker) -> float:
        row = db.execute(
            q(
                schema,
                "select extract(epoch from now() - last_heartbeat_at)::float8"
                " from {s}.workers where worker_id = %s",
            ),
            (worker.worker_id,),
        ).fetchone()
        return float("inf") if row is None else float(row[0])

    with DropProxy(database_url) as proxy_a, DropProxy(database_url) as proxy_b:
        async with (
            AsyncClient(proxy_a.url(), schema=schema) as client_a,
            AsyncClient(proxy_b.url(), schema=schema) as client_b,
        ):
            await client_a.migrate()
            job = await client_a.add_job("hold", {})
            worker_a = Worker(client_a, {"hold": Task("hold", hold)}, name="a", options=OPTIONS)
            await worker_a.start()
            try:
                await _until(lambda: runs == [job.id], "worker a to run the job")
                worker_b = Worker(client_b, {}, name="b", options=OPTIONS)
                rescues: list[float] = []  # when each of b's rescue rounds ended
                original = worker_b._rescued

                def counted(rescued: list[Job]) -> None:
                    original(rescued)
                    rescues.append(asyncio.get_running_loop().time())

                worker_b._rescued = counted  # type: ignore[method-assign]
                await worker_b.start()
                try:
                    # Both cut off until a's heartbeat is older than rescue_after.
                    proxy_a.cut()
                    proxy_b.cut()
                    await _until(
                        lambda: heartbeat_age(worker_a) > RESCUE_AFTER_S + 0.5,
                        "a's heartbeat to be older than rescue_after",
                    )
                    # b is back first; a a moment later.
                    proxy_b.restore()
                    await _until(lambda: heartbeat_age(worker_b) < 0.5, "b's next heartbeat")
                    proxy_a.restore()
                    await _until(lambda: heartbeat_age(worker_a) < 0.5, "a's next heartbeat")
                    a_back = asyncio.get_running_loop().time()
                    await _until(lambda: rescues and rescues[-1] > a_back, "b's next rescue")
                    row = db.execute(
                        q(schema, "select locked_by from {s}.jobs where id = %s"), (job.id,)
                    ).fetchone()
                    assert row == (worker_a.worker_id,), "a live worker's job was rescued"
                    release.set()
                    await _until(
                        lambda: (
                            db.execute(q(schema, "select count(*) from {s}.jobs")).fetchone()
                            == (0,)
                        ),
                        "the job to complete",
                    )
                    assert runs == [job.id]
                finally:
                    await worker_b.stop(timeout=5)
            finally:
                release.set()
                await worker_a.stop(timeout=5)
