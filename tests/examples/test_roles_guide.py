"""The "Roles and grants" block of migration-guide.md (its twin), run as written there."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from trigger_compat import Client
from trigger_compat.core.sqlfiles import grant_sql


def test_the_guide_snippet(client: Client, database_url: str, db: psycopg.Connection[Any]) -> None:
    """The "Roles and grants" block of migration-guide.md, as written there."""
    OWNER_URL, SCHEMA = database_url, client.schema
    try:
        with psycopg.connect(OWNER_URL, autocommit=True) as conn:
            conn.execute("create role app_producer login password 'producer-pw'")
            conn.execute(grant_sql(SCHEMA, "producer", "app_producer"))
            conn.execute("create role app_worker login password 'worker-pw'")
            conn.execute(grant_sql(SCHEMA, "worker", "app_worker"))
        with Client(
            make_conninfo(database_url, user="app_producer", password="producer-pw"), schema=SCHEMA
        ) as producer:
            producer.add_job("from-the-guide")
    finally:
        for name in ("app_producer", "app_worker"):
            db.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            db.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
