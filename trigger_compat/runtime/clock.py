"""Time for the scheduler: a :class:`Clock` tells the time and sleeps until a given time, so
tests can move time instead of waiting (see :class:`trigger_compat.testing.clock.FakeClock`).

A clock is more than a :data:`~trigger_compat.core.now.NowFunction` (what a client takes as
``clock=``): :func:`as_clock` makes a clock of one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from ..core.now import NowFunction

__all__ = ["CallableClock", "Clock", "SystemClock", "as_clock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when`` (it may return early when the clock jumps; callers
        check ``now()`` again)."""
        ...


class SystemClock:
    """Wall-clock time (UTC). Sleeps in slices, so a wall-clock jump is noticed within
    ``max_slice`` seconds."""

    def __init__(self, max_slice: float = 30.0) -> None:
        self.max_slice = max_slice

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, self.max_slice))


class CallableClock(SystemClock):
    """A now function (``() -> datetime``) used as a clock (its sleeps poll it)."""

    def __init__(self, fn: NowFunction, max_slice: float = 1.0) -> None:
        super().__init__(max_slice)
        self._fn = fn

    def now(self) -> datetime:
        return self._fn()


def as_clock(value: Clock | NowFunction | None) -> Clock:
    """A :class:`Clock` from a Clock, a now function (``() -> datetime``), or None (system
    time)."""
    if value is None:
        return SystemClock()
    if isinstance(value, Clock):
        return value
    if callable(value):
        return CallableClock(value)
    raise TypeError(f"clock must be a Clock or a () -> datetime function (got {value!r})")
