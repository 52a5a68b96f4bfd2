"""Migrations: idempotent, safe to run concurrently, refuse a database ahead of the code, work
with any schema name, and build exactly the expected catalog; the function step re-applies a
changed function file (keeping its SECURITY DEFINER flag and grants), drops a removed one, and
brings a schema made by the pre-release chain (``fixtures/legacy_chain``) to exactly the
catalog of a fresh install.

The expected catalog is ``expected_schema.txt`` next to this file. After changing a migration
or a function file on purpose, regenerate it with::

    TRIGGER_COMPAT_UPDATE_SCHEMA_SNAPSHOT=1 pytest tests/engine/test_migrations.py -k schema_diff

and review the diff.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from trigger_compat import Client, JobSpec, SchemaAheadError, SchemaError
from trigger_compat.core import migrations as migrations_module
from trigger_compat.core.sqlfiles import (
    SqlFunction,
    dependency_order,
    function_from_text,
    functions,
    grant_sql,
    migrations,
    notify_channel,
)

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
    """Apply every migration file in order, then every function file, by hand (no
    bookkeeping tables)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("set local search_path to {}, pg_temp").format(sql.Identifier(schema)))
        for migration in migrations():
            conn.execute(migration.sql.encode())
        for function in functions():
            conn.execute(function.sql.encode())


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
        # The bookkeeping tables of migrate(): migrations and migration_functions.
        if not line.split(" | ")[1].startswith("migration")
    ]
    other = f"{schema}_files"
    try:
        build_from_files(database_url, other)
        assert "".join(migrated) == catalog_snapshot(db, other)
    finally:
        drop_schema(database_url, other)


# -- function files --------------------------------------------------------------------------

CREATE_FUNCTION = re.compile(r"\bcreate\s+(?:or\s+replace\s+)?function\s+(\w+)", re.IGNORECASE)


def test_each_function_is_defined_once_in_a_file_of_its_own() -> None:
    placed: set[str] = set()
    for function in functions():
        assert CREATE_FUNCTION.findall(function.sql) == [function.name]
        assert f"create or replace function {function.name}(" in function.sql
        # Created after the functions it calls.
        assert set(function.depends) <= placed, function.name
        placed.add(function.name)
    for migration in migrations():
        assert CREATE_FUNCTION.findall(migration.sql) == []


def recorded_hashes(db: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    query = sql.SQL("select name, sha256 from {}.migration_functions").format(
        sql.Identifier(schema)
    )
    return {name: sha for name, sha in db.execute(query).fetchall()}


FUNCTION_DETAILS = """
    select p.proname, pg_get_function_identity_arguments(p.oid),
           pg_get_function_result(p.oid), md5(p.prosrc), p.prosecdef,
           (select array_agg(a::text order by a::text) from unnest(p.proacl) as a)
      from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = %s
     order by 1, 2"""


def function_details(db: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Each function's arguments, result, body, SECURITY DEFINER flag and grants."""
    return [
        tuple(str(v).replace(schema, PLACEHOLDER) for v in row)
        for row in db.execute(FUNCTION_DETAILS, (schema,)).fetchall()
    ]


def use_function_files(monkeypatch: pytest.MonkeyPatch, *extra: SqlFunction) -> None:
    """migrate() sees the shipped function files plus ``extra`` (which replace a file of
    the same name)."""
    files = dependency_order({f.name: f for f in (*functions(), *extra)})
    monkeypatch.setattr(migrations_module, "functions", lambda: files)


@pytest.fixture()
def login_role(db: psycopg.Connection[Any]) -> Iterator[str]:
    name = f"tc_role_{uuid.uuid4().hex[:8]}"
    db.execute(
        sql.SQL("create role {} login password {}").format(
            sql.Identifier(name), sql.Literal(ROLE_PASSWORD)
        )
    )
    try:
        yield name
    finally:
        db.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
        db.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


ROLE_PASSWORD = "s3cret-role-pw"


def test_a_changed_function_file_is_applied_again_with_its_grants(
    database_url: str, schema: str, db: psycopg.Connection[Any], login_role: str
) -> None:
    ident = sql.Identifier(schema)
    with Client(database_url, schema=schema) as client:
        client.migrate()
        assert recorded_hashes(db, schema) == {f.name: f.sha256 for f in functions()}
        # The producer grants make add_job and add_jobs SECURITY DEFINER, callable by the role.
        db.execute(grant_sql(schema, "producer", login_role))
        granted = function_details(db, schema)
        # Functions left as other files had them: recorded with another hash.
        db.execute(
            sql.SQL(
                "create or replace function {}.retry_delay(attempts integer) returns interval "
                "language sql immutable as $$ select interval '0' $$"
            ).format(ident)
        )
        db.execute(
            sql.SQL(
                "update {}.migration_functions set sha256 = 'an older file'"
                " where name in ('retry_delay', 'add_job', 'add_jobs')"
            ).format(ident)
        )
        assert client.migrate() == []
        assert recorded_hashes(db, schema) == {f.name: f.sha256 for f in functions()}
        assert function_details(db, schema) == granted
        row = db.execute(
            sql.SQL("select extract(epoch from {}.retry_delay(1))::float8").format(ident)
        ).fetchone()
        assert row is not None and row[0] == pytest.approx(2.718282)
    conninfo = make_conninfo(database_url, user=login_role, password=ROLE_PASSWORD)
    with Client(conninfo, schema=schema) as producer:
        assert producer.add_job("send", job_key="k").key == "k"
        assert [j.task_identifier for j in producer.add_jobs([JobSpec(identifier="b")])] == ["b"]


PROBE_V1 = """create or replace function probe(x integer) returns integer
language sql immutable as $$ select x $$;"""
PROBE_V2 = """create or replace function probe(x integer) returns bigint
language sql immutable as $$ select x::bigint * 2 $$;"""
PROBE_V3 = """create or replace function probe(x integer, y integer) returns bigint
language sql immutable as $$ select x::bigint + y $$;"""


def test_signature_changes_and_removed_functions(
    database_url: str,
    schema: str,
    db: psycopg.Connection[Any],
    login_role: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ident, role = sql.Identifier(schema), sql.Identifier(login_role)

    def probes() -> list[tuple[Any, ...]]:
        return [row for row in function_details(db, schema) if row[0] == "probe"]

    with Client(database_url, schema=schema) as client:
        use_function_files(monkeypatch, function_from_text("probe", PROBE_V1))
        client.migrate()
        db.execute(sql.SQL("alter function {}.probe(integer) security definer").format(ident))
        db.execute(
            sql.SQL("revoke execute on function {}.probe(integer) from public").format(ident)
        )
        db.execute(sql.SQL("grant execute on function {}.probe(integer) to {}").format(ident, role))
        [(_, _, result, _, definer, grants)] = probes()
        assert (result, definer) == ("integer", "True")

        # A new result type: create or replace is refused, so the function is dropped and
        # created again, with its SECURITY DEFINER flag and grants.
        use_function_files(monkeypatch, function_from_text("probe", PROBE_V2))
        assert client.migrate() == []
        assert [(r[1], r[2], r[4], r[5]) for r in probes()] == [
            ("x integer", "bigint", "True", grants)
        ]
        row = db.execute(sql.SQL("select {}.probe(21)").format(ident)).fetchone()
        assert row == (42,)

        # New arguments: the old overload is dropped.
        use_function_files(monkeypatch, function_from_text("probe", PROBE_V3))
        client.migrate()
        assert [r[1] for r in probes()] == ["x integer, y integer"]

        # The file is gone: so is the function, and its record.
        use_function_files(monkeypatch)
        client.migrate()
        assert probes() == []
        assert "probe" not in recorded_hashes(db, schema)
        # Functions nobody recorded are not ours: left alone.
        db.execute(
            sql.SQL(
                "create function {}.theirs() returns int language sql as $$ select 1 $$"
            ).format(ident)
        )
        client.migrate()
        assert [r[0] for r in function_details(db, schema)].count("theirs") == 1


# -- the pre-release chain -------------------------------------------------------------------

LEGACY_CHAIN = sorted(Path(__file__).parent.joinpath("fixtures", "legacy_chain").glob("*.sql"))
LEGACY_BOOTSTRAP = """
create schema if not exists {schema};
create table if not exists {schema}.migrations (
    version    integer primary key,
    name       text not null,
    applied_at timestamptz not null default now()
)"""


def build_legacy(database_url: str, schema: str, upto: int = 6) -> None:
    """The schema as the code before the baseline made it: migrations 0001 to ``upto`` of the
    pre-release chain, each in its own transaction with the search_path set, and recorded."""
    ident = sql.Identifier(schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL(LEGACY_BOOTSTRAP).format(schema=ident))
        for path in LEGACY_CHAIN[:upto]:
            with conn.transaction():
                conn.execute(sql.SQL("set local search_path to {}, pg_temp").format(ident))
                conn.execute(path.read_bytes())
                conn.execute(
                    sql.SQL("insert into {}.migrations (version, name) values (%s, %s)").format(
                        ident
                    ),
                    (int(path.name[:4]), path.stem[5:]),
                )


def test_a_schema_of_the_pre_release_chain_upgrades_to_a_fresh_install(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    assert [p.name[:4] for p in LEGACY_CHAIN] == ["0001", "0002", "0003", "0004", "0005", "0006"]
    build_legacy(database_url, schema)
    assert applied_versions(db, schema) == [1, 2, 3, 4, 5, 6]
    ident = sql.Identifier(schema)
    row = db.execute(sql.SQL("select id from {}.add_job('old', job_key => 'k')").format(ident))
    old_id = row.fetchone()
    assert old_id is not None
    with Client(database_url, schema=schema, clock=FakeClock()) as client:
        # The migrations written after the baseline apply on top of the old chain.
        assert client.migrate() == [v for v in ALL_VERSIONS if v > 6]
        assert client.migrate() == []
        upgraded = catalog_snapshot(db, schema), function_details(db, schema)
        hashes = recorded_hashes(db, schema)
        # The jobs are still there, and run.
        [job] = client.fetch_jobs("w")
        assert job.id == old_id[0] and job.key == "k"
        failed = client.fail_job(job.id, "boom", worker_id="w")
        assert failed is not None and failed.run_at == T0 + timedelta(microseconds=2718282)
    assert applied_versions(db, schema) == ALL_VERSIONS
    fresh = f"{schema}_fresh"
    try:
        with Client(database_url, schema=fresh) as client:
            assert client.migrate() == ALL_VERSIONS
        assert (catalog_snapshot(db, fresh), function_details(db, fresh)) == upgraded
        assert recorded_hashes(db, fresh) == hashes
    finally:
        drop_schema(database_url, fresh)


def test_the_upgrade_keeps_the_producer_grants(
    database_url: str, schema: str, db: psycopg.Connection[Any], login_role: str
) -> None:
    build_legacy(database_url, schema)
    db.execute(grant_sql(schema, "producer", login_role))
    granted = {row[:2]: row[4:] for row in function_details(db, schema)}
    with Client(database_url, schema=schema) as client:
        assert client.migrate() == [v for v in ALL_VERSIONS if v > 6]
    after = {row[:2]: row[4:] for row in function_details(db, schema)}
    # Every function of the old chain keeps its SECURITY DEFINER flag and grants (add_job and
    # add_jobs: definer, callable by the producer); the new ones have the defaults.
    assert {k: v for k, v in after.items() if k in granted} == granted
    assert granted[next(k for k in granted if k[0] == "add_job")][0] == "True"
    conninfo = make_conninfo(database_url, user=login_role, password=ROLE_PASSWORD)
    with Client(conninfo, schema=schema) as producer:
        assert producer.add_job("send", job_key="k").key == "k"
        assert [j.task_identifier for j in producer.add_jobs([JobSpec(identifier="b")])] == ["b"]


def test_a_schema_with_part_of_the_pre_release_chain_is_refused(
    database_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    build_legacy(database_url, schema, upto=3)
    before = catalog_snapshot(db, schema)
    with Client(database_url, schema=schema) as client, pytest.raises(SchemaError) as info:
        client.migrate()
    assert "[1, 2, 3]" in str(info.value) and "drop the schema" in str(info.value)
    assert catalog_snapshot(db, schema) == before
