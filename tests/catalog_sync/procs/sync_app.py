"""``--app sync_app`` for the catalog reload tests: each handler records its run in the
``runs`` side table (job id, pid); ``hold`` then runs for ``payload["seconds"]`` seconds."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat.core.jobs import Job


async def _record(job: Job) -> None:
    url = os.environ["SYNC_TEST_URL"]
    schema = os.environ["SYNC_TEST_SCHEMA"]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("insert into {}.runs (job_id, pid) values (%s, %s)").format(
                sql.Identifier(schema)
            ),
            (job.id, os.getpid()),
        )


async def hold(payload: Any, job: Job) -> None:
    await _record(job)
    await asyncio.sleep(float(payload.get("seconds", 0)))


async def count(payload: Any, job: Job) -> None:
    await _record(job)


handlers = {"hold": hold, "count": count}
