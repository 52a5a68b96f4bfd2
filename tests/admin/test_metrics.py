"""Worker metrics: in-process numbers and a scrape of /metrics from a running worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trigger_compat import Client
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.metrics import WorkerMetrics, serve_metrics
from trigger_compat.runtime.zodworker import ZodWorker

CATALOG = """\
workers:
  metricsWorker:
    concurrency: 4
    pollInterval: 50
    tasks:
      ok:
        maxAttempts: 3
      flaky:
        maxAttempts: 2
        retry:
          minTimeoutInMs: 0
          maxTimeoutInMs: 0
      blocker:
        maxAttempts: 1
"""

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        labels = frozenset(LABEL.findall(m[3] or ""))
        out[(m[1], labels)] = float(m[4])
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, (
        f"{name}{labels} missing; have {sorted(k for k in samples if k[0] == name)}"
    )
    return samples[key]


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode(), resp.headers["Content-Type"]


async def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        await asyncio.sleep(0.05)


async def test_scrape_metrics_from_a_running_worker(
    database_url: str, schema: str, client: Client, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    now = datetime.now(UTC)
    ok_ids = [client.add_job("ok", {"n": i}).id for i in range(3)]
    client.add_job("ok", {"n": "later"}, run_at=now + timedelta(hours=1))
    client.add_job("flaky", {}, max_attempts=2)
    client.add_job("blocker", {}, max_attempts=1)
    # A lost worker holds the first ok job: the metrics worker rescues it, then runs it.
    db.execute(
        psycopg.sql.SQL(
            "insert into {}.workers (worker_id, name, last_heartbeat_at) "
            "values ('lost-1', 'lost', now() - interval '1 hour')"
        ).format(psycopg.sql.Identifier(schema))
    )
    [held] = client.fetch_jobs("lost-1", 1, task_identifiers=["ok"])
    assert held.id == ok_ids[0]

    release = asyncio.Event()
    blocker_started = asyncio.Event()

    async def ok(payload: Any, job: Job) -> None:
        await asyncio.sleep(0.01)

    async def flaky(payload: Any, job: Job) -> None:
        raise RuntimeError("always")

    async def blocker(payload: Any, job: Job) -> None:
        blocker_started.set()
        await release.wait()

    worker = ZodWorker(
        "metricsWorker",
        catalog,
        handlers={"ok": ok, "flaky": flaky, "blocker": blocker},
        database_url=database_url,
        schema=schema,
        rescue_after=1.0,
    )
    metrics = WorkerMetrics.for_database(database_url, schema=schema, refresh_interval=2.0)
    metrics.attach(worker)
    server = serve_metrics(metrics, port=0)
    assert server.host == "127.0.0.1"
    try:
        await worker.initialize()
        assert worker.worker is not None

        def settled() -> bool:
            c = metrics.snapshot(database=False).counters
            return (
                blocker_started.is_set()
                and "ok" in c
                and c["ok"].succeeded == 3
                and c["ok"].rescued == 1
                and "flaky" in c
                and c["flaky"].permanently_failed == 1
            )

        await wait_for(settled)
        await asyncio.sleep(0.3)  # let the outcomes reach the database
        text, content_type = await asyncio.to_thread(scrape, server.url)
        assert content_type.startswith("text/plain; version=0.0.4")
        s = parse(text)

        # Counters by task.
        assert value(s, "trigger_compat_jobs_started_total", task="ok") == 3
        assert value(s, "trigger_compat_jobs_succeeded_total", task="ok") == 3
        assert value(s, "trigger_compat_job_attempts_failed_total", task="ok") == 0
        assert value(s, "trigger_compat_jobs_rescued_total", task="ok") == 1
        assert value(s, "trigger_compat_jobs_started_total", task="flaky") == 2
        assert value(s, "trigger_compat_job_attempts_failed_total", task="flaky") == 2
        assert value(s, "trigger_compat_job_attempts_retried_total", task="flaky") == 1
        assert value(s, "trigger_compat_jobs_permanently_failed_total", task="flaky") == 1
        assert value(s, "trigger_compat_jobs_succeeded_total", task="flaky") == 0
        assert value(s, "trigger_compat_jobs_started_total", task="blocker") == 1

        # Histograms: one observation per run, cumulative buckets ending at +Inf.
        for name, task, n in [
            ("trigger_compat_job_duration_seconds", "ok", 3),
            ("trigger_compat_job_duration_seconds", "flaky", 2),
            ("trigger_compat_job_pickup_delay_seconds", "ok", 3),
            ("trigger_compat_job_pickup_delay_seconds", "flaky", 2),
            ("trigger_compat_job_pickup_delay_seconds", "blocker", 1),
        ]:
            assert value(s, f"{name}_count", task=task) == n
            assert value(s, f"{name}_bucket", task=task, le="+Inf") == n
            assert value(s, f"{name}_sum", task=task) >= 0
        buckets = sorted(
            (float(dict(k[1])["le"]), v)
            for k, v in s.items()
            if k[0] == "trigger_compat_job_duration_seconds_bucket" and ("task", "ok") in k[1]
        )
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)
        assert value(s, "trigger_compat_job_duration_seconds_bucket", task="ok", le="0.005") == 0
        assert value(s, "trigger_compat_job_duration_seconds_bucket", task="ok", le="1") == 3
        # Every ok job was due when the worker started (the rescued one again right after
        # the rescue): each was picked up within seconds.
        assert value(s, "trigger_compat_job_pickup_delay_seconds_bucket", task="ok", le="60") == 3

        # Running jobs in this process.
        assert value(s, "trigger_compat_worker_running_jobs", task="blocker") == 1
        assert value(s, "trigger_compat_worker_running_jobs", task="ok") == 0

        # Jobs per task and state, from the database.
        assert value(s, "trigger_compat_jobs", task="ok", state="scheduled") == 1
        assert value(s, "trigger_compat_jobs", task="ok", state="waiting") == 0
        assert value(s, "trigger_compat_jobs", task="flaky", state="failed") == 1
        assert value(s, "trigger_compat_jobs", task="blocker", state="running") == 1
        assert value(s, "trigger_compat_jobs", task="blocker", state="failed") == 0

        # Heartbeat age of the live worker (the lost one was removed by the rescue).
        age = value(
            s,
            "trigger_compat_worker_heartbeat_age_seconds",
            worker="metricsWorker",
            worker_id=worker.worker.worker_id,
        )
        assert 0 <= age < 5
        assert not any(dict(k[1]).get("worker") == "lost" for k in s)
        assert value(s, "trigger_compat_metrics_database_errors_total") == 0

        # Scrapes share one database read per refresh interval.
        queries = metrics.database_queries
        await asyncio.to_thread(scrape, server.url)
        await asyncio.to_thread(scrape, server.url)
        assert metrics.database_queries == queries

        # The same numbers in-process, without HTTP.
        snap = metrics.snapshot(database=False)
        assert snap.counters["flaky"].retried == 1
        assert snap.running == {"ok": 0, "flaky": 0, "blocker": 1}
        assert snap.duration["ok"].count == 3
        assert snap.database is not None
        assert snap.database.jobs["ok"]["scheduled"] == 1

        release.set()
        await wait_for(lambda: metrics.snapshot(database=False).counters["blocker"].succeeded == 1)
        assert metrics.snapshot(database=False).running["blocker"] == 0
        with pytest.raises(urllib.error.HTTPError):
            await asyncio.to_thread(scrape, server.url.replace("/metrics", "/other"))
    finally:
        release.set()
        await worker.stop(timeout=5)
        server.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_command_serves_metrics(
    database_url: str, schema: str, client: Client, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        f"databaseSchema: {schema}\nworkers:\n  main:\n    pollInterval: 50\n"
        "    tasks:\n      hello: {}\n",
        encoding="utf-8",
    )
    for i in range(2):
        client.add_job("hello", {"i": i})
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from trigger_compat.cli import main; main()",
            "worker",
            "--catalog",
            str(catalog),
            "--app",
            "trigger_compat.demo.handlers",
            "--metrics-port",
            str(port),
            "--log-level",
            "WARNING",
        ],
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        samples: Samples = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                samples = parse(scrape(f"http://127.0.0.1:{port}/metrics")[0])
            except OSError:
                time.sleep(0.2)
                continue
            key = ("trigger_compat_jobs_succeeded_total", frozenset({("task", "hello")}))
            beating = any(k[0] == "trigger_compat_worker_heartbeat_age_seconds" for k in samples)
            if samples.get(key) == 2 and beating:
                break
            time.sleep(0.2)
        assert value(samples, "trigger_compat_jobs_succeeded_total", task="hello") == 2
        assert value(samples, "trigger_compat_jobs_started_total", task="hello") == 2
        assert value(samples, "trigger_compat_job_duration_seconds_count", task="hello") == 2
        assert any(k[0] == "trigger_compat_worker_heartbeat_age_seconds" for k in samples)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"metrics on http://127.0.0.1:{port}/metrics" in err
