"""Unique jobs through the catalog (``unique:``) and the ``unique`` enqueue option, on both
clients, enqueue and enqueue_many."""

from __future__ import annotations

from pathlib import Path

import pytest

from trigger_compat import AsyncClient, Client
from trigger_compat.core.catalog import Catalog
from trigger_compat.core.catalog_loader import load_catalog
from trigger_compat.errors import InvalidJobError

CATALOG = """\
workers:
  main:
    tasks:
      syncOrg:
        unique:
          byArgs: [orgId]
          byPeriod: 15m
      notify:
        queueName: "notify"
      keyed:
        jobKey: "k:{id}"
"""


@pytest.fixture(scope="module")
def shipped_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    path: Path = tmp_path_factory.mktemp("unique") / "catalog.yaml"
    path.write_text(CATALOG)
    return load_catalog(path)


def test_catalog_unique(cclient: Client) -> None:
    a = cclient.enqueue("syncOrg", {"orgId": 1, "at": "09:00"})
    b = cclient.enqueue("syncOrg", {"orgId": 1, "at": "09:01"})
    c = cclient.enqueue("syncOrg", {"orgId": 2})
    assert not a.deduplicated and b.deduplicated and b.id == a.id and not c.deduplicated
    # unique=False turns the catalog's off for one call.
    assert not cclient.enqueue("syncOrg", {"orgId": 1}, {"unique": False}).deduplicated


def test_option_unique_and_enqueue_many(cclient: Client) -> None:
    jobs = cclient.enqueue_many(
        [
            ("notify", {"user": 1}, {"unique": {"byArgs": True, "byQueue": True}}),
            ("notify", {"user": 1}, {"unique": {"byArgs": True, "byQueue": True}}),
            ("syncOrg", {"orgId": 9}),
            ("notify", {"user": 2}),
        ]
    )
    assert [j.deduplicated for j in jobs] == [False, True, False, False]
    assert jobs[1].id == jobs[0].id


def test_unique_with_a_job_key_is_refused(cclient: Client) -> None:
    with pytest.raises(InvalidJobError, match="both a job key and unique"):
        cclient.enqueue("keyed", {"id": 1}, {"unique": True})
    with pytest.raises(InvalidJobError, match="both a job key and unique"):
        cclient.enqueue("syncOrg", {"orgId": 1}, {"jobKey": "x"})
    with pytest.raises(InvalidJobError, match="unique"):
        cclient.enqueue("notify", {}, {"unique": {"byState": ["nope"]}})


async def test_async_client_unique(acclient: AsyncClient) -> None:
    a = await acclient.enqueue("syncOrg", {"orgId": 5})
    b = await acclient.enqueue("syncOrg", {"orgId": 5})
    assert b.deduplicated and b.id == a.id
    many = await acclient.enqueue_many([("syncOrg", {"orgId": 5}), ("syncOrg", {"orgId": 6})])
    assert [j.deduplicated for j in many] == [True, False]
    assert await acclient.pause(queue="notify") == ["notify"]
    assert [p.name for p in await acclient.paused()] == ["notify"]
    assert await acclient.resume(queue="notify") == ["notify"]


def test_catalog_validation_names_the_line(tmp_path: Path) -> None:
    from trigger_compat.errors import CatalogError

    path = tmp_path / "c.yaml"
    path.write_text(
        "workers:\n  w:\n    tasks:\n      t:\n        unique:\n          byPeriod: 5 minutes\n"
        "      u:\n        unique: {byState: [gone]}\n"
        "      v:\n        jobKey: k\n        unique: {}\n"
    )
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    text = str(info.value)
    assert "c.yaml:6:" in text and "byPeriod" in text
    assert "c.yaml:8:" in text and "unknown state 'gone'" in text
    assert "c.yaml:10:" in text and "jobKey and unique" in text
