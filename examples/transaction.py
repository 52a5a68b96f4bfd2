"""A business write and its job in one psycopg transaction: both commit, or neither.

python -m examples.transaction
"""

from __future__ import annotations

from typing import Any

import psycopg

from trigger_compat import Client

from ._common import CATALOG, database_url

CREATE_USERS = """
create table if not exists users (
    id    bigint generated always as identity primary key,
    email text not null unique,
    name  text not null
)
"""


def sign_up(conn: psycopg.Connection[Any], queue: Client, email: str, name: str) -> int:
    """Insert the user and its welcome-email job in one transaction (a savepoint when the
    caller already has one open): the job reaches the workers only if the user is committed."""
    with conn.transaction():
        row = conn.execute(
            "insert into users (email, name) values (%s, %s) returning id", (email, name)
        ).fetchone()
        assert row is not None
        queue.enqueue("scheduleEmail", {"email": "welcome", "to": email, "name": name}, tx=conn)
    return int(row[0])


if __name__ == "__main__":
    url = database_url()
    with Client(url, catalog=CATALOG) as queue, psycopg.connect(url) as conn:
        queue.migrate()
        conn.execute(CREATE_USERS)
        conn.commit()
        print("user", sign_up(conn, queue, "ada@example.com", "Ada"))
