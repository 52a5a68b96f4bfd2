"""Pause seen by three worker processes: once ``pause`` returns, no job of the paused task
starts in any of them (they keep running other tasks); after ``resume`` the jobs run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from trigger_compat import Client, JobSpec

from ._support import live_workers, q, rows, start_worker_process, wait_sync, worker_processes


def _count(db: psycopg.Connection[Any], schema: str, text: str) -> int:
    return int(rows(db, q(schema, "select count(*) as n from " + text))[0]["n"])


def test_pause_is_seen_by_three_worker_processes(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    procs = [
        start_worker_process(
            database_url,
            side,
            "--name",
            f"p{n}",
            "--poll",
            "0.2",
            "--tasks",
            "record,gauge",
            log=tmp_path / f"worker{n}.log",
        )
        for n in range(3)
    ]
    with worker_processes(procs):
        wait_sync(lambda: live_workers(db, side) == 3, "3 registered worker processes")
        client.add_jobs([JobSpec(identifier="gauge", payload={"hold": 0.05})] * 60)
        wait_sync(lambda: _count(db, side, "{s}.runs") >= 6, "gauge jobs running")
        assert client.pause(task="gauge") == ["gauge"]
        waiting = {
            r["id"]
            for r in rows(
                db,
                q(side, "select id from {s}.jobs where task_identifier = 'gauge' and attempts = 0"),
            )
        }
        assert waiting, "every gauge job started before the pause: make the jobs longer"
        # Jobs still enqueue while paused, and the workers go on fetching other tasks.
        more = client.add_jobs([JobSpec(identifier="gauge", payload={"hold": 0.01})] * 5)
        client.add_jobs([JobSpec(identifier="record", payload={})] * 30)
        wait_sync(lambda: _count(db, side, "{s}.executions") == 30, "the unpaused task's jobs")
        wait_sync(
            lambda: _count(db, side, "{s}.jobs where locked_at is not null") == 0,
            "the gauge jobs fetched before the pause to finish",
        )
        not_started = {
            r["id"]
            for r in rows(
                db,
                q(side, "select id from {s}.jobs where task_identifier = 'gauge' and attempts = 0"),
            )
        }
        assert not_started == waiting | {j.id for j in more}
        started = {r["job_id"] for r in rows(db, q(side, "select job_id from {s}.runs"))}
        assert not started & not_started
        assert client.resume(task="gauge") == ["gauge"]
        wait_sync(lambda: _count(db, side, "{s}.jobs") == 0, "the paused jobs to run after resume")
    assert _count(db, side, "{s}.runs") == 65
