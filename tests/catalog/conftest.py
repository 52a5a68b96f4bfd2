"""Clients built with the shipped catalog, on a fresh schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from trigger_compat import AsyncClient, Client
from trigger_compat.core.catalog import Catalog
from trigger_compat.core.catalog_loader import load_catalog

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def shipped_catalog() -> Catalog:
    return load_catalog(ROOT / "catalog.yaml")


@pytest.fixture()
def cclient(database_url: str, schema: str, shipped_catalog: Catalog) -> Iterator[Client]:
    with Client(database_url, schema=schema, catalog=shipped_catalog) as c:
        c.migrate()
        yield c


@pytest.fixture()
async def acclient(
    database_url: str, schema: str, shipped_catalog: Catalog
) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(database_url, schema=schema, catalog=shipped_catalog) as c:
        await c.migrate()
        yield c
