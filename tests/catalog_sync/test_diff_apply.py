"""``catalog diff``, ``catalog apply`` and ``catalog validate --against-db`` against a real
database: what differs, what apply changes (once), waiting jobs rewritten but never running
ones, templated queues rendered in SQL as in Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from tests.support.processes import q, rows
from trigger_compat import Client
from trigger_compat.cli import main
from trigger_compat.core.catalog_loader import load_catalog
from trigger_compat.core.catalog_sync import declared_tasks
from trigger_compat.core.templates import parse_template

BEFORE = """
databaseSchema: {schema}
queues:
  reports: 1
workers:
  main:
    concurrency: 2
    tasks:
      deliver:
        queueName: "hooks:{{id}}"
        priority: 0
        maxAttempts: 10
      startRun:
        maxAttempts: 25
    recurringTasks:
      purge:
        match: "0 * * * *"
"""

AFTER = """
databaseSchema: {schema}
queues:
  reports: 4
workers:
  main:
    concurrency: 2
    tasks:
      deliver:
        queueName: "webhooks:{{id}}"
        priority: 2
        maxAttempts: 3
    recurringTasks:
      purgeOld:
        match: "0 * * * *"
      tick:
        match: "*/5 * * * *"
"""


def _write(tmp_path: Path, text: str, schema: str) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(text.format(schema=schema), encoding="utf-8")
    return str(path)


def _cli(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--database-url", database_url])


@pytest.fixture()
def arranged(tmp_path: Path, database_url: str, schema: str) -> str:
    """The BEFORE catalog applied, with 3 deliver jobs and 1 startRun job waiting."""
    path = _write(tmp_path, BEFORE, schema)
    with Client(database_url, schema=schema, catalog=path) as c:
        c.migrate()
        for i in range(3):
            c.enqueue("deliver", {"id": f"h{i}"})
        c.enqueue("startRun", {"id": "r1"})
    applied = _cli(database_url, "catalog", "apply", path, "--yes")
    assert applied.exit_code == 0, applied.output
    return path


def test_diff_is_0_when_the_catalog_matches_and_1_listing_every_difference(
    tmp_path: Path, database_url: str, schema: str, arranged: str
) -> None:
    same = _cli(database_url, "catalog", "diff", arranged)
    assert same.exit_code == 0, same.output
    assert "nothing differs" in same.output

    _write(tmp_path, AFTER, schema)
    text = _cli(database_url, "catalog", "diff", arranged)
    assert text.exit_code == 1, text.output
    assert "~ reports: stored 1, declared 4" in text.output
    assert "+ tick: '*/5 * * * *' (added)" in text.output
    assert "- purge: '0 * * * *' (no longer declared)" in text.output
    assert "+ purgeOld: '0 * * * *' (added; looks like purge renamed)" in text.output
    assert "! startRun: 1 pending" in text.output

    out = _cli(database_url, "catalog", "diff", arranged, "--json")
    assert out.exit_code == 1
    data = json.loads(out.output)
    assert data["differs"] is True
    assert data["queues"] == [{"queue": "reports", "stored": 1, "declared": 4}]
    changes = {c["identifier"]: c for c in data["recurringTasks"]}
    assert changes["tick"]["change"] == "added"
    assert changes["tick"]["nextTick"].endswith(("0:00+00:00", "5:00+00:00"))
    assert changes["purge"]["change"] == "removed"
    assert data["undeclaredTasks"] == [{"task": "startRun", "pending": 1}]
    assert data["pendingJobs"] == [
        {"task": "deliver", "pending": 3, "differing": 3, "priority": 3, "maxAttempts": 3,
         "queue": 3}
    ]  # fmt: skip


def test_validate_against_db_reports_breaking_edits_with_file_and_line(
    tmp_path: Path, database_url: str, schema: str, arranged: str
) -> None:
    _write(tmp_path, AFTER, schema)
    result = _cli(database_url, "catalog", "validate", arranged, "--against-db")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    removed = [x for x in lines if "'startRun' is not declared" in x]
    renamed = [x for x in lines if "looks like 'purge' renamed" in x]
    source = AFTER.splitlines()
    workers = source.index("workers:") + 1
    assert removed and removed[0].startswith(f"{arranged}:{workers}:1 workers:")
    line = source.index("      purgeOld:") + 1
    assert renamed and renamed[0].startswith(
        f"{arranged}:{line}:7 workers.main.recurringTasks.purgeOld:"
    )
    # Without --against-db the same file is valid.
    assert _cli(database_url, "catalog", "validate", arranged).exit_code == 0


def test_apply_changes_once_and_update_pending_rewrites_waiting_jobs_only(
    tmp_path: Path, database_url: str, schema: str, arranged: str, db: psycopg.Connection[Any]
) -> None:
    running = rows(
        db, q(schema, "select min(id) as id from {s}.jobs where task_identifier = 'deliver'")
    )
    running_id = running[0]["id"]
    db.execute(
        q(schema, "update {s}.jobs set locked_at = now(), locked_by = 'w' where id = %s"),
        (running_id,),
    )
    _write(tmp_path, AFTER, schema)

    dry = _cli(database_url, "catalog", "apply", arranged, "--update-pending", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would update 2 pending job(s)" in dry.output
    limit = q(schema, "select concurrency from {s}.job_queues where queue_name = 'reports'")
    assert rows(db, limit) == [{"concurrency": 1}]

    refused = CliRunner().invoke(
        main, ["catalog", "apply", arranged, "--database-url", database_url], input=""
    )
    assert refused.exit_code == 3, refused.output

    first = _cli(
        database_url, "catalog", "apply", arranged, "--update-pending", "--yes", "--json",
        "--batch-size", "1",
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert {(c["kind"], c["name"], c["old"], c["new"]) for c in data["changes"]} == {
        ("queue", "reports", "1", "4"),
        ("recurring:added", "purgeOld", None, "0 * * * *"),
        ("recurring:added", "tick", None, "*/5 * * * *"),
        ("recurring:removed", "purge", "0 * * * *", None),
    }
    assert data["updatedPending"] == 2
    assert data["statements"] >= 2

    jobs = rows(
        db,
        q(schema, "select id, payload, queue_name, priority, max_attempts from {s}.jobs "
                  "where task_identifier = 'deliver' order by id"),
    )  # fmt: skip
    for job in jobs:
        if job["id"] == running_id:  # running: never touched
            assert (job["queue_name"], job["priority"], job["max_attempts"]) == ("hooks:h0", 0, 10)
        else:
            expected = ("webhooks:" + job["payload"]["id"], 2, 3)
            assert (job["queue_name"], job["priority"], job["max_attempts"]) == expected
    queues = {r["queue_name"] for r in rows(db, q(schema, "select queue_name from {s}.job_queues"))}
    assert {"webhooks:h1", "webhooks:h2"} <= queues  # fetchable: the queue rows exist

    second = _cli(database_url, "catalog", "apply", arranged, "--update-pending", "--yes")
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert "updated 0 pending job(s)" in second.output
    after = _cli(database_url, "catalog", "diff", arranged, "--json")
    data = json.loads(after.output)
    assert data["queues"] == [] and data["recurringTasks"] == [] and data["pendingJobs"] == []
    assert data["undeclaredTasks"] == [{"task": "startRun", "pending": 1}]


def test_lowering_max_attempts_below_the_attempts_made_leaves_one_more_attempt(
    tmp_path: Path, database_url: str, schema: str, arranged: str, db: psycopg.Connection[Any]
) -> None:
    db.execute(q(schema, "update {s}.jobs set attempts = 5 where task_identifier = 'deliver'"))
    _write(tmp_path, AFTER, schema)
    done = _cli(database_url, "catalog", "apply", arranged, "--update-pending", "--yes")
    assert done.exit_code == 0, done.output
    found = rows(
        db, q(schema, "select max_attempts from {s}.jobs where task_identifier = 'deliver'")
    )
    assert [r["max_attempts"] for r in found] == [6, 6, 6]  # waiting, not failed
    assert (
        _cli(database_url, "catalog", "diff", arranged, "--json").output.count('"task": "deliver"')
        == 0
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "a"},
        {"id": 7},
        {"id": 7.0},
        {"id": True},
        {"id": "x", "event": {"id": "e1"}},
        {"event": {"id": "e1"}},
        {"id": None},
        {"id": {"nested": 1}},
        {"items": ["first", "second"], "id": "i"},
    ],
)
def test_render_template_in_sql_renders_as_python_does(
    database_url: str, client: Client, schema: str, db: psycopg.Connection[Any], payload: Any
) -> None:
    client.migrate()
    for text in ("q:{id}", "{{lit}}-{id}-{event.id}", "{items.1}/{id}", "constant"):
        template = parse_template(text)
        parts = [p if isinstance(p, str) else list(p) for p in template.parts]
        try:
            expected: str | None = template.render(payload)
        except Exception:
            expected = None
        got = rows(
            db,
            q(schema, "select {s}.render_template(%s::jsonb, %s::jsonb) as r"),
            json.dumps(parts),
            json.dumps(payload),
        )[0]["r"]
        assert got == expected, (text, payload)


def test_declared_tasks_fill_in_the_defaults(tmp_path: Path, schema: str) -> None:
    cat = load_catalog(_write(tmp_path, BEFORE, schema))
    by_id = {t.identifier: t for t in declared_tasks(cat)}
    assert (by_id["startRun"].priority, by_id["startRun"].max_attempts) == (0, 25)
    assert by_id["startRun"].queue is None
    assert by_id["deliver"].queue == ["hooks:", ["id"]]
