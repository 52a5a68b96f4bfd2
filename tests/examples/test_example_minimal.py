from __future__ import annotations

from examples import minimal


async def test_minimal_enqueues_and_runs(database_url: str, schema: str) -> None:
    assert await minimal.run(database_url, schema=schema) == ["run_1"]
