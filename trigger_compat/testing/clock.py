"""``FakeClock``: time that only moves when a test moves it; ``advance()`` wakes every sleeper
whose time has come."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]

DEFAULT_START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A :class:`trigger_compat.runtime.clock.Clock` for tests (also callable, for
    ``AsyncClient(clock=...)``).

    ``advance(seconds=…, minutes=…)`` and ``set(when)`` (which may go backwards) move the time
    and wake the sleepers that are due. A sleeper woken by a backwards jump is not woken; one
    waiting when ``set()`` moves time backwards keeps waiting for its own time.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def __call__(self) -> datetime:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many ``sleep_until`` calls are waiting."""
        return sum(1 for _, f in self._sleepers if not f.done())

    def sleeping_until(self) -> list[datetime]:
        return sorted(w for w, f in self._sleepers if not f.done())

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (when, future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(
        self, delta: timedelta | None = None, *, seconds: float = 0, minutes: float = 0
    ) -> datetime:
        step = (delta or timedelta()) + timedelta(seconds=seconds, minutes=minutes)
        if step < timedelta():
            raise ValueError("advance() moves forward; use set() to jump backwards")
        return self.set(self._now + step)

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("FakeClock.set needs a timezone-aware datetime")
        self._now = when
        for due, future in list(self._sleepers):
            if due <= when and not future.done():
                future.set_result(None)
        return self._now
