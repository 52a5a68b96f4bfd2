"""Hostile payloads through add_job, add_jobs and enqueue: a job whose stored payload is the
JSON of the one given, or an InvalidJobError with nothing written — never a driver error."""

from __future__ import annotations

import json
import math
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigger_compat import AsyncClient, Client, JobSpec
from trigger_compat.core.jobs import DEFAULT_MAX_PAYLOAD_BYTES, payload_json
from trigger_compat.errors import InvalidJobError, TriggerCompatError

from .conftest import fingerprint

# Text with everything: NUL, lone surrogates, astral characters, control characters.
any_text = st.text(st.characters(codec=None, categories=None), max_size=20)
hashable = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), any_text, st.binary(max_size=4)
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**4000), max_value=10**4000),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=8),
    st.frozensets(hashable, max_size=3),
    st.sets(st.integers(), max_size=3),
    st.just(object()),
    st.dates(),
    st.decimals(allow_nan=True),
)
payloads = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(any_text, children, max_size=4),
        st.dictionaries(hashable, children, max_size=3),
    ),
    max_leaves=12,
)


def deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def same_json(stored: Any, given_json: Any) -> bool:
    """Equal as JSON values (jsonb keeps numbers as numeric: 1e20 comes back as an int)."""
    if isinstance(given_json, dict):
        return (
            isinstance(stored, dict)
            and stored.keys() == given_json.keys()
            and all(same_json(stored[k], given_json[k]) for k in given_json)
        )
    if isinstance(given_json, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(given_json)
            and all(same_json(a, b) for a, b in zip(stored, given_json, strict=True))
        )
    if isinstance(given_json, bool) or given_json is None or isinstance(given_json, str):
        return bool(stored == given_json)
    assert isinstance(given_json, int | float)
    if isinstance(given_json, int) and isinstance(stored, int):
        return bool(stored == given_json)
    return isinstance(stored, int | float) and math.isclose(stored, given_json, rel_tol=1e-15)


def check_add(client: Client, db: psycopg.Connection[Any], schema: str, payload: Any) -> None:
    before = fingerprint(db, schema)
    try:
        job = client.add_job("plain", payload)
    except InvalidJobError as exc:
        assert exc.field == "payload"
        assert "\n" not in str(exc)
        assert fingerprint(db, schema) == before
        return
    expected = json.loads(payload_json("payload", payload) or "{}")
    assert same_json(job.payload, expected)
    client.complete_jobs([job.id])


@settings(settings.get_profile("fuzz"), max_examples=250)
@given(payload=payloads)
def test_add_job_payloads(
    fuzz_client: Client, fuzz_db: psycopg.Connection[Any], fuzz_schema: str, payload: Any
) -> None:
    check_add(fuzz_client, fuzz_db, fuzz_schema, payload)


@settings(settings.get_profile("fuzz"), max_examples=60)
@given(items=st.lists(payloads, min_size=1, max_size=5))
def test_add_jobs_payloads(
    fuzz_client: Client, fuzz_db: psycopg.Connection[Any], fuzz_schema: str, items: list[Any]
) -> None:
    before = fingerprint(fuzz_db, fuzz_schema)
    try:
        jobs = fuzz_client.add_jobs([JobSpec(identifier="plain", payload=p) for p in items])
    except InvalidJobError as exc:
        assert exc.field.startswith("specs[") or exc.field.startswith("payload")
        assert fingerprint(fuzz_db, fuzz_schema) == before
        return
    fuzz_client.complete_jobs([j.id for j in jobs])


@settings(settings.get_profile("fuzz"), max_examples=150)
@given(payload=payloads)
def test_enqueue_payloads(
    fuzz_client: Client, fuzz_db: psycopg.Connection[Any], fuzz_schema: str, payload: Any
) -> None:
    """Through the catalog: schema validation, then templates (queue name, key), then JSON."""
    for task in ("typed", "keyed"):
        before = fingerprint(fuzz_db, fuzz_schema)
        try:
            job = fuzz_client.enqueue(task, payload)
        except TriggerCompatError as exc:
            assert isinstance(exc, InvalidJobError)
            assert fingerprint(fuzz_db, fuzz_schema) == before
            continue
        fuzz_client.complete_jobs([job.id])


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("depth", [100, 990, 5_000, 100_000])
def test_deep_nesting(
    fuzz_client: Client,
    fuzz_db: psycopg.Connection[Any],
    fuzz_schema: str,
    kind: str,
    depth: int,
) -> None:
    check_add(fuzz_client, fuzz_db, fuzz_schema, deep(depth, kind))


@pytest.mark.parametrize(
    "payload",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        [float("-inf")],
        {"s": "a\ud800b"},
        {"\udfff": 1},
        {"s": "nul\x00"},
        {"nul\x00key": 1},
        {"s": "escaped \\u0000 is text, not NUL"},
        b"bytes",
        {"b": bytearray(b"x")},
        {1, 2},
        {"k": frozenset()},
        {1: "int key"},
        {None: "null key"},
        {True: "bool key"},
        {(1, 2): "tuple key"},
        {"n": 10**4400},
        {"n": -(10**4299)},
        "x" * (DEFAULT_MAX_PAYLOAD_BYTES + 1),
        {"s": "é" * (DEFAULT_MAX_PAYLOAD_BYTES // 2)},
        ["\U0001f600" * 10, "\u202e\ufeff\u200b"],
    ],
    ids=lambda p: type(p).__name__,
)
def test_named_hostile_payloads(
    fuzz_client: Client, fuzz_db: psycopg.Connection[Any], fuzz_schema: str, payload: Any
) -> None:
    check_add(fuzz_client, fuzz_db, fuzz_schema, payload)


def test_circular_payload(fuzz_client: Client) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InvalidJobError, match="Circular"):
        fuzz_client.add_job("plain", {"loop": loop})


# -- the payload size limit --------------------------------------------------------------


def test_default_limit_is_one_mebibyte(fuzz_client: Client) -> None:
    assert fuzz_client.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES == 1024 * 1024
    # {"s":"…"} is 8 bytes of JSON around the string.
    fits = {"s": "x" * (DEFAULT_MAX_PAYLOAD_BYTES - 8)}
    job = fuzz_client.add_job("plain", fits)
    assert len(job.payload["s"]) == DEFAULT_MAX_PAYLOAD_BYTES - 8
    fuzz_client.complete_jobs([job.id])
    with pytest.raises(InvalidJobError) as info:
        fuzz_client.add_job("plain", {"s": "x" * (DEFAULT_MAX_PAYLOAD_BYTES - 7)})
    assert info.value.field == "payload"
    assert str(info.value) == (
        "payload: is 1,048,577 bytes as JSON, over the limit of 1,048,576 bytes "
        "(max_payload_bytes of the client); store large data elsewhere and pass a reference, "
        "or raise max_payload_bytes"
    )


def test_limit_counts_utf8_bytes(database_url: str, fuzz_schema: str, fuzz_client: Client) -> None:
    with Client(database_url, schema=fuzz_schema, max_payload_bytes=10) as small:
        with pytest.raises(InvalidJobError, match="is 12 bytes as JSON"):
            small.add_job("plain", "ééééé")  # 2 quotes + 5 × 2 bytes; "éééé" is 10
        job = small.add_job("plain", "éééé")
        small.complete_jobs([job.id])


def test_limit_applies_to_batches_and_enqueue(
    database_url: str,
    fuzz_schema: str,
    fuzz_client: Client,
    fuzz_db: psycopg.Connection[Any],
) -> None:
    before = fingerprint(fuzz_db, fuzz_schema)
    with Client(
        database_url, schema=fuzz_schema, catalog=fuzz_client.catalog, max_payload_bytes=64
    ) as small:
        specs = [JobSpec(identifier="plain", payload={"i": 1}), JobSpec(identifier="plain")]
        specs.append(JobSpec(identifier="plain", payload={"big": "y" * 100}))
        with pytest.raises(InvalidJobError) as info:
            small.add_jobs(specs)
        assert info.value.field == "specs[2].payload"
        with pytest.raises(InvalidJobError, match="over the limit of 64 bytes"):
            small.enqueue("typed", {"id": "z" * 100})
        with pytest.raises(InvalidJobError, match=r"specs\[1\]\.payload"):
            small.enqueue_many([("typed", {"id": "a"}), ("typed", {"id": "z" * 100})])
    assert fingerprint(fuzz_db, fuzz_schema) == before


def test_no_limit(database_url: str, fuzz_schema: str, fuzz_client: Client) -> None:
    # fuzz_client: the schema is migrated, whichever test of the module runs first
    with Client(database_url, schema=fuzz_schema, max_payload_bytes=None) as unlimited:
        job = unlimited.add_job("plain", {"s": "x" * (2 * DEFAULT_MAX_PAYLOAD_BYTES)})
        assert len(job.payload["s"]) == 2 * DEFAULT_MAX_PAYLOAD_BYTES
        unlimited.complete_jobs([job.id])


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1MB"])
def test_bad_limit_is_refused(database_url: str, bad: Any) -> None:
    with pytest.raises(InvalidJobError, match="max_payload_bytes: must be a positive integer"):
        Client(database_url, max_payload_bytes=bad)
    with pytest.raises(InvalidJobError, match="max_payload_bytes: must be a positive integer"):
        AsyncClient(database_url, max_payload_bytes=bad)


async def test_async_client_applies_the_limit(
    database_url: str, fuzz_schema: str, fuzz_client: Client
) -> None:
    async with AsyncClient(database_url, schema=fuzz_schema, max_payload_bytes=32) as small:
        with pytest.raises(InvalidJobError, match="over the limit of 32 bytes"):
            await small.add_job("plain", {"s": "x" * 40})
        with pytest.raises(InvalidJobError, match=r"specs\[0\]\.payload"):
            await small.add_jobs([JobSpec(identifier="plain", payload=["x" * 40])])
