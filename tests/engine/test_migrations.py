"""Migrations: idempotent, safe to run concurrently, refuse a database ahead of the code, work
with any schema name, and build exactly the expected catalog.

The expected catalog is ``expected_schema.txt`` next to this file. After changing a migration
on purpose, regenerate it with::

    TRIGGER_COMPAT_UPDATE_SCHEMA_SNAPSHOT=1 pytest tests/engine/test_migrations.py -k schema_diff

and review the diff.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from trigger_compat import Client, JobSpec, SchemaAheadError
from trigger_compat.core.sqlfiles import migrations, notify_channel

from ._catalog import PLACEHOLDER, catalog_snapshot
from ._support import T0, FakeClock

EXPECTED_SCHEMA = Path(__file__).with_name("expected_schema.txt")
UPDATE_ENV = "TRIGGER_COMPAT_UPDATE_SCHEMA_SNAPSHOT"
ALL_VERSIONS = [m.version for m in migrations()]


def applied_versions(db: psycopg.Connection[Any], schema: str) -> list[int]:
    query = sql.SQL("select version from {}.migrations order by version")
    return [row[0] for row in db.execute(query.format(sql.Identifier(schema))).fetchall()]


def drop_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def test_migrate_twice_is_a_no_op_the_second_time(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    with Client(database_url, schema=schema) as client:
        assert client.migrate() == ALL_VERSIONS
        before = catalog_snapshot(db, schema)
        job = client.add_job("task", {"kept": True})
        assert client.migrate() == []
        assert catalog_snapshot(db, schema) == before
        assert applied_versions(db, schema) == ALL_VERSIONS
        assert client.get_job(job.id) == job


def test_concurrent_migrations_of_a_fresh_schema(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    n = 4
    barrier = threading.Barrier(n)
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def migrate(i: int) -> None:
        try:
            with Client(database_url, schema=schema, pool_size=1) as client:
                barrier.wait(timeout=30)
                results[i] = client.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(results) == list(range(n))
    # Each migration was applied by exactly one of the clients, and recorded once.
    assert sorted(v for applied in results.values() for v in applied) == ALL_VERSIONS
    assert applied_versions(db, schema) == ALL_VERSIONS
    with Client(database_url, schema=schema) as client:
        assert client.migrate() == []
        assert client.add_job("task").attempts == 0


def test_database_ahead_of_the_code_is_refused(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    with Client(database_url, schema=schema) as client:
        client.migrate()
        db.execute(
            sql.SQL("insert into {}.migrations (version, name) values (9999, 'future')").format(
                sql.Identifier(schema)
            )
        )
        before = catalog_snapshot(db, schema)
        with pytest.raises(SchemaAheadError) as info:
            client.migrate()
        assert "9999" in str(info.value) and "upgrade trigger-compat" in str(info.value)
        assert catalog_snapshot(db, schema) == before


HOSTILE_NAMES = [
    pytest.param('we"ird; drop table x; --', id="quotes_and_semicolons"),
    pytest.param("Ünïcødé スキーマ", id="unicode"),
    pytest.param("UPPER case", id="mixed_case_and_space"),
]


@pytest.fixture(params=HOSTILE_NAMES)
def hostile_schema(request: pytest.FixtureRequest, database_url: str) -> Iterator[str]:
    name = f"{request.param} {uuid.uuid4().hex[:6]}"
    yield name
    drop_schema(database_url, name)


def test_hostile_schema_name_works_end_to_end(
    database_url: str, hostile_schema: str, db: psycopg.Connection[Any]
) -> None:
    clock = FakeClock()
    channel = notify_channel(hostile_schema)
    db.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
    with Client(database_url, schema=hostile_schema, clock=clock) as client:
        assert client.migrate() == ALL_VERSIONS
        tables = db.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1",
            (hostile_schema,),
        ).fetchall()
        assert ("jobs",) in tables

        keyed = client.add_job("task", {"a": 1}, job_key="k", queue_name="q")
        assert [n.payload for n in db.notifies(timeout=10, stop_after=1)] == ["1"]
        [other] = client.add_jobs([JobSpec(identifier="task", payload=[1], priority=-1)])
        assert client.add_job("task", {"a": 2}, job_key="k").id == keyed.id
        fetched = client.fetch_jobs("worker-a", 10)
        assert [j.id for j in fetched] == [other.id, keyed.id]
        failed = client.fail_job(keyed.id, "boom", worker_id="worker-a")
        assert failed is not None
        assert failed.run_at == T0 + timedelta(microseconds=2718282)
        assert client.complete_jobs([other.id]) == [other.id]
        removed = client.remove_job("k")
        assert removed is not None and removed.id == keyed.id
        assert client.get_job(keyed.id) is None
        client.set_queue_concurrency("q", 2)
        assert client.migrate() == []


# -- schema diff -------------------------------------------------------------------------


def build_from_files(database_url: str, schema: str) -> None:
    """Apply every migration file in order, by hand (no migrations table)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("set local search_path to {}, pg_temp").format(sql.Identifier(schema)))
        for migration in migrations():
            conn.execute(migration.sql.encode())


def test_schema_diff_against_the_expected_catalog(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    build_from_files(database_url, schema)
    actual = catalog_snapshot(db, schema)
    assert PLACEHOLDER in actual
    if os.environ.get(UPDATE_ENV):
        EXPECTED_SCHEMA.write_text(actual, encoding="utf-8")
    expected = EXPECTED_SCHEMA.read_text(encoding="utf-8")
    assert actual == expected, (
        f"the migrations no longer build {EXPECTED_SCHEMA.name}; if the change is intended, "
        f"regenerate it with {UPDATE_ENV}=1 (see this module's docstring)"
    )


def test_migrate_builds_the_same_catalog_as_the_files(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    with Client(database_url, schema=schema) as client:
        client.migrate()
    migrated = [
        line
        for line in catalog_snapshot(db, schema).splitlines(keepends=True)
        if not line.split(" | ")[1].startswith("migrations")
    ]
    other = f"{schema}_files"
    try:
        build_from_files(database_url, other)
        assert "".join(migrated) == catalog_snapshot(db, other)
    finally:
        drop_schema(database_url, other)
