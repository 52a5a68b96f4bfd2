"""Live reload of a running worker's catalog: by SIGHUP and by the notification of
``catalog apply``, a broken edit refused while the worker keeps running, and
``--update-pending`` racing with worker processes fetching the same jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tests.support.processes import (
    DEADLINE_S,
    q,
    rows,
    subprocess_env,
    wait_sync,
    worker_processes,
)
from trigger_compat import Client, JobSpec
from trigger_compat.cli import main
from trigger_compat.runtime.zodworker import ZodWorker

PROCS = Path(__file__).with_name("procs")

CATALOG = """
databaseSchema: {schema}
workers:
  main:
    concurrency: {concurrency}
    pollInterval: 50
    shutdownTimeoutInMs: 200
    tasks:
      hold: {{}}
      count:
        maxAttempts: {max_attempts}
        priority: {priority}
"""


def _catalog(path: Path, schema: str, concurrency: int = 1, **settings: int) -> Path:
    values = {"max_attempts": 25, "priority": 0, **settings}
    path.write_text(CATALOG.format(schema=schema, concurrency=concurrency, **values), "utf-8")
    return path


class Proc:
    """A ``trigger-compat worker`` process and the lines it has written so far."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, text: str, count: int = 1) -> list[str]:
        def found() -> list[str]:
            return [line for line in list(self.lines) if text in line]

        wait_sync(lambda: len(found()) >= count, f"a log line with {text!r}: {self.lines}")
        return found()


@contextmanager
def _workers(catalog: Path, database_url: str, schema: str, count: int = 1) -> Iterator[list[Proc]]:
    env = subprocess_env([PROCS])
    env.update(SYNC_TEST_URL=database_url, SYNC_TEST_SCHEMA=schema, DATABASE_URL=database_url)
    command = [
        str(Path(sys.executable).parent / "trigger-compat"), "worker", "--catalog", str(catalog),
        "--app", "sync_app",
    ]  # fmt: skip
    popens = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(count)
    ]
    with worker_processes(popens):  # type: ignore[arg-type]
        procs = [Proc(p) for p in popens]
        for p in procs:
            p.wait_line("running")
        yield procs


@pytest.fixture()
def side(database_url: str, schema: str) -> Iterator[str]:
    """The schema, migrated, with the ``runs`` table the handlers write."""
    with Client(database_url, schema=schema) as c:
        c.migrate()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(q(schema, "create table {s}.runs (job_id bigint not null, pid int)"))
    yield schema


def _runs(db: psycopg.Connection[Any], schema: str) -> int:
    return int(rows(db, q(schema, "select count(*) as n from {s}.runs"))[0]["n"])


def _locked(db: psycopg.Connection[Any], schema: str) -> int:
    found = rows(db, q(schema, "select count(*) as n from {s}.jobs where locked_at is not null"))
    return int(found[0]["n"])


def test_sighup_applies_a_raised_concurrency_and_a_broken_edit_is_refused(
    tmp_path: Path, database_url: str, side: str, db: psycopg.Connection[Any]
) -> None:
    path = _catalog(tmp_path / "catalog.yaml", side, concurrency=1)
    with Client(database_url, schema=side) as c, _workers(path, database_url, side) as [proc]:
        for _ in range(3):
            c.add_job("hold", {"seconds": 60})
        wait_sync(lambda: _runs(db, side) == 1, "one job running")

        path.write_text(path.read_text().replace("concurrency: 1", "concurrency: 0"), "utf-8")
        proc.popen.send_signal(1)  # SIGHUP
        refused = proc.wait_line("refused")
        assert "keeping the running catalog" in refused[0]
        problem = proc.wait_line(f"{path}:")[0]
        assert f"{path}:5:18 workers.main.concurrency:" in problem  # file:line:column
        assert proc.popen.poll() is None
        assert _locked(db, side) == 1 and _runs(db, side) == 1  # the running job kept running

        _catalog(path, side, concurrency=3)
        proc.popen.send_signal(1)
        proc.wait_line("catalog reload: concurrency 1 -> 3")
        wait_sync(lambda: _runs(db, side) == 3, "three jobs running after the reload")
        assert proc.popen.poll() is None


def test_catalog_apply_tells_every_worker_process_to_reload(
    tmp_path: Path, database_url: str, side: str, db: psycopg.Connection[Any]
) -> None:
    path = _catalog(tmp_path / "catalog.yaml", side, concurrency=1)
    with Client(database_url, schema=side) as c, _workers(path, database_url, side, 2) as procs:
        for _ in range(6):
            c.add_job("hold", {"seconds": 60})
        wait_sync(lambda: _runs(db, side) == 2, "one job running in each process")

        _catalog(path, side, concurrency=2, max_attempts=5)
        applied = CliRunner().invoke(
            main, ["catalog", "apply", str(path), "--yes", "--database-url", database_url]
        )
        assert applied.exit_code == 0, applied.output
        assert "running workers were told to reload" in applied.output
        for proc in procs:
            proc.wait_line("catalog reload: concurrency 1 -> 2")
            proc.wait_line("task count: maxAttempts 25 -> 5")
        wait_sync(lambda: _runs(db, side) == 4, "two jobs running in each process")
        assert all(p.popen.poll() is None for p in procs)


def test_update_pending_racing_with_workers_loses_no_job_and_runs_none_twice(
    tmp_path: Path, database_url: str, side: str, db: psycopg.Connection[Any]
) -> None:
    path = _catalog(tmp_path / "catalog.yaml", side, concurrency=5)
    total = 300
    with Client(database_url, schema=side) as c, _workers(path, database_url, side, 2):
        ids = {
            job.id
            for job in c.add_jobs(
                [JobSpec(identifier="count", payload={"n": i}) for i in range(total)]
            )
        }
        _catalog(path, side, concurrency=5, max_attempts=3, priority=1)
        applied = CliRunner().invoke(
            main,
            [
                "catalog", "apply", str(path), "--update-pending", "--yes", "--json",
                "--batch-size", "20", "--database-url", database_url,
            ],
        )  # fmt: skip
        assert applied.exit_code == 0, applied.output
        assert json.loads(applied.output)["updatedPending"] > 0  # it did race with the workers
        wait_sync(
            lambda: not rows(db, q(side, "select 1 from {s}.jobs limit 1")),
            "every job done",
            timeout=DEADLINE_S * 4,
        )
    ran = rows(db, q(side, "select job_id, count(*) as n from {s}.runs group by job_id"))
    assert {r["job_id"] for r in ran} == ids  # none lost
    assert all(r["n"] == 1 for r in ran)  # none run twice


async def test_reload_in_process_adds_a_recurring_task_and_refuses_a_broken_file(
    tmp_path: Path, database_url: str, side: str, db: psycopg.Connection[Any]
) -> None:
    path = _catalog(tmp_path / "catalog.yaml", side, concurrency=2)

    async def count(payload: Any, job: Any) -> None:
        return None

    handlers = {"count": count, "hold": count}
    zw = ZodWorker("main", path, database_url=database_url, handlers=handlers)
    await zw.initialize()
    try:
        assert zw.worker is not None and zw.scheduler is not None
        assert zw.scheduler.items == []
        path.write_text(
            path.read_text()
            + "    recurringTasks:\n      tick:\n        match: '*/5 * * * *'\n"
            + "        handler: 'trigger_compat.demo.handlers:log_job'\n",
            "utf-8",
        )
        changes = await zw.reload()
        assert changes == ["recurring task tick: added"]
        assert zw.scheduler is not None
        assert [i.identifier for i in zw.scheduler.items] == ["tick"]
        assert "tick" in zw.worker.tasks and "count" in zw.worker.tasks
        known = rows(db, q(side, "select identifier from {s}.known_crontabs"))
        assert known == [{"identifier": "tick"}]  # registered by the new scheduler

        path.write_text("workers: {main: {concurrency: 0}}\n", "utf-8")
        assert await zw.reload() is None
        assert zw.options.concurrency == 2 and "tick" in zw.worker.tasks
    finally:
        await zw.stop(timeout=1)
