"""Several worker processes on one schema: named queues limited across processes, crash
recovery after SIGKILL, and a drain of a few thousand jobs, each run exactly once."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trigger_compat import Client, JobSpec

from ._support import (
    DEADLINE_S,
    execution_counts,
    jobs_table,
    live_workers,
    q,
    rows,
    start_worker_process,
    wait_sync,
    worker_processes,
)


def _start(database_url: str, schema: str, count: int, tmp_path: Path, *args: str) -> list[Any]:
    return [
        start_worker_process(
            database_url, schema, "--name", f"p{n}", *args, log=tmp_path / f"worker{n}.log"
        )
        for n in range(count)
    ]


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log"))


def _wait_registered(db: psycopg.Connection[Any], schema: str, count: int) -> None:
    wait_sync(lambda: live_workers(db, schema) == count, f"{count} registered worker processes")


def _runs(db: psycopg.Connection[Any], schema: str) -> list[dict[str, Any]]:
    return rows(db, q(schema, "select * from {s}.runs order by started_at, id"))


def test_serial_queue_across_four_processes(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    jobs = 16
    with worker_processes(_start(database_url, side, 4, tmp_path, "--poll", "0.2")):
        _wait_registered(db, side, 4)
        client.add_jobs(
            [JobSpec(identifier="gauge", payload={"hold": 0.05}, queue_name="serial")] * jobs
        )
        # Decoys outside the queue keep every process busy fetching meanwhile.
        client.add_jobs([JobSpec(identifier="record", payload={})] * 20)
        wait_sync(
            lambda: (
                len(rows(db, q(side, "select 1 from {s}.runs where ended_at is not null"))) == jobs
            ),
            "every job of the serial queue",
            timeout=60,
        )
    runs = _runs(db, side)
    assert len(runs) == jobs, _logs(tmp_path)
    for before, after in itertools.pairwise(runs):
        assert before["ended_at"] <= after["started_at"], (before, after)
    assert rows(db, q(side, "select peak from {s}.gauge"))[0]["peak"] == 1
    assert len({r["pid"] for r in runs}) > 1  # the queue really moved between processes
    assert jobs_table(db, side) == []


def test_queue_with_concurrency_3_across_processes(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client.set_queue_concurrency("three", 3)
    jobs = 12
    with worker_processes(_start(database_url, side, 4, tmp_path, "--poll", "0.2")):
        _wait_registered(db, side, 4)
        # Each job waits (up to 15 s) until three run at once, then holds a little.
        client.add_jobs(
            [
                JobSpec(
                    identifier="gauge",
                    payload={"want_peak": 3, "hold": 0.05},
                    queue_name="three",
                )
            ]
            * jobs
        )
        wait_sync(
            lambda: (
                len(rows(db, q(side, "select 1 from {s}.runs where ended_at is not null"))) == jobs
            ),
            "every job of the queue",
            timeout=90,
        )
    assert rows(db, q(side, "select peak from {s}.gauge"))[0]["peak"] == 3, _logs(tmp_path)
    runs = _runs(db, side)
    # At no start time were more than three runs open.
    for r in runs:
        open_runs = [o for o in runs if o["started_at"] <= r["started_at"] < o["ended_at"]]
        assert len(open_runs) <= 3
    assert jobs_table(db, side) == []


def test_sigkill_mid_job_another_worker_finishes_it(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    rescue_after, poll = 2.0, 1.0
    common = ("--poll", str(poll), "--rescue-after", str(rescue_after), "--tasks", "block")
    victim = start_worker_process(
        database_url, side, "--name", "victim", "--block", *common, log=tmp_path / "victim.log"
    )
    with worker_processes([victim]) as procs:
        _wait_registered(db, side, 1)
        job = client.add_job("block", {})
        wait_sync(lambda: bool(_runs(db, side)), "the job to start in the victim")
        rescuer = start_worker_process(
            database_url, side, "--name", "rescuer", *common, log=tmp_path / "rescuer.log"
        )
        procs.append(rescuer)
        _wait_registered(db, side, 2)
        victim_id = rows(db, q(side, "select locked_by from {s}.jobs"))[0]["locked_by"]
        killed_at = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        victim.wait(DEADLINE_S)
        wait_sync(
            lambda: execution_counts(db, side).get(job.id) == 1,
            "the rescuer to finish the job",
            interval=0.01,
        )
        elapsed = time.monotonic() - killed_at
    assert elapsed <= rescue_after + poll, (elapsed, _logs(tmp_path))
    (execution,) = rows(db, q(side, "select * from {s}.executions"))
    assert execution["worker"] == "rescuer"
    assert execution["attempt"] == 2  # the lost attempt counted
    assert f"worker {victim_id} was lost" in execution["last_error"]
    assert jobs_table(db, side) == []


@pytest.mark.stress
@pytest.mark.timeout(480)
def test_stress_several_processes_drain_every_job_exactly_once(
    tmp_path: Path, side: str, client: Client, database_url: str, db: psycopg.Connection[Any]
) -> None:
    total = 3000
    with worker_processes(
        _start(database_url, side, 4, tmp_path, "--poll", "0.2", "--concurrency", "8")
    ):
        _wait_registered(db, side, 4)
        for start in range(0, total, 500):
            client.add_jobs(
                [JobSpec(identifier="record", payload={"n": n}) for n in range(start, start + 500)]
            )
        wait_sync(
            lambda: sum(execution_counts(db, side).values()) >= total,
            "every job",
            timeout=300,  # a deadline, not a speed claim: a loaded 2-core CI machine is slow
            interval=0.1,
        )
        wait_sync(lambda: jobs_table(db, side) == [], "every job settled", timeout=60)
    counts = execution_counts(db, side)
    assert len(counts) == total
    assert set(counts.values()) == {1}, _logs(tmp_path)
    per_process = rows(db, q(side, "select count(distinct pid) as n from {s}.executions"))
    assert per_process[0]["n"] > 1
