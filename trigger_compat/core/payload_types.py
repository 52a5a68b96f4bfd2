"""Python source of typed payloads from JSON Schemas (pure): what ``trigger-compat catalog
types`` writes, so that a type checker catches a wrong payload where a job is enqueued.

One ``TypedDict`` per task (``<Identifier>Payload``; nested objects get classes of their own,
named after the path to them), and ``job(identifier, payload, options)``: overloaded per task
identifier, it returns ``(identifier, payload, options)`` unchanged, for
``client.enqueue(*job("startRun", {"id": run_id}))`` or an ``enqueue_many`` item. The file
needs nothing but ``typing``. The mapping of JSON Schema:

* ``object`` with ``properties``: a ``TypedDict``, keys outside ``required`` ``NotRequired``;
  without ``properties``: ``dict[str, <additionalProperties>]`` (``Any`` by default);
* ``string``, ``integer``, ``number``, ``boolean``, ``null``: ``str``, ``int``, ``float``,
  ``bool``, ``None``; a list of types, ``anyOf`` and ``oneOf``: a union; ``enum`` and
  ``const``: ``Literal``; ``array``: ``list[<items>]``;
* anything else (``$ref``, ``allOf``, ``not``, an empty schema): ``Any``.

Generating twice from the same schemas gives the same text.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from typing import Any

_NON_WORD = re.compile(r"[^0-9A-Za-z]+")
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def class_name(*parts: str) -> str:
    """``startRun`` -> ``StartRun``; ``events.deliverScheduled`` -> ``EventsDeliverScheduled``."""
    words = [w for p in parts for w in _NON_WORD.split(p) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Payload"
    return "_" + name if name[0].isdigit() else name


class _Writer:
    def __init__(self) -> None:
        self.classes: list[str] = []
        self.names: set[str] = set()

    def unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.names:
            candidate, n = f"{name}{n}", n + 1
        self.names.add(candidate)
        return candidate

    def type_of(self, schema: Any, name: str) -> str:
        if schema is True or schema == {} or not isinstance(schema, Mapping):
            return "Any"
        if "const" in schema:
            const = schema["const"]
            return f"Literal[{_literal(const)}]" if _is_literal(const) else "Any"
        if "enum" in schema and isinstance(schema["enum"], list):
            values = schema["enum"]
            if values and all(_is_literal(v) for v in values):
                return "Literal[" + ", ".join(_literal(v) for v in values) + "]"
            return "Any"
        for union in ("anyOf", "oneOf"):
            if isinstance(schema.get(union), list):
                return _union(
                    self.type_of(s, f"{name}Variant{i + 1}") for i, s in enumerate(schema[union])
                )
        kind = schema.get("type")
        if isinstance(kind, list):
            return _union(self.type_of({**schema, "type": k}, name) for k in kind)
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            items = schema.get("items")
            return f"list[{self.type_of(items, name + 'Item') if items is not None else 'Any'}]"
        if kind == "object" or "properties" in schema:
            props = schema.get("properties")
            if isinstance(props, Mapping) and props:
                return self.typed_dict(schema, props, name)
            extra = schema.get("additionalProperties")
            value = self.type_of(extra, name + "Value") if isinstance(extra, Mapping) else "Any"
            return f"dict[str, {value}]"
        return "Any"

    def typed_dict(self, schema: Mapping[str, Any], props: Mapping[str, Any], name: str) -> str:
        name = self.unique(name)
        required = set(schema.get("required") or ())
        fields = []
        for key in props:
            t = self.type_of(props[key], name + class_name(str(key)))
            fields.append((str(key), t if key in required else f"NotRequired[{t}]"))
        doc = schema.get("description") or schema.get("title")
        if all(k.isidentifier() and not keyword.iskeyword(k) for k, _ in fields):
            lines = [f"class {name}(TypedDict):"]
            if isinstance(doc, str) and doc.strip():
                lines.append(f"    {_docstring(doc)}")
                lines.append("")
            lines += [f"    {k}: {t}" for k, t in fields]
        else:
            body = ", ".join(f"{_literal(k)}: {t}" for k, t in fields)
            lines = [f"{name} = TypedDict({_literal(name)}, {{{body}}})"]
        self.classes.append("\n".join(lines))
        return name


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, str | int | bool)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return repr(value)


def _docstring(text: str) -> str:
    one = " ".join(text.split()).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{one}"""'


def _union(types: Any) -> str:
    out: list[str] = []
    for t in types:
        if t == "Any":
            return "Any"
        if t not in out:
            out.append(t)
    return " | ".join(out)


def payload_types_source(schemas: Mapping[str, Any], source: str) -> str:
    """The Python module for the payload schemas of ``schemas`` (task identifier -> JSON
    Schema, or None for a task without one); ``source`` names the catalog in its docstring."""
    writer = _Writer()
    payloads: list[tuple[str, str]] = []
    for identifier in sorted(schemas):
        schema = schemas[identifier]
        base = class_name(identifier) + "Payload"
        t = writer.type_of(schema, base) if schema is not None else "Any"
        if t != base:  # not a TypedDict of its own: an alias keeps the name
            alias = writer.unique(base)
            writer.classes.append(f"{alias}: TypeAlias = {t}")
            t = alias
        payloads.append((identifier, t))
    out = [
        f'"""Typed payloads of the tasks of {source}.',
        "",
        "Generated by `trigger-compat catalog types`: do not edit; regenerate after changing a",
        "payload schema. ``job(identifier, payload, options)`` returns its arguments, typed per",
        'task: ``client.enqueue(*job("startRun", {"id": run_id}))``.',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, overload",
        "",
        "Options: TypeAlias = Mapping[str, Any] | None",
        "",
    ]
    for text in writer.classes:
        out += ["", text, ""]
    out += ["", "TASKS: tuple[str, ...] = ("]
    out += [f"    {_literal(identifier)}," for identifier, _ in payloads]
    out += [")", ""]
    for identifier, t in payloads:
        out += [
            "",
            "@overload",
            f"def job(\n    identifier: Literal[{_literal(identifier)}], payload: {t}, "
            "options: Options = None\n) -> tuple[str, Any, Options]: ...",
        ]
    out += [
        "",
        "",
        "def job(",
        "    identifier: str, payload: Any, options: Options = None",
        ") -> tuple[str, Any, Options]:",
        '    """``(identifier, payload, options)``: the arguments of ``enqueue``, type-checked."""',
        "    return (identifier, payload, options)",
        "",
    ]
    return "\n".join(out)
