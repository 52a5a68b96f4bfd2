"""``ZodWorker``: one named worker of a catalog, shaped like trigger.dev's ZodWorker.

worker = ZodWorker("workerQueue", "catalog.yaml", database_url=url)

@worker.task("deliverEvent")
async def deliver_event(payload, job):
    ...

await worker.initialize()          # migrate, then run jobs in the background
await worker.enqueue("deliverEvent", {"id": "evt_1"}, {"jobKey": "event:evt_1"})
await worker.stop()
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from os import PathLike
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ..async_client import AsyncClient
from ..core.catalog import (
    CLEANUP_IDENTIFIER,
    Catalog,
    RecurringTask,
    TaskSettings,
    import_handler,
    resolve_catalog,
)
from ..core.jobs import Job
from ..core.options import JobOptions
from ..core.payloads import validate_payload
from ..core.schedule import REPORTER_IDENTIFIER, check_cron_expressions, cron_items
from ..errors import TriggerCompatError
from .clock import Clock, as_clock
from .events import EventEmitter
from .scheduler import Reporter, Scheduler, cleanup_handler, reporter_handler
from .tasks import Handler, Task
from .worker import ForbiddenFlags, Worker, WorkerOptions


class WorkerConfigError(TriggerCompatError):
    """The worker cannot start as configured (unknown worker name, missing handler, …)."""


def _retry_policy(
    settings: TaskSettings, now: Callable[[], datetime]
) -> Callable[[Job, BaseException], datetime | None] | None:
    retry = settings.retry
    if retry is None:
        return None

    def next_retry(job: Job, error: BaseException) -> datetime | None:
        delay = retry.delay_ms(job.attempts, 1.0 + random.random())
        return now() + timedelta(milliseconds=delay)

    return next_retry


def _payload_check(identifier: str, settings: TaskSettings) -> Callable[[Any], None] | None:
    validator = settings.payload_validator()
    if validator is None:
        return None

    def check(payload: Any) -> None:
        validate_payload(validator, identifier, payload)

    return check


def _cron_payload(raw: Any) -> dict[str, Any]:
    """What a recurring-task handler receives: ``{ts: datetime, backfilled: bool}``."""
    cron = raw.get("_cron") if isinstance(raw, dict) else None
    if not isinstance(cron, dict) or not isinstance(cron.get("backfilled"), bool):
        raise ValueError(f"Failed to parse recurring task payload: {raw!r}")
    return {"ts": datetime.fromisoformat(str(cron["ts"])), "backfilled": cron["backfilled"]}


class ZodWorker:
    """A catalog worker: enqueue/dequeue anywhere, ``initialize()`` to run its tasks.

    Handlers come from ``handlers={identifier: fn}``, the ``@worker.task(identifier)``
    decorator, or the catalog's ``handler: "module:function"``, in that order of precedence.
    """

    def __init__(
        self,
        name: str,
        catalog: Catalog | str | PathLike[str],
        *,
        handlers: Mapping[str, Handler] | None = None,
        database_url: str | None = None,
        pool: AsyncConnectionPool | None = None,
        schema: str | None = None,
        forbidden_flags: ForbiddenFlags = None,
        error_handler: Callable[[Job, BaseException], Any] | None = None,
        listen: bool = True,
        rescue_after: float = 30.0,
        concurrency: int | None = None,
        poll_interval: float | None = None,
        tasks: Sequence[str] | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        resolved = resolve_catalog(catalog)
        assert resolved is not None
        self.catalog = resolved
        if name not in self.catalog.workers:
            known = ", ".join(sorted(self.catalog.workers))
            raise WorkerConfigError(f"no worker {name!r} in the catalog (workers: {known})")
        self.name = name
        self.settings = self.catalog.workers[name]
        source = pool if pool is not None else database_url
        if source is None:
            raise WorkerConfigError("give database_url= or pool=")
        # A Clock drives the cron scheduler; its now() (or a plain function) is "now" for
        # run_at defaults, fetching and backoff.
        self.clock = as_clock(clock)
        if isinstance(clock, Clock):
            clock = clock.now
        self.client = AsyncClient(source, schema=schema, catalog=self.catalog, clock=clock)
        self.events = EventEmitter()
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._forbidden_flags = forbidden_flags
        self._error_handler = error_handler
        self._only_tasks = list(tasks) if tasks is not None else None
        self._clock = clock
        self._reporter = reporter
        self.options = WorkerOptions(
            concurrency=concurrency or self.settings.concurrency,
            poll_interval=(poll_interval or self.settings.poll_interval / 1000),
            listen=listen,
            shutdown_timeout=self.settings.shutdown_timeout_in_ms / 1000,
            rescue_after=rescue_after,
            on_final_failure=self.settings.on_final_failure,
        )
        self.worker: Worker | None = None
        self.scheduler: Scheduler | None = None
        self._lock = asyncio.Lock()

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(UTC)

    # -- handlers ----------------------------------------------------------------------

    def task(self, identifier: str) -> Callable[[Handler], Handler]:
        """Decorator registering the handler of ``identifier``."""

        def register(fn: Handler) -> Handler:
            self._check_identifier(identifier)
            self._handlers[identifier] = fn
            return fn

        return register

    def on(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        self.events.on(event, callback)

    def _check_identifier(self, identifier: str) -> None:
        if identifier not in self.settings.tasks and identifier not in (
            self.settings.recurring_tasks
        ):
            raise WorkerConfigError(
                f"worker {self.name!r} has no task or recurring task {identifier!r} in the catalog"
            )

    def _handler(self, identifier: str, ref: str | None) -> Handler:
        if identifier in self._handlers:
            return self._handlers[identifier]
        if ref is not None:
            return import_handler(ref)
        raise WorkerConfigError(
            f"task {identifier!r} of worker {self.name!r} has no handler: add "
            f"`handler: module:function` in the catalog, pass handlers={{{identifier!r}: fn}}, "
            f"or decorate a function with @worker.task({identifier!r})"
        )

    def build_tasks(self) -> dict[str, Task]:
        """The runnable tasks of this worker (every handler resolved, or an error listing
        the missing ones)."""
        for identifier in self._handlers:
            self._check_identifier(identifier)
        tasks: dict[str, Task] = {}
        missing: list[str] = []
        wanted = set(self._only_tasks) if self._only_tasks is not None else None
        for identifier, settings in self.settings.tasks.items():
            if wanted is not None and identifier not in wanted:
                continue
            try:
                handler = self._handler(identifier, settings.handler)
            except WorkerConfigError as exc:
                missing.append(str(exc))
                continue
            tasks[identifier] = Task(
                identifier,
                handler,
                timeout=None if settings.timeout_in_ms is None else settings.timeout_in_ms / 1000,
                next_retry=_retry_policy(settings, self._now),
                check_payload=_payload_check(identifier, settings),
            )
        for identifier, recurring in self.settings.recurring_tasks.items():
            if wanted is not None and identifier not in wanted:
                continue
            try:
                handler = self._handler(identifier, recurring.handler)
            except WorkerConfigError as exc:
                missing.append(str(exc))
                continue
            tasks[identifier] = self._recurring_task(identifier, recurring, handler)
        internal: dict[str, Handler] = {}
        if self.settings.cleanup is not None:
            internal[CLEANUP_IDENTIFIER] = cleanup_handler(
                self.client, self.settings.cleanup, self._reporter
            )
        if self._reporter is not None:
            internal[REPORTER_IDENTIFIER] = reporter_handler(self.client, self._reporter)
        for identifier, handler in internal.items():
            if wanted is None or identifier in wanted:
                tasks[identifier] = Task(
                    identifier,
                    handler,
                    transform_payload=_cron_payload,
                    swallow_final_failure=False,
                )
        if missing:
            raise WorkerConfigError("; ".join(missing))
        return tasks

    def _recurring_task(self, identifier: str, recurring: RecurringTask, handler: Handler) -> Task:
        return Task(
            identifier,
            handler,
            timeout=None if recurring.timeout_in_ms is None else recurring.timeout_in_ms / 1000,
            transform_payload=_cron_payload,
            swallow_final_failure=False,
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> bool:
        """Migrate the schema, apply the catalog's queue limits and start running jobs.
        Idempotent."""
        async with self._lock:
            if self.worker is not None:
                return True
            problems = check_cron_expressions(self.name, self.settings)
            if problems:
                raise WorkerConfigError("; ".join(problems))
            tasks = self.build_tasks()
            await self.client.migrate()
            for queue_name, limit in self.catalog.queues.items():
                await self.client.set_queue_concurrency(queue_name, limit)
            self.worker = Worker(
                self.client,
                tasks,
                name=self.name,
                options=self.options,
                forbidden_flags=self._forbidden_flags,
                error_handler=self._error_handler,
                clock=self._clock,
                events=self.events,
            )
            await self.worker.start()
            self.scheduler = Scheduler(
                self.client,
                cron_items(self.settings, reporter=self._reporter is not None, only=tasks),
                clock=self.clock,
                events=self.events,
                name=self.name,
            )
            try:
                await self.scheduler.start()
            except BaseException:
                await self.worker.stop(timeout=0)
                self.worker = self.scheduler = None
                raise
            return True

    async def stop(self, *, timeout: float | None = None) -> None:
        """Graceful shutdown (see :meth:`Worker.stop`), then close the client."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        worker = self.worker  # not under the lock: a second stop request acts at once
        if worker is not None:
            await worker.stop(timeout=timeout)
        async with self._lock:
            await self.client.close()

    async def run_once(self) -> int:
        """Run every runnable job of this worker's tasks, then return how many ran."""
        tasks = self.build_tasks()
        await self.client.migrate()
        for queue_name, limit in self.catalog.queues.items():
            await self.client.set_queue_concurrency(queue_name, limit)
        worker = Worker(
            self.client,
            tasks,
            name=self.name,
            options=self.options,
            forbidden_flags=self._forbidden_flags,
            error_handler=self._error_handler,
            clock=self._clock,
            events=self.events,
        )
        return await worker.run_once()

    async def wait_stopped(self) -> None:
        if self.worker is not None:
            await self.worker.wait_stopped()

    # -- enqueue -----------------------------------------------------------------------

    async def enqueue(
        self,
        identifier: str,
        payload: Any,
        options: JobOptions | Mapping[str, Any] | None = None,
        *,
        tx: Any = None,
    ) -> Job:
        return await self.client.enqueue(identifier, payload, options, tx=tx)

    async def enqueue_many(self, items: Sequence[Any], *, tx: Any = None) -> list[Job]:
        return await self.client.enqueue_many(items, tx=tx)

    async def dequeue(self, job_key: str, *, tx: Any = None) -> Job | None:
        return await self.client.dequeue(job_key, tx=tx)
