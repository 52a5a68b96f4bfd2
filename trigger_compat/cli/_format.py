"""Text for the terminal: ages, aligned tables, one-line excerpts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_age(seconds: float | None) -> str:
    """``"-"``, ``"850ms"``, ``"42s"``, ``"3m12s"``, ``"2h05m"``, ``"3d04h"``."""
    if seconds is None:
        return "-"
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Plain aligned text columns (numbers right-aligned); one string per line."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    numeric = []
    for i in range(len(headers)):
        given = [row[i] for row in rows if row[i] is not None]
        numeric.append(
            bool(given)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in given)
        )

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in cells)]


def truncate(text: str | None, width: int = 60) -> str | None:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    if text is None:
        return None
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= width else first[: width - 1] + "…"
