"""``--app cli_app`` for the ``trigger-compat worker`` tests: a task that records its start
in the ``runs`` side table and then runs for ``payload["seconds"]`` seconds."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psycopg
from psycopg import sql

from trigger_compat.core.jobs import Job


async def slow(payload: Any, job: Job) -> None:
    url = os.environ["RUNTIME_TEST_URL"]
    schema = os.environ["RUNTIME_TEST_SCHEMA"]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("insert into {}.runs (job_id, pid) values (%s, %s)").format(
                sql.Identifier(schema)
            ),
            (job.id, os.getpid()),
        )
    await asyncio.sleep(float(payload["seconds"]))


handlers = {"slow": slow}
