"""Fuzzing fixtures: one migrated schema per module, a catalog, and a fingerprint of the
database to prove that a refused input changed nothing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql

from trigger_compat import Client
from trigger_compat.core.catalog import Catalog, load_catalog

# Fuzz suites share about a minute: each property runs a bounded number of examples.
# In CI (CI=true) the examples are derived from the test itself, so a run is repeatable;
# elsewhere every run explores new ones.
settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CATALOG = """\
databaseSchema: {schema}
workers:
  main:
    tasks:
      plain: {{}}
      typed:
        schema:
          type: object
          properties:
            id: {{type: string}}
            n: {{type: integer}}
          required: [id]
      keyed:
        queueName: "q:{{id}}"
        jobKey: "k:{{id}}"
        maxAttempts: 3
        priority: 1
"""


@pytest.fixture(scope="module")
def fuzz_schema(database_url: str) -> Iterator[str]:
    name = f"t_fuzz_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def fuzz_catalog(tmp_path_factory: pytest.TempPathFactory, fuzz_schema: str) -> Catalog:
    path: Path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    path.write_text(CATALOG.format(schema=fuzz_schema), encoding="utf-8")
    return load_catalog(path)


@pytest.fixture(scope="module")
def fuzz_client(database_url: str, fuzz_schema: str, fuzz_catalog: Catalog) -> Iterator[Client]:
    with Client(database_url, schema=fuzz_schema, catalog=fuzz_catalog, pool_size=1) as c:
        c.migrate()
        yield c


@pytest.fixture(scope="module")
def fuzz_db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def fingerprint(db: psycopg.Connection[Any], schema: str) -> tuple[Any, ...]:
    """Every row of jobs and job_queues, hashed, with the jobs sequence and the relations of
    the schema: equal fingerprints mean nothing was written."""
    s = sql.Identifier(schema)
    row = db.execute(
        sql.SQL(
            "select (select count(*) from {s}.jobs),"
            " (select md5(coalesce(string_agg(j::text, ',' order by id), '')) from {s}.jobs j),"
            " (select md5(coalesce(string_agg(q::text, ',' order by queue_name), ''))"
            "    from {s}.job_queues q),"
            " (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            "   where n.nspname = %(schema)s),"
            " pg_sequence_last_value("
            "   pg_get_serial_sequence(format('%%I.jobs', %(schema)s::text), 'id')::regclass)"
        ).format(s=s),
        {"schema": schema},
    ).fetchone()
    assert row is not None
    return tuple(row)
