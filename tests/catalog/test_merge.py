"""The one merge of catalog task settings with per-call options, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from trigger_compat.core.catalog import Catalog, TaskSettings
from trigger_compat.core.options import JobOptions, merge_job_spec, parse_options, plan_enqueue
from trigger_compat.errors import InvalidJobError, PayloadValidationError, UnknownTaskError

AT = datetime(2030, 1, 1, tzinfo=UTC)
PAYLOAD = {"id": "abc", "event": {"id": "evt_1"}, "empty": ""}


def task(**settings: Any) -> TaskSettings:
    return TaskSettings.model_validate(settings)


# (catalog settings, per-call options, expected JobSpec fields)
CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, dict[str, Any]]] = [
    ("nothing anywhere", {}, None, {"queue_name": None, "job_key": None, "priority": None}),
    ("catalog only", {"priority": 5, "maxAttempts": 3}, None, {"priority": 5, "max_attempts": 3}),
    ("per-call beats catalog priority", {"priority": 5}, {"priority": 1}, {"priority": 1}),
    ("per-call 0 beats catalog", {"priority": 5}, {"priority": 0}, {"priority": 0}),
    ("per-call maxAttempts beats", {"maxAttempts": 3}, {"maxAttempts": 1}, {"max_attempts": 1}),
    ("per-call None never overrides", {"priority": 5}, {"priority": None}, {"priority": 5}),
    (
        "per-call None never overrides (all)",
        {"priority": 5, "maxAttempts": 3, "queueName": "q", "jobKey": "k", "flags": ["f"]},
        {"priority": None, "maxAttempts": None, "queueName": None, "jobKey": None, "flags": None},
        {"priority": 5, "max_attempts": 3, "queue_name": "q", "job_key": "k", "flags": ["f"]},
    ),
    (
        "snake_case options",
        {"priority": 5},
        {"max_attempts": 2, "queue_name": "x"},
        {"max_attempts": 2, "queue_name": "x"},
    ),
    ("constant queueName is a default", {"queueName": "q"}, None, {"queue_name": "q"}),
    (
        "per-call beats constant queueName",
        {"queueName": "q"},
        {"queueName": "mine"},
        {"queue_name": "mine"},
    ),
    (
        "templated queueName renders",
        {"queueName": "sources:{id}"},
        None,
        {"queue_name": "sources:abc"},
    ),
    (
        "templated queueName always wins",
        {"queueName": "sources:{id}"},
        {"queueName": "deliver:other"},
        {"queue_name": "sources:abc"},
    ),
    (
        "nested template field",
        {"queueName": "event:{event.id}"},
        None,
        {"queue_name": "event:evt_1"},
    ),
    (
        "templated queueName rendering empty means none",
        {"queueName": "{empty}"},
        {"queueName": "mine"},
        {"queue_name": None},
    ),
    ("constant jobKey is a default", {"jobKey": "k"}, None, {"job_key": "k"}),
    ("per-call beats constant jobKey", {"jobKey": "k"}, {"jobKey": "mine"}, {"job_key": "mine"}),
    ("templated jobKey renders", {"jobKey": "event:{event.id}"}, None, {"job_key": "event:evt_1"}),
    (
        "templated jobKey wins when non-empty",
        {"jobKey": "event:{id}"},
        {"jobKey": "mine"},
        {"job_key": "event:abc"},
    ),
    (
        "templated jobKey rendering empty: per-call stays",
        {"jobKey": "{empty}"},
        {"jobKey": "mine"},
        {"job_key": "mine"},
    ),
    (
        "templated jobKey rendering empty, no per-call: none",
        {"jobKey": "{empty}"},
        None,
        {"job_key": None},
    ),
    ("empty per-call jobKey means none", {"jobKey": "k"}, {"jobKey": ""}, {"job_key": None}),
    (
        "empty per-call queueName means none",
        {"queueName": "q"},
        {"queueName": ""},
        {"queue_name": None},
    ),
    (
        "empty catalog jobKey / queueName mean none",
        {"jobKey": "", "queueName": ""},
        None,
        {"job_key": None, "queue_name": None},
    ),
    (
        "per-call flags replace catalog flags",
        {"flags": ["a", "b"]},
        {"flags": ["c"]},
        {"flags": ["c"]},
    ),
    ("empty per-call flags clear catalog flags", {"flags": ["a"]}, {"flags": []}, {"flags": None}),
    (
        "jobKeyMode per-call beats catalog",
        {"jobKeyMode": "replace"},
        {"jobKeyMode": "preserve_run_at"},
        {"job_key_mode": "preserve_run_at"},
    ),
    (
        "jobKeyMode from catalog",
        {"jobKeyMode": "unsafe_dedupe"},
        None,
        {"job_key_mode": "unsafe_dedupe"},
    ),
    ("runAt passes through", {}, {"runAt": AT}, {"run_at": AT}),
    (
        "runAt as an ISO string with offset",
        {},
        {"runAt": "2030-01-01T00:00:00+00:00"},
        {"run_at": AT},
    ),
]


@pytest.mark.parametrize(
    ("catalog", "options", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_merge(
    catalog: dict[str, Any], options: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    spec = merge_job_spec(task(**catalog), "t", PAYLOAD, options)
    assert spec.identifier == "t" and spec.payload == PAYLOAD
    got = {
        k: (list(v) if k == "flags" and v is not None else v)
        for k, v in spec.model_dump().items()
        if k in expected
    }
    assert got == expected


def test_options_model_and_dict_agree() -> None:
    t = task(priority=5, queueName="q")
    a = merge_job_spec(t, "t", PAYLOAD, JobOptions(runAt=AT, jobKey="k", priority=2))
    b = merge_job_spec(t, "t", PAYLOAD, {"run_at": AT, "job_key": "k", "priority": 2})
    assert a == b


ERRORS: list[tuple[str, dict[str, Any], Any, str, str]] = [
    ("unknown option key", {}, {"jobkey": "x"}, "options.jobkey", "unknown option 'jobkey'"),
    ("tx is a keyword, not an option", {}, {"tx": object()}, "options.tx", "keyword argument tx="),
    ("maxAttempts 0", {}, {"maxAttempts": 0}, "options.maxAttempts", "must be ≥ 1 (got 0)"),
    ("maxAttempts negative", {}, {"maxAttempts": -3}, "options.maxAttempts", "must be ≥ 1"),
    ("naive runAt", {}, {"runAt": datetime(2030, 1, 1)}, "options.runAt", "timezone-aware"),
    ("maxAttempts as text", {}, {"maxAttempts": "3"}, "options.maxAttempts", "integer"),
    ("flags as one string", {}, {"flags": "a"}, "options.flags", "list of strings"),
    ("bad jobKeyMode", {}, {"jobKeyMode": "upsert"}, "options.jobKeyMode", "replace"),
    ("options of a wrong type", {}, ["runAt"], "options", "JobOptions or a dict"),
    (
        "template field missing",
        {"queueName": "sources:{nope}"},
        None,
        "payload",
        "needs the payload field 'nope'",
    ),
    ("template field null", {"jobKey": "k:{n}"}, None, "payload", "got null"),
    ("template field an object", {"jobKey": "k:{event}"}, None, "payload", "string or number"),
]


@pytest.mark.parametrize(
    ("catalog", "options", "field", "message"),
    [c[1:] for c in ERRORS],
    ids=[c[0] for c in ERRORS],
)
def test_merge_errors(catalog: dict[str, Any], options: Any, field: str, message: str) -> None:
    payload = {**PAYLOAD, "n": None}
    with pytest.raises(InvalidJobError) as info:
        merge_job_spec(task(**catalog), "t", payload, options)
    assert info.value.field == field
    assert message in str(info.value)


def test_unknown_option_lists_accepted_ones() -> None:
    with pytest.raises(InvalidJobError) as info:
        parse_options({"delay": 5})
    for name in ("runAt", "jobKey", "jobKeyMode", "maxAttempts", "queueName", "priority", "flags"):
        assert name in str(info.value)


CATALOG = Catalog.model_validate(
    {
        "workers": {
            "a": {
                "tasks": {
                    "deliverEvent": {
                        "schema": {
                            "type": "object",
                            "properties": {"id": {"type": "string"}},
                            "required": ["id"],
                        },
                        "maxAttempts": 5,
                    }
                },
                "recurringTasks": {"tick": {"match": "* * * * *"}},
            }
        }
    }
)


def test_plan_unknown_identifier_names_close_matches() -> None:
    with pytest.raises(UnknownTaskError) as info:
        plan_enqueue(CATALOG, "deliverEvnt", {"id": "x"})
    assert "did you mean 'deliverEvent'" in str(info.value)
    assert info.value.field == "identifier"


def test_plan_recurring_identifier_is_explained() -> None:
    with pytest.raises(UnknownTaskError, match="recurring task"):
        plan_enqueue(CATALOG, "tick", {})


def test_plan_validates_payload() -> None:
    with pytest.raises(PayloadValidationError) as info:
        plan_enqueue(CATALOG, "deliverEvent", {"id": 5})
    assert info.value.violations == [("$.id", "5 is not of type 'string'")]
    spec = plan_enqueue(CATALOG, "deliverEvent", {"id": "e"}, {"jobKey": "event:e"})
    assert spec.job_key == "event:e" and spec.max_attempts == 5


def test_programmatic_catalog_refuses_duplicate_identifiers() -> None:
    with pytest.raises(ValueError, match="unique across all workers"):
        Catalog.model_validate({"workers": {"a": {"tasks": {"x": {}}}, "b": {"tasks": {"x": {}}}}})
