"""Option dicts through enqueue / enqueue_many: a job, or an InvalidJobError naming the option,
with nothing written."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from trigger_compat import Client, JobOptions
from trigger_compat.errors import InvalidJobError, TriggerCompatError

from .conftest import fingerprint

NAMES = [
    "runAt",
    "run_at",
    "jobKey",
    "job_key",
    "jobKeyMode",
    "job_key_mode",
    "maxAttempts",
    "max_attempts",
    "queueName",
    "queue_name",
    "priority",
    "flags",
    "tx",
    "payload",
    "identifier",
    "",
    "RUNAT",
    "\x00",
    "\ud800",
]
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 25, 32767, 32768, -32769, 2**31, 2**63]),
    st.floats(allow_nan=True),
    st.text(st.characters(codec=None, categories=None), max_size=10),
    st.sampled_from(
        ["replace", "preserve_run_at", "unsafe_dedupe", "REPLACE", "x" * 600, "'; --", "{id}"]
    ),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.just(datetime.now(UTC) + timedelta(days=36500)),
    st.lists(st.text(max_size=5), max_size=3),
    st.lists(st.integers(), max_size=2),
    st.binary(max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
options = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), values, max_size=4),
    st.sampled_from([[], "runAt", 1, ("jobKey", "x"), object()]),
)


@settings(settings.get_profile("fuzz"), max_examples=250)
@given(
    task=st.sampled_from(["plain", "keyed", "typed"]),
    opts=options,
)
def test_enqueue_options(
    fuzz_client: Client,
    fuzz_db: psycopg.Connection[Any],
    fuzz_schema: str,
    task: str,
    opts: Any,
) -> None:
    payload = {"id": "o1", "n": 1}
    before = fingerprint(fuzz_db, fuzz_schema)
    try:
        job = fuzz_client.enqueue(task, payload, opts)
    except TriggerCompatError as exc:
        assert isinstance(exc, InvalidJobError), repr(exc)
        assert exc.field.startswith(("options", "payload")), exc.field
        assert fingerprint(fuzz_db, fuzz_schema) == before
        return
    fuzz_client.remove_job(job.key) if job.key else fuzz_client.complete_jobs([job.id])


@settings(settings.get_profile("fuzz"), max_examples=60)
@given(items=st.lists(st.tuples(st.sampled_from(["plain", "keyed", "nope"]), options), max_size=4))
def test_enqueue_many_options(
    fuzz_client: Client,
    fuzz_db: psycopg.Connection[Any],
    fuzz_schema: str,
    items: list[tuple[str, Any]],
) -> None:
    before = fingerprint(fuzz_db, fuzz_schema)
    try:
        jobs = fuzz_client.enqueue_many([(t, {"id": f"m{i}"}, o) for i, (t, o) in enumerate(items)])
    except TriggerCompatError as exc:
        assert isinstance(exc, InvalidJobError), repr(exc)
        assert fingerprint(fuzz_db, fuzz_schema) == before
        return
    for job in jobs:
        fuzz_client.remove_job(job.key) if job.key else fuzz_client.complete_jobs([job.id])


@settings(settings.get_profile("fuzz"), max_examples=100)
@given(raw=st.dictionaries(st.sampled_from(NAMES), values, max_size=4))
def test_job_options_model(raw: dict[str, Any]) -> None:
    """JobOptions itself: a pydantic ValidationError is a ValueError, never anything else."""
    with contextlib.suppress(ValueError):
        JobOptions.model_validate(raw)
