"""The asynchronous client: the source of the synchronous one (tools/gen_sync_client.py).

Both run the operations of :mod:`trigger_compat.core.ops`: the logic lives there and here once;
the two clients differ only in I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg_pool import AsyncConnectionPool

from . import tracing
from .core import ops
from .core.backoff import backoff_delay
from .core.dberrors import translate
from .core.dsn import split_pooled
from .core.jobs import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    Job,
    JobKeyMode,
    JobSpec,
    check_max_payload_bytes,
)
from .core.migrations import (
    MIGRATION_LOCK_CLASS,
    REPLACE_NEEDS_DROP,
    Overload,
    after_apply,
    drop_statements,
    next_step,
    pending,
    plan_functions,
)
from .core.now import NowFunction
from .core.rows import has_rows, row_factory
from .core.sqlfiles import DEFAULT_SCHEMA, check_schema_name, queries_for

if TYPE_CHECKING:
    from .core.catalog import Catalog
    from .core.options import JobOptions
    from .core.pause import PausedRow
    from .core.unique import UniqueOpts

T = TypeVar("T")
Options: TypeAlias = "JobOptions | Mapping[str, Any] | None"

# A statement that fails with one of these SQLSTATEs may have met plans its session cached
# before a migration changed a row type the statement returns (a column added to jobs, which
# fetch_jobs and settle_and_fetch return): PostgreSQL does not invalidate a plan when only a
# composite type it returns changes. 0A000: "cached plan must not change result type" (a
# prepared statement); 42804: "structure of query does not match function result type" (a
# PL/pgSQL RETURN QUERY whose caller's plan expects the old row). A fresh plan fixes both.
STALE_PLAN_SQLSTATES = frozenset({"0A000", "42804"})

# How long a statement of migrate() waits for a table lock before its transaction is rolled
# back and tried again (a PostgreSQL interval), and for how long it is tried again.
MIGRATE_LOCK_TIMEOUT = "2s"
MIGRATE_LOCK_DEADLINE_S = 120.0


# psycopg_pool retries a failed connection attempt 1 s later, growing after that: after a
# failover (the primary gone, a standby promoted moments later) a pool would resume up to a
# second or more after the new primary accepts connections. The client's pool connections
# retry within the attempt first, at most RECONNECT_MAX_DELAY apart, for up to
# RECONNECT_WINDOW seconds (not once the pool is closing); only then does the pool's own
# backoff start.
RECONNECT_WINDOW = 30.0
RECONNECT_MAX_DELAY = 0.5


def _pool_connection_class(closing: Callable[[], bool]) -> type[psycopg.AsyncConnection[Any]]:
    """The connection class of a client's own pool: connecting retries (see above) until
    ``closing()``."""

    class PoolConnection(psycopg.AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            end = time.monotonic() + RECONNECT_WINDOW
            errors = 0
            while True:
                try:
                    return await super().connect(conninfo, **kwargs)
                except psycopg.OperationalError:
                    errors += 1
                    delay = backoff_delay(errors, base=0.025, cap=RECONNECT_MAX_DELAY)
                    if closing() or time.monotonic() + delay > end:
                        raise
                    await asyncio.sleep(delay)

    return PoolConnection


class AsyncClient:
    """Adds, fetches and settles jobs in one PostgreSQL schema.

    ``database`` is a connection string, a psycopg ``Connection`` (used under a lock, one
    operation at a time) or a ``psycopg_pool.AsyncConnectionPool``. Every method takes ``tx=``: a
    connection of the caller's, on which the statement runs inside the caller's transaction
    (nothing is committed; a job added there appears to workers when the caller commits).
    ``clock`` replaces the database's ``now()`` for run_at defaults, fetching and backoff.

    ``catalog`` (a :class:`~trigger_compat.core.catalog.Catalog` or the path of a catalog file)
    enables :meth:`enqueue`; ``schema`` defaults to the catalog's ``databaseSchema``, else
    ``trigger_compat``.

    ``max_payload_bytes`` caps a payload's JSON text (UTF-8 bytes, 1 MiB by default; ``None``
    for no limit of ours): a larger one raises :class:`InvalidJobError` and nothing is written.

    ``pooled=True`` says the database is reached through a pooler in transaction mode
    (PgBouncer ``pool_mode = transaction``): the client never uses a server-side prepared
    statement (a later transaction may run on another server connection, which does not have
    it), and a worker built on this client takes its LISTEN connection from its own
    ``direct_url`` only. ``None`` (the default) reads it from the URL: ``?pgbouncer=true``, as
    trigger.dev's ``DATABASE_URL`` wrote it (the parameter is removed before connecting).

    ``pool_size`` bounds the connections the client opens itself; more concurrent calls wait
    for one, each for up to ``pool_timeout`` seconds (then :class:`DatabaseUnavailableError`).
    """

    def __init__(
        self,
        database: str | psycopg.AsyncConnection[Any] | AsyncConnectionPool,
        *,
        schema: str | None = None,
        catalog: Catalog | str | PathLike[str] | None = None,
        clock: NowFunction | None = None,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        pooled: bool | None = None,
        pool_timeout: float = 30.0,
    ) -> None:
        self.catalog: Catalog | None = None
        if catalog is not None:
            # The catalog machinery (YAML, JSON Schema) loads only for clients that use it.
            from .core.catalog import resolve_catalog

            self.catalog = resolve_catalog(catalog)
        if schema is None:
            schema = (self.catalog and self.catalog.database_schema) or DEFAULT_SCHEMA
        self.schema = check_schema_name(schema)
        self._sql = queries_for(schema)
        self._clock = clock
        self._conninfo: str | None = None
        self._pool: AsyncConnectionPool | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._own_pool = False
        self._lock = asyncio.Lock()
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self.max_payload_bytes = check_max_payload_bytes(max_payload_bytes)
        marked = False
        if isinstance(database, str):
            self._conninfo, marked = split_pooled(database)
        elif isinstance(database, AsyncConnectionPool):
            self._pool = database
        elif isinstance(database, psycopg.AsyncConnection):
            self._conn = database
        else:
            raise TypeError(
                "database must be a connection string, an AsyncConnection or an AsyncConnectionPool"
            )
        #: Whether the database is reached through a transaction-mode pooler (see above).
        self.pooled = marked if pooled is None else bool(pooled)
        # psycopg's ``prepare`` argument: never prepare through a pooler, else its default.
        self._prepare: bool | None = False if self.pooled else None

    # -- connections -------------------------------------------------------------------

    async def _open_pool(self) -> AsyncConnectionPool:
        async with self._lock:
            if self._pool is None:
                assert self._conninfo is not None
                # Connect once first, so that a bad DSN fails now with the server's reason.
                probe = await psycopg.AsyncConnection.connect(
                    self._conninfo, connect_timeout=int(self._connect_timeout)
                )
                await probe.close()
                kwargs: dict[str, Any] = {"autocommit": True}
                if self.pooled:  # the caller's SQL on these connections too (tx.execute)
                    kwargs["prepare_threshold"] = None
                self._pool = AsyncConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=max(1, self._pool_size),
                    kwargs=kwargs,
                    connection_class=_pool_connection_class(
                        lambda: self._pool is None or self._pool.closed
                    ),
                    open=False,
                )
                await self._pool.open(wait=True, timeout=self._connect_timeout)
                self._own_pool = True
            return self._pool

    @asynccontextmanager
    async def _connection(
        self, tx: psycopg.AsyncConnection[Any] | None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if tx is not None:
            yield tx
        elif self._conn is not None:
            async with self._lock, self._conn.transaction():
                yield self._conn
        else:
            pool = self._pool or await self._open_pool()
            async with pool.connection(timeout=self._pool_timeout) as conn:
                yield conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            mapped = translate(exc, schema=self.schema, conninfo=self._conninfo)
            if mapped is None:
                raise
            raise mapped from None

    async def execute(self, op: ops.Op[T], tx: psycopg.AsyncConnection[Any] | None = None) -> T:
        """Run one operation of :mod:`trigger_compat.core` (the building block of every method)."""
        with self._errors():
            rows = await self._run(op, tx, None)
        return op.parse(rows)

    async def _rows(
        self, conn: psycopg.AsyncConnection[Any], op: ops.Op[Any], context: str | None
    ) -> list[Any]:
        """The rows of ``op`` run on ``conn``; with ``context``, the jobs it adds get that trace
        context (a transaction-local setting, set for the one statement: migration 0009)."""
        if context is None:
            async with conn.cursor(row_factory=row_factory) as cur:
                await cur.execute(self._sql[op.query], op.params, prepare=self._prepare)
                return await cur.fetchall() if has_rows(cur) else []
        async with conn.transaction(), conn.cursor(row_factory=row_factory) as cur:
            await cur.execute(
                self._sql["set_trace_context"], {"trace_context": context}, prepare=self._prepare
            )
            await cur.execute(self._sql[op.query], op.params, prepare=self._prepare)
            rows = await cur.fetchall() if has_rows(cur) else []
            await cur.execute(
                self._sql["set_trace_context"], {"trace_context": ""}, prepare=self._prepare
            )
            return rows

    async def _run(
        self, op: ops.Op[Any], tx: psycopg.AsyncConnection[Any] | None, context: str | None
    ) -> list[Any]:
        """:meth:`_rows` on ``tx`` or a connection of the client. On a connection of the
        client's pool, a statement that failed on plans its session cached before a migration
        changed a row type it returns (:data:`STALE_PLAN_SQLSTATES`; it was rolled back) runs
        again, once, after the session forgot its prepared statements and cached plans: the
        workers of one version survive the migrations of the next (ARCHITECTURE.md, "Changing
        the schema while old workers run")."""
        if tx is not None or self._conn is not None:
            async with self._connection(tx) as conn:
                return await self._rows(conn, op, context)
        async with self._connection(None) as conn:
            try:
                return await self._rows(conn, op, context)
            except psycopg.Error as exc:
                if exc.sqlstate not in STALE_PLAN_SQLSTATES:
                    raise
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                await conn.rollback()  # a pool of yours without autocommit: this call's own
            # One transaction, so that behind a transaction pooler the reset and the retry run
            # on the same server connection.
            async with conn.transaction():
                async with conn.cursor() as cur:
                    # "deallocate all" also empties psycopg's own cache of prepared statements.
                    await cur.execute(self._sql["forget_prepared"], {}, prepare=False)
                    await cur.execute(self._sql["forget_plans"], {}, prepare=False)
                return await self._rows(conn, op, context)

    async def _add(
        self,
        op: ops.Op[T],
        tx: psycopg.AsyncConnection[Any] | None,
        identifiers: Sequence[str],
        queue_names: Sequence[str | None],
    ) -> T:
        """Run an operation that adds jobs in a producer span, storing its trace context with
        the jobs (:mod:`trigger_compat.tracing`; a plain :meth:`execute` without it)."""
        if not tracing.AVAILABLE:
            return await self.execute(op, tx)
        with tracing.producer_span(identifiers, queue_names) as (span, context):
            if context is None:
                result = await self.execute(op, tx)
            else:
                result = await self._execute_traced(op, tx, context)
            tracing.added(span, result)
            return result

    async def _execute_traced(
        self, op: ops.Op[T], tx: psycopg.AsyncConnection[Any] | None, context: str
    ) -> T:
        """:meth:`execute` with the jobs' ``trace_context`` set (see :meth:`_rows`)."""
        with self._errors():
            rows = await self._run(op, tx, context)
        return op.parse(rows)

    def _require_catalog(self) -> Catalog:
        from .core.catalog import require_catalog

        return require_catalog(self.catalog)

    @property
    def clock(self) -> NowFunction | None:
        """The clock given to this client (it replaces the database's ``now()``), or None."""
        return self._clock

    @property
    def conninfo(self) -> str | None:
        """The connection string this client connects with: the one it was given, or its
        pool's; None for a client built on a single connection."""
        if self._conninfo is not None:
            return self._conninfo
        conninfo = self._pool.conninfo if self._pool is not None else None
        return conninfo if isinstance(conninfo, str) else None

    def _now(self) -> datetime | None:
        return self._clock() if self._clock is not None else None

    async def close(self) -> None:
        """Close the pool this client opened itself (a pool or connection you gave stays open)."""
        if self._own_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None
            self._own_pool = False

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- schema ------------------------------------------------------------------------

    async def migrate(self) -> list[int]:
        """Apply the pending migrations, each in its own transaction under an advisory lock,
        then, in the last of those transactions, the SQL functions whose file changed (see
        :mod:`trigger_compat.core.migrations`).

        Safe to run from several processes at once, and while workers run: a statement that
        waits for a table lock (a long transaction holds the table) gives up after
        :data:`MIGRATE_LOCK_TIMEOUT` (every worker's statement on that table would queue
        behind it meanwhile) and its transaction is tried again, until
        :data:`MIGRATE_LOCK_DEADLINE_S`; then :class:`TransactionConflictError`. Returns the
        versions applied by this call. Raises :class:`SchemaAheadError` when the database
        knows migrations this code does not.
        """
        applied: list[int] = []
        deadline = time.monotonic() + MIGRATE_LOCK_DEADLINE_S
        tries = 0
        with self._errors():
            async with self._connection(None) as conn:
                while True:
                    try:
                        step, done = await self._migrate_step(conn)
                    except psycopg.errors.LockNotAvailable:
                        tries += 1
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(backoff_delay(tries, cap=2.0))
                        continue
                    applied += step
                    if done:
                        return applied

    async def _migrate_step(self, conn: psycopg.AsyncConnection[Any]) -> tuple[list[int], bool]:
        """One transaction of :meth:`migrate`: the next pending migration (with its group),
        and the function step when nothing else is pending. Returns the versions it applied
        and whether it was the last."""
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                self._sql["migrate_lock"],
                {"schema_name": self.schema, "lock_class": MIGRATION_LOCK_CLASS},
                prepare=self._prepare,
            )
            await cur.execute(
                self._sql["migrate_lock_timeout"],
                {"timeout": MIGRATE_LOCK_TIMEOUT},
                prepare=self._prepare,
            )
            await cur.execute(self._sql["migrate_bootstrap"], {}, prepare=self._prepare)
            await cur.execute(self._sql["admin_applied_migrations"], {}, prepare=self._prepare)
            todo = pending(self.schema, (row[0] for row in await cur.fetchall()))
            step = next_step(todo)
            await cur.execute(self._sql["migrate_search_path"], {}, prepare=self._prepare)
            for migration in step:
                await cur.execute(migration.sql, prepare=self._prepare)
                await cur.execute(
                    self._sql["migrate_record"],
                    {"version": migration.version, "name": migration.name},
                    prepare=self._prepare,
                )
            last = len(step) == len(todo)
            if last:
                await self._migrate_functions(conn)
        return [m.version for m in step], last

    async def _migrate_functions(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The function step of :meth:`migrate`, in its transaction: see
        :func:`trigger_compat.core.migrations.plan_functions`."""
        catalog = {"schema_name": self.schema, "name": None}
        async with conn.cursor() as cur:
            await cur.execute(self._sql["migrate_functions_recorded"], {}, prepare=self._prepare)
            recorded = {str(name): str(sha) for name, sha in await cur.fetchall()}
            await cur.execute(
                self._sql["migrate_functions_catalog"], catalog, prepare=self._prepare
            )
            overloads = [Overload.from_row(row) for row in await cur.fetchall()]
            plan = plan_functions(self.schema, recorded, overloads)
            for statement in plan.drops:
                await cur.execute(statement, prepare=self._prepare)
            for name in plan.forget:
                await cur.execute(
                    self._sql["migrate_function_forget"], {"name": name}, prepare=self._prepare
                )
            for function in plan.apply:
                before = plan.overloads(function.name)
                try:
                    async with conn.transaction():
                        await cur.execute(function.sql, prepare=self._prepare)
                except psycopg.Error as exc:
                    if exc.sqlstate not in REPLACE_NEEDS_DROP:
                        raise
                    for statement in drop_statements(self.schema, before):
                        await cur.execute(statement, prepare=self._prepare)
                    await cur.execute(function.sql, prepare=self._prepare)
                await cur.execute(
                    self._sql["migrate_functions_catalog"],
                    {**catalog, "name": function.name},
                    prepare=self._prepare,
                )
                after = [Overload.from_row(row) for row in await cur.fetchall()]
                for statement in after_apply(self.schema, before, after):
                    await cur.execute(statement, prepare=self._prepare)
                await cur.execute(
                    self._sql["migrate_function_record"],
                    {"name": function.name, "sha256": function.sha256},
                    prepare=self._prepare,
                )

    # -- jobs --------------------------------------------------------------------------

    async def add_job(
        self,
        identifier: str,
        payload: Any = None,
        *,
        queue_name: str | None = None,
        run_at: datetime | None = None,
        max_attempts: int | None = None,
        job_key: str | None = None,
        job_key_mode: JobKeyMode | None = None,
        priority: int | None = None,
        flags: Sequence[str] | None = None,
        unique: UniqueOpts | Mapping[str, Any] | bool | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> Job:
        """Add one job (graphile-worker ``add_job`` semantics, job keys included). ``unique``
        makes it a unique job (:mod:`trigger_compat.core.unique`): when it matches an existing
        job, that job is returned with ``deduplicated`` set and nothing is inserted."""
        op = ops.add_job(
            self._now(),
            identifier,
            ops.payload_value(payload),
            max_payload_bytes=self.max_payload_bytes,
            queue_name=queue_name,
            run_at=run_at,
            max_attempts=max_attempts,
            job_key=job_key,
            job_key_mode=job_key_mode,
            priority=priority,
            flags=flags,
            unique=unique,
        )
        return await self._add(op, tx, [identifier], [queue_name])

    async def add_jobs(
        self,
        specs: Sequence[JobSpec],
        *,
        job_key_preserve_run_at: bool = False,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[Job]:
        """Add many jobs in one round trip; returns them in the order of ``specs``. New jobs get
        their ids in that order too (keyed or not, as graphile-worker's add_jobs), so jobs of
        equal priority and run_at run in the order given."""
        if not specs:
            return []
        op = ops.add_jobs(self._now(), specs, job_key_preserve_run_at, self.max_payload_bytes)
        return await self._add(op, tx, [s.identifier for s in specs], [s.queue_name for s in specs])

    async def remove_job(
        self, job_key: str, *, tx: psycopg.AsyncConnection[Any] | None = None
    ) -> Job | None:
        """Delete the job with this key, or stop a running one from retrying."""
        return await self.execute(ops.remove_job(job_key), tx)

    async def get_job(
        self, job_id: int, *, tx: psycopg.AsyncConnection[Any] | None = None
    ) -> Job | None:
        return await self.execute(ops.get_job(job_id), tx)

    async def fetch_jobs(
        self,
        worker_id: str,
        limit: int = 1,
        *,
        task_identifiers: Sequence[str] | None = None,
        forbidden_flags: Sequence[str] | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[Job]:
        """Lock up to ``limit`` runnable jobs for ``worker_id`` (attempts + 1 each).

        Raises :class:`TransactionConflictError` (nothing fetched) when the fetch gave way to
        a concurrent transaction; call it again, as the worker does."""
        op = ops.fetch_jobs(self._now(), worker_id, limit, task_identifiers, forbidden_flags)
        return await self.execute(op, tx)

    async def complete_jobs(
        self,
        job_ids: Iterable[int],
        *,
        worker_id: str | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[int]:
        """Delete finished jobs; with ``worker_id``, only those that worker still holds."""
        return await self.execute(ops.complete_jobs(job_ids, worker_id), tx)

    async def fail_job(
        self,
        job_id: int,
        error: str,
        *,
        worker_id: str | None = None,
        run_at: datetime | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> Job | None:
        """Record a failed attempt and unlock the job; it retries at ``run_at`` or after the
        default backoff. Returns None when the job is not locked (by ``worker_id``)."""
        return await self.execute(ops.fail_job(self._now(), job_id, error, worker_id, run_at), tx)

    async def permanently_fail_jobs(
        self,
        job_ids: Iterable[int],
        message: str | None = None,
        *,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[Job]:
        return await self.execute(ops.permanently_fail_jobs(job_ids, message), tx)

    async def reschedule_jobs(
        self,
        job_ids: Iterable[int],
        *,
        run_at: datetime | None = None,
        priority: int | None = None,
        attempts: int | None = None,
        max_attempts: int | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[Job]:
        op = ops.reschedule_jobs(job_ids, run_at, priority, attempts, max_attempts)
        return await self.execute(op, tx)

    async def force_unlock_workers(
        self, worker_ids: Sequence[str], *, tx: psycopg.AsyncConnection[Any] | None = None
    ) -> list[Job]:
        """Release every job locked by these workers (e.g. after they crashed)."""
        return await self.execute(ops.force_unlock_workers(worker_ids), tx)

    async def set_queue_concurrency(
        self, queue_name: str, concurrency: int, *, tx: psycopg.AsyncConnection[Any] | None = None
    ) -> None:
        """How many jobs of this named queue may run at once, across all workers."""
        await self.execute(ops.set_queue_concurrency(queue_name, concurrency), tx)

    async def cancel_jobs(
        self,
        job_ids: Iterable[int],
        *,
        reason: str | None = None,
        by: str | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[Job]:
        """Cancel jobs, waiting or running: each fails for good now (attempts = max_attempts)
        with ``last_error`` = ``cancelled by <by>[: <reason>]`` (``by`` defaults to
        ``user@host (pid N)`` of this process) and never runs or retries again. The worker
        running one is told within a second (a notification; its heartbeat as the fallback):
        it sets the job's abort signal and cancels an async handler; whatever the handler then
        does, the job stays failed with this error. Returns the jobs cancelled (ids that do
        not exist, or whose job had already failed for good, are not among them)."""
        return await self.execute(ops.cancel_jobs(job_ids, ops.cancel_message(by, reason)), tx)

    async def cancel_job(
        self,
        job_id: int,
        *,
        reason: str | None = None,
        by: str | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> Job | None:
        """:meth:`cancel_jobs` for one job; None when it does not exist or had already
        failed for good."""
        jobs = await self.cancel_jobs([job_id], reason=reason, by=by, tx=tx)
        return jobs[0] if jobs else None

    # -- transactions ------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncTransaction]:
        """One transaction for the caller's SQL and this client's jobs::

            async with client.transaction() as tx:
                await tx.execute("insert into orders ...", {...})
                await tx.enqueue("sendReceipt", {...})

        Commits when the block ends, rolls back (both the SQL and the jobs) when it raises.
        Workers are notified of the new jobs only at the commit (PostgreSQL delivers NOTIFY
        then). ``tx.connection`` is the psycopg connection, for anything else; every method of
        the client also takes it as ``tx=``."""
        if self._conn is None and self._pool is None:
            with self._errors():  # a bad DSN fails here with the server's reason
                await self._open_pool()
        # Errors of the caller's own SQL pass through as psycopg raised them.
        async with self._connection(None) as conn, conn.transaction():
            yield AsyncTransaction(self, conn)

    async def pause(
        self,
        *,
        task: str | Sequence[str] | None = None,
        queue: str | Sequence[str] | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[str]:
        """Pause tasks (``task=``) or named queues (``queue=``): no worker starts a job of
        theirs once this returns (running jobs finish); they still take new jobs. Returns the
        names that were not paused already."""
        from .core.pause import set_paused

        return await self.execute(set_paused(True, task, queue), tx)

    async def resume(
        self,
        *,
        task: str | Sequence[str] | None = None,
        queue: str | Sequence[str] | None = None,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[str]:
        """Undo :meth:`pause`; returns the names that were paused."""
        from .core.pause import set_paused

        return await self.execute(set_paused(False, task, queue), tx)

    async def paused(self, *, tx: psycopg.AsyncConnection[Any] | None = None) -> list[PausedRow]:
        """The paused tasks and queues."""
        from .core.pause import paused

        return await self.execute(paused(), tx)

    # -- catalog (ZodWorker) -----------------------------------------------------------

    async def enqueue(
        self,
        identifier: str,
        payload: Any = None,
        options: Options = None,
        *,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> Job:
        """Add a job of a catalog task: the payload (JSON data, or a pydantic model: see
        :func:`trigger_compat.core.ops.payload_value`) is checked against the task's schema and the
        catalog settings are merged with ``options`` (``runAt``, ``jobKey``, ``jobKeyMode``,
        ``maxAttempts``, ``queueName``, ``priority``, ``flags``; per-call wins). Nothing is
        written when the payload or an option is invalid."""
        from .core.options import plan_enqueue

        spec = plan_enqueue(
            self._require_catalog(), identifier, ops.payload_value(payload), options
        )
        op = ops.add_spec(self._now(), spec, self.max_payload_bytes)
        return await self._add(op, tx, [spec.identifier], [spec.queue_name])

    async def enqueue_many(
        self,
        items: Sequence[tuple[str, Any] | tuple[str, Any, Options]],
        *,
        tx: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[Job]:
        """:meth:`enqueue` for each ``(identifier, payload[, options])``, in one round trip;
        every item is checked before anything is written."""
        from .core.options import plan_enqueue_many

        specs = plan_enqueue_many(self._require_catalog(), ops.payload_values(items))
        return await self.add_jobs(specs, tx=tx)

    async def dequeue(
        self, job_key: str, *, tx: psycopg.AsyncConnection[Any] | None = None
    ) -> Job | None:
        """ZodWorker's ``dequeue``: :meth:`remove_job`."""
        return await self.remove_job(job_key, tx=tx)


class AsyncTransaction:
    """A transaction opened by the client's ``transaction()``: the caller's
    SQL and the jobs added through it commit or roll back together. Its methods are the
    client's, run on :attr:`connection`."""

    def __init__(self, client: AsyncClient, connection: psycopg.AsyncConnection[Any]) -> None:
        self.client = client
        self.connection = connection

    async def execute(
        self, query: str | bytes | sql.SQL | sql.Composed, params: Params | None = None
    ) -> psycopg.AsyncCursor[Any]:
        """Run one statement of the caller's in the transaction (psycopg's
        ``Connection.execute``: bound parameters, a cursor to read rows from)."""
        return await self.connection.execute(query, params)

    async def add_job(self, identifier: str, payload: Any = None, **options: Any) -> Job:
        return await self.client.add_job(identifier, payload, **options, tx=self.connection)

    async def add_jobs(
        self, specs: Sequence[JobSpec], *, job_key_preserve_run_at: bool = False
    ) -> list[Job]:
        return await self.client.add_jobs(
            specs, job_key_preserve_run_at=job_key_preserve_run_at, tx=self.connection
        )

    async def enqueue(self, identifier: str, payload: Any = None, options: Options = None) -> Job:
        return await self.client.enqueue(identifier, payload, options, tx=self.connection)

    async def enqueue_many(
        self, items: Sequence[tuple[str, Any] | tuple[str, Any, Options]]
    ) -> list[Job]:
        return await self.client.enqueue_many(items, tx=self.connection)

    async def remove_job(self, job_key: str) -> Job | None:
        return await self.client.remove_job(job_key, tx=self.connection)

    async def dequeue(self, job_key: str) -> Job | None:
        return await self.client.dequeue(job_key, tx=self.connection)

    async def get_job(self, job_id: int) -> Job | None:
        return await self.client.get_job(job_id, tx=self.connection)

    async def cancel_jobs(
        self, job_ids: Iterable[int], *, reason: str | None = None, by: str | None = None
    ) -> list[Job]:
        return await self.client.cancel_jobs(job_ids, reason=reason, by=by, tx=self.connection)
