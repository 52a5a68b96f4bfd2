"""graphile import / export against the real graphile-worker (0.13.0 and 0.16.6, installed in
tests/graphile/node): schemas built by graphile-worker's own migrations, jobs added by its own
WorkerUtils.addJob and failed by its own runOnce, imported and compared field by field; the
way back run by graphile-worker's own worker. Node is driven through one helper script
(transfer_helper.js), one process per batch of steps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from trigger_compat import Client, ConfigurationError, InvalidJobError, TransferRefusedError
from trigger_compat.core import cron_ops
from trigger_compat.core.catalog import RecurringTaskOptions
from trigger_compat.core.schedule import CronItem, backfill_plan
from trigger_compat.cutover.transfer import export_jobs, graphile_layout, import_jobs

HERE = Path(__file__).resolve().parent
HELPER = HERE / "transfer_helper.js"
NODE_MODULES = HERE / "node" / "node_modules"

if shutil.which("node") is None:
    pytest.skip(
        "node is not installed: the transfer tests drive graphile-worker from Node",
        allow_module_level=True,
    )
if (
    not (NODE_MODULES / "graphile-worker-0.16").is_dir()
    or not (NODE_MODULES / "graphile-worker-0.13").is_dir()
):
    pytest.skip(
        "graphile-worker is not installed: run `npm ci --prefix tests/graphile/node`",
        allow_module_level=True,
    )

VERSIONS = ["0.13", "0.16"]
FIELDS = (
    "task_identifier",
    "queue_name",
    "payload",
    "priority",
    "run_at",
    "attempts",
    "max_attempts",
    "last_error",
    "key",
    "revision",
    "flags",
    "created_at",
    "updated_at",
)


def node(database_url: str, steps: list[dict[str, Any]]) -> list[Any]:
    done = subprocess.run(
        ["node", str(HELPER)],
        input=json.dumps(steps),
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout)
    return result


@pytest.fixture()
def gschema(database_url: str) -> Iterator[str]:
    """A graphile-worker schema name no other test uses; dropped afterwards."""
    name = f"g_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


def graphile_jobs(db: psycopg.Connection[Any], version: str, schema: str) -> list[dict[str, Any]]:
    """graphile-worker's jobs with the task and queue names, whatever the layout."""
    if version == "0.13":
        query = sql.SQL("select * from {} order by id").format(sql.Identifier(schema, "jobs"))
    else:
        query = sql.SQL(
            "select j.*, t.identifier as task_identifier, q.queue_name from {} j "
            "join {} t on t.id = j.task_id left join {} q on q.id = j.job_queue_id order by j.id"
        ).format(
            sql.Identifier(schema, "_private_jobs"),
            sql.Identifier(schema, "_private_tasks"),
            sql.Identifier(schema, "_private_job_queues"),
        )
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def tc_jobs(db: psycopg.Connection[Any], schema: str) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            sql.SQL("select * from {} order by id").format(sql.Identifier(schema, "jobs"))
        ).fetchall()


def graphile_jobs_table(version: str, schema: str) -> sql.Identifier:
    return sql.Identifier(schema, "jobs" if version == "0.13" else "_private_jobs")


def fields(row: dict[str, Any]) -> dict[str, Any]:
    return {f: row[f] for f in FIELDS}


FAR = "2031-05-01T12:00:00.000Z"

# Every option of addJob, each job told apart by its task identifier.
SPECS: list[dict[str, Any]] = [
    {"identifier": "plain", "payload": {"a": 1, "nested": {"b": [1, 2]}}},
    {"identifier": "queued", "payload": [1, "two"], "spec": {"queueName": "sources:42"}},
    {
        "identifier": "scheduled",
        "payload": {"when": "later"},
        "spec": {"runAt": FAR, "priority": -5, "maxAttempts": 3, "flags": ["slow", "big"]},
    },
    {"identifier": "keyed", "payload": {"v": 1}, "spec": {"jobKey": "key-1"}},
    {"identifier": "keyed", "payload": {"v": 2}, "spec": {"jobKey": "key-1", "priority": 7}},
    {
        "identifier": "everything",
        "payload": {"all": True},
        "spec": {
            "queueName": "serial",
            "runAt": FAR,
            "maxAttempts": 9,
            "jobKey": "key-2",
            "jobKeyMode": "preserve_run_at",
            "priority": 3,
            "flags": ["f1"],
        },
    },
    {"identifier": "flaky", "payload": {"n": 1}, "spec": {"maxAttempts": 5, "queueName": "q2"}},
    {"identifier": "doomed", "payload": {"n": 2}, "spec": {"maxAttempts": 1, "jobKey": "key-3"}},
    {"identifier": "stale", "payload": {"n": 3}},
]


def make_graphile(database_url: str, version: str, schema: str) -> None:
    """A graphile-worker schema with a job per addJob option, one waiting to retry, one
    permanently failed (both by graphile-worker's own worker), one held by a worker that
    died five hours ago."""
    node(
        database_url,
        [
            {"op": "migrate", "version": version, "schema": schema},
            {"op": "add", "version": version, "schema": schema, "jobs": SPECS},
            {
                "op": "run",
                "version": version,
                "schema": schema,
                "tasks": {"flaky": "fail", "doomed": "fail"},
            },
        ],
    )
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute(
            sql.SQL(
                "update {} set locked_at = now() - interval '5 hours', locked_by = 'worker-dead', "
                "attempts = 1 where payload::jsonb = '{{\"n\": 3}}'"
            ).format(graphile_jobs_table(version, schema))
        )


@pytest.mark.parametrize("version", VERSIONS)
def test_import_keeps_every_field(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str, version: str
) -> None:
    make_graphile(database_url, version, gschema)
    before = {r["task_identifier"]: r for r in graphile_jobs(db, version, gschema)}
    assert set(before) == {s["identifier"] for s in SPECS}
    # What graphile-worker itself made of them.
    assert before["keyed"]["revision"] == 1 and before["keyed"]["payload"] == {"v": 2}
    assert before["flaky"]["attempts"] == 1 and before["flaky"]["last_error"]
    assert before["doomed"]["attempts"] == 1 == before["doomed"]["max_attempts"]

    layout = graphile_layout(db, gschema)
    assert layout.version == version and layout.migration == (10 if version == "0.13" else 18)

    dry = import_jobs(database_url, from_schema=gschema, schema=client.schema, dry_run=True)
    assert dry.moved == len(before) and tc_jobs(db, client.schema) == []
    assert len(graphile_jobs(db, version, gschema)) == len(before)

    report = import_jobs(database_url, from_schema=gschema, schema=client.schema)
    assert report.graphile_version == version
    assert report.moved == len(before) and report.key_kept == 0
    assert report.by_task["doomed"].failed == 1
    assert report.by_task["flaky"].moved == 1
    assert report.by_task["scheduled"].scheduled == 1
    assert report.by_task["stale"].released == 1
    assert graphile_jobs(db, version, gschema) == []
    if version == "0.13":  # its job_queues counts jobs per queue: none left
        assert (
            db.execute(
                sql.SQL("select * from {}").format(sql.Identifier(gschema, "job_queues"))
            ).fetchall()
            == []
        )

    after = {r["task_identifier"]: r for r in tc_jobs(db, client.schema)}
    assert set(after) == set(before)
    for task, old in before.items():
        new = after[task]
        assert new["locked_at"] is None and new["locked_by"] is None
        expected = fields(old)
        if task == "stale":  # released as graphile-worker releases a stale lock
            assert new["run_at"] >= old["run_at"]
            expected["run_at"] = new["run_at"]
        assert fields(new) == expected, task
    # Ids follow the original order.
    order = [r["task_identifier"] for r in graphile_jobs_sorted(before)]
    assert [r["task_identifier"] for r in tc_jobs(db, client.schema)] == order
    queues = {
        r[0]
        for r in db.execute(
            sql.SQL("select queue_name from {}").format(sql.Identifier(client.schema, "job_queues"))
        )
    }
    assert {"sources:42", "serial", "q2"} <= queues

    again = import_jobs(database_url, from_schema=gschema, schema=client.schema)
    assert again.moved == 0 and again.by_task == {}
    assert len(tc_jobs(db, client.schema)) == len(before)


def graphile_jobs_sorted(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows.values(), key=lambda r: int(r["id"]))


@pytest.mark.parametrize("version", VERSIONS)
def test_import_refuses_while_graphile_workers_look_alive(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str, version: str
) -> None:
    node(
        database_url,
        [
            {"op": "migrate", "version": version, "schema": gschema},
            {"op": "add", "version": version, "schema": gschema, "jobs": SPECS[:3]},
        ],
    )
    db.execute(
        sql.SQL(
            "update {} set locked_at = now() - interval '3 hours 59 minutes', "
            "locked_by = 'worker-0123456789abcdef', attempts = 1 "
            "where id = (select min(id) from {})"
        ).format(graphile_jobs_table(version, gschema), graphile_jobs_table(version, gschema))
    )
    with pytest.raises(TransferRefusedError) as refused:
        import_jobs(database_url, from_schema=gschema, schema=client.schema)
    message = str(refused.value)
    assert "1 job(s)" in message and "4 hours" in message and "--force" in message
    assert "worker-0123456789abcdef" in message
    assert len(graphile_jobs(db, version, gschema)) == 3 and tc_jobs(db, client.schema) == []

    report = import_jobs(database_url, from_schema=gschema, schema=client.schema, force=True)
    assert report.moved == 3 and report.totals().released == 1
    held = next(r for r in tc_jobs(db, client.schema) if r["task_identifier"] == "plain")
    assert held["locked_at"] is None and held["attempts"] == 1


def test_import_on_conflict_keep_and_replace(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str
) -> None:
    node(
        database_url,
        [
            {"op": "migrate", "version": "0.16", "schema": gschema},
            {
                "op": "add",
                "version": "0.16",
                "schema": gschema,
                "jobs": [
                    {"identifier": "a", "payload": {"from": "graphile"}, "spec": {"jobKey": "k1"}},
                    {"identifier": "b", "payload": {"from": "graphile"}, "spec": {"jobKey": "k2"}},
                    {"identifier": "c", "payload": {"from": "graphile"}},
                ],
            },
        ],
    )
    # trigger-compat already holds both keys: k1 by a waiting job, k2 by a running one.
    client.add_job("a", {"from": "trigger-compat"}, job_key="k1")
    running = client.add_job("b", {"from": "trigger-compat"}, job_key="k2")
    db.execute(
        sql.SQL(
            "update {} set locked_at = now(), locked_by = 'w', attempts = 1 where id = %s"
        ).format(sql.Identifier(client.schema, "jobs")),
        [running.id],
    )

    kept = import_jobs(database_url, from_schema=gschema, schema=client.schema)
    assert kept.moved == 1 and kept.key_kept == 2
    assert kept.by_task["a"].key_kept == 1 and kept.by_task["c"].moved == 1
    assert {r["task_identifier"] for r in graphile_jobs(db, "0.16", gschema)} == {"a", "b"}
    again = import_jobs(database_url, from_schema=gschema, schema=client.schema)
    assert again.moved == 0 and again.key_kept == 2

    replaced = import_jobs(
        database_url, from_schema=gschema, schema=client.schema, on_conflict="replace"
    )
    assert replaced.moved == 2 and replaced.key_kept == 0
    assert (replaced.replaced, replaced.detached) == (1, 1)
    assert graphile_jobs(db, "0.16", gschema) == []
    rows = tc_jobs(db, client.schema)
    by_key = {r["key"]: r for r in rows if r["key"]}
    assert by_key["k1"]["payload"] == {"from": "graphile"}
    assert by_key["k2"]["payload"] == {"from": "graphile"}
    old = next(r for r in rows if r["id"] == running.id)
    assert old["key"] is None and old["attempts"] == old["max_attempts"]
    assert old["locked_at"] is not None  # still running, can no longer retry


def test_import_carries_crontab_positions(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str
) -> None:
    node(database_url, [{"op": "migrate", "version": "0.16", "schema": gschema}])
    t0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    crontabs = sql.Identifier(gschema, "_private_known_crontabs")
    # As graphile-worker's cron writes them: hourly last scheduled 12:00; daily never ran.
    db.execute(
        sql.SQL(
            "insert into {} (identifier, known_since, last_execution) values "
            "('hourly', %s, %s), ('daily', %s, null), ('weekly', %s, %s)"
        ).format(crontabs),
        [t0, t0 + timedelta(hours=2), t0, t0, t0 + timedelta(hours=1)],
    )
    # trigger-compat registered hourly later (no tick yet) and ran weekly further.
    client.execute(cron_ops.register_crontabs(["hourly"], t0 + timedelta(hours=3)))
    client.execute(
        cron_ops.schedule_cron_jobs(
            t0 + timedelta(hours=5), False, [CronItem.from_options("weekly", "0 * * * *")]
        )
    )
    report = import_jobs(database_url, from_schema=gschema, schema=client.schema)
    assert sorted(report.crontabs) == ["daily", "hourly", "weekly"]
    known = client.execute(cron_ops.register_crontabs(["hourly", "daily", "weekly"], t0))
    assert known["hourly"].known_since == t0
    assert known["hourly"].last_execution == t0 + timedelta(hours=2)
    assert known["daily"].last_execution is None and known["daily"].known_since == t0
    assert known["weekly"].last_execution == t0 + timedelta(hours=5)  # never moved back

    # The tick graphile-worker scheduled is not scheduled again; the backfill resumes after it.
    hourly = CronItem.from_options(
        "hourly",
        "0 * * * *",
        RecurringTaskOptions.model_validate({"backfillPeriod": 6 * 3600 * 1000}),
    )
    assert (
        client.execute(cron_ops.schedule_cron_jobs(t0 + timedelta(hours=2), False, [hourly])) == []
    )
    plan = backfill_plan([hourly], known, t0 + timedelta(hours=4, minutes=30))
    # 12:00 is planned but refused by the claim above; 13:00 and 14:00 are the missed ticks.
    assert [tick for tick, _ in plan] == [t0 + timedelta(hours=h) for h in (2, 3, 4)]

    # A second run changes nothing.
    assert import_jobs(database_url, from_schema=gschema, schema=client.schema).crontabs == []


@pytest.mark.parametrize("version", VERSIONS)
def test_export_runs_on_graphile_worker(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str, version: str
) -> None:
    node(database_url, [{"op": "migrate", "version": version, "schema": gschema}])
    past = datetime.now(UTC) - timedelta(minutes=1)
    client.add_job("plain", {"n": 1})
    client.add_job("queued", {"n": 2}, queue_name="serial", priority=-3)
    client.add_job("keyed", {"n": 3}, job_key="key-1", flags=["f"], max_attempts=4, run_at=past)
    client.add_job("later", {"n": 4}, run_at=datetime(2031, 1, 1, tzinfo=UTC))
    failed = client.add_job("dead", {"n": 5}, max_attempts=2)
    db.execute(
        sql.SQL("update {} set attempts = 2, last_error = 'boom' where id = %s").format(
            sql.Identifier(client.schema, "jobs")
        ),
        [failed.id],
    )
    before = {r["task_identifier"]: r for r in tc_jobs(db, client.schema)}

    report = export_jobs(database_url, to_schema=gschema, schema=client.schema)
    assert report.moved == 5 and report.by_task["dead"].failed == 1
    assert tc_jobs(db, client.schema) == []
    after = {r["task_identifier"]: r for r in graphile_jobs(db, version, gschema)}
    assert {t: fields(r) for t, r in after.items()} == {t: fields(r) for t, r in before.items()}
    assert export_jobs(database_url, to_schema=gschema, schema=client.schema).moved == 0
    if version == "0.13":  # its job_queues counts jobs per queue, as its own triggers would
        assert db.execute(
            sql.SQL("select queue_name, job_count, locked_at from {}").format(
                sql.Identifier(gschema, "job_queues")
            )
        ).fetchall() == [("serial", 1, None)]

    ran = node(
        database_url,
        [
            {
                "op": "run",
                "version": version,
                "schema": gschema,
                "tasks": {t: "ok" for t in ("plain", "queued", "keyed", "later", "dead")},
            }
        ],
    )[0]
    # graphile-worker's own worker ran every due job (priority, then run_at), deleting them.
    assert [r[0] for r in ran] == ["queued", "keyed", "plain"]
    assert {r[0]: r[1] for r in ran}["keyed"] == {"n": 3}
    assert sorted(r["task_identifier"] for r in graphile_jobs(db, version, gschema)) == [
        "dead",
        "later",
    ]


def test_export_refuses_while_workers_look_alive(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str
) -> None:
    node(database_url, [{"op": "migrate", "version": "0.16", "schema": gschema}])
    job = client.add_job("t", {})
    db.execute(
        sql.SQL(
            "insert into {} (worker_id, name, last_heartbeat_at) values ('w1', 'main', now())"
        ).format(sql.Identifier(client.schema, "workers"))
    )
    db.execute(
        sql.SQL("update {} set locked_at = now(), locked_by = 'w1', attempts = 1").format(
            sql.Identifier(client.schema, "jobs")
        )
    )
    with pytest.raises(TransferRefusedError, match="--force") as refused:
        export_jobs(database_url, to_schema=gschema, schema=client.schema)
    assert "1 job(s) running" in str(refused.value)
    assert len(tc_jobs(db, client.schema)) == 1
    report = export_jobs(database_url, to_schema=gschema, schema=client.schema, force=True)
    assert report.moved == 1 and report.totals().released == 1
    (row,) = graphile_jobs(db, "0.16", gschema)
    assert row["locked_at"] is None and row["attempts"] == 1 and row["payload"] == job.payload


def test_bad_input_leaves_everything_unchanged(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str
) -> None:
    node(
        database_url,
        [
            {"op": "migrate", "version": "0.13", "schema": gschema},
            {"op": "add", "version": "0.13", "schema": gschema, "jobs": SPECS[:2]},
        ],
    )
    # graphile-worker 0.13 checks its limits in add_job only; a row written another way may
    # hold what trigger-compat cannot.
    db.execute(
        sql.SQL("update {} set priority = 40000 where task_identifier = 'plain'").format(
            sql.Identifier(gschema, "jobs")
        )
    )
    with pytest.raises(InvalidJobError, match="priority outside from -32768 to 32767"):
        import_jobs(database_url, from_schema=gschema, schema=client.schema)
    assert len(graphile_jobs(db, "0.13", gschema)) == 2 and tc_jobs(db, client.schema) == []
    with pytest.raises(ConfigurationError, match="from_schema"):
        import_jobs(database_url, from_schema=client.schema + "_nope", schema=client.schema)
    with pytest.raises(ConfigurationError, match="on_conflict"):
        import_jobs(
            database_url,
            from_schema=gschema,
            schema=client.schema,
            on_conflict="merge",  # type: ignore[arg-type]
        )


def test_cli_import_and_export(
    database_url: str, db: psycopg.Connection[Any], client: Client, gschema: str
) -> None:
    from click.testing import CliRunner

    from trigger_compat.cli import main

    node(
        database_url,
        [
            {"op": "migrate", "version": "0.16", "schema": gschema},
            {"op": "add", "version": "0.16", "schema": gschema, "jobs": SPECS[:3]},
        ],
    )
    base = ["--database-url", database_url, "--schema", client.schema]
    table = graphile_jobs_table("0.16", gschema)
    db.execute(
        sql.SQL("update {} set locked_at = now(), locked_by = 'worker-x' where id = 1").format(
            table
        )
    )
    refused = CliRunner().invoke(main, ["graphile", "import", "--from-schema", gschema, *base])
    assert refused.exit_code == 3, refused.output
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("error:")]
    assert "look alive" in line and "--force" in line

    db.execute(sql.SQL("update {} set locked_at = null, locked_by = null").format(table))
    dry = CliRunner().invoke(
        main, ["graphile", "import", "--from-schema", gschema, "--dry-run", *base]
    )
    assert dry.exit_code == 0, dry.output
    assert "would move 3 job(s)" in dry.stdout and "dry run" in dry.stdout
    assert "moving 3 job(s)" in dry.stderr  # progress, per phase
    assert len(graphile_jobs(db, "0.16", gschema)) == 3

    done = CliRunner().invoke(
        main, ["graphile", "import", "--from-schema", gschema, "--json", *base]
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["moved"] == 3 and set(report["by_task"]) == {"plain", "queued", "scheduled"}
    assert report["by_task"]["scheduled"]["scheduled"] == 1

    back = CliRunner().invoke(
        main, ["graphile", "export", "--to-schema", gschema, "--on-conflict", "replace", *base]
    )
    assert back.exit_code == 0, back.output
    assert "moved 3 job(s) from trigger-compat" in back.stdout
    assert len(graphile_jobs(db, "0.16", gschema)) == 3

    wrong = CliRunner().invoke(main, ["graphile", "export", "--to-schema", "nowhere", *base])
    assert wrong.exit_code == 2 and "to_schema" in wrong.stderr
