"""The catalog's ``rescueAfterInMs``: validated (a range, one value for every worker of a
catalog), carried to the running worker (its heartbeat and its rescue of lost workers' jobs),
and applied by a reload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from trigger_compat.core import worker_ops
from trigger_compat.core.catalog import Catalog
from trigger_compat.core.catalog_loader import parse_catalog
from trigger_compat.core.catalog_sync import describe_changes
from trigger_compat.core.jobs import Job
from trigger_compat.runtime.zodworker import ZodWorker

from ._support import make_catalog, q, wait_for

CATALOG = """
databaseSchema: {schema}
workers:
  main:
    pollInterval: 50
    shutdownTimeoutInMs: 200
    rescueAfterInMs: {rescue}
    tasks:
      job: {{}}
"""


def test_a_value_below_a_second_is_refused_with_its_line() -> None:
    report = parse_catalog("workers:\n  main:\n    rescueAfterInMs: 0\n    tasks:\n      a: {}\n")
    assert not report.ok and report.catalog is None
    (problem,) = report.errors
    assert (problem.line, problem.column) == (3, 22)
    assert problem.path == "workers.main.rescueAfterInMs"
    assert "must be ≥ 1000 (got 0)" in problem.message


def test_a_value_of_the_wrong_type_is_refused() -> None:
    report = parse_catalog("workers:\n  main:\n    rescueAfterInMs: soon\n    tasks: {}\n")
    (problem,) = report.errors
    assert problem.path == "workers.main.rescueAfterInMs"
    assert "must be an integer (got 'soon')" in problem.message


def test_every_worker_of_a_catalog_uses_the_same_value() -> None:
    text = (
        "workers:\n"
        "  a:\n    rescueAfterInMs: 10000\n    tasks: {x: {}}\n"
        "  b:\n    rescueAfterInMs: 60000\n    tasks: {y: {}}\n"
        "  c:\n    tasks: {z: {}}\n"  # the default, 30000
    )
    report = parse_catalog(text)
    assert not report.ok
    found = {(p.path, p.line) for p in report.errors}
    assert found == {("workers.b.rescueAfterInMs", 6), ("workers.c", 8)}
    assert all("set the same rescueAfterInMs on every worker" in p.message for p in report.errors)
    # The model refuses it too (a catalog built in code).
    with pytest.raises(ValidationError, match="set the same rescueAfterInMs"):
        Catalog.model_validate(
            {
                "workers": {
                    "a": {"rescueAfterInMs": 10000, "tasks": {"x": {}}},
                    "b": {"tasks": {"y": {}}},
                }
            }
        )
    same = parse_catalog(
        text.replace("60000", "10000").replace("tasks: {z", "rescueAfterInMs: 10000\n    tasks: {z")
    )
    assert same.ok, same.problems


def test_the_default_is_thirty_seconds(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path, "workers:\n  main:\n    tasks:\n      a: {}\n")
    assert catalog.workers["main"].rescue_after_in_ms == 30_000
    zw = ZodWorker("main", catalog, database_url="unused")
    assert zw.options.rescue_after == 30.0
    # The constructor's argument wins over the catalog.
    assert (
        ZodWorker("main", catalog, database_url="unused", rescue_after=5).options.rescue_after == 5
    )


def test_a_reload_reports_and_applies_a_new_value(tmp_path: Path) -> None:
    old = make_catalog(tmp_path, CATALOG.format(schema="s", rescue=30000))
    new = make_catalog(tmp_path, CATALOG.format(schema="s", rescue=5000))
    assert "rescueAfterInMs 30000 -> 5000" in describe_changes("main", old, new)


async def test_the_worker_heartbeats_and_rescues_by_the_catalog_value(
    tmp_path: Path, database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    """With rescueAfterInMs 1500, the jobs of a worker silent for 10 s are released and run
    here (the default, 30 s, would leave them locked)."""
    catalog = make_catalog(tmp_path, CATALOG.format(schema=schema, rescue=1500))
    ran = asyncio.Event()

    async def job(payload: Any, job: Job) -> None:
        ran.set()

    zw = ZodWorker("main", catalog, handlers={"job": job}, database_url=database_url)
    try:
        await zw.client.migrate()
        added = await zw.enqueue("job", {})
        # A worker that fetched the job, then fell silent 10 s ago.
        await zw.client.execute(worker_ops.heartbeat("ghost", "ghost", "h", 1, ["job"]))
        assert [j.id for j in await zw.client.fetch_jobs("ghost", 1)] == [added.id]
        db.execute(
            q(
                schema,
                "update {s}.workers set last_heartbeat_at = now() - interval '10 s'"
                " where worker_id = 'ghost'",
            )
        )
        await zw.initialize()
        assert zw.worker is not None and zw.worker.options.rescue_after == 1.5
        await asyncio.wait_for(ran.wait(), 30)
        row = db.execute(
            q(schema, "select count(*) from {s}.workers where worker_id = 'ghost'")
        ).fetchone()
        assert row == (0,)

        # A reload applies a new value to the running worker.
        path = tmp_path / "reload.yaml"
        path.write_text(CATALOG.format(schema=schema, rescue=4000), "utf-8")
        changes = await zw.reload(path)
        assert "rescueAfterInMs 1500 -> 4000" in changes
        await wait_for(
            lambda: zw.worker is not None and zw.worker.options.rescue_after == 4.0,
            "the reloaded rescue_after",
        )
    finally:
        await zw.stop()
