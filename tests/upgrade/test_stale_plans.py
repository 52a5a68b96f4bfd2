"""A client of this version keeps working when a later release adds a column to ``jobs`` under
it: its sessions' cached plans (psycopg's prepared statements, PL/pgSQL's plans) still expect
the old row of ``jobs``, which ``fetch_jobs`` and ``settle_and_fetch`` return, and PostgreSQL
does not invalidate them; the client forgets them and runs the statement again
(``async_client.STALE_PLAN_SQLSTATES``). The previous release did not, so its workers stopped
fetching until their connections were replaced: ARCHITECTURE.md, "Changing the schema while
old workers run"."""

from __future__ import annotations

import pytest
from psycopg_pool import ConnectionPool

from trigger_compat import Client
from trigger_compat.core import migrations as migrations_module
from trigger_compat.core import sqlfiles, worker_ops
from trigger_compat.core.sqlfiles import Migration


def _add_jobs_column(monkeypatch: pytest.MonkeyPatch) -> int:
    """Make the next migrate() add a column to jobs, as a later release may."""
    shipped = sqlfiles.migrations()
    version = shipped[-1].version + 1
    added = Migration(
        version, "later_column", "alter table jobs add column later text default 'x'", (version,)
    )
    monkeypatch.setattr(migrations_module, "migrations", lambda: (*shipped, added))
    return version


def _fetch_across_the_migration(old: Client, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``old`` (one connection: every call runs in the same session) fetches before and after
    a newer version adds a column to jobs."""
    old.migrate()
    for i in range(20):
        old.add_job("probe", {"i": i})

    def fetch() -> int:
        return len(old.execute(worker_ops.settle_and_fetch("w", [], None, 1, ["probe"], None)))

    for _ in range(8):  # past psycopg's prepare threshold: a server-side prepared statement
        assert fetch() == 1
    version = _add_jobs_column(monkeypatch)
    with Client(url, schema=old.schema) as new:
        assert new.migrate() == [version]
    assert fetch() == 1
    assert fetch() == 1
    job = old.add_job("probe", {"i": "after"})
    assert job.payload == {"i": "after"}


def test_a_column_added_to_jobs_under_a_running_client(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(database_url, schema=schema, pool_size=1) as old:
        _fetch_across_the_migration(old, database_url, monkeypatch)


def test_the_same_through_a_pool_of_yours_without_autocommit(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectionPool(database_url, min_size=1, max_size=1) as pool:
        _fetch_across_the_migration(Client(pool, schema=schema), database_url, monkeypatch)
