"""Prisma's ``$transaction`` versus psycopg's ``conn.transaction()``: the safe pattern for an
enqueue that must commit with a business write, and the pitfall that loses jobs.

``migration-guide.md`` ("Transactions in psycopg vs Prisma") quotes this file; the tests in
``tests/examples/test_psycopg_transactions.py`` run it against PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import psycopg

from trigger_compat import AsyncClient

from . import callsites

CREATE_JOB_RUNS = "create table if not exists job_runs (id text primary key)"


# The safe pattern: an autocommit connection, and one `async with conn.transaction()` per unit
# of work. The block is a real BEGIN ... COMMIT (ROLLBACK when it raises), like Prisma's
# `$transaction(prisma, async (tx) => ...)`.
async def open_app_connection(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def create_run(queue: AsyncClient, conn: psycopg.AsyncConnection[Any], run_id: str) -> None:
    async with conn.transaction():
        await conn.execute("insert into job_runs (id) values (%s)", (run_id,))
        await callsites.start_run(queue, conn, run_id)  # tx=conn: commits with the row


# The pitfall: a connection without autocommit (psycopg's default). Its first statement opens
# an implicit transaction, so the later `async with conn.transaction()` is only a SAVEPOINT:
# leaving the block releases the savepoint and commits nothing. If the connection is then
# closed (or the process exits) without `commit()`, the run and its job are both gone.
async def create_run_and_forget_to_commit(
    queue: AsyncClient, url: str, run_id: str
) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(url)  # autocommit=False
    await conn.execute("select 1")  # BEGIN, implicitly
    async with conn.transaction():  # SAVEPOINT, not BEGIN
        await conn.execute("insert into job_runs (id) values (%s)", (run_id,))
        await callsites.start_run(queue, conn, run_id)
    return conn  # still inside the implicit transaction: nothing is committed yet
