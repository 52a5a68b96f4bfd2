"""Templates over payload fields for catalog ``queueName`` / ``jobKey`` (pure).

``"sources:{id}"`` puts the payload's ``id`` after ``sources:``; ``"event:{event.id}"`` reads a
nested field. ``{{`` and ``}}`` stand for literal braces. A value without placeholders is a
constant. Strings and integers render as they are, booleans as ``true``/``false``; a missing or
null field, an object or a list is an error naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..errors import TemplateError

__all__ = ["Template", "TemplateError", "parse_template"]

_PATH = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*(\.[A-Za-z_$][A-Za-z0-9_$-]*|\.\d+)*$")


@dataclass(frozen=True)
class Template:
    text: str
    parts: tuple[str | tuple[str, ...], ...]  # literal text, or a field path

    @property
    def fields(self) -> tuple[tuple[str, ...], ...]:
        return tuple(p for p in self.parts if isinstance(p, tuple))

    @property
    def is_constant(self) -> bool:
        return not self.fields

    def render(self, payload: Any) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_render_value(_lookup(payload, part, self.text), part, self.text))
        return "".join(out)


def _lookup(payload: Any, path: tuple[str, ...], text: str) -> Any:
    value = payload
    for i, name in enumerate(path):
        where = ".".join(path[: i + 1])
        if isinstance(value, Mapping):
            if name not in value:
                raise TemplateError(
                    f"the template {text!r} needs the payload field {where!r}, "
                    "which the payload does not have"
                )
            value = value[name]
        elif isinstance(value, list) and name.isdigit() and int(name) < len(value):
            value = value[int(name)]
        else:
            raise TemplateError(
                f"the template {text!r} needs the payload field {where!r}, "
                "which the payload does not have"
            )
    return value


def _render_value(value: Any, path: tuple[str, ...], text: str) -> str:
    where = ".".join(path)
    if value is None:
        raise TemplateError(f"the template {text!r} needs the payload field {where!r}, got null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise TemplateError(
        f"the template {text!r} needs a string or number in the payload field {where!r}, "
        f"got {type(value).__name__}"
    )


@cache
def parse_template(text: str) -> Template:
    """Parse ``text``; raise :class:`TemplateError` on unbalanced braces or bad field names."""
    parts: list[str | tuple[str, ...]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif c == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif c == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateError(f"unclosed '{{' in {text!r} (write '{{{{' for a brace)")
            name = text[i + 1 : end].strip()
            if not _PATH.match(name):
                raise TemplateError(
                    f"{{{name}}} in {text!r} is not a payload field path "
                    "(e.g. {id} or {event.id})"
                )
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(tuple(name.split(".")))
            i = end + 1
        elif c == "}":
            raise TemplateError(f"unmatched '}}' in {text!r} (write '}}}}' for a brace)")
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))
