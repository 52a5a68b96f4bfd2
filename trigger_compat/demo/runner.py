"""``trigger-compat demo``: the shipped catalog's workers running a mix of jobs, shown live.

The demo works in a schema of its own (``tc_demo_<random>``), dropped at the end. Its clock
runs a few minutes ahead of the wall clock, so that a ``*/5`` recurring tick of the catalog
falls a few seconds into the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import sql

from ..core.catalog import Catalog, load_catalog
from ..core.dsn import split_pooled
from ..core.jobs import Job
from ..runtime.clock import SystemClock
from ..runtime.zodworker import ZodWorker
from .handlers import log_job

__all__ = ["DemoSummary", "OffsetClock", "default_catalog_path", "run_demo"]

TICK_AFTER = timedelta(seconds=4)


def default_catalog_path() -> Path:
    """The demo's own catalog (``trigger_compat/demo/catalog.yaml``, package data found with
    :mod:`importlib.resources`): the tasks the mix uses."""
    return Path(str(files("trigger_compat.demo").joinpath("catalog.yaml")))


class OffsetClock(SystemClock):
    """Wall-clock time plus a fixed offset (a ``Clock`` for the worker and its scheduler)."""

    def __init__(self, offset: timedelta) -> None:
        super().__init__(max_slice=1.0)
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


def tick_soon_offset(now: datetime, every_minutes: int = 5) -> timedelta:
    """The offset that puts the next ``*/every_minutes`` boundary ``TICK_AFTER`` from now."""
    start = now + TICK_AFTER
    floor = start.replace(second=0, microsecond=0)
    boundary = floor + timedelta(minutes=(-floor.minute) % every_minutes)
    if boundary < start:
        boundary += timedelta(minutes=every_minutes)
    return boundary - start


@dataclass
class DemoSummary:
    enqueued: int = 0
    started: int = 0
    succeeded: int = 0
    failed_attempts: int = 0
    recurring: int = 0
    by_task: Counter[str] = field(default_factory=Counter)
    left: int = 0


class _Display:
    def __init__(self, out: TextIO, tty: bool, summary: DemoSummary) -> None:
        self.out = out
        self.tty = tty
        self.summary = summary
        self.t0 = time.monotonic()
        self.running = 0
        self.waiting = 0

    def line(self, text: str) -> None:
        stamp = f"[{time.monotonic() - self.t0:5.1f}s]"
        if self.tty:
            self.out.write("\r\x1b[K")
        self.out.write(f"{stamp} {text}\n")
        if self.tty:
            self.status()
        self.out.flush()

    def status(self) -> None:
        if not self.tty:
            return
        s = self.summary
        self.out.write(
            f"\r\x1b[K  running {self.running} · waiting {self.waiting} · done {s.succeeded}"
            f" · failed attempts {s.failed_attempts} · recurring {s.recurring}"
        )
        self.out.flush()


def _handlers(catalog: Catalog) -> dict[str, dict[str, Callable[..., Any]]]:
    async def flaky(payload: Any, job: Job) -> None:
        if job.attempts == 1:
            raise RuntimeError("the first attempt fails on purpose")
        await log_job(payload, job)

    async def slow(payload: Any, job: Job) -> None:
        await asyncio.sleep(0.6)
        await log_job(payload, job)

    async def quick(payload: Any, job: Job) -> None:
        await asyncio.sleep(random.uniform(0.05, 0.3))
        await log_job(payload, job)

    special = {"startRun": flaky, "deliverHttpSourceRequest": slow}
    return {
        name: {i: special.get(i, quick) for i in (*w.tasks, *w.recurring_tasks)}
        for name, w in catalog.workers.items()
    }


async def _enqueue_mix(worker: ZodWorker, now: datetime, display: _Display) -> int:
    items: list[tuple[str, Any, Any]] = [
        ("startRun", {"id": "run_flaky"}, None),
        ("scheduleEmail", {"email": "welcome", "to": "ada@example.com", "name": "Ada"},
         {"runAt": now + timedelta(seconds=3)}),
        ("processCallbackTimeout", {"id": "task_1"}, {"jobKey": "process-callback:task_1",
                                                       "runAt": now + timedelta(seconds=6)}),
        ("performRunExecutionV3", {"id": "run_2", "reason": "EXECUTE_JOB"},
         {"jobKey": "job_run:EXECUTE_JOB:run_2", "priority": -1}),
    ]  # fmt: skip
    items += [("deliverHttpSourceRequest", {"id": "source_1"}, None) for _ in range(3)]
    items += [("indexEndpoint", {"id": f"ep_{n}", "reason": "demo"}, None) for n in range(4)]
    display.line(
        f"enqueuing {len(items)} jobs in one batch: a startRun that fails once then succeeds, "
        "a scheduleEmail delayed 3 s, a keyed processCallbackTimeout delayed 6 s, a priority −1 "
        "performRunExecutionV3, 3 deliverHttpSourceRequest on the named (serial) queue "
        "sources:source_1, 4 indexEndpoint"
    )
    jobs = await worker.enqueue_many(items)
    display.line("enqueuing deliverEvent with jobKey event:evt_1 three times: one job, at +4 s")
    # The same job key three times: one job, moved later each time (debounce).
    for delay in (2, 3, 4):
        await worker.enqueue(
            "deliverEvent",
            {"id": "evt_1"},
            {"jobKey": "event:evt_1", "runAt": now + timedelta(seconds=delay)},
        )
    return len(jobs) + 1


async def run_demo(
    database_url: str,
    *,
    seconds: float,
    out: TextIO,
    tty: bool,
    catalog_path: Path | None = None,
    stop: asyncio.Event | None = None,
) -> DemoSummary:
    """Run the demo for ``seconds`` (or until ``stop`` is set); returns the summary."""
    catalog = load_catalog(catalog_path or default_catalog_path())
    schema = f"tc_demo_{uuid.uuid4().hex[:8]}"
    clock = OffsetClock(tick_soon_offset(datetime.now(UTC)))
    summary = DemoSummary()
    display = _Display(out, tty, summary)
    stop = stop or asyncio.Event()
    handlers = _handlers(catalog)
    workers = [
        ZodWorker(
            name,
            catalog,
            handlers=handlers[name],
            database_url=database_url,
            schema=schema,
            concurrency=4,
            poll_interval=0.25,
            clock=clock,
        )
        for name in catalog.workers
    ]

    def on_start(event: dict[str, Any]) -> None:
        summary.started += 1
        display.running += 1

    def on_success(event: dict[str, Any]) -> None:
        job: Job = event["job"]
        summary.succeeded += 1
        summary.by_task[job.task_identifier] += 1
        display.running -= 1
        queue = f" [queue {job.queue_name}]" if job.queue_name else ""
        key = f" [key {job.key}]" if job.key else ""
        display.line(
            f"✓ {job.task_identifier} #{job.id}{queue}{key} "
            f"(attempt {job.attempts} of {job.max_attempts}, priority {job.priority})"
        )

    def on_error(event: dict[str, Any]) -> None:
        job: Job = event["job"]
        summary.failed_attempts += 1
        display.running -= 1
        display.line(
            f"✗ {job.task_identifier} #{job.id} attempt {job.attempts} of {job.max_attempts} "
            f"failed: {event['error']} — retried with backoff"
        )

    def on_cron(event: dict[str, Any]) -> None:
        jobs = event.get("jobs") or []
        summary.recurring += len(jobs)
        if jobs:
            names = ", ".join(j.task_identifier for j in jobs)
            display.line(f"⏰ recurring tick {event['timestamp']:%H:%M} (demo time): {names}")

    for w in workers:
        w.on("job:start", on_start)
        w.on("job:success", on_success)
        w.on("job:error", on_error)
        w.on("cron:scheduled", on_cron)

    display.line(
        f"schema {schema}; {len(workers)} workers ({', '.join(w.name for w in workers)}); "
        f"demo time is {clock.offset.total_seconds():.0f} s ahead so a */5 tick comes soon"
    )
    started: list[ZodWorker] = []
    try:
        for w in workers:
            await w.initialize()
            started.append(w)
        summary.enqueued = await _enqueue_mix(workers[0], clock.now(), display)
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            display.waiting = await _count(database_url, schema)
            display.status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
    finally:
        await asyncio.gather(*(w.stop(timeout=5) for w in started), return_exceptions=True)
        try:
            summary.left = await _count(database_url, schema)
        finally:
            await _drop(database_url, schema)
    if tty:
        out.write("\r\x1b[K")
    return summary


async def _count(database_url: str, schema: str) -> int:
    async with await psycopg.AsyncConnection.connect(
        split_pooled(database_url)[0], autocommit=True
    ) as conn:
        cur = await conn.execute(
            sql.SQL("select count(*) from {}.jobs where locked_at is null").format(
                sql.Identifier(schema)
            )
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _drop(database_url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        split_pooled(database_url)[0], autocommit=True
    ) as conn:
        await conn.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema))
        )


def format_summary(summary: DemoSummary, elapsed: float) -> str:
    tasks = ", ".join(f"{name} {n}" for name, n in sorted(summary.by_task.items()))
    return (
        f"demo finished after {elapsed:.1f} s: {summary.enqueued} enqueued, "
        f"{summary.succeeded} succeeded, {summary.failed_attempts} failed attempt(s) retried, "
        f"{summary.recurring} recurring job(s) scheduled, {summary.left} left waiting"
        + (f"\n  by task: {tasks}" if tasks else "")
    )
