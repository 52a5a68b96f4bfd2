"""A failed attempt's traceback: stored with the job, printed by ``jobs show``, carried by
the worker's log record; the JSON log format, from the CLI and the Python API."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from trigger_compat import AsyncClient, Client
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.logs import JsonFormatter, configure_logging
from trigger_compat.runtime.tasks import Task
from trigger_compat.runtime.worker import Worker, WorkerOptions

from .conftest import CLI

APP = """\
def _call_upstream(n):
    raise RuntimeError(f"upstream returned {n}")


def charge(payload, job):
    _call_upstream(500)


handlers = {"charge": charge}
"""


def _failed(db: psycopg.Connection[Any], schema: str, job_id: int) -> dict[str, Any] | None:
    row = db.execute(
        psycopg.sql.SQL("select attempts, locked_at, last_error from {}.jobs where id = %s").format(
            psycopg.sql.Identifier(schema)
        ),
        (job_id,),
    ).fetchone()
    if row is None or row[0] < 1 or row[1] is not None:
        return None
    return {"attempts": row[0], "last_error": row[2]}


def test_worker_json_logs_and_jobs_show_traceback(
    cli: CLI,
    database_url: str,
    schema: str,
    client: Client,
    db: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    (tmp_path / "obs_app.py").write_text(APP, encoding="utf-8")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        f"databaseSchema: {schema}\nworkers:\n  billing:\n    pollInterval: 50\n"
        "    tasks:\n      charge:\n        maxAttempts: 1\n",
        encoding="utf-8",
    )
    job = client.add_job("charge", {"order": 7}, max_attempts=1)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from trigger_compat.cli import main; main()",
            "worker",
            "--catalog",
            str(catalog),
            "--app",
            "obs_app",
            "--log-format",
            "json",
        ],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (row := _failed(db, schema, job.id)) is None:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the job never failed"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err

    # Stored: the message first, then the traceback down to the innermost frame.
    stored = row["last_error"]
    assert stored.startswith("RuntimeError: upstream returned 500\n\nTraceback")
    assert (
        "in _call_upstream" in stored and 'raise RuntimeError(f"upstream returned {n}")' in stored
    )

    # The log line of the failed attempt, as JSON with the job's fields and the traceback.
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    [failure] = [r for r in records if r.get("job_id") == job.id and r["level"] == "WARNING"]
    assert failure["task"] == "charge" and failure["attempt"] == 1
    assert failure["worker_id"].startswith("billing-")
    assert failure["outcome"] == "failed" and failure["duration"] >= 0
    assert "upstream returned 500" in failure["message"]
    assert failure["exc_type"] == "RuntimeError"
    assert failure["exc_message"] == "upstream returned 500"
    assert "in _call_upstream" in failure["exc_info"]
    assert all(set(r) >= {"ts", "level", "logger", "message"} for r in records)

    # jobs show prints it.
    shown = cli("jobs", "show", str(job.id))
    assert shown.code == 0, shown.err
    assert "  RuntimeError: upstream returned 500\n" in shown.out
    assert "  Traceback (most recent call last):\n" in shown.out
    assert "in _call_upstream" in shown.out


async def test_json_formatter_in_process(aclient: AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("trigger_compat.worker")
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.DEBUG)

    async def ok(payload: Any, job: Job) -> None:
        return None

    async def bad(payload: Any, job: Job) -> None:
        raise ValueError("no such account")

    try:
        good = await aclient.add_job("ok", {})
        failing = await aclient.add_job("bad", {}, max_attempts=3)
        worker = Worker(
            aclient,
            {"ok": Task("ok", ok), "bad": Task("bad", bad)},
            name="api",
            options=WorkerOptions(concurrency=2),
        )
        assert await worker.run_once() == 2
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    records = {r["job_id"]: r for r in map(json.loads, stream.getvalue().splitlines())}
    done, failed = records[good.id], records[failing.id]
    assert done["level"] == "DEBUG" and done["outcome"] == "complete" and done["task"] == "ok"
    assert done["worker_id"] == worker.worker_id and done["attempt"] == 1
    assert done["duration"] >= 0 and "exc_info" not in done
    assert failed["outcome"] == "retry" and failed["exc_type"] == "ValueError"
    assert failed["exc_info"].startswith("Traceback (most recent call last):")


def test_configure_logging_picks_the_format() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure_logging("info", "json", stream=stream)
        logging.getLogger("trigger_compat.test").info("hello %s", "there", extra={"job_id": 3})
        logging.getLogger("trigger_compat.test").debug("not shown")
        [line] = stream.getvalue().splitlines()
        record = json.loads(line)
        assert record["message"] == "hello there" and record["job_id"] == 3
        assert record["logger"] == "trigger_compat.test" and record["level"] == "INFO"
        stream.truncate(0)
        stream.seek(0)
        configure_logging("INFO", "text", stream=stream)
        logging.getLogger("trigger_compat.test").warning("plain")
        assert stream.getvalue().rstrip().endswith("WARNING trigger_compat.test: plain")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
