from __future__ import annotations

from collections.abc import Iterator

import pytest

from trigger_compat import Client

from ._support import FakeClock


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def cclient(database_url: str, schema: str, clock: FakeClock) -> Iterator[Client]:
    """A migrated client whose notion of "now" is ``clock``."""
    with Client(database_url, schema=schema, clock=clock) as c:
        c.migrate()
        yield c
