"""The pure part: ticks, the backfill plan, the _cron payload, cron checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trigger_compat.core.catalog import parse_catalog
from trigger_compat.core.cron import parse_cron
from trigger_compat.core.schedule import (
    CronItem,
    KnownCrontab,
    backfill_plan,
    ceil_minute,
    check_cron_expressions,
    cron_items,
    cron_payload,
    floor_minute,
    iso_timestamp,
)

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
H = 3_600_000


def item(name: str, expr: str = "* * * * *", backfill: int = 0) -> CronItem:
    return CronItem(name, parse_cron(expr), backfill)


@pytest.mark.parametrize(
    ("t", "floor", "ceil"),
    [
        (T, T, T),
        (T + timedelta(seconds=1), T, T + timedelta(minutes=1)),
        (T + timedelta(microseconds=1), T, T + timedelta(minutes=1)),
        (T - timedelta(microseconds=1), T - timedelta(minutes=1), T),
    ],
)
def test_minute_rounding(t: datetime, floor: datetime, ceil: datetime) -> None:
    assert floor_minute(t) == floor
    assert ceil_minute(t) == ceil


def test_payload_is_graphiles_iso_string() -> None:
    assert iso_timestamp(T) == "2030-01-01T12:00:00.000Z"
    assert iso_timestamp(T + timedelta(milliseconds=5)) == "2030-01-01T12:00:00.005Z"
    assert cron_payload(T, True) == {
        "_cron": {"ts": "2030-01-01T12:00:00.000Z", "backfilled": True}
    }


def test_backfill_within_period_oldest_first_never_before_last_execution() -> None:
    start = T + timedelta(seconds=30)
    a = item("a", backfill=10 * 60_000)  # 10 minutes
    b = item("b", "*/5 * * * *", backfill=H)
    known = {
        "a": KnownCrontab("a", T - timedelta(days=1), T - timedelta(minutes=30)),
        "b": KnownCrontab("b", T - timedelta(days=1), T - timedelta(minutes=22)),
    }
    plan = backfill_plan([a, b], known, start)
    ticks = [t for t, _ in plan]
    assert ticks == sorted(ticks)
    a_ticks = [t for t, items in plan if a in items]
    b_ticks = [t for t, items in plan if b in items]
    # a: start - 10 min rounded up = 11:51 ... 12:00 (< start)
    assert a_ticks == [T - timedelta(minutes=9 - i) for i in range(10)]
    # b: every 5 minutes from its last execution (11:38) on: 11:40 .. 12:00
    assert b_ticks == [T - timedelta(minutes=m) for m in (20, 15, 10, 5, 0)]


def test_no_backfill_for_new_identifiers_or_zero_period() -> None:
    start = T + timedelta(seconds=30)
    new = item("new", backfill=H)
    zero = item("zero")
    known = {
        "new": KnownCrontab("new", start, None),
        "zero": KnownCrontab("zero", T - timedelta(days=1), T - timedelta(hours=2)),
    }
    assert backfill_plan([new, zero], known, start) == []


def test_backfill_from_known_since_when_never_run() -> None:
    start = T + timedelta(seconds=30)
    x = item("x", backfill=H)
    known = {"x": KnownCrontab("x", T - timedelta(minutes=3), None)}
    assert [t for t, _ in backfill_plan([x], known, start)] == [
        T - timedelta(minutes=m) for m in (3, 2, 1, 0)
    ]


def test_cron_items_order_and_options() -> None:
    text = """
workers:
  w:
    cleanup: {frequencyExpression: "13,27 * * * *", ttl: 1000, maxCount: 5,
              taskOptions: {queueName: cleanup, maxAttempts: 2}}
    recurringTasks:
      tick: {match: "*/5 * * * *", options: {backfillPeriod: 60000, priority: -3, jobKey: k}}
"""
    report = parse_catalog(text)
    assert report.catalog is not None
    settings = report.catalog.workers["w"]
    items = cron_items(settings, reporter=True)
    assert [i.identifier for i in items] == ["__cleanupOldJobs", "__reporter", "tick"]
    assert (items[0].queue_name, items[0].max_attempts) == ("cleanup", 2)
    assert items[1].schedule.expression == "50 * * * *"
    assert (items[2].backfill_period_ms, items[2].priority, items[2].job_key) == (60000, -3, "k")
    assert [i.identifier for i in cron_items(settings, only=["tick"])] == ["tick"]
    assert check_cron_expressions("w", settings) == []
