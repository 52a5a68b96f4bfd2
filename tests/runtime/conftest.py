from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from trigger_compat import Client

from ._support import FakeClock, create_side_tables


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def side(client: Client, db: psycopg.Connection[Any], schema: str) -> Iterator[str]:
    """A migrated schema with the side tables of the instrumented handlers; its name."""
    create_side_tables(db, schema)
    yield schema
