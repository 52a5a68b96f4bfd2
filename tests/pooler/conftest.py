"""Fixtures of the PgBouncer tests: one PgBouncer (transaction pooling, 2 server connections)
shared by the tests of a process, and a private one for the tests that restart it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.pgbouncer import PgBouncer, pgbouncer_available, running_pgbouncer


@pytest.fixture(scope="session")
def bouncer(database_url: str) -> Iterator[PgBouncer]:
    if not pgbouncer_available():
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    with running_pgbouncer(database_url) as b:
        yield b


@pytest.fixture()
def private_bouncer(database_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer of this test alone (it may be stopped and restarted)."""
    if not pgbouncer_available():
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    with running_pgbouncer(database_url) as b:
        yield b
