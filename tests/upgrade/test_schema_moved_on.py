"""A worker of this version on a schema that a newer version contracted under it (a function it
calls changed its signature): it stops, with one line that says why, instead of retrying for
ever; a schema that is merely not migrated yet keeps it waiting, as before."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from support.processes import DEADLINE_S, wait_sync

from trigger_compat import AsyncClient, Client
from trigger_compat.core import admin_ops
from trigger_compat.core import migrations as migrations_module
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from ._changes import contract_too_early


async def _until(predicate: Any, what: str) -> None:
    end = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _jobs_left(db: psycopg.Connection[Any], schema: str) -> int:
    row = db.execute(sql.SQL("select count(*) from {}.jobs").format(sql.Identifier(schema)))
    found = row.fetchone()
    assert found is not None
    return int(found[0])


async def test_a_worker_stops_with_one_line_when_a_newer_version_contracts_its_schema(
    database_url: str,
    schema: str,
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="trigger_compat")
    ran: list[int] = []

    async def probe(payload: dict[str, Any], job: Any) -> None:
        ran.append(int(payload["n"]))

    async with AsyncClient(database_url, schema=schema) as client:
        await client.migrate()
        worker = Worker(
            client,
            {"probe": Task("probe", probe)},
            # Woken by LISTEN only: no fetch while the newer version's migrations are the
            # ones this process reads (the monkeypatch below).
            options=WorkerOptions(concurrency=2, poll_interval=600),
        )
        await worker.start()
        try:
            for n in range(5):
                await client.add_job("probe", {"n": n})
            await _until(lambda: len(ran) == 5 and _jobs_left(db, schema) == 0, "5 runs")

            migrations, functions = contract_too_early()
            with monkeypatch.context() as patch:
                patch.setattr(migrations_module, "migrations", lambda: migrations)
                patch.setattr(migrations_module, "functions", lambda: functions)
                async with AsyncClient(database_url, schema=schema) as newer:
                    assert await newer.migrate() == [migrations[-1].version]
            await client.add_job("probe", {"n": 99})
            await asyncio.wait_for(worker.wait_stopped(), DEADLINE_S)
        finally:
            await worker.stop(timeout=0)

    assert worker.fatal is not None
    said = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("trigger_compat")
    ]
    assert said == [str(worker.fatal)], said
    assert f"schema {schema!r} was migrated by a newer version of trigger-compat" in said[0]
    assert f"[{migrations[-1].version}]" in said[0]
    assert "settle_and_fetch" in said[0] and "stopping" in said[0]
    assert 99 not in ran  # added after the contract: left for the newer workers
    assert _jobs_left(db, schema) == 1


async def test_a_worker_on_a_schema_not_migrated_yet_keeps_waiting(
    database_url: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No version ahead of this one: the worker retries (``migrate`` will come)."""
    caplog.set_level(logging.INFO, logger="trigger_compat")
    async with AsyncClient(database_url, schema=schema) as client:
        await client.migrate()
        worker = Worker(client, {"probe": Task("probe", lambda p, j: None)})
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop function {}.settle_and_fetch").format(sql.Identifier(schema))
            )
        await worker.start()
        try:
            await _until(
                lambda: sum("fetching jobs failed" in r.getMessage() for r in caplog.records) >= 2,
                "the worker to fetch again after a failed fetch",
            )
            assert worker.fatal is None
        finally:
            await worker.stop(timeout=0)


def test_health_of_this_version_on_a_schema_a_newer_version_migrated(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Healthy while its workers beat (they run on the schema until a contract step); the
    schema being ahead is said, not counted as a problem."""
    from click.testing import CliRunner

    from trigger_compat.cli import main
    from trigger_compat.core import worker_ops

    migrations, functions = contract_too_early()
    with monkeypatch.context() as patch:
        patch.setattr(migrations_module, "migrations", lambda: migrations)
        patch.setattr(migrations_module, "functions", lambda: functions)
        with Client(database_url, schema=schema) as newer:
            newer.migrate()
            newer.execute(worker_ops.heartbeat("w1", "main", "h", 1, ["probe"]), None)
    where = ["--database-url", database_url, "--schema", schema]
    run = CliRunner().invoke(main, ["health", "--json", *where], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["healthy"] is True and report["problems"] == []
    assert f"[{migrations[-1].version}]" in report["schema_ahead"]
    text = CliRunner().invoke(main, ["health", *where], catch_exceptions=False)
    assert text.exit_code == 0
    assert "note: " in text.stdout and "newer version of trigger-compat" in text.stdout


CLI_CATALOG = """
databaseSchema: {schema}
workers:
  main:
    concurrency: 2
    pollInterval: 100
    tasks:
      probe: {{}}
"""


def test_the_worker_command_exits_4_after_that_one_line(
    tmp_path: Path, database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "catalog.yaml").write_text(CLI_CATALOG.format(schema=schema), encoding="utf-8")
    (tmp_path / "upgrade_app.py").write_text(
        "async def probe(payload, job):\n    return None\n\nhandlers = {'probe': probe}\n",
        encoding="utf-8",
    )
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    command = [
        str(Path(sys.executable).parent / "trigger-compat"),
        "worker",
        "--catalog",
        "catalog.yaml",
        "--app",
        "upgrade_app",
    ]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            with Client(database_url, schema=schema) as client:
                client.migrate()
                wait_sync(
                    lambda: bool(client.execute(admin_ops.workers(), None)),
                    "the worker to register",
                )
                migrations, functions = contract_too_early()
                with monkeypatch.context() as patch:
                    patch.setattr(migrations_module, "migrations", lambda: migrations)
                    patch.setattr(migrations_module, "functions", lambda: functions)
                    client.migrate()
                client.add_job("probe", {})
            out, _ = proc.communicate(timeout=DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 4, out
    complaints = [line for line in out.splitlines() if "WARNING" in line or "ERROR" in line.upper()]
    assert len(complaints) == 1, out
    assert "was migrated by a newer version of trigger-compat" in complaints[0]
