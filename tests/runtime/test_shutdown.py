"""Graceful shutdown: running jobs finish within the shutdown timeout, or are cancelled and
released for an immediate retry elsewhere; a second stop request releases at once; the
``trigger-compat worker`` process exits 0 on SIGTERM and leaves no job locked."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from trigger_compat import AsyncClient, Client
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.tasks import Helpers, Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from ._support import (
    DEADLINE_S,
    PROCS,
    job_row,
    jobs_table,
    q,
    rows,
    subprocess_env,
    wait_for,
    wait_sync,
    write_catalog,
)


def options(shutdown_timeout: float, poll_interval: float = 0.1) -> WorkerOptions:
    return WorkerOptions(
        concurrency=2, poll_interval=poll_interval, rescue_after=30,
        shutdown_timeout=shutdown_timeout,
    )  # fmt: skip


async def test_a_job_finishing_within_the_shutdown_timeout_completes(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    started = asyncio.Event()
    finish = asyncio.Event()
    shutting_down = asyncio.Event()

    async def long(payload: Any, job: Job) -> None:
        started.set()
        await finish.wait()

    worker = Worker(aclient, {"t": Task("t", long)}, options=options(shutdown_timeout=60))
    worker.on("pool:gracefulShutdown", lambda e: shutting_down.set())
    job = await aclient.add_job("t", {})
    await worker.start()
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    stopping = asyncio.create_task(worker.stop())
    await asyncio.wait_for(shutting_down.wait(), DEADLINE_S)
    assert not stopping.done()  # waiting for the running job
    other = await aclient.add_job("t", {})  # no longer fetched
    finish.set()
    await asyncio.wait_for(stopping, DEADLINE_S)
    assert job_row(db, schema, job.id) is None  # completed
    row = job_row(db, schema, other.id)
    assert row is not None and row["attempts"] == 0 and row["locked_at"] is None
    assert rows(db, q(schema, "select * from {s}.workers")) == []


async def test_a_job_outliving_the_shutdown_timeout_is_cancelled_and_released(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    started = asyncio.Event()
    reasons: list[str | None] = []
    finished_elsewhere = asyncio.Event()

    async def long(payload: Any, job: Job, helpers: Helpers) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            reasons.append(helpers.abort_signal.reason)
            raise

    async def quick(payload: Any, job: Job) -> None:
        finished_elsewhere.set()

    worker = Worker(aclient, {"t": Task("t", long)}, options=options(shutdown_timeout=0.3))
    forceful = asyncio.Event()
    worker.on("pool:forcefulShutdown", lambda e: forceful.set())
    job = await aclient.add_job("t", {})
    await worker.start()
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    await asyncio.wait_for(worker.stop(), DEADLINE_S)
    assert forceful.is_set()
    assert reasons == ["the worker is shutting down"]
    row = job_row(db, schema, job.id)
    assert row is not None
    assert row["locked_at"] is None and row["locked_by"] is None
    assert row["attempts"] == 1
    assert row["last_error"] == "the worker shut down before the job finished"
    assert rows(db, q(schema, "select run_at <= now() as due from {s}.jobs"))[0]["due"]

    # Retried elsewhere at once: a worker polling only every minute picks it up on start.
    other = Worker(aclient, {"t": Task("t", quick)}, options=options(30, poll_interval=60))
    await other.start()
    try:
        await asyncio.wait_for(finished_elsewhere.wait(), DEADLINE_S)
    finally:
        await asyncio.wait_for(other.stop(), DEADLINE_S)
    assert jobs_table(db, schema) == []


async def test_a_second_stop_request_releases_at_once(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    started = asyncio.Event()
    shutting_down = asyncio.Event()

    async def long(payload: Any, job: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    worker = Worker(aclient, {"t": Task("t", long)}, options=options(shutdown_timeout=3600))
    worker.on("pool:gracefulShutdown", lambda e: shutting_down.set())
    job = await aclient.add_job("t", {})
    await worker.start()
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    first = asyncio.create_task(worker.stop())
    await asyncio.wait_for(shutting_down.wait(), DEADLINE_S)
    # An hour of grace is left; the second request must not wait for it.
    await asyncio.wait_for(worker.stop(), DEADLINE_S)
    await asyncio.wait_for(first, DEADLINE_S)
    row = job_row(db, schema, job.id)
    assert row is not None and row["locked_at"] is None and row["attempts"] == 1


CLI_CATALOG = """
databaseSchema: {schema}
workers:
  main:
    concurrency: 2
    pollInterval: 100
    shutdownTimeoutInMs: {shutdown_ms}
    tasks:
      slow: {{}}
"""


@contextmanager
def _cli(
    tmp_path: Path, database_url: str, schema: str, shutdown_ms: int
) -> Iterator[subprocess.Popen[str]]:
    """``trigger-compat worker`` in a process of its own, killed at the end if still running."""
    catalog = write_catalog(tmp_path, CLI_CATALOG.format(schema=schema, shutdown_ms=shutdown_ms))
    env = subprocess_env([PROCS])
    env.update(RUNTIME_TEST_URL=database_url, RUNTIME_TEST_SCHEMA=schema, DATABASE_URL=database_url)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "trigger-compat"), "worker", "--catalog",
         str(catalog), "--app", "cli_app"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(DEADLINE_S)


def _start_job(client: Client, db: psycopg.Connection[Any], schema: str, seconds: float) -> int:
    job_id = client.add_job("slow", {"seconds": seconds}).id
    wait_sync(
        lambda: bool(rows(db, q(schema, "select 1 from {s}.runs where job_id = %s"), job_id)),
        "the job to start in the worker process",
    )
    return job_id


def test_cli_worker_exits_0_on_sigterm_and_releases_its_job(
    tmp_path: Path, side: str, database_url: str, db: psycopg.Connection[Any], client: Client
) -> None:
    with _cli(tmp_path, database_url, side, shutdown_ms=300) as proc:
        job_id = _start_job(client, db, side, seconds=3600)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, out
    row = job_row(db, side, job_id)
    assert row is not None and row["attempts"] == 1
    assert row["locked_at"] is None and row["locked_by"] is None
    assert rows(db, q(side, "select * from {s}.workers")) == []


def test_cli_worker_finishes_a_short_job_then_exits_0(
    tmp_path: Path, side: str, database_url: str, db: psycopg.Connection[Any], client: Client
) -> None:
    with _cli(tmp_path, database_url, side, shutdown_ms=60_000) as proc:
        job_id = _start_job(client, db, side, seconds=0.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, out
    assert job_row(db, side, job_id) is None, (job_row(db, side, job_id), out)


def test_cli_worker_second_sigterm_releases_at_once(
    tmp_path: Path, side: str, database_url: str, db: psycopg.Connection[Any], client: Client
) -> None:
    with _cli(tmp_path, database_url, side, shutdown_ms=3_600_000) as proc:
        job_id = _start_job(client, db, side, seconds=3600)
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the first signal is handled
            if "stopping" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, out
    row = job_row(db, side, job_id)
    assert row is not None and row["locked_at"] is None


async def test_a_stopping_worker_keeps_heartbeating_so_its_jobs_are_not_rescued(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """The grace period is longer than rescue_after: a live but stopping worker must not look
    lost to the others."""
    started = asyncio.Event()
    finish = asyncio.Event()
    runs: list[int] = []
    rescued: list[int] = []

    async def long(payload: Any, job: Job) -> None:
        runs.append(job.id)
        started.set()
        await finish.wait()

    quick = WorkerOptions(concurrency=2, poll_interval=0.1, rescue_after=1, shutdown_timeout=30)
    stopping = Worker(aclient, {"t": Task("t", long)}, name="stopping", options=quick)
    watcher = Worker(aclient, {"t": Task("t", long)}, name="watcher", options=quick)
    watcher.on("job:rescued", lambda e: rescued.append(e["job"].id))
    job = await aclient.add_job("t", {})
    await stopping.start()
    await asyncio.wait_for(started.wait(), DEADLINE_S)
    stop = asyncio.create_task(stopping.stop())
    await watcher.start()
    try:
        # Three rescue periods pass while the job runs in the stopping worker.
        beats = rows(db, q(schema, "select now() as t"))[0]["t"]

        def heartbeats_after_3s() -> bool:
            found = rows(
                db,
                q(schema, "select last_heartbeat_at > %s + interval '3 s' as ok from {s}.workers "
                  "where name = 'stopping'"),
                beats,
            )  # fmt: skip
            return bool(found) and bool(found[0]["ok"])

        await wait_for(heartbeats_after_3s, "the stopping worker to heartbeat 3 s later")
        assert rescued == []
        finish.set()
        await asyncio.wait_for(stop, DEADLINE_S)
    finally:
        finish.set()
        await asyncio.wait_for(watcher.stop(), DEADLINE_S)
    assert runs == [job.id]
    assert job_row(db, schema, job.id) is None


async def test_jobs_locked_by_a_lost_fetch_answer_are_released(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str
) -> None:
    """A fetch that committed but whose answer was lost with the connection: after a fetch
    error the worker releases what it holds without knowing, and runs it."""
    done = asyncio.Event()

    async def handler(payload: Any, job: Job) -> None:
        done.set()

    worker = Worker(aclient, {"t": Task("t", handler)}, options=options(30, poll_interval=0.1))
    job = await aclient.add_job("t", {})
    (lost,) = await aclient.fetch_jobs(worker.worker_id, 1)  # the lost answer
    assert lost.id == job.id
    worker._reconcile = True  # as after a failed fetch
    await worker.start()
    try:
        await asyncio.wait_for(done.wait(), DEADLINE_S)
    finally:
        await asyncio.wait_for(worker.stop(), DEADLINE_S)
    assert job_row(db, schema, job.id) is None
