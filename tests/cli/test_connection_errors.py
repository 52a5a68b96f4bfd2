"""The advice that comes with a database connection problem fits the problem: a session that
an administrator ended is not fixed by checking DATABASE_URL; a server that is not there is."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from trigger_compat import Client
from trigger_compat.errors import DatabaseUnavailableError


def test_a_backend_terminated_by_an_administrator(
    database_url: str, client: Client, db: psycopg.Connection[Any]
) -> None:
    conn = psycopg.connect(database_url, autocommit=True)
    with conn, Client(conn, schema=client.schema) as victim:
        assert victim.get_job(1) is None
        db.execute("select pg_terminate_backend(%s)", [conn.info.backend_pid])
        with pytest.raises(DatabaseUnavailableError) as raised:
            victim.get_job(1)
    message = str(raised.value)
    assert "\n" not in message
    assert "check DATABASE_URL" not in message
    assert "an administrator ended the session" in message


def test_a_server_that_is_not_there(schema: str) -> None:
    with pytest.raises(DatabaseUnavailableError) as raised:
        Client("postgresql://postgres@127.0.0.1:1/none", schema=schema).get_job(1)
    message = str(raised.value)
    assert "\n" not in message
    assert "cannot reach the database" in message and "check DATABASE_URL" in message
