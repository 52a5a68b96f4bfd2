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
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from os import PathLike
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ..async_client import AsyncClient
from ..core.catalog import (
    CLEANUP_IDENTIFIER,
    Catalog,
    TaskSettings,
    import_handler,
    resolve_catalog,
)
from ..core.jobs import Job
from ..core.options import JobOptions
from ..core.payloads import parse_payload
from ..core.schedule import REPORTER_IDENTIFIER, check_cron_expressions, cron_items
from ..core.selection import select_tasks
from ..errors import SchemaAheadError, WorkerConfigError
from .clock import Clock, as_clock
from .events import EventEmitter
from .scheduler import Reporter, Scheduler, cleanup_handler, reporter_handler
from .tasks import Handler, Task, connection_of
from .worker import ForbiddenFlags, Worker, WorkerOptions, listen_conninfo

logger = logging.getLogger("trigger_compat.worker")


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


def _payload_parser(identifier: str, settings: TaskSettings) -> Callable[[Any], Any] | None:
    """The stored payload → what the handler receives (None keys dropped, schema defaults
    filled in, validated), as zod's parse did."""
    validator = settings.payload_validator()
    if validator is None:
        return None

    def parse(payload: Any) -> Any:
        return parse_payload(validator, identifier, payload)

    return parse


def _cron_payload(raw: Any) -> dict[str, Any]:
    """What a recurring-task handler receives: ``{ts: datetime, backfilled: bool}``."""
    cron = raw.get("_cron") if isinstance(raw, dict) else None
    if not isinstance(cron, dict) or not isinstance(cron.get("backfilled"), bool):
        raise ValueError(f"Failed to parse recurring task payload: {raw!r}")
    return {"ts": datetime.fromisoformat(str(cron["ts"])), "backfilled": cron["backfilled"]}


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _cron_task(identifier: str, handler: Handler, timeout_in_ms: int | None = None) -> Task:
    """The task of a recurring task (catalog or internal): its handler receives
    ``{ts, backfilled}``, and a final failure is never swallowed."""
    return Task(
        identifier,
        handler,
        timeout=_seconds(timeout_in_ms),
        transform_payload=_cron_payload,
        swallow_final_failure=False,
    )


class ZodWorker:
    """A catalog worker: enqueue/dequeue anywhere, ``initialize()`` to run its tasks.

    Handlers come from ``handlers={identifier: fn}``, the ``@worker.task(identifier)``
    decorator, or the catalog's ``handler: "module:function"``, in that order of precedence.

    Behind PgBouncer in transaction mode (trigger.dev's ``DATABASE_URL`` / ``DIRECT_URL``):
    ``database_url`` goes through the pooler (``?pgbouncer=true`` on it, or ``pooled=True``,
    turns prepared statements off) and ``direct_url`` reaches PostgreSQL directly, for the
    LISTEN connection. A pooled worker without ``direct_url`` polls (one warning).
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
        rescue_after: float | None = None,
        concurrency: int | None = None,
        poll_interval: float | None = None,
        tasks: Sequence[str] | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
        reporter: Reporter | None = None,
        direct_url: str | None = None,
        pooled: bool | None = None,
    ) -> None:
        resolved = resolve_catalog(catalog)
        assert resolved is not None
        self.catalog = resolved
        #: The file :meth:`reload` re-reads (SIGHUP, ``catalog apply``); None: not reloadable.
        self.catalog_path: str | None = None if isinstance(catalog, Catalog) else str(catalog)
        #: Whether a reload may start running tasks added to the catalog whose handler is
        #: known (``handlers=`` or the catalog's ``handler:``), beyond ``tasks=``.
        self.reload_adds_tasks = tasks is None
        self._concurrency_override = concurrency
        self._poll_interval_override = poll_interval
        self._rescue_after_override = rescue_after
        self._reloads: set[asyncio.Task[Any]] = set()
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
        self.client = AsyncClient(
            source, schema=schema, catalog=self.catalog, clock=clock, pooled=pooled
        )
        listen_conninfo(self.client, direct_url)  # a bad direct_url fails here, not later
        self.direct_url = direct_url
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
            rescue_after=(rescue_after or self.settings.rescue_after_in_ms / 1000),
            on_final_failure=self.settings.on_final_failure,
        )
        self.worker: Worker | None = None
        self.scheduler: Scheduler | None = None
        self._lock = asyncio.Lock()

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

    def _missing_handler(self, identifier: str) -> str:
        return (
            f"task {identifier!r} of worker {self.name!r} has no handler: add "
            f"`handler: module:function` in the catalog, pass handlers={{{identifier!r}: fn}}, "
            f"or decorate a function with @worker.task({identifier!r})"
        )

    def build_tasks(self) -> dict[str, Task]:
        """The runnable tasks of this worker (every handler resolved, or an error listing
        the missing ones)."""
        for identifier in self._handlers:
            self._check_identifier(identifier)
        selection = select_tasks(
            self.settings,
            self._handlers,
            only=self._only_tasks,
            reporter=self._reporter is not None,
        )
        tasks: dict[str, Task] = {}
        for identifier in selection.handled:
            ref = selection.refs.get(identifier)
            handler = selection.handlers[identifier] if ref is None else import_handler(ref)
            tasks[identifier] = self._task(identifier, handler)
        for identifier in selection.internal:
            tasks[identifier] = _cron_task(identifier, self._internal_handler(identifier))
        if selection.unhandled:
            raise WorkerConfigError("; ".join(map(self._missing_handler, selection.unhandled)))
        return tasks

    def _task(self, identifier: str, handler: Handler) -> Task:
        settings = self.settings.tasks.get(identifier)
        if settings is None:
            recurring = self.settings.recurring_tasks[identifier]
            return _cron_task(identifier, handler, recurring.timeout_in_ms)
        return Task(
            identifier,
            handler,
            timeout=_seconds(settings.timeout_in_ms),
            next_retry=_retry_policy(settings, self.clock.now),
            transform_payload=_payload_parser(identifier, settings),
        )

    def _internal_handler(self, identifier: str) -> Handler:
        if identifier == CLEANUP_IDENTIFIER:
            assert self.settings.cleanup is not None
            return cleanup_handler(self.client, self.settings.cleanup, self._reporter)
        assert identifier == REPORTER_IDENTIFIER and self._reporter is not None
        return reporter_handler(self.client, self._reporter)

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
            self.worker = await self._prepare()
            self.worker.on_catalog_reload = self.request_reload
            await self.worker.start()
            self.scheduler = Scheduler(
                self.client,
                cron_items(
                    self.settings, reporter=self._reporter is not None, only=self.worker.tasks
                ),
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

    async def _prepare(self) -> Worker:
        """Resolve the tasks, migrate, apply the catalog's queue limits: the worker to run."""
        tasks = self.build_tasks()
        try:
            await self.client.migrate()
        except SchemaAheadError as exc:
            # A newer version migrated the schema (a rolling upgrade): run on it as it is. If
            # it no longer has what this version calls, the worker stops and says why.
            logger.warning("not migrating: %s; running on the schema as it is", exc)
        for queue_name, limit in self.catalog.queues.items():
            await self.client.set_queue_concurrency(queue_name, limit)
        return Worker(
            self.client,
            tasks,
            name=self.name,
            options=self.options,
            forbidden_flags=self._forbidden_flags,
            error_handler=self._error_handler,
            clock=self._clock,
            events=self.events,
            direct_url=self.direct_url,
        )

    # -- live reload -------------------------------------------------------------------

    def request_reload(self) -> None:
        """Reload the catalog in the background (SIGHUP, the ``catalog apply`` notification);
        reloads run one at a time."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload(
        self, catalog: Catalog | str | PathLike[str] | None = None
    ) -> list[str] | None:
        """Re-read the catalog (``catalog``, else :attr:`catalog_path`) and apply it to the
        running worker: concurrency, poll interval, rescue delay (from the next heartbeat),
        queue limits, task settings (timeouts, retry, payload schemas, what ``enqueue``
        merges), the tasks run (removed ones are no longer fetched, added ones run when their
        handler is known) and the recurring tasks.
        Running jobs are never interrupted. A catalog that does not validate is refused: every
        problem is logged with file:line and the running catalog stays. Returns the changes
        (also logged), or None when refused."""
        from ..core.catalog_loader import inspect_catalog
        from ..core.catalog_sync import describe_changes

        source = catalog if catalog is not None else self.catalog_path
        if source is None:
            logger.warning("worker %s: no catalog file to reload", self.name)
            return None
        async with self._lock:
            if isinstance(source, Catalog):
                new = source
                where = "the given catalog"
            else:
                where = str(source)
                report = await asyncio.to_thread(inspect_catalog, source)
                if report.catalog is None:
                    for problem in report.errors:
                        logger.error("%s", problem)
                    logger.error(
                        "worker %s: catalog %s refused (%d error(s)); keeping the running catalog",
                        self.name,
                        where,
                        len(report.errors),
                    )
                    self.events.emit("catalog:refused", name=self.name, problems=report.errors)
                    return None
                new = report.catalog
            if self.name not in new.workers:
                logger.error(
                    "worker %s: catalog %s refused: it has no worker %r; keeping the running "
                    "catalog",
                    self.name,
                    where,
                    self.name,
                )
                return None
            changes = describe_changes(self.name, self.catalog, new)
            old_queues = self.catalog.queues
            self.catalog = new
            self.settings = new.workers[self.name]
            self.client.catalog = new
            await self._apply_reload(old_queues)
        for change in changes:
            logger.info("worker %s: catalog reload: %s", self.name, change)
        if not changes:
            logger.info("worker %s: catalog %s reloaded: nothing changed", self.name, where)
        self.events.emit("catalog:reload", name=self.name, changes=changes)
        return changes

    async def _apply_reload(self, old_queues: Mapping[str, int]) -> None:
        settings = self.settings
        self.options = replace(
            self.options,
            concurrency=self._concurrency_override or settings.concurrency,
            poll_interval=self._poll_interval_override or settings.poll_interval / 1000,
            shutdown_timeout=settings.shutdown_timeout_in_ms / 1000,
            rescue_after=self._rescue_after_override or settings.rescue_after_in_ms / 1000,
            on_final_failure=settings.on_final_failure,
        )
        for queue_name, limit in self.catalog.queues.items():
            if old_queues.get(queue_name) != limit:
                await self.client.set_queue_concurrency(queue_name, limit)
        worker = self.worker
        if worker is None:
            return
        selection = select_tasks(
            settings,
            self._handlers,
            only=None if self.reload_adds_tasks else self._only_tasks,
            reporter=self._reporter is not None,
        )
        tasks: dict[str, Task] = {}
        for identifier in selection.handled:
            ref = selection.refs.get(identifier)
            old = worker.tasks.get(identifier)
            if ref is None:
                handler = selection.handlers[identifier]
            elif old is not None:
                handler = old.handler
            else:
                try:
                    handler = import_handler(ref)
                except Exception as exc:
                    logger.error("task %s: handler %s does not import: %s", identifier, ref, exc)
                    continue
            tasks[identifier] = self._task(identifier, handler)
        for identifier in selection.internal:
            tasks[identifier] = _cron_task(identifier, self._internal_handler(identifier))
        worker.options = self.options
        worker.tasks = tasks
        worker.wake()  # a raised concurrency or a new task: fetch now
        items = cron_items(settings, reporter=self._reporter is not None, only=tasks)
        if self.scheduler is None or self.scheduler.items != items:
            if self.scheduler is not None:
                await self.scheduler.stop()
            self.scheduler = Scheduler(
                self.client, items, clock=self.clock, events=self.events, name=self.name
            )
            await self.scheduler.start()

    async def stop(self, *, timeout: float | None = None) -> None:
        """Graceful shutdown (see :meth:`Worker.stop`), then close the client."""
        for task in list(self._reloads):
            task.cancel()
        if self.scheduler is not None:
            await self.scheduler.stop()
        worker = self.worker  # not under the lock: a second stop request acts at once
        if worker is not None:
            await worker.stop(timeout=timeout)
        async with self._lock:
            await self.client.close()

    async def run_once(self) -> int:
        """Run every runnable job of this worker's tasks, then return how many ran."""
        worker = await self._prepare()
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
        return await self.client.enqueue(identifier, payload, options, tx=connection_of(tx))

    async def enqueue_many(self, items: Sequence[Any], *, tx: Any = None) -> list[Job]:
        return await self.client.enqueue_many(items, tx=connection_of(tx))

    async def dequeue(self, job_key: str, *, tx: Any = None) -> Job | None:
        return await self.client.dequeue(job_key, tx=connection_of(tx))
