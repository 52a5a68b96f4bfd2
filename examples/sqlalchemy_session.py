"""Enqueue through a SQLAlchemy session's connection: the job commits with the session.

Needs the psycopg (3) dialect: ``postgresql+psycopg://...``.

    python -m examples.sqlalchemy_session
"""

from __future__ import annotations

from typing import Any, cast

import psycopg
from sqlalchemy import String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from trigger_compat import Client

from ._common import CATALOG, database_url


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)


def sign_up(session: Session, queue: Client, email: str, name: str) -> User:
    """Add the user and enqueue its welcome email on the session's own connection; both
    become visible at ``session.commit()`` and vanish at ``session.rollback()``."""
    user = User(email=email, name=name)
    session.add(user)
    session.flush()
    conn = cast(psycopg.Connection[Any], session.connection().connection.driver_connection)
    queue.enqueue("scheduleEmail", {"email": "welcome", "to": email, "name": name}, tx=conn)
    return user


def sqlalchemy_url(url: str) -> str:
    """``postgresql://…`` → ``postgresql+psycopg://…``."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


if __name__ == "__main__":
    url = database_url()
    engine = create_engine(sqlalchemy_url(url))
    Base.metadata.create_all(engine)
    with Client(url, catalog=CATALOG) as queue, Session(engine) as session:
        queue.migrate()
        sign_up(session, queue, "grace@example.com", "Grace")
        session.commit()
