"""The metrics in an application's own prometheus-client registry; the lag gauge; one process
reporting the database gauges."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, generate_latest

from trigger_compat import Client
from trigger_compat.runtime.events import EventEmitter
from trigger_compat.runtime.metrics import WorkerMetrics
from trigger_compat.runtime.prometheus import MetricsCollector

from .test_metrics import parse, value


def _age_back(db: psycopg.Connection[Any], schema: str, job_id: int, seconds: int) -> None:
    db.execute(
        psycopg.sql.SQL(
            "update {}.jobs set run_at = now() - make_interval(secs => %s) where id = %s"
        ).format(psycopg.sql.Identifier(schema)),
        (seconds, job_id),
    )


def test_a_collector_in_the_applications_registry(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    old = client.add_job("mail", {}, queue_name="eu")
    client.add_job("mail", {}, queue_name="eu")
    client.add_job("mail", {})
    bill = client.add_job("bill", {})
    client.add_job("bill", {}, run_at=datetime.now(UTC) + timedelta(hours=1))
    _age_back(db, schema, old.id, 600)
    _age_back(db, schema, bill.id, 30)

    events = EventEmitter()
    metrics = WorkerMetrics.for_database(database_url, schema=schema)
    metrics.attach(events)
    registry = CollectorRegistry()
    registry.register(MetricsCollector(metrics))
    try:
        from trigger_compat.core.jobs import Job

        job = Job.model_validate({**bill.model_dump(), "attempts": 1, "max_attempts": 3})
        events.emit("job:start", job=job)
        events.emit("job:error", job=job, error=RuntimeError("x"))
        events.emit("job:complete", job=job, duration=0.2)

        s = parse(generate_latest(registry).decode())
        assert value(s, "trigger_compat_jobs_started_total", task="bill") == 1
        assert value(s, "trigger_compat_job_attempts_failed_total", task="bill") == 1
        assert value(s, "trigger_compat_job_attempts_retried_total", task="bill") == 1
        assert value(s, "trigger_compat_job_duration_seconds_count", task="bill") == 1
        assert value(s, "trigger_compat_jobs_waiting", task="mail", queue="eu") == 2
        assert value(s, "trigger_compat_jobs_waiting", task="mail", queue="") == 1
        assert value(s, "trigger_compat_jobs_waiting", task="bill", queue="") == 1
        eu = value(s, "trigger_compat_jobs_oldest_waiting_age_seconds", task="mail", queue="eu")
        assert 600 <= eu < 660
        bill_age = value(s, "trigger_compat_jobs_oldest_waiting_age_seconds", task="bill", queue="")
        assert 30 <= bill_age < 90
        assert value(s, "trigger_compat_jobs", task="bill", state="scheduled") == 1
        assert value(s, "trigger_compat_metrics_database_leader") == 1
        # The old name counted attempts under a name that read as jobs: it is gone.
        assert not any(name == "trigger_compat_jobs_failed_total" for name, _ in s)
    finally:
        metrics.close()


def test_one_process_reports_the_database_gauges(
    database_url: str, schema: str, client: Client
) -> None:
    client.add_job("mail", {})
    first = WorkerMetrics.for_database(database_url, schema=schema)
    second = WorkerMetrics.for_database(database_url, schema=schema)
    try:
        a = parse(first.render())
        b = parse(second.render())
        assert value(a, "trigger_compat_metrics_database_leader") == 1
        assert value(a, "trigger_compat_jobs_waiting", task="mail", queue="") == 1
        assert value(b, "trigger_compat_metrics_database_leader") == 0
        assert not any(name.startswith("trigger_compat_jobs_waiting") for name, _ in b)
        # Still the leader at its next read; when it goes, the other takes over.
        assert first.refresh_database(force=True) is not None
        first.close()
        # The lock goes when the server has ended the closed connection's backend.
        deadline = time.monotonic() + 10
        while second.refresh_database(force=True) is None:
            assert time.monotonic() < deadline, "the second process never took over"
        assert value(parse(second.render()), "trigger_compat_metrics_database_leader") == 1
    finally:
        first.close()
        second.close()

    # Without leader_only every process reports them.
    both = [
        WorkerMetrics.for_database(database_url, schema=schema, leader_only=False) for _ in "ab"
    ]
    try:
        for m in both:
            assert (
                value(parse(m.render()), "trigger_compat_jobs_waiting", task="mail", queue="") == 1
            )
    finally:
        for m in both:
            m.close()
