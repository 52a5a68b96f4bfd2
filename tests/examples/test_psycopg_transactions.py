"""examples/psycopg_transactions.py: the safe pattern keeps a job atomic with its business
write; the pitfall (an implicit transaction, then a savepoint, then no commit) loses both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from examples.psycopg_transactions import (
    CREATE_JOB_RUNS,
    create_run,
    create_run_and_forget_to_commit,
    open_app_connection,
)
from trigger_compat import AsyncClient
from trigger_compat.testing.plugin import TestQueue


@pytest.fixture()
def app_url(tc_queue: TestQueue) -> str:
    """The application's database URL, its tables in the test's own schema."""
    url = make_conninfo(tc_queue.database_url, options=f"-c search_path={tc_queue.schema}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(CREATE_JOB_RUNS)
    return url


@pytest.fixture()
async def queue(tc_queue: TestQueue) -> AsyncIterator[AsyncClient]:
    async with tc_queue.async_client() as client:
        yield client


def runs(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute("select id from job_runs order by id").fetchall()]


async def test_safe_pattern_commits_the_row_and_its_job_together(
    app_url: str, queue: AsyncClient, tc_queue: TestQueue
) -> None:
    conn = await open_app_connection(app_url)
    try:
        await create_run(queue, conn, "run_1")
        # Committed at the end of the block: visible to every other connection at once.
        assert runs(app_url) == ["run_1"]
        tc_queue.assert_enqueued("startRun", {"id": "run_1"}, count=1)

        with pytest.raises(psycopg.errors.UniqueViolation):
            await create_run(queue, conn, "run_1")  # the insert fails: the block rolls back
        tc_queue.assert_enqueued("startRun", count=1)  # no second job

        await create_run(queue, conn, "run_2")  # the connection is usable again
    finally:
        await conn.close()
    assert runs(app_url) == ["run_1", "run_2"]
    tc_queue.assert_enqueued("startRun", count=2)


async def test_pitfall_a_savepoint_inside_an_implicit_transaction_is_lost_without_commit(
    app_url: str, queue: AsyncClient, tc_queue: TestQueue
) -> None:
    conn = await create_run_and_forget_to_commit(queue, app_url, "run_1")
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    tc_queue.assert_not_enqueued("startRun")  # the block ended, yet nothing is committed
    await conn.close()  # what a process exit does: no commit
    assert runs(app_url) == []
    tc_queue.assert_not_enqueued("startRun")  # the job is gone with the row


async def test_pitfall_repaired_by_an_explicit_commit(
    app_url: str, queue: AsyncClient, tc_queue: TestQueue
) -> None:
    conn: psycopg.AsyncConnection[Any] = await create_run_and_forget_to_commit(
        queue, app_url, "run_1"
    )
    await conn.commit()
    await conn.close()
    assert runs(app_url) == ["run_1"]
    tc_queue.assert_enqueued("startRun", {"id": "run_1"}, count=1)
