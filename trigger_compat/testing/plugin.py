"""A pytest plugin for testing code that enqueues and handles trigger-compat jobs.

Installed with the package (entry point ``pytest11``), it adds these fixtures:

``tc_queue``
    A :class:`TestQueue`: its own PostgreSQL schema (migrated, dropped afterwards), a
    :class:`~trigger_compat.testing.clock.FakeClock` and a sync :class:`Client` on both, with
    ``assert_enqueued`` / ``assert_not_enqueued`` and ``drain()``, which runs the runnable jobs
    inline, one at a time, in the order a worker would (priority, run_at, id). Unique jobs and
    ``pause``/``resume`` behave as on a real queue (the queue is a real schema).
``tc_database_url``
    The server: ``TRIGGER_COMPAT_TEST_DATABASE_URL``, else ``DATABASE_URL``, else the embedded
    PostgreSQL (the ``embedded`` extra). Override the fixture to choose another.
``tc_catalog``
    The catalog ``tc_queue`` uses: the ini option ``trigger_compat_catalog`` (relative to the
    rootdir), else ``catalog.yaml`` in the rootdir if there is one. Override it to return a
    path or a :class:`~trigger_compat.core.catalog.Catalog`.
``tc_handlers``
    ``{identifier: handler}`` for ``drain()`` (default: none; catalog ``handler:`` entries are
    used too). Override it, or pass ``handlers=`` to ``drain()``.

Every fixture name starts with ``tc_`` so that it never shadows a fixture of your own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from ..async_client import AsyncClient
    from ..client import Client, Transaction
    from ..core.catalog import Catalog
    from ..core.jobs import Job
    from ..core.schedule import CronItem
    from .clock import FakeClock

__all__ = ["DrainResult", "JobRun", "TestQueue"]

T = TypeVar("T")

_OPTION_NAMES = {
    "runAt": "run_at",
    "jobKey": "key",
    "job_key": "key",
    "key": "key",
    "queueName": "queue_name",
    "maxAttempts": "max_attempts",
    "run_at": "run_at",
    "queue_name": "queue_name",
    "max_attempts": "max_attempts",
    "priority": "priority",
    "flags": "flags",
    "attempts": "attempts",
}


def _is_subset(expected: Any, actual: Any) -> bool:
    """``expected`` is contained in ``actual``: dicts by their keys (recursively), anything
    else by equality."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _is_subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def _job_value(job: Job, column: str) -> Any:
    value = getattr(job, column)
    if column == "flags":
        return sorted(value) if value else []
    return value


def _wanted_value(column: str, value: Any) -> Any:
    if column == "flags":
        return sorted(value or [])
    return value


def _describe(job: Job) -> str:
    parts = [f"#{job.id} {job.task_identifier} {job.payload!r}"]
    if job.key is not None:
        parts.append(f"jobKey={job.key!r}")
    if job.queue_name is not None:
        parts.append(f"queueName={job.queue_name!r}")
    parts.append(f"runAt={job.run_at.isoformat()}")
    parts.append(f"priority={job.priority}")
    parts.append(f"attempts={job.attempts}/{job.max_attempts}")
    if job.flags:
        parts.append(f"flags={sorted(job.flags)!r}")
    if job.last_error:
        parts.append(f"last_error={job.last_error!r}")
    return " ".join(parts)


@dataclass(frozen=True)
class JobRun:
    """One run of one job during :meth:`TestQueue.drain`."""

    job: Job
    outcome: str
    """``complete``, ``retry``, ``cancel``, ``snooze``, ``delete`` or ``release``."""
    error: BaseException | None = None

    @property
    def identifier(self) -> str:
        return self.job.task_identifier


class DrainResult(list[JobRun]):
    """The runs of a :meth:`TestQueue.drain`, in the order they ran."""

    @property
    def identifiers(self) -> list[str]:
        return [r.identifier for r in self]

    @property
    def failed(self) -> list[JobRun]:
        return [r for r in self if r.error is not None]


def _run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, also when this thread already runs an
    event loop (an async test calling a sync helper): then it runs on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


class TestQueue:
    """An isolated queue for one test. See the module documentation."""

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(
        self,
        database_url: str,
        schema: str,
        *,
        catalog: Catalog | str | os.PathLike[str] | None = None,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        from ..client import Client
        from ..core.catalog import resolve_catalog
        from .clock import FakeClock

        self.database_url = database_url
        self.schema = schema
        self.catalog = resolve_catalog(catalog)
        self.handlers: dict[str, Callable[..., Any]] = dict(handlers or {})
        self.clock = clock or FakeClock(datetime.now(UTC))
        self.client: Client = Client(
            database_url, schema=schema, catalog=self.catalog, clock=self.clock
        )
        """A sync client on this queue's schema, catalog and clock."""
        self.client.migrate()

    # -- clients -------------------------------------------------------------------------

    def async_client(self) -> AsyncClient:
        """A new :class:`AsyncClient` on this queue (schema, catalog, clock); close it (``async
        with``) when done."""
        from ..async_client import AsyncClient

        return AsyncClient(
            self.database_url, schema=self.schema, catalog=self.catalog, clock=self.clock
        )

    def enqueue(self, identifier: str, payload: Any = None, options: Any = None) -> Job:
        """The client's ``enqueue`` (the payload may be a pydantic model)."""
        return self.client.enqueue(identifier, payload, options)

    def cancel_job(self, job_id: int, reason: str | None = None) -> Job | None:
        """The client's ``cancel_job``: the job fails for good now and never runs."""
        return self.client.cancel_job(job_id, reason=reason)

    def transaction(self) -> AbstractContextManager[Transaction]:
        """The client's ``transaction()``: SQL and jobs that commit or roll back together."""
        return self.client.transaction()

    def pause(self, *, task: Any = None, queue: Any = None) -> list[str]:
        """The client's ``pause``: ``drain()`` runs no job of a paused task or queue (and does
        not count them as runnable jobs without a handler)."""
        return self.client.pause(task=task, queue=queue)

    def resume(self, *, task: Any = None, queue: Any = None) -> list[str]:
        """The client's ``resume``."""
        return self.client.resume(task=task, queue=queue)

    def close(self) -> None:
        self.client.close()

    # -- looking -------------------------------------------------------------------------

    def jobs(self, identifier: str | None = None) -> list[Job]:
        """Every job in the queue (running, waiting, scheduled or failed), in id order."""
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row

        from ..core.jobs import Job

        query = sql.SQL(
            "select * from {}.jobs where %(task)s::text is null"
            " or task_identifier = %(task)s::text order by id"
        ).format(sql.Identifier(self.schema))
        with (
            psycopg.connect(self.database_url, autocommit=True) as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            cur.execute(query, {"task": identifier})
            return [Job.model_validate(row) for row in cur.fetchall()]

    def _matching(self, identifier: str, payload: Any, options: dict[str, Any]) -> list[Job]:
        from ..core.ops import payload_value

        payload = payload_value(payload)  # a pydantic model matches as it would be stored
        wanted: dict[str, Any] = {}
        for name, value in options.items():
            column = _OPTION_NAMES.get(name)
            if column is None:
                accepted = ", ".join(sorted(_OPTION_NAMES))
                raise TypeError(f"unknown option {name!r}; accepted: {accepted}")
            wanted[column] = _wanted_value(column, value)
        found = []
        for job in self.jobs(identifier):
            if payload is not None and not _is_subset(payload, job.payload):
                continue
            if all(_job_value(job, c) == v for c, v in wanted.items()):
                found.append(job)
        return found

    def _report(self) -> str:
        jobs = self.jobs()
        if not jobs:
            return "the queue is empty"
        return "jobs in the queue:\n" + "\n".join(f"  {_describe(j)}" for j in jobs)

    def assert_enqueued(
        self, identifier: str, payload: Any = None, *, count: int | None = None, **options: Any
    ) -> Job:
        """Assert that a job of ``identifier`` is in the queue whose payload contains
        ``payload`` (dict keys compared recursively) and whose options equal ``options``
        (``jobKey``/``job_key``, ``runAt``/``run_at``, ``queueName``, ``priority``,
        ``maxAttempts``, ``flags``, ``attempts``). With ``count``, exactly that many must match.
        Returns the first match."""
        found = self._matching(identifier, payload, options)
        what = f"{identifier} payload⊇{payload!r} {options!r}"
        if count is not None and len(found) != count:
            raise AssertionError(
                f"expected {count} job(s) {what}, found {len(found)}; {self._report()}"
            )
        if not found:
            raise AssertionError(f"no job {what}; {self._report()}")
        return found[0]

    def assert_not_enqueued(self, identifier: str, payload: Any = None, **options: Any) -> None:
        """Assert that no job matches (same matching as :meth:`assert_enqueued`)."""
        found = self._matching(identifier, payload, options)
        if found:
            raise AssertionError(
                f"unexpected job(s) {identifier} payload⊇{payload!r} {options!r}: "
                + "; ".join(_describe(j) for j in found)
            )

    # -- time ----------------------------------------------------------------------------

    def advance(
        self,
        delta: timedelta | None = None,
        *,
        seconds: float = 0,
        minutes: float = 0,
        recurring: bool | Iterable[str] = False,
    ) -> datetime:
        """Move the fake clock forward; returns the new time.

        With ``recurring=True`` (or an iterable of identifiers), also add the job of every
        recurring-task tick (catalog ``recurringTasks``, ``cleanup``) passed on the way, as the
        scheduler would: one job per identifier and tick, payload ``{"_cron": {"ts",
        "backfilled"}}``."""
        start = self.clock.now()
        now = self.clock.advance(delta, seconds=seconds, minutes=minutes)
        self._schedule_ticks(start, now, recurring)
        return now

    def _cron_items(self, recurring: bool | Iterable[str]) -> list[CronItem]:
        from ..core.schedule import cron_items

        if self.catalog is None or recurring is False:
            return []
        items = [i for w in self.catalog.workers.values() for i in cron_items(w)]
        if recurring is True:
            return items
        wanted = set(recurring)
        unknown = wanted - {i.identifier for i in items}
        if unknown:
            raise ValueError(f"no recurring task {sorted(unknown)} in the catalog")
        return [i for i in items if i.identifier in wanted]

    def _schedule_ticks(
        self, after: datetime, until: datetime, recurring: bool | Iterable[str]
    ) -> None:
        """Add the jobs of the ticks in (after, until]."""
        from ..core import cron_ops
        from ..core.schedule import MINUTE, ceil_minute, due_items

        items = self._cron_items(recurring)
        if not items:
            return
        tick = ceil_minute(after)
        if tick == after:
            tick += MINUTE
        while tick <= until:
            due = due_items(items, tick)
            if due:
                self.client.execute(cron_ops.schedule_cron_jobs(tick, False, due))
            tick += MINUTE

    # -- running -------------------------------------------------------------------------

    def drain(
        self,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
        *,
        until: timedelta | datetime | None = None,
        recurring: bool | Iterable[str] = False,
        strict: bool = True,
    ) -> DrainResult:
        """Run every runnable job inline, one at a time, in a worker's order (priority, run_at,
        id), including jobs that handlers add and that are runnable at once; a failed job
        gets its retry time as a worker would give it (the default backoff or the task's
        ``retry``) and waits for the clock.

        ``until`` (a time, or a duration from now) also moves the clock: to each next
        ``run_at`` in turn, up to that time, running what becomes due; with ``recurring``
        (see :meth:`advance`) the recurring ticks on the way are added and run too.
        With ``strict`` (default), a runnable job that no handler can run is an error.
        Handlers: ``handlers``, else the ``tc_handlers`` fixture's, else the catalog's."""
        return _run_sync(
            lambda: self.adrain(handlers, until=until, recurring=recurring, strict=strict)
        )

    async def adrain(
        self,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
        *,
        until: timedelta | datetime | None = None,
        recurring: bool | Iterable[str] = False,
        strict: bool = True,
    ) -> DrainResult:
        """:meth:`drain` for async tests."""
        chosen = {**self.handlers, **(handlers or {})}
        result = DrainResult()
        end = self.clock.now() + until if isinstance(until, timedelta) else until
        while True:
            await self._run_once(chosen, result)
            if end is None:
                break
            now = self.clock.now()
            nxt = await asyncio.to_thread(self._next_time, end, recurring)
            target = end if nxt is None else nxt
            if target <= now:
                break
            self.clock.set(target)
            await asyncio.to_thread(self._schedule_ticks, now, target, recurring)
            if nxt is None:
                await self._run_once(chosen, result)
                break
        if strict:
            now = self.clock.now()
            paused = {(p.kind, p.name) for p in await asyncio.to_thread(self.client.paused)}
            left = [
                j
                for j in await asyncio.to_thread(self._waiting)
                if j.run_at <= now
                and ("task", j.task_identifier) not in paused
                and ("queue", j.queue_name) not in paused
            ]
            if left:
                raise AssertionError(
                    "drain: runnable job(s) without a handler (pass handlers= or override "
                    "the tc_handlers fixture): " + "; ".join(_describe(j) for j in left)
                )
        return result

    def _waiting(self) -> list[Job]:
        """The jobs a worker may still run (unlocked, with attempts left), due or not."""
        return [j for j in self.jobs() if j.locked_at is None and j.attempts < j.max_attempts]

    def _next_time(self, end: datetime, recurring: bool | Iterable[str]) -> datetime | None:
        """The earliest time after now, up to ``end``, at which a job or a tick is due."""
        from ..core.schedule import MINUTE, ceil_minute

        now = self.clock.now()
        times = [j.run_at for j in self._waiting() if now < j.run_at <= end]
        items = self._cron_items(recurring)
        tick = ceil_minute(now)
        if tick == now:
            tick += MINUTE
        while items and tick <= end and (not times or tick < min(times)):
            if any(i.matches(tick) for i in items):
                times.append(tick)
                break
            tick += MINUTE
        return min(times) if times else None

    async def _run_once(
        self, handlers: Mapping[str, Callable[..., Any]], into: DrainResult
    ) -> None:
        from ..core.selection import select_tasks
        from ..runtime.zodworker import ZodWorker

        if self.catalog is None:
            await self._run_without_catalog(handlers, into)
            return
        for name, settings in self.catalog.workers.items():
            selection = select_tasks(settings, handlers)
            if not selection.identifiers:
                continue
            worker = ZodWorker(
                name,
                self.catalog,
                handlers=selection.handlers,
                database_url=self.database_url,
                schema=self.schema,
                listen=False,
                concurrency=1,
                tasks=selection.identifiers,
                clock=self.clock,
            )
            _record(worker.on, into)
            try:
                await worker.run_once()
            finally:
                await worker.client.close()

    async def _run_without_catalog(
        self, handlers: Mapping[str, Callable[..., Any]], into: DrainResult
    ) -> None:
        from ..async_client import AsyncClient
        from ..runtime.tasks import Task
        from ..runtime.worker import Worker, WorkerOptions

        async with AsyncClient(self.database_url, schema=self.schema, clock=self.clock) as client:
            worker = Worker(
                client,
                {i: Task(i, h) for i, h in handlers.items()},
                name="drain",
                options=WorkerOptions(concurrency=1, listen=False),
                clock=self.clock,
            )
            _record(worker.on, into)
            await worker.run_once()


def _record(on: Callable[[str, Callable[[dict[str, Any]], Any]], None], into: DrainResult) -> None:
    errors: dict[int, BaseException] = {}

    def on_error(event: dict[str, Any]) -> None:
        errors[event["job"].id] = event["error"]

    def on_complete(event: dict[str, Any]) -> None:
        job = event["job"]
        into.append(JobRun(job, event["outcome"], errors.pop(job.id, None)))

    on("job:error", on_error)
    on("job:complete", on_complete)


# -- fixtures ------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "trigger_compat_catalog",
        "catalog file for the tc_queue fixture (relative to the rootdir)",
        default="",
    )


@pytest.fixture(scope="session")
def tc_database_url() -> Iterator[str]:
    """The PostgreSQL server of the ``tc_queue`` fixture."""
    url = os.environ.get("TRIGGER_COMPAT_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from .server import start_embedded_server

    yield start_embedded_server(
        Path(tempfile.gettempdir()) / f"trigger-compat-test-pg-{os.getuid()}"
    )


@pytest.fixture()
def tc_catalog(pytestconfig: pytest.Config) -> Catalog | str | None:
    """The catalog of the ``tc_queue`` fixture (a path or a Catalog, or None)."""
    root = Path(str(pytestconfig.rootpath))
    configured = str(pytestconfig.getini("trigger_compat_catalog") or "")
    if configured:
        return str(root / configured)
    default = root / "catalog.yaml"
    return str(default) if default.is_file() else None


@pytest.fixture()
def tc_handlers() -> Mapping[str, Callable[..., Any]]:
    """Handlers for ``tc_queue.drain()``: override to return ``{identifier: handler}``."""
    return {}


@pytest.fixture()
def tc_queue(
    tc_database_url: str,
    tc_catalog: Catalog | str | None,
    tc_handlers: Mapping[str, Callable[..., Any]],
) -> Iterator[TestQueue]:
    """An isolated queue (own schema, fake clock) for one test."""
    import psycopg
    from psycopg import sql

    schema = f"tc_{uuid.uuid4().hex[:12]}"
    queue = TestQueue(tc_database_url, schema, catalog=tc_catalog, handlers=tc_handlers)
    try:
        yield queue
    finally:
        queue.close()
        with psycopg.connect(tc_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
