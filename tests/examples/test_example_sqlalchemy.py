from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session

from examples.sqlalchemy_session import Base, User, sign_up, sqlalchemy_url
from trigger_compat.testing.plugin import TestQueue


@pytest.fixture()
def engine(tc_queue: TestQueue) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(tc_queue.database_url))

    @event.listens_for(engine, "connect")
    def use_test_schema(dbapi_connection, connection_record):  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cur:
            cur.execute(f"set search_path to {tc_queue.schema}")
        dbapi_connection.commit()

    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_commit_writes_both(engine: Engine, tc_queue: TestQueue) -> None:
    with Session(engine) as session:
        sign_up(session, tc_queue.client, "grace@example.com", "Grace")
        tc_queue.assert_not_enqueued("scheduleEmail")  # not committed yet
        session.commit()
    tc_queue.assert_enqueued(
        "scheduleEmail", {"email": "welcome", "to": "grace@example.com", "name": "Grace"}
    )
    with Session(engine) as session:
        assert session.scalars(select(User.email)).all() == ["grace@example.com"]


def test_rollback_leaves_neither(engine: Engine, tc_queue: TestQueue) -> None:
    with Session(engine) as session:
        sign_up(session, tc_queue.client, "grace@example.com", "Grace")
        session.rollback()
    tc_queue.assert_not_enqueued("scheduleEmail")
    with Session(engine) as session:
        assert session.scalars(select(User)).all() == []
