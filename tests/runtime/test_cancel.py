"""Cancelling jobs from outside (``cancel_jobs``): a waiting job never runs, a running one is
stopped by its worker (notification, or heartbeat as the fallback) and fails for good with
who cancelled it, whatever its handler then does; across processes through the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from trigger_compat import AsyncClient, Client
from trigger_compat.core import worker_ops
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Helpers, Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from ._support import (
    DEADLINE_S,
    execution_counts,
    job_row,
    live_workers,
    q,
    rows,
    start_worker_process,
    subprocess_env,
    wait_for,
    wait_sync,
    worker_processes,
)

FAST = WorkerOptions(concurrency=2, poll_interval=0.1, rescue_after=30, shutdown_timeout=5)


def _failed_for_good(row: dict[str, Any] | None) -> bool:
    return (
        row is not None
        and row["locked_at"] is None
        and row["attempts"] == row["max_attempts"]
        and (row["last_error"] or "").startswith("cancelled by ")
    )


def test_waiting_job_never_runs(client: Client, db: psycopg.Connection[Any], schema: str) -> None:
    job = client.add_job("t", {"a": 1}, max_attempts=5)
    cancelled = client.cancel_job(job.id, reason="not needed")
    assert cancelled is not None and cancelled.id == job.id
    row = job_row(db, schema, job.id)
    assert _failed_for_good(row)
    assert row is not None and row["last_error"].endswith(": not needed")
    assert row["attempts"] == 5
    assert client.fetch_jobs("w", 10) == []
    # Already failed for good, or unknown: nothing to cancel.
    assert client.cancel_job(job.id) is None
    assert client.cancel_jobs([job.id, 10**12]) == []


def test_a_cancelled_job_whose_worker_is_lost_keeps_its_cancel_reason(
    client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    job = client.add_job("t", max_attempts=5)
    client.execute(worker_ops.heartbeat("w-lost", "lost", "host", 1, None), None)
    (fetched,) = client.fetch_jobs("w-lost")
    assert fetched.id == job.id
    client.cancel_jobs([job.id], by="ops", reason="stop it")
    # Its worker dies before it writes the outcome; a rescue then finds it.
    (rescued,) = client.execute(worker_ops.rescue_jobs(timedelta(0)), None)
    assert rescued.id == job.id
    row = job_row(db, schema, job.id)
    assert _failed_for_good(row), row
    assert row is not None and row["last_error"] == "cancelled by ops: stop it"
    assert rows(db, q(schema, "select * from {s}.job_cancellations")) == []


def test_cancel_by_names_the_canceller(client: Client) -> None:
    job = client.add_job("t")
    (cancelled,) = client.cancel_jobs([job.id], by="ops-bot", reason="incident 42")
    assert cancelled.last_error == "cancelled by ops-bot: incident 42"


async def test_running_async_handler_is_cancelled_through_the_notification(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str, database_url: str
) -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def handler(payload: Any, job: Job, helpers: Helpers) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            finished.append(helpers.abort_signal.reason or "")

    # Heartbeats every 200 s: within the deadline only the 'cancel:' notification can tell it.
    options = dataclasses.replace(FAST, rescue_after=600)
    worker = Worker(aclient, {"t": Task("t", handler)}, options=options, conninfo=database_url)
    job = await aclient.add_job("t", max_attempts=3)
    await worker.start()
    try:
        await asyncio.wait_for(started.wait(), DEADLINE_S)
        canceller = AsyncClient(database_url, schema=schema)
        try:
            (cancelled,) = await canceller.cancel_jobs([job.id])
            assert cancelled.locked_at is not None  # it was running
            await wait_for(lambda: _failed_for_good(job_row(db, schema, job.id)), "the cancel")
        finally:
            await canceller.close()
    finally:
        await asyncio.wait_for(worker.stop(timeout=5), 30)
    assert finished and finished[0].startswith("cancelled")
    row = job_row(db, schema, job.id)
    assert row is not None and row["attempts"] == 3 and row["locked_by"] is None


async def test_sync_handler_is_told_and_its_success_does_not_count(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str, database_url: str
) -> None:
    started = threading.Event()

    def handler(payload: Any, job: Job, helpers: Helpers) -> str:
        started.set()
        assert helpers.abort_signal.wait_sync(DEADLINE_S)
        return "done anyway"  # returns normally: the job stays cancelled

    worker = Worker(aclient, {"t": Task("t", handler)}, options=FAST, conninfo=database_url)
    job = await aclient.add_job("t", max_attempts=4)
    await worker.start()
    try:
        await asyncio.get_running_loop().run_in_executor(None, started.wait, DEADLINE_S)
        await aclient.cancel_job(job.id, reason="runaway")
        await wait_for(lambda: _failed_for_good(job_row(db, schema, job.id)), "the cancel")
    finally:
        await asyncio.wait_for(worker.stop(timeout=5), 30)
    row = job_row(db, schema, job.id)
    assert row is not None and row["last_error"].endswith(": runaway") and row["attempts"] == 4


async def test_handler_raising_after_cancel_is_not_retried(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """Without LISTEN or a heartbeat in between, the outcome the worker writes (here a retry)
    still becomes the cancellation: the database decides."""
    go = asyncio.Event()
    started = asyncio.Event()

    async def handler(payload: Any, job: Job) -> None:
        started.set()
        await go.wait()
        raise RuntimeError("boom")

    worker = Worker(
        aclient, {"t": Task("t", handler)}, options=WorkerOptions(concurrency=1, listen=False)
    )
    job = await aclient.add_job("t", max_attempts=5)
    run = asyncio.ensure_future(worker.run_once())
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    await aclient.cancel_job(job.id, by="tester")
    go.set()
    assert await asyncio.wait_for(run, DEADLINE_S) == 1
    row = job_row(db, schema, job.id)
    assert row is not None and row["last_error"] == "cancelled by tester"
    assert row["attempts"] == 5 and row["locked_at"] is None
    assert rows(db, q(schema, "select * from {s}.job_cancellations")) == []


def _cli(database_url: str, schema: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from trigger_compat.cli import main; main()",
            *args,
            "--database-url",
            database_url,
            "--schema",
            schema,
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )


def _cancel_in_another_process(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any],
    *worker_args: str,
) -> None:  # fmt: skip
    proc = start_worker_process(
        database_url, side, "--name", "victim", "--block", "--tasks", "block", *worker_args,
        log=tmp_path / "victim.log",
    )  # fmt: skip
    with worker_processes([proc]):
        wait_sync(lambda: live_workers(db, side) == 1, "the worker process to register")
        job = client.add_job("block", {}, max_attempts=7)
        wait_sync(lambda: bool(rows(db, q(side, "select 1 from {s}.runs"))), "the job to start")
        done = _cli(database_url, side, "jobs", "cancel", str(job.id), "--yes", "--json",
                    "--reason", "stuck")  # fmt: skip
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["cancelled"] == 1 and report["running"] == [job.id]
        wait_sync(lambda: _failed_for_good(job_row(db, side, job.id)), "the worker to stop it")
        row = job_row(db, side, job.id)
        assert row is not None and row["attempts"] == 7
        assert row["last_error"].endswith(": stuck") and "pid" in row["last_error"]
        assert execution_counts(db, side) == {}
        assert proc.poll() is None  # the worker lives on


def test_cancel_from_another_process_through_the_notification(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    # Heartbeats every 200 s: within the deadline only the 'cancel:' notification can tell it.
    _cancel_in_another_process(tmp_path, side, client, database_url, db, "--rescue-after", "600")


def test_cancel_from_another_process_heartbeat_fallback(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    """No LISTEN: the worker learns it from its heartbeat (every rescue_after / 3 s)."""
    _cancel_in_another_process(
        tmp_path, side, client, database_url, db, "--no-listen", "--rescue-after", "1.5"
    )


def test_cli_cancel_unknown_job_exits_1(client: Client, database_url: str, schema: str) -> None:
    done = _cli(database_url, schema, "jobs", "cancel", "999999", "--yes")
    assert done.returncode == 1
    assert "999999" in done.stderr
