"""Handlers referenced by the fixture catalogs."""

from typing import Any


async def hello(payload: Any, job: Any) -> None:
    return None
