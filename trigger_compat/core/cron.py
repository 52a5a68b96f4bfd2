"""graphile-worker's cron grammar (pure): five fields, UTC.

``minute hour day-of-month month day-of-week``; each field is a comma list of ``n``, ``a-b``
(``b`` greater than ``a``), ``*`` or ``*/n`` (``n`` ≥ 1: the values ``min, min+n, …``).
Day-of-week 7 means Sunday, like 0. When both day fields are restricted (not their full range),
a time matches if **either** matches; when one is restricted, that one must match.

Not supported (graphile refuses them too): month or weekday names, ``?``, ``L``, ``W``, ``#``,
a seconds field, and steps on ranges (``a-b/n``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import CronError

__all__ = ["CronError", "CronSchedule", "parse_cron"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12),
    _Field("day of week", 0, 7),
)

_NUMBER = re.compile(r"^\d+$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_STEP = re.compile(r"^\*/(\d+)$")
_NAMES = re.compile(r"[A-Za-z]{3}")


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression; :meth:`matches` tells whether a UTC minute is a tick."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    dates: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]

    @property
    def dates_restricted(self) -> bool:
        return len(self.dates) != 31

    @property
    def dows_restricted(self) -> bool:
        return len(self.dows) != 7

    def matches(self, when: datetime) -> bool:
        """Whether the minute containing ``when`` (timezone-aware; compared in UTC) is a tick."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("cron matching needs a timezone-aware datetime (cron runs in UTC)")
        t = when.astimezone(UTC)
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        date_ok = t.day in self.dates
        dow_ok = t.isoweekday() % 7 in self.dows
        if self.dates_restricted and self.dows_restricted:
            return date_ok or dow_ok
        if self.dates_restricted:
            return date_ok
        if self.dows_restricted:
            return dow_ok
        return True


def _unsupported(part: str, field: _Field) -> str | None:
    upper = part.upper()
    if _NAMES.search(part):
        kind = "month" if field.name == "month" else "weekday"
        return f"{kind} names are not supported ({part!r}); use numbers {field.low}-{field.high}"
    if "?" in part:
        return "'?' is not supported; use '*'"
    if "L" in upper or "W" in upper:
        return f"'L'/'W' are not supported ({part!r})"
    if "#" in part:
        return f"'#' (nth weekday) is not supported ({part!r})"
    if "/" in part and not part.startswith("*/"):
        return (
            f"steps are only supported as '*/n' ({part!r}); "
            "a step on a range or value ('a-b/n') is not supported — list the values instead"
        )
    return None


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if part == "":
            raise CronError(f"{field.name}: empty list element in {text!r}")
        problem = _unsupported(part, field)
        if problem:
            raise CronError(f"{field.name}: {problem}")
        if part == "*":
            values.update(range(field.low, _wild_high(field) + 1))
        elif m := _STEP.match(part):
            step = int(m[1])
            if step < 1:
                raise CronError(f"{field.name}: the step in {part!r} must be at least 1")
            values.update(range(field.low, _wild_high(field) + 1, step))
        elif m := _RANGE.match(part):
            a, b = int(m[1]), int(m[2])
            for v in (a, b):
                _check_range(v, field, part)
            if b <= a:
                raise CronError(
                    f"{field.name}: in the range {part!r} the end must be greater than the start"
                )
            values.update(range(a, b + 1))
        elif _NUMBER.match(part):
            v = int(part)
            _check_range(v, field, part)
            values.add(v)
        else:
            raise CronError(f"{field.name}: cannot read {part!r}")
    if field.name == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def _wild_high(field: _Field) -> int:
    # '*' and '*/n' on day-of-week cover 0-6; 7 is only an alias of Sunday.
    return 6 if field.name == "day of week" else field.high


def _check_range(value: int, field: _Field, part: str) -> None:
    if not field.low <= value <= field.high:
        raise CronError(
            f"{field.name}: {value} is out of range {field.low}-{field.high} (in {part!r})"
        )


def parse_cron(text: str) -> CronSchedule:
    """Parse a 5-field cron expression; raise :class:`CronError` saying what is wrong."""
    if not isinstance(text, str):
        raise CronError(f"a cron expression must be a string (got {type(text).__name__})")
    if text.strip().startswith("@"):
        raise CronError(f"macros such as {text.strip()!r} are not supported; write the 5 fields")
    parts = text.split()
    if len(parts) != 5:
        extra = " (a seconds or year field is not supported)" if len(parts) in (6, 7) else ""
        raise CronError(
            "a cron expression has exactly 5 fields: minute hour day-of-month month "
            f"day-of-week (got {len(parts)} in {text!r}){extra}"
        )
    minutes, hours, dates, months, dows = (
        _parse_field(p, f) for p, f in zip(parts, _FIELDS, strict=True)
    )
    return CronSchedule(" ".join(parts), minutes, hours, dates, months, dows)
