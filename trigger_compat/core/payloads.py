"""JSON Schema validation of payloads (pure).

A schema names its dialect with ``$schema`` (draft-07, as zod-to-json-schema emits, or
2020-12); without one it is read as 2020-12. :func:`compile_schema` checks the schema and builds
its validator once; :func:`payload_violations` lists every violation with its JSON path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from ..errors import PayloadValidationError

__all__ = [
    "SUPPORTED_DIALECTS",
    "check_schema",
    "compile_schema",
    "json_path",
    "payload_violations",
    "validate_payload",
]

SUPPORTED_DIALECTS = {
    "http://json-schema.org/draft-07/schema#": Draft7Validator,
    "http://json-schema.org/draft-07/schema": Draft7Validator,
    "https://json-schema.org/draft/2020-12/schema": Draft202012Validator,
    "https://json-schema.org/draft/2020-12/schema#": Draft202012Validator,
}


def check_schema(schema: object) -> list[str]:
    """The problems that make ``schema`` unusable (empty when it is a valid JSON Schema)."""
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, Mapping):
        return [f"a JSON Schema must be an object (got {type(schema).__name__})"]
    dialect = schema.get("$schema")
    if dialect is not None and dialect not in SUPPORTED_DIALECTS:
        return [
            f"unsupported $schema {dialect!r}; use draft-07 "
            "('http://json-schema.org/draft-07/schema#') or 2020-12 "
            "('https://json-schema.org/draft/2020-12/schema')"
        ]
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(dict(schema))
    except SchemaError as exc:
        where = json_path(exc.absolute_path) if exc.absolute_path else "$"
        return [f"not a valid JSON Schema at {where}: {exc.message}"]
    return []


def compile_schema(schema: Mapping[str, Any] | bool) -> Validator:
    """Build the validator of a checked schema (formats are asserted where a checker exists)."""
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def json_path(path: Iterable[Any]) -> str:
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def _flatten(error: Any) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    if error.validator == "required":
        # "'id' is a required property" → "$.id: is required"
        missing = [
            name
            for name in error.validator_value
            if isinstance(error.instance, Mapping) and name not in error.instance
        ]
        if missing:
            return [(json_path([*path, name]), "is required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known]
        if extra:
            return [(json_path([*path, k]), "is not an allowed field") for k in extra]
    if error.validator in ("oneOf", "anyOf") and error.context:
        return _union(error)
    return [(json_path(path), error.message)]


def _union(error: Any) -> list[tuple[str, str]]:
    # Group the sub-errors by branch; a branch whose discriminator (a const/enum field) matched
    # is the one the payload meant, so its errors are the useful ones.
    branches: dict[int, list[Any]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    n = len(error.validator_value)
    meant = [
        i
        for i in range(n)
        if not any(s.validator in ("const", "enum") for s in branches.get(i, [])) and i in branches
    ]
    if error.validator == "oneOf" and n > 0 and not branches:
        return [(json_path(error.absolute_path), "matches more than one variant")]
    if len(meant) == 1:
        out: list[tuple[str, str]] = []
        for sub in sorted(branches[meant[0]], key=lambda e: list(map(str, e.absolute_path))):
            out.extend(_flatten(sub))
        return out
    tags = _discriminators(error.validator_value)
    if tags:
        field, values = tags
        got = error.instance.get(field) if isinstance(error.instance, Mapping) else None
        shown = ", ".join(repr(v) for v in values)
        return [
            (
                json_path([*error.absolute_path, field]),
                f"must be one of {shown} (got {got!r})",
            )
        ]
    return [(json_path(error.absolute_path), "does not match any of the allowed variants")]


def _discriminators(branches: Any) -> tuple[str, list[Any]] | None:
    """The field every branch pins with ``const`` (a discriminated union), and its values."""
    if not isinstance(branches, list) or not branches:
        return None
    common: set[str] | None = None
    for b in branches:
        props = b.get("properties", {}) if isinstance(b, Mapping) else {}
        pinned = {k for k, v in props.items() if isinstance(v, Mapping) and "const" in v}
        common = pinned if common is None else common & pinned
    if not common:
        return None
    field = sorted(common)[0]
    return field, [b["properties"][field]["const"] for b in branches]


def payload_violations(validator: Validator, payload: Any) -> list[tuple[str, str]]:
    """Every violation of ``payload`` as ``(json_path, message)``, sorted by path."""
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(payload):
        found.extend(_flatten(error))
    return sorted(set(found), key=lambda pm: pm[0])


def validate_payload(
    validator: Validator, identifier: str, payload: Any, field: str = "payload"
) -> None:
    """Raise :class:`PayloadValidationError` listing every violation, if there is any."""
    violations = payload_violations(validator, payload)
    if violations:
        raise PayloadValidationError(field, identifier, violations)
