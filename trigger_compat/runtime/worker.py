"""The worker: fetches jobs into ``concurrency`` slots, runs their handlers, writes outcomes
in batches, heartbeats, rescues the jobs of lost workers, and shuts down gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from .. import tracing
from ..async_client import AsyncClient
from ..core import worker_ops
from ..core.admin_ops import applied_migrations
from ..core.backoff import backoff_delay
from ..core.dsn import split_pooled
from ..core.jobs import Job, has_lone_surrogate
from ..core.migrations import moved_on
from ..core.ops import error_text
from ..core.outcomes import (
    JobTimeoutError,
    OnFinalFailure,
    Settlement,
    error_message,
    is_final_attempt,
    settle_failure,
)
from ..core.sqlfiles import notify_channel
from ..core.tracebacks import error_with_traceback
from ..core.worker_ops import RELOAD_NOTIFICATION
from ..errors import (
    ConfigurationError,
    SchemaAheadError,
    SchemaNotMigratedError,
    TransactionConflictError,
)
from .events import EventEmitter
from .tasks import AbortSignal, Helpers, JobLogger, Task

logger = logging.getLogger("trigger_compat.worker")
OUTCOME_LAG_SAMPLES = 10_000
# The longest the settle loop leaves pending outcomes to the fetch loop's next fetch.
FETCH_HANDOVER_S = 0.05

ForbiddenFlags = Sequence[str] | Callable[[], Sequence[str] | Awaitable[Sequence[str]]] | None


@dataclass(frozen=True)
class WorkerOptions:
    """Runner options (trigger.dev spelling in the catalog: concurrency, pollInterval, …)."""

    concurrency: int = 10
    poll_interval: float = 1.0
    listen: bool = True
    shutdown_timeout: float = 60.0
    rescue_after: float = 30.0
    on_final_failure: OnFinalFailure = "keep"
    max_threads: int | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigurationError(None, "concurrency must be ≥ 1")
        if self.poll_interval <= 0:
            raise ConfigurationError(None, "poll_interval must be > 0 seconds")
        if self.rescue_after <= 0:
            raise ConfigurationError(None, "rescue_after must be > 0 seconds")


@dataclass
class WorkerStats:
    """Counters kept in-process (also exported as metrics)."""

    started: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    rescued: int = 0
    fetches: int = 0
    #: Seconds from a handler's return to the commit of its outcome, for the most recent
    #: settled runs: the at-least-once window (a worker that dies inside it leaves a job
    #: whose handler ran to be run again once it is rescued).
    outcome_lags: deque[float] = field(default_factory=lambda: deque(maxlen=OUTCOME_LAG_SAMPLES))


class Worker:
    """Runs the jobs of ``tasks`` from the client's schema.

    ``client`` is an :class:`AsyncClient`. ``direct_url`` is the connection string of the
    LISTEN connection, a session of its own (``conninfo`` is its older name): a URL that
    reaches PostgreSQL directly, or through a pooler in session mode. Without it the client's
    own URL is used, unless the client is ``pooled`` (a transaction-mode pooler cannot keep a
    LISTEN): then the worker polls every ``poll_interval`` and says so once, as a warning.
    """

    def __init__(
        self,
        client: AsyncClient,
        tasks: Mapping[str, Task],
        *,
        name: str = "worker",
        options: WorkerOptions | None = None,
        forbidden_flags: ForbiddenFlags = None,
        error_handler: Callable[[Job, BaseException], Any] | None = None,
        conninfo: str | None = None,
        clock: Callable[[], datetime] | None = None,
        events: EventEmitter | None = None,
        direct_url: str | None = None,
    ) -> None:
        self.client = client
        self.tasks = dict(tasks)
        self.name = name
        self.options = options or WorkerOptions()
        self.worker_id = f"{name}-{uuid.uuid4().hex[:12]}"
        self.events = events or EventEmitter()
        self.stats = WorkerStats()
        self._forbidden_flags = forbidden_flags
        self._error_handler = error_handler
        self._conninfo = listen_conninfo(client, direct_url or conninfo)
        self._clock = clock
        self._running: dict[int, tuple[asyncio.Task[None], AbortSignal]] = {}
        self._results: list[Settlement] = []
        self._writing: set[int] = set()  # jobs whose outcome is being written right now
        self._returned_at: dict[int, float] = {}  # job id -> when its handler returned
        self._cancelled: set[int] = set()  # running jobs cancelled by cancel_jobs
        #: Called when ``catalog apply`` notifies the schema's channel (ZodWorker reloads).
        self.on_catalog_reload: Callable[[], Any] | None = None
        self._running_task: dict[int, str] = {}  # running job id -> its task identifier
        # Settled runs per minute not yet recorded in job_stats: minute -> [completed, failed].
        self._throughput: dict[datetime, list[int]] = {}
        self._results_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._force = asyncio.Event()
        self._more_maybe = False
        # Set while the fetch loop sleeps (poll interval, backoff): pending outcomes will not
        # ride on a fetch soon, so the settle loop writes them at once.
        self._fetch_parked = asyncio.Event()
        self._queued: set[int] = set()
        self._reconcile = False
        self._background: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Why the worker stopped itself (a newer version migrated its schema), else None.
        self.fatal: SchemaAheadError | None = None
        self._stopper: asyncio.Task[None] | None = None

    # -- public ------------------------------------------------------------------------

    @property
    def task_identifiers(self) -> list[str]:
        return sorted(self.tasks)

    def on(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        self.events.on(event, callback)

    def wake(self) -> None:
        """Fetch now: after ``options`` or ``tasks`` changed (a catalog reload)."""
        self._wake.set()
        self._slot_freed.set()

    async def start(self) -> None:
        """Register, then run the fetch loop and the background services until ``stop()``."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(
            max_workers=self.options.max_threads or self.options.concurrency,
            thread_name_prefix=f"{self.name}-sync",
        )
        await self._heartbeat()
        self.events.emit("worker:create", worker_id=self.worker_id)
        self._background = [
            asyncio.create_task(self._fetch_loop(), name=f"{self.worker_id}-fetch"),
            asyncio.create_task(self._settle_loop(), name=f"{self.worker_id}-settle"),
            asyncio.create_task(self._maintenance_loop(), name=f"{self.worker_id}-maintenance"),
        ]
        if self.options.listen and self._conninfo is None and self.client.pooled:
            logger.warning(
                "worker %s: the database is reached through a pooler in transaction mode "
                "(pooled) and no direct_url was given, so it cannot LISTEN: it polls for jobs "
                "every %.3g s; give a direct URL (direct_url= / --direct-url / DIRECT_URL) to be "
                "woken at once",
                self.worker_id,
                self.options.poll_interval,
            )
        if self.options.listen and self._conninfo:
            self._background.append(
                asyncio.create_task(self._listen_loop(), name=f"{self.worker_id}-listen")
            )

    async def stop(self, *, timeout: float | None = None) -> None:
        """Stop fetching, let running jobs finish for up to ``timeout`` seconds (default:
        ``shutdown_timeout``), then cancel the rest and release their jobs for an immediate
        retry elsewhere; write every pending outcome; unregister."""
        if not self._started or self._stopped.is_set():
            return
        if self._stopping.is_set():
            self._force.set()  # a second stop request: give running jobs up now
            await self._stopped.wait()
            return
        self._stopping.set()
        self._wake.set()
        self._slot_freed.set()
        grace = self.options.shutdown_timeout if timeout is None else timeout
        self.events.emit("pool:gracefulShutdown", worker_id=self.worker_id)
        await self._wait_running(grace)
        still = [t for t, _ in self._running.values() if not t.done()]
        if still:
            self.events.emit("pool:forcefulShutdown", worker_id=self.worker_id)
            for job_id, (task, signal) in list(self._running.items()):
                if not task.done():
                    signal.set("the worker is shutting down")
                    logger.warning(
                        "cancelling job %s at shutdown; it is released for a retry", job_id
                    )
                    task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._flush_all()
        with contextlib.suppress(Exception):
            await self._record_throughput(final=True)
        with contextlib.suppress(Exception):
            await self.client.execute(worker_ops.unregister_worker(self.worker_id), None)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self.events.emit("pool:gracefulShutdown:complete", worker_id=self.worker_id)
        self.events.emit("stop", worker_id=self.worker_id)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _wait_running(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        force = asyncio.ensure_future(self._force.wait())
        try:
            while not self._force.is_set():
                pending = [t for t, _ in self._running.values() if not t.done()]
                remaining = deadline - time.monotonic()
                if not pending or remaining <= 0:
                    return
                await asyncio.wait(
                    [*pending, force], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            force.cancel()

    async def run_once(self) -> int:
        """Run every runnable job (and those that become runnable meanwhile), then return
        the number of jobs run. No LISTEN, no background services."""
        self._loop = asyncio.get_running_loop()
        own_executor = self._executor is None
        if own_executor:
            self._executor = ThreadPoolExecutor(max_workers=self.options.concurrency)
        await self._heartbeat()
        count = 0
        try:
            while True:
                jobs = await self._fetch(self.options.concurrency)
                if not jobs:
                    break
                count += len(jobs)
                await asyncio.gather(*(self._run_job(job) for job in jobs))
                # Their outcomes are written by the next fetch, in the same statement.
        finally:
            await self._flush_all()
            with contextlib.suppress(Exception):
                await self._record_throughput(final=True)
            with contextlib.suppress(Exception):
                await self.client.execute(worker_ops.unregister_worker(self.worker_id), None)
            if own_executor and self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
        return count

    # -- fetching ----------------------------------------------------------------------

    async def _flags(self) -> list[str] | None:
        source = self._forbidden_flags
        if source is None:
            return None
        if callable(source):
            value = source()
            if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
                value = await value
            return list(value)
        return list(source)

    async def _fetch(self, limit: int) -> list[Job]:
        """Fetch up to ``limit`` jobs, writing the pending outcomes in the same statement."""
        flags = await self._flags()
        self.stats.fetches += 1
        batch = self._take_results()
        op = worker_ops.settle_and_fetch(
            self.worker_id, batch, self._clock_now(), limit, self.task_identifiers, flags
        )
        try:
            jobs = await self.client.execute(op)
        except BaseException:
            self._give_back(batch)
            raise
        self._settled(batch)
        return jobs

    async def _stop_if_moved_on(self, exc: SchemaNotMigratedError) -> bool:
        """After a fetch failed because a function or table it calls is not there: when a newer
        version migrated the schema (:func:`~trigger_compat.core.migrations.moved_on`), log
        one line, keep the reason in :attr:`fatal` and stop the worker (running jobs finish
        first). Returns whether it did."""
        try:
            applied = await self.client.execute(applied_migrations())
        except Exception:
            return False
        reason = moved_on(self.client.schema, applied)
        if reason is None:
            return False
        found = re.search(r"is not migrated \((.*)\); ", str(exc))
        detail = found[1] if found else str(exc)
        self.fatal = SchemaAheadError(
            f"{reason} and no longer has what this worker calls ({detail}): stopping; run the "
            "workers of the version that migrated it"
        )
        logger.error("%s", self.fatal)
        self._stopper = asyncio.create_task(self.stop(), name=f"{self.worker_id}-stop")
        return True

    async def _fetch_loop(self) -> None:
        errors = 0
        while not self._stopping.is_set():
            free = self.options.concurrency - len(self._running)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wake.clear()
            try:
                if self._reconcile:
                    await self._release_orphans()
                    self._reconcile = False
                jobs = await self._fetch(free)
                errors = 0
            except TransactionConflictError as exc:
                # Rolled back as a whole (nothing fetched, outcomes given back): fetch again.
                logger.info("fetching jobs yielded to another transaction (%s); retrying", exc)
                self.events.emit("worker:getJob:error", worker_id=self.worker_id, error=exc)
                await self._park(0.01 * random.uniform(1, 5))
                continue
            except Exception as exc:
                if isinstance(exc, SchemaNotMigratedError) and await self._stop_if_moved_on(exc):
                    return
                errors += 1
                self._reconcile = True
                delay = backoff_delay(errors)
                logger.warning("fetching jobs failed (%s); retrying in %.2f s", exc, delay)
                self.events.emit("worker:getJob:error", worker_id=self.worker_id, error=exc)
                await self._park(delay)
                continue
            if self._stopping.is_set():
                # Fetched while stopping: hand them straight back.
                for job in jobs:
                    self._results.append(Settlement(job.id, "release", None, None))
                self._results_ready.set()
                break
            for job in jobs:
                signal = AbortSignal()
                task = asyncio.create_task(self._run_job(job, signal))
                self._running[job.id] = (task, signal)
                self._running_task[job.id] = job.task_identifier
                if job.queue_name is not None:
                    self._queued.add(job.id)
            self._more_maybe = len(jobs) == free
            if self._more_maybe:
                continue  # there may be more: fetch again as soon as a slot is free
            if not jobs:
                self.events.emit("worker:getJob:empty", worker_id=self.worker_id)
            await self._park(self.options.poll_interval, self._wake)
        self._fetch_parked.set()

    async def _park(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """The fetch loop's sleep."""
        self._fetch_parked.set()
        try:
            await self._sleep(seconds, wake)
        finally:
            self._fetch_parked.clear()

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    # -- running -----------------------------------------------------------------------

    def _clock_now(self) -> datetime | None:
        """The injected clock's time (the worker's, else the client's), or None for the
        database's ``now()``."""
        clock = self._clock if self._clock is not None else self.client.clock
        return None if clock is None else clock()

    def _now(self) -> datetime:
        return self._clock_now() or datetime.now(UTC)

    def _job_logger(self, job: Job) -> JobLogger:
        return JobLogger(
            logger,
            {
                "job_id": job.id,
                "task_identifier": job.task_identifier,
                "attempt": job.attempts,
                "worker_id": self.worker_id,
            },
        )

    async def _run_job(self, job: Job, signal: AbortSignal | None = None) -> None:
        signal = signal or AbortSignal()
        task = self.tasks.get(job.task_identifier)
        self.stats.started += 1
        started = time.monotonic()
        self.events.emit("job:start", worker_id=self.worker_id, job=job)
        settlement: Settlement
        # A consumer span around the run, continuing the trace of the span that added the job.
        traced = tracing.consumer_span(job, self.worker_id) if tracing.AVAILABLE else None
        span = traced.__enter__() if traced is not None else None
        try:
            if task is None:
                raise LookupError(f"no handler for task {job.task_identifier!r}")
            assert self._loop is not None
            helpers = (
                Helpers(job, signal, self._job_logger(job), self.client, self._loop)
                if task.takes_helpers
                else None
            )
            try:
                payload = task.prepare(job.payload)
            except Exception as exc:
                raise _PayloadError(exc) from exc
            call = task.call(payload, job, helpers, self._executor)
            if task.timeout is not None:
                try:
                    await asyncio.wait_for(call, task.timeout)
                except TimeoutError:
                    signal.set("timeout")
                    raise JobTimeoutError(
                        f"task {job.task_identifier!r} timed out after {task.timeout} s"
                    ) from None
            else:
                await call
            settlement = Settlement(job.id, "complete")
            self.stats.succeeded += 1
            if logger.isEnabledFor(logging.DEBUG):
                duration = time.monotonic() - started
                self._job_logger(job).debug(
                    "completed in %.1f ms",
                    duration * 1000,
                    extra={"duration": round(duration, 6), "outcome": "complete"},
                )
            self.events.emit("job:success", worker_id=self.worker_id, job=job)
        except asyncio.CancelledError:
            settlement = Settlement(
                job.id, "release", "the worker shut down before the job finished", None
            )
        except BaseException as exc:
            original = exc.cause if isinstance(exc, _PayloadError) else exc
            settlement = self._settle_error(
                job, task, exc, original, self._job_logger(job), time.monotonic() - started
            )
            if settlement.outcome != "snooze":
                tracing.failed(span, original)
        finally:
            if traced is not None:
                traced.__exit__(None, None, None)
            self._running.pop(job.id, None)
            self._running_task.pop(job.id, None)
            self._slot_freed.set()
        if job.id in self._cancelled:
            # Failed for good whatever the handler did; settle_jobs writes the reason given
            # to cancel_jobs in place of this one.
            self._cancelled.discard(job.id)
            settlement = Settlement(job.id, "cancel", CANCELLED, None)
        self._returned_at[job.id] = time.monotonic()
        self._results.append(settlement)
        self._results_ready.set()
        self.events.emit(
            "job:complete",
            worker_id=self.worker_id,
            job=job,
            outcome=settlement.outcome,
            duration=time.monotonic() - started,
        )

    def _settle_error(
        self,
        job: Job,
        task: Task | None,
        exc: BaseException,
        original: BaseException,
        job_logger: logging.LoggerAdapter[logging.Logger],
        duration: float,
    ) -> Settlement:
        retry_at: datetime | None = None
        if task is not None and task.next_retry is not None:
            try:
                retry_at = task.next_retry(job, original)
            except Exception:
                job_logger.exception("next_retry raised; using the default backoff")
        swallow = (
            task is not None and task.swallow_final_failure and not isinstance(exc, _PayloadError)
        )
        settlement = settle_failure(
            job,
            original,
            self._now(),
            retry_at=retry_at,
            on_final_failure=self.options.on_final_failure,
            swallowable=swallow,
        )
        if settlement.outcome == "snooze":
            job_logger.info("snoozed until %s", settlement.run_at)
            return settlement
        self.stats.failed += 1
        final = settlement.outcome in ("cancel", "delete") or is_final_attempt(job)
        if not final:
            self.stats.retried += 1
        # The record carries the exception: a formatter prints its traceback (the text one
        # after the line, the JSON one in an ``exc_info`` field). An exception whose text no
        # stream could encode (a lone surrogate) gets its escaped traceback in the line instead.
        message = error_message(original)
        loggable = not has_lone_surrogate(message)
        job_logger.warning(
            "attempt %s of %s failed after %.1f ms: %s",
            job.attempts,
            job.max_attempts,
            duration * 1000,
            error_text(message if loggable else error_with_traceback(original)),
            exc_info=original if loggable else None,
            extra={
                "duration": round(duration, 6),
                # A final failure kept as failed reads "failed", not "retry".
                "outcome": "failed"
                if final and settlement.outcome == "retry"
                else settlement.outcome,
            },
        )
        self.events.emit("job:error", worker_id=self.worker_id, job=job, error=original)
        if final:
            self.events.emit("job:failed", worker_id=self.worker_id, job=job, error=original)
        if self._error_handler is not None:
            try:
                result = self._error_handler(job, original)
                if asyncio.iscoroutine(result):
                    task_ = asyncio.ensure_future(result)
                    task_.add_done_callback(_log_error_handler_failure)
            except Exception:
                job_logger.exception("error_handler raised; ignored")
        return settlement

    # -- outcomes ----------------------------------------------------------------------

    def _take_results(self) -> list[Settlement]:
        batch = self._results[:]
        self._results.clear()
        self._writing.update(s.job_id for s in batch)
        return batch

    def _give_back(self, batch: list[Settlement]) -> None:
        """Outcomes whose write failed go back in front, to be written again (writing one
        twice is harmless: settle_jobs only touches jobs this worker still holds)."""
        self._results[:0] = batch
        self._writing.difference_update(s.job_id for s in batch)
        if batch:
            self._results_ready.set()

    def _settled(self, batch: list[Settlement]) -> None:
        self._writing.difference_update(s.job_id for s in batch)
        committed = time.monotonic()
        for s in batch:
            returned = self._returned_at.pop(s.job_id, None)
            if returned is not None:
                self.stats.outcome_lags.append(committed - returned)
        ran = [s.outcome for s in batch if s.outcome not in ("snooze", "release")]
        if ran:
            counts = self._throughput.setdefault(
                datetime.now(UTC).replace(second=0, microsecond=0), [0, 0]
            )
            counts[0] += ran.count("complete")
            counts[1] += len(ran) - ran.count("complete")
        if any(s.job_id in self._queued for s in batch):
            # A named queue may have a free place now: look for its next job.
            self._queued.difference_update(s.job_id for s in batch)
            self._wake.set()

    async def _flush(self) -> None:
        batch = self._take_results()
        if not batch:
            return
        try:
            await self.client.execute(
                worker_ops.settle_jobs(self.worker_id, batch, self._clock_now())
            )
        except BaseException:
            self._give_back(batch)
            raise
        self._settled(batch)

    async def _flush_all(self, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        errors = 0
        while self._results:
            try:
                await self._flush()
            except Exception as exc:
                errors += 1
                if time.monotonic() > end:
                    logger.error(
                        "could not write %d job outcome(s) (%s); their jobs stay locked "
                        "until rescued",
                        len(self._results),
                        exc,
                    )
                    return
                await asyncio.sleep(backoff_delay(errors, cap=2.0))

    async def _settle_loop(self) -> None:
        errors = 0
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            if not self._fetch_parked.is_set() and not self._stopping.is_set():
                # The fetch loop is fetching, or about to (the run that ended freed a slot),
                # and writes pending outcomes with its fetch, in one commit: flush only what
                # it leaves once it goes to sleep, or after FETCH_HANDOVER_S at the latest.
                # Each outcome waits at most that long for its commit (the window in which a
                # worker's death makes a job whose handler returned run again).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._fetch_parked.wait(), FETCH_HANDOVER_S)
            try:
                await self._flush()
                errors = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors += 1
                logger.warning("writing job outcomes failed (%s); will retry", exc)
                self.events.emit("job:settle:error", worker_id=self.worker_id, error=exc)
                await asyncio.sleep(backoff_delay(errors, cap=5.0))
                self._results_ready.set()

    async def _record_throughput(self, *, final: bool = False) -> None:
        """Record the settled runs of each past minute (every minute when ``final``) in
        job_stats: one upsert per minute."""
        current = datetime.now(UTC).replace(second=0, microsecond=0)
        for minute in sorted(self._throughput):
            if minute < current or final:
                completed, failed = self._throughput[minute]
                await self.client.execute(
                    worker_ops.record_throughput(self.worker_id, minute, completed, failed)
                )
                del self._throughput[minute]

    # -- heartbeats and rescue ---------------------------------------------------------

    async def _heartbeat(self, tx: psycopg.AsyncConnection[Any] | None = None) -> float | None:
        """Beat; returns the seconds until another worker's heartbeat is rescue_after old.
        Cancels the running jobs the beat names as cancelled (the fallback of the 'cancel:'
        notification)."""
        beat = await self.client.execute(
            worker_ops.beat(
                self.worker_id,
                self.name,
                socket.gethostname(),
                os.getpid(),
                self.task_identifiers,
                timedelta(seconds=self.options.rescue_after),
            ),
            tx,
        )
        if beat.cancelled:
            self._cancel_running(beat.cancelled)
        return beat.seconds

    def _cancel_running(self, job_ids: Iterable[int]) -> None:
        """Jobs cancelled by ``cancel_jobs``: set the abort signal of those running here and
        cancel their handler when it is async (a sync one, on its thread, sees the signal).
        Each then settles as cancelled, whatever its handler does."""
        for job_id in job_ids:
            running = self._running.get(job_id)
            if running is None or job_id in self._cancelled:
                continue
            task, signal = running
            self._cancelled.add(job_id)
            signal.set(CANCELLED)
            logger.warning("job %s was cancelled; stopping it", job_id)
            self.events.emit("job:cancelled", worker_id=self.worker_id, job_id=job_id)
            handler = self.tasks.get(self._running_task.get(job_id, ""))
            if handler is None or handler.is_async:
                task.cancel()

    async def _maintenance_loop(self) -> None:
        """Heartbeat every ``rescue_after / 3`` seconds, until the worker has stopped (running
        jobs still belong to a live process during a graceful shutdown), and rescue the jobs
        of lost workers: right when the oldest heartbeat of another worker becomes
        ``rescue_after`` old (each heartbeat tells when), so that a crashed worker's jobs are
        released within ``rescue_after`` of its last heartbeat; and every ``rescue_after``
        for jobs locked by processes that never registered. ``options`` are read on each
        round: a catalog reload may change ``rescue_after``.

        A worker that could not heartbeat for a while (the database restarted, the network
        dropped) rescues nothing until it has beaten again and the others have had
        ``rescue_after`` to do the same: they were most likely cut off too, and their
        heartbeats, as old as its own, would otherwise make it release (and run again) the
        jobs of live workers as soon as the outage outlasted ``rescue_after``. Each rescue
        runs in one transaction after a heartbeat of its own, and only when that heartbeat
        came on time: a rescue that waited out an outage for its connection would otherwise
        act on heartbeats nobody could refresh."""
        last_beat = time.monotonic()  # start() has just beaten
        next_beat = last_beat + self.options.rescue_after / 3
        next_rescue = time.monotonic() + random.uniform(0, self.options.rescue_after)
        rescue_not_before = 0.0
        failed_beats = 0
        while True:
            # No rescue on a stale heartbeat of its own: the next successful beat comes first.
            fresh = time.monotonic() - last_beat <= 1.5 * self.options.rescue_after / 3
            rescue_due = max(next_rescue, rescue_not_before) if fresh else next_beat
            due = next_beat if self._stopping.is_set() else min(next_beat, rescue_due)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            interval = self.options.rescue_after / 3
            timeout = timedelta(seconds=self.options.rescue_after)
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + interval
                    try:
                        oldest = await self._heartbeat()
                    except Exception:
                        # Retry soon, not a whole interval later: after a network drop or a
                        # database restart each pooled connection may fail once, and a live
                        # worker must not miss rescue_after of heartbeats (its running jobs
                        # would be rescued and run twice).
                        failed_beats += 1
                        next_beat = time.monotonic() + min(interval, 0.02 * 2**failed_beats)
                        raise
                    failed_beats = 0
                    beaten, last_beat = last_beat, time.monotonic()
                    if last_beat - beaten > interval * 1.5:
                        rescue_not_before = last_beat + self.options.rescue_after
                    if oldest is not None:
                        # 50 ms after that worker's heartbeat is rescue_after old.
                        next_rescue = min(next_rescue, time.monotonic() + max(0.0, oldest) + 0.05)
                    await self._record_throughput()
                now = time.monotonic()
                if (
                    not self._stopping.is_set()
                    and now - last_beat <= 1.5 * interval
                    and now >= max(next_rescue, rescue_not_before)
                ):
                    next_rescue = time.monotonic() + self.options.rescue_after
                    rescued: list[Job] | None = None
                    async with self.client.transaction() as tx:
                        await self._heartbeat(tx.connection)
                        beaten, last_beat = last_beat, time.monotonic()
                        if last_beat - beaten > interval * 1.5:
                            rescue_not_before = last_beat + self.options.rescue_after
                        else:
                            rescued = await self.client.execute(
                                worker_ops.rescue_jobs(timeout), tx.connection
                            )
                    if rescued is not None:
                        self._rescued(rescued)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("heartbeat or rescue failed (%s); will retry", exc)

    def _rescued(self, rescued: list[Job]) -> None:
        """After a rescue round: the jobs it released from lost workers."""
        for job in rescued:
            self.stats.rescued += 1
            logger.warning("rescued job %s (%s) from lost worker", job.id, job.task_identifier)
            self.events.emit("job:rescued", worker_id=self.worker_id, job=job)
        if rescued:
            self._wake.set()

    async def _release_orphans(self) -> None:
        """Release jobs locked by this worker that it does not know about: a fetch whose
        commit succeeded but whose answer was lost with the connection. Jobs whose outcome is
        being written are known: releasing one would let it run again."""
        known = [*self._running, *(s.job_id for s in self._results), *self._writing]
        released = await self.client.execute(worker_ops.release_unknown_jobs(self.worker_id, known))
        if released:
            logger.warning(
                "released %d job(s) fetched by a query whose answer was lost", len(released)
            )

    # -- LISTEN --------------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        assert self._conninfo is not None
        channel = notify_channel(self.client.schema)
        errors = 0
        while not self._stopping.is_set():
            self.events.emit("pool:listen:connecting", worker_id=self.worker_id)
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    await conn.execute(
                        psycopg.sql.SQL("listen {}").format(psycopg.sql.Identifier(channel))
                    )
                    errors = 0
                    self.events.emit("pool:listen:success", worker_id=self.worker_id)
                    self._wake.set()  # catch up on anything added while not listening
                    await self._relay_notifications(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors += 1
                # Capped low: fetches go on by polling meanwhile, and after a failover (the
                # standby promoted a minute later) LISTEN must not wait out a long backoff.
                delay = backoff_delay(errors, cap=LISTEN_RETRY_CAP)
                logger.warning("LISTEN connection lost (%s); reconnecting in %.2f s", exc, delay)
                self.events.emit("pool:listen:error", worker_id=self.worker_id, error=exc)
                await self._sleep(delay)

    async def _relay_notifications(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Set the wake event on every notification, until the connection fails.

        Waits for the socket to become readable, then reads what arrived: no timer runs
        while nothing arrives (psycopg's ``notifies()`` wakes ten times a second, which was
        most of an idle worker's CPU)."""
        assert self._loop is not None
        pgconn = conn.pgconn
        readable = asyncio.Event()
        fd = pgconn.socket
        self._loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                pgconn.consume_input()  # raises OperationalError when the connection is lost
                arrived = False
                cancelled: list[int] = []
                reload = False
                while (notify := pgconn.notifies()) is not None:
                    if notify.extra == _RELOAD:  # catalog apply: re-read the catalog
                        reload = True
                        continue
                    ids = worker_ops.cancelled_ids(notify.extra.decode("utf-8", "replace"))
                    if ids is None:
                        arrived = True
                    else:
                        cancelled.extend(ids)
                if arrived:
                    self._wake.set()
                if cancelled:
                    self._cancel_running(cancelled)
                if reload and self.on_catalog_reload is not None:
                    self.on_catalog_reload()
                if pgconn.status != psycopg.pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the LISTEN connection was closed")
        finally:
            self._loop.remove_reader(fd)


def listen_conninfo(client: AsyncClient, direct_url: str | None) -> str | None:
    """The connection string of a worker's LISTEN connection: ``direct_url`` (without its
    ``pgbouncer=`` marker), else the client's own URL unless the client is pooled, else None
    (no LISTEN: the worker polls)."""
    if direct_url:
        url, pooled = split_pooled(direct_url, field="direct_url")
        if pooled:
            raise ConfigurationError(
                "direct_url",
                "it is marked pgbouncer=true, but LISTEN needs a session: give a URL that "
                "reaches PostgreSQL directly (or a pooler in session mode)",
            )
        return url
    return None if client.pooled else client.conninfo


CANCELLED = "cancelled (cancel_jobs)"
LISTEN_RETRY_CAP = 5.0  # seconds: the longest wait between two LISTEN connection attempts
_RELOAD = RELOAD_NOTIFICATION.encode()


class _PayloadError(Exception):
    """The payload failed its schema or model: an ordinary job error, never swallowed."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _log_error_handler_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("error_handler raised; ignored", exc_info=task.exception())
