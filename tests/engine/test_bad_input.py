"""Bad input is refused with an error naming the field and the fix, and nothing is written."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pytest

from trigger_compat import (
    AsyncClient,
    Client,
    DatabaseUnavailableError,
    DuplicateJobKeyError,
    InvalidJobError,
    JobSpec,
    SchemaNotMigratedError,
    TriggerCompatError,
)

from ._support import T0, jobs_table


@dataclass(frozen=True)
class Bad:
    name: str
    options: dict[str, Any]  # add_job keyword arguments (identifier and payload included)
    field: str
    fix: str  # a fragment of the message telling how to fix it


BAD_INPUTS = [
    Bad(
        "unknown_job_key_mode",
        {"job_key": "k", "job_key_mode": "upsert"},
        "job_key_mode",
        "unsafe_dedupe",
    ),
    Bad("empty_job_key", {"job_key": ""}, "job_key", "pass None for a job without a key"),
    Bad("job_key_513_chars", {"job_key": "k" * 513}, "job_key", "at most 512 characters"),
    Bad("identifier_129_chars", {"identifier": "t" * 129}, "identifier", "at most 128 characters"),
    Bad("queue_name_129_chars", {"queue_name": "q" * 129}, "queue_name", "at most 128 characters"),
    Bad("max_attempts_0", {"max_attempts": 0}, "max_attempts", "between 1 and 32767"),
    Bad("max_attempts_32768", {"max_attempts": 32768}, "max_attempts", "between 1 and 32767"),
    Bad("priority_-32769", {"priority": -32769}, "priority", "between -32768 and 32767"),
    Bad("priority_32768", {"priority": 32768}, "priority", "between -32768 and 32767"),
    Bad(
        "naive_run_at",
        {"run_at": datetime(2030, 1, 1, 12, 0)},
        "run_at",
        "datetime.now(timezone.utc)",
    ),
    Bad("payload_nan", {"payload": {"x": float("nan")}}, "payload", "NaN and Infinity"),
    Bad("payload_set", {"payload": {"x": {1, 2}}}, "payload", "a set to a list"),
    Bad("payload_bytes", {"payload": [b"raw"]}, "payload", "convert the value first"),
    Bad("payload_lone_surrogate", {"payload": {"x": "\ud800"}}, "payload", "decode the text"),
    Bad("payload_nul", {"payload": {"x": "a\x00b"}}, "payload", "remove them"),
    Bad("payload_nul_in_a_key", {"payload": {"a\x00": 1}}, "payload", "remove them"),
]
CASES = [pytest.param(bad, id=bad.name) for bad in BAD_INPUTS]


def full_options(bad: Bad) -> dict[str, Any]:
    return {"identifier": "task", "payload": {"ok": 1}, "job_key": None, **bad.options}


@pytest.fixture()
def arranged(client: Client) -> Client:
    """Some jobs already in the table, one of them holding the key the bad calls use."""
    client.add_job("task", {"existing": 1}, job_key="k", run_at=T0)
    client.add_job("task", [1, 2], queue_name="q")
    client.fetch_jobs("worker-a")
    return client


def assert_names_field_and_fix(exc: BaseException, bad: Bad) -> None:
    message = str(exc)
    assert isinstance(exc, TriggerCompatError)
    assert bad.field in message, message
    assert bad.fix in message, message


@pytest.mark.parametrize("bad", CASES)
def test_add_job_refuses(
    arranged: Client, db: psycopg.Connection[Any], schema: str, bad: Bad
) -> None:
    before = jobs_table(db, schema)
    options = full_options(bad)
    identifier = options.pop("identifier")
    payload = options.pop("payload")
    with pytest.raises(InvalidJobError) as info:
        arranged.add_job(identifier, payload, **options)
    assert_names_field_and_fix(info.value, bad)
    assert info.value.field == bad.field
    assert jobs_table(db, schema) == before


@pytest.mark.parametrize("bad", CASES)
def test_add_jobs_refuses_the_whole_batch(
    arranged: Client, db: psycopg.Connection[Any], schema: str, bad: Bad
) -> None:
    before = jobs_table(db, schema)
    with pytest.raises(InvalidJobError) as info:
        specs = [
            JobSpec(identifier="good", payload={"n": 1}),
            JobSpec(**full_options(bad)),
            JobSpec(identifier="good", payload={"n": 2}),
        ]
        arranged.add_jobs(specs)
    assert_names_field_and_fix(info.value, bad)
    # Errors found when the batch is checked also say which spec is wrong.
    assert info.value.field in (bad.field, f"specs[1].{bad.field}")
    assert jobs_table(db, schema) == before


@pytest.mark.parametrize("bad", CASES)
async def test_async_add_job_refuses(
    aclient: AsyncClient, db: psycopg.Connection[Any], schema: str, bad: Bad
) -> None:
    await aclient.add_job("task", {"existing": 1}, job_key="k")
    before = jobs_table(db, schema)
    options = full_options(bad)
    identifier = options.pop("identifier")
    payload = options.pop("payload")
    with pytest.raises(InvalidJobError) as info:
        await aclient.add_job(identifier, payload, **options)
    assert_names_field_and_fix(info.value, bad)
    assert jobs_table(db, schema) == before


def test_payload_with_escaped_looking_text_is_accepted(client: Client) -> None:
    """Text that merely looks like a JSON NUL escape is not a NUL."""
    payload = {"path": "C:\\u0000dir", "two": "\\\\u0000"}
    assert client.add_job("task", payload).payload == payload


def test_same_key_twice_in_one_batch(
    arranged: Client, db: psycopg.Connection[Any], schema: str
) -> None:
    before = jobs_table(db, schema)
    with pytest.raises(DuplicateJobKeyError) as info:
        arranged.add_jobs(
            [
                JobSpec(identifier="a", job_key="dup"),
                JobSpec(identifier="b"),
                JobSpec(identifier="c", job_key="other"),
                JobSpec(identifier="d", job_key="dup"),
            ]
        )
    message = str(info.value)
    assert "'dup'" in message and "specs[0]" in message and "specs[3]" in message, message
    assert "add them separately" in message, message
    assert jobs_table(db, schema) == before


@pytest.fixture()
def tx(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of the caller's, in a transaction (not autocommit)."""
    with psycopg.connect(database_url) as conn:
        yield conn


@pytest.mark.parametrize("bad", CASES)
def test_refusal_inside_the_callers_transaction_leaves_it_usable(
    client: Client,
    db: psycopg.Connection[Any],
    schema: str,
    tx: psycopg.Connection[Any],
    bad: Bad,
) -> None:
    first = client.add_job("before", tx=tx)
    options = full_options(bad)
    identifier = options.pop("identifier")
    payload = options.pop("payload")
    with pytest.raises(InvalidJobError):
        client.add_job(identifier, payload, tx=tx, **options)
    with pytest.raises(DuplicateJobKeyError):
        client.add_jobs(
            [JobSpec(identifier="x", job_key="dup"), JobSpec(identifier="y", job_key="dup")],
            tx=tx,
        )
    second = client.add_job("after", tx=tx)
    assert tx.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert jobs_table(db, schema) == []
    tx.commit()
    assert [(r["id"], r["task_identifier"]) for r in jobs_table(db, schema)] == [
        (first.id, "before"),
        (second.id, "after"),
    ]


# -- the database itself -----------------------------------------------------------------

UNREACHABLE = [
    "postgresql://user:s3cret@127.0.0.1:1/db",
    "host=127.0.0.1 port=1 user=user password=s3cret dbname=db connect_timeout=5",
]


def assert_no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    assert "s3cret" not in text, text
    assert "s3cret" not in repr(exc.args)


@pytest.mark.parametrize("dsn", UNREACHABLE, ids=["url", "keywords"])
def test_unreachable_database(dsn: str) -> None:
    with Client(dsn, connect_timeout=5) as client:
        with pytest.raises(DatabaseUnavailableError) as info:
            client.add_job("task")
        assert_no_secret(info.value)
        assert "DATABASE_URL" in str(info.value)
        with pytest.raises(DatabaseUnavailableError) as info:
            client.migrate()
        assert_no_secret(info.value)


@pytest.mark.parametrize("dsn", UNREACHABLE, ids=["url", "keywords"])
async def test_unreachable_database_async(dsn: str) -> None:
    async with AsyncClient(dsn, connect_timeout=5) as client:
        with pytest.raises(DatabaseUnavailableError) as info:
            await client.fetch_jobs("worker-a")
        assert_no_secret(info.value)


def test_unmigrated_schema(database_url: str, schema: str, db: psycopg.Connection[Any]) -> None:
    with Client(database_url, schema=schema) as client:
        calls = {
            "add_job": lambda: client.add_job("task"),
            "add_jobs": lambda: client.add_jobs([JobSpec(identifier="task")]),
            "fetch_jobs": lambda: client.fetch_jobs("worker-a"),
            "get_job": lambda: client.get_job(1),
            "remove_job": lambda: client.remove_job("k"),
            "complete_jobs": lambda: client.complete_jobs([1]),
        }
        for name, call in calls.items():
            with pytest.raises(SchemaNotMigratedError) as info:
                call()
            assert "migrate" in str(info.value), name
        # An existing but empty schema is not migrated either.
        db.execute(psycopg.sql.SQL("create schema {}").format(psycopg.sql.Identifier(schema)))
        for name, call in calls.items():
            with pytest.raises(SchemaNotMigratedError):
                call()
            assert name


async def test_unmigrated_schema_async(database_url: str, schema: str) -> None:
    async with AsyncClient(database_url, schema=schema) as client:
        with pytest.raises(SchemaNotMigratedError):
            await client.add_job("task")
