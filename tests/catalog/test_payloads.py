"""Payload JSON Schemas: dialects, every violation with its path, unions and intersections,
formats, the ``None`` rule and defaults (as zod parsed payloads)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from trigger_compat.core.payloads import (
    check_schema,
    compile_schema,
    enqueue_payload,
    parse_payload,
    payload_violations,
)
from trigger_compat.errors import PayloadValidationError

SCHEMAS = Path(__file__).parents[2] / "schemas"
D7 = "http://json-schema.org/draft-07/schema#"


def schema(name: str) -> Any:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def violations(name: str, payload: Any) -> list[tuple[str, str]]:
    return payload_violations(compile_schema(schema(name)), payload)


def test_draft_07_and_2020_12() -> None:
    for dialect in (D7, "https://json-schema.org/draft/2020-12/schema"):
        s = {"$schema": dialect, "type": "object", "required": ["id"]}
        assert check_schema(s) == []
        assert payload_violations(compile_schema(s), {}) == [("$.id", "is required")]


def test_2020_12_keywords_work() -> None:
    s = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array",
        "prefixItems": [{"type": "string"}],
    }
    assert payload_violations(compile_schema(s), [1]) == [("$[0]", "1 is not of type 'string'")]


def test_unknown_dialect_is_refused() -> None:
    assert "unsupported $schema" in check_schema({"$schema": "http://example.com/s"})[0]


def test_every_violation_is_listed() -> None:
    got = violations("performRunExecutionV2", {"id": 1, "reason": "NOPE"})
    assert got == [
        ("$.id", "1 is not of type 'string'"),
        ("$.isRetry", "is required"),
        ("$.reason", "'NOPE' is not one of ['EXECUTE_JOB', 'PREPROCESS']"),
    ]
    strict = {"$schema": D7, "type": "object", "properties": {}, "additionalProperties": False}
    assert payload_violations(compile_schema(strict), {"extra": 1}) == [
        ("$.extra", "is not an allowed field")
    ]


def test_unknown_keys_are_accepted_as_zod_objects_did() -> None:
    # z.object() strips unknown keys instead of refusing them: a payload with more fields passes.
    assert violations("startRun", {"id": "run_1", "reason": "extra"}) == []


def test_nested_paths() -> None:
    assert violations("events.deliverScheduled", {"id": "x", "payload": {}}) == [
        ("$.payload.ts", "is required")
    ]


# scheduleEmail is DeliverEmailSchema: a discriminated union on `email`, intersected with
# {to: string} (`.and(z.object({ to: z.string() }))`).
EMAIL_2024 = (
    "'welcome', 'magic_link', 'invite', 'alert-run', 'alert-attempt', "
    "'alert-deployment-failure', 'alert-deployment-success'"
)
EMAIL_2023 = (
    "'welcome', 'magic_link', 'invite', 'connect_integration', 'workflow_failed', "
    "'workflow_integration'"
)


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("scheduleEmail", {"email": "welcome", "to": "a@x.test"}, []),
        ("scheduleEmail", {"email": "welcome", "to": "a@x.test", "name": "Ada"}, []),
        ("scheduleEmail", {"email": "welcome", "name": "Ada"}, [("$.to", "is required")]),
        (
            "scheduleEmail",
            {"email": "magic_link", "to": "a@x.test", "magicLink": "https://x.test/l"},
            [],
        ),
        ("scheduleEmail", {"email": "magic_link", "to": "a"}, [("$.magicLink", "is required")]),
        (
            "scheduleEmail",
            {"email": "invite", "to": "a", "orgName": "o", "inviterEmail": 1},
            [("$.inviteLink", "is required"), ("$.inviterEmail", "1 is not of type 'string'")],
        ),
        (
            "scheduleEmail",
            {"email": "unknown", "to": "a"},
            [("$.email", f"must be one of {EMAIL_2024} (got 'unknown')")],
        ),
        (
            "2023-11/scheduleEmail",
            {"email": "workflow_failed", "to": "a", "workflowId": "wf_1"},
            [],
        ),
        (
            "2023-11/scheduleEmail",
            {"email": "alert-run", "to": "a"},
            [("$.email", f"must be one of {EMAIL_2023} (got 'alert-run')")],
        ),
    ],
)
def test_schedule_email_union_and_recipient(name: str, payload: Any, expected: Any) -> None:
    assert violations(name, payload) == expected


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        ({"id": "s"}, True),  # version omitted → "1" (the preprocess step)
        ({"version": "1", "id": "s", "orphanedEvents": ["a"]}, True),
        ({"version": "2", "id": "s", "orphanedOptions": {"a": ["b"]}}, True),
        ({"version": "2", "id": "s", "orphanedOptions": {"a": "b"}}, False),
        ({"version": "1", "id": "s", "orphanedEvents": "a"}, False),
        ({"version": "3", "id": "s"}, False),
        ({"version": "2"}, False),
    ],
)
def test_activate_source_version_union(payload: Any, ok: bool) -> None:
    assert (violations("activateSource", payload) == []) is ok


@pytest.mark.parametrize(
    ("ts", "ok"),
    [
        ("2024-05-20T10:00:00.000Z", True),  # what JSON makes of a Date
        ("2024-05-20T10:00:00+02:00", True),
        (1716199200000, True),  # z.coerce.date() accepts epoch milliseconds
        ("tomorrow", False),
        ("2024-05-20", False),  # a date without a time is not an RFC 3339 date-time
        (True, False),
    ],
)
def test_coerce_date_is_a_date_time_or_a_number(ts: Any, ok: bool) -> None:
    payload = {"id": "s", "payload": {"ts": ts}}
    assert (violations("events.deliverScheduled", payload) == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://app.trigger.dev/invite?token=abc", True),
        ("http://localhost:3030/login/magic?token=x", True),
        ("not a url", False),
        ("/relative/path", False),
    ],
)
def test_url_format_is_enforced(value: str, ok: bool) -> None:
    payload = {"email": "magic_link", "to": "a@x.test", "magicLink": value}
    assert (violations("scheduleEmail", payload) == []) is ok


def test_email_format_is_enforced() -> None:
    s = compile_schema({"$schema": D7, "type": "string", "format": "email"})
    assert payload_violations(s, "ada@example.com") == []
    assert payload_violations(s, "ada") == [("$", "'ada' is not a 'email'")]


# -- None (JS undefined) and defaults ------------------------------------------------------


def test_none_is_dropped_where_null_is_not_allowed() -> None:
    v = compile_schema(schema("scheduleEmail"))
    # `name: user.name ?? undefined`: the key is absent from the stored JSON
    payload = {"email": "welcome", "to": "a@x.test", "name": None}
    assert enqueue_payload(v, "scheduleEmail", payload) == {"email": "welcome", "to": "a@x.test"}
    assert payload["name"] is None  # the caller's dict is not changed
    nested = {"id": "s", "payload": {"ts": "2024-05-20T10:00:00Z", "lastTimestamp": None}}
    assert enqueue_payload(compile_schema(schema("events.deliverScheduled")), "x", nested) == {
        "id": "s",
        "payload": {"ts": "2024-05-20T10:00:00Z"},
    }


def test_none_is_kept_where_null_is_allowed_and_refused_where_required() -> None:
    s = compile_schema(
        {
            "$schema": D7,
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"type": "string"},
                "c": {},
            },
            "required": ["b"],
        }
    )
    assert enqueue_payload(s, "t", {"a": None, "b": "x", "c": None, "d": None}) == {
        "a": None,
        "b": "x",
        "c": None,
        "d": None,
    }
    with pytest.raises(PayloadValidationError) as info:
        enqueue_payload(s, "t", {"b": None})
    assert info.value.violations == [("$.b", "is required")]


def test_none_in_a_list_item_object() -> None:
    s = compile_schema(
        {
            "$schema": D7,
            "type": "array",
            "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
        }
    )
    assert enqueue_payload(s, "t", [{"n": None}, {"n": 1}]) == [{}, {"n": 1}]


def test_defaults_are_filled_for_the_handler_not_for_storage() -> None:
    v = compile_schema(schema("activateSource"))
    stored = enqueue_payload(v, "activateSource", {"id": "src_1"})
    assert stored == {"id": "src_1"}
    original = copy.deepcopy(stored)
    assert parse_payload(v, "activateSource", stored) == {"id": "src_1", "version": "1"}
    assert stored == original
    v2 = {"version": "2", "id": "s", "orphanedOptions": {"a": ["b"]}}
    assert parse_payload(v, "activateSource", v2) == v2


def test_nested_defaults_and_mutable_defaults_are_copied() -> None:
    s = compile_schema(
        {
            "$schema": D7,
            "type": "object",
            "properties": {
                "opts": {
                    "type": "object",
                    "properties": {"tags": {"type": "array", "default": []}},
                    "default": {},
                }
            },
        }
    )
    first = parse_payload(s, "t", {})
    assert first == {"opts": {}}
    assert parse_payload(s, "t", {"opts": {}}) == {"opts": {"tags": []}}
    first["opts"]["x"] = 1
    assert parse_payload(s, "t", {}) == {"opts": {}}


def test_parse_refuses_what_zod_refused() -> None:
    v = compile_schema(schema("activateSource"))
    with pytest.raises(PayloadValidationError):
        parse_payload(v, "activateSource", {"version": "3", "id": "s"})


def test_fast_path_returns_the_same_object() -> None:
    v = compile_schema(schema("startRun"))
    payload = {"id": "run_1"}
    assert enqueue_payload(v, "startRun", payload) is payload
    assert parse_payload(v, "startRun", payload) is payload


def test_every_shipped_schema_is_valid_draft_07() -> None:
    files = [f for f in SCHEMAS.rglob("*.json") if f.name != "catalog.schema.json"]
    assert len(files) > 40
    for file in files:
        s = json.loads(file.read_text())
        assert s["$schema"] == D7, file
        assert check_schema(s) == [], file
