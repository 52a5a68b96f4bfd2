"""Hostile schema names, task identifiers, queue names and job keys are stored verbatim and
never change the SQL; DSN passwords never show; the metrics server binds to 127.0.0.1."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from trigger_compat import Client
from trigger_compat.cli import main
from trigger_compat.errors import DatabaseUnavailableError
from trigger_compat.runtime.metrics import DEFAULT_METRICS_HOST, WorkerMetrics, serve_metrics

HOSTILE = [
    "a'b",
    'a"b',
    "x'); drop table jobs; --",
    "; select pg_sleep(10);",
    "back\\slash\\",
    "$$dollar$$",
    "$tag$ body $tag$",
    "%s %(identifier)s %%",
    "{schema}",
    "{}",
    "Ünïcødé 漢字 🚀",
    "\u202eright-to-left",
    "tab\tnew\nline",
    "  spaced  ",
]


def relations(db: psycopg.Connection[Any]) -> set[tuple[str, str]]:
    return {
        (str(n), str(r))
        for n, r in db.execute(
            "select n.nspname, c.relname from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')"
            "   and n.nspname not like 'pg_temp%%' and n.nspname not like 'pg_toast_temp%%'"
        ).fetchall()
    }


@pytest.mark.parametrize("name", HOSTILE)
def test_identifiers_queues_and_keys_are_stored_verbatim(
    client: Client, db: psycopg.Connection[Any], name: str
) -> None:
    mine = {(client.schema, r) for _, r in relations(db) if _ == client.schema}
    job = client.add_job(name, {"v": name}, queue_name=name, job_key=name)
    assert (job.task_identifier, job.queue_name, job.key, job.payload) == (
        name,
        name,
        name,
        {"v": name},
    )
    row = db.execute(
        sql.SQL("select task_identifier, queue_name, key from {}.jobs where id = %s").format(
            sql.Identifier(client.schema)
        ),
        (job.id,),
    ).fetchone()
    assert row == (name, name, name)
    assert client.remove_job(name) is not None
    assert {(client.schema, r) for _, r in relations(db) if _ == client.schema} == mine
    # The table is intact and holds nothing else.
    count = db.execute(
        sql.SQL("select count(*) from {}.jobs").format(sql.Identifier(client.schema))
    ).fetchone()
    assert count == (0,)


@pytest.mark.parametrize(
    "schema_name",
    ['t_"q', "t_'; drop schema public; --", "t_$$", "t_{schema}", "t_%s", "t_ü漢", "t_\\"],
)
def test_hostile_schema_names(
    database_url: str, db: psycopg.Connection[Any], schema_name: str
) -> None:
    # Other tests create and drop their own schemas meanwhile: watch public (what an
    # injected statement would most likely hit) and the schema under test.
    watched = {"public", schema_name}
    before = {rel for rel in relations(db) if rel[0] in watched}
    try:
        with Client(database_url, schema=schema_name) as c:
            c.migrate()
            job = c.add_job("t", job_key="k")
            assert c.fetch_jobs("w")[0].id == job.id
        after = {rel for rel in relations(db) if rel[0] in watched}
        added = after - before
        assert added and {n for n, _ in added} == {schema_name}
        assert before <= after
        assert db.execute(
            "select count(*) from pg_namespace where nspname = 'public'"
        ).fetchone() == (1,)
    finally:
        db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema_name)))


# -- passwords never show ----------------------------------------------------------------

SECRET = "hunter2-Sup3r-S3cret"
UNREACHABLE = [
    f"postgresql://app:{SECRET}@127.0.0.1:1/app?connect_timeout=2",
    f"host=127.0.0.1 port=1 user=app password={SECRET} dbname=app connect_timeout=2",
    f"host=127.0.0.1 port=1 user=app password='{SECRET}' dbname=app connect_timeout=2",
]


@pytest.mark.parametrize("dsn", UNREACHABLE)
def test_client_errors_and_logs_hide_the_password(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseUnavailableError) as info, Client(dsn, connect_timeout=2) as c:
        c.add_job("t")
    text = str(info.value) + repr(info.value) + caplog.text
    assert SECRET not in text
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)


@pytest.mark.parametrize("dsn", UNREACHABLE)
@pytest.mark.parametrize(
    "argv", [["status"], ["jobs", "list"], ["enqueue", "t"], ["worker", "--catalog", "none.yaml"]]
)
def test_cli_output_hides_the_password(
    dsn: str, argv: list[str], caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(main, [*argv, "--database-url", dsn], env={"DATABASE_URL": dsn})
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert SECRET not in result.output + caplog.text
    assert "Traceback" not in result.output


def test_metrics_server_binds_to_localhost() -> None:
    assert DEFAULT_METRICS_HOST == "127.0.0.1"
    server = serve_metrics(WorkerMetrics(), port=0)
    try:
        assert server.host == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
    finally:
        server.close()
