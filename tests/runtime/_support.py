"""Shared helpers of the runtime tests: bounded waits, catalogs, a settable clock, side tables
and worker processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg
from support.clock import T0, FakeClock
from support.processes import (
    DEADLINE_S,
    q,
    rows,
    wait_sync,
    worker_processes,
)
from support.processes import subprocess_env as _subprocess_env

from trigger_compat.core.catalog import Catalog, load_catalog

__all__ = [
    "DEADLINE_S",
    "T0",
    "FakeClock",
    "create_side_tables",
    "execution_counts",
    "job_row",
    "jobs_table",
    "live_workers",
    "make_catalog",
    "q",
    "rows",
    "start_worker_process",
    "subprocess_env",
    "wait_for",
    "wait_sync",
    "worker_processes",
    "write_catalog",
]

PROCS = Path(__file__).parent / "procs"


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]],
    what: str,
    *,
    timeout: float = DEADLINE_S,
    interval: float = 0.02,
) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def write_catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def make_catalog(tmp_path: Path, text: str) -> Catalog:
    return load_catalog(write_catalog(tmp_path, text))


def jobs_table(db: psycopg.Connection[Any], schema: str) -> list[dict[str, Any]]:
    return rows(db, q(schema, "select * from {s}.jobs order by id"))


def job_row(db: psycopg.Connection[Any], schema: str, job_id: int) -> dict[str, Any] | None:
    found = rows(db, q(schema, "select * from {s}.jobs where id = %s"), job_id)
    return found[0] if found else None


def create_side_tables(db: psycopg.Connection[Any], schema: str) -> None:
    """``executions``: one row per handler run that reached its end; ``runs``: start and end of
    each run of an instrumented handler (database clock); ``gauge``: jobs running right now and
    the most seen at once."""
    db.execute(
        q(
            schema,
            """
            create table {s}.executions (
                id bigserial primary key, job_id bigint not null, worker text, pid integer,
                attempt integer, last_error text);
            create table {s}.runs (
                id bigserial primary key, job_id bigint not null, pid integer,
                started_at timestamptz not null default clock_timestamp(), ended_at timestamptz);
            create table {s}.gauge (one boolean primary key default true, current integer
                not null default 0, peak integer not null default 0);
            insert into {s}.gauge default values;
            """,
        )
    )


def execution_counts(db: psycopg.Connection[Any], schema: str) -> dict[int, int]:
    found = rows(db, q(schema, "select job_id, count(*) as n from {s}.executions group by job_id"))
    return {int(r["job_id"]): int(r["n"]) for r in found}


def subprocess_env(extra_paths: Iterable[Path] = ()) -> dict[str, str]:
    """The environment of a child process of these tests: ``procs/`` (and ``extra_paths``) on
    its import path."""
    return _subprocess_env([PROCS, *extra_paths])


def start_worker_process(
    database_url: str, schema: str, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``procs/worker_proc.py`` in a new process (see its options)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, str(PROCS / "worker_proc.py"), database_url, schema, *args],
        env=subprocess_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def live_workers(db: psycopg.Connection[Any], schema: str) -> int:
    found = rows(db, q(schema, "select count(*) as n from {s}.workers"))
    return int(found[0]["n"])
