"""Payload JSON Schemas: dialects, every violation with its path, unions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trigger_compat.core.payloads import check_schema, compile_schema, payload_violations

SCHEMAS = Path(__file__).parents[2] / "schemas"


def schema(name: str) -> Any:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def test_draft_07_and_2020_12() -> None:
    for dialect in (
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2020-12/schema",
    ):
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
    v = compile_schema(schema("performRunExecutionV2"))
    got = payload_violations(v, {"id": 1, "reason": "NOPE", "extra": True})
    assert got == [
        ("$.extra", "is not an allowed field"),
        ("$.id", "1 is not of type 'string'"),
        ("$.isRetry", "is required"),
        ("$.reason", "'NOPE' is not one of ['EXECUTE_JOB', 'PREPROCESS']"),
    ]


def test_nested_paths() -> None:
    v = compile_schema(schema("events.deliverScheduled"))
    assert payload_violations(v, {"id": "x", "payload": {}}) == [("$.payload.ts", "is required")]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"email": "welcome"}, []),
        ({"email": "welcome", "name": "Ada"}, []),
        ({"email": "magic_link", "magicLink": "https://x.test/l"}, []),
        ({"email": "magic_link"}, [("$.magicLink", "is required")]),
        (
            {"email": "invite", "orgName": "o", "inviterEmail": 1},
            [("$.inviteLink", "is required"), ("$.inviterEmail", "1 is not of type 'string'")],
        ),
        (
            {"email": "unknown"},
            [
                (
                    "$.email",
                    "must be one of 'welcome', 'magic_link', 'invite', 'connect_integration', "
                    "'workflow_failed', 'workflow_integration' (got 'unknown')",
                )
            ],
        ),
    ],
)
def test_schedule_email_discriminated_union(payload: Any, expected: Any) -> None:
    assert payload_violations(compile_schema(schema("scheduleEmail")), payload) == expected


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        ({"id": "s"}, True),  # version omitted → "1"
        ({"version": "1", "id": "s", "orphanedEvents": ["a"]}, True),
        ({"version": "2", "id": "s", "orphanedOptions": {"a": ["b"]}}, True),
        ({"id": "s", "orphanedOptions": {"a": ["b"]}}, False),  # v2 fields need version "2"
        ({"version": "3", "id": "s"}, False),
        ({"version": "2"}, False),
    ],
)
def test_activate_source_version_union(payload: Any, ok: bool) -> None:
    assert (payload_violations(compile_schema(schema("activateSource")), payload) == []) is ok


def test_every_shipped_schema_is_valid_draft_07() -> None:
    for file in SCHEMAS.glob("*.json"):
        if file.name == "catalog.schema.json":
            continue
        s = json.loads(file.read_text())
        assert s["$schema"] == "http://json-schema.org/draft-07/schema#", file
        assert check_schema(s) == [], file
