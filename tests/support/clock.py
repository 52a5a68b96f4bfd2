"""A settable clock for ``clock=``, and the instant the tests start it at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock for ``Client(clock=...)``: it only moves when a test moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return self.now
