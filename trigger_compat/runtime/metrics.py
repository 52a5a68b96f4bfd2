"""Worker metrics: counters and histograms fed by worker events, gauges read from the database,
readable in-process (:meth:`WorkerMetrics.snapshot`), served to Prometheus on ``/metrics`` (what
``trigger-compat worker --metrics-port`` does), or registered in an application's own
prometheus-client registry (:class:`trigger_compat.runtime.prometheus.MetricsCollector`).

metrics = WorkerMetrics.for_database(url, schema="trigger_compat")
metrics.attach(zod_worker)                 # a ZodWorker, a Worker or an EventEmitter
server = serve_metrics(metrics, port=9464)  # http://127.0.0.1:9464/metrics
...
metrics.snapshot().counters["deliverEvent"].succeeded
server.close()

Every metric is labelled by task identifier (``task``):

* ``trigger_compat_jobs_started_total``, ``…_succeeded_total``, ``…_permanently_failed_total``,
  ``…_rescued_total`` (jobs of lost workers released by this process), and
  ``trigger_compat_job_attempts_failed_total`` (each attempt that raised) and
  ``trigger_compat_job_attempts_retried_total`` (failed attempts that will run again):
  counters of this process;
* ``trigger_compat_job_duration_seconds`` (handler run time) and
  ``trigger_compat_job_pickup_delay_seconds`` (``run_at`` → locked by a worker): histograms;
* ``trigger_compat_worker_running_jobs``: jobs running in this process now;
* ``trigger_compat_jobs{task, state}``: jobs in the schema per state (waiting, scheduled,
  running, retrying, failed), from one query run at most every ``refresh_interval`` seconds
  and shared by every scrape;
* ``trigger_compat_jobs_waiting{task, queue}`` and
  ``trigger_compat_jobs_oldest_waiting_age_seconds{task, queue}``: jobs due and not yet taken,
  and how long the oldest of them has been due (0 when none waits): the lag to alert on.
  ``queue`` is the named queue, ``""`` for jobs of none (same query);
* ``trigger_compat_worker_heartbeat_age_seconds{worker, worker_id}``: seconds since each
  registered worker's last heartbeat (same query).

The database gauges describe the whole schema, so one process reports them: with
``leader_only`` (the default of :meth:`WorkerMetrics.for_database`), the process whose metrics
connection holds a session-level advisory lock of the schema; the others export their own
counters only. ``trigger_compat_metrics_database_leader`` is 1 in the process that reports
them. Should that process end, another takes the lock at its next refresh.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from ..client import Client
from ..core import admin_ops
from ..core.admin_ops import DatabaseSnapshot
from ..core.jobs import Job
from ..core.outcomes import JobCancel, is_final_attempt

logger = logging.getLogger("trigger_compat.metrics")

DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip
PICKUP_DELAY_BUCKETS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_REFRESH_INTERVAL = 5.0

# (field of TaskCounters, metric name, help)
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("started", "trigger_compat_jobs_started_total", "Jobs this process started."),
    ("succeeded", "trigger_compat_jobs_succeeded_total", "Jobs this process ran successfully."),
    (
        "failed",
        "trigger_compat_job_attempts_failed_total",
        "Failed attempts in this process (each attempt that raised).",
    ),
    (
        "retried",
        "trigger_compat_job_attempts_retried_total",
        "Failed attempts in this process that will run again.",
    ),
    (
        "permanently_failed",
        "trigger_compat_jobs_permanently_failed_total",
        "Jobs whose final attempt failed (or that were cancelled).",
    ),
    (
        "rescued",
        "trigger_compat_jobs_rescued_total",
        "Jobs of lost workers that this process released for a retry.",
    ),
)


@dataclass
class TaskCounters:
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    permanently_failed: int = 0
    rescued: int = 0


@dataclass
class Histogram:
    """Cumulative-bucket histogram (Prometheus style); ``counts[i]`` is the number of
    observations ≤ ``buckets[i]``, the last entry (``+Inf``) is ``count``."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    sum: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        self.sum += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def copy(self) -> Histogram:
        return Histogram(self.buckets, list(self.counts), self.sum, self.count)


@dataclass(frozen=True)
class MetricsSnapshot:
    """The numbers at one instant; every mapping is keyed by task identifier."""

    counters: dict[str, TaskCounters]
    running: dict[str, int]
    duration: dict[str, Histogram]
    pickup_delay: dict[str, Histogram]
    database: DatabaseSnapshot | None
    database_refreshed_at: float | None
    database_errors: int
    database_leader: bool | None = None


class _Emitter(Protocol):
    def on(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> Any: ...


# Reads the database gauges; None when another process reports them.
DatabaseSource = Callable[[], DatabaseSnapshot | None]


class WorkerMetrics:
    """Metrics of the workers it is attached to. Thread-safe: events arrive on the worker's
    event loop, scrapes on the HTTP server's threads."""

    def __init__(
        self,
        database: DatabaseSource | None = None,
        *,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._counters: dict[str, TaskCounters] = {}
        self._running: dict[str, int] = {}
        self._duration: dict[str, Histogram] = {}
        self._pickup: dict[str, Histogram] = {}
        self._database = database
        self._refresh_interval = refresh_interval
        self._db_snapshot: DatabaseSnapshot | None = None
        self._db_at: float | None = None
        self._db_errors = 0
        self._db_queries = 0
        self._db_leader: bool | None = None
        self._on_close = on_close

    @classmethod
    def for_database(
        cls,
        database_url: str,
        *,
        schema: str | None = None,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        leader_only: bool = True,
        direct_url: str | None = None,
        pooled: bool | None = None,
    ) -> WorkerMetrics:
        """Metrics whose gauges come from ``schema`` of this database (one pooled connection).
        With ``leader_only``, only the process holding the schema's metrics lock reads and
        reports them (see the module's documentation).

        The lock is a session's: through a pooler in transaction mode (``pooled``, or
        ``?pgbouncer=true`` on the URL) it is taken on a connection of ``direct_url``; a
        pooled database without ``direct_url`` has every process report the gauges (a
        warning says so)."""
        client = Client(database_url, schema=schema, pool_size=1, pooled=pooled)
        leader = client
        if leader_only and direct_url:
            leader = Client(direct_url, schema=client.schema, pool_size=1)
        elif leader_only and client.pooled:
            logger.warning(
                "the metrics database gauges: the database is reached through a pooler in "
                "transaction mode and no direct URL was given, so no process can hold the "
                "leader lock (a session's); every process reports them"
            )
            leader_only = False

        def read() -> DatabaseSnapshot | None:
            if leader_only and not leader.execute(admin_ops.metrics_leader(client.schema)):
                return None
            return client.execute(admin_ops.metrics_snapshot(), None)

        def close() -> None:
            client.close()
            if leader is not client:
                leader.close()

        return cls(read, refresh_interval=refresh_interval, on_close=close)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    # -- feeding -----------------------------------------------------------------------

    def attach(self, source: _Emitter) -> None:
        """Count the jobs of a ``ZodWorker``, ``Worker`` or ``EventEmitter`` (attach before
        it starts to miss nothing)."""
        source.on("job:start", self._on_start)
        source.on("job:success", self._on_success)
        source.on("job:error", self._on_error)
        source.on("job:failed", self._on_failed)
        source.on("job:complete", self._on_complete)
        source.on("job:rescued", self._on_rescued)

    def _task(self, task: str) -> TaskCounters:
        counters = self._counters.get(task)
        if counters is None:
            counters = self._counters[task] = TaskCounters()
        return counters

    def _on_start(self, event: dict[str, Any]) -> None:
        job: Job = event["job"]
        picked = job.locked_at or datetime.now(UTC)
        delay = (picked - job.run_at).total_seconds()
        with self._lock:
            self._task(job.task_identifier).started += 1
            self._running[job.task_identifier] = self._running.get(job.task_identifier, 0) + 1
            hist = self._pickup.setdefault(job.task_identifier, Histogram(PICKUP_DELAY_BUCKETS))
            hist.observe(delay)

    def _on_success(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._task(event["job"].task_identifier).succeeded += 1

    def _on_error(self, event: dict[str, Any]) -> None:
        job: Job = event["job"]
        retries = not is_final_attempt(job) and not isinstance(event.get("error"), JobCancel)
        with self._lock:
            counters = self._task(job.task_identifier)
            counters.failed += 1
            if retries:
                counters.retried += 1

    def _on_failed(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._task(event["job"].task_identifier).permanently_failed += 1

    def _on_complete(self, event: dict[str, Any]) -> None:
        job: Job = event["job"]
        with self._lock:
            self._running[job.task_identifier] = max(
                0, self._running.get(job.task_identifier, 0) - 1
            )
            hist = self._duration.setdefault(job.task_identifier, Histogram(DURATION_BUCKETS))
            hist.observe(float(event.get("duration") or 0.0))

    def _on_rescued(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._task(event["job"].task_identifier).rescued += 1

    # -- reading -----------------------------------------------------------------------

    @property
    def database_queries(self) -> int:
        """How many times the database gauges were read (scrapes share one read)."""
        return self._db_queries

    def refresh_database(self, *, force: bool = False) -> DatabaseSnapshot | None:
        """The database gauges, read again when older than ``refresh_interval`` (one reader at
        a time; concurrent callers share its answer). On error the last values stay."""
        if self._database is None:
            return None
        with self._db_lock:
            fresh = (
                self._db_at is not None and time.monotonic() - self._db_at < self._refresh_interval
            )
            if force or not fresh:
                try:
                    self._db_queries += 1
                    self._db_snapshot = self._database()
                    self._db_leader = self._db_snapshot is not None
                    self._db_at = time.monotonic()
                except Exception as exc:
                    self._db_errors += 1
                    logger.warning("reading job counts for metrics failed: %s", exc)
            return self._db_snapshot

    def snapshot(self, *, database: bool = True) -> MetricsSnapshot:
        """Every number now (the database gauges refreshed when due, unless ``database`` is
        False)."""
        db = self.refresh_database() if database else self._db_snapshot
        with self._lock:
            return MetricsSnapshot(
                counters={t: replace(c) for t, c in self._counters.items()},
                running=dict(self._running),
                duration={t: h.copy() for t, h in self._duration.items()},
                pickup_delay={t: h.copy() for t, h in self._pickup.items()},
                database=db,
                database_refreshed_at=self._db_at,
                database_errors=self._db_errors,
                database_leader=self._db_leader,
            )

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        return render_prometheus(self.snapshot())


# -- exposition ------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One metric: its name, type (counter, gauge, histogram), help, and its samples as
    ``(name, labels, value)`` (a histogram's samples are its ``_bucket``, ``_sum`` and
    ``_count`` lines)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[str, dict[str, str], float]]


def _histogram(name: str, help_text: str, hists: dict[str, Histogram]) -> Family:
    samples: list[tuple[str, dict[str, str], float]] = []
    for task, h in sorted(hists.items()):
        for bound, count in zip(h.buckets, h.counts, strict=True):
            samples.append((f"{name}_bucket", {"task": task, "le": _number(bound)}, count))
        samples.append((f"{name}_bucket", {"task": task, "le": "+Inf"}, h.count))
        samples.append((f"{name}_sum", {"task": task}, h.sum))
        samples.append((f"{name}_count", {"task": task}, h.count))
    return Family(name, "histogram", help_text, samples)


def families(snap: MetricsSnapshot) -> list[Family]:
    """Every metric of ``snap`` (the database gauges only when it has them)."""
    out: list[Family] = []
    for key, name, help_text in COUNTERS:
        samples = [
            (name, {"task": t}, float(getattr(c, key))) for t, c in sorted(snap.counters.items())
        ]
        out.append(Family(name, "counter", help_text, samples))
    out.append(
        _histogram(
            "trigger_compat_job_duration_seconds",
            "How long handlers ran, in seconds.",
            snap.duration,
        )
    )
    out.append(
        _histogram(
            "trigger_compat_job_pickup_delay_seconds",
            "Seconds from a job's run_at to a worker locking it.",
            snap.pickup_delay,
        )
    )
    name = "trigger_compat_worker_running_jobs"
    samples = [(name, {"task": t}, float(n)) for t, n in sorted(snap.running.items())]
    out.append(Family(name, "gauge", "Jobs running in this process now.", samples))
    db = snap.database
    if db is not None:
        name = "trigger_compat_jobs"
        samples = [
            (name, {"task": task, "state": state}, float(states.get(state, 0)))
            for task, states in sorted(db.jobs.items())
            for state in admin_ops.JOB_STATES
        ]
        out.append(Family(name, "gauge", "Jobs in the schema per task and state.", samples))
        name = "trigger_compat_jobs_waiting"
        samples = [
            (name, {"task": task, "queue": queue}, float(n))
            for (task, queue), (n, _) in sorted(db.waiting.items())
        ]
        out.append(
            Family(name, "gauge", "Jobs due and not yet taken, per task and queue.", samples)
        )
        name = "trigger_compat_jobs_oldest_waiting_age_seconds"
        samples = [
            (name, {"task": task, "queue": queue}, round(age, 3))
            for (task, queue), (_, age) in sorted(db.waiting.items())
        ]
        out.append(
            Family(
                name,
                "gauge",
                "Seconds the oldest job due and not yet taken has waited, per task and queue "
                "(0 when none waits).",
                samples,
            )
        )
        name = "trigger_compat_worker_heartbeat_age_seconds"
        samples = [
            (name, {"worker": worker, "worker_id": worker_id}, round(age, 3))
            for (worker, worker_id), age in sorted(db.heartbeat_ages.items())
        ]
        out.append(
            Family(name, "gauge", "Seconds since each registered worker's last heartbeat.", samples)
        )
    if snap.database_leader is not None:
        name = "trigger_compat_metrics_database_leader"
        out.append(
            Family(
                name,
                "gauge",
                "1 in the process that reports the schema's database gauges, else 0.",
                [(name, {}, 1.0 if snap.database_leader else 0.0)],
            )
        )
    name = "trigger_compat_metrics_database_errors_total"
    out.append(
        Family(
            name,
            "counter",
            "Failed reads of the database gauges.",
            [(name, {}, snap.database_errors)],
        )
    )
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render_prometheus(snap: MetricsSnapshot) -> str:
    """The Prometheus text exposition format (version 0.0.4) of ``snap``."""
    lines: list[str] = []
    for family in families(snap):
        lines.append(f"# HELP {family.name} {family.help}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for name, labels, value in family.samples:
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


# -- HTTP ------------------------------------------------------------------------------


class MetricsServer:
    """``/metrics`` served from a daemon thread; ``close()`` stops it."""

    def __init__(self, metrics: WorkerMetrics, host: str, port: int) -> None:
        self.metrics = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path != "/metrics":
                    body = b"not found; metrics are at /metrics\n"
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                else:
                    body = metrics.render().encode("utf-8")
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("metrics: " + format, *args)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="trigger-compat-metrics", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self.metrics.close()


def serve_metrics(
    metrics: WorkerMetrics, *, host: str = DEFAULT_METRICS_HOST, port: int = 9464
) -> MetricsServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` (port 0 picks a free port)."""
    return MetricsServer(metrics, host, port)


def serve_worker_metrics(
    workers: Sequence[_Emitter],
    database_url: str,
    *,
    schema: str | None,
    host: str = DEFAULT_METRICS_HOST,
    port: int = 9464,
    refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    direct_url: str | None = None,
    pooled: bool | None = None,
) -> MetricsServer:
    """Attach one :class:`WorkerMetrics` to every worker and serve it (``direct_url`` and
    ``pooled``: see :meth:`WorkerMetrics.for_database`)."""
    metrics = WorkerMetrics.for_database(
        database_url,
        schema=schema,
        refresh_interval=refresh_interval,
        direct_url=direct_url,
        pooled=pooled,
    )
    for w in workers:
        metrics.attach(w)
    try:
        return serve_metrics(metrics, host=host, port=port)
    except BaseException:
        metrics.close()
        raise
