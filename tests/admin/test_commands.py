"""Every admin command against a real database (JSON outputs parsed and asserted)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trigger_compat import Client
from trigger_compat.cli import admin
from trigger_compat.core import worker_ops

from .conftest import CLI

HOUR = timedelta(hours=1)


def now() -> datetime:
    return datetime.now(UTC)


def arrange_states(client: Client) -> dict[str, int]:
    """One job (or two) in every state; returns their ids by name."""
    running = client.add_job("sendEmail", {"to": "a"})
    assert [j.id for j in client.fetch_jobs("w1", 1, task_identifiers=["sendEmail"])] == [
        running.id
    ]
    scheduled = client.add_job("sendEmail", {"to": "b"}, run_at=now() + HOUR)
    retrying = client.add_job("deliverEvent", {"id": "a"}, queue_name="events:a")
    client.fetch_jobs("w1", 1, task_identifiers=["deliverEvent"])
    client.fail_job(retrying.id, "try again", run_at=now() + HOUR)
    failed = client.add_job("deliverEvent", {"id": "b"}, queue_name="events:b", max_attempts=1)
    client.fetch_jobs("w1", 1, task_identifiers=["deliverEvent"])
    client.fail_job(failed.id, "Error: boom\n  at line 1")
    waiting = client.add_job("sendEmail", {"to": "c"})
    waiting2 = client.add_job("sendEmail", {"to": "d"}, job_key="email:d")
    client.execute(worker_ops.heartbeat("w1", "main", "host-1", 4242, ["sendEmail"]), None)
    return {
        "running": running.id,
        "scheduled": scheduled.id,
        "retrying": retrying.id,
        "failed": failed.id,
        "waiting": waiting.id,
        "waiting2": waiting2.id,
    }


def counts(entry: dict[str, Any]) -> dict[str, int]:
    return {k: entry[k] for k in ("waiting", "scheduled", "running", "retrying", "failed")}


# -- migrate -------------------------------------------------------------------------------


def test_migrate_dry_run_then_migrate(cli: CLI, db: psycopg.Connection[Any], schema: str) -> None:
    dry = cli("migrate", "--dry-run")
    assert dry.code == 0, dry.err
    assert "create table jobs" in dry.out
    assert "create table workers" in dry.out
    assert f'set local search_path to "{schema}", pg_temp;' in dry.out
    exists = db.execute(
        "select count(*) from information_schema.schemata where schema_name = %s", [schema]
    ).fetchone()
    assert exists == (0,)  # nothing was run

    first = cli("migrate")
    assert first.code == 0, first.err
    assert "applied migration(s) 1, 2" in first.out
    again = cli("migrate")
    assert "up to date" in again.out
    assert "up to date" in cli("migrate", "--dry-run").out


# -- status --------------------------------------------------------------------------------


def test_status_json(cli: CLI, client: Client) -> None:
    arrange_states(client)
    run = cli("status", "--json")
    assert run.code == 0, run.err
    data = run.json()
    tasks = {t["task"]: t for t in data["tasks"]}
    assert counts(tasks["sendEmail"]) == {
        "waiting": 2,
        "scheduled": 1,
        "running": 1,
        "retrying": 0,
        "failed": 0,
    }
    assert counts(tasks["deliverEvent"]) == {
        "waiting": 0,
        "scheduled": 0,
        "running": 0,
        "retrying": 1,
        "failed": 1,
    }
    assert 0 <= tasks["sendEmail"]["oldest_waiting_age_seconds"] < 60
    assert tasks["deliverEvent"]["oldest_waiting_age_seconds"] is None
    queues = {q["queue"]: counts(q) for q in data["queues"]}
    assert queues == {
        "events:a": {"waiting": 0, "scheduled": 0, "running": 0, "retrying": 1, "failed": 0},
        "events:b": {"waiting": 0, "scheduled": 0, "running": 0, "retrying": 0, "failed": 1},
    }
    assert data["totals"]["total"] == 6
    [worker] = data["workers"]
    assert worker["worker_id"] == "w1"
    assert worker["name"] == "main"
    assert worker["running"] == 1
    assert 0 <= worker["heartbeat_age_seconds"] < 60


def test_status_text(cli: CLI, client: Client) -> None:
    arrange_states(client)
    run = cli("status")
    assert run.code == 0, run.err
    assert "Jobs by task" in run.out and "Jobs by queue" in run.out
    assert "OLDEST WAITING" in run.out
    line = next(x for x in run.out.splitlines() if x.strip().startswith("sendEmail"))
    assert line.split()[1:6] == ["2", "1", "1", "0", "0"]
    assert "Workers: 1 live, 0 stale" in run.out
    assert "\x1b[" not in run.out  # no colour off a terminal


def test_status_on_an_empty_schema(cli: CLI, client: Client) -> None:
    data = cli("status", "--json").json()
    assert data["tasks"] == [] and data["workers"] == []
    assert data["totals"]["total"] == 0


# -- jobs list / show ------------------------------------------------------------------------


def test_jobs_list_filters(cli: CLI, client: Client) -> None:
    ids = arrange_states(client)

    def listed(*args: str) -> list[int]:
        run = cli("jobs", "list", "--json", *args)
        assert run.code == 0, run.err
        return [j["id"] for j in run.json()]

    assert listed() == sorted(ids.values())
    assert listed("--task", "deliverEvent") == [ids["retrying"], ids["failed"]]
    assert listed("--queue", "events:b") == [ids["failed"]]
    for state in ("running", "scheduled", "retrying", "failed"):
        assert listed("--state", state) == [ids[state]]
    assert listed("--state", "waiting") == [ids["waiting"], ids["waiting2"]]
    assert listed("--task", "sendEmail", "--state", "waiting", "--limit", "1") == [ids["waiting"]]
    rows = cli("jobs", "list", "--json", "--state", "failed").json()
    assert rows[0]["state"] == "failed"
    assert rows[0]["last_error"].startswith("Error: boom")
    text = cli("jobs", "list").out
    assert "ID" in text.splitlines()[0] and "STATE" in text.splitlines()[0]
    assert "Error: boom" in text
    bad = cli("jobs", "list", "--state", "stuck")
    assert bad.code == 2


def test_jobs_show(cli: CLI, client: Client) -> None:
    ids = arrange_states(client)
    run = cli("jobs", "show", str(ids["failed"]), "--json")
    assert run.code == 0, run.err
    job = run.json()
    assert job["id"] == ids["failed"]
    assert job["state"] == "failed"
    assert job["payload"] == {"id": "b"}
    assert job["attempts"] == job["max_attempts"] == 1
    text = cli("jobs", "show", str(ids["failed"])).out
    assert f"job {ids['failed']}  deliverEvent  [failed]" in text
    assert '"id": "b"' in text  # payload pretty-printed
    assert "  Error: boom\n    at line 1" in text
    missing = cli("jobs", "show", "999999")
    assert missing.code == admin.EXIT_NOT_FOUND
    assert "no job 999999" in missing.err


# -- changing jobs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["retry", "{failed}"],
        ["retry", "--failed"],
        ["remove", "email:d"],
        ["fail", "{waiting}", "--message", "no"],
        ["reschedule", "{waiting}", "--run-at", "+1h"],
        ["clean", "--failed", "--older-than", "0s"],
    ],
)
def test_changing_commands_refuse_without_yes_off_a_terminal(
    cli: CLI, client: Client, args: list[str]
) -> None:
    ids = arrange_states(client)
    before = cli("jobs", "list", "--json").json()
    run = cli(*[a.format(**ids) for a in args])
    assert run.code == admin.EXIT_REFUSED
    assert "pass --yes" in run.err
    assert cli("jobs", "list", "--json").json() == before


def test_confirmation_prompt(cli: CLI, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = arrange_states(client)
    monkeypatch.setattr(admin, "_interactive", lambda: True)
    no = cli("retry", str(ids["failed"]), input="n\n")
    assert no.code == admin.EXIT_REFUSED
    assert "aborted" in no.err
    assert cli("jobs", "show", str(ids["failed"]), "--json").json()["state"] == "failed"
    yes = cli("retry", str(ids["failed"]), input="y\n")
    assert yes.code == 0, yes.err
    assert cli("jobs", "show", str(ids["failed"]), "--json").json()["state"] == "waiting"


def test_retry_ids(cli: CLI, client: Client) -> None:
    ids = arrange_states(client)
    run = cli("retry", str(ids["failed"]), f"{ids['retrying']},{ids['running']}", "--yes", "--json")
    assert run.code == 0, run.err
    data = run.json()
    assert data["retried"] == 2
    assert data["skipped"] == [ids["running"]]
    for name in ("failed", "retrying"):
        job = client.get_job(ids[name])
        assert job is not None
        assert job.attempts == 0
        assert job.run_at <= now()
    assert cli("jobs", "list", "--json", "--state", "failed").json() == []
    text = cli("retry", "999999", "--yes")
    assert text.code == admin.EXIT_NOT_FOUND  # found nothing: not a success (issue 20)
    assert "retried 0 jobs; not found or running: 999999" in text.out
    assert "none of the jobs 999999" in text.err


def test_retry_failed_by_task_and_age(
    cli: CLI, client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    def failed_job(task: str) -> int:
        job = client.add_job(task, {}, max_attempts=1)
        client.permanently_fail_jobs([job.id], "broken")
        return job.id

    old_email, new_email, old_event = (
        failed_job("sendEmail"),
        failed_job("sendEmail"),
        failed_job("deliverEvent"),
    )
    db.execute(
        psycopg.sql.SQL(
            "update {}.jobs set updated_at = now() - interval '3 hours' where id = any(%s)"
        ).format(psycopg.sql.Identifier(schema)),
        [[old_email, old_event]],
    )
    run = cli("retry", "--failed", "--task", "sendEmail", "--older-than", "2h", "--yes", "--json")
    assert run.code == 0, run.err
    assert run.json() == {"retried": 1, "matched": 1, "statements": 1}
    states = {j["id"]: j["state"] for j in cli("jobs", "list", "--json").json()}
    assert states == {old_email: "waiting", new_email: "failed", old_event: "failed"}
    none = cli("retry", "--failed", "--task", "nothing", "--yes", "--json")
    assert none.json() == {"retried": 0, "statements": 0}
    assert cli("retry", "--failed", "1").code == 2  # IDS and --failed together
    assert cli("retry").code == 2
    assert cli("retry", "--failed", "--older-than", "soon", "--yes").code == 2


def test_remove(cli: CLI, client: Client) -> None:
    ids = arrange_states(client)
    run = cli("remove", "email:d", "--yes", "--json")
    assert run.code == 0, run.err
    data = run.json()
    assert data["removed"] is True and data["job"]["id"] == ids["waiting2"]
    assert client.get_job(ids["waiting2"]) is None
    missing = cli("remove", "email:d", "--yes")
    assert missing.code == admin.EXIT_NOT_FOUND
    assert "no job has key 'email:d'" in missing.err
    # A running job keeps running, loses its key and will not retry.
    client.add_job("sendEmail", {"to": "r"}, job_key="email:r")
    [locked] = client.fetch_jobs("w2", 5, task_identifiers=["sendEmail"])[-1:]
    assert locked.key == "email:r"
    running = cli("remove", "email:r", "--yes")
    assert running.code == 0
    assert "is running" in running.out


def test_fail(cli: CLI, client: Client) -> None:
    ids = arrange_states(client)
    run = cli(
        "fail", str(ids["waiting"]), str(ids["running"]), "--message", "bad data", "--yes", "--json"
    )
    assert run.code == 0, run.err
    assert run.json() == {"failed": 1, "skipped": [ids["running"]], "statements": 1}
    job = cli("jobs", "show", str(ids["waiting"]), "--json").json()
    assert job["state"] == "failed" and job["last_error"] == "bad data"
    assert cli("fail", str(ids["waiting"]), "--yes").code == 2  # --message is required


def test_reschedule(cli: CLI, client: Client) -> None:
    ids = arrange_states(client)
    run = cli(
        "reschedule",
        str(ids["waiting"]),
        "--run-at",
        "2031-05-01T10:00:00+00:00",
        "--yes",
        "--json",
    )
    assert run.code == 0, run.err
    assert run.json()["rescheduled"] == 1
    job = client.get_job(ids["waiting"])
    assert job is not None and job.run_at == datetime(2031, 5, 1, 10, tzinfo=UTC)
    soon = cli("reschedule", str(ids["scheduled"]), "--run-at", "+2h", "--priority", "-3", "--yes")
    assert soon.code == 0, soon.err
    job = client.get_job(ids["scheduled"])
    assert job is not None and job.priority == -3
    assert abs((job.run_at - now() - 2 * HOUR).total_seconds()) < 60
    assert cli("reschedule", "1", "--run-at", "whenever", "--yes").code == 2


def test_clean(cli: CLI, client: Client, db: psycopg.Connection[Any], schema: str) -> None:
    ids = arrange_states(client)
    extra = client.add_job("sendEmail", {"to": "x"}, max_attempts=1)
    client.permanently_fail_jobs([extra.id], "old")
    db.execute(
        psycopg.sql.SQL(
            "update {}.jobs set updated_at = now() - interval '8 days' where id = any(%s)"
        ).format(psycopg.sql.Identifier(schema)),
        [[ids["failed"], extra.id]],
    )
    recent = client.add_job("sendEmail", {"to": "y"}, max_attempts=1)
    client.permanently_fail_jobs([recent.id], "recent")
    run = cli("clean", "--failed", "--older-than", "7d", "--task", "sendEmail", "--yes", "--json")
    assert run.code == 0, run.err
    assert run.json() == {"deleted": 1, "matched": 1, "statements": 1}
    assert client.get_job(extra.id) is None
    run = cli("clean", "--failed", "--older-than", "7d", "--yes")
    assert "deleted 1 failed job in 1 batch" in run.out
    assert client.get_job(ids["failed"]) is None
    assert client.get_job(recent.id) is not None  # too recent
    assert client.get_job(ids["waiting"]) is not None
    assert cli("clean", "--older-than", "7d", "--yes").code == 2  # --failed is required


# -- enqueue -------------------------------------------------------------------------------


def test_enqueue_validated_against_the_catalog(
    cli: CLI, client: Client, catalog_file: Path
) -> None:
    run = cli(
        "enqueue",
        "sendEmail",
        '{"to": "ops@example.com"}',
        "--catalog",
        str(catalog_file),
        "--json",
    )
    assert run.code == 0, run.err
    job = run.json()
    assert job["task_identifier"] == "sendEmail"
    assert job["payload"] == {"to": "ops@example.com"}
    assert job["priority"] == 5 and job["max_attempts"] == 3  # from the catalog

    run = cli(
        "enqueue", "deliverEvent", '{"id": "e1"}', "--catalog", str(catalog_file), "--json",
        "--run-at", "+1h", "--priority", "9", "--max-attempts", "2",
    )  # fmt: skip
    assert run.code == 0, run.err
    job = run.json()
    assert job["queue_name"] == "events:e1" and job["key"] == "event:e1"
    assert job["priority"] == 9 and job["max_attempts"] == 2
    assert datetime.fromisoformat(job["run_at"]) > now() + timedelta(minutes=59)

    text = cli(
        "enqueue", "sendEmail", '{"to": "b"}', "--catalog", str(catalog_file),
        "--job-key", "mail:b", "--job-key-mode", "preserve_run_at",
    )  # fmt: skip
    assert text.code == 0, text.err
    assert "enqueued job" in text.out and "key mail:b" in text.out

    before = len(cli("jobs", "list", "--json").json())
    bad = cli("enqueue", "sendEmail", '{"to": 5}', "--catalog", str(catalog_file))
    assert bad.code == admin.EXIT_INVALID
    assert "does not match the schema" in bad.err
    assert cli("enqueue", "nope", "{}", "--catalog", str(catalog_file)).code == 2
    assert cli("enqueue", "sendEmail", "{not json", "--catalog", str(catalog_file)).code == 2
    assert len(cli("jobs", "list", "--json").json()) == before


def test_enqueue_takes_the_schema_from_the_catalog(
    database_url: str, client: Client, catalog_file: Path
) -> None:
    from click.testing import CliRunner

    from trigger_compat.cli import main

    result = CliRunner().invoke(
        main,
        ["enqueue", "sendEmail", '{"to": "c"}', "--catalog", str(catalog_file)],
        env={"DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.stderr
    assert [j.payload for j in client.fetch_jobs("w", 5)] == [{"to": "c"}]


def test_admin_commands_read_only_the_schema_of_the_catalog(
    database_url: str, client: Client, catalog_file: Path, tmp_path: Path
) -> None:
    """status takes its schema from the catalog's databaseSchema without loading the rest of
    it: a catalog whose task schema file is missing still names the schema (enqueue, which
    needs the tasks, reports the problem); a file that is not YAML is reported as before."""
    from click.testing import CliRunner

    from trigger_compat.cli import main

    client.add_job("t", {})
    (tmp_path / "email.json").unlink()
    env = {"DATABASE_URL": database_url}
    status = CliRunner().invoke(main, ["status", "--json", "--catalog", str(catalog_file)], env=env)
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["schema"] == client.schema
    enqueue = CliRunner().invoke(
        main, ["enqueue", "sendEmail", '{"to": "c"}', "--catalog", str(catalog_file)], env=env
    )
    assert enqueue.exit_code == admin.EXIT_INVALID
    assert "email.json" in enqueue.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("databaseSchema: [unclosed\n", encoding="utf-8")
    bad = CliRunner().invoke(main, ["status", "--catalog", str(broken)], env=env)
    assert bad.exit_code == admin.EXIT_INVALID
    assert "broken.yaml" in bad.stderr


def test_enqueue_needs_a_catalog(
    cli: CLI, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = cli("enqueue", "sendEmail", "{}")
    assert run.code == 2
    assert "catalog" in run.err


# -- health and errors ---------------------------------------------------------------------


def test_health(cli: CLI, client: Client, db: psycopg.Connection[Any], schema: str) -> None:
    none = cli("health", "--json")
    assert none.code == admin.EXIT_UNHEALTHY
    assert none.json()["healthy"] is False
    assert "no worker heartbeat" in none.json()["problems"][0]
    assert cli("health", "--no-require-worker").code == 0

    client.execute(worker_ops.heartbeat("w1", "main", "h", 1, ["sendEmail"]), None)
    ok = cli("health", "--json")
    assert ok.code == 0, ok.out
    data = ok.json()
    assert data["healthy"] is True and data["live_workers"] == 1
    assert data["schema_version"] == data["latest_version"]
    assert "healthy" in cli("health").out

    db.execute(
        psycopg.sql.SQL(
            "update {}.workers set last_heartbeat_at = now() - interval '5 minutes'"
        ).format(psycopg.sql.Identifier(schema))
    )
    stale = cli("health")
    assert stale.code == admin.EXIT_UNHEALTHY
    assert "no worker heartbeat in the last 1m00s (freshest: 5m" in stale.out
    assert cli("health", "--max-heartbeat-age", "10m").code == 0


def test_health_when_the_schema_is_behind(cli: CLI) -> None:
    run = cli("health", "--no-require-worker", "--json")
    assert run.code == admin.EXIT_UNHEALTHY
    assert "pending migration" in run.json()["problems"][0]


def test_unmigrated_schema_and_unreachable_database(cli: CLI) -> None:
    run = cli("status")
    assert run.code == admin.EXIT_DATABASE
    assert "not migrated" in run.err
    down = cli("status", "--database-url", "postgresql://postgres@127.0.0.1:1/none", db=False)
    assert down.code == admin.EXIT_DATABASE
    assert "cannot reach the database" in down.err


def test_every_command_is_listed_where_the_cli_finds_it() -> None:
    """The CLI imports a command's module only when that command runs; its table must name
    every command of every module, and nothing else."""
    import importlib

    from trigger_compat.cli import COMMANDS, main

    for module in set(COMMANDS.values()):
        importlib.import_module(f"trigger_compat.cli.{module}")
    assert set(main.commands) == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert main.commands[name].callback.__module__ == f"trigger_compat.cli.{module}", name
