"""`status` on a big table: which figures are estimates, how they are labelled, and that a
small table is always counted exactly."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from trigger_compat import Client
from trigger_compat.core import admin_ops as ao

from .conftest import CLI
from .test_commands import arrange_states, counts

ESTIMATED_STATES = ["waiting", "scheduled", "retrying"]


def test_a_small_table_is_counted_exactly(cli: CLI, client: Client) -> None:
    arrange_states(client)
    data = cli("status", "--json").json()
    assert data["exact"] is True
    assert data["estimated"] == []
    assert data["sample_percent"] is None and data["rows_estimate"] is None
    assert data["totals"]["total"] == 6
    assert "~" not in cli("status").out


def test_above_the_threshold_the_estimates_are_labelled(cli: CLI, client: Client) -> None:
    """--exact-below 0 makes even this table "big": the planner reckons a handful of jobs, so
    the whole table is the sample and the estimates equal the exact counts here."""
    arrange_states(client)
    exact = cli("status", "--json").json()
    run = cli("status", "--json", "--exact-below", "0")
    assert run.code == 0, run.err
    data = run.json()
    assert data["exact"] is False
    assert data["estimated"] == [*ESTIMATED_STATES, "total", "oldest_waiting_age_seconds"]
    assert data["sample_percent"] == 100.0
    assert data["rows_estimate"] >= 0
    for key in ("tasks", "queues"):
        assert [counts(e) for e in data[key]] == [counts(e) for e in exact[key]]
    assert counts(data["totals"]) == counts(exact["totals"])

    text = cli("status", "--exact-below", "0").out
    assert "(estimated)" in text and "~ marks an estimate" in text
    assert "running and failed jobs are counted exactly" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("sendEmail"))
    # waiting and scheduled are estimates, running exact.
    assert line.split()[1:4] == ["~2", "~1", "1"]


def test_exact_overrides_the_threshold(cli: CLI, client: Client) -> None:
    arrange_states(client)
    data = cli("status", "--json", "--exact-below", "0", "--exact").json()
    assert data["exact"] is True and data["estimated"] == []


def test_failed_jobs_beyond_the_cap_are_estimated(client: Client) -> None:
    arrange_states(client)
    groups, _, failed_exact = client.execute(ao.job_counts_estimated(6, 100.0, 0))
    assert failed_exact is False
    assert ao.Estimate(6, 100.0, failed_exact).estimated == [
        *ESTIMATED_STATES,
        "failed",
        "total",
        "oldest_waiting_age_seconds",
    ]
    exact_groups, _ = client.execute(ao.job_counts())
    assert [(g.task_identifier, g.queue_name, g.counts.total) for g in groups] == [
        (g.task_identifier, g.queue_name, g.counts.total) for g in exact_groups
    ]
    _, _, within_cap = client.execute(ao.job_counts_estimated(6, 100.0, 1))
    assert within_cap is True


def test_the_size_estimate_follows_the_table(
    client: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    """Without an analyze the planner's density is a guess; after one it is the table's."""
    db.execute(
        sql.SQL(
            "insert into {}.jobs (task_identifier) select 't' from generate_series(1, 5000)"
        ).format(sql.Identifier(schema))
    )
    db.execute(sql.SQL("analyze {}.jobs").format(sql.Identifier(schema)))
    size = client.execute(ao.status_size(schema))
    assert 4_000 <= size <= 6_000
    assert ao.sample_percent(size, 50_000) == 100.0
    assert ao.sample_percent(10_000_000, 50_000) == 0.5
