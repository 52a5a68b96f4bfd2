"""A handler's writes and its follow-up jobs in one transaction (``helpers.transaction()``)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import AsyncClient
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Helpers, Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from ._support import jobs_table, q, rows


async def test_follow_up_job_commits_with_the_handlers_writes(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    db.execute(q(schema, "create table {s}.done (job_id bigint primary key)"))
    insert = sql.SQL("insert into {}.done values (%s)").format(sql.Identifier(schema))

    async def handler(payload: Any, job: Job, helpers: Helpers) -> None:
        async with helpers.transaction() as tx:
            await tx.execute(insert, [job.id])
            await helpers.add_job("next", {"after": job.id}, tx=tx)
            if payload["fail"]:
                raise RuntimeError("rolled back, follow-up included")

    worker = Worker(aclient, {"first": Task("first", handler)}, options=WorkerOptions(listen=False))
    ok = await aclient.add_job("first", {"fail": False})
    bad = await aclient.add_job("first", {"fail": True}, max_attempts=1)
    assert await worker.run_once() == 2
    assert [r["job_id"] for r in rows(db, q(schema, "select * from {s}.done"))] == [ok.id]
    left = {r["task_identifier"]: r for r in jobs_table(db, schema)}
    assert left["next"]["payload"] == {"after": ok.id}
    assert left["first"]["id"] == bad.id and "rolled back" in left["first"]["last_error"]
