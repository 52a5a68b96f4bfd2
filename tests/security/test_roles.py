"""The documented roles, tested with real restricted login roles: a producer that can only
add jobs, and a worker that runs jobs without any DDL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import make_conninfo

from trigger_compat import Client, JobSpec
from trigger_compat.core import cron_ops, worker_ops
from trigger_compat.core.sqlfiles import grant_sql

PASSWORD = "s3cret-role-pw"


@pytest.fixture()
def roles(
    client: Client, db: psycopg.Connection[Any], database_url: str
) -> Iterator[dict[str, str]]:
    """Two login roles with the producer and worker grants on the test schema; their DSNs."""
    tag = uuid.uuid4().hex[:8]
    names = {"producer": f"tc_producer_{tag}", "worker": f"tc_worker_{tag}"}
    for kind, name in names.items():
        db.execute(
            sql.SQL("create role {} login password {}").format(
                sql.Identifier(name), sql.Literal(PASSWORD)
            )
        )
        db.execute(grant_sql(client.schema, kind, name))
    try:
        yield {
            kind: make_conninfo(database_url, user=name, password=PASSWORD)
            for kind, name in names.items()
        }
    finally:
        for name in names.values():
            db.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            db.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def denied(conninfo: str, statement: str | sql.Composed, params: Any = None) -> None:
    with (
        psycopg.connect(conninfo, autocommit=True) as conn,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        conn.execute(statement, params)


def q(schema: str, text: str) -> sql.Composed:
    return sql.SQL(text).format(s=sql.Identifier(schema))


def test_producer_can_add_jobs(roles: dict[str, str], client: Client) -> None:
    with Client(roles["producer"], schema=client.schema) as producer:
        job = producer.add_job("send", {"to": "a@example.com"}, queue_name="mail")
        keyed = producer.add_job("send", {"n": 1}, job_key="k1")
        batch = producer.add_jobs(
            [JobSpec(identifier="send"), JobSpec(identifier="b", job_key="k2")]
        )
    # The owner sees what the producer added.
    assert client.get_job(job.id) == job
    assert client.get_job(keyed.id) is not None
    assert [j.task_identifier for j in batch] == ["send", "b"]


def test_producer_cannot_read_change_or_delete_jobs(roles: dict[str, str], client: Client) -> None:
    other = client.add_job("secret", {"card": "4111"}, job_key="theirs")
    s = client.schema
    p = roles["producer"]
    for statement in (
        "select * from {s}.jobs",
        "select count(*) from {s}.jobs",
        "update {s}.jobs set payload = '{{}}'",
        "delete from {s}.jobs",
        "truncate {s}.jobs",
        "insert into {s}.jobs (task_identifier) values ('direct')",
        "select * from {s}.job_queues",
        "select * from {s}.workers",
        "select * from {s}.remove_job('theirs')",
        "select * from {s}.fetch_jobs('w', 10)",
        "select * from {s}.complete_jobs(array[1]::bigint[])",
        "select * from {s}.fail_job(1, 'x')",
        "select * from {s}.permanently_fail_jobs(array[1]::bigint[])",
        "select * from {s}.reschedule_jobs(array[1]::bigint[])",
        "select * from {s}.force_unlock_workers(array['w'])",
        "select {s}.set_queue_concurrency('q', 5)",
        "create table {s}.mine (x int)",
        "drop table {s}.jobs",
        "alter table {s}.jobs add column x int",
        "create function {s}.jobs_count() returns bigint language sql as 'select 1'",
    ):
        denied(p, q(s, statement))
    assert client.get_job(other.id) == other


def test_producer_cannot_redefine_the_functions(roles: dict[str, str], client: Client) -> None:
    denied(
        roles["producer"],
        q(
            client.schema,
            "alter function {s}.add_job(text, jsonb, text, timestamptz, integer, "
            "text, integer, text[], text, timestamptz, boolean) security invoker",
        ),
    )
    denied(
        roles["producer"],
        q(
            client.schema,
            "create or replace function {s}.notify_jobs(job_count integer) "
            "returns void language sql as 'select'",
        ),
    )


def test_public_cannot_call_the_functions(
    roles: dict[str, str], client: Client, db: psycopg.Connection[Any], database_url: str
) -> None:
    """A role with USAGE on the schema but no grant of ours cannot add jobs."""
    name = f"tc_other_{uuid.uuid4().hex[:8]}"
    db.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
    try:
        db.execute(q(client.schema, "grant usage on schema {s} to ") + sql.Identifier(name))
        other = make_conninfo(database_url, user=name)
        denied(other, q(client.schema, "select * from {s}.add_job('x')"))
        denied(other, q(client.schema, "select * from {s}.fetch_jobs('w')"))
    finally:
        db.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
        db.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_worker_runs_jobs(roles: dict[str, str], client: Client) -> None:
    ids = [client.add_job("work", {"i": i}).id for i in range(3)]
    with Client(roles["worker"], schema=client.schema) as worker:
        worker.execute(worker_ops.heartbeat("w1", "main", "host", 1, None))
        fetched = worker.fetch_jobs("w1", 3)
        assert sorted(j.id for j in fetched) == ids
        assert worker.complete_jobs([ids[0]], worker_id="w1") == [ids[0]]
        failed = worker.fail_job(ids[1], "boom", worker_id="w1")
        assert failed is not None and failed.last_error == "boom"
        worker.execute(worker_ops.rescue_jobs(timedelta(seconds=0)))
        worker.execute(worker_ops.unregister_worker("w1"))
        assert worker.add_job("follow-up").task_identifier == "follow-up"
        # The cleanup task's collection of empty queue rows (it locks job_queues).
        worker.add_job("queued", queue_name="gone")
        [queued] = worker.fetch_jobs("w1", 1, task_identifiers=["queued"])
        worker.complete_jobs([queued.id])
        assert worker.execute(cron_ops.collect_job_queues(10)) == 1


def test_worker_has_no_ddl(roles: dict[str, str], client: Client) -> None:
    s = client.schema
    w = roles["worker"]
    for statement in (
        "create table {s}.mine (x int)",
        "drop table {s}.jobs",
        "alter table {s}.jobs add column x int",
        "create index on {s}.jobs (payload)",
        "drop function {s}.add_job(text, jsonb, text, timestamptz, integer, text, integer, "
        "text[], text, timestamptz, boolean)",
        "create function {s}.x() returns int language sql as 'select 1'",
        "insert into {s}.migrations (version, name) values (999, 'x')",
        "delete from {s}.migrations",
        "truncate {s}.jobs",
    ):
        denied(w, q(s, statement))
    with psycopg.connect(w, autocommit=True) as conn:
        assert conn.execute(q(s, "select count(*) from {s}.migrations")).fetchone() is not None
