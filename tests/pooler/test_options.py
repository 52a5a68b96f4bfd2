"""How a pooled URL, a direct URL and their options reach the client, the worker, the CLI
and the metrics (through a real PgBouncer where a connection is made)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.pgbouncer import PgBouncer

from trigger_compat import AsyncClient
from trigger_compat.cli._common import check_database_url
from trigger_compat.cli.worker import _build
from trigger_compat.core.catalog import load_catalog
from trigger_compat.core.dsn import split_pooled
from trigger_compat.errors import ConfigurationError
from trigger_compat.runtime.metrics import WorkerMetrics
from trigger_compat.runtime.worker import Worker, listen_conninfo
from trigger_compat.runtime.zodworker import ZodWorker

CATALOG = """
workers:
  w:
    tasks:
      t: {}
"""


def test_split_pooled() -> None:
    assert split_pooled("postgresql://u@h:6432/db?pgbouncer=true&sslmode=disable") == (
        "postgresql://u@h:6432/db?sslmode=disable",
        True,
    )
    assert split_pooled("postgresql://u@h/db?pgbouncer=false") == ("postgresql://u@h/db", False)
    assert split_pooled("postgresql://u@h/db?options=-c%20a%3Db") == (
        "postgresql://u@h/db?options=-c%20a%3Db",
        False,
    )
    assert split_pooled("host=h dbname=db") == ("host=h dbname=db", False)
    with pytest.raises(ConfigurationError, match=r"DATABASE_URL: pgbouncer='maybe'"):
        split_pooled("postgresql://h/db?pgbouncer=maybe", field="DATABASE_URL")


def test_the_cli_accepts_the_marker() -> None:
    url = "postgresql://u@h:6432/db?pgbouncer=true"
    assert check_database_url(url) == url
    with pytest.raises(ConfigurationError, match="--direct-url"):
        check_database_url("mysql://h/db", "--direct-url (or DIRECT_URL)")


def test_listen_connection_choice(database_url: str) -> None:
    pooled = AsyncClient("postgresql://u@h:6432/db?pgbouncer=true")
    direct = AsyncClient(database_url)
    assert listen_conninfo(pooled, None) is None
    assert listen_conninfo(pooled, database_url) == database_url
    assert listen_conninfo(direct, None) == database_url
    with pytest.raises(ConfigurationError, match="direct_url: it is marked pgbouncer=true"):
        listen_conninfo(direct, "postgresql://u@h:6432/db?pgbouncer=true")
    assert Worker(pooled, {}, direct_url=database_url)._conninfo == database_url
    assert Worker(pooled, {}, conninfo=database_url)._conninfo == database_url  # older name


def test_zodworker_and_cli_options(tmp_path: Path, bouncer: PgBouncer, database_url: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    zw = ZodWorker("w", path, database_url=bouncer.url(), pooled=True, direct_url=database_url)
    assert zw.client.pooled and zw.direct_url == database_url
    with pytest.raises(ConfigurationError, match="direct_url"):
        ZodWorker("w", path, database_url=database_url, direct_url=bouncer.url(marked=True))
    built = _build(
        load_catalog(path),
        (),
        {"t": lambda payload, job: None},
        bouncer.url(),
        True,
        None,
        (),
        direct_url=database_url,
        pooled=True,
    )
    assert [(w.client.pooled, w.direct_url) for w in built] == [(True, database_url)]
    marked = _build(
        load_catalog(path), (), {"t": lambda p, j: None}, bouncer.url(marked=True), True, None, ()
    )
    assert marked[0].client.pooled and marked[0].direct_url is None


def _metrics_leaders(db: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "select pid from pg_locks where locktype = 'advisory' and granted "
        "and objid = hashtext(%s)::oid",
        [schema],
    ).fetchall()


def test_metrics_leader_lock_goes_to_the_direct_url(
    bouncer: PgBouncer,
    database_url: str,
    schema: str,
    client: Any,
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The metrics leader lock is a session's: with a direct URL it is taken there (never on
    one of PgBouncer's server connections); without one, a pooled process reports the gauges
    without the lock and says so."""
    with_direct = WorkerMetrics.for_database(
        bouncer.url(marked=True), schema=schema, direct_url=database_url
    )
    try:
        assert with_direct.snapshot().database_leader is True
        holders = [pid for (pid,) in _metrics_leaders(db, schema)]
        assert holders and not set(holders) & set(bouncer.server_pids())
    finally:
        with_direct.close()
    caplog.set_level(logging.WARNING, logger="trigger_compat.metrics")
    without = WorkerMetrics.for_database(bouncer.url(marked=True), schema=schema)
    try:
        assert without.snapshot().database_leader is True
        assert not _metrics_leaders(db, schema)  # nothing left on a pooled server connection
    finally:
        without.close()
    assert any("no direct URL" in r.getMessage() for r in caplog.records)
