"""The pure helpers of the admin commands: reading arguments, formatting, batching, ops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trigger_compat.cli._bulk import batches
from trigger_compat.cli._format import format_age, table
from trigger_compat.cli._parse import parse_duration, parse_ids, parse_when
from trigger_compat.core import admin_ops as ao
from trigger_compat.errors import InvalidJobError

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1.5h", 5400),
        ("45", 45),
        (" 2H ", 7200),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "2 days", "2x", "-1h", "1h30", "h2"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidJobError, match="not a duration"):
        parse_duration(text, "--older-than")


def test_parse_when() -> None:
    assert parse_when("now", NOW) == NOW
    assert parse_when("+2h", NOW) == NOW + timedelta(hours=2)
    assert parse_when("in 30m", NOW) == NOW + timedelta(minutes=30)
    assert parse_when("2030-02-01T09:00:00+02:00", NOW) == datetime(2030, 2, 1, 7, tzinfo=UTC)
    assert parse_when("2030-02-01T09:00:00Z", NOW) == datetime(2030, 2, 1, 9, tzinfo=UTC)
    assert parse_when("2030-02-01 09:00", NOW) == datetime(2030, 2, 1, 9, tzinfo=UTC)
    with pytest.raises(InvalidJobError, match="not a time"):
        parse_when("tomorrow", NOW)


def test_parse_ids() -> None:
    assert parse_ids(["3", "1,2", "3"]) == [3, 1, 2]
    with pytest.raises(InvalidJobError, match="not a job id"):
        parse_ids(["1", "x"])
    with pytest.raises(InvalidJobError):
        parse_ids(["0"])


def test_batches() -> None:
    assert [len(b) for b in batches(list(range(2500)), 1000)] == [1000, 1000, 500]
    assert list(batches([], 1000)) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.25, "250ms"),
        (42, "42s"),
        (192, "3m12s"),
        (7500, "2h05m"),
        (273600, "3d04h"),
        (-3, "0ms"),
    ],
)
def test_format_age(seconds: float | None, text: str) -> None:
    assert format_age(seconds) == text


def test_table_aligns_numbers_right() -> None:
    lines = table(["TASK", "N"], [["a", 5], ["longer", 123], ["c", None]])
    assert lines == ["TASK      N", "a         5", "longer  123", "c         -"]


def test_list_jobs_checks_its_input() -> None:
    with pytest.raises(InvalidJobError, match="state"):
        ao.list_jobs(None, None, "stuck", 10)
    with pytest.raises(InvalidJobError, match="limit"):
        ao.list_jobs(None, None, None, 0)
