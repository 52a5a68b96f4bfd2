"""Shared helpers of the engine tests: a settable clock and direct looks at the jobs table."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from support.clock import T0, FakeClock

__all__ = ["T0", "FakeClock", "job_row", "jobs_table"]


def jobs_table(db: psycopg.Connection[Any], schema: str) -> list[dict[str, Any]]:
    """Every row of ``<schema>.jobs``, in id order, as the database holds it."""
    with db.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("select * from {}.jobs order by id").format(sql.Identifier(schema)))
        return cur.fetchall()


def job_row(db: psycopg.Connection[Any], schema: str, job_id: int) -> dict[str, Any]:
    with db.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select * from {}.jobs where id = %s").format(sql.Identifier(schema)),
            (job_id,),
        )
        row = cur.fetchone()
    assert row is not None, f"job {job_id} is not in the table"
    return row
