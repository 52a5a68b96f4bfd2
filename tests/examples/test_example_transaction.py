"""The transaction example, tested with the trigger_compat.testing plugin as a user would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from examples.transaction import CREATE_USERS, sign_up
from trigger_compat.testing.plugin import TestQueue


@pytest.fixture()
def conn(tc_queue: TestQueue) -> Iterator[psycopg.Connection[Any]]:
    # The app's tables live beside the queue's, in the test's own schema.
    with psycopg.connect(tc_queue.database_url, options=f"-c search_path={tc_queue.schema}") as c:
        c.execute(CREATE_USERS)
        c.commit()
        yield c


def users(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("select email from users order by id").fetchall()]


def test_commit_writes_the_user_and_its_job(
    conn: psycopg.Connection[Any], tc_queue: TestQueue
) -> None:
    sign_up(conn, tc_queue.client, "ada@example.com", "Ada")
    conn.commit()
    assert users(conn) == ["ada@example.com"]
    job = tc_queue.assert_enqueued(
        "scheduleEmail", {"email": "welcome", "to": "ada@example.com", "name": "Ada"}
    )
    assert job.priority == 0 and job.max_attempts == 3  # from the catalog

    sent: list[str] = []
    runs = tc_queue.drain({"scheduleEmail": lambda payload, job: sent.append(payload["name"])})
    assert runs.identifiers == ["scheduleEmail"] and sent == ["Ada"]
    tc_queue.assert_not_enqueued("scheduleEmail")


def test_rollback_leaves_neither(conn: psycopg.Connection[Any], tc_queue: TestQueue) -> None:
    with pytest.raises(RuntimeError), conn.transaction():
        sign_up(conn, tc_queue.client, "ada@example.com", "Ada")
        tc_queue.assert_not_enqueued("scheduleEmail")  # not committed: invisible elsewhere
        raise RuntimeError("payment failed")
    assert users(conn) == []
    tc_queue.assert_not_enqueued("scheduleEmail")


def test_a_failed_insert_enqueues_nothing(
    conn: psycopg.Connection[Any], tc_queue: TestQueue
) -> None:
    sign_up(conn, tc_queue.client, "ada@example.com", "Ada")
    conn.commit()
    with pytest.raises(psycopg.errors.UniqueViolation):
        sign_up(conn, tc_queue.client, "ada@example.com", "Someone else")
    conn.rollback()
    tc_queue.assert_enqueued("scheduleEmail", {"name": "Ada"}, count=1)
    tc_queue.assert_not_enqueued("scheduleEmail", {"name": "Someone else"})
