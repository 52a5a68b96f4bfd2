"""graphile's cron grammar: parsing, matching and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from trigger_compat.core.cron import CronError, parse_cron


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# 2024-01-01 is a Monday; 2024-01-07 a Sunday.
MATCHES = [
    ("* * * * *", "2024-01-01T00:00", True),
    ("*/5 * * * *", "2024-01-01T00:05", True),
    ("*/5 * * * *", "2024-01-01T00:07", False),
    ("0 * * * *", "2024-01-01T13:00", True),
    ("0 * * * *", "2024-01-01T13:01", False),
    ("13,27,43 * * * *", "2024-01-01T05:27", True),
    ("13,27,43 * * * *", "2024-01-01T05:28", False),
    ("10-20 * * * *", "2024-01-01T05:10", True),
    ("10-20 * * * *", "2024-01-01T05:20", True),
    ("10-20 * * * *", "2024-01-01T05:21", False),
    ("0 */6 * * *", "2024-01-01T18:00", True),
    ("0 */6 * * *", "2024-01-01T19:00", False),
    ("0 0 1 * *", "2024-02-01T00:00", True),
    ("0 0 1 * *", "2024-02-02T00:00", False),
    ("0 0 * 2 *", "2024-02-10T00:00", True),
    ("0 0 * 2 *", "2024-03-10T00:00", False),
    ("0 0 * * */2", "2024-01-02T00:00", True),  # Tuesday = 2
    ("0 0 * * */2", "2024-01-01T00:00", False),  # Monday = 1
    # day of week: 0 and 7 are both Sunday
    ("0 0 * * 0", "2024-01-07T00:00", True),
    ("0 0 * * 7", "2024-01-07T00:00", True),
    ("0 0 * * 7", "2024-01-06T00:00", False),
    ("0 0 * * 5-7", "2024-01-07T00:00", True),
    # both day fields restricted: either matches
    ("0 0 13 * 5", "2024-09-13T00:00", True),  # Friday the 13th
    ("0 0 13 * 5", "2024-01-13T00:00", True),  # 13th, a Saturday
    ("0 0 13 * 5", "2024-01-05T00:00", True),  # a Friday, not the 13th
    ("0 0 13 * 5", "2024-01-06T00:00", False),
    # only day of month restricted: it must match (dow '*' does not widen it)
    ("0 0 1 * *", "2024-01-07T00:00", False),
    # only day of week restricted
    ("0 0 * * 1", "2024-01-01T00:00", True),
    ("0 0 * * 1", "2024-01-02T00:00", False),
    # a full list counts as unrestricted
    ("0 0 1 * 0-6", "2024-01-02T00:00", False),
    ("0 0 1-31 * 1", "2024-01-02T00:00", False),
    # seconds inside the minute do not matter
    ("30 12 * * *", "2024-01-01T12:30:59", True),
]


@pytest.mark.parametrize(("expr", "when", "expected"), MATCHES)
def test_matches(expr: str, when: str, expected: bool) -> None:
    assert parse_cron(expr).matches(utc(when)) is expected


def test_matching_is_in_utc() -> None:
    schedule = parse_cron("0 12 * * *")
    paris = timezone(timedelta(hours=1))
    assert schedule.matches(datetime(2024, 1, 1, 13, 0, tzinfo=paris))
    assert not schedule.matches(datetime(2024, 1, 1, 12, 0, tzinfo=paris))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_cron("* * * * *").matches(datetime(2024, 1, 1))


ERRORS = [
    ("* * * *", "exactly 5 fields"),
    ("0 * * * * *", "seconds or year field is not supported"),
    ("* * * JAN *", "month names are not supported"),
    ("* * * * MON", "weekday names are not supported"),
    ("* * ? * *", "'?' is not supported"),
    ("* * L * *", "'L'/'W' are not supported"),
    ("* * * * 5#2", "'#' (nth weekday) is not supported"),
    ("0-30/5 * * * *", "a step on a range or value ('a-b/n') is not supported"),
    ("5/10 * * * *", "steps are only supported as '*/n'"),
    ("*/0 * * * *", "step in '*/0' must be at least 1"),
    ("5-5 * * * *", "end must be greater than the start"),
    ("20-10 * * * *", "end must be greater than the start"),
    ("60 * * * *", "minute: 60 is out of range 0-59"),
    ("* 24 * * *", "hour: 24 is out of range 0-23"),
    ("* * 0 * *", "day of month: 0 is out of range 1-31"),
    ("* * * 13 *", "month: 13 is out of range 1-12"),
    ("* * * * 8", "day of week: 8 is out of range 0-7"),
    ("1,,2 * * * *", "empty list element"),
    ("@hourly", "macros"),
    ("x * * * *", "cannot read 'x'"),
]


@pytest.mark.parametrize(("expr", "message"), ERRORS)
def test_refused(expr: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr)
    assert message in str(info.value)


def test_parsed_values() -> None:
    s = parse_cron("*/15 0-2 1,15 * 7")
    assert s.minutes == {0, 15, 30, 45}
    assert s.hours == {0, 1, 2}
    assert s.dates == {1, 15}
    assert s.dows == {0}
    assert s.dates_restricted and s.dows_restricted
    assert not parse_cron("* * * * 0-7").dows_restricted
