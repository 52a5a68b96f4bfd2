"""Shared helpers of the cron tests: polling with a deadline and direct looks at the table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from support.clock import T0

__all__ = ["T0", "eventually", "iso", "known", "rows"]


async def eventually(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


def rows(db: psycopg.Connection[Any], schema: str, where: str = "true") -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select * from {}.jobs where " + where + " order by id").format(
                sql.Identifier(schema)
            )
        )
        return cur.fetchall()


def known(db: psycopg.Connection[Any], schema: str) -> dict[str, dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("select * from {}.known_crontabs").format(sql.Identifier(schema)))
        return {r["identifier"]: r for r in cur.fetchall()}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
