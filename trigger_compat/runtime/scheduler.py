"""The cron scheduler that runs in every worker process (graphile-worker's ``runCron``).

At start it registers its identifiers in ``known_crontabs`` (new ones without backfill) and
backfills the ticks missed within each item's ``backfillPeriod``, oldest first. Then, at every
minute boundary, it schedules the items whose expression matches: one SQL function call claims
the tick for each identifier and adds the job of each identifier it claimed, in the same
transaction, so however many processes run the scheduler a tick gives exactly one job, and a
crash cannot lose half of one. A late timer processes the expected minute and then catches up
minute by minute (not marked backfilled); a timer that fires early — the clock went back —
sleeps again.

Also here: the handlers of the internal recurring tasks ``__cleanupOldJobs`` and
``__reporter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ..async_client import AsyncClient
from ..core import admin_ops, cron_ops
from ..core.backoff import backoff_delay
from ..core.catalog import CleanupSettings
from ..core.jobs import Job
from ..core.schedule import MINUTE, CronItem, backfill_plan, ceil_minute, due_items
from ..errors import ConfigurationError
from .clock import Clock, SystemClock
from .events import EventEmitter

logger = logging.getLogger("trigger_compat.cron")

Reporter = Callable[[str, dict[str, Any]], Any]

__all__ = ["Reporter", "Scheduler", "cleanup_handler", "reporter_handler"]


class Scheduler:
    """Schedules the jobs of ``items`` through ``client``; time comes from ``clock``."""

    def __init__(
        self,
        client: AsyncClient,
        items: Sequence[CronItem],
        *,
        clock: Clock | None = None,
        events: EventEmitter | None = None,
        name: str = "cron",
    ) -> None:
        names = [i.identifier for i in items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(
                None, f"cron identifiers must be unique (repeated: {duplicates})"
            )
        self.client = client
        self.items = list(items)
        self.clock = clock or SystemClock()
        self.events = events or EventEmitter()
        self.name = name
        self.started_at: datetime | None = None
        self.processed: datetime | None = None
        """The last regular tick handled (scheduled, or found already scheduled)."""
        self.backfilled: list[Job] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Register the identifiers, backfill, then schedule in the background."""
        if self._task is not None or not self.items:
            return
        start = self.clock.now()
        self.started_at = start
        known = await self.client.execute(
            cron_ops.register_crontabs([i.identifier for i in self.items], start), None
        )
        for tick, items in backfill_plan(self.items, known, start):
            self.events.emit(
                "cron:backfill",
                scheduler=self.name,
                timestamp=tick,
                identifiers=[i.identifier for i in items],
            )
            self.backfilled += await self._schedule(tick, items, backfilled=True)
        self._task = asyncio.create_task(self._loop(ceil_minute(start)), name=f"{self.name}-cron")

    async def stop(self) -> None:
        """Stop after the tick being scheduled (if any); never interrupts a claim."""
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    # -- the loop ----------------------------------------------------------------------

    async def _loop(self, next_tick: datetime) -> None:
        while not self._stopping.is_set():
            if self.clock.now() < next_tick:
                await self._sleep_until(next_tick)
                if self._stopping.is_set():
                    return
                now = self.clock.now()
                if now < next_tick:
                    # Woken early: the clock went back. Wait for the tick again.
                    self.events.emit(
                        "cron:prematureTimer", scheduler=self.name, now=now, expected=next_tick
                    )
                    continue
            now = self.clock.now()
            if now - next_tick >= MINUTE:
                self.events.emit(
                    "cron:overdueTimer", scheduler=self.name, now=now, expected=next_tick
                )
            due = due_items(self.items, next_tick)
            if due:
                await self._schedule(next_tick, due, backfilled=False)
            self.processed = next_tick
            next_tick += MINUTE

    async def _sleep_until(self, when: datetime) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep_until(when))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stop.cancel()
            await asyncio.gather(sleeper, stop, return_exceptions=True)

    async def _schedule(
        self, tick: datetime, items: Sequence[CronItem], *, backfilled: bool
    ) -> list[Job]:
        """Claim ``tick`` and add the jobs; a database error is retried with backoff (the
        claim and the jobs are one transaction, so a retry never doubles a tick)."""
        identifiers = [i.identifier for i in items]
        self.events.emit(
            "cron:schedule",
            scheduler=self.name,
            timestamp=tick,
            identifiers=identifiers,
            backfilled=backfilled,
        )
        errors = 0
        while True:
            try:
                jobs = await self.client.execute(
                    cron_ops.schedule_cron_jobs(tick, backfilled, items), None
                )
                break
            except Exception as exc:
                errors += 1
                delay = backoff_delay(errors, base=0.1)
                logger.warning(
                    "[%s] scheduling the tick %s of %s failed (%s); retrying in %.2f s",
                    self.name,
                    tick.isoformat(),
                    ", ".join(identifiers),
                    exc,
                    delay,
                )
                if self._stopping.is_set():
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        self.events.emit(
            "cron:scheduled", scheduler=self.name, timestamp=tick, jobs=jobs, backfilled=backfilled
        )
        if jobs:
            logger.debug(
                "[%s] tick %s: scheduled %s",
                self.name,
                tick.isoformat(),
                ", ".join(j.task_identifier for j in jobs),
            )
        return jobs


# -- internal recurring tasks ----------------------------------------------------------


async def _report(reporter: Reporter, event: str, properties: dict[str, Any]) -> None:
    result = reporter(event, properties)
    if inspect.isawaitable(result):
        await result


def cleanup_handler(
    client: AsyncClient, settings: CleanupSettings, reporter: Reporter | None
) -> Callable[[dict[str, Any], Job], Awaitable[None]]:
    """``__cleanupOldJobs``: delete up to ``maxCount`` permanently failed, unlocked jobs with
    ``run_at < ts − ttl``, then up to ``maxCount`` rows of queues left without jobs; report
    ``cleanup_stats`` (as the original: the jobs only)."""

    async def cleanup_old_jobs(payload: dict[str, Any], job: Job) -> None:
        ts: datetime = payload["ts"]
        expiration = ts - timedelta(milliseconds=settings.ttl)
        result = await client.execute(
            cron_ops.cleanup_old_jobs(expiration, settings.max_count), None
        )
        # The dashboard's throughput history keeps a day.
        await client.execute(admin_ops.prune_throughput(ts - timedelta(days=1)), None)
        # The rows of queues left without jobs (one per delivery when queues are named
        # after entities), up to maxCount; a statement (and transaction) of its own.
        queues = await client.execute(cron_ops.collect_job_queues(settings.max_count), None)
        logger.debug(
            "Cleaned up old jobs: found %d, deleted %d, expirationDate %s; "
            "deleted %d empty queue rows (-1: adds in flight, none)",
            result.found,
            result.deleted,
            expiration.isoformat(),
            queues,
        )
        if reporter is not None:
            await _report(
                reporter,
                "cleanup_stats",
                {
                    "found": result.found,
                    "deleted": result.deleted,
                    "expirationDate": expiration,
                    "ts": ts,
                },
            )

    return cleanup_old_jobs


def reporter_handler(
    client: AsyncClient, reporter: Reporter
) -> Callable[[dict[str, Any], Job], Awaitable[None]]:
    """``__reporter`` (minute 50 of every hour): report ``queue_metrics``."""

    async def report_queue_metrics(payload: dict[str, Any], job: Job) -> None:
        ts: datetime = payload["ts"]
        metrics = await client.execute(cron_ops.queue_metrics(ts - timedelta(hours=1), ts), None)
        await _report(
            reporter,
            "queue_metrics",
            {"addedCount": metrics.added_count, "totalCount": metrics.total_count, "ts": ts},
        )

    return report_queue_metrics
