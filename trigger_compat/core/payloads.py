"""JSON Schema validation of payloads (pure).

A schema names its dialect with ``$schema`` (draft-07, as zod-to-json-schema emits, or
2020-12); without one it is read as 2020-12. :func:`compile_schema` checks the schema and builds
its validator once; :func:`payload_violations` lists every violation with its JSON path.

Formats are asserted: ``date-time`` (RFC 3339), ``uri`` (RFC 3986, absolute), ``email`` and
every other format jsonschema knows. Payloads go through two steps that mirror what JSON and
zod did to them:

- :func:`enqueue_payload` (before a job is stored): a key whose value is ``None`` is dropped
  where the schema does not allow null there, as ``JSON.stringify`` drops ``undefined``; then
  the payload is validated. The payload stored is the one with those keys dropped.
- :func:`parse_payload` (before the handler runs): the same dropping, then every ``default``
  the schema declares for a missing property is filled in (as zod's ``.default()`` and the
  ``version`` preprocess did), then the result is validated; the handler receives it, the
  stored payload is unchanged.

Fast path: a payload with no ``None`` anywhere, for a schema without ``default``, is
validated as it is and returned as the same object (no copy, no walk of the schema).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from ..errors import PayloadValidationError

__all__ = [
    "SUPPORTED_DIALECTS",
    "check_schema",
    "compile_schema",
    "enqueue_payload",
    "json_path",
    "parse_payload",
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


def _format_checker() -> FormatChecker:
    # Every format jsonschema registers, with date-time and uri checked by the packages this
    # project depends on (so the result does not hinge on which optional packages exist).
    from rfc3339_validator import validate_rfc3339  # type: ignore[import-untyped]
    from rfc3986_validator import validate_rfc3986  # type: ignore[import-untyped]

    checker = FormatChecker()

    @checker.checks("date-time")
    def _date_time(instance: object) -> bool:
        return not isinstance(instance, str) or bool(validate_rfc3339(instance.upper()))

    @checker.checks("uri")
    def _uri(instance: object) -> bool:
        return not isinstance(instance, str) or bool(validate_rfc3986(instance, rule="URI"))

    return checker


FORMAT_CHECKER = _format_checker()

# Whether a compiled schema declares a ``default`` anywhere, by validator (see compile_schema).
_HAS_DEFAULTS: dict[int, bool] = {}


def _declares_default(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        if "default" in schema:
            return True
        return any(_declares_default(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_declares_default(v) for v in schema)
    return False


def compile_schema(schema: Mapping[str, Any] | bool) -> Validator:
    """Build the validator of a checked schema (every format with a checker is asserted)."""
    cls = validator_for(schema, default=Draft202012Validator)
    validator = cls(schema, format_checker=FORMAT_CHECKER)
    key = id(validator)
    _HAS_DEFAULTS[key] = _declares_default(schema)
    weakref.finalize(validator, _HAS_DEFAULTS.pop, key, None)
    return validator


def _has_defaults(validator: Validator) -> bool:
    found = _HAS_DEFAULTS.get(id(validator))
    return _declares_default(validator.schema) if found is None else found


def _contains_none(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(
            v is None or (isinstance(v, dict | list) and _contains_none(v)) for v in value.values()
        )
    if isinstance(value, list):
        return any(v is None or (isinstance(v, dict | list) and _contains_none(v)) for v in value)
    return False


def _allows(validator: Validator, schema: Any, value: Any) -> bool:
    if schema is True or (isinstance(schema, Mapping) and not schema):
        return True
    if schema is False:
        return False
    return bool(validator.evolve(schema=schema).is_valid(value))


def _pinned(branch: Any, value: Any) -> bool:
    """Whether every ``const`` property of ``branch`` has its value in ``value``."""
    props = branch.get("properties", {}) if isinstance(branch, Mapping) else {}
    consts = {k: v["const"] for k, v in props.items() if isinstance(v, Mapping) and "const" in v}
    return (
        bool(consts)
        and isinstance(value, Mapping)
        and all(k in value and value[k] == c for k, c in consts.items())
    )


def _normalize(validator: Validator, schema: Any, value: Any, fill: bool) -> Any:
    """``value`` with the ``None`` keys the schema does not allow dropped and, when ``fill``,
    the declared defaults of missing properties filled in. Never mutates ``value``."""
    if not isinstance(schema, Mapping):
        return value
    for sub in schema.get("allOf") or ():
        value = _normalize(validator, sub, value, fill)
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword)
        if not branches:
            continue
        # The branch the payload fits once normalized by it; else the one its discriminator
        # names (so that errors are about that branch); else leave the value as it is.
        chosen = None
        for sub in branches:
            candidate = _normalize(validator, sub, value, fill)
            if _allows(validator, sub, candidate):
                chosen = candidate
                break
        if chosen is None:
            pinned = [sub for sub in branches if _pinned(sub, value)]
            if len(pinned) == 1:
                chosen = _normalize(validator, pinned[0], value, fill)
        if chosen is not None:
            value = chosen
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = props.get(key, extra)
            if item is None and not _allows(validator, sub, None):
                continue
            out[key] = (
                _normalize(validator, sub, item, fill) if isinstance(item, dict | list) else item
            )
        if fill:
            for key, sub in props.items():
                if key not in out and isinstance(sub, Mapping) and "default" in sub:
                    out[key] = copy.deepcopy(sub["default"])
        return out
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [_normalize(validator, items, v, fill) for v in value]
    return value


def enqueue_payload(
    validator: Validator, identifier: str, payload: Any, field: str = "payload"
) -> Any:
    """The payload to store: ``None`` keys the schema does not allow dropped, then validated
    (raises :class:`PayloadValidationError` listing every violation)."""
    if _contains_none(payload):
        payload = _normalize(validator, validator.schema, payload, fill=False)
    validate_payload(validator, identifier, payload, field)
    return payload


def parse_payload(
    validator: Validator, identifier: str, payload: Any, field: str = "payload"
) -> Any:
    """What the handler receives: ``None`` keys dropped and declared defaults filled in, then
    validated (raises :class:`PayloadValidationError`). ``payload`` itself is not changed."""
    if _contains_none(payload) or _has_defaults(validator):
        payload = _normalize(validator, validator.schema, payload, fill=True)
    validate_payload(validator, identifier, payload, field)
    return payload


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
